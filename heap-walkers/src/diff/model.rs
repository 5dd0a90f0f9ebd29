//! What a diff says: the two programs, the rows of groups with their holders, the arenas'
//! holdings, and the findings — the JSON document of `heapmortem diff`.

use core_reader::{hex, Diagnostic, Target};
use serde::Serialize;

use crate::types::TypeKind;
use crate::{Allocator, Arena, ArenaFigures, Finding, HeldHeap, Holdings};

/// How allocations are grouped into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Grouping {
    /// By type: C++ classes by vtable, container parts by how they are linked, the rest by
    /// usable size.
    Type,
    /// By usable size (the allocator's size class).
    Size,
    /// By allocation site: the function that called the allocator, from the records of a
    /// jemalloc that ran with prof:true (sampled allocations; the rest in one group).
    Site,
}

impl Grouping {
    /// Why the heap of the core `label` cannot be grouped this way: by site needs the
    /// allocation sites a jemalloc that ran with prof:true records.
    pub fn refusal(self, heap: &HeldHeap, label: &str) -> Option<String> {
        (self == Grouping::Site && heap.sites.is_none()).then(|| {
            format!(
                "--by site needs the allocation sites a jemalloc run with prof:true records; \
                 {label} holds none (use --by type or size)"
            )
        })
    }
}

/// One core as the diff takes it.
pub struct Side<'a> {
    /// How the output names it (the path given on the command line).
    pub label: &'a str,
    /// The process.
    pub target: &'a dyn Target,
    /// Its heap, walked with every allocation listed.
    pub heap: &'a HeldHeap,
    /// The allocations its program holds ([`HeldHeap::blocks`]; [`HeldHeap::take_blocks`]
    /// frees the walk's table as it makes them, which the diff does not read).
    pub blocks: Vec<crate::leaks::Block>,
}

/// Which program a core is of, and what its heap is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    /// The label given (the core's path).
    pub label: String,
    /// The main executable's path as the process had it.
    pub executable: Option<String>,
    /// Its build-id (hex).
    pub build_id: Option<String>,
    /// The allocator walked.
    pub allocator: Allocator,
    /// Its version, when known.
    pub version: Option<String>,
    /// What the walk could not read or trust.
    pub problems: Vec<Diagnostic>,
}

/// Whether the two cores are of one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramMatch {
    /// The main executables have the same build-id.
    Same,
    /// The same executable name, different build-ids: another build of the program.
    OtherBuild,
    /// Different executables.
    OtherProgram,
    /// No build-id on one side or both; the executables have the same name.
    Unverified,
}

/// Counts and bytes of one group (or holder) in both cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Allocations in OLD.
    pub old_count: u64,
    /// Allocations in NEW.
    pub new_count: u64,
    /// `new_count - old_count`.
    pub count_delta: i64,
    /// Their usable bytes in OLD.
    pub old_bytes: u64,
    /// In NEW.
    pub new_bytes: u64,
    /// `new_bytes - old_bytes`.
    pub bytes_delta: i64,
}

impl Change {
    pub(super) fn of(old: Tally, new: Tally) -> Change {
        Change {
            old_count: old.count,
            new_count: new.count,
            count_delta: delta(old.count, new.count),
            old_bytes: old.bytes,
            new_bytes: new.bytes,
            bytes_delta: delta(old.bytes, new.bytes),
        }
    }

    pub(super) fn is_change(&self) -> bool {
        self.count_delta != 0 || self.bytes_delta != 0
    }
}

/// `new - old` as a signed number, saturating.
pub(super) fn delta(old: u64, new: u64) -> i64 {
    if new >= old {
        i64::try_from(new - old).unwrap_or(i64::MAX)
    } else {
        i64::try_from(old - new).map_or(i64::MIN, |d| -d)
    }
}

/// One group of allocations in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The type's name (`unknown (N bytes)` for unrecognized allocations), or `N bytes`.
    pub key: String,
    /// With [`Grouping::Type`]: how the type was recognized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<TypeKind>,
    /// The usable size, for a group of one size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The counts and bytes.
    #[serde(flatten)]
    pub change: Change,
    /// An allocation of the group in NEW that OLD does not hold (any one when all are at
    /// addresses OLD holds too): for `heapmortem explain NEW ADDRESS`.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub example: Option<u64>,
    /// Through what the group's allocations are held, most growth first (changed rows
    /// only; at most [`MAX_HOLDERS`]).
    pub holders: Vec<HolderRow>,
    /// How many holders there are in all.
    pub holders_count: usize,
}

/// Holders listed per row at most.
pub const MAX_HOLDERS: usize = 8;

/// What a holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    /// A global or static variable (`module!symbol`).
    Static,
    /// A thread's stack frame.
    Stack,
    /// A thread's register.
    Register,
    /// Thread-local storage.
    Tls,
    /// Other root memory (an anonymous mapping).
    Other,
    /// An allocation the same in both cores (its group did not change).
    Allocation,
    /// Nothing: no root reaches the allocations (leaked).
    Unreached,
}

/// The allocations of one row held through one holder, in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderRow {
    /// The holder, without addresses: `objects!g_sessions`, `stack of main`, a type name.
    pub holder: String,
    /// What it is.
    pub kind: HolderKind,
    /// The counts and bytes of the row's allocations held through it.
    #[serde(flatten)]
    pub change: Change,
    /// In NEW: the root word's address, or the holding allocation's start.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub example: Option<u64>,
}

/// One arena's figures in both cores (matched by index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArenaChange {
    /// The arena's index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// In OLD (`null` when OLD has no such arena).
    pub old: Option<Figures>,
    /// In NEW.
    pub new: Option<Figures>,
    /// NEW less OLD (an absent side counts as zeros).
    pub delta: FiguresDelta,
}

/// The figures of an arena (or of all) that `diff` compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// From the system.
    pub system_bytes: u64,
    /// In use (by the allocator's account; glibc: chunk bytes with headers).
    pub in_use_bytes: u64,
    /// Free in the arena.
    pub free_bytes: u64,
    /// Of those, what could go back to the system now.
    pub trimmable_bytes: u64,
    /// Free but not returnable: trapped between allocations in use (`free_bytes` less
    /// `trimmable_bytes`).
    pub fragmented_bytes: u64,
    /// Dirty pages (jemalloc), absent for allocators without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_bytes: Option<u64>,
    /// Muzzy pages (jemalloc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muzzy_bytes: Option<u64>,
    /// Retained address space (jemalloc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<u64>,
    /// Of `in_use_bytes`, regions in thread caches (jemalloc's `tcache_bytes`): in use for
    /// the allocator, free for the program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_bytes: Option<u64>,
}

/// [`Figures`] NEW less OLD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FiguresDelta {
    /// From the system.
    pub system_bytes: i64,
    /// In use.
    pub in_use_bytes: i64,
    /// Free.
    pub free_bytes: i64,
    /// Trimmable.
    pub trimmable_bytes: i64,
    /// Fragmented.
    pub fragmented_bytes: i64,
    /// Dirty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_bytes: Option<i64>,
    /// Muzzy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muzzy_bytes: Option<i64>,
    /// Retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<i64>,
    /// In thread caches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_bytes: Option<i64>,
}

impl Figures {
    pub(super) fn of(a: &Arena<Holdings>) -> Figures {
        let f: &ArenaFigures = &a.figures;
        Figures {
            system_bytes: f.system_bytes,
            in_use_bytes: f.in_use_bytes,
            free_bytes: f.free_bytes,
            trimmable_bytes: f.trimmable_bytes,
            fragmented_bytes: f.free_bytes.saturating_sub(f.trimmable_bytes),
            dirty_bytes: a.detail.dirty_bytes,
            muzzy_bytes: a.detail.muzzy_bytes,
            retained_bytes: a.detail.retained_bytes,
            cached_bytes: a.detail.cached_bytes,
        }
    }

    pub(super) fn add(&mut self, o: &Figures) {
        let opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        self.system_bytes = self.system_bytes.saturating_add(o.system_bytes);
        self.in_use_bytes = self.in_use_bytes.saturating_add(o.in_use_bytes);
        self.free_bytes = self.free_bytes.saturating_add(o.free_bytes);
        self.trimmable_bytes = self.trimmable_bytes.saturating_add(o.trimmable_bytes);
        self.fragmented_bytes = self.fragmented_bytes.saturating_add(o.fragmented_bytes);
        self.dirty_bytes = opt(self.dirty_bytes, o.dirty_bytes);
        self.muzzy_bytes = opt(self.muzzy_bytes, o.muzzy_bytes);
        self.retained_bytes = opt(self.retained_bytes, o.retained_bytes);
        self.cached_bytes = opt(self.cached_bytes, o.cached_bytes);
    }

    pub(super) fn delta(old: Option<&Figures>, new: Option<&Figures>) -> FiguresDelta {
        let zero = Figures::default();
        let (o, n) = (old.unwrap_or(&zero), new.unwrap_or(&zero));
        let opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(delta(a.unwrap_or(0), b.unwrap_or(0))),
        };
        FiguresDelta {
            system_bytes: delta(o.system_bytes, n.system_bytes),
            in_use_bytes: delta(o.in_use_bytes, n.in_use_bytes),
            free_bytes: delta(o.free_bytes, n.free_bytes),
            trimmable_bytes: delta(o.trimmable_bytes, n.trimmable_bytes),
            fragmented_bytes: delta(o.fragmented_bytes, n.fragmented_bytes),
            dirty_bytes: opt(o.dirty_bytes, n.dirty_bytes),
            muzzy_bytes: opt(o.muzzy_bytes, n.muzzy_bytes),
            retained_bytes: opt(o.retained_bytes, n.retained_bytes),
            cached_bytes: opt(o.cached_bytes, n.cached_bytes),
        }
    }
}

/// The allocator's holdings, all arenas, in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllocatorChange {
    /// All arenas of OLD.
    pub old: Figures,
    /// All arenas of NEW.
    pub new: Figures,
    /// NEW less OLD.
    pub delta: FiguresDelta,
    /// Arena by arena.
    pub arenas: Vec<ArenaChange>,
}

/// The answer of `heapmortem diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// How the rows group allocations.
    pub by: Grouping,
    /// The older core.
    pub old: Program,
    /// The newer core.
    pub new: Program,
    /// Whether they are of one program.
    pub program_match: ProgramMatch,
    /// Every group in either core, largest growth (bytes, then count) first.
    pub rows: Vec<Row>,
    /// Every allocation the programs hold.
    pub totals: Change,
    /// The allocator's own holdings (`null` when the cores used different allocators).
    pub allocator: Option<AllocatorChange>,
    /// What the comparison concludes.
    pub findings: Vec<Finding>,
}

/// A count and its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) count: u64,
    pub(super) bytes: u64,
}

impl Tally {
    pub(super) fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}
