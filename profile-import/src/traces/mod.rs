//! What tracing tools write, read as profiles: `perf script` output, folded stacks, DTrace
//! aggregations keyed by `ustack()`, bpftrace maps keyed by `ustack`, and bcc `memleak`
//! reports. Each is recognised by its content ([`detect`]), never by its file name.
//!
//! perf and DTrace output go through inferno's collapsers (inferno 0.12: `collapse::perf`,
//! `collapse::dtrace`), which know those tools' quirks (kernel annotations, Java and Rust
//! names, DTrace's C++ names and offsets); what they write is folded stacks, read by
//! [`folded`]. inferno has no collapser for bpftrace maps or memleak reports; [`bpftrace`]
//! and [`memleak`] read them.
//!
//! Tracers name functions, not addresses: every frame becomes a location with address 0,
//! no mapping, and one line naming the function, so nothing is left to symbolize and
//! profiles of different runs merge by name. The counts of perf, folded stacks, DTrace and
//! bpftrace are [`ValueKind::InuseObjects`] values named by [`Profile::event`]; memleak's
//! outstanding bytes and allocations are in-use space and objects, as in a heap profile.

mod bpftrace;
mod folded;
mod memleak;

use std::collections::HashMap;
use std::io::BufRead;

use inferno::collapse::Collapse;

use crate::lines::{LineReader, Skipped};
use crate::model::{
    Format, Function, Line, Location, Profile, ProfileKind, Sample, Sampling, ValueKind, Values,
};
use crate::{Error, Parsed};

/// How many bytes of the head [`detect`] looks at, at most.
const HEAD: usize = 1 << 16;

/// Which tracer wrote an input, judged from its first bytes.
pub(crate) fn detect(head: &[u8]) -> Option<Format> {
    let head = &head[..head.len().min(HEAD)];
    // Only whole lines: the head may end inside one (unless it is all there is).
    let whole = match head.iter().rposition(|&b| b == b'\n') {
        Some(end) => &head[..=end],
        None => head,
    };
    // Text only: a profile.proto's bytes never pass this.
    let text = std::str::from_utf8(whole).ok()?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return None;
    }
    if memleak::detect(text) {
        return Some(Format::BccMemleak);
    }
    if bpftrace::detect(text) {
        return Some(Format::Bpftrace);
    }
    if inferno::collapse::perf::Folder::default().is_applicable(text) == Some(true) {
        return Some(Format::PerfScript);
    }
    if inferno::collapse::dtrace::Folder::default().is_applicable(text) == Some(true) {
        return Some(Format::Dtrace);
    }
    if folded::detect(text) {
        return Some(Format::Folded);
    }
    None
}

/// Reads a trace of the format [`detect`] found.
pub(crate) fn read<R: BufRead>(format: Format, mut r: R) -> Result<Parsed, Error> {
    match format {
        Format::PerfScript => {
            // The event inferno keeps (it keeps only one, the first it meets unless told) is
            // the one named here. Told none, inferno 0.12 looks for it in the first sample
            // and asserts that it found one (a panic in every build; found by the `pprof`
            // fuzz target): a text whose head names no event is refused here instead.
            let event = perf_event(r.fill_buf().map_err(crate::io_error)?).ok_or_else(|| {
                Error::BadHeader {
                    line: 1,
                    message: format!(
                        "perf script output, but no sample line in its first {} KiB names an \
                         event (`COMM PID TIME: PERIOD EVENT:`, as `perf script` prints by \
                         default)",
                        HEAD >> 10
                    ),
                }
            })?;
            let mut options = inferno::collapse::perf::Options::default();
            options.event_filter = Some(event.clone());
            let mut lines = EditedLines::new(r, PerfEvents::default());
            let folded = collapse(inferno::collapse::perf::Folder::from(options), &mut lines)?;
            let mut parsed = folded::read(Format::PerfScript, event.clone(), &folded[..])?;
            lines.edit.note_other_events(&event, &mut parsed.skipped);
            Ok(parsed)
        }
        Format::Dtrace => {
            let mut lines = EditedLines::new(r, DtraceCounts::default());
            let folded = collapse(inferno::collapse::dtrace::Folder::default(), &mut lines)?;
            // A DTrace aggregation prints no name; `@[ustack()] = count()` counts calls.
            let mut parsed = folded::read(Format::Dtrace, "count".to_string(), &folded[..])?;
            parsed.skipped.append(lines.edit.skipped);
            Ok(parsed)
        }
        Format::Folded => folded::read(Format::Folded, "samples".to_string(), r),
        Format::Bpftrace => bpftrace::read(r),
        _ => memleak::read(r),
    }
}

/// Runs one of inferno's collapsers: folded stacks, one line each, sorted.
fn collapse<C: Collapse, R: BufRead>(mut folder: C, r: R) -> Result<Vec<u8>, Error> {
    let mut folded = Vec::new();
    folder.collapse(r, &mut folded).map_err(crate::io_error)?;
    Ok(folded)
}

/// The event of the first sample in `perf script` output, as inferno names it (see
/// [`sample_event`]). None where the head holds no sample line with a time stamp.
fn perf_event(head: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(&head[..head.len().min(HEAD)])
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    head.lines().find_map(sample_event).map(str::to_string)
}

/// The event of one line of `perf script` output when it starts a sample: the word before
/// the first `:` after the time stamp (`cycles` in `… 72.176760: 257597 cycles:uppp:`,
/// `page-faults` in `pf 21799 21041.921871: 1 page-faults:`).
fn sample_event(line: &str) -> Option<&str> {
    if line.starts_with('#') || line.starts_with(char::is_whitespace) {
        return None;
    }
    // The time stamp is the first word that is a number followed by `:` (a comm such as
    // `kworker/0:1` holds a colon too, but not after digits alone).
    let mut at = 0;
    for word in line.split(' ') {
        let end = at + word.len();
        at = end + 1;
        let Some(time) = word.strip_suffix(':') else {
            continue;
        };
        if time.parse::<f64>().is_err() {
            continue;
        }
        let rest = line.get(end + 1..)?;
        let before = rest.split(':').next()?;
        return before.split_whitespace().last().filter(|e| !e.is_empty());
    }
    None
}

/// How many distinct events [`PerfEvents`] names; samples of any further ones are counted
/// together (perf records a handful; only a hostile file names thousands).
const MAX_EVENTS: usize = 32;

/// A text as one of inferno's collapsers reads it, a line at a time, made ASCII
/// ([`escape_non_ascii`]) and then seen (and perhaps changed or dropped) by `edit` on the way.
struct EditedLines<R, E> {
    inner: R,
    /// The line being handed out, and how much of it was.
    line: Vec<u8>,
    at: usize,
    edit: E,
}

/// What [`EditedLines`] does to each line: changes it in place, and says whether to keep it.
trait LineEdit {
    fn edit(&mut self, line: &mut Vec<u8>) -> bool;
}

impl<R: BufRead, E: LineEdit> EditedLines<R, E> {
    fn new(inner: R, edit: E) -> Self {
        EditedLines {
            inner,
            line: Vec::new(),
            at: 0,
            edit,
        }
    }
}

impl<R: BufRead, E: LineEdit> std::io::Read for EditedLines<R, E> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// Makes `line` ASCII, each other character (an invalid byte read as U+FFFD) written as its
/// `\u{…}` escape. inferno 0.12's collapsers take a symbol's last 17 bytes for a Rust hash by
/// slicing the string there (`fix_partially_demangled_rust_symbol`), which panics when that
/// cuts a multi-byte character (found by the `pprof` fuzz target on DTrace text). Symbol
/// names in perf and DTrace output come from symbol tables and are ASCII; a name that is not
/// keeps its characters readable.
fn escape_non_ascii(line: &mut Vec<u8>) {
    if line.is_ascii() {
        return;
    }
    let mut ascii = String::with_capacity(line.len() * 2);
    for c in String::from_utf8_lossy(line).chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii.extend(c.escape_unicode());
        }
    }
    *line = ascii.into_bytes();
}

impl<R: BufRead, E: LineEdit> BufRead for EditedLines<R, E> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.line.len() {
            self.line.clear();
            self.at = 0;
            // A line longer than this comes in pieces, each handed out as it is.
            <&mut R as std::io::Read>::take(&mut self.inner, crate::lines::MAX_LINE as u64)
                .read_until(b'\n', &mut self.line)?;
            if self.line.is_empty() {
                break;
            }
            escape_non_ascii(&mut self.line);
            if self.edit.edit(&mut self.line) {
                break;
            }
            self.line.clear();
        }
        Ok(&self.line[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.line.len());
    }
}

/// What is done to `perf script` output on its way to inferno:
/// - the samples of each event are counted: inferno keeps the samples of one event and
///   passes over the others without a word (a recording of `perf record -e
///   page-faults,cpu-clock` holds both);
/// - in a sample's first line, the blanks between the period and the event are made one:
///   perf pads shorter event names to the longest one recorded (`250000   cpu-clock:` beside
///   `1 page-faults:`), and inferno 0.12 then reads no period and counts the sample as 1;
/// - a period that would take the sum past 2^64 is handed over as 0 ([`Total`]).
#[derive(Default)]
struct PerfEvents {
    /// Samples per event, in the order first met.
    events: Vec<(String, u64)>,
    /// Samples of events beyond the first [`MAX_EVENTS`].
    more: u64,
    total: Total,
}

impl LineEdit for PerfEvents {
    /// Counts the line if it starts a sample, and unpads its event.
    fn edit(&mut self, line: &mut Vec<u8>) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            return true;
        };
        let Some(event) = sample_event(text) else {
            return true;
        };
        match self.events.iter().position(|(e, _)| e == event) {
            Some(i) => self.events[i].1 += 1,
            None if self.events.len() < MAX_EVENTS => self.events.push((event.to_string(), 1)),
            None => self.more += 1,
        }
        // `sample_event` found the event right after the period and its blanks.
        let end = event.as_ptr() as usize - text.as_ptr() as usize;
        let blanks = text[..end].len() - text[..end].trim_end_matches(' ').len();
        let digits_end = end - blanks;
        let digits_start = text[..digits_end]
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .len();
        let too_much = text[digits_start..digits_end]
            .parse::<u64>()
            .is_ok_and(|period| !self.total.add(period));
        // The edits from the line's end backwards, so that each position still holds.
        if blanks > 1 && digits_end > digits_start {
            line.drain(digits_end + 1..end);
        }
        if too_much {
            line.splice(digits_start..digits_end, *b"0");
            self.total.zeroed += 1;
        }
        true
    }
}

/// The sum of the counts (DTrace) or periods (perf) handed to inferno, which adds a stack's
/// with `+=` on `u64` (a panic with overflow checks, a wrapped sum without; found by the
/// `pprof` fuzz target): one that would take the sum past 2^64 is handed over as 0.
#[derive(Default)]
struct Total {
    sum: u64,
    /// How many were handed over as 0.
    zeroed: u64,
}

impl Total {
    /// Adds `count`; false (and nothing added) when the sum would pass 2^64.
    fn add(&mut self, count: u64) -> bool {
        match self.sum.checked_add(count) {
            Some(sum) => {
                self.sum = sum;
                true
            }
            None => false,
        }
    }
}

impl PerfEvents {
    /// Says in `skipped` how many samples of events other than `kept` were left out, of
    /// which events, and how to read them; and how many periods were read as 0.
    fn note_other_events(&self, kept: &str, skipped: &mut Skipped) {
        if self.total.zeroed > 0 {
            skipped.skip_record(format!(
                "{} samples whose periods would take the sum past 2^64 were read as 0",
                self.total.zeroed
            ));
        }
        let others: Vec<&(String, u64)> = self.events.iter().filter(|(e, _)| e != kept).collect();
        let count = others.iter().map(|(_, n)| n).sum::<u64>() + self.more;
        if count == 0 {
            return;
        }
        let named: Vec<String> = others.iter().map(|(e, n)| format!("{e} ({n})")).collect();
        let more = if self.more > 0 {
            format!(" and {} of further events", self.more)
        } else {
            String::new()
        };
        skipped.skip_samples(
            count,
            format!(
                "{count} samples of other events left out: {}{more}; this profile shows \
                 {kept}, the first event in the file. `perf script --per-event-dump -i \
                 perf.data` writes each event's samples to a file of its own \
                 (perf.data.EVENT.dump), which reads as that event's profile",
                named.join(", ")
            ),
        );
    }
}

/// What is done to a DTrace aggregation on its way to inferno: a count with no frame
/// before it (since the last count) is dropped and noted. inferno 0.12's collapser takes
/// one for the end of an empty stack and subtracts 1 from its length (a panic where
/// overflow is checked; found by the `pprof` fuzz target). A count that would take the
/// sum past 2^64 is handed over as 0 ([`Total`]), and noted. Lines are told apart as
/// inferno tells them: the header up to the first blank line, then trimmed, blank, a count
/// (a `u64`), or a frame.
#[derive(Default)]
struct DtraceCounts {
    /// Whether the header, which inferno passes over up to the first blank line, is over.
    past_header: bool,
    /// Whether a frame came since the last count.
    in_stack: bool,
    /// Lines (or pieces of long lines) read.
    lines: u64,
    /// The counts dropped.
    skipped: Skipped,
    total: Total,
}

impl LineEdit for DtraceCounts {
    fn edit(&mut self, line: &mut Vec<u8>) -> bool {
        self.lines += 1;
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if !self.past_header {
            self.past_header = text.is_empty();
            true
        } else if text.is_empty() {
            true
        } else if let Ok(count) = text.parse::<u64>() {
            let keep = std::mem::take(&mut self.in_stack);
            if !keep {
                self.skipped
                    .skip(self.lines, "a count with no stack before it");
            } else if !self.total.add(count) {
                self.skipped.skip(
                    self.lines,
                    "a count that would take the sum past 2^64, read as 0",
                );
                *line = b"0\n".to_vec();
            }
            keep
        } else {
            self.in_stack = true;
            true
        }
    }
}

/// Builds a profile from stacks of function names.
pub(crate) struct NamedStacks {
    profile: Profile,
    by_name: HashMap<String, u32>,
    /// Reused for each stack.
    stack: Vec<u32>,
    pub(crate) skipped: Skipped,
}

impl NamedStacks {
    /// A profile of this format carrying these values.
    pub(crate) fn new(format: Format, event: Option<String>, types: &[ValueKind]) -> Self {
        let mut profile = Profile::new(format, ProfileKind::Heap, Sampling::Unsampled);
        profile.sample_types = types.to_vec();
        profile.event = event;
        NamedStacks {
            profile,
            by_name: HashMap::new(),
            stack: Vec::new(),
            skipped: Skipped::default(),
        }
    }

    /// Adds one frame, leaf-most so far, to the stack being built.
    pub(crate) fn frame(&mut self, name: &str) {
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => {
                let p = &mut self.profile;
                let function = p.functions.len() as u32;
                p.functions.push(Function {
                    name: name.to_string(),
                    system_name: name.to_string(),
                    filename: String::new(),
                });
                let id = p.locations.len() as u32;
                p.locations.push(Location {
                    address: 0,
                    mapping: None,
                    lines: vec![Line { function, line: 0 }],
                });
                self.by_name.insert(name.to_string(), id);
                id
            }
        };
        self.stack.push(id);
    }

    /// Ends the stack: its frames were given `root_first` or leaf first. A stack whose values
    /// are all zero is left out, as heap readers leave such stacks out.
    pub(crate) fn end(&mut self, root_first: bool, values: Values) {
        if root_first {
            self.stack.reverse();
        }
        if values.iter().any(|&v| v != 0.0) {
            self.profile.samples.push(Sample {
                locations: self.stack.clone(),
                values,
            });
        }
        self.stack.clear();
    }

    /// Drops the stack being built.
    pub(crate) fn discard(&mut self) {
        self.stack.clear();
    }

    /// Forgets every stack so far (memleak: a later report replaces an earlier one).
    pub(crate) fn restart(&mut self) {
        self.profile.samples.clear();
        self.stack.clear();
    }

    /// The profile, with what was skipped and why reading stopped, if it stopped early.
    pub(crate) fn finish<R: BufRead>(mut self, lines: &LineReader<R>) -> Parsed {
        lines.finish(&mut self.skipped);
        Parsed {
            profile: self.profile,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_events_are_named_as_inferno_names_them() {
        let e = |s: &str| perf_event(s.as_bytes());
        assert_eq!(
            e("pf 21799 21041.921871:          1 page-faults: \n").as_deref(),
            Some("page-faults")
        );
        assert_eq!(
            e("# comment\nvote   913    72.176760:     257597 cycles:uppp:\n").as_deref(),
            Some("cycles")
        );
        assert_eq!(
            e("kworker/0:1 12 [001] 5.5: 1 cpu-clock: \n").as_deref(),
            Some("cpu-clock")
        );
        assert_eq!(e("no sample here\n"), None);
    }

    #[test]
    fn samples_of_other_events_are_counted_and_named() {
        let text = "pf 1 2.5:          1 page-faults: \n\t4005d6 touch+0x6 (/bin/pf)\n\n\
                    pf 1 2.6:     250000   cpu-clock: \n\t4005e0 spin+0x2 (/bin/pf)\n\n\
                    pf 1 2.7:          1 page-faults: \n\t4005d6 touch+0x6 (/bin/pf)\n\n\
                    pf 1 2.8:     250000   cpu-clock: \n\t4005e0 spin+0x2 (/bin/pf)\n";
        let parsed = crate::read_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed.profile.event.as_deref(), Some("page-faults"));
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), 2.0);
        assert_eq!(parsed.skipped.lines, 2);
        let p = &parsed.skipped.problems[0];
        assert_eq!(p.kind, "other_events");
        assert!(
            p.message
                .starts_with("2 samples of other events left out: cpu-clock (2);"),
            "{}",
            p.message
        );
        // One event: nothing left out.
        let one = text.split("pf 1 2.6").next().unwrap();
        assert!(crate::read_bytes(one.as_bytes())
            .unwrap()
            .skipped
            .is_empty());
        // perf pads `cpu-clock` to the width of `page-faults`: its periods are still read
        // (`perf script --per-event-dump` keeps the padding).
        let clock: String = text
            .split("\n\n")
            .filter(|s| s.contains("cpu-clock"))
            .map(|s| format!("{s}\n\n"))
            .collect();
        let parsed = crate::read_bytes(clock.as_bytes()).unwrap();
        assert_eq!(parsed.profile.event.as_deref(), Some("cpu-clock"));
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), 500000.0);
    }

    #[test]
    fn a_dtrace_count_with_no_stack_is_dropped_and_said() {
        // Two stacks (3 and 4 calls); a stray count (line 5) between them, and one more
        // (line 9) right after a stack's own count.
        let text = "\n  prog`grow+0x12\n  prog`main+0x1d\n  3\n  5\n  prog`main+0x1d\n  4\n\n  7\n";
        let parsed = crate::read_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), 7.0);
        assert_eq!(parsed.profile.samples.len(), 2);
        let lines: Vec<&str> = parsed
            .skipped
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(
            lines,
            [
                "line 5: a count with no stack before it",
                "line 9: a count with no stack before it"
            ]
        );
    }

    #[test]
    fn a_dtrace_count_right_after_the_header_is_dropped() {
        // The `pprof` fuzz target's input: five header lines (inferno passes over them up to
        // the first blank line), then a count (line 7) with no frame after the header.
        let text = include_bytes!(
            "../../tests/fuzz-regressions/pprof/dtrace-count-right-after-the-header.bin"
        );
        assert_eq!(detect(text), Some(Format::Dtrace));
        let Err(Error::Io { message, .. }) = crate::read_bytes(text) else {
            panic!("the last stack has no count: inferno says the input ends inside it");
        };
        assert!(message.contains("middle of a stack"), "{message}");
        let parsed = crate::read_bytes(&[&text[..], b"  9\n"].concat()).unwrap();
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), 9.0);
        assert_eq!(
            parsed.skipped.problems[0].message,
            "line 7: a count with no stack before it"
        );
    }

    #[test]
    fn names_that_are_not_ascii_are_escaped() {
        // `é` (2 bytes) 17 bytes before the end of the name: inferno sliced through it.
        let name = format!("prog`caf\u{e9}{}", "x".repeat(16));
        let text = format!("\n  {name}+0x12\n  prog`main+0x1d\n  3\n");
        let parsed = crate::read_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), 3.0);
        let names: Vec<&str> = parsed
            .profile
            .functions
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert!(
            names.contains(&format!("prog`caf\\u{{e9}}{}", "x".repeat(16)).as_str()),
            "{names:?}"
        );
    }

    #[test]
    fn perf_output_naming_no_event_is_refused() {
        // The `pprof` fuzz target's input: read as perf script output (inferno's test), with
        // no sample line that names an event.
        let text = include_bytes!(
            "../../tests/fuzz-regressions/pprof/perf-with-no-event-in-its-first-sample.bin"
        );
        assert_eq!(detect(text), Some(Format::PerfScript));
        match crate::read_bytes(text) {
            Err(Error::BadHeader { line: 1, message }) => {
                assert!(message.contains("names an event"), "{message}")
            }
            other => panic!("{:?}", other.map(|p| p.skipped)),
        }
    }

    #[test]
    fn counts_past_two_to_the_64_are_read_as_zero() {
        let max = u64::MAX;
        // DTrace: one stack counted twice; the second count would overflow the sum.
        let text = format!("\n  prog`grow+0x12\n  {max}\n  prog`grow+0x12\n  5\n");
        let parsed = crate::read_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), max as f64);
        assert_eq!(
            parsed.skipped.problems[0].message,
            "line 5: a count that would take the sum past 2^64, read as 0"
        );
        // perf script: the same with periods.
        let text = format!(
            "pf 1 2.5: {max} cycles: \n\t4005d6 touch+0x6 (/bin/pf)\n\n\
             pf 1 2.6: 7 cycles: \n\t4005d6 touch+0x6 (/bin/pf)\n"
        );
        let parsed = crate::read_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed.profile.total(ValueKind::InuseObjects), max as f64);
        assert_eq!(
            parsed.skipped.problems[0].message,
            "1 samples whose periods would take the sum past 2^64 were read as 0"
        );
    }

    #[test]
    fn formats_are_told_apart_by_content() {
        let perf = "pf 1 2.5:          1 page-faults: \n\t4005d6 touch+0x6 (/bin/pf)\n\n";
        assert_eq!(detect(perf.as_bytes()), Some(Format::PerfScript));
        let dtrace =
            "\n              prog`grow+0x12\n              prog`main+0x1d\n               3\n";
        assert_eq!(detect(dtrace.as_bytes()), Some(Format::Dtrace));
        assert_eq!(detect(b"main;grow 12\nmain 3\n"), Some(Format::Folded));
        assert_eq!(
            detect(b"Attaching 1 probe...\n\n@[\n    grow+12\n    main+4\n]: 3\n"),
            Some(Format::Bpftrace)
        );
        assert_eq!(
            detect(b"[11:16:33] Top 2 stacks with outstanding allocations:\n"),
            Some(Format::BccMemleak)
        );
        assert_eq!(detect(b"hello world\n"), None);
        assert_eq!(detect(b"\x0a\x02\x08\x01 3\n"), None);
    }
}
