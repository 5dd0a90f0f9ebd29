//! bpftrace maps keyed by user stacks, as bpftrace prints them when it exits: an entry per
//! stack, frames leaf first, one a line, then the value (bpftrace's reference guide,
//! `docs/reference_guide.md` "ustack", bpftrace 0.9–0.20):
//!
//! ```text
//! Attaching 1 probe...
//! ^C
//!
//! @[
//!     __open_nocancel+65
//!     command_word_completion_function+3604
//!     main+2409
//!     0x61ce258d4c544155
//! ]: 9
//! ```
//!
//! Frames are `name+offset` (decimal), a bare address where there is no symbol, or with
//! `ustack(perf)` `address name+offset (module)`. A map keyed by more than the stack
//! (`@[comm, ustack]`) prints the other keys before it on the opening line: they become the
//! root frame, as the process name is in perf's folded stacks. Only the first map is read (a
//! profile counts one thing); entries of other maps, and values that are not numbers
//! (histograms), are counted as skipped.

use std::io::BufRead;

use super::NamedStacks;
use crate::lines::{Line, LineReader};
use crate::model::{Format, ValueKind};
use crate::Parsed;

/// Whether the first meaningful line opens a map entry (`@…[`), past bpftrace's
/// `Attaching N probes...` and the `^C` a terminal echoes.
pub(super) fn detect(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Attaching ") && *l != "^C")
        .is_some_and(|l| opening(l).is_some())
}

/// An entry's opening line, `@name[` and the keys before the stack: the map's name and
/// those keys. A one-line entry (`@[key]: 3`) is not an opening.
fn opening(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('@')?;
    let (name, keys) = rest.split_once('[')?;
    (name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !keys.contains("]:"))
        .then_some((name, keys.trim().trim_end_matches(',').trim()))
}

/// A closing line, `]: 9`: the value.
fn closing(line: &str) -> Option<f64> {
    let value = line.strip_prefix(']')?.trim_start().strip_prefix(':')?;
    value.trim().parse::<i64>().ok().map(|v| v as f64)
}

/// The function a frame line names: `name+offset` less the offset, `address name+offset
/// (module)` (`ustack(perf)`) less the address, offset and module; a bare address as is.
fn frame(line: &str) -> &str {
    let mut f = line.trim();
    if f.ends_with(')') {
        if let Some((head, _module)) = f.rsplit_once(" (") {
            f = head.trim();
        }
        if let Some((address, name)) = f.split_once(' ') {
            if u64::from_str_radix(address.trim_start_matches("0x"), 16).is_ok() {
                f = name.trim();
            }
        }
    }
    match f.rsplit_once('+') {
        Some((name, offset))
            if !name.is_empty()
                && !offset.is_empty()
                && offset.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => f,
    }
}

/// Reads the first map of bpftrace's output.
pub(super) fn read<R: BufRead>(r: R) -> Result<Parsed, crate::Error> {
    let mut lines = LineReader::new(r);
    let mut map: Option<String> = None;
    let mut stacks: Option<NamedStacks> = None;
    let mut skipped = crate::lines::Skipped::default();
    // Inside an entry of the map read (true) or of another map (false).
    let mut inside: Option<bool> = None;
    // The keys before the stack, the root frame of the entry being read.
    let mut root = String::new();
    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t.trim(),
            Line::Bad(why) => {
                skipped.skip(n, why);
                continue;
            }
        };
        if let Some(value) = closing(text) {
            match (inside.take(), stacks.as_mut()) {
                (Some(true), Some(s)) => {
                    if !root.is_empty() {
                        s.frame(&root);
                    }
                    s.end(false, [value, 0.0, 0.0, 0.0]);
                }
                (Some(false), _) => skipped.skip(n, "an entry of another map"),
                _ => skipped.skip(n, "a value outside any entry"),
            }
            continue;
        }
        if let Some((name, keys)) = opening(text) {
            if inside.is_some() {
                skipped.skip(n, "an entry that does not end");
            }
            let name = if name.is_empty() { "count" } else { name };
            let ours = map.get_or_insert_with(|| name.to_string()) == name;
            let s = stacks.get_or_insert_with(|| {
                NamedStacks::new(
                    Format::Bpftrace,
                    Some(name.to_string()),
                    &[ValueKind::InuseObjects],
                )
            });
            s.discard();
            root = keys.to_string();
            inside = Some(ours);
            continue;
        }
        match (inside, stacks.as_mut()) {
            (Some(true), Some(s)) if !text.is_empty() => s.frame(frame(text)),
            (Some(_), _) => {}
            (None, _) if text.is_empty() || text == "^C" || text.starts_with("Attaching ") => {}
            (None, _) => skipped.skip(n, "not part of a map entry keyed by a stack"),
        }
    }
    let Some(mut stacks) = stacks else {
        return Err(crate::Error::UnknownFormat {
            detail: "bpftrace output without a map keyed by a stack".to_string(),
        });
    };
    stacks.skipped = skipped;
    Ok(stacks.finish(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lose_offsets_addresses_and_modules() {
        assert_eq!(frame("    main+2409"), "main");
        assert_eq!(frame("0x61ce258d4c544155"), "0x61ce258d4c544155");
        assert_eq!(frame("\t7f3a1b2c malloc+20 (/usr/lib/libc.so.6)"), "malloc");
        assert_eq!(
            frame("operator new(unsigned long)+12"),
            "operator new(unsigned long)"
        );
        assert_eq!(frame("a+b"), "a+b");
    }
}
