//! Graphviz DOT, in the shape jeprof writes it.

use std::fmt::Write as _;

use petgraph::visit::EdgeRef;

use crate::callgraph::{exact_value, CallGraph};
use crate::style;

impl CallGraph {
    /// The graph as Graphviz DOT, laid out like jeprof's: a plaintext `Legend` node, one box
    /// per function labelled with its name (split at blanks and `::`), `flat (flat%)` and
    /// `of cum (cum%)`, its font size growing with flat (jeprof's `8 + 50·√(|flat|/total)`),
    /// and calls labelled with their weight, drawn wider as they carry more (jeprof's
    /// `2·min(1, 3·|weight|/total)`, at least 1), dashed into inlined functions. Values are
    /// integers as in jeprof's `--show_bytes`. Diff graphs colour growth red and shrinkage
    /// green; the heaviest path is drawn in red.
    pub fn to_dot(&self) -> String {
        let legend = self.legend();
        let g = self.graph();
        let mut out = String::new();
        let title = match &legend.program {
            Some(p) => format!("{p}; {}", exact_value(legend.total)),
            None => exact_value(legend.total),
        };
        let _ = writeln!(out, "digraph \"{}\" {{", escape(&title));
        let _ = writeln!(out, "node [width=0.375,height=0.25];");
        let mut label = String::new();
        for line in legend.lines(g.node_count(), g.edge_count()) {
            label.push_str(&escape(&line));
            label.push_str("\\l");
        }
        let _ = writeln!(
            out,
            "Legend [shape=box,fontsize=24,shape=plaintext,label=\"{label}\"];"
        );
        let total = legend.shown_total;
        for n in g.node_indices() {
            let node = &g[n];
            let mut sym = String::new();
            for (i, part) in style::name_lines(&node.name).iter().enumerate() {
                if i > 0 {
                    sym.push_str("\\n");
                }
                sym.push_str(&escape(part));
            }
            let mut attrs = format!(
                "shape=box,fontsize={:.1}",
                style::font_size(node.flat, total)
            );
            if let Some((fill, line)) = style::node_colors(node, legend.diff, total) {
                let _ = write!(attrs, ",style=filled,fillcolor=\"{fill}\",color=\"{line}\"");
            }
            if node.hot {
                attrs.push_str(",penwidth=2");
            }
            let _ = writeln!(
                out,
                "N{} [label=\"{sym}\\n{} ({})\\rof {} ({})\\r\",{attrs}];",
                n.index() + 1,
                exact_value(node.flat),
                self.percent(node.flat),
                exact_value(node.cum),
                self.percent(node.cum),
            );
        }
        let mut edges: Vec<_> = g.edge_references().collect();
        edges.sort_by(|a, b| {
            b.weight()
                .weight
                .total_cmp(&a.weight().weight)
                .then_with(|| (a.source(), a.target()).cmp(&(b.source(), b.target())))
        });
        for e in edges {
            let edge = e.weight();
            let mut style = format!("setlinewidth({:.6})", style::edge_width(edge.weight, total));
            if edge.inline {
                style.push_str(",dashed");
            }
            let weight = (edge.weight.abs().powf(0.7)).min(100000.0) as i64;
            let color = style::edge_color(edge, legend.diff);
            let _ = writeln!(
                out,
                "N{} -> N{} [label={}, weight={weight}, style=\"{style}\", color=\"{color}\"];",
                e.source().index() + 1,
                e.target().index() + 1,
                exact_value(edge.weight),
            );
        }
        out.push_str("}\n");
        out
    }
}

/// Escapes a string for a double-quoted DOT id or label: quotes and backslashes are
/// backslashed, control characters become `\xNN` shown literally.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn dot_strings_cannot_be_closed_early() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\\\x0ay");
    }
}
