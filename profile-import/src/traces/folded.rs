//! Folded stacks: `root;…;leaf count` per line, the format of flamegraph.pl's
//! `stackcollapse-*.pl` scripts and inferno's collapsers (and of `heapmortem profile
//! --format folded`). The count is the last word; an integer, or a decimal number, which
//! flamegraph.pl also accepts.

use std::io::BufRead;

use super::NamedStacks;
use crate::lines::{Line, LineReader};
use crate::model::{Format, ValueKind};
use crate::Parsed;

/// How many lines of the head must all be folded stacks.
const CHECKED: usize = 20;

/// Whether the head's lines are all folded stacks (and there is one at least).
pub(super) fn detect(text: &str) -> bool {
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(CHECKED) {
        if parse(line).is_none() {
            return false;
        }
        seen += 1;
    }
    seen > 0
}

/// A line's frames (root first) and count.
fn parse(line: &str) -> Option<(&str, f64)> {
    let (stack, count) = line.trim_end().rsplit_once(' ')?;
    let count: f64 = count.parse().ok()?;
    (count.is_finite() && !stack.trim().is_empty() && !stack.contains('\t'))
        .then_some((stack, count))
}

/// Reads folded stacks; `event` names what the counts count.
pub(super) fn read<R: BufRead>(
    format: Format,
    event: String,
    r: R,
) -> Result<Parsed, crate::Error> {
    let mut stacks = NamedStacks::new(format, Some(event), &[ValueKind::InuseObjects]);
    let mut lines = LineReader::new(r);
    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t,
            Line::Bad(why) => {
                stacks.skipped.skip(n, why);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let Some((frames, count)) = parse(text) else {
            stacks.skipped.skip(n, "not `frame;…;frame count`");
            continue;
        };
        // An empty frame (`a;;b`) names nothing; it is passed over.
        for frame in frames.split(';').filter(|f| !f.is_empty()) {
            stacks.frame(frame);
        }
        stacks.end(true, [count, 0.0, 0.0, 0.0]);
    }
    Ok(stacks.finish(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_what_the_lines_say() {
        let text = "pf;main;grow;touch 30\npf;main;touch 12\n\nbroken line\npf;main 0.5\n";
        let p = read(Format::Folded, "samples".into(), text.as_bytes()).unwrap();
        assert_eq!(p.skipped.lines, 1);
        assert_eq!(p.profile.samples.len(), 3);
        assert_eq!(p.profile.total(ValueKind::InuseObjects), 42.5);
        let leaf = &p.profile.samples[0].locations[0];
        let f = p.profile.locations[*leaf as usize].lines[0].function;
        assert_eq!(p.profile.functions[f as usize].name, "touch");
        assert_eq!(p.profile.event.as_deref(), Some("samples"));
    }
}
