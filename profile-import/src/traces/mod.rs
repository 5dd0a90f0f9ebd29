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
            let event = perf_event(r.fill_buf().map_err(crate::io_error)?);
            let mut options = inferno::collapse::perf::Options::default();
            // The event inferno keeps (it keeps only one, the first it meets unless told) is
            // the one named here.
            options.event_filter = event.clone();
            let folded = collapse(inferno::collapse::perf::Folder::from(options), r)?;
            folded::read(
                Format::PerfScript,
                event.unwrap_or_else(|| "samples".to_string()),
                &folded[..],
            )
        }
        Format::Dtrace => {
            let folded = collapse(inferno::collapse::dtrace::Folder::default(), r)?;
            // A DTrace aggregation prints no name; `@[ustack()] = count()` counts calls.
            folded::read(Format::Dtrace, "count".to_string(), &folded[..])
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

/// The event of the first sample in `perf script` output, as inferno names it: the word
/// before the first `:` after the time stamp (`cycles` in `… 72.176760: 257597 cycles:uppp:`,
/// `page-faults` in `pf 21799 21041.921871: 1 page-faults:`). None where the head holds no
/// sample line with a time stamp.
fn perf_event(head: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(&head[..head.len().min(HEAD)])
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    head.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(char::is_whitespace))
        .find_map(|line| {
            // The time stamp is the first word that is a number followed by `:` (a comm
            // such as `kworker/0:1` holds a colon too, but not after digits alone).
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
                return before
                    .split_whitespace()
                    .last()
                    .filter(|e| !e.is_empty())
                    .map(str::to_string);
            }
            None
        })
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
