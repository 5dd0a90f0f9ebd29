//! Bounded line reading for the text formats, and the record of what was skipped.

use std::fmt;
use std::io::{self, BufRead};

use core_reader::Diagnostic;

/// The longest line read. A jemalloc stack line holds at most 128 frames (`PROF_BT_MAX`) of
/// at most 19 bytes each, gperftools' at most 64 frames; a line 400 times that long is not a
/// profile line, and is skipped without being held in memory.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// How many problems are kept word for word; the rest are only counted.
const MAX_PROBLEMS: usize = 20;

/// What a reader had to leave out of a file it could otherwise read. Empty means the whole
/// file was read.
///
/// Each problem is a [`Diagnostic`] of kind `bad_line` (a text line, its number in the
/// message: `line 601: bad stack: …`), `bad_record` (a profile.proto record) or
/// `read_stopped` (a read error or a damaged gzip stream ended the file early) or
/// `other_events` (`perf script` samples of events other than the one read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines (or, for profile.proto, records; for `perf script` output, samples of other
    /// events) left out.
    pub lines: u64,
    /// The first few problems, in file order.
    pub problems: Vec<Diagnostic>,
}

impl Skipped {
    /// Whether anything was skipped.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Records one skipped text line (1-based number).
    pub(crate) fn skip(&mut self, line: u64, message: impl fmt::Display) {
        self.push("bad_line", format!("line {line}: {message}"));
    }

    /// Records one skipped record of a binary file.
    pub(crate) fn skip_record(&mut self, message: impl Into<String>) {
        self.push("bad_record", message);
    }

    /// Records that reading stopped (`why`) after line `last`: what came before is kept.
    pub(crate) fn read_stopped(&mut self, last: u64, why: &str) {
        self.push(
            "read_stopped",
            format!("line {}: reading stopped: {why}", last + 1),
        );
    }

    /// Adds what another part of the same file skipped, after what this one did.
    pub(crate) fn append(&mut self, other: Skipped) {
        self.lines += other.lines;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }

    /// Records `count` samples left out for one reason (`perf script` samples of events
    /// other than the one read).
    pub(crate) fn skip_samples(&mut self, count: u64, message: impl Into<String>) {
        self.push("other_events", message);
        // `push` counted one.
        self.lines += count.saturating_sub(1);
    }

    fn push(&mut self, kind: &'static str, message: impl Into<String>) {
        self.lines += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Diagnostic::new(kind, message));
        }
    }
}

/// `3 lines skipped (first: line 601: bad stack: …)`, the sentence the command line prints
/// after "FILE could be read only in part: ".
impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.lines == 1 { "" } else { "s" };
        write!(f, "{} line{s} skipped", self.lines)?;
        if let Some(first) = self.problems.first() {
            write!(f, " (first: {})", first.message)?;
        }
        Ok(())
    }
}

/// `str::trim`, a byte at a time over the blanks and tabs that indent and end a profile's
/// lines; `str::trim` (Unicode white space) is asked only where what is left starts or ends
/// with other white space or a byte that is not ASCII.
pub(crate) fn trim(s: &str) -> &str {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    // Both ends are at ASCII bytes (or the string's ends): char boundaries.
    let t = &s[start..end];
    let plain = |b: Option<&u8>| b.is_none_or(|&b| b.is_ascii_graphic());
    if plain(t.as_bytes().first()) && plain(t.as_bytes().last()) {
        t
    } else {
        t.trim()
    }
}

/// One line as read.
pub(crate) enum Line<'a> {
    /// The text, without its line end (`\n`, `\r\n`; a stray `\r` is dropped as jeprof does).
    Text(&'a str),
    /// Longer than [`MAX_LINE`] or not UTF-8: unusable, but counted.
    Bad(&'static str),
}

impl Line<'_> {
    /// A line's bytes, without its end: text if they are UTF-8.
    fn of(bytes: &[u8]) -> Line<'_> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Line::Text(s),
            Err(_) => Line::Bad("line is not text (UTF-8)"),
        }
    }
}

/// Reads lines of at most [`MAX_LINE`] bytes, numbering them.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    error: Option<String>,
    /// The length of the last line read in place, in the reader's buffer, with its `\n`:
    /// consumed when the next line is read.
    in_place: usize,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::continuing(inner, 0)
    }

    /// Reads lines numbered from `number + 1`: the rest of a file whose first `number` lines
    /// were read already.
    pub(crate) fn continuing(inner: R, number: u64) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            number,
            error: None,
            in_place: 0,
        }
    }

    /// The reader, at the start of the next line, and the number of the last line read.
    pub(crate) fn into_parts(mut self) -> (R, u64) {
        self.inner.consume(std::mem::take(&mut self.in_place));
        (self.inner, self.number)
    }

    /// Records in `skipped` why reading stopped early, if it did (a read error, a damaged or
    /// truncated gzip stream): what came before is kept, so the file counts as read in part.
    pub(crate) fn finish(&self, skipped: &mut Skipped) {
        if let Some(e) = &self.error {
            skipped.read_stopped(self.number, e);
        }
    }

    /// Why reading stopped early, if it did.
    pub(crate) fn stopped(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The next line with its number, or `None` at the end (or at a read error, kept for
    /// [`Self::finish`]).
    pub(crate) fn next_line(&mut self) -> Option<(u64, Line<'_>)> {
        self.inner.consume(std::mem::take(&mut self.in_place));
        // A line whole in the reader's buffer, not too long and without `\r`, is read where
        // it is (most are: a 250k-stack dump is 90 MB of lines to copy otherwise).
        if self.error.is_none() {
            let whole = match self.inner.fill_buf() {
                Ok(available) => memchr::memchr(b'\n', available).filter(|&end| {
                    end <= MAX_LINE && memchr::memchr(b'\r', &available[..end]).is_none()
                }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Err(e) => {
                    self.error = Some(e.to_string());
                    return None;
                }
            };
            if let Some(end) = whole {
                // A buffer not consumed is given again as it was (`BufRead::fill_buf`).
                return match self.inner.fill_buf() {
                    Ok(available) if available.len() > end => {
                        self.in_place = end + 1;
                        self.number += 1;
                        Some((self.number, Line::of(&available[..end])))
                    }
                    _ => {
                        self.error = Some("the input changed as it was read".to_string());
                        None
                    }
                };
            }
        }
        let status = match self.read_line() {
            Ok(Some(status)) => status,
            Ok(None) => return None,
            Err(e) => {
                self.error = Some(e.to_string());
                return None;
            }
        };
        self.number += 1;
        let line = match status {
            Err(why) => Line::Bad(why),
            Ok(()) => Line::of(&self.buf),
        };
        Some((self.number, line))
    }

    /// Reads the next line into `buf`: `Ok(None)` at the end, `Ok(Some(Err(why)))` for a line
    /// too long to keep.
    fn read_line(&mut self) -> io::Result<Option<Result<(), &'static str>>> {
        if self.error.is_some() {
            return Ok(None);
        }
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1),
                None => (available, available.len()),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > MAX_LINE {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let found_newline = done > chunk.len();
            self.inner.consume(done);
            if found_newline {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if too_long {
            return Ok(Some(Err("line longer than 1 MiB")));
        }
        if self.buf.contains(&b'\r') {
            self.buf.retain(|&b| b != b'\r');
        }
        Ok(Some(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<String> {
        let mut r = LineReader::new(input);
        let mut out = Vec::new();
        while let Some((_, l)) = r.next_line() {
            out.push(match l {
                Line::Text(t) => t.to_string(),
                Line::Bad(why) => format!("BAD {why}"),
            });
        }
        out
    }

    #[test]
    fn trims_as_str_trims() {
        for s in [
            "",
            " ",
            "\t a b \t",
            "a",
            "\u{a0}x ",
            " x\u{85}",
            "\x0bx\x0c",
            " \r\n",
            "é ",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn splits_and_bounds_lines() {
        assert_eq!(all(b"a\r\nb\n\nc"), ["a", "b", "", "c"]);
        let mut long = vec![b'x'; MAX_LINE + 5];
        long.extend_from_slice(b"\nok\n\xff\n");
        assert_eq!(
            all(&long),
            [
                "BAD line longer than 1 MiB",
                "ok",
                "BAD line is not text (UTF-8)"
            ]
        );
    }
}
