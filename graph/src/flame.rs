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
    let folded = view.folded();
    (0..folded.len())
        .filter(|&i| folded.stack(i).1 > 0)
        .map(|i| {
            let mut s = folded.line(i);
            // Writing to a String cannot fail.
            let _ = write!(s, " {}", folded.stack(i).1);
            s
        })
        .collect()
}

/// The folded lines (`root;…;leaf value`) to draw a view's flame graph or icicle from with
/// frames narrower than `min_width` (as [`FlameOptions::min_width`]) left out: the drawing is
/// the one of every stack's line ([`folded_lines`]), from far fewer lines.
///
/// inferno merges sorted lines into frames — a frame runs as long as consecutive lines share
/// it and everything below it — and then leaves out frames narrower than `min_width`
/// (`flamegraph::from_lines`, inferno 0.12). A frame is never wider than the frame below it,
/// so once a line's frame is left out, so is everything above it in that line: each line
/// is cut after the first of its frames too narrow to draw (a margin of half the width is
/// kept), and lines cut alike that follow each other are one line with their values summed.
/// The drawn frames start and end where they did, with the same neighbours, in the same
/// order. (Keeping that first narrow frame keeps the lines' order: `f;…` sorts after
/// `f0;…`, and so must the line cut after `f`.)
///
/// That holds when inferno reads every line's frames as the names they were written from:
/// names that are not empty, do not start or end with a blank (inferno trims lines) and hold
/// no control character (which would sort before the blank that ends a stack). Otherwise,
/// and where the cut lines would not sort as inferno needs them, every line is given.
pub fn flame_lines(view: &View<'_>, min_width: f64) -> Vec<String> {
    let folded = view.folded();
    let stacks: Vec<(&[u32], u64)> = (0..folded.len())
        .map(|i| folded.stack(i))
        .filter(|&(_, v)| v > 0)
        .map(|(frames, v)| (frames, v as u64))
        .collect();
    let line = |frames: &[u32], v: u64| {
        let mut s = String::new();
        for (n, &id) in frames.iter().enumerate() {
            if n > 0 {
                s.push(';');
            }
            s.push_str(&folded.names[id as usize]);
        }
        let _ = write!(s, " {v}");
        s
    };
    let all = || stacks.iter().map(|&(f, v)| line(f, v)).collect();
    let plain = |n: &String| {
        !n.is_empty()
            && !n.starts_with(char::is_whitespace)
            && !n.ends_with(char::is_whitespace)
            && !n.bytes().any(|b| b < b' ')
    };
    let Some(total) = stacks.iter().try_fold(0u64, |t, &(_, v)| t.checked_add(v)) else {
        return all();
    };
    if !folded.names.iter().all(plain) {
        return all();
    }
    // inferno's test, with its numbers: a frame is left out when its width in samples is
    // below `min_width / (100 / total)`. Frames of half that width are kept here.
    let cut = min_width / (100.0 / total as f64) / 2.0;
    // Per line: how many of its frames may be drawn.
    let mut keep = vec![0usize; stacks.len()];
    // The frames of the current line that are still open: start time and first line.
    let mut open: Vec<(u64, usize)> = Vec::new();
    let mut close = |open: &mut Vec<(u64, usize)>, depth: usize, time: u64, line: usize| {
        while open.len() > depth {
            let Some((start, first)) = open.pop() else {
                break;
            };
            if (time.saturating_sub(start) as f64) < cut {
                continue;
            }
            // Frames above this one closed first and set the lines they hold.
            for k in &mut keep[first..line] {
                if *k == 0 {
                    *k = open.len() + 1;
                }
            }
        }
    };
    let mut time = 0u64;
    let mut previous: &[u32] = &[];
    for (i, &(frames, v)) in stacks.iter().enumerate() {
        let shared = previous
            .iter()
            .zip(frames)
            .take_while(|(a, b)| a == b)
            .count();
        close(&mut open, shared, time, i);
        open.extend((shared..frames.len()).map(|_| (time, i)));
        time += v;
        previous = frames;
    }
    close(&mut open, 0, time, stacks.len());

    // Each line up to its first frame too narrow to draw, if it has one.
    let mut cut: Vec<usize> = stacks
        .iter()
        .zip(&keep)
        .map(|(&(frames, _), &k)| (k + 1).min(frames.len()))
        .collect();
    // A line cut after `f` sorts before lines through `f0` where it sorted after them (`;`
    // comes after `0`): such lines are cut one frame later, until the lines sort as before
    // (each round lengthens lines, so the rounds are bounded; a few are plenty).
    for _ in 0..MAX_ROUNDS {
        // Lines cut alike that follow each other, as (first line, end, value).
        let mut groups: Vec<(usize, usize, u64)> = Vec::new();
        for (i, &(frames, v)) in stacks.iter().enumerate() {
            match groups.last_mut() {
                Some((first, end, sum))
                    if frames.get(..cut[i]) == Some(&stacks[*first].0[..cut[*first]]) =>
                {
                    *end = i + 1;
                    *sum += v;
                }
                _ => groups.push((i, i + 1, v)),
            }
        }
        let lines: Vec<String> = groups
            .iter()
            .map(|&(first, _, v)| line(&stacks[first].0[..cut[first]], v))
            .collect();
        let mut sorted = true;
        for (w, g) in lines.windows(2).zip(groups.windows(2)) {
            if w[0].trim() < w[1].trim() {
                continue;
            }
            sorted = false;
            // The later line ends too soon: lengthen every line of its group.
            let (first, end, _) = g[1];
            if cut[first] == stacks[first].0.len() {
                return all();
            }
            for c in &mut cut[first..end] {
                *c += 1;
            }
        }
        if sorted {
            return lines;
        }
    }
    all()
}

/// How often [`flame_lines`] lengthens lines that no longer sort before giving every line.
const MAX_ROUNDS: usize = 16;

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

#[cfg(test)]
mod tests {
    use super::*;
    use profile_import::{read_bytes, ValueKind, ViewOptions};

    /// Draws `folded` (inferno's input) with every line and with [`flame_lines`]' lines,
    /// both ways up; returns the drawings and how many lines each had.
    fn both(folded: &str) -> [(String, String, usize); 2] {
        let profile = read_bytes(folded.as_bytes()).unwrap().profile;
        let options = ViewOptions::new(ValueKind::InuseObjects, None, None).unwrap();
        let view = View::new(&profile, &options);
        let draw = |lines: &[String]| {
            let flame = |icicle| {
                let options = FlameOptions {
                    icicle,
                    ..FlameOptions::default()
                };
                flame_graph(lines, "samples", &options).unwrap()
            };
            (flame(false), flame(true), lines.len())
        };
        [
            draw(&folded_lines(&view)),
            draw(&flame_lines(&view, FlameOptions::default().min_width)),
        ]
    }

    /// Four levels of callers under `main`, the stacks through `a;a`, `b;b`, … heavy and the
    /// others light, and names that start others (`f` and `f0`: a line cut after `f` would
    /// sort before `f0;…`'s lines, where its whole line sorts after them).
    fn stacks(names: &[&str]) -> String {
        let mut text = String::new();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                for c in names {
                    for d in names {
                        let v = if i == j { 2000 } else { 1 };
                        text.push_str(&format!("main;{a};{b};{c};{d} {v}\n"));
                    }
                }
            }
        }
        text
    }

    #[test]
    fn cut_lines_draw_what_all_lines_draw() {
        let names = ["f", "f0", "f1", "f10", "f-", "f_x", "g"];
        let [all, cut] = both(&stacks(&names));
        assert!(cut.2 * 3 < all.2, "{} lines of {}", cut.2, all.2);
        assert_eq!((&all.0, &all.1), (&cut.0, &cut.1));
    }

    #[test]
    fn names_inferno_would_read_otherwise_get_every_line() {
        // A name ending in a blank: inferno trims it off a leaf.
        let text = stacks(&["a", "b\u{a0}", "c"]);
        let [all, cut] = both(&text);
        assert_eq!(cut.2, all.2);
        assert_eq!((&all.0, &all.1), (&cut.0, &cut.1));
    }
}
