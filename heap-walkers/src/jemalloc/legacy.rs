//! jemalloc 5.1 and 5.2: arenas before the page allocator (`pa_shard_t`) of 5.3.
//!
//! FreeBSD 12's libc has jemalloc 5.1.0 and FreeBSD 13's 5.2.1; older Rust crates bundle
//! them (`jemalloc-sys` 0.3.2: 5.1.0; `tikv-jemalloc-sys` 0.4.x: 5.2.1). The arena keeps its
//! extent caches (`extents_t`), decay state (`arena_decay_t`) and bins itself, and its
//! statistics are computed as 5.1.0 / 5.2.1 `src/arena.c` `arena_stats_merge` computes
//! them. These versions also hold the BIND 9 bug: a thread whose first allocator call is
//! `free()` keeps `arenas_tdata_bypass` set forever (5.1.0 src/tsd.c
//! `tsd_data_init_nocleanup`, which `tsd_data_init` does not undo), so its decay ticker is
//! never created (src/jemalloc.c `arena_tdata_get_hard`) and its (de)allocations never
//! trigger decay.

use core_reader::Memory;

use super::discover::Globals;
use super::layout::{BinInfoOffsets, MissingMember, OffsetSource, Resolver};
use super::model::{
    Arena, BinStats, ClassTotals, DecayCounters, ExtentStats, Features, LextentStats,
};
use super::threads::Ticker;
use super::walk53::{read_size_classes, read_u8, SizeClasses};

/// jemalloc 5.2.1 on Linux x86_64, `config_stats` on, `config_debug` off, as built by
/// `tikv-jemalloc-sys` 0.4.x (`--with-private-namespace=_rjem_`, no prof). (FreeBSD 13's
/// libc differs: its `pthread_mutex_t` is a pointer.) Declarations in jemalloc 5.2.1 `include/jemalloc/internal/`:
/// `arena_s` (arena_structs_b.h), `arena_stats_s`, `arena_stats_large_s`,
/// `arena_stats_decay_s` (arena_stats.h), `extents_s`, `arena_decay_s`
/// (arena_structs_b.h), `bins_s`, `bin_s` (bin.h), `bin_stats_s` (bin_stats.h),
/// `bin_info_s` (bin_types.h / bin.h), `base_s` (base_structs.h), `cache_bin_s`,
/// `cache_bin_array_descriptor_s` (cache_bin.h), `tcache_s` (tcache_structs.h), `tsd_s`
/// (tsd.h; members prefixed `cant_access_tsd_items_directly_use_a_getter_or_setter_`);
/// `malloc_mutex_t` is 112 bytes.
pub const JEMALLOC_5_2_1_X86_64: super::layout::BuiltIn = super::layout::BuiltIn::new(
    "5.2.1",
    "Linux x86_64, stats, no debug",
    &[
        ("arena_s", "nthreads", 0),
        ("arena_s", "stats", 24),
        ("arena_s", "cache_bin_array_descriptor_ql", 10192),
        ("arena_s", "dss_prec", 10336),
        ("arena_s", "nactive", 10344),
        ("arena_s", "extents_dirty", 10472),
        ("arena_s", "extents_muzzy", 15440),
        ("arena_s", "extents_retained", 20408),
        ("arena_s", "decay_dirty", 25376),
        ("arena_s", "decay_muzzy", 27160),
        ("arena_s", "extent_avail_cnt", 29072),
        ("arena_s", "bins", 29192),
        ("arena_s", "base", 29480),
        ("arena_s", "create_time", 29488),
        ("arena_stats_s", "mapped", 0),
        ("arena_stats_s", "decay_dirty", 24),
        ("arena_stats_s", "decay_muzzy", 48),
        ("arena_stats_s", "internal", 80),
        ("arena_stats_s", "abandoned_vm", 152),
        ("arena_stats_s", "lstats", 744),
        ("arena_stats_large_s", "nmalloc", 0),
        ("arena_stats_large_s", "ndalloc", 8),
        ("arena_stats_large_s", "nrequests", 16),
        ("arena_stats_large_s", "nflushes", 32),
        ("arena_stats_decay_s", "npurge", 0),
        ("arena_stats_decay_s", "nmadvise", 8),
        ("arena_stats_decay_s", "purged", 16),
        ("extents_s", "nextents", 1712),
        ("extents_s", "nbytes", 3312),
        ("extents_s", "npages", 4952),
        ("extents_s", "state", 4960),
        ("arena_decay_s", "time_ms", 120),
        ("arena_decay_s", "epoch", 136),
        ("arena_decay_s", "stats", 1768),
        ("bins_s", "bin_shards", 0),
        ("bin_s", "stats", 136),
        ("bin_stats_s", "nmalloc", 0),
        ("bin_stats_s", "ndalloc", 8),
        ("bin_stats_s", "nrequests", 16),
        ("bin_stats_s", "curregs", 24),
        ("bin_stats_s", "nfills", 32),
        ("bin_stats_s", "nflushes", 40),
        ("bin_stats_s", "nslabs", 48),
        ("bin_stats_s", "reslabs", 56),
        ("bin_stats_s", "curslabs", 64),
        ("bin_stats_s", "nonfull_slabs", 72),
        ("bin_info_s", "reg_size", 0),
        ("bin_info_s", "slab_size", 8),
        ("bin_info_s", "nregs", 16),
        ("bin_info_s", "n_shards", 20),
        ("base_s", "ind", 0),
        ("base_s", "allocated", 2008),
        ("base_s", "resident", 2016),
        ("base_s", "mapped", 2024),
        ("base_s", "n_thp", 2032),
        ("cache_bin_s", "ncached", 4),
        ("cache_bin_array_descriptor_s", "link", 0),
        ("cache_bin_array_descriptor_s", "bins_small", 16),
        ("cache_bin_array_descriptor_s", "bins_large", 24),
        ("tcache_s", "cache_bin_array_descriptor", 920),
        ("tcache_s", "arena", 952),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_arenas_tdata_bypass",
            2,
        ),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_narenas_tdata",
            4,
        ),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_allocated",
            16,
        ),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_deallocated",
            24,
        ),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_arenas_tdata",
            448,
        ),
        (
            "tsd_s",
            "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache",
            496,
        ),
    ],
    &[
        ("arena_stats_large_s", 48),
        ("bins_s", 8),
        ("bin_s", 280),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
    ],
);

/// jemalloc 5.1.0 on Linux x86_64, `config_stats` on, `config_debug` off, as built by
/// `jemalloc-sys` 0.3.2. Same headers as 5.2.1 with
/// these differences: no bin shards (`bin_t bins[NBINS]` inline in `arena_s`), no
/// per-size extent counts in `extents_s`, no `abandoned_vm`, `extent_avail_cnt`,
/// `nfills`/`nflushes` of large classes or `nonfull_slabs`; `malloc_mutex_t` is 104 bytes;
/// `tsd_s` members are prefixed `use_a_getter_or_setter_instead_`.
pub const JEMALLOC_5_1_0_X86_64: super::layout::BuiltIn = super::layout::BuiltIn::new(
    "5.1.0",
    "Linux x86_64, stats, no debug",
    &[
        ("arena_s", "nthreads", 0),
        ("arena_s", "stats", 16),
        ("arena_s", "cache_bin_array_descriptor_ql", 7016),
        ("arena_s", "dss_prec", 7160),
        ("arena_s", "nactive", 7168),
        ("arena_s", "extents_dirty", 7288),
        ("arena_s", "extents_muzzy", 9048),
        ("arena_s", "extents_retained", 10808),
        ("arena_s", "decay_dirty", 12568),
        ("arena_s", "decay_muzzy", 14344),
        ("arena_s", "bins", 16344),
        ("arena_s", "base", 25848),
        ("arena_s", "create_time", 25856),
        ("arena_stats_s", "mapped", 0),
        ("arena_stats_s", "decay_dirty", 16),
        ("arena_stats_s", "decay_muzzy", 40),
        ("arena_stats_s", "internal", 72),
        ("arena_stats_s", "lstats", 712),
        ("arena_stats_large_s", "nmalloc", 0),
        ("arena_stats_large_s", "ndalloc", 8),
        ("arena_stats_large_s", "nrequests", 16),
        ("arena_stats_decay_s", "npurge", 0),
        ("arena_stats_decay_s", "nmadvise", 8),
        ("arena_stats_decay_s", "purged", 16),
        ("extents_s", "npages", 1744),
        ("extents_s", "state", 1752),
        ("arena_decay_s", "time_ms", 112),
        ("arena_decay_s", "epoch", 128),
        ("arena_decay_s", "stats", 1760),
        ("bin_s", "stats", 128),
        ("bin_stats_s", "nmalloc", 0),
        ("bin_stats_s", "ndalloc", 8),
        ("bin_stats_s", "nrequests", 16),
        ("bin_stats_s", "curregs", 24),
        ("bin_stats_s", "nfills", 32),
        ("bin_stats_s", "nflushes", 40),
        ("bin_stats_s", "nslabs", 48),
        ("bin_stats_s", "reslabs", 56),
        ("bin_stats_s", "curslabs", 64),
        ("bin_info_s", "reg_size", 0),
        ("bin_info_s", "slab_size", 8),
        ("bin_info_s", "nregs", 16),
        ("base_s", "ind", 0),
        ("base_s", "allocated", 2000),
        ("base_s", "resident", 2008),
        ("base_s", "mapped", 2016),
        ("base_s", "n_thp", 2024),
        ("cache_bin_s", "ncached", 4),
        ("cache_bin_array_descriptor_s", "link", 0),
        ("cache_bin_array_descriptor_s", "bins_small", 16),
        ("cache_bin_array_descriptor_s", "bins_large", 24),
        ("tcache_s", "cache_bin_array_descriptor", 896),
        ("tcache_s", "arena", 928),
        (
            "tsd_s",
            "use_a_getter_or_setter_instead_arenas_tdata_bypass",
            2,
        ),
        ("tsd_s", "use_a_getter_or_setter_instead_narenas_tdata", 4),
        (
            "tsd_s",
            "use_a_getter_or_setter_instead_thread_allocated",
            16,
        ),
        (
            "tsd_s",
            "use_a_getter_or_setter_instead_thread_deallocated",
            24,
        ),
        ("tsd_s", "use_a_getter_or_setter_instead_arenas_tdata", 440),
        ("tsd_s", "use_a_getter_or_setter_instead_tcache", 448),
    ],
    &[
        ("arena_stats_large_s", 32),
        ("bin_s", 264),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
    ],
);

/// `extent_state_t` (extent_structs.h, 5.1/5.2).
const STATE_DIRTY: u32 = 1;
const STATE_MUZZY: u32 = 2;
const STATE_RETAINED: u32 = 3;
const DSS_NAMES: [&str; 3] = ["disabled", "primary", "secondary"];
const MAX_TCACHES: usize = 1 << 16;

/// The offsets a 5.1/5.2 walk reads.
#[derive(Debug, Clone)]
pub(crate) struct Layout52 {
    pub source: String,
    /// 5.2 (shards, per-size extent counts, fills/flushes of large classes).
    pub v52: bool,
    a_nthreads: u64,
    a_descriptor_ql: u64,
    a_dss_prec: u64,
    a_nactive: u64,
    a_extents: [u64; 3],
    a_decay: [u64; 2],
    a_extent_avail: Option<u64>,
    a_bins: u64,
    a_base: u64,
    a_create_time: u64,
    s_mapped: u64,
    s_decay: [u64; 2],
    s_internal: u64,
    s_abandoned_vm: Option<u64>,
    s_lstats: u64,
    l_size: u64,
    l_nmalloc: u64,
    l_ndalloc: u64,
    l_nrequests: u64,
    l_nflushes: Option<u64>,
    d_npurge: u64,
    d_nmadvise: u64,
    d_purged: u64,
    e_npages: u64,
    e_state: u64,
    e_nextents: Option<u64>,
    e_nbytes: Option<u64>,
    decay_time_ms: u64,
    decay_epoch: u64,
    decay_stats: u64,
    /// `bins_t` (5.2: a pointer to the shards) or `None` (5.1: `bin_t` inline).
    bins_ptr: Option<(u64, u64)>,
    bin_size: u64,
    bin_stats: u64,
    bs: [u64; 9],
    bs_nonfull: Option<u64>,
    pub bin_info: BinInfoOffsets,
    base_ind: u64,
    base_allocated: u64,
    base_resident: u64,
    base_mapped: u64,
    base_n_thp: u64,
    cb_ncached: u64,
    cb_size: u64,
    desc_next: u64,
    desc_small: u64,
    desc_large: u64,
    tcache_descriptor: u64,
    tsd: Option<TsdLegacy>,
}

#[derive(Debug, Clone)]
struct TsdLegacy {
    bypass: u64,
    narenas_tdata: u64,
    allocated: u64,
    deallocated: u64,
    arenas_tdata: u64,
    tcache: u64,
}

impl Layout52 {
    /// Resolves every offset; `Err` names the first member missing.
    pub fn resolve(src: &dyn OffsetSource) -> Result<Layout52, MissingMember> {
        let r = Resolver { src };
        let p = |s: &str, m: &str| r.path(&[(s, m)]);
        let opt = |s: &str, m: &str| r.path(&[(s, m)]).ok();
        let stats = p("arena_s", "stats")?;
        let v52 = opt("bins_s", "bin_shards").is_some();
        let tsd_prefix = if v52 {
            "cant_access_tsd_items_directly_use_a_getter_or_setter_"
        } else {
            "use_a_getter_or_setter_instead_"
        };
        let t = |m: &str| r.path(&[("tsd_s", &format!("{tsd_prefix}{m}"))]);
        let tsd = (|| {
            Ok::<_, MissingMember>(TsdLegacy {
                bypass: t("arenas_tdata_bypass")?,
                narenas_tdata: t("narenas_tdata")?,
                allocated: t("thread_allocated")?,
                deallocated: t("thread_deallocated")?,
                arenas_tdata: t("arenas_tdata")?,
                tcache: t("tcache")?,
            })
        })()
        .ok();
        let bs = |m: &str| p("bin_stats_s", m);
        Ok(Layout52 {
            source: src.describe(),
            v52,
            a_nthreads: p("arena_s", "nthreads")?,
            a_descriptor_ql: p("arena_s", "cache_bin_array_descriptor_ql")?,
            a_dss_prec: p("arena_s", "dss_prec")?,
            a_nactive: p("arena_s", "nactive")?,
            a_extents: [
                p("arena_s", "extents_dirty")?,
                p("arena_s", "extents_muzzy")?,
                p("arena_s", "extents_retained")?,
            ],
            a_decay: [p("arena_s", "decay_dirty")?, p("arena_s", "decay_muzzy")?],
            a_extent_avail: opt("arena_s", "extent_avail_cnt"),
            a_bins: p("arena_s", "bins")?,
            a_base: p("arena_s", "base")?,
            a_create_time: p("arena_s", "create_time")?,
            s_mapped: stats + p("arena_stats_s", "mapped")?,
            s_decay: [
                stats + p("arena_stats_s", "decay_dirty")?,
                stats + p("arena_stats_s", "decay_muzzy")?,
            ],
            s_internal: stats + p("arena_stats_s", "internal")?,
            s_abandoned_vm: opt("arena_stats_s", "abandoned_vm").map(|o| stats + o),
            s_lstats: stats + p("arena_stats_s", "lstats")?,
            l_size: r.size("arena_stats_large_s")?,
            l_nmalloc: p("arena_stats_large_s", "nmalloc")?,
            l_ndalloc: p("arena_stats_large_s", "ndalloc")?,
            l_nrequests: p("arena_stats_large_s", "nrequests")?,
            l_nflushes: opt("arena_stats_large_s", "nflushes"),
            d_npurge: p("arena_stats_decay_s", "npurge")?,
            d_nmadvise: p("arena_stats_decay_s", "nmadvise")?,
            d_purged: p("arena_stats_decay_s", "purged")?,
            e_npages: p("extents_s", "npages")?,
            e_state: p("extents_s", "state")?,
            e_nextents: opt("extents_s", "nextents"),
            e_nbytes: opt("extents_s", "nbytes"),
            decay_time_ms: p("arena_decay_s", "time_ms")?,
            decay_epoch: p("arena_decay_s", "epoch")?,
            decay_stats: p("arena_decay_s", "stats")?,
            bins_ptr: if v52 {
                Some((p("bins_s", "bin_shards")?, r.size("bins_s")?))
            } else {
                None
            },
            bin_size: r.size("bin_s")?,
            bin_stats: p("bin_s", "stats")?,
            bs: [
                bs("nmalloc")?,
                bs("ndalloc")?,
                bs("nrequests")?,
                bs("curregs")?,
                bs("nfills")?,
                bs("nflushes")?,
                bs("nslabs")?,
                bs("reslabs")?,
                bs("curslabs")?,
            ],
            bs_nonfull: opt("bin_stats_s", "nonfull_slabs"),
            bin_info: BinInfoOffsets {
                size: r.size("bin_info_s")?,
                reg_size: p("bin_info_s", "reg_size")?,
                slab_size: p("bin_info_s", "slab_size")?,
                nregs: p("bin_info_s", "nregs")?,
                n_shards: opt("bin_info_s", "n_shards"),
            },
            base_ind: p("base_s", "ind")?,
            base_allocated: p("base_s", "allocated")?,
            base_resident: p("base_s", "resident")?,
            base_mapped: p("base_s", "mapped")?,
            base_n_thp: p("base_s", "n_thp")?,
            cb_ncached: p("cache_bin_s", "ncached")?,
            cb_size: r.size("cache_bin_s")?,
            desc_next: p("cache_bin_array_descriptor_s", "link")?,
            desc_small: p("cache_bin_array_descriptor_s", "bins_small")?,
            desc_large: p("cache_bin_array_descriptor_s", "bins_large")?,
            tcache_descriptor: p("tcache_s", "cache_bin_array_descriptor")?,
            tsd,
        })
    }

    /// What the version keeps.
    pub fn features(&self) -> Features {
        Features {
            fills_flushes: self.v52,
            nonfull_and_shards: self.v52,
            extents: self.v52,
            tcache_stashed: false,
            merged_large_nflushes: false,
        }
    }
}

/// Size classes and thread-cache bins of a 5.1/5.2 heap.
pub(crate) struct Classes52 {
    pub sizes: SizeClasses,
    pub nhbins: usize,
}

pub(crate) fn read_classes(
    mem: &dyn Memory,
    g: &Globals,
    l: &Layout52,
) -> Result<Classes52, String> {
    let sizes = read_size_classes(mem, g, &l.bin_info)?;
    let nhbins = g
        .nhbins
        .and_then(|a| mem.read_u32(a))
        .map_or(sizes.bins.len(), |n| n as usize)
        .min(sizes.index2size.len());
    Ok(Classes52 { sizes, nhbins })
}

/// A thread cache seen from an arena, with what its thread's state says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcacheSeen {
    pub tsd: Option<u64>,
    /// Bytes cached, counted per class correctly.
    pub bytes: u64,
    pub regions: u64,
    pub allocated: Option<u64>,
    pub deallocated: Option<u64>,
    /// The thread's decay ticker.
    pub ticker: Option<Ticker>,
}

/// Self-checks: the arena's index in its base, its extent caches' states, and its decay
/// states pointing at its own stats.
pub(crate) fn check_arena(
    mem: &dyn Memory,
    l: &Layout52,
    index: u32,
    a: u64,
) -> Result<(), String> {
    let base = mem
        .read_u64(a + l.a_base)
        .ok_or_else(|| format!("arena {index}: arena_t at {a:#x} unreadable (not in the core?)"))?;
    let ind = mem.read_u32(base + l.base_ind);
    let states: Vec<Option<u32>> = l
        .a_extents
        .iter()
        .map(|e| mem.read_u32(a + e + l.e_state))
        .collect();
    let decay_stats: Vec<Option<u64>> = l
        .a_decay
        .iter()
        .map(|d| mem.read_u64(a + d + l.decay_stats))
        .collect();
    let ok = ind == Some(index)
        && states == [Some(STATE_DIRTY), Some(STATE_MUZZY), Some(STATE_RETAINED)]
        && decay_stats == [Some(a + l.s_decay[0]), Some(a + l.s_decay[1])];
    if ok {
        Ok(())
    } else {
        Err(format!(
            "arena {index} at {a:#x} does not fit the layout ({}): base says index {ind:?}, \
             extent caches say states {states:?}",
            l.source
        ))
    }
}

/// Reads one arena as 5.1.0 / 5.2.1 `arena_stats_merge` and `ctl_arena_stats_amerge`
/// compute it.
pub(crate) fn read_arena(
    mem: &dyn Memory,
    l: &Layout52,
    c: &Classes52,
    index: u32,
    a: u64,
    problems: &mut Vec<String>,
) -> Result<(Arena, Vec<TcacheSeen>), String> {
    check_arena(mem, l, index, a)?;
    let mut missing: Vec<&'static str> = Vec::new();
    let mut u = |what: &'static str, at: u64| {
        mem.read_u64(at).unwrap_or_else(|| {
            missing.push(what);
            0
        })
    };
    let page = c.sizes.page;
    let nthreads = mem.read_u32(a + l.a_nthreads).unwrap_or(0);
    let dss = mem
        .read_u32(a + l.a_dss_prec)
        .and_then(|d| DSS_NAMES.get(d as usize).copied())
        .unwrap_or("N/A")
        .to_string();
    let dirty_decay_ms = u("decay", a + l.a_decay[0] + l.decay_time_ms) as i64;
    let muzzy_decay_ms = u("decay", a + l.a_decay[1] + l.decay_time_ms) as i64;
    let pactive = u("nactive", a + l.a_nactive);
    let pdirty = u("extents", a + l.a_extents[0] + l.e_npages);
    let pmuzzy = u("extents", a + l.a_extents[1] + l.e_npages);
    let pretained = u("extents", a + l.a_extents[2] + l.e_npages);
    let mut counters = |i: usize| DecayCounters {
        npurge: u("decay stats", a + l.s_decay[i] + l.d_npurge),
        nmadvise: u("decay stats", a + l.s_decay[i] + l.d_nmadvise),
        purged: u("decay stats", a + l.s_decay[i] + l.d_purged),
    };
    let dirty = counters(0);
    let muzzy = counters(1);
    let base_ptr = u("base", a + l.a_base);
    let base_allocated = u("base", base_ptr + l.base_allocated);
    let base_resident = u("base", base_ptr + l.base_resident);
    let base_mapped = u("base", base_ptr + l.base_mapped);
    let base_thp = u("base", base_ptr + l.base_n_thp);
    let mapped = base_mapped + u("mapped", a + l.s_mapped);
    let internal = u("internal", a + l.s_internal);
    let abandoned_vm = l.s_abandoned_vm.map_or(0, |o| u("abandoned_vm", a + o));
    let extent_avail = l.a_extent_avail.map_or(0, |o| u("extent_avail", a + o));

    let nbins = c.sizes.bins.len();
    let mut lextents = Vec::new();
    let mut large = ClassTotals::default();
    for (j, &size) in c.sizes.index2size[nbins..].iter().enumerate() {
        let at = a + l.s_lstats + j as u64 * l.l_size;
        let nmalloc = u("lstats", at + l.l_nmalloc);
        let ndalloc = u("lstats", at + l.l_ndalloc);
        let nrequests = u("lstats", at + l.l_nrequests);
        let nflushes = l.l_nflushes.map_or(0, |o| u("lstats", at + o));
        let cur = nmalloc.saturating_sub(ndalloc);
        large.nmalloc += nmalloc;
        large.ndalloc += ndalloc;
        large.nrequests += nmalloc + nrequests;
        large.nfills += nmalloc;
        large.nflushes += nflushes;
        large.allocated += cur.saturating_mul(size);
        lextents.push(LextentStats {
            nmalloc,
            ndalloc,
            nrequests: nmalloc + nrequests,
            curlextents: cur,
        });
    }

    let mut bins = Vec::with_capacity(nbins);
    let mut small = ClassTotals::default();
    for (i, class) in c.sizes.bins.iter().enumerate() {
        let shards: Vec<u64> = match l.bins_ptr {
            Some((ptr_off, bins_t_size)) => {
                let first = u("bins", a + l.a_bins + i as u64 * bins_t_size + ptr_off);
                (0..u64::from(class.nshards))
                    .map(|s| first + s * l.bin_size)
                    .collect()
            }
            None => vec![a + l.a_bins + i as u64 * l.bin_size],
        };
        let mut s = BinStats::default();
        for b in shards {
            let st = b + l.bin_stats;
            s.nmalloc += u("bin", st + l.bs[0]);
            s.ndalloc += u("bin", st + l.bs[1]);
            s.nrequests += u("bin", st + l.bs[2]);
            s.curregs += u("bin", st + l.bs[3]);
            s.nfills += u("bin", st + l.bs[4]);
            s.nflushes += u("bin", st + l.bs[5]);
            s.nslabs += u("bin", st + l.bs[6]);
            s.nreslabs += u("bin", st + l.bs[7]);
            s.curslabs += u("bin", st + l.bs[8]);
            s.nonfull_slabs += l.bs_nonfull.map_or(0, |o| u("bin", st + o));
        }
        small.allocated += s.curregs.saturating_mul(class.size);
        small.nmalloc += s.nmalloc;
        small.ndalloc += s.ndalloc;
        small.nrequests += s.nrequests;
        small.nfills += s.nfills;
        small.nflushes += s.nflushes;
        bins.push(s);
    }

    let mut extents = Vec::new();
    if let (Some(ne), Some(nb)) = (l.e_nextents, l.e_nbytes) {
        for p in 0..c.sizes.npsizes as u64 {
            let mut get = |e: usize, o: u64| u("extents", a + l.a_extents[e] + o + 8 * p);
            extents.push(ExtentStats {
                ndirty: get(0, ne),
                nmuzzy: get(1, ne),
                nretained: get(2, ne),
                dirty_bytes: get(0, nb),
                muzzy_bytes: get(1, nb),
                retained_bytes: get(2, nb),
            });
        }
    }

    let create_time = mem.read_u64(a + l.a_create_time);
    let epoch = mem.read_u64(a + l.a_decay[0] + l.decay_epoch);
    let (tcache_bytes, caches) = read_tcaches(mem, l, c, a, index, problems);

    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        problems.push(format!(
            "arena {index} at {a:#x}: unreadable, counted as 0: {}",
            missing.join(", ")
        ));
    }
    let arena = Arena {
        index,
        address: a,
        nthreads,
        dss,
        dirty_decay_ms,
        muzzy_decay_ms,
        pactive,
        pdirty,
        pmuzzy,
        dirty,
        muzzy,
        mapped,
        retained: pretained.saturating_mul(page),
        base: base_allocated,
        internal,
        metadata_thp: base_thp,
        // 5.1/5.2 count muzzy pages as resident (5.3 does not).
        resident: base_resident + (pactive + pdirty + pmuzzy).saturating_mul(page),
        abandoned_vm,
        extent_avail,
        tcache_bytes,
        tcache_stashed_bytes: None,
        small,
        large,
        bins,
        lextents,
        extents,
        tcaches: caches.len(),
        dirty_decay_epoch_age_ns: match (create_time, epoch) {
            (Some(c), Some(e)) => Some(e.wrapping_sub(c) as i64),
            _ => None,
        },
    };
    Ok((arena, caches))
}

/// The thread caches on the arena's descriptor ring. Returns jemalloc's own
/// `tcache_bytes` and each cache as it really is.
///
/// Folklore: jemalloc 5.1.0 and 5.2.1 `arena_stats_merge` count the large bins of each
/// cache as `descriptor->bins_large[i]` for `i` from `NBINS` to `nhbins`, but `bins_large`
/// starts at class `NBINS` (tcache.c `tcache_large_bin_get` subtracts it), so the figure
/// jemalloc prints reads the bins of classes 36 to 72 too far and misses the large classes
/// actually cached (fixed in 5.3 with the unified `bins` array). The arena's
/// `tcache_bytes` repeats that computation, to equal `malloc_stats_print`; each cache's
/// own bytes, used by the thread view and the findings, are counted correctly.
fn read_tcaches(
    mem: &dyn Memory,
    l: &Layout52,
    c: &Classes52,
    a: u64,
    index: u32,
    problems: &mut Vec<String>,
) -> (u64, Vec<TcacheSeen>) {
    let nbins = c.sizes.bins.len();
    let mut as_jemalloc = 0u64;
    let mut out = Vec::new();
    let Some(first) = mem.read_u64(a + l.a_descriptor_ql) else {
        problems.push(format!("arena {index}: thread-cache list unreadable"));
        return (0, out);
    };
    let ncached = |bin: u64| mem.read_u32(bin + l.cb_ncached).map_or(0, u64::from);
    let mut d = first;
    while d != 0 && out.len() < MAX_TCACHES {
        let (Some(small), Some(large)) = (
            mem.read_u64(d + l.desc_small),
            mem.read_u64(d + l.desc_large),
        ) else {
            problems.push(format!("arena {index}: thread cache at {d:#x} unreadable"));
            break;
        };
        let mut seen = TcacheSeen {
            tsd: None,
            bytes: 0,
            regions: 0,
            allocated: None,
            deallocated: None,
            ticker: None,
        };
        for i in 0..c.nhbins {
            let size = c.sizes.index2size[i];
            let (bin, buggy) = if i < nbins {
                let b = small + i as u64 * l.cb_size;
                (b, b)
            } else {
                (
                    large + (i - nbins) as u64 * l.cb_size,
                    large + i as u64 * l.cb_size,
                )
            };
            let n = ncached(bin);
            seen.bytes += n * size;
            seen.regions += n;
            as_jemalloc += ncached(buggy) * size;
        }
        if let Some(t) = &l.tsd {
            let tcache = d.wrapping_sub(l.tcache_descriptor);
            let tsd = tcache.wrapping_sub(t.tcache);
            // A thread's own cache is the one inside its tsd_t; there the ticker fields
            // are a flag, a small count and a pointer.
            let bypass = read_u8(mem, tsd + t.bypass);
            let narenas = mem.read_u32(tsd + t.narenas_tdata);
            let tdata = mem.read_u64(tsd + t.arenas_tdata);
            if let (Some(bypass @ 0..=1), Some(n), Some(tdata)) = (bypass, narenas, tdata) {
                if n <= 4096 && (tdata == 0) == (n == 0) {
                    seen.tsd = Some(tsd);
                    seen.allocated = mem.read_u64(tsd + t.allocated);
                    seen.deallocated = mem.read_u64(tsd + t.deallocated);
                    seen.ticker = Some(match (tdata != 0, bypass != 0) {
                        (true, _) => Ticker::Started,
                        (false, false) => Ticker::NotYet,
                        (false, true) => Ticker::Never,
                    });
                }
            }
        }
        out.push(seen);
        match mem.read_u64(d + l.desc_next) {
            Some(next) if next != first => d = next,
            _ => break,
        }
    }
    (as_jemalloc, out)
}
