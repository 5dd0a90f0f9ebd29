//! The built-in layouts: struct member offsets of the jemalloc builds heapmortem reads
//! without DWARF (see [`super::layout`] for how a walk checks them before trusting them).
//!
//! jemalloc 5.1 and 5.2 keep extent caches (`extents_t`), decay state (`arena_decay_t`) and
//! bins in the arena itself; 5.3 moved them into the page allocator (`pa_shard_t`). FreeBSD
//! 12's libc has jemalloc 5.1.0 and FreeBSD 13's 5.2.1; older Rust crates bundle them
//! (`jemalloc-sys` 0.3.2: 5.1.0; `tikv-jemalloc-sys` 0.4.x: 5.2.1).
//!
//! The Linux aarch64 tables hold the same members as the x86_64 table of their version, at
//! the offsets in the DWARF of jemalloc cross-built from those crates' sources (5.3.0:
//! `tikv-jemalloc-sys` 0.6.0) with GCC 12 for aarch64 and the page size they name
//! (tests/fixtures/jemalloc/README.md); the tests compare every entry with that DWARF.

use core_reader::{Arch, Os};

use super::discover::release;
use super::layout::BuiltIn;

/// The built-in tables for a target, newest release first, those of `version`'s
/// `major.minor` only when it is known (`(major, minor, bugfix)`; `0.0.0` is not). Layouts
/// are per target because `pthread_mutex_t`, inside every `malloc_mutex_t`, is 40 bytes on
/// x86_64 glibc and 48 on aarch64 glibc (bits/pthreadtypes-arch.h), and on aarch64 per page
/// size (LG_PAGE sets SC_NBINS, SC_NSIZES and SC_NPSIZES, the lengths of arrays in
/// `arena_t`, `eset_t` / `extents_t` and `tcache_t`).
pub(crate) fn builtin(
    os: Os,
    arch: Arch,
    version: Option<(u32, u32, u32)>,
) -> Vec<&'static BuiltIn> {
    let all: &[&'static BuiltIn] = match (os, arch) {
        (Os::Linux, Arch::X86_64) => &[
            &JEMALLOC_5_3_0_X86_64,
            &JEMALLOC_5_2_1_X86_64,
            &JEMALLOC_5_1_0_X86_64,
        ],
        (Os::Linux, Arch::Aarch64) => &[
            &JEMALLOC_5_3_0_AARCH64_64K,
            &JEMALLOC_5_3_0_AARCH64_4K,
            &JEMALLOC_5_2_1_AARCH64_64K,
            &JEMALLOC_5_1_0_AARCH64_64K,
        ],
        _ => &[],
    };
    let same_release = |t: &&BuiltIn| match (version, release(t.version)) {
        (Some((major, minor, _)), Some((m, n, _))) if (major, minor) != (0, 0) => {
            (major, minor) == (m, n)
        }
        _ => true,
    };
    all.iter().copied().filter(same_release).collect()
}

/// `(struct, member, offset)` entries.
type Members = &'static [(&'static str, &'static str, u64)];

/// `bin_stats_s` (bin_stats.h) up to `curslabs`: the same in 5.1.0, 5.2.1 and 5.3.0 on
/// x86_64 (5.2 appended `nonfull_slabs`).
const BIN_STATS: Members = &[
    ("bin_stats_s", "nmalloc", 0),
    ("bin_stats_s", "ndalloc", 8),
    ("bin_stats_s", "nrequests", 16),
    ("bin_stats_s", "curregs", 24),
    ("bin_stats_s", "nfills", 32),
    ("bin_stats_s", "nflushes", 40),
    ("bin_stats_s", "nslabs", 48),
    ("bin_stats_s", "reslabs", 56),
    ("bin_stats_s", "curslabs", 64),
];

/// `bin_info_s` (5.1/5.2 bin.h, 5.3 bin_info.h) before `n_shards` (5.2+).
const BIN_INFO: Members = &[
    ("bin_info_s", "reg_size", 0),
    ("bin_info_s", "slab_size", 8),
    ("bin_info_s", "nregs", 16),
];

/// `arena_stats_large_s` before `nfills`, and `arena_stats_decay_s` (arena_stats.h): the
/// same in 5.1.0 and 5.2.1.
const LEGACY_STATS: Members = &[
    ("arena_stats_large_s", "nmalloc", 0),
    ("arena_stats_large_s", "ndalloc", 8),
    ("arena_stats_large_s", "nrequests", 16),
    ("arena_stats_decay_s", "npurge", 0),
    ("arena_stats_decay_s", "nmadvise", 8),
    ("arena_stats_decay_s", "purged", 16),
];

/// `cache_bin_s` and `cache_bin_array_descriptor_s` (cache_bin.h): the same in 5.1.0 and
/// 5.2.1.
const LEGACY_CACHE_BINS: Members = &[
    ("cache_bin_s", "ncached", 4),
    ("cache_bin_s", "avail", 16),
    ("cache_bin_array_descriptor_s", "link", 0),
    ("cache_bin_array_descriptor_s", "bins_small", 16),
    ("cache_bin_array_descriptor_s", "bins_large", 24),
];

/// jemalloc 5.3.0 on Linux x86_64 (glibc's 40-byte `pthread_mutex_t`), `config_stats` on, `config_debug` off (Debian's
/// libjemalloc 5.3.0-1: `--enable-prof`, stats, fill, cache-oblivious, LG_PAGE 12,
/// LG_QUANTUM 4; `config.*` in its own `malloc_stats_print` output). `config_prof` does not
/// move any member read here.
///
/// Declarations, all in jemalloc 5.3.0 `include/jemalloc/internal/`: `arena_s`
/// (arena_structs.h), `arena_stats_s`, `arena_stats_large_s` (arena_stats.h), `pa_shard_s`,
/// `pa_shard_stats_s` (pa.h), `pac_s`, `pac_stats_s`, `pac_decay_stats_s` (pac.h),
/// `ecache_s` (ecache.h), `eset_s`, `eset_bin_stats_s` (eset.h), `decay_s` (decay.h),
/// `edata_cache_s` (edata_cache.h), `base_s` (base.h), `bin_s`, `bin_stats_s` (bin.h,
/// bin_stats.h), `bin_info_s` (bin_info.h), `cache_bin_s`, `cache_bin_info_s`,
/// `cache_bin_array_descriptor_s` (cache_bin.h), `tcache_slow_s`, `tcache_s`
/// (tcache_structs.h), `malloc_mutex_s` (mutex.h: 112 bytes, 64 of `mutex_prof_data_t`
/// then a `pthread_mutex_t` and a flag). Array lengths that set sizes: `SC_NSIZES` 232,
/// `SC_NBINS` 36, `SC_NPSIZES` 199 (sc.h), `TCACHE_NBINS_MAX` 73 (tcache_types.h).
pub const JEMALLOC_5_3_0_X86_64: BuiltIn = BuiltIn::new(
    "5.3.0",
    "Linux x86_64, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 120),
            ("arena_s", "stats", 24),
            ("arena_s", "tcache_ql", 10392),
            ("arena_s", "cache_bin_array_descriptor_ql", 10400),
            ("arena_s", "dss_prec", 10520),
            ("arena_s", "large", 10528),
            ("arena_s", "pa_shard", 10648),
            ("arena_s", "ind", 78928),
            ("arena_s", "base", 78936),
            ("arena_s", "create_time", 78944),
            ("arena_s", "bins", 78952),
            ("arena_stats_s", "base", 0),
            ("arena_stats_s", "internal", 32),
            ("arena_stats_s", "pa_shard_stats", 88),
            ("arena_stats_s", "lstats", 952),
            ("arena_stats_large_s", "nmalloc", 0),
            ("arena_stats_large_s", "ndalloc", 8),
            ("arena_stats_large_s", "nrequests", 16),
            ("arena_stats_large_s", "nfills", 24),
            ("arena_stats_large_s", "nflushes", 32),
            ("pa_shard_stats_s", "edata_avail", 0),
            ("pa_shard_stats_s", "pac_stats", 8),
            ("pac_stats_s", "decay_dirty", 0),
            ("pac_stats_s", "decay_muzzy", 24),
            ("pac_stats_s", "pac_mapped", 56),
            ("pac_stats_s", "abandoned_vm", 64),
            ("pac_decay_stats_s", "npurge", 0),
            ("pac_decay_stats_s", "nmadvise", 8),
            ("pac_decay_stats_s", "purged", 16),
            ("pa_shard_s", "nactive", 8),
            ("pa_shard_s", "pac", 24),
            ("pa_shard_s", "edata_cache", 68096),
            ("pa_shard_s", "ind", 68240),
            ("pa_shard_s", "emap", 68264),
            ("pac_s", "ecache_dirty", 56),
            ("pac_s", "ecache_muzzy", 19496),
            ("pac_s", "ecache_retained", 38936),
            ("pac_s", "decay_dirty", 58648),
            ("pac_s", "decay_muzzy", 60432),
            ("pac_s", "stats", 62224),
            ("ecache_s", "eset", 112),
            ("ecache_s", "guarded_eset", 9768),
            ("ecache_s", "state", 19424),
            ("ecache_s", "ind", 19428),
            ("eset_s", "bin_stats", 6432),
            ("eset_s", "lru", 9632),
            ("eset_s", "npages", 9640),
            ("eset_s", "state", 9648),
            ("eset_bin_stats_s", "nextents", 0),
            ("eset_bin_stats_s", "nbytes", 8),
            ("decay_s", "time_ms", 120),
            ("decay_s", "epoch", 136),
            ("decay_s", "deadline", 152),
            ("edata_cache_s", "count", 16),
            ("base_s", "allocated", 3880),
            ("base_s", "resident", 3888),
            ("base_s", "mapped", 3896),
            ("base_s", "n_thp", 3904),
            ("bin_s", "stats", 112),
            ("bin_stats_s", "nonfull_slabs", 72),
            ("bin_info_s", "n_shards", 20),
            ("cache_bin_array_descriptor_s", "link", 0),
            ("cache_bin_array_descriptor_s", "bins", 16),
            ("cache_bin_s", "stack_head", 0),
            ("cache_bin_s", "low_bits_low_water", 16),
            ("cache_bin_s", "low_bits_full", 18),
            ("cache_bin_s", "low_bits_empty", 20),
            ("cache_bin_info_s", "ncached_max", 0),
            ("tcache_slow_s", "link", 0),
            ("tcache_slow_s", "cache_bin_array_descriptor", 16),
            ("tcache_slow_s", "arena", 40),
            ("tcache_slow_s", "tcache", 168),
            ("tcache_s", "bins", 8),
            // tsd_s (tsd.h): its members carry this prefix in the source, so in DWARF too.
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache_slow",
                256,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_allocated",
                824,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_deallocated",
                840,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache",
                856,
            ),
        ],
    ],
    &[
        ("arena_stats_large_s", 48),
        ("eset_bin_stats_s", 16),
        ("bin_s", 224),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
        ("cache_bin_info_s", 2),
        ("tcache_s", 1760),
    ],
);

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
pub const JEMALLOC_5_2_1_X86_64: BuiltIn = BuiltIn::new(
    "5.2.1",
    "Linux x86_64, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        LEGACY_STATS,
        LEGACY_CACHE_BINS,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 112),
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
            ("arena_stats_large_s", "nflushes", 32),
            ("extents_s", "nextents", 1712),
            ("extents_s", "nbytes", 3312),
            ("extents_s", "npages", 4952),
            ("extents_s", "state", 4960),
            ("arena_decay_s", "time_ms", 120),
            ("arena_decay_s", "epoch", 136),
            ("arena_decay_s", "stats", 1768),
            ("bins_s", "bin_shards", 0),
            ("bin_s", "stats", 136),
            ("bin_stats_s", "nonfull_slabs", 72),
            ("bin_info_s", "n_shards", 20),
            ("base_s", "ind", 0),
            ("base_s", "allocated", 2008),
            ("base_s", "resident", 2016),
            ("base_s", "mapped", 2024),
            ("base_s", "n_thp", 2032),
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
pub const JEMALLOC_5_1_0_X86_64: BuiltIn = BuiltIn::new(
    "5.1.0",
    "Linux x86_64, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        LEGACY_STATS,
        LEGACY_CACHE_BINS,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 104),
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
            ("extents_s", "npages", 1744),
            ("extents_s", "state", 1752),
            ("arena_decay_s", "time_ms", 112),
            ("arena_decay_s", "epoch", 128),
            ("arena_decay_s", "stats", 1760),
            ("bin_s", "stats", 128),
            ("base_s", "ind", 0),
            ("base_s", "allocated", 2000),
            ("base_s", "resident", 2008),
            ("base_s", "mapped", 2016),
            ("base_s", "n_thp", 2024),
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
    ],
    &[
        ("arena_stats_large_s", 32),
        ("bin_s", 264),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
    ],
);

/// jemalloc 5.3.0 on Linux aarch64 with 64 KiB pages (`--with-lg-page=16`), `config_stats`
/// on, `config_debug` off: the members of [`JEMALLOC_5_3_0_X86_64`], declared in the same
/// headers, at the offsets GCC 12 (Debian's aarch64-linux-gnu-gcc) gives them, read from the
/// DWARF of jemalloc 5.3.0 (`tikv-jemalloc-sys` 0.6.0's sources) cross-built that way, as
/// tests/fixtures/jemalloc/README.md describes; `aarch64_tables_equal_the_builds_dwarf`
/// (tests/heap_jemalloc.rs) checks every entry against that build. Against x86_64: glibc's
/// 48-byte `pthread_mutex_t` (aarch64 bits/pthreadtypes-arch.h) makes `malloc_mutex_s` 120
/// bytes, and 64 KiB pages make `SC_NBINS` 52, `SC_NSIZES - SC_NBINS` 180 and `SC_NPSIZES`
/// 183 (sc.h), and `bin_info_t` 88 bytes (its `bitmap_info_t` becomes a tree: bitmap.h,
/// `LG_BITMAP_MAXBITS` > `LG_BITMAP_GROUP_NBITS`); `TCACHE_NBINS_MAX` stays 73.
pub const JEMALLOC_5_3_0_AARCH64_64K: BuiltIn = BuiltIn::new(
    "5.3.0",
    "Linux aarch64, 64 KiB pages, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 128),
            ("arena_s", "stats", 24),
            ("arena_s", "tcache_ql", 9624),
            ("arena_s", "cache_bin_array_descriptor_ql", 9632),
            ("arena_s", "dss_prec", 9760),
            ("arena_s", "large", 9768),
            ("arena_s", "pa_shard", 9896),
            ("arena_s", "ind", 73600),
            ("arena_s", "base", 73608),
            ("arena_s", "create_time", 73616),
            ("arena_s", "bins", 73624),
            ("arena_stats_s", "base", 0),
            ("arena_stats_s", "internal", 32),
            ("arena_stats_s", "pa_shard_stats", 88),
            ("arena_stats_s", "lstats", 952),
            ("arena_stats_large_s", "nmalloc", 0),
            ("arena_stats_large_s", "ndalloc", 8),
            ("arena_stats_large_s", "nrequests", 16),
            ("arena_stats_large_s", "nfills", 24),
            ("arena_stats_large_s", "nflushes", 32),
            ("pa_shard_stats_s", "edata_avail", 0),
            ("pa_shard_stats_s", "pac_stats", 8),
            ("pac_stats_s", "decay_dirty", 0),
            ("pac_stats_s", "decay_muzzy", 24),
            ("pac_stats_s", "pac_mapped", 56),
            ("pac_stats_s", "abandoned_vm", 64),
            ("pac_decay_stats_s", "npurge", 0),
            ("pac_decay_stats_s", "nmadvise", 8),
            ("pac_decay_stats_s", "purged", 16),
            ("pa_shard_s", "nactive", 8),
            ("pa_shard_s", "pac", 24),
            ("pa_shard_s", "edata_cache", 63512),
            ("pa_shard_s", "ind", 63664),
            ("pa_shard_s", "emap", 63688),
            ("pac_s", "ecache_dirty", 56),
            ("pac_s", "ecache_muzzy", 17952),
            ("pac_s", "ecache_retained", 35848),
            ("pac_s", "decay_dirty", 54032),
            ("pac_s", "decay_muzzy", 55824),
            ("pac_s", "stats", 57624),
            ("ecache_s", "eset", 120),
            ("ecache_s", "guarded_eset", 9000),
            ("ecache_s", "state", 17880),
            ("ecache_s", "ind", 17884),
            ("eset_s", "bin_stats", 5912),
            ("eset_s", "lru", 8856),
            ("eset_s", "npages", 8864),
            ("eset_s", "state", 8872),
            ("eset_bin_stats_s", "nextents", 0),
            ("eset_bin_stats_s", "nbytes", 8),
            ("decay_s", "time_ms", 128),
            ("decay_s", "epoch", 144),
            ("decay_s", "deadline", 160),
            ("edata_cache_s", "count", 16),
            ("base_s", "allocated", 3888),
            ("base_s", "resident", 3896),
            ("base_s", "mapped", 3904),
            ("base_s", "n_thp", 3912),
            ("bin_s", "stats", 120),
            ("bin_stats_s", "nonfull_slabs", 72),
            ("bin_info_s", "n_shards", 20),
            ("cache_bin_array_descriptor_s", "link", 0),
            ("cache_bin_array_descriptor_s", "bins", 16),
            ("cache_bin_s", "stack_head", 0),
            ("cache_bin_s", "low_bits_low_water", 16),
            ("cache_bin_s", "low_bits_full", 18),
            ("cache_bin_s", "low_bits_empty", 20),
            ("cache_bin_info_s", "ncached_max", 0),
            ("tcache_slow_s", "link", 0),
            ("tcache_slow_s", "cache_bin_array_descriptor", 16),
            ("tcache_slow_s", "arena", 40),
            ("tcache_slow_s", "tcache", 216),
            ("tcache_s", "bins", 8),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache_slow",
                272,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_allocated",
                888,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_deallocated",
                904,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache",
                920,
            ),
        ],
    ],
    &[
        ("arena_stats_large_s", 48),
        ("eset_bin_stats_s", 16),
        ("bin_s", 232),
        ("bin_info_s", 88),
        ("cache_bin_s", 24),
        ("cache_bin_info_s", 2),
        ("tcache_s", 1760),
    ],
);

/// jemalloc 5.2.1 on Linux aarch64 with 64 KiB pages, `config_stats` on, `config_debug` off:
/// the members of [`JEMALLOC_5_2_1_X86_64`], from the same headers, at GCC 12's aarch64
/// offsets, read from the DWARF of `tikv-jemalloc-sys` 0.4.3's jemalloc cross-built with
/// `--with-lg-page=16` and checked against it as for [`JEMALLOC_5_3_0_AARCH64_64K`]
/// (`malloc_mutex_t` 120 bytes; `SC_NBINS` 52, 180 large classes, 184 `extents_s.nextents`
/// entries; `bin_info_t` 88 bytes).
pub const JEMALLOC_5_2_1_AARCH64_64K: BuiltIn = BuiltIn::new(
    "5.2.1",
    "Linux aarch64, 64 KiB pages, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        LEGACY_STATS,
        LEGACY_CACHE_BINS,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 120),
            ("arena_s", "stats", 24),
            ("arena_s", "cache_bin_array_descriptor_ql", 9424),
            ("arena_s", "dss_prec", 9576),
            ("arena_s", "nactive", 9584),
            ("arena_s", "extents_dirty", 9720),
            ("arena_s", "extents_muzzy", 14320),
            ("arena_s", "extents_retained", 18920),
            ("arena_s", "decay_dirty", 23520),
            ("arena_s", "decay_muzzy", 25312),
            ("arena_s", "extent_avail_cnt", 27240),
            ("arena_s", "bins", 27368),
            ("arena_s", "base", 27784),
            ("arena_s", "create_time", 27792),
            ("arena_stats_s", "mapped", 0),
            ("arena_stats_s", "decay_dirty", 24),
            ("arena_stats_s", "decay_muzzy", 48),
            ("arena_stats_s", "internal", 80),
            ("arena_stats_s", "abandoned_vm", 152),
            ("arena_stats_s", "lstats", 744),
            ("arena_stats_large_s", "nflushes", 32),
            ("extents_s", "nextents", 1592),
            ("extents_s", "nbytes", 3064),
            ("extents_s", "npages", 4584),
            ("extents_s", "state", 4592),
            ("arena_decay_s", "time_ms", 128),
            ("arena_decay_s", "epoch", 144),
            ("arena_decay_s", "stats", 1776),
            ("bins_s", "bin_shards", 0),
            ("bin_s", "stats", 144),
            ("bin_stats_s", "nonfull_slabs", 72),
            ("bin_info_s", "n_shards", 20),
            ("base_s", "ind", 0),
            ("base_s", "allocated", 2016),
            ("base_s", "resident", 2024),
            ("base_s", "mapped", 2032),
            ("base_s", "n_thp", 2040),
            ("tcache_s", "cache_bin_array_descriptor", 1304),
            ("tcache_s", "arena", 1336),
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
                512,
            ),
        ],
    ],
    &[
        ("arena_stats_large_s", 48),
        ("bins_s", 8),
        ("bin_s", 288),
        ("bin_info_s", 88),
        ("cache_bin_s", 24),
    ],
);

/// jemalloc 5.3.0 on Linux aarch64 with 4 KiB pages (configure's default where it cannot ask
/// the machine, as in a cross build; what the `-sys` crates build for aarch64 unless
/// `JEMALLOC_SYS_WITH_LG_PAGE` says otherwise), `config_stats` on, `config_debug` off: the
/// size classes of x86_64 (`SC_NBINS` 36, 196 large classes, `SC_NPSIZES` 199), so only the
/// 48-byte `pthread_mutex_t` moves members; read from the DWARF of that build and checked as
/// for [`JEMALLOC_5_3_0_AARCH64_64K`].
pub const JEMALLOC_5_3_0_AARCH64_4K: BuiltIn = BuiltIn::new(
    "5.3.0",
    "Linux aarch64, 4 KiB pages, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 128),
            ("arena_s", "stats", 24),
            ("arena_s", "tcache_ql", 10392),
            ("arena_s", "cache_bin_array_descriptor_ql", 10400),
            ("arena_s", "dss_prec", 10528),
            ("arena_s", "large", 10536),
            ("arena_s", "pa_shard", 10664),
            ("arena_s", "ind", 79024),
            ("arena_s", "base", 79032),
            ("arena_s", "create_time", 79040),
            ("arena_s", "bins", 79048),
            ("arena_stats_s", "base", 0),
            ("arena_stats_s", "internal", 32),
            ("arena_stats_s", "pa_shard_stats", 88),
            ("arena_stats_s", "lstats", 952),
            ("arena_stats_large_s", "nmalloc", 0),
            ("arena_stats_large_s", "ndalloc", 8),
            ("arena_stats_large_s", "nrequests", 16),
            ("arena_stats_large_s", "nfills", 24),
            ("arena_stats_large_s", "nflushes", 32),
            ("pa_shard_stats_s", "edata_avail", 0),
            ("pa_shard_stats_s", "pac_stats", 8),
            ("pac_stats_s", "decay_dirty", 0),
            ("pac_stats_s", "decay_muzzy", 24),
            ("pac_stats_s", "pac_mapped", 56),
            ("pac_stats_s", "abandoned_vm", 64),
            ("pac_decay_stats_s", "npurge", 0),
            ("pac_decay_stats_s", "nmadvise", 8),
            ("pac_decay_stats_s", "purged", 16),
            ("pa_shard_s", "nactive", 8),
            ("pa_shard_s", "pac", 24),
            ("pa_shard_s", "edata_cache", 68168),
            ("pa_shard_s", "ind", 68320),
            ("pa_shard_s", "emap", 68344),
            ("pac_s", "ecache_dirty", 56),
            ("pac_s", "ecache_muzzy", 19504),
            ("pac_s", "ecache_retained", 38952),
            ("pac_s", "decay_dirty", 58688),
            ("pac_s", "decay_muzzy", 60480),
            ("pac_s", "stats", 62280),
            ("ecache_s", "eset", 120),
            ("ecache_s", "guarded_eset", 9776),
            ("ecache_s", "state", 19432),
            ("ecache_s", "ind", 19436),
            ("eset_s", "bin_stats", 6432),
            ("eset_s", "lru", 9632),
            ("eset_s", "npages", 9640),
            ("eset_s", "state", 9648),
            ("eset_bin_stats_s", "nextents", 0),
            ("eset_bin_stats_s", "nbytes", 8),
            ("decay_s", "time_ms", 128),
            ("decay_s", "epoch", 144),
            ("decay_s", "deadline", 160),
            ("edata_cache_s", "count", 16),
            ("base_s", "allocated", 3888),
            ("base_s", "resident", 3896),
            ("base_s", "mapped", 3904),
            ("base_s", "n_thp", 3912),
            ("bin_s", "stats", 120),
            ("bin_stats_s", "nonfull_slabs", 72),
            ("bin_info_s", "n_shards", 20),
            ("cache_bin_array_descriptor_s", "link", 0),
            ("cache_bin_array_descriptor_s", "bins", 16),
            ("cache_bin_s", "stack_head", 0),
            ("cache_bin_s", "low_bits_low_water", 16),
            ("cache_bin_s", "low_bits_full", 18),
            ("cache_bin_s", "low_bits_empty", 20),
            ("cache_bin_info_s", "ncached_max", 0),
            ("tcache_slow_s", "link", 0),
            ("tcache_slow_s", "cache_bin_array_descriptor", 16),
            ("tcache_slow_s", "arena", 40),
            ("tcache_slow_s", "tcache", 168),
            ("tcache_s", "bins", 8),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache_slow",
                256,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_allocated",
                824,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_thread_deallocated",
                840,
            ),
            (
                "tsd_s",
                "cant_access_tsd_items_directly_use_a_getter_or_setter_tcache",
                856,
            ),
        ],
    ],
    &[
        ("arena_stats_large_s", 48),
        ("eset_bin_stats_s", 16),
        ("bin_s", 232),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
        ("cache_bin_info_s", 2),
        ("tcache_s", 1760),
    ],
);

/// jemalloc 5.1.0 on Linux aarch64 with 64 KiB pages, `config_stats` on, `config_debug` off:
/// the members of [`JEMALLOC_5_1_0_X86_64`], from the same headers, at GCC 12's aarch64
/// offsets, read from the DWARF of `jemalloc-sys` 0.3.2's jemalloc cross-built with
/// `--with-lg-page=16` and checked as for [`JEMALLOC_5_3_0_AARCH64_64K`] (`malloc_mutex_t`
/// 112 bytes; `NBINS` 52 inline `bin_t`s, 180 large classes, 184 `extents_s.heaps`;
/// `bin_info_t` 88 bytes).
pub const JEMALLOC_5_1_0_AARCH64_64K: BuiltIn = BuiltIn::new(
    "5.1.0",
    "Linux aarch64, 64 KiB pages, stats, no debug",
    &[
        BIN_STATS,
        BIN_INFO,
        LEGACY_STATS,
        LEGACY_CACHE_BINS,
        &[
            ("arena_s", "nthreads", 0),
            // rtree.h: after the init_lock mutex (5.3: after `base` too).
            ("rtree_s", "root", 112),
            ("arena_s", "stats", 16),
            ("arena_s", "cache_bin_array_descriptor_ql", 6504),
            ("arena_s", "dss_prec", 6656),
            ("arena_s", "nactive", 6664),
            ("arena_s", "extents_dirty", 6792),
            ("arena_s", "extents_muzzy", 8440),
            ("arena_s", "extents_retained", 10088),
            ("arena_s", "decay_dirty", 11736),
            ("arena_s", "decay_muzzy", 13520),
            ("arena_s", "bins", 15544),
            ("arena_s", "base", 29688),
            ("arena_s", "create_time", 29696),
            ("arena_stats_s", "mapped", 0),
            ("arena_stats_s", "decay_dirty", 16),
            ("arena_stats_s", "decay_muzzy", 40),
            ("arena_stats_s", "internal", 72),
            ("arena_stats_s", "lstats", 712),
            ("extents_s", "npages", 1632),
            ("extents_s", "state", 1640),
            ("arena_decay_s", "time_ms", 120),
            ("arena_decay_s", "epoch", 136),
            ("arena_decay_s", "stats", 1768),
            ("bin_s", "stats", 136),
            ("base_s", "ind", 0),
            ("base_s", "allocated", 2008),
            ("base_s", "resident", 2016),
            ("base_s", "mapped", 2024),
            ("base_s", "n_thp", 2032),
            ("tcache_s", "cache_bin_array_descriptor", 1280),
            ("tcache_s", "arena", 1312),
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
    ],
    &[
        ("arena_stats_large_s", 32),
        ("bin_s", 272),
        ("bin_info_s", 88),
        ("cache_bin_s", 24),
    ],
);
