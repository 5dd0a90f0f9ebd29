//! The allocator-neutral heap model: what every walker produces, and what `heap --format
//! json`, `heap --list`, the leak finder and the report read.
//!
//! A walker fills a [`Heap`] whose arena and heap details are its own (`D`, `A`); the
//! [`HeapSummary`] is the same shape with the details of every allocator in one enum, so the
//! readers above need not know which allocator it was. The common figures of an arena are
//! declared once, in [`ArenaFigures`]. Addresses are numbers; they become `"0x…"` only when
//! serialized.

use core_reader::hex;
use serde::Serialize;

/// The figures every allocator's arena has (DESIGN.md, `heap --format json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ArenaFigures {
    /// Bytes the arena got from the system.
    pub system_bytes: u64,
    /// Allocations in use (glibc: chunks; jemalloc: regions and large extents).
    pub in_use_chunks: u64,
    /// Their bytes.
    pub in_use_bytes: u64,
    /// Free chunks (regions, extents) the arena holds.
    pub free_chunks: u64,
    /// Their bytes.
    pub free_bytes: u64,
    /// What the allocator could give back to the system now.
    pub trimmable_bytes: u64,
    /// The largest free chunk (extent).
    pub largest_free: u64,
}

/// One arena: its index and address, the common figures, and the allocator's own (`D`).
#[derive(Debug, Clone, Serialize)]
pub struct Arena<D> {
    /// Position among the allocator's arenas (glibc: in the `next` ring, 0 for
    /// `main_arena`; jemalloc: the arena index).
    pub index: u32,
    /// The arena structure's address.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// The figures every allocator has.
    #[serde(flatten)]
    pub figures: ArenaFigures,
    /// The allocator's own figures.
    #[serde(flatten)]
    pub detail: D,
}

impl<D> Arena<D> {
    /// The same arena with its detail turned into another type.
    pub fn map<E>(self, f: impl FnOnce(D) -> E) -> Arena<E> {
        Arena {
            index: self.index,
            address: self.address,
            figures: self.figures,
            detail: f(self.detail),
        }
    }
}

/// What the allocator-neutral readers (the report, the listings) ask of an allocator's own
/// arena figures, beyond [`ArenaFigures`]. Figures an allocator does not have are None.
pub trait ArenaDetail: Serialize {
    /// How the allocator names the arena at `index` (`main_arena`, `arena 3`).
    fn name(&self, index: u32) -> String {
        format!("arena {index}")
    }
    /// Freed pages still resident, waiting to be purged (jemalloc's dirty pages), in bytes.
    fn dirty_bytes(&self) -> Option<u64> {
        None
    }
    /// Pages purged lazily (jemalloc's muzzy pages, `MADV_FREE`), in bytes.
    fn muzzy_bytes(&self) -> Option<u64> {
        None
    }
    /// Address space kept for reuse but not backed (jemalloc's retained), in bytes.
    fn retained_bytes(&self) -> Option<u64> {
        None
    }
    /// Bytes of regions sitting in thread caches, which the allocator counts as in use
    /// (jemalloc's `tcache_bytes`), in bytes.
    fn cached_bytes(&self) -> Option<u64> {
        None
    }
}

/// What an allocation is to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum AllocationState {
    /// Handed to the program and not freed.
    Used,
    /// Free in the allocator's own lists (glibc: a bin or the top; jemalloc: a free slab
    /// region, a dirty or muzzy extent).
    Free,
    /// Freed by the program into a thread cache; the allocator still counts it as in use.
    Tcache,
    /// Freed into a glibc fastbin; its neighbours still see it as in use.
    Fastbin,
}

impl AllocationState {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            AllocationState::Used => "used",
            AllocationState::Free => "free",
            AllocationState::Tcache => "tcache",
            AllocationState::Fastbin => "fastbin",
        }
    }
}

/// One allocation (or free chunk) as the program sees it: 24 bytes, so a heap of a hundred
/// million allocations lists in 2.4 GB rather than several times that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The pointer the program got (for a free extent or chunk: its first usable byte).
    pub address: u64,
    /// Usable bytes.
    pub size: u64,
    /// Index of its arena in [`Heap::arenas`], [`Allocation::NO_ARENA`] for memory of its
    /// own (a glibc mmapped chunk).
    pub arena: u32,
    /// Used, free, in a thread cache or a fastbin.
    pub state: AllocationState,
    /// [`Allocation::TOP`], [`Allocation::MMAPPED`].
    pub flags: u8,
}

impl Allocation {
    /// No arena: the allocation has a mapping of its own.
    pub const NO_ARENA: u32 = u32::MAX;
    /// glibc's top chunk (free, the arena's wilderness).
    pub const TOP: u8 = 1;
    /// A chunk of its own mmap.
    pub const MMAPPED: u8 = 2;
    /// The allocator's own metadata, allocated from its heap (jemalloc's thread-cache
    /// stacks): in use, but not by the program.
    pub const INTERNAL: u8 = 4;

    /// One past its last usable byte.
    pub fn end(&self) -> u64 {
        self.address.saturating_add(self.size)
    }

    /// Whether it is glibc's top chunk.
    pub fn is_top(&self) -> bool {
        self.flags & Allocation::TOP != 0
    }

    /// Whether it has a mapping of its own.
    pub fn is_mmapped(&self) -> bool {
        self.flags & Allocation::MMAPPED != 0
    }

    /// Whether the allocator holds it for itself.
    pub fn is_internal(&self) -> bool {
        self.flags & Allocation::INTERNAL != 0
    }

    /// Whether the program holds it: in use, neither glibc's top chunk nor the allocator's
    /// own.
    pub fn is_held(&self) -> bool {
        self.state == AllocationState::Used && !self.is_top() && !self.is_internal()
    }
}

/// Every allocation of a heap, sorted by address: a compact table the readers search and
/// iterate without copying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocations {
    sorted: Vec<Allocation>,
}

impl Allocations {
    /// The table of `list`, sorted by address (walkers produce them in nearly that order).
    pub fn new(mut list: Vec<Allocation>) -> Allocations {
        if !list.is_sorted_by_key(|a| a.address) {
            list.sort_unstable_by_key(|a| a.address);
        }
        Allocations { sorted: list }
    }

    /// The table as a vector, by address.
    pub fn into_vec(self) -> Vec<Allocation> {
        self.sorted
    }

    /// Every allocation, by address.
    pub fn iter(&self) -> std::slice::Iter<'_, Allocation> {
        self.sorted.iter()
    }

    /// As a slice, by address.
    pub fn as_slice(&self) -> &[Allocation] {
        &self.sorted
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The allocation whose usable bytes hold `address` (its start included).
    pub fn containing(&self, address: u64) -> Option<&Allocation> {
        let i = self.sorted.partition_point(|a| a.address <= address);
        let a = self.sorted.get(i.checked_sub(1)?)?;
        (address < a.end() || address == a.address).then_some(a)
    }

    /// Those the program holds ([`Allocation::is_held`]).
    pub fn used(&self) -> impl Iterator<Item = &Allocation> {
        self.sorted.iter().filter(|a| a.is_held())
    }
}

impl<'a> IntoIterator for &'a Allocations {
    type Item = &'a Allocation;
    type IntoIter = std::slice::Iter<'a, Allocation>;
    fn into_iter(self) -> Self::IntoIter {
        self.sorted.iter()
    }
}

/// Which allocations a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ListFilter {
    /// Those in use.
    Used,
    /// Freed ones: in bins, fastbins, tcaches (and glibc's top chunks).
    Free,
    /// Both.
    All,
}

impl ListFilter {
    /// Whether the listing shows `a`.
    pub fn keeps(self, a: &Allocation) -> bool {
        match self {
            ListFilter::All => true,
            ListFilter::Used => a.state == AllocationState::Used,
            ListFilter::Free => a.state != AllocationState::Used,
        }
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely part of the problem.
    Warning,
}

/// A conclusion with numbers and a next step (DESIGN.md, Findings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// A stable identifier of the detector (`fragmentation`, `dirty_never_purged`, …).
    pub code: &'static str,
    /// The arena it is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arena: Option<u32>,
    /// The sentence.
    pub message: String,
}

impl Finding {
    /// The `corruption` finding of a walk whose `problems` include damage (what a truncated
    /// core lacks is not damage: its problems say so), naming the first; `then` follows
    /// that sentence (what could not be walked, how to catch the bug in the act). `None`
    /// for an undamaged heap.
    pub(crate) fn corruption(problems: &[core_reader::Diagnostic], then: &str) -> Option<Finding> {
        let damage: Vec<_> = problems
            .iter()
            .filter(|p| !matches!(p.kind, "truncated" | "unreadable"))
            .collect();
        let first = damage.first()?;
        Some(Finding {
            severity: Severity::Warning,
            code: "corruption",
            arena: None,
            message: format!(
                "the heap is damaged: {} problem{} (first: {}){then}",
                damage.len(),
                if damage.len() == 1 { "" } else { "s" },
                first.message,
            ),
        })
    }
}

/// Allocations of one size class (or size range), in use and free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SizeClass {
    /// The class's usable size, or the low end of a range of sizes.
    pub size: u64,
    /// Allocations of the class in use.
    pub in_use_count: u64,
    /// Their bytes.
    pub in_use_bytes: u64,
    /// Free chunks (regions) of the class the allocator holds.
    pub free_count: u64,
    /// Their bytes.
    pub free_bytes: u64,
}

/// The allocator-neutral heap of one process: what every walker produces. `D` and `A` are
/// the allocator's own figures for the heap and for each arena.
#[derive(Debug, Clone, Serialize)]
pub struct Heap<D, A> {
    /// `glibc`, `jemalloc`, …
    pub allocator: crate::Allocator,
    /// The allocator's version, when known.
    pub version: Option<String>,
    /// The allocator's own figures for the whole heap.
    #[serde(flatten)]
    pub detail: D,
    /// Every arena.
    pub arenas: Vec<Arena<A>>,
    /// In-use and free counts by size class, all arenas (glibc: power-of-two ranges;
    /// jemalloc: its small size classes), smallest first, empty classes left out.
    #[serde(skip)]
    pub size_classes: Vec<SizeClass>,
    /// What the detectors concluded.
    pub findings: Vec<Finding>,
    /// What could not be read or trusted, with where it was.
    pub problems: Vec<core_reader::Diagnostic>,
    /// Remarks on how the heap was found.
    pub notes: Vec<String>,
    /// Every allocation, when the walk was asked to list them.
    #[serde(skip)]
    pub allocations: Option<Allocations>,
}

impl<D, A> Heap<D, A> {
    /// Whether the walk could read only part of the heap (exit status 1).
    pub fn is_partial(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The arena an allocation belongs to.
    pub fn arena_of(&self, a: &Allocation) -> Option<&Arena<A>> {
        self.arenas.get(usize::try_from(a.arena).ok()?)
    }
}
