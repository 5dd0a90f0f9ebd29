//! jemalloc's `heap_v2` dumps (`prof.dump`, `prof_gdump`, `prof_final`, …).
//!
//! The layout, as jemalloc 5.x writes it (`prof_dump_header_impl`, `prof_tdata_dump_iter`,
//! `prof_dump_gctx` in `src/prof_data.c`):
//!
//! ```text
//! heap_v2/524288                       sampling period: 2^lg_prof_sample bytes
//!   t*: 28106: 56637512 [0: 0]         totals: in use [allocated since start]
//!   t0: 27739: 55919736 [0: 0] main    per thread; a `thread.name` may follow
//! @ 0x7f9c 0x55a1 0x55a0               a stack, leaf first
//!   t*: 13: 6688 [0: 0]                its values (the sum over threads)
//!   t0: 13: 6688 [0: 0]                per thread
//!
//! MAPPED_LIBRARIES:
//! …/proc/PID/maps (or FreeBSD's /proc/curproc/map)…
//! ```
//!
//! The allocated-since-start pair is zero unless `prof_accum:true`.
//!
//! Rules, as jeprof 5.3.0's `ReadThreadedHeapProfile` reads the same lines, and where this
//! reader differs:
//! - Values come from each stack's `t*` line, un-sampled with the header's period (Poisson,
//!   [`crate::Sampling::Poisson`]); per-thread lines are checked but not kept, the header's
//!   thread lines are kept as [`crate::ThreadTotal`]s.
//! - A bare `@` is a stack jemalloc could not unwind. jeprof's `^@\s+(.*)$` does not match it,
//!   so jeprof keeps the previous stack and silently adds these counts to it; this reader keeps
//!   them on an empty stack, which counts in the totals and in no function.
//! - A period of 0 means no scaling in both.
//! - jeprof ignores lines it does not recognise; this reader counts them as skipped (with
//!   their line numbers), so a damaged file is reported as read only in part.

use std::io::BufRead;

use crate::builder::ProfileBuilder;
use crate::legacy::{parse_counts, parse_stack};
use crate::lines::{Line, LineReader, Skipped};
use crate::model::{Format, ProfileKind, Sampling};
use crate::{Error, Parsed};

/// The stack being read: its addresses (None: a bad `@` line whose values are skipped) and
/// whether its `t*` line was seen.
struct Pending {
    stack: Option<Vec<u64>>,
    line: u64,
    has_total: bool,
}

/// Reads a `heap_v2` dump whose header line (`heap_v2/N`, line `header_line`) was already
/// read.
pub(crate) fn read<R: BufRead>(
    mut lines: LineReader<R>,
    header: &str,
    header_line: u64,
) -> Result<Parsed, Error> {
    let period: u64 = header
        .trim()
        .strip_prefix("heap_v2/")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| Error::BadHeader {
            line: header_line,
            message: format!("expected `heap_v2/<period>`, found `{}`", header.trim()),
        })?;
    let sampling = Sampling::Poisson {
        period: period as f64,
    };
    let mut profile = ProfileBuilder::new(Format::JemallocHeapV2, ProfileKind::Heap, sampling);
    let mut skipped = Skipped::default();
    let mut pending: Option<Pending> = None;
    let mut in_maps = false;

    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t,
            Line::Bad(why) => {
                skipped.skip(n, why);
                continue;
            }
        };
        if in_maps {
            profile.maps_line(text);
            continue;
        }
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("MAPPED_LIBRARIES:") || t.starts_with("--- Memory map:") {
            finish_stack(pending.take(), &mut skipped);
            in_maps = true;
        } else if let Some(rest) = t.strip_prefix('@') {
            finish_stack(pending.take(), &mut skipped);
            let stack = match parse_stack(rest) {
                Ok(s) => Some(s),
                Err(e) => {
                    skipped.skip(n, format!("bad stack: {e}"));
                    None
                }
            };
            pending = Some(Pending {
                stack,
                line: n,
                has_total: false,
            });
        } else if let Some(rest) = t.strip_prefix('t') {
            let Some((thread, rest)) = rest.split_once(':') else {
                skipped.skip(n, "unrecognised line");
                continue;
            };
            let Some((raw, tail)) = parse_counts(rest) else {
                skipped.skip(n, "expected `tN: count: bytes [count: bytes]`");
                continue;
            };
            match (&mut pending, thread) {
                (None, "*") => {}
                (None, id) => match id.parse::<u64>() {
                    Ok(id) => {
                        let name = tail.trim();
                        profile.thread(crate::ThreadTotal {
                            id,
                            name: (!name.is_empty()).then(|| name.to_string()),
                            values: raw,
                        });
                    }
                    Err(_) => skipped.skip(n, format!("bad thread id `{id}`")),
                },
                (Some(p), "*") => {
                    if p.has_total {
                        skipped.skip(n, "second `t*:` line for one stack");
                        continue;
                    }
                    p.has_total = true;
                    if let Some(stack) = &p.stack {
                        profile.stack(stack, raw);
                    } else {
                        skipped.lines += 1;
                    }
                }
                (Some(p), id) => {
                    if p.stack.is_none() {
                        skipped.lines += 1;
                    } else if id.parse::<u64>().is_err() {
                        skipped.skip(n, format!("bad thread id `{id}`"));
                    }
                }
            }
        } else {
            skipped.skip(n, "unrecognised line");
        }
    }
    finish_stack(pending.take(), &mut skipped);
    lines.finish(&mut skipped);
    Ok(Parsed {
        profile: profile.build(),
        skipped,
    })
}

fn finish_stack(pending: Option<Pending>, skipped: &mut Skipped) {
    if let Some(p) = pending {
        if !p.has_total && p.stack.is_some() {
            skipped.skip(p.line, "stack without a `t*:` line (truncated file?)");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{read_bytes, ValueKind};

    const SMALL: &str = "heap_v2/1
  t*: 3: 96 [0: 0]
  t0: 2: 64 [0: 0] main thread
  t1: 1: 32 [0: 0]
@ 0x10 0x20 0x30
  t*: 2: 64 [0: 0]
  t0: 2: 64 [0: 0]
@
  t*: 1: 32 [0: 0]
  t1: 1: 32 [0: 0]

MAPPED_LIBRARIES:
00000000-00001000 r-xp 00000000 00:00 1 /bin/prog
";

    #[test]
    fn reads_stacks_threads_bare_stacks_and_maps() {
        let p = read_bytes(SMALL.as_bytes()).unwrap();
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        let prof = p.profile;
        assert_eq!(prof.samples.len(), 2);
        // Leaf kept, callers moved back one byte.
        let addrs: Vec<u64> = prof.samples[0]
            .locations
            .iter()
            .map(|&l| prof.locations[l as usize].address)
            .collect();
        assert_eq!(addrs, [0x10, 0x1f, 0x2f]);
        assert!(prof.samples[1].locations.is_empty());
        // Period 1: 32-byte objects are all but certainly sampled; scale = 1/(1-e^-32).
        assert!((prof.total(ValueKind::InuseSpace) - 96.0).abs() < 1e-9);
        assert_eq!(prof.threads.len(), 2);
        assert_eq!(prof.threads[0].name.as_deref(), Some("main thread"));
        assert_eq!(prof.mappings.len(), 1);
        assert!(prof.locations.iter().all(|l| l.mapping == Some(0)));
    }

    #[test]
    fn damaged_lines_are_counted_with_their_numbers() {
        let text = SMALL
            .replace("@ 0x10 0x20 0x30", "@ 0x10 0xZZ")
            .replace("  t1: 1: 32 [0: 0]\n\n", "  t1: 1: 32 [0:\ngarbage\n");
        let p = read_bytes(text.as_bytes()).unwrap();
        let lines: Vec<&str> = p
            .skipped
            .problems
            .iter()
            .map(|p| p.message.split(':').next().unwrap())
            .collect();
        assert_eq!(lines, ["line 5", "line 10", "line 11"]);
        assert_eq!(p.skipped.lines, 5, "{:?}", p.skipped);
        assert_eq!(p.profile.samples.len(), 1);
    }

    #[test]
    fn bad_header_is_an_error() {
        assert!(read_bytes(b"heap_v2/abc\n").is_err());
    }
}
