//! The one model every reader fills: samples of address stacks with values, the mappings the
//! addresses fall in, and, once symbolized, the functions and lines behind each address.

use std::collections::HashMap;
use std::fmt;

use rustc_hash::FxHashMap;

/// One of the four values a heap sample carries. Every [`Sample`] has all four, in this order;
/// a reader whose format lacks some leaves them at zero and says so in
/// [`Profile::sample_types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "clap",
    derive(clap::ValueEnum),
    value(rename_all = "snake_case")
)]
pub enum ValueKind {
    /// Live objects at the time of the dump; for a trace (perf script, folded stacks, DTrace
    /// or bpftrace aggregations), the events it counted.
    InuseObjects = 0,
    /// Live bytes at the time of the dump.
    InuseSpace = 1,
    /// Objects allocated since start (jemalloc: only with `prof_accum:true`).
    AllocObjects = 2,
    /// Bytes allocated since start (jemalloc: only with `prof_accum:true`).
    AllocSpace = 3,
}

impl ValueKind {
    /// All four, in sample order.
    pub const ALL: [ValueKind; 4] = [
        ValueKind::InuseObjects,
        ValueKind::InuseSpace,
        ValueKind::AllocObjects,
        ValueKind::AllocSpace,
    ];

    /// The pprof sample type name (`inuse_space`, …).
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::InuseObjects => "inuse_objects",
            ValueKind::InuseSpace => "inuse_space",
            ValueKind::AllocObjects => "alloc_objects",
            ValueKind::AllocSpace => "alloc_space",
        }
    }

    /// The pprof unit: `count` or `bytes`.
    pub fn unit(self) -> &'static str {
        if self.is_space() {
            "bytes"
        } else {
            "count"
        }
    }

    /// Whether this value is in bytes.
    pub fn is_space(self) -> bool {
        matches!(self, ValueKind::InuseSpace | ValueKind::AllocSpace)
    }

    /// The kind a pprof sample type name stands for. The legacy names `objects` and `space`
    /// (pprof's reading of single-pair heap profiles) are in-use values.
    pub fn from_name(name: &str) -> Option<ValueKind> {
        Some(match name {
            "inuse_objects" | "objects" => ValueKind::InuseObjects,
            "inuse_space" | "space" => ValueKind::InuseSpace,
            "alloc_objects" => ValueKind::AllocObjects,
            "alloc_space" => ValueKind::AllocSpace,
            _ => return None,
        })
    }

    /// Index into [`Values`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The four values of a sample, indexed by [`ValueKind::index`]. Floating point because
/// un-sampled estimates are fractional; jeprof keeps them so and truncates only when it prints,
/// and so does this crate.
pub type Values = [f64; 4];

/// Which file format a profile came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// jemalloc's `heap_v2/<period>` dump (`prof.dump`, `prof_gdump`, …).
    JemallocHeapV2,
    /// gperftools' `heap profile:` text (heap profiler, tcmalloc sampling, growth).
    Gperftools,
    /// A Java agent's `--- heapz 1 ---` text with its own symbol lines.
    JavaHeapz,
    /// pprof's profile.proto, gzipped or not.
    Pprof,
    /// `perf script` output (`perf record -g`), collapsed by inferno.
    PerfScript,
    /// Folded stacks (`root;…;leaf count`, flamegraph.pl's and inferno's input).
    Folded,
    /// A DTrace aggregation keyed by stacks (`@[ustack()] = count()`), collapsed by inferno.
    Dtrace,
    /// A bpftrace map keyed by stacks (`@[ustack] = count()`), as bpftrace prints it at exit.
    Bpftrace,
    /// bcc's `memleak` report of outstanding allocations.
    BccMemleak,
}

impl Format {
    /// A short name for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Format::JemallocHeapV2 => "jemalloc heap_v2",
            Format::Gperftools => "gperftools heap",
            Format::JavaHeapz => "java heapz",
            Format::Pprof => "pprof",
            Format::PerfScript => "perf script",
            Format::Folded => "folded stacks",
            Format::Dtrace => "dtrace aggregation",
            Format::Bpftrace => "bpftrace map",
            Format::BccMemleak => "bcc memleak",
        }
    }

    /// Whether this is what a tracer counted (perf, folded stacks, DTrace, bpftrace) rather
    /// than a heap profile: such stacks are shown as the tracer recorded them, without
    /// dropping allocator frames, so that the figures stay those the tool itself prints
    /// (`perf report --no-children`, the flame graph of the same folded stacks).
    pub fn is_trace(self) -> bool {
        matches!(
            self,
            Format::PerfScript | Format::Folded | Format::Dtrace | Format::Bpftrace
        )
    }
}

/// How the values were sampled, and so how they were scaled back up when read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every allocation was recorded (gperftools' heap profiler, growth profiles, pprof files,
    /// whose writers un-sample already).
    Unsampled,
    /// A Poisson process with this mean bytes between samples (jemalloc `heap_v2`, gperftools
    /// `heap_v2`/`heapz_v2`): each pair is multiplied by `1 / (1 - exp(-(bytes/count)/period))`.
    Poisson {
        /// Mean bytes between samples.
        period: f64,
    },
    /// gperftools' old uniform sampling (`@ heap/N`, or a bare header whose two pairs are
    /// equal): a pair whose mean size is below `adjustment` is divided by
    /// `(bytes/count)/adjustment`.
    Uniform {
        /// Half the period the header names (jeprof's `AdjustSamples`, version 1).
        adjustment: f64,
    },
}

/// What a profile measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    /// Live (and possibly total allocated) memory.
    Heap,
    /// gperftools' growth profile: the stacks that grew the heap.
    Growth,
}

/// A file the process had mapped, from the profile's own memory map. Only executable
/// mappings are kept: no return address lies anywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file of `start` (0 where the map form does not say: FreeBSD's
    /// `/proc/curproc/map` and the `start-end: path` form).
    pub offset: u64,
    /// The path the process saw.
    pub path: String,
    /// The GNU build-id in hex, where the map gives it (pprof files, the brief form).
    pub build_id: Option<String>,
    /// Whether this is the main executable: the first file named in the map (Linux and
    /// FreeBSD list the program before its libraries), or the mapping a pprof file lists first.
    pub is_main: bool,
}

/// One frame of a symbolized location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    /// Index into [`Profile::functions`].
    pub function: u32,
    /// Source line, 0 when unknown.
    pub line: u32,
}

/// A function name with its file, shared by the lines that name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Function {
    /// The name shown: demangled, shortened like jeprof's `ShortFunctionName` (no argument
    /// types or template arguments).
    pub name: String,
    /// The full name the symbolizer gave (demangled, with arguments).
    pub system_name: String,
    /// Source file, empty when unknown.
    pub filename: String,
}

/// One distinct address seen in the stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The address to look up: for stacks read from text, the leaf keeps the address recorded
    /// and every caller has 1 subtracted so that it falls inside the call instruction (jeprof's
    /// `FixCallerAddresses`); pprof files carry such addresses already.
    pub address: u64,
    /// Index into [`Profile::mappings`] of the mapping that holds the address.
    pub mapping: Option<u32>,
    /// The frames at this address, innermost (inlined) first and the function that holds the
    /// code last, as in pprof. Empty until symbolized.
    pub lines: Vec<Line>,
}

/// One stack with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Indices into [`Profile::locations`], leaf first. May be empty: jemalloc writes a bare
    /// `@` for an allocation whose backtrace could not be taken.
    pub locations: Vec<u32>,
    /// The values, un-sampled.
    pub values: Values,
}

/// A thread's totals from a jemalloc dump header (`  t3: 12: 4096 [0: 0] name`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTotal {
    /// jemalloc's thread uid.
    pub id: u64,
    /// The name given with `thread.name`, if any.
    pub name: Option<String>,
    /// The values as written (sampled, not scaled).
    pub values: Values,
}

/// A heap profile: what one or several files said, merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The format of the (first) file.
    pub format: Format,
    /// What it measures.
    pub kind: ProfileKind,
    /// How the values were sampled (and scaled back).
    pub sampling: Sampling,
    /// The values the input actually carried; the others are zero.
    pub sample_types: Vec<ValueKind>,
    /// The stacks.
    pub samples: Vec<Sample>,
    /// Distinct addresses, referred to by the samples.
    pub locations: Vec<Location>,
    /// Functions named by the locations' lines.
    pub functions: Vec<Function>,
    /// Executable mappings.
    pub mappings: Vec<Mapping>,
    /// Per-thread totals from a jemalloc header.
    pub threads: Vec<ThreadTotal>,
    /// For a trace: the event it counted (`page-faults` for `perf record -e page-faults`,
    /// `samples` for folded stacks, the map's name for bpftrace), whose counts are the
    /// [`ValueKind::InuseObjects`] values. The name the sample type is shown by.
    pub event: Option<String>,
}

impl Profile {
    /// An empty profile of this format.
    pub fn new(format: Format, kind: ProfileKind, sampling: Sampling) -> Profile {
        Profile {
            format,
            kind,
            sampling,
            sample_types: ValueKind::ALL.to_vec(),
            samples: Vec::new(),
            locations: Vec::new(),
            functions: Vec::new(),
            mappings: Vec::new(),
            threads: Vec::new(),
            event: None,
        }
    }

    /// The name a value is shown by: the event a trace counted, or the sample type's name
    /// (`inuse_space`, …).
    pub fn value_name(&self, kind: ValueKind) -> &str {
        match &self.event {
            Some(event) if kind == ValueKind::InuseObjects => event,
            _ => kind.name(),
        }
    }

    /// Whether it counts events at stacks (a trace, or one read back from the pprof this
    /// crate wrote for it), not memory.
    pub fn is_trace(&self) -> bool {
        self.format.is_trace() || self.event.is_some()
    }

    /// The value shown when none is asked for: a trace's event counts, otherwise
    /// `inuse_space` (jeprof's default).
    pub fn default_value(&self) -> ValueKind {
        if self.event.is_some() {
            ValueKind::InuseObjects
        } else {
            ValueKind::InuseSpace
        }
    }

    /// The sum of one value over all samples, as jeprof's `TotalProfile` adds it (in floating
    /// point, in sample order).
    pub fn total(&self, kind: ValueKind) -> f64 {
        self.samples.iter().map(|s| s.values[kind.index()]).sum()
    }
}

/// Builds the location table of a profile: one location per distinct lookup address.
#[derive(Debug)]
pub(crate) struct LocationTable {
    by_address: FxHashMap<u64, u32>,
    /// The last locations found, by their address's low bits (`u32::MAX`: none): a stack
    /// repeats the few addresses of its callers, and a 250k-stack dump has millions of
    /// frames to look up.
    recent: [(u64, u32); RECENT],
}

const RECENT: usize = 64;

impl Default for LocationTable {
    fn default() -> Self {
        LocationTable {
            by_address: FxHashMap::default(),
            recent: [(0, u32::MAX); RECENT],
        }
    }
}

impl LocationTable {
    /// The location for a lookup address, created (unsymbolized) if new.
    pub(crate) fn intern(&mut self, profile: &mut Profile, address: u64) -> u32 {
        let recent = &mut self.recent[(address ^ address >> 6) as usize % RECENT];
        if recent.1 != u32::MAX && recent.0 == address {
            return recent.1;
        }
        let id = *self.by_address.entry(address).or_insert_with(|| {
            let id = profile.locations.len() as u32;
            profile.locations.push(Location {
                address,
                mapping: None,
                lines: Vec::new(),
            });
            id
        });
        *recent = (address, id);
        id
    }
}

/// Turns a stack of return addresses (leaf first) into lookup addresses the way jeprof's
/// `FixCallerAddresses` does: the leaf is kept, every caller has 1 subtracted so that it falls
/// inside the call instruction rather than on the one after it.
pub(crate) fn caller_adjusted(index: usize, address: u64) -> u64 {
    if index == 0 {
        address
    } else {
        address.saturating_sub(1)
    }
}

/// Assigns each location the mapping that holds it. Readers call this once the map is read.
pub(crate) fn assign_mappings(profile: &mut Profile) {
    let mut sorted: Vec<(u64, u64, u32)> = profile
        .mappings
        .iter()
        .enumerate()
        .map(|(i, m)| (m.start, m.end, i as u32))
        .collect();
    sorted.sort_unstable();
    for loc in &mut profile.locations {
        if loc.mapping.is_some() {
            continue;
        }
        let after = sorted.partition_point(|&(start, _, _)| start <= loc.address);
        if after > 0 {
            let (start, end, i) = sorted[after - 1];
            if start <= loc.address && loc.address < end {
                loc.mapping = Some(i);
            }
        }
    }
}

/// Builds the function table of a profile: one entry per distinct (name, full name, file).
#[derive(Debug, Default)]
pub(crate) struct FunctionTable {
    by_key: HashMap<Function, u32>,
}

impl FunctionTable {
    /// A table that already knows the profile's functions.
    pub(crate) fn of(profile: &Profile) -> Self {
        let by_key = profile
            .functions
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i as u32))
            .collect();
        FunctionTable { by_key }
    }

    /// The index of this function, added if new.
    pub(crate) fn intern(&mut self, profile: &mut Profile, function: Function) -> u32 {
        if let Some(&i) = self.by_key.get(&function) {
            return i;
        }
        let i = profile.functions.len() as u32;
        profile.functions.push(function.clone());
        self.by_key.insert(function, i);
        i
    }
}
