//! bcc's `memleak` report (bcc `tools/memleak.py`, its example `tools/memleak_example.txt`):
//! every interval, a report of the allocations still outstanding, grouped by stack, frames
//! leaf first:
//!
//! ```text
//! Attaching to pid 5193, Ctrl+C to quit.
//! [11:16:33] Top 2 stacks with outstanding allocations:
//!         80 bytes in 5 allocations from stack
//!                  main+0x6d [allocs]
//!                  __libc_start_main+0xf0 [libc-2.21.so]
//! ```
//!
//! Each report is the state at its time, not an increment: the last one in the file is the
//! profile, the earlier ones are passed over. Bytes and allocations are in-use space and
//! objects, as memleak counted them: with `-s N` it sampled every N-th allocation and says
//! nothing of it in its output, so nothing is scaled back up. `-a`'s `addr = … size = …`
//! lines repeat what the totals say and are passed over; newer memleaks put each frame's
//! address before its name, which is dropped.

use std::io::BufRead;

use super::NamedStacks;
use crate::lines::{Line, LineReader};
use crate::model::{Format, ValueKind};
use crate::Parsed;

/// The words of a report's header line.
const HEADER: &str = "stacks with outstanding allocations:";

/// Whether some line of the head is memleak's header or one of its totals lines.
pub(super) fn detect(text: &str) -> bool {
    text.lines()
        .any(|l| l.contains(HEADER) || totals(l.trim()).is_some())
}

/// `80 bytes in 5 allocations from stack`: bytes and allocations.
fn totals(line: &str) -> Option<(f64, f64)> {
    let rest = line.strip_suffix(" allocations from stack")?;
    let (bytes, count) = rest.split_once(" bytes in ")?;
    Some((
        bytes.parse::<u64>().ok()? as f64,
        count.parse::<u64>().ok()? as f64,
    ))
}

/// The function a frame line names: `main+0x6d [allocs]` less offset and module, and less
/// the address newer memleaks print first.
fn frame(line: &str) -> &str {
    let mut f = line.trim();
    if let Some((name, module)) = f.rsplit_once(" [") {
        if module.ends_with(']') && !name.trim().is_empty() {
            f = name.trim();
        }
    }
    if let Some((address, name)) = f.split_once(char::is_whitespace) {
        if let Some(hex) = address.strip_prefix("0x") {
            if u64::from_str_radix(hex, 16).is_ok() && !name.trim().is_empty() {
                f = name.trim();
            }
        }
    }
    match f.rsplit_once("+0x") {
        Some((name, offset)) if !name.is_empty() && u64::from_str_radix(offset, 16).is_ok() => name,
        _ => f,
    }
}

/// Reads a memleak report: its last report.
pub(super) fn read<R: BufRead>(r: R) -> Result<Parsed, crate::Error> {
    let mut stacks = NamedStacks::new(
        Format::BccMemleak,
        None,
        &[ValueKind::InuseObjects, ValueKind::InuseSpace],
    );
    let mut lines = LineReader::new(r);
    // The totals of the stack being read.
    let mut current: Option<(f64, f64)> = None;
    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t.trim(),
            Line::Bad(why) => {
                stacks.skipped.skip(n, why);
                continue;
            }
        };
        let header = text.contains(HEADER);
        let next = totals(text);
        if text.is_empty() || header || next.is_some() {
            if let Some((bytes, count)) = current.take() {
                stacks.end(false, [count, bytes, 0.0, 0.0]);
            }
            if header {
                stacks.restart();
            }
            current = next;
            continue;
        }
        if current.is_some() {
            stacks.frame(frame(text));
        } else if !(text.starts_with("addr = ")
            || text.starts_with("Attaching to ")
            || text == "..."
            || text == "^C")
        {
            stacks.skipped.skip(n, "not part of a memleak report");
        }
    }
    if let Some((bytes, count)) = current {
        stacks.end(false, [count, bytes, 0.0, 0.0]);
    }
    Ok(stacks.finish(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lose_offsets_addresses_and_modules() {
        assert_eq!(frame("\t\t main+0x6d [allocs]"), "main");
        assert_eq!(frame("bpf_prog_load [kernel]"), "bpf_prog_load");
        assert_eq!(frame("0x00000000004005d6\tgrow+0x14 [pf]"), "grow");
        assert_eq!(frame("[unknown] [pf]"), "[unknown]");
    }

    #[test]
    fn the_last_report_is_the_profile() {
        let text = "Attaching to pid 5193, Ctrl+C to quit.\n\
                    [11:16:33] Top 2 stacks with outstanding allocations:\n\
                    \t80 bytes in 5 allocations from stack\n\t\tmain+0x6d [allocs]\n\n\
                    [11:16:34] Top 2 stacks with outstanding allocations:\n\
                    \taddr = 948cd0 size = 16\n\
                    \t160 bytes in 10 allocations from stack\n\t\tmain+0x6d [allocs]\n\
                    \t\t__libc_start_main+0xf0 [libc-2.21.so]\n\
                    \t32 bytes in 1 allocations from stack\n\t\tgrow+0x1 [allocs]\n";
        let p = read(text.as_bytes()).unwrap();
        assert!(p.skipped.is_empty(), "{}", p.skipped);
        assert_eq!(p.profile.samples.len(), 2);
        assert_eq!(p.profile.total(ValueKind::InuseSpace), 192.0);
        assert_eq!(p.profile.total(ValueKind::InuseObjects), 11.0);
        assert_eq!(p.profile.samples[0].locations.len(), 2);
    }
}
