//! How nodes and edges look, shared by the DOT and SVG writers.

use crate::callgraph::{Edge, Node};

/// The longest line of a node label, in characters; longer parts are cut with `…` (the full
/// name is in the tooltip).
const MAX_LINE: usize = 60;
/// The most name lines a node shows.
const MAX_LINES: usize = 8;

/// A function name split into label lines as jeprof splits it: at runs of blanks and at `::`.
/// Very long names are shortened: each part to [`MAX_LINE`] characters, and at most
/// [`MAX_LINES`] parts (the first two and the last ones, with `…` between).
pub(crate) fn name_lines(name: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for word in name.split_whitespace() {
        for part in word.split("::") {
            if part.is_empty() {
                continue;
            }
            if part.chars().count() > MAX_LINE {
                let mut s: String = part.chars().take(MAX_LINE - 1).collect();
                s.push('…');
                parts.push(s);
            } else {
                parts.push(part.to_string());
            }
        }
    }
    if parts.is_empty() {
        parts.push(name.to_string());
    }
    if parts.len() > MAX_LINES {
        let tail = parts.split_off(parts.len() - (MAX_LINES - 3));
        parts.truncate(2);
        parts.push("…".to_string());
        parts.extend(tail);
    }
    parts
}

/// jeprof's node font size: 8, plus 50·√(|flat|/total) when the total is positive.
pub(crate) fn font_size(flat: f64, total: f64) -> f64 {
    if total > 0.0 {
        8.0 + 50.0 * (flat.abs() / total).sqrt()
    } else {
        8.0
    }
}

/// jeprof's edge width for SVG: 2·min(1, 3·|weight|/total), at least 1.
pub(crate) fn edge_width(weight: f64, total: f64) -> f64 {
    let fraction = if total != 0.0 {
        (3.0 * weight / total).abs().min(1.0)
    } else {
        0.0
    };
    (fraction * 2.0).max(1.0)
}

/// Fill and line colours of a node, or None for the plain look (white box, black line).
/// Plain graphs shade nodes from white to orange by |cum| share; diff graphs shade growth
/// red and shrinkage green by |flat| (by |cum| where flat is zero).
pub(crate) fn node_colors(node: &Node, diff: bool, total: f64) -> Option<(String, String)> {
    let share = |v: f64| {
        if total != 0.0 {
            (v / total).abs().min(1.0)
        } else {
            0.0
        }
    };
    if diff {
        let v = if node.flat != 0.0 {
            node.flat
        } else {
            node.cum
        };
        let s = share(v).sqrt();
        if v > 0.0 {
            Some((
                mix((255, 240, 240), (240, 110, 100), s),
                "#b2182b".to_string(),
            ))
        } else if v < 0.0 {
            Some((
                mix((240, 250, 240), (110, 200, 120), s),
                "#1b7837".to_string(),
            ))
        } else {
            None
        }
    } else {
        let s = share(node.cum).sqrt();
        let line = if node.hot { "#b2182b" } else { "#555555" };
        Some((mix((255, 255, 255), (253, 174, 97), s), line.to_string()))
    }
}

/// The colour of an edge.
pub(crate) fn edge_color(edge: &Edge, diff: bool) -> &'static str {
    if diff {
        if edge.weight > 0.0 {
            "#b2182b"
        } else if edge.weight < 0.0 {
            "#1b7837"
        } else {
            "#999999"
        }
    } else if edge.hot {
        "#b2182b"
    } else {
        "#666666"
    }
}

fn mix(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let m = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_like_jeprof() {
        assert_eq!(
            name_lines("std::vector<int>::push_back"),
            ["std", "vector<int>", "push_back"]
        );
        assert_eq!(name_lines("operator new"), ["operator", "new"]);
        assert_eq!(name_lines("f (inline)"), ["f", "(inline)"]);
    }

    #[test]
    fn long_names_are_shortened() {
        let long = "x".repeat(500);
        let lines = name_lines(&long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].chars().count(), MAX_LINE);
        let many = (0..20)
            .map(|i| format!("n{i}"))
            .collect::<Vec<_>>()
            .join("::");
        let lines = name_lines(&many);
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines[0], "n0");
        assert_eq!(lines[2], "…");
        assert_eq!(lines.last().unwrap(), "n19");
    }

    #[test]
    fn jeprof_sizes() {
        assert_eq!(font_size(25.0, 100.0), 33.0);
        assert_eq!(font_size(25.0, 0.0), 8.0);
        assert_eq!(edge_width(10.0, 100.0), 1.0);
        assert_eq!(edge_width(50.0, 100.0), 2.0);
    }
}
