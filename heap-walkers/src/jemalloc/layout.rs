//! Where jemalloc keeps things: struct member offsets, from DWARF or from built-in tables.
//!
//! A walk asks for offsets as `(struct, member)` pairs named as jemalloc's headers name them
//! (`arena_s.pa_shard`, `pac_s.ecache_dirty`, …), so the same question can be put to the
//! binary's DWARF ([`Dwarf`]) or to a table built into heapmortem ([`BuiltIn`]). Nested
//! members are chains of such pairs, resolved once into a [`Layout53`].
//!
//! # The built-in tables
//!
//! A binary with jemalloc linked in statically usually has its symbols but no DWARF
//! (Debian's `libjemalloc.a`, most release builds). The offsets then come from here. Each
//! table names the jemalloc version, the headers the structs are declared in, and the build
//! configuration the numbers hold for: they are the offsets GCC gives those declarations on
//! x86_64 (LP64, 8-byte pointers, 64-bit atomics so `locked_u64_t` has no mutex) with the
//! configuration that matters for layout. A walk checks the table against the memory it
//! reads (every arena knows its own index in three places, every extent cache its state)
//! before trusting it; a build that differs (`--enable-debug` adds a witness to every
//! mutex) fails that check and is reported instead of misread.

use core_reader::Process;

/// Answers "at what offset is `member` in `struct`" and "how big is `struct`".
pub trait OffsetSource {
    /// The byte offset of `member` in the struct `name` (jemalloc's struct tag, e.g.
    /// `arena_s`).
    fn offset(&self, name: &str, member: &str) -> Option<u64>;
    /// The size of the struct `name`.
    fn size(&self, name: &str) -> Option<u64>;
    /// Said in output: where the layout came from.
    fn describe(&self) -> String;
}

/// Offsets from the DWARF of the process's modules (a jemalloc built with `-g`).
pub struct Dwarf<'a> {
    /// The process whose modules' DWARF is asked.
    pub process: &'a Process,
}

impl OffsetSource for Dwarf<'_> {
    fn offset(&self, name: &str, member: &str) -> Option<u64> {
        self.process.offset_of(name, member)
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.process.size_of(name)
    }

    fn describe(&self) -> String {
        "DWARF".into()
    }
}

/// A built-in table of offsets for one jemalloc version and configuration.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    /// The jemalloc version the table is for (`5.3.0`).
    pub version: &'static str,
    /// The configuration the offsets hold for.
    pub config: &'static str,
    members: &'static [(&'static str, &'static str, u64)],
    sizes: &'static [(&'static str, u64)],
}

impl BuiltIn {
    /// A table: `(struct, member, offset)` and `(struct, size)` entries.
    pub const fn new(
        version: &'static str,
        config: &'static str,
        members: &'static [(&'static str, &'static str, u64)],
        sizes: &'static [(&'static str, u64)],
    ) -> BuiltIn {
        BuiltIn {
            version,
            config,
            members,
            sizes,
        }
    }
}

impl OffsetSource for BuiltIn {
    fn offset(&self, name: &str, member: &str) -> Option<u64> {
        self.members
            .iter()
            .find(|(s, m, _)| *s == name && *m == member)
            .map(|t| t.2)
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.sizes.iter().find(|(s, _)| *s == name).map(|t| t.1)
    }

    fn describe(&self) -> String {
        format!(
            "built-in layout for jemalloc {} ({})",
            self.version, self.config
        )
    }
}

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
pub const JEMALLOC_5_3_0_X86_64: BuiltIn = BuiltIn {
    version: "5.3.0",
    config: "Linux x86_64, stats, no debug",
    members: &[
        ("arena_s", "nthreads", 0),
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
    sizes: &[
        ("arena_stats_large_s", 48),
        ("eset_bin_stats_s", 16),
        ("bin_s", 224),
        ("bin_info_s", 40),
        ("cache_bin_s", 24),
        ("cache_bin_info_s", 2),
        ("tcache_s", 1760),
    ],
};

/// The offsets a jemalloc 5.3 walk reads, resolved from an [`OffsetSource`]. Fields are
/// offsets from the start of the struct named in their group; a chain like
/// `arena.pa_shard → pac → ecache_dirty` is added up here once.
#[derive(Debug, Clone)]
pub struct Layout53 {
    /// Where the offsets came from (for output).
    pub source: String,
    pub(crate) arena: ArenaOffsets,
    pub(crate) ecache: EcacheOffsets,
    pub(crate) decay: DecayOffsets,
    pub(crate) decay_stats: DecayStatsOffsets,
    pub(crate) lstats: LstatsOffsets,
    pub(crate) base: BaseOffsets,
    pub(crate) bin: BinOffsets,
    pub(crate) bin_info: BinInfoOffsets,
    pub(crate) cache_bin: CacheBinOffsets,
    /// Thread state (`tsd_t`), when the source knows it: maps thread caches to threads.
    pub(crate) tsd: Option<TsdOffsets>,
}

/// Offsets in `tsd_t` and `tcache_slow_t` that tie a thread cache to its thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct TsdOffsets {
    /// `tcache_slow_t.cache_bin_array_descriptor`.
    pub slow_descriptor: u64,
    /// `tcache_slow_t.tcache`.
    pub slow_tcache: u64,
    /// `tsd_t.tcache_slow`.
    pub tcache_slow: u64,
    /// `tsd_t.tcache`.
    pub tcache: u64,
    /// `tsd_t.thread_allocated`, `thread_deallocated` (the `thread.allocated` mallctls).
    pub thread_allocated: u64,
    pub thread_deallocated: u64,
}

/// Offsets from the start of `arena_t`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArenaOffsets {
    pub nthreads: u64,
    pub internal: u64,
    pub lstats: u64,
    pub pac_stats: u64,
    pub decay_stats_dirty: u64,
    pub decay_stats_muzzy: u64,
    pub pac_mapped: u64,
    pub abandoned_vm: u64,
    pub cache_bin_array_descriptor_ql: u64,
    pub dss_prec: u64,
    pub nactive: u64,
    pub ecache_dirty: u64,
    pub ecache_muzzy: u64,
    pub ecache_retained: u64,
    pub decay_dirty: u64,
    pub decay_muzzy: u64,
    pub pac_stats_ptr: u64,
    pub edata_cache_count: u64,
    pub shard_ind: u64,
    /// `pa_shard.emap`: every arena points at the global extent map.
    pub emap_ptr: u64,
    pub ind: u64,
    pub base: u64,
    pub create_time: u64,
    pub bins: u64,
}

/// Offsets from the start of `ecache_t`.
#[derive(Debug, Clone, Default)]
pub(crate) struct EcacheOffsets {
    /// The esets whose pages and extents add up to the cache's (5.3: `eset` and
    /// `guarded_eset`).
    pub esets: Vec<u64>,
    pub state: u64,
    pub ind: u64,
    /// Within an eset.
    pub eset_npages: u64,
    pub eset_state: u64,
    pub eset_bin_stats: u64,
    pub eset_bin_stats_size: u64,
    pub nextents: u64,
    pub nbytes: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DecayOffsets {
    pub time_ms: u64,
    pub epoch: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DecayStatsOffsets {
    pub npurge: u64,
    pub nmadvise: u64,
    pub purged: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LstatsOffsets {
    pub size: u64,
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub nrequests: u64,
    pub nflushes: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct BaseOffsets {
    pub allocated: u64,
    pub resident: u64,
    pub mapped: u64,
    pub n_thp: u64,
}

/// Offsets in `bin_t`, its stats included.
#[derive(Debug, Clone, Default)]
pub(crate) struct BinOffsets {
    pub size: u64,
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub nrequests: u64,
    pub curregs: u64,
    pub nfills: u64,
    pub nflushes: u64,
    pub nslabs: u64,
    pub reslabs: u64,
    pub curslabs: u64,
    pub nonfull_slabs: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct BinInfoOffsets {
    pub size: u64,
    pub reg_size: u64,
    pub slab_size: u64,
    pub nregs: u64,
    /// Bin shards came with 5.2.
    pub n_shards: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CacheBinOffsets {
    pub size: u64,
    pub stack_head: u64,
    pub low_bits_full: u64,
    pub low_bits_empty: u64,
    pub info_size: u64,
    pub info_ncached_max: u64,
    pub descriptor_next: u64,
    pub descriptor_bins: u64,
    /// Bins in a `tcache_t` (`TCACHE_NBINS_MAX`, tcache_types.h: 73 on 5.3 x86_64), of
    /// which the first `nhbins` are in use.
    pub nbins_max: u64,
}

/// The first `(struct, member)` pair a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingMember(pub String);

pub(crate) struct Resolver<'a> {
    pub(crate) src: &'a dyn OffsetSource,
}

impl Resolver<'_> {
    /// Adds up a chain of `(struct, member)` offsets.
    pub(crate) fn path(&self, chain: &[(&str, &str)]) -> Result<u64, MissingMember> {
        chain.iter().try_fold(0u64, |acc, (s, m)| {
            self.src
                .offset(s, m)
                .map(|o| acc + o)
                .ok_or_else(|| MissingMember(format!("{s}.{m}")))
        })
    }

    pub(crate) fn size(&self, name: &str) -> Result<u64, MissingMember> {
        self.src
            .size(name)
            .ok_or_else(|| MissingMember(format!("sizeof({name})")))
    }
}

impl Layout53 {
    /// Resolves every offset the 5.3 walk needs, or names the first one missing.
    pub fn resolve(src: &dyn OffsetSource) -> Result<Layout53, MissingMember> {
        let r = Resolver { src };
        let stats = ("arena_s", "stats");
        let pss = ("arena_stats_s", "pa_shard_stats");
        let pac_stats = ("pa_shard_stats_s", "pac_stats");
        let shard = ("arena_s", "pa_shard");
        let pac = ("pa_shard_s", "pac");
        let arena = ArenaOffsets {
            nthreads: r.path(&[("arena_s", "nthreads")])?,
            internal: r.path(&[stats, ("arena_stats_s", "internal")])?,
            lstats: r.path(&[stats, ("arena_stats_s", "lstats")])?,
            pac_stats: r.path(&[stats, pss, pac_stats])?,
            decay_stats_dirty: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "decay_dirty")])?,
            decay_stats_muzzy: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "decay_muzzy")])?,
            pac_mapped: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "pac_mapped")])?,
            abandoned_vm: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "abandoned_vm")])?,
            cache_bin_array_descriptor_ql: r
                .path(&[("arena_s", "cache_bin_array_descriptor_ql")])?,
            dss_prec: r.path(&[("arena_s", "dss_prec")])?,
            nactive: r.path(&[shard, ("pa_shard_s", "nactive")])?,
            ecache_dirty: r.path(&[shard, pac, ("pac_s", "ecache_dirty")])?,
            ecache_muzzy: r.path(&[shard, pac, ("pac_s", "ecache_muzzy")])?,
            ecache_retained: r.path(&[shard, pac, ("pac_s", "ecache_retained")])?,
            decay_dirty: r.path(&[shard, pac, ("pac_s", "decay_dirty")])?,
            decay_muzzy: r.path(&[shard, pac, ("pac_s", "decay_muzzy")])?,
            pac_stats_ptr: r.path(&[shard, pac, ("pac_s", "stats")])?,
            edata_cache_count: r.path(&[
                shard,
                ("pa_shard_s", "edata_cache"),
                ("edata_cache_s", "count"),
            ])?,
            shard_ind: r.path(&[shard, ("pa_shard_s", "ind")])?,
            emap_ptr: r.path(&[shard, ("pa_shard_s", "emap")])?,
            ind: r.path(&[("arena_s", "ind")])?,
            base: r.path(&[("arena_s", "base")])?,
            create_time: r.path(&[("arena_s", "create_time")])?,
            bins: r.path(&[("arena_s", "bins")])?,
        };
        let mut esets = vec![r.path(&[("ecache_s", "eset")])?];
        // 5.3 added a second set for guarded extents (san); older 5.x have one.
        if let Ok(g) = r.path(&[("ecache_s", "guarded_eset")]) {
            esets.push(g);
        }
        let ecache = EcacheOffsets {
            esets,
            state: r.path(&[("ecache_s", "state")])?,
            ind: r.path(&[("ecache_s", "ind")])?,
            eset_npages: r.path(&[("eset_s", "npages")])?,
            eset_state: r.path(&[("eset_s", "state")])?,
            eset_bin_stats: r.path(&[("eset_s", "bin_stats")])?,
            eset_bin_stats_size: r.size("eset_bin_stats_s")?,
            nextents: r.path(&[("eset_bin_stats_s", "nextents")])?,
            nbytes: r.path(&[("eset_bin_stats_s", "nbytes")])?,
        };
        let decay = DecayOffsets {
            time_ms: r.path(&[("decay_s", "time_ms")])?,
            epoch: r.path(&[("decay_s", "epoch")])?,
        };
        let decay_stats = DecayStatsOffsets {
            npurge: r.path(&[("pac_decay_stats_s", "npurge")])?,
            nmadvise: r.path(&[("pac_decay_stats_s", "nmadvise")])?,
            purged: r.path(&[("pac_decay_stats_s", "purged")])?,
        };
        let lstats = LstatsOffsets {
            size: r.size("arena_stats_large_s")?,
            nmalloc: r.path(&[("arena_stats_large_s", "nmalloc")])?,
            ndalloc: r.path(&[("arena_stats_large_s", "ndalloc")])?,
            nrequests: r.path(&[("arena_stats_large_s", "nrequests")])?,
            nflushes: r.path(&[("arena_stats_large_s", "nflushes")])?,
        };
        let base = BaseOffsets {
            allocated: r.path(&[("base_s", "allocated")])?,
            resident: r.path(&[("base_s", "resident")])?,
            mapped: r.path(&[("base_s", "mapped")])?,
            n_thp: r.path(&[("base_s", "n_thp")])?,
        };
        let bs = r.path(&[("bin_s", "stats")])?;
        let st = |m: &str| r.path(&[("bin_stats_s", m)]).map(|o| bs + o);
        let bin = BinOffsets {
            size: r.size("bin_s")?,
            nmalloc: st("nmalloc")?,
            ndalloc: st("ndalloc")?,
            nrequests: st("nrequests")?,
            curregs: st("curregs")?,
            nfills: st("nfills")?,
            nflushes: st("nflushes")?,
            nslabs: st("nslabs")?,
            reslabs: st("reslabs")?,
            curslabs: st("curslabs")?,
            nonfull_slabs: st("nonfull_slabs")?,
        };
        let bin_info = BinInfoOffsets {
            size: r.size("bin_info_s")?,
            reg_size: r.path(&[("bin_info_s", "reg_size")])?,
            slab_size: r.path(&[("bin_info_s", "slab_size")])?,
            nregs: r.path(&[("bin_info_s", "nregs")])?,
            n_shards: Some(r.path(&[("bin_info_s", "n_shards")])?),
        };
        let cache_bin = CacheBinOffsets {
            size: r.size("cache_bin_s")?,
            stack_head: r.path(&[("cache_bin_s", "stack_head")])?,
            low_bits_full: r.path(&[("cache_bin_s", "low_bits_full")])?,
            low_bits_empty: r.path(&[("cache_bin_s", "low_bits_empty")])?,
            info_size: r.size("cache_bin_info_s")?,
            info_ncached_max: r.path(&[("cache_bin_info_s", "ncached_max")])?,
            // `link` is a ql_elm: qre_next first (ql.h).
            descriptor_next: r.path(&[("cache_bin_array_descriptor_s", "link")])?,
            descriptor_bins: r.path(&[("cache_bin_array_descriptor_s", "bins")])?,
            nbins_max: (r.size("tcache_s")? - r.path(&[("tcache_s", "bins")])?)
                / r.size("cache_bin_s")?,
        };
        const TSD: &str = "cant_access_tsd_items_directly_use_a_getter_or_setter_";
        let tsd_member = |m: &str| r.path(&[("tsd_s", &format!("{TSD}{m}"))]);
        let tsd = (|| {
            Ok::<_, MissingMember>(TsdOffsets {
                slow_descriptor: r.path(&[("tcache_slow_s", "cache_bin_array_descriptor")])?,
                slow_tcache: r.path(&[("tcache_slow_s", "tcache")])?,
                tcache_slow: tsd_member("tcache_slow")?,
                tcache: tsd_member("tcache")?,
                thread_allocated: tsd_member("thread_allocated")?,
                thread_deallocated: tsd_member("thread_deallocated")?,
            })
        })()
        .ok();
        Ok(Layout53 {
            source: src.describe(),
            arena,
            ecache,
            decay,
            decay_stats,
            lstats,
            base,
            bin,
            bin_info,
            cache_bin,
            tsd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_5_3_0_resolves_every_member() {
        let l = Layout53::resolve(&JEMALLOC_5_3_0_X86_64).expect("complete table");
        // pa_shard (10648) + pac (24) + ecache_dirty (56)
        assert_eq!(l.arena.ecache_dirty, 10728);
        // stats (24) + pa_shard_stats (88) + pac_stats (8) + pac_mapped (56)
        assert_eq!(l.arena.pac_mapped, 176);
        assert_eq!(l.ecache.esets, vec![112, 9768]);
        assert_eq!(l.bin.curregs, 112 + 24);
        assert_eq!(l.cache_bin.nbins_max, 73);
        assert_eq!(l.tsd.expect("tsd offsets").tcache, 856);
    }
}
