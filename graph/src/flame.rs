//! Flame graphs and icicles of a profile view, drawn by inferno.

use std::collections::BTreeMap;
use std::fmt::Write;

use inferno::flamegraph::{self, color, Direction, Options};
use profile_import::View;

/// How a flame graph is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct FlameOptions {
    /// The title at the top.
    pub title: String,
    /// An icicle (roots at the top, stacks growing down) instead of a flame graph.
    pub icicle: bool,
    /// Frames narrower than this many pixels are left out (inferno's `--minwidth`; 0.1 by
    /// default). Large profiles stay small this way.
    pub min_width: f64,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "Flame Graph".to_string(),
            icicle: false,
            min_width: 0.1,
        }
    }
}

/// Why a flame graph could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlameError {
    /// No stack has a positive value.
    #[error("no stack has a positive value to draw")]
    Empty,
    /// inferno failed.
    #[error("inferno could not draw the flame graph: {0}")]
    Inferno(String),
}

/// A view's stacks as folded lines (`root;…;leaf value`), through the profile crate's own
/// folded export; stacks whose value is not positive are left out.
pub fn folded_lines(view: &View<'_>) -> Vec<String> {
    view.folded_stacks()
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(mut s, v)| {
            // Writing to a String cannot fail.
            let _ = write!(s, " {v}");
            s
        })
        .collect()
}

/// Differential folded lines (`stack before after`, inferno's `difffolded` form) of two
/// views of the same kind: a stack's width is its value in `current`, its colour says how it
/// changed since `base` (red grew, blue shrank).
pub fn diff_folded_lines(base: &View<'_>, current: &View<'_>) -> Vec<String> {
    let mut both: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (s, v) in base.folded_stacks() {
        both.entry(s).or_default().0 = v.max(0);
    }
    for (s, v) in current.folded_stacks() {
        both.entry(s).or_default().1 = v.max(0);
    }
    both.into_iter()
        .filter(|(_, (a, b))| *a > 0 || *b > 0)
        .map(|(s, (a, b))| format!("{s} {a} {b}"))
        .collect()
}

/// Draws folded lines (plain or differential) as an SVG flame graph with inferno's search,
/// zoom and tooltips (its scripts are inside the SVG). Function names are escaped by inferno.
pub fn flame_graph(
    lines: &[String],
    count_name: &str,
    options: &FlameOptions,
) -> Result<String, FlameError> {
    if lines.is_empty() {
        return Err(FlameError::Empty);
    }
    let mut opt = Options::default();
    opt.title = options.title.clone();
    opt.count_name = count_name.to_string();
    opt.colors = color::Palette::Basic(color::BasicPalette::Mem);
    // Folded lines come sorted (they are written from sorted maps); inferno sorts them again
    // unless told they are, which for a 250k-stack profile is most of its time. It reads
    // them trimmed, so their order is checked the same way.
    opt.no_sort = lines.windows(2).all(|w| w[0].trim() <= w[1].trim());
    opt.hash = true;
    opt.deterministic = true;
    opt.min_width = options.min_width;
    if options.icicle {
        opt.direction = Direction::Inverted;
    }
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| FlameError::Inferno(e.to_string()))?;
    String::from_utf8(out).map_err(|e| FlameError::Inferno(e.to_string()))
}
