//! The call graph drawn to SVG by us, on our layered placement.

use std::fmt::Write as _;

use petgraph::visit::EdgeRef;

use crate::callgraph::{exact_value, format_value, node_id, CallGraph};
use crate::layout::{place, BoxSpec, EdgeSpec, Point};
use crate::style;

/// Average glyph width of a sans-serif font, as a fraction of its size.
const CHAR_WIDTH: f64 = 0.62;
/// Line height, as a fraction of the font size.
const LINE_HEIGHT: f64 = 1.2;
const PAD: f64 = 6.0;
const EDGE_FONT: f64 = 11.0;
const LEGEND_FONT: f64 = 14.0;
/// jeprof's smallest node font (8) is hard to read on a screen; nodes grow from here.
const MIN_FONT: f64 = 10.0;

impl CallGraph {
    /// The graph as a standalone SVG document (no scripts, no external references), laid out
    /// in layers with callers above callees.
    ///
    /// Each function is a `<g class="node" id="cg-node-N" data-name="…">` (the id
    /// [`CallGraph::node_ids`] gives, for links) with a `<title>` tooltip (full
    /// name, exact flat and cum), a box sized by its label, and the label `function / flat
    /// (flat%) / of cum (cum%)` in a font that grows with flat as jeprof's does. Calls are
    /// `<g class="edge" data-from="…" data-to="…">` paths as wide as jeprof makes them,
    /// labelled with their weight. The heaviest path has class `hot` and is drawn in red. The
    /// legend (`<g class="legend">`) is at the top left. Every string from the profile is
    /// escaped.
    pub fn to_svg(&self) -> String {
        let g = self.graph();
        let legend = self.legend();
        let total = legend.shown_total;

        struct Label {
            font: f64,
            lines: Vec<String>,
        }
        let labels: Vec<Label> = g
            .node_indices()
            .map(|n| {
                let node = &g[n];
                let mut lines = style::name_lines(&node.name);
                lines.push(format!(
                    "{} ({})",
                    format_value(node.flat, legend.bytes),
                    self.percent(node.flat)
                ));
                lines.push(format!(
                    "of {} ({})",
                    format_value(node.cum, legend.bytes),
                    self.percent(node.cum)
                ));
                Label {
                    font: style::font_size(node.flat, total).max(MIN_FONT),
                    lines,
                }
            })
            .collect();
        let boxes: Vec<BoxSpec> = labels
            .iter()
            .map(|l| {
                let chars = l.lines.iter().map(|s| s.chars().count()).max().unwrap_or(1);
                BoxSpec {
                    width: (chars as f64 * CHAR_WIDTH * l.font + 2.0 * PAD).ceil(),
                    height: (l.lines.len() as f64 * LINE_HEIGHT * l.font + 2.0 * PAD).ceil(),
                }
            })
            .collect();
        let edge_refs: Vec<_> = g.edge_references().collect();
        let edges: Vec<EdgeSpec> = edge_refs
            .iter()
            .map(|e| EdgeSpec {
                from: e.source().index(),
                to: e.target().index(),
                label_width: format_value(e.weight().weight, legend.bytes)
                    .chars()
                    .count() as f64
                    * CHAR_WIDTH
                    * EDGE_FONT,
                weight: e.weight().weight,
            })
            .collect();
        let placed = place(&boxes, &edges);

        // Bounds of everything placed, to translate it below the legend.
        let legend_lines = legend.lines(g.node_count(), g.edge_count());
        let legend_w = legend_lines
            .iter()
            .map(|l| l.chars().count() as f64 * CHAR_WIDTH * LEGEND_FONT)
            .fold(0.0, f64::max);
        let legend_h = legend_lines.len() as f64 * LINE_HEIGHT * LEGEND_FONT + 2.0 * PAD;
        let (mut min, mut max) = (
            Point::new(f64::INFINITY, f64::INFINITY),
            Point::new(f64::NEG_INFINITY, f64::NEG_INFINITY),
        );
        let mut grow = |p: Point| {
            min.x = min.x.min(p.x);
            min.y = min.y.min(p.y);
            max.x = max.x.max(p.x);
            max.y = max.y.max(p.y);
        };
        for (xy, size) in &placed.boxes {
            grow(*xy);
            grow(Point::new(xy.x + size.x, xy.y + size.y));
        }
        for e in placed.edges.iter().flatten() {
            for p in &e.points {
                grow(*p);
            }
            grow(e.label_at);
        }
        if !min.x.is_finite() {
            min = Point::new(0.0, 0.0);
            max = Point::new(0.0, 0.0);
        }
        let margin = 10.0;
        let dx = margin - min.x;
        let dy = margin + legend_h + 10.0 - min.y;
        let width = ((max.x - min.x) + 2.0 * margin + 60.0)
            .max(legend_w + 2.0 * margin)
            .ceil();
        let height = ((max.y - min.y) + 2.0 * margin + legend_h + 10.0).ceil();
        let at = |p: Point| Point::new(p.x + dx, p.y + dy);

        let mut out = String::with_capacity(4096 + g.node_count() * 600);
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"hm-callgraph\" width=\"{width}\" \
             height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             font-family=\"Helvetica, Arial, sans-serif\">"
        );
        out.push_str(
            "<defs><marker id=\"hm-cg-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"5\" markerHeight=\"5\" orient=\"auto-start-reverse\" \
             markerUnits=\"strokeWidth\"><path d=\"M0,0 L10,5 L0,10 z\" \
             fill=\"context-stroke\"/></marker></defs>\n",
        );

        // Legend.
        out.push_str("<g class=\"legend\">");
        for (i, line) in legend_lines.iter().enumerate() {
            let _ = write!(
                out,
                "<text x=\"{margin}\" y=\"{:.1}\" font-size=\"{LEGEND_FONT}\">{}</text>",
                margin + PAD + (i as f64 + 0.8) * LINE_HEIGHT * LEGEND_FONT,
                escape(line)
            );
        }
        out.push_str("</g>\n");

        // Edges under nodes.
        out.push_str("<g class=\"edges\">\n");
        for (i, e) in edge_refs.iter().enumerate() {
            let Some(Some(p)) = placed.edges.get(i) else {
                continue;
            };
            let edge = e.weight();
            let (from, to) = (&g[e.source()], &g[e.target()]);
            let pts: Vec<Point> = p.points.iter().map(|&q| at(q)).collect();
            let d = curve(&pts);
            let marker = "marker-end=\"url(#hm-cg-arrow)\"";
            let dash = if edge.inline {
                " stroke-dasharray=\"6,4\""
            } else {
                ""
            };
            let class = if edge.hot { "edge hot" } else { "edge" };
            let label = format_value(edge.weight, legend.bytes);
            let la = at(p.label_at);
            let _ = writeln!(
                out,
                "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\" data-weight=\"{}\">\
                 <title>{} → {}: {} ({})</title>\
                 <path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{:.2}\"{dash} {marker}/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{EDGE_FONT}\" \
                 dominant-baseline=\"middle\">{}</text></g>",
                escape(&from.name),
                escape(&to.name),
                exact_value(edge.weight),
                escape(&from.name),
                escape(&to.name),
                exact_value(edge.weight),
                self.percent(edge.weight),
                style::edge_color(edge, legend.diff),
                style::edge_width(edge.weight, total) * if edge.hot { 1.5 } else { 1.0 },
                la.x,
                la.y,
                escape(&label),
            );
        }
        out.push_str("</g>\n<g class=\"nodes\">\n");

        for n in g.node_indices() {
            let node = &g[n];
            let Some((xy, size)) = placed.boxes.get(n.index()) else {
                continue;
            };
            let xy = at(*xy);
            let label = &labels[n.index()];
            let (fill, line) = style::node_colors(node, legend.diff, total)
                .unwrap_or_else(|| ("#ffffff".to_string(), "#000000".to_string()));
            let class = if node.hot { "node hot" } else { "node" };
            let _ = write!(
                out,
                "<g class=\"{class}\" id=\"{}\" data-name=\"{}\" data-flat=\"{}\" \
                 data-cum=\"{}\">\
                 <title>{}\nflat {} ({})\ncum {} ({})</title>\
                 <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" \
                 fill=\"{fill}\" stroke=\"{line}\" stroke-width=\"{}\"/>",
                node_id(n.index()),
                escape(&node.name),
                exact_value(node.flat),
                exact_value(node.cum),
                escape(&node.name),
                exact_value(node.flat),
                self.percent(node.flat),
                exact_value(node.cum),
                self.percent(node.cum),
                xy.x,
                xy.y,
                size.x,
                size.y,
                if node.hot { 2.5 } else { 1.0 },
            );
            let cx = xy.x + size.x / 2.0;
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"{:.1}\" text-anchor=\"middle\">",
                xy.y + PAD,
                label.font
            );
            for (i, l) in label.lines.iter().enumerate() {
                let _ = write!(
                    out,
                    "<tspan x=\"{cx:.1}\" dy=\"{}\">{}</tspan>",
                    if i == 0 { "1em" } else { "1.2em" },
                    escape(l)
                );
            }
            out.push_str("</text></g>\n");
        }
        out.push_str("</g>\n</svg>\n");
        out
    }
}

/// SVG path data through the points: cubic pieces whose tangents are vertical at each
/// point, so edges leave and enter boxes straight down, as Graphviz draws them.
fn curve(pts: &[Point]) -> String {
    let mut d = String::new();
    let Some(first) = pts.first() else {
        return d;
    };
    let _ = write!(d, "M{:.1},{:.1}", first.x, first.y);
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let my = (a.y + b.y) / 2.0;
        let _ = write!(
            d,
            " C{:.1},{my:.1} {:.1},{my:.1} {:.1},{:.1}",
            a.x, b.x, b.x, b.y
        );
    }
    d
}

/// Escapes text and attribute values for XML and HTML alike.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even as references.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
