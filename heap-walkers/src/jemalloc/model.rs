//! What a jemalloc walk found: the heap, its arenas, bins and extents.
//!
//! Field names follow `malloc_stats_print`'s JSON ("J") output wherever jemalloc has a name
//! for the figure, so a reader can hold the two side by side.

use std::ops::AddAssign;

use serde::Serialize;

/// `AddAssign` for a stats struct whose every field adds up (over shards, arenas, classes),
/// modulo 2^64 as jemalloc's own `size_t` sums do (and a damaged core cannot overflow it).
macro_rules! add_up {
    ($ty:ident { $($field:ident),+ $(,)? }) => {
        impl AddAssign for $ty {
            fn add_assign(&mut self, o: $ty) {
                $(self.$field = self.$field.wrapping_add(o.$field);)+
            }
        }
    };
}

add_up!(DecayCounters {
    npurge,
    nmadvise,
    purged
});
add_up!(ClassTotals {
    allocated,
    nmalloc,
    ndalloc,
    nrequests,
    nfills,
    nflushes
});
add_up!(BinStats {
    nmalloc,
    ndalloc,
    curregs,
    nrequests,
    nfills,
    nflushes,
    nslabs,
    nreslabs,
    curslabs,
    nonfull_slabs,
});
add_up!(LextentStats {
    nmalloc,
    ndalloc,
    nrequests,
    curlextents
});
add_up!(ExtentStats {
    ndirty,
    nmuzzy,
    nretained,
    dirty_bytes,
    muzzy_bytes,
    retained_bytes
});

/// A jemalloc heap rebuilt from a core.
#[derive(Debug, Clone, Serialize)]
pub struct Heap {
    /// jemalloc's version string (`5.3.0-0-g54eaed1d…`), found in the binary's read-only
    /// data, when found.
    pub version: Option<String>,
    /// The prefix of jemalloc's internal symbols (`je_`, `_rjem_je_`, `__je_`, or empty).
    pub symbol_prefix: String,
    /// Where the struct layouts came from: DWARF or a built-in table.
    pub layout: String,
    /// Page size jemalloc was built for (`arenas.page`).
    pub page: u64,
    /// Small size classes (`arenas.bin`), in bin order.
    pub bin_classes: Vec<BinClass>,
    /// Large size classes (`arenas.lextent.<j>.size`), in order.
    pub lextent_sizes: Vec<u64>,
    /// Number of page-size classes (`extents` entries per arena).
    pub npsizes: usize,
    /// Arena slots in use (`arenas.narenas`): automatic arenas, the huge arena and any made
    /// with `arenas.create`. Unknown without jemalloc's symbols.
    pub narenas: Option<u32>,
    /// Automatic arenas (`opt.narenas` as resolved at start-up), when known.
    pub narenas_auto: Option<u32>,
    /// Run-time options read from the process (`opt.*`), where their symbols exist.
    pub opts: Opts,
    /// Every initialized arena, by index.
    pub arenas: Vec<Arena>,
    /// Every thread cache, with its thread where known.
    pub threads: Vec<super::ThreadCache>,
    /// Every allocation, free slab region and free extent, by address, when the walk was
    /// asked for them ([`super::Options::allocations`]); `arena` is jemalloc's arena index.
    #[serde(skip)]
    pub allocations: Option<crate::Allocations>,
    /// With the allocations: `[start, end)` of jemalloc's own metadata (the base blocks that
    /// hold the extent headers, `edata_t`). Its extent headers, live and recycled, hold
    /// extents' addresses, so a leak check must not take it for the program's memory.
    #[serde(skip)]
    pub metadata: Vec<(u64, u64)>,
    /// With the allocations: `(address, where its extent header keeps its prof_tctx_t
    /// pointer)` of every large allocation in use, by address: a sampled allocation's
    /// profiling record ([`super::allocation_sites`]).
    #[serde(skip)]
    pub large_tctx: Vec<(u64, u64)>,
    /// How the heap was found and what could not be known, where that is worth saying
    /// (no symbols, no version string); not a failure.
    pub notes: Vec<String>,
    /// Which figures this jemalloc version keeps (older versions lack some; the model
    /// holds 0 for those and the "J" rendering leaves their keys out, as jemalloc does).
    pub features: Features,
    /// What could not be read; empty when the walk was complete.
    pub problems: Vec<core_reader::Diagnostic>,
}

/// A small size class: the bin that serves it.
#[derive(Debug, Clone, Serialize)]
pub struct BinClass {
    /// Region size in bytes.
    pub size: u64,
    /// Regions per slab.
    pub nregs: u32,
    /// Slab size in bytes.
    pub slab_size: u64,
    /// Bin shards per arena.
    pub nshards: u32,
}

/// The figures a jemalloc version keeps beyond the ones every 5.x has.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Features {
    /// `small.nfills`, `small.nflushes`, `large.nfills`, `large.nflushes` (5.2+).
    pub fills_flushes: bool,
    /// Per-bin `nonfull_slabs` and bin shards, `arenas.bin.<i>.nshards` (5.2+).
    pub nonfull_and_shards: bool,
    /// Free extents per page-size class (`extents`), `abandoned_vm`, `extent_avail`
    /// (5.2+).
    pub extents: bool,
    /// `tcache_stashed_bytes` (5.3+).
    pub tcache_stashed: bool,
    /// Whether "merged" adds up `large.nflushes` (5.3+; 5.2.1's `ctl_arena_stats_sdmerge`
    /// leaves it 0).
    pub merged_large_nflushes: bool,
}

impl Features {
    /// Everything jemalloc 5.3 keeps.
    pub const V5_3: Features = Features {
        fills_flushes: true,
        nonfull_and_shards: true,
        extents: true,
        tcache_stashed: true,
        merged_large_nflushes: true,
    };
}

/// `opt.*` values, each present when its symbol was found and readable.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Opts {
    /// `opt.dirty_decay_ms`.
    pub dirty_decay_ms: Option<i64>,
    /// `opt.muzzy_decay_ms`.
    pub muzzy_decay_ms: Option<i64>,
    /// `opt.narenas` (0 until jemalloc resolved it).
    pub narenas: Option<u32>,
    /// `opt.retain`.
    pub retain: Option<bool>,
    /// `opt.background_thread`.
    pub background_thread: Option<bool>,
    /// `opt.tcache`.
    pub tcache: Option<bool>,
}

/// Purging counters of one decay (dirty or muzzy).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DecayCounters {
    /// Purge sweeps (`dirty_npurge` / `muzzy_npurge`).
    pub npurge: u64,
    /// madvise() calls (`*_nmadvise`).
    pub nmadvise: u64,
    /// Pages purged (`*_purged`).
    pub purged: u64,
}

/// Allocation totals of the small or the large classes of an arena.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ClassTotals {
    /// Bytes in live allocations (regions held by thread caches count as allocated).
    pub allocated: u64,
    /// Allocations served by the arena.
    pub nmalloc: u64,
    /// Deallocations returned to the arena.
    pub ndalloc: u64,
    /// Allocation requests, including those thread caches served.
    pub nrequests: u64,
    /// Thread-cache fills.
    pub nfills: u64,
    /// Thread-cache flushes.
    pub nflushes: u64,
}

/// One bin of an arena (all its shards added up).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BinStats {
    /// Regions allocated from slabs.
    pub nmalloc: u64,
    /// Regions returned to slabs.
    pub ndalloc: u64,
    /// Live regions (including those in thread caches).
    pub curregs: u64,
    /// Requests, including those thread caches served.
    pub nrequests: u64,
    /// Thread-cache fills.
    pub nfills: u64,
    /// Thread-cache flushes.
    pub nflushes: u64,
    /// Slabs ever created.
    pub nslabs: u64,
    /// Times the current slab was replaced.
    pub nreslabs: u64,
    /// Slabs now held.
    pub curslabs: u64,
    /// Slabs with free regions.
    pub nonfull_slabs: u64,
}

/// One large size class of an arena.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LextentStats {
    /// Extents allocated.
    pub nmalloc: u64,
    /// Extents freed.
    pub ndalloc: u64,
    /// Requests, including those thread caches served.
    pub nrequests: u64,
    /// Live extents.
    pub curlextents: u64,
}

/// Free extents of one page-size class, by state.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ExtentStats {
    /// Dirty extents (freed, still resident).
    pub ndirty: u64,
    /// Muzzy extents (madvise(MADV_FREE)d).
    pub nmuzzy: u64,
    /// Retained extents (address space kept, not backed).
    pub nretained: u64,
    /// Bytes in dirty extents.
    pub dirty_bytes: u64,
    /// Bytes in muzzy extents.
    pub muzzy_bytes: u64,
    /// Bytes in retained extents.
    pub retained_bytes: u64,
}

/// One arena, with the figures `malloc_stats_print` shows for `stats.arenas.<i>`.
#[derive(Debug, Clone, Serialize)]
pub struct Arena {
    /// The arena's index (`<i>`).
    pub index: u32,
    /// Where its `arena_t` is.
    pub address: u64,
    /// Threads bound to it for application allocations.
    pub nthreads: u32,
    /// dss precedence: `disabled`, `primary`, `secondary`.
    pub dss: String,
    /// Dirty pages decay time; -1 never purges.
    pub dirty_decay_ms: i64,
    /// Muzzy pages decay time; -1 never purges.
    pub muzzy_decay_ms: i64,
    /// Pages in active extents.
    pub pactive: u64,
    /// Dirty pages: freed, still resident, waiting for decay.
    pub pdirty: u64,
    /// Muzzy pages: purged lazily (MADV_FREE), may still count as resident.
    pub pmuzzy: u64,
    /// Dirty decay's purge counters.
    pub dirty: DecayCounters,
    /// Muzzy decay's purge counters.
    pub muzzy: DecayCounters,
    /// Bytes mapped: the arena's extents and its metadata (base).
    pub mapped: u64,
    /// Bytes of virtual memory kept for reuse but not backed (`opt.retain`).
    pub retained: u64,
    /// Metadata bytes allocated from the base allocator.
    pub base: u64,
    /// Internal allocations (jemalloc's own, from the arena).
    pub internal: u64,
    /// Base pages backed by transparent huge pages.
    pub metadata_thp: u64,
    /// Resident bytes: active and dirty pages plus resident metadata.
    pub resident: u64,
    /// Virtual memory leaked by failed extent operations (normally 0).
    pub abandoned_vm: u64,
    /// Extent structures cached for reuse.
    pub extent_avail: u64,
    /// Bytes of small and large regions sitting in thread caches bound to this arena;
    /// unknown when one of its caches could not be read.
    pub tcache_bytes: Option<u64>,
    /// Bytes stashed by thread caches for use-after-free checks; unknown when the
    /// thread-cache bin table (`tcache_bin_info`) was not found.
    pub tcache_stashed_bytes: Option<u64>,
    /// Small classes together.
    pub small: ClassTotals,
    /// Large classes together.
    pub large: ClassTotals,
    /// Per small size class.
    pub bins: Vec<BinStats>,
    /// Per large size class.
    pub lextents: Vec<LextentStats>,
    /// Free extents per page-size class.
    pub extents: Vec<ExtentStats>,
    /// Thread caches bound to this arena.
    pub tcaches: usize,
    /// Nanoseconds (CLOCK_MONOTONIC) from the arena's creation to the start of the dirty
    /// decay's current epoch. The epoch starts just before `create_time` is taken and only
    /// ever moves by whole decay intervals (`dirty_decay_ms` / 200), so a value below half
    /// an interval (usually slightly negative) means dirty decay has never advanced.
    pub dirty_decay_epoch_age_ns: Option<i64>,
}

impl Arena {
    /// Dirty bytes.
    pub fn dirty_bytes(&self, page: u64) -> u64 {
        self.pdirty.saturating_mul(page)
    }

    /// Regions and large extents in use.
    pub fn in_use_count(&self) -> u64 {
        let regions = self.bins.iter().map(|b| b.curregs);
        let large = self.lextents.iter().map(|l| l.curlextents);
        regions.chain(large).fold(0, u64::saturating_add)
    }
}
