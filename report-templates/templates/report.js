"use strict";
(function () {
  // Tabs; a flame graph's frame gets its document the first time its tab is shown, so a
  // large one costs nothing until it is wanted.
  function show(id) {
    document.querySelectorAll(".tab").forEach(function (t) {
      t.classList.toggle("active", t.getAttribute("data-tab") === id);
    });
    document.querySelectorAll(".panel").forEach(function (p) {
      p.classList.toggle("active", p.id === id);
    });
    var panel = document.getElementById(id);
    if (!panel) return;
    panel.querySelectorAll("iframe[data-srcdoc]").forEach(function (f) {
      if (!f.hasAttribute("srcdoc")) {
        // inferno's SVG expects to be the whole document: it gets the frame's width, and its
        // script, which records zoom and search in the page address (which a sandboxed frame
        // may not change), is kept from trying.
        f.setAttribute("srcdoc", "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" +
          "<style>body{margin:0}svg{width:100%}</style>" +
          "<script>history.replaceState=function(){};<\/script></head><body>" +
          f.getAttribute("data-srcdoc") + "</body></html>");
      }
    });
  }
  document.querySelectorAll(".tab").forEach(function (t) {
    t.addEventListener("click", function () { show(t.getAttribute("data-tab")); });
  });

  // The top table: sort by a column, filter by a search.
  var table = document.getElementById("top");
  if (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var desc = !th.classList.contains("desc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(desc ? "desc" : "asc");
        var numeric = th.getAttribute("data-sort") === "num";
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (r) {
          var c = r.cells[col];
          if (!numeric) return c.textContent;
          var v = c.getAttribute("data-v");
          return parseFloat(v !== null ? v : c.textContent);
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var o = numeric ? x - y : (x < y ? -1 : x > y ? 1 : 0);
          return desc ? -o : o;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (r) { frag.appendChild(r); });
        body.appendChild(frag);
      });
    });
    var search = document.getElementById("top-search");
    if (search) {
      search.addEventListener("input", function () {
        var q = search.value.toLowerCase();
        Array.prototype.forEach.call(body.rows, function (r) {
          var n = (r.getAttribute("data-name") || "").toLowerCase();
          r.style.display = n.indexOf(q) >= 0 ? "" : "none";
        });
      });
    }
  }

  // Links from the leaks and types tables to a call graph node (`#cg-node-N`): open the
  // call graph, mark the node and bring it into view.
  function focusNode() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (id.indexOf("cg-node-") !== 0) return;
    var node = document.getElementById(id);
    if (!node) return;
    show("tab-graph");
    document.querySelectorAll(".graph-box g.node.focus").forEach(function (n) {
      n.classList.remove("focus");
    });
    node.classList.add("focus");
    node.scrollIntoView({block: "center", inline: "center"});
  }
  window.addEventListener("hashchange", focusNode);
  focusNode();

  // Call graph zoom.
  document.querySelectorAll(".zoom button").forEach(function (b) {
    b.addEventListener("click", function () {
      var svg = document.querySelector(".graph-box svg");
      if (!svg) return;
      var w0 = parseFloat(svg.getAttribute("data-w") || svg.getAttribute("width"));
      var h0 = parseFloat(svg.getAttribute("data-h") || svg.getAttribute("height"));
      svg.setAttribute("data-w", w0); svg.setAttribute("data-h", h0);
      var f = parseFloat(b.getAttribute("data-zoom"));
      var cur = parseFloat(svg.getAttribute("width")) / w0;
      var s = f === 0 ? Math.min(1, svg.parentNode.clientWidth / w0) : cur * f;
      svg.setAttribute("width", w0 * s); svg.setAttribute("height", h0 * s);
    });
  });
})();
