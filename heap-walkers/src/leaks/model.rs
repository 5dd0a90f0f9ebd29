//! What a leak check found: counts like valgrind's summary, groups and every leaked block.

use serde::Serialize;

use crate::sites::Site;

/// Serializes an address as `"0x…"`.
fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#x}"))
}

fn hex_vec<S: serde::Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| format!("{a:#x}")))
}

/// Where a root range comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    /// A thread's stack, from its stack pointer to the end of the mapping.
    Stack,
    /// A writable mapping that is neither heap nor a stack: data and bss of the executable
    /// and libraries, TLS, other anonymous memory.
    Static,
}

/// A range of memory scanned for pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// What it is.
    pub kind: RootKind,
}

/// Everything a leak check starts from, and what it must not treat as a root.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// Every thread's register values.
    pub registers: Vec<u64>,
    /// Memory scanned for pointers.
    pub ranges: Vec<RootRange>,
    /// `[start, end)` ranges cut out of `ranges`: the heap itself (reached only through
    /// blocks found reachable) and the allocator's own metadata (its lists point at chunks
    /// but keep nothing alive for the program).
    pub excluded: Vec<(u64, u64)>,
    /// Addresses inside blocks the runtime holds for reuse on the program's behalf (glibc's
    /// stack cache keeps each exited thread's dtv): the block holding each is reachable.
    pub owned: Vec<u64>,
    /// Remarks on the check: how the roots were chosen (what could not be found, what was
    /// left out), and allocation sites that could not be read.
    pub notes: Vec<String>,
}

/// How a block was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    /// Unreachable and pointed to by no other unreachable block (valgrind's "definitely
    /// lost"); in a cycle of lost blocks with no other way in, the lowest address.
    Direct,
    /// Unreachable, but pointed to by another unreachable block (valgrind's "indirectly
    /// lost").
    Indirect,
    /// Reached only through pointers into its middle (valgrind's "possibly lost").
    Possible,
}

impl LeakKind {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            LeakKind::Direct => "direct",
            LeakKind::Indirect => "indirect",
            LeakKind::Possible => "possible",
        }
    }
}

/// One lost block.
#[derive(Debug, Clone, Serialize)]
pub struct Leak {
    /// The pointer the program got.
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// Bytes (usable size).
    pub size: u64,
    /// `direct`, `indirect` or `possible`.
    pub kind: LeakKind,
}

/// Lost blocks of one size and type; untyped ones also of one shape (their first 16 bytes).
#[derive(Debug, Clone, Serialize)]
pub struct LeakGroup {
    /// Blocks in the group.
    pub count: u64,
    /// The size of each.
    pub size: u64,
    /// Their type (a C++ class named by its vtable), when recognized.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// `count * size`.
    pub bytes: u64,
    /// How many are direct.
    pub direct: u64,
    /// How many are indirect.
    pub indirect: u64,
    /// The first two 8-byte words, one letter each: `p` a pointer to an allocation, `0`
    /// zero, `t` text (printable ASCII or NUL), `x` anything else, `-` past the end or
    /// unreadable.
    pub shape: String,
    /// Up to 5 addresses, lowest first.
    #[serde(serialize_with = "hex_vec")]
    pub samples: Vec<u64>,
    /// The first sample's first 16 bytes in hex.
    pub preview_hex: String,
    /// The same bytes as ASCII, `.` for the unprintable.
    pub preview_ascii: String,
    /// Where its blocks were allocated, when the allocator sampled them (jemalloc
    /// `prof:true`): every block of the group has this site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
    /// With sites known: how many of the group's blocks were sampled (all of them in a
    /// group with a `site`, none in one without).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
    /// With a `site`: how many blocks of this size the sampled ones stand for at the
    /// sampling rate, as jeprof estimates it ([`crate::Sites::estimate`]); the unsampled
    /// ones among them are in groups without a site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_count: Option<u64>,
    /// Their bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_bytes: Option<u64>,
}

/// The result of a leak check: valgrind memcheck's summary figures, then groups and blocks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeakReport {
    /// Blocks definitely lost.
    pub direct_count: u64,
    /// Their bytes.
    pub direct_bytes: u64,
    /// Blocks reachable only from lost blocks.
    pub indirect_count: u64,
    /// Their bytes.
    pub indirect_bytes: u64,
    /// Blocks reached only through interior pointers.
    pub possible_count: u64,
    /// Their bytes.
    pub possible_bytes: u64,
    /// Blocks reachable from the roots through pointers to their start.
    pub reachable_count: u64,
    /// Their bytes.
    pub reachable_bytes: u64,
    /// Root bytes scanned (stacks, writable mappings).
    pub root_bytes_scanned: u64,
    /// Root bytes that could not be read (not in the core): a pointer there was missed, so
    /// a block called lost may not be.
    pub root_bytes_unreadable: u64,
    /// Remarks on how the roots were chosen, and allocation sites that could not be read.
    pub notes: Vec<String>,
    /// With allocation sites known (jemalloc `prof:true`): the sampling period in bytes
    /// (1: every allocation sampled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_period: Option<u64>,
    /// Direct and indirect leaks by size and shape, most bytes first.
    pub groups: Vec<LeakGroup>,
    /// Every direct and indirect leak, by address.
    pub leaks: Vec<Leak>,
    /// Every possibly lost block, by address.
    pub possibly_lost: Vec<Leak>,
}
