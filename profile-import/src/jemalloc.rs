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

use std::io::{BufRead, Read};

use rayon::prelude::*;

use crate::builder::ProfileBuilder;
use crate::legacy::{parse_counts, parse_stack_into};
use crate::lines::{trim, Line, LineReader, Skipped, MAX_LINE};
use crate::model::{Format, ProfileKind, Sampling};
use crate::{Error, Parsed};

/// How much of the file is held at once (`batch`), and how large the pieces read in
/// parallel are (`piece`): each starts at a stack's `@` line, so that each reads alone.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    batch: usize,
    piece: usize,
}

const SIZES: Sizes = Sizes {
    batch: 8 << 20,
    piece: 1 << 20,
};

/// The stack being read: whether its addresses could be read (if not, a bad `@` line whose
/// values are skipped) and whether its `t*` line was seen. The addresses are kept apart, in
/// one vector for all stacks.
struct Pending {
    stack: bool,
    line: u64,
    has_total: bool,
}

/// Reads a `heap_v2` dump whose header line (`heap_v2/N`, line `header_line`) was already
/// read.
///
/// A dump of a quarter of a million stacks is 90 MB of text: it is read in batches of
/// 8 MiB, cut into pieces at `@` lines which are read in parallel, each into a
/// profile of its own, and joined in file order. Each piece reads as it would as part of
/// the file, as its first line begins a stack (the stack before ends there); the first line
/// numbers of the pieces are known only once they are read, so a piece with a problem to
/// report (rare) is read again with them. The next batch is read from the file while the
/// pieces of this one are parsed. From the memory map on, the file is read line by line, as
/// is a batch with no `@` line in it to cut at.
pub(crate) fn read<R: BufRead + Send>(
    lines: LineReader<R>,
    header: &str,
    header_line: u64,
) -> Result<Parsed, Error> {
    read_in_pieces(lines, header, header_line, SIZES)
}

fn read_in_pieces<R: BufRead + Send>(
    lines: LineReader<R>,
    header: &str,
    header_line: u64,
    sizes: Sizes,
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
    let new_profile = || ProfileBuilder::new(Format::JemallocHeapV2, ProfileKind::Heap, sampling);
    let mut profile = new_profile();
    let mut skipped = Skipped::default();
    let (mut r, _) = lines.into_parts();
    // Lines read so far (the header's included).
    let mut line = header_line;
    let mut buf: Vec<u8> = Vec::new();
    // The next batch: what follows the last piece of this one, then the file read on
    // while this one's pieces are parsed.
    let mut next: Vec<u8> = Vec::new();
    let mut stopped = fill(&mut r, &mut buf, sizes.batch);
    loop {
        let end = stopped.is_some() || buf.len() < sizes.batch;
        let starts = piece_starts(&buf, end, sizes.piece);
        let Some((&last, _)) = starts.split_last() else {
            // No stack starts in a whole batch: the rest is read line by line.
            let rest = LineReader::continuing((&buf[..]).chain(r), line);
            return Ok(sequential(rest, profile, skipped));
        };
        let read_to = if end { buf.len() } else { last };
        let bounds: Vec<(usize, usize)> = starts
            .iter()
            .zip(starts.iter().skip(1).chain([&read_to]))
            .map(|(&a, &b)| (a, b))
            .filter(|(a, b)| a < b)
            .collect();
        let read_pieces = || -> Vec<Piece> {
            bounds
                .par_iter()
                .map(|&(a, b)| Piece::read(&buf[a..b], new_profile(), 0))
                .collect()
        };
        next.clear();
        let (pieces, next_stopped) = if end {
            (read_pieces(), None)
        } else {
            next.extend_from_slice(&buf[read_to..]);
            rayon::join(read_pieces, || fill(&mut r, &mut next, sizes.batch))
        };
        for (piece, &(a, b)) in pieces.into_iter().zip(&bounds) {
            let piece = if piece.skipped.is_empty() {
                piece
            } else {
                // Read again, its problems numbered by their lines in the file.
                Piece::read(&buf[a..b], new_profile(), line)
            };
            profile.append(piece.profile);
            skipped.append(piece.skipped);
            line += piece.lines;
            if let Some(maps) = piece.maps {
                // The memory map: the rest of the file, line by line (up to where reading
                // failed, if it did). The next batch, when read, begins with this one's
                // bytes after `read_to`.
                let (read, stopped) = if end {
                    (&buf[a + maps..], stopped)
                } else {
                    (&buf[a + maps..read_to], next_stopped)
                };
                let read = read.chain(&next[..]);
                let rest: Box<dyn BufRead + '_> = match stopped {
                    Some(e) => Box::new(read.chain(Failed(e))),
                    None => Box::new(read.chain(r)),
                };
                let mut rest = LineReader::continuing(rest, line);
                read_maps(&mut rest, &mut profile, &mut skipped);
                rest.finish(&mut skipped);
                return Ok(Parsed {
                    profile: profile.build(),
                    skipped,
                });
            }
        }
        if end {
            if let Some(e) = stopped {
                skipped.read_stopped(line, &e);
            }
            return Ok(Parsed {
                profile: profile.build(),
                skipped,
            });
        }
        std::mem::swap(&mut buf, &mut next);
        stopped = next_stopped;
    }
}

/// A reader that fails as the input did, after what was read of it.
struct Failed(String);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

impl BufRead for Failed {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Err(std::io::Error::other(self.0.clone()))
    }

    fn consume(&mut self, _: usize) {}
}

/// Reads from `r` until `buf` holds `size` bytes or the input ends; `Some(why)` when reading
/// failed (a read error, a damaged gzip stream), `buf` then cut after its last whole line,
/// as [`LineReader`] keeps only whole lines.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, size: usize) -> Option<String> {
    let room = size.saturating_sub(buf.len()) as u64;
    // `read_to_end` keeps what it read before an error, and reads again when interrupted.
    let error = r.take(room).read_to_end(buf).err().map(|e| e.to_string());
    if error.is_some() {
        let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(whole);
    }
    error
}

/// Where the pieces of `buf` start: at 0, then at the first stack line at or after every
/// `piece` bytes. Unless `end`, the last start ends what is read of this batch (the rest
/// is read with the next), and `buf` must hold one after 0: none when it does not. A piece
/// starts only at a line that [`LineReader`] reads as a stack line: `@` first, not too long,
/// text without `\r`.
fn piece_starts(buf: &[u8], end: bool, piece: usize) -> Vec<usize> {
    let mut starts = vec![0];
    let mut from = piece.max(1);
    while from < buf.len() {
        let Some(at) = buf[from - 1..]
            .windows(2)
            .position(|w| w == b"\n@")
            .map(|i| from + i)
        else {
            break;
        };
        let line = &buf[at..];
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        if line.len() <= MAX_LINE && !line.contains(&b'\r') && std::str::from_utf8(line).is_ok() {
            starts.push(at);
            from = at + piece.max(1);
        } else {
            from = at + 1;
        }
    }
    if !end && starts.len() == 1 {
        starts.clear();
    }
    starts
}

/// A piece of the dump read on its own.
struct Piece {
    profile: ProfileBuilder,
    skipped: Skipped,
    /// How many lines were read.
    lines: u64,
    /// Where the memory map starts in the piece, after its header line, if it does.
    maps: Option<usize>,
}

impl Piece {
    fn read(bytes: &[u8], mut profile: ProfileBuilder, first_line: u64) -> Piece {
        let mut skipped = Skipped::default();
        let mut lines = LineReader::continuing(bytes, first_line);
        let maps = read_stacks(&mut lines, &mut profile, &mut skipped);
        let (rest, last) = lines.into_parts();
        Piece {
            profile,
            skipped,
            lines: last - first_line,
            maps: maps.then(|| bytes.len() - rest.len()),
        }
    }
}

/// The dump from `lines` on, line by line.
fn sequential<R: BufRead>(
    mut lines: LineReader<R>,
    mut profile: ProfileBuilder,
    mut skipped: Skipped,
) -> Parsed {
    if read_stacks(&mut lines, &mut profile, &mut skipped) {
        read_maps(&mut lines, &mut profile, &mut skipped);
    }
    lines.finish(&mut skipped);
    Parsed {
        profile: profile.build(),
        skipped,
    }
}

/// Reads the stacks up to the memory map's header or the end; whether the map follows.
fn read_stacks<R: BufRead>(
    lines: &mut LineReader<R>,
    profile: &mut ProfileBuilder,
    skipped: &mut Skipped,
) -> bool {
    let mut pending: Option<Pending> = None;
    let mut stack: Vec<u64> = Vec::new();
    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t,
            Line::Bad(why) => {
                skipped.skip(n, why);
                continue;
            }
        };
        let t = trim(text);
        if t.is_empty() {
            continue;
        }
        if t.starts_with("MAPPED_LIBRARIES:") || t.starts_with("--- Memory map:") {
            finish_stack(pending.take(), skipped);
            return true;
        } else if let Some(rest) = t.strip_prefix('@') {
            finish_stack(pending.take(), skipped);
            let read = match parse_stack_into(rest, &mut stack) {
                Ok(()) => true,
                Err(e) => {
                    skipped.skip(n, format!("bad stack: {e}"));
                    false
                }
            };
            pending = Some(Pending {
                stack: read,
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
                    if p.stack {
                        profile.stack(&stack, raw);
                    } else {
                        skipped.lines += 1;
                    }
                }
                (Some(p), id) => {
                    if !p.stack {
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
    finish_stack(pending.take(), skipped);
    false
}

/// Reads the memory map to the end.
fn read_maps<R: BufRead>(
    lines: &mut LineReader<R>,
    profile: &mut ProfileBuilder,
    skipped: &mut Skipped,
) {
    while let Some((n, line)) = lines.next_line() {
        match line {
            Line::Text(t) => profile.maps_line(t),
            Line::Bad(why) => skipped.skip(n, why),
        }
    }
}

fn finish_stack(pending: Option<Pending>, skipped: &mut Skipped) {
    if let Some(p) = pending {
        if !p.has_total && p.stack {
            skipped.skip(p.line, "stack without a `t*:` line (truncated file?)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// A dump of `n` stacks with every kind of damage, a stack line after the map header and
    /// lines the map reader passes over.
    fn damaged(n: usize) -> Vec<u8> {
        let mut text = b"heap_v2/524288\n  t*: 9: 900 [0: 0]\n  t0: 9: 900 [0: 0] main\n".to_vec();
        for i in 0..n {
            if i % 23 == 13 {
                text.extend_from_slice(b"@ 0x40 \xff\n  t*: 1: 8 [0: 0]\n garbage\n");
                continue;
            }
            let line = match i % 23 {
                3 => "@ 0x10 0xZZ\n  t*: 1: 8 [0: 0]\n  t0: 1: 8 [0: 0]\n".to_string(),
                5 => format!("@ 0x{:x} 0x20\n", 0x1000 + i),
                7 => format!(
                    "@ 0x{:x}\n  t*: 1: 8 [0: 0]\n  t*: 1: 8 [0: 0]\n",
                    0x30 + i % 5
                ),
                11 => format!("@ 0x{:x}\r\n  tx: 1: 8 [0: 0]\n  t*: 0: 0 [0: 0]\n", i),
                17 => "\n@\n  t*: 2: 16 [0: 0]\n  t9: 2: 16\n".to_string(),
                _ => format!(
                    "@ 0x{:x} 0x{:x} 0x30\n  t*: {}: {} [0: 0]\n  t0: 1: 8 [0: 0]\n",
                    0x40 + i % 7,
                    0x50 + i % 11,
                    1 + i % 3,
                    8 * (1 + i % 5)
                ),
            };
            text.extend_from_slice(line.as_bytes());
        }
        text.extend_from_slice(
            b"MAPPED_LIBRARIES:\n@ 0x10\n\xfe\n00000000-00001000 r-xp 00000000 00:00 1 /bin/p\n",
        );
        text
    }

    /// The dump read whole, line by line, and in pieces of these sizes.
    fn both_ways<R: BufRead + Send>(input: impl Fn() -> R, sizes: Sizes) -> (Parsed, Parsed) {
        let header = |r: R| {
            let mut lines = LineReader::new(r);
            let (n, header) = match lines.next_line() {
                Some((n, Line::Text(t))) => (n, t.to_string()),
                _ => panic!("no header"),
            };
            (lines, header, n)
        };
        let (lines, text, n) = header(input());
        let period: f64 = text.trim_start_matches("heap_v2/").parse().unwrap();
        let sampling = Sampling::Poisson { period };
        let profile = ProfileBuilder::new(Format::JemallocHeapV2, ProfileKind::Heap, sampling);
        let whole = sequential(lines, profile, Skipped::default());
        let (lines, text, n2) = header(input());
        assert_eq!(n, n2);
        (whole, read_in_pieces(lines, &text, n, sizes).unwrap())
    }

    #[test]
    fn pieces_read_as_the_whole_file_reads() {
        for text in [SMALL.as_bytes().to_vec(), damaged(200)] {
            for piece in [1, 5, 64, 1 << 20] {
                for batch in [piece, 3 * piece, 1 << 25] {
                    let sizes = Sizes { batch, piece };
                    let (whole, pieces) = both_ways(|| &text[..], sizes);
                    assert_eq!(whole, pieces, "{sizes:?}");
                }
            }
        }
        let text = damaged(200);
        let (whole, _) = both_ways(|| &text[..], SIZES);
        assert_eq!(whole.skipped.problems.len(), 20);
        assert!(whole.skipped.lines > 20 && whole.profile.samples.len() > 100);
    }

    /// A reader that fails after `len` bytes of `text`, a few bytes at a time.
    struct FailsAfter<'a> {
        text: &'a [u8],
        len: usize,
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.len == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.len).min(7).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            self.len -= n;
            Ok(n)
        }
    }

    #[test]
    fn pieces_stop_where_reading_failed_as_lines_do() {
        let text = damaged(60);
        for len in (0..text.len()).step_by(97).chain([text.len() - 20]) {
            for piece in [3, 100, 1 << 20] {
                let sizes = Sizes {
                    batch: 4 * piece,
                    piece,
                };
                let input = || {
                    std::io::BufReader::with_capacity(
                        16,
                        FailsAfter {
                            text: &text,
                            len: len.max(20),
                        },
                    )
                };
                let (whole, pieces) = both_ways(input, sizes);
                assert_eq!(whole, pieces, "{len} {sizes:?}");
                assert!(
                    whole
                        .skipped
                        .problems
                        .iter()
                        .any(|p| p.kind == "read_stopped")
                        || whole.skipped.problems.len() == 20
                );
            }
        }
    }

    #[test]
    fn bad_header_is_an_error() {
        assert!(read_bytes(b"heap_v2/abc\n").is_err());
    }
}
