//! Where jemalloc keeps things: struct member offsets, from DWARF or from built-in tables.
//!
//! A walk asks for offsets as `(struct, member)` pairs named as jemalloc's headers name them
//! (`arena_s.pa_shard`, `pac_s.ecache_dirty`, …), so the same question can be put to the
//! binary's DWARF ([`Dwarf`]) or to a table built into heapmortem ([`BuiltIn`]). Nested
//! members are chains of such pairs, resolved once into a [`Layout`]: one for every family, with optional members where
//! versions differ (5.1/5.2 keep extent caches, decay and bins in the arena; 5.3 moved them
//! into its page allocator, `pa_shard_t`).
//!
//! # The built-in tables
//!
//! A binary with jemalloc linked in statically usually has its symbols but no DWARF
//! (Debian's `libjemalloc.a`, most release builds). The offsets then come from here. Each
//! table names the jemalloc version, the headers the structs are declared in, and the build
//! configuration the numbers hold for: they are the offsets GCC gives those declarations on
//! Linux x86_64 and aarch64 (LP64, 8-byte pointers, 64-bit atomics so `locked_u64_t` has no
//! mutex; glibc's `pthread_mutex_t` differs) with the configuration that matters for layout
//! (on aarch64 the page size too). A walk checks the table against the memory it
//! reads (every arena knows its own index in three places, every extent cache its state)
//! before trusting it; a build that differs (`--enable-debug` adds a witness to every
//! mutex) fails that check and is reported instead of misread.

use core_reader::Target;

use super::model::Features;
pub use super::tables::{
    JEMALLOC_5_1_0_AARCH64_64K, JEMALLOC_5_1_0_X86_64, JEMALLOC_5_2_1_AARCH64_64K,
    JEMALLOC_5_2_1_X86_64, JEMALLOC_5_3_0_AARCH64_4K, JEMALLOC_5_3_0_AARCH64_64K,
    JEMALLOC_5_3_0_X86_64,
};

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
    pub target: &'a dyn Target,
}

impl OffsetSource for Dwarf<'_> {
    fn offset(&self, name: &str, member: &str) -> Option<u64> {
        self.target.offset_of(name, member)
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.target.size_of(name)
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
    /// `(struct, member, offset)` entries, in groups (some shared between versions).
    members: &'static [&'static [(&'static str, &'static str, u64)]],
    sizes: &'static [(&'static str, u64)],
}

impl BuiltIn {
    /// A table: groups of `(struct, member, offset)` entries and `(struct, size)` entries.
    pub const fn new(
        version: &'static str,
        config: &'static str,
        members: &'static [&'static [(&'static str, &'static str, u64)]],
        sizes: &'static [(&'static str, u64)],
    ) -> BuiltIn {
        BuiltIn {
            version,
            config,
            members,
            sizes,
        }
    }

    /// Every `(struct, member, offset)` entry: what a test checks against a build's DWARF.
    pub fn members(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> {
        self.members.iter().flat_map(|group| group.iter().copied())
    }

    /// Every `(struct, size)` entry.
    pub fn sizes(&self) -> &'static [(&'static str, u64)] {
        self.sizes
    }
}

impl OffsetSource for BuiltIn {
    fn offset(&self, name: &str, member: &str) -> Option<u64> {
        self.members()
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

/// The offsets a walk reads, resolved from an [`OffsetSource`]. Fields are offsets from the
/// start of the struct named in their group; a chain like `arena.pa_shard → pac →
/// ecache_dirty` is added up here once. Members one family lacks are `Option`s.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where the offsets came from (for output).
    pub source: String,
    /// Which figures this version keeps.
    pub(crate) features: Features,
    /// Whether muzzy pages count as resident (5.1/5.2 do, 5.3 does not).
    pub(crate) muzzy_resident: bool,
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
    /// `rtree_s.root`: where the extent map's first level is (its offset depends on
    /// `malloc_mutex_t`'s size, so on the platform); listing allocations needs it.
    pub(crate) rtree_root: Option<u64>,
}

/// Offsets in `tsd_t` that tie a thread cache to its thread.
#[derive(Debug, Clone)]
pub(crate) struct TsdOffsets {
    /// From the start of `tsd_t` to the cache's descriptor (5.3: `tsd.tcache_slow` +
    /// `tcache_slow_t.cache_bin_array_descriptor`; 5.1/5.2: `tsd.tcache` +
    /// `tcache_t.cache_bin_array_descriptor`).
    pub descriptor: u64,
    /// How to tell a thread's own cache from one made with `tcaches.create`.
    pub owner: Owner,
    /// `tsd_t.thread_allocated`, `thread_deallocated` (the `thread.allocated` mallctls).
    pub thread_allocated: u64,
    pub thread_deallocated: u64,
}

/// What marks a cache as the one inside a thread's `tsd_t`.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// 5.3: `tcache_slow.tcache` (at `slow_tcache` from the start of `tsd_t`) points at
    /// `tsd.tcache` (at `tcache`).
    SlowPointsBack { slow_tcache: u64, tcache: u64 },
    /// 5.1/5.2: the decay ticker fields of `tsd_t` hold a flag, a small count and a pointer.
    Ticker {
        bypass: u64,
        narenas_tdata: u64,
        arenas_tdata: u64,
    },
}

/// Offsets from the start of `arena_t`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArenaOffsets {
    pub nthreads: u64,
    pub internal: u64,
    pub lstats: u64,
    pub decay_stats_dirty: u64,
    pub decay_stats_muzzy: u64,
    /// 5.3 `pac_mapped`, 5.1/5.2 `stats.mapped`: the arena's extents (its base adds to it).
    pub mapped: u64,
    /// 5.2+.
    pub abandoned_vm: Option<u64>,
    pub cache_bin_array_descriptor_ql: u64,
    pub dss_prec: u64,
    pub nactive: u64,
    pub ecache_dirty: u64,
    pub ecache_muzzy: u64,
    pub ecache_retained: u64,
    pub decay_dirty: u64,
    pub decay_muzzy: u64,
    /// 5.3 `pa_shard.edata_cache.count`, 5.2 `extent_avail_cnt`; 5.1 has none.
    pub extent_avail: Option<u64>,
    /// Pointers that must point back into the arena's own stats: `(where, what)`, both
    /// offsets in `arena_t` (5.3: `pac.stats`; 5.1/5.2: each decay's `stats`).
    pub own_stats: Vec<(u64, u64)>,
    /// Where the arena stores its own index: 5.3 `arena_t.ind` and `pa_shard.ind`.
    pub ind: Vec<u64>,
    /// `pa_shard.emap` (5.3): every arena points at the global extent map.
    pub emap_ptr: Option<u64>,
    pub base: u64,
    pub create_time: u64,
    pub bins: u64,
    /// 5.2: `bins_t` (`bin_shards` pointer, `sizeof(bins_t)`) in place of inline `bin_t`s.
    pub bins_ptr: Option<(u64, u64)>,
}

/// Offsets from the start of `ecache_t` (5.1/5.2: `extents_t`, which is one set).
#[derive(Debug, Clone, Default)]
pub(crate) struct EcacheOffsets {
    /// The sets whose pages and extents add up to the cache's (5.3: `eset` and
    /// `guarded_eset`; 5.1/5.2: the `extents_t` itself, at 0).
    pub esets: Vec<u64>,
    pub state: u64,
    /// 5.3: the cache's arena index.
    pub ind: Option<u64>,
    /// Within a set.
    pub eset_npages: u64,
    pub eset_state: u64,
    /// Free extents per page-size class (5.2+).
    pub per_size: Option<PerSizeOffsets>,
}

/// Where a set counts its free extents of page-size class `p`: `nextents + p * stride`,
/// `nbytes + p * stride` from the start of the set (5.3: `eset_bin_stats_t` entries; 5.2:
/// two `size_t` arrays).
#[derive(Debug, Clone, Default)]
pub(crate) struct PerSizeOffsets {
    pub nextents: u64,
    pub nbytes: u64,
    pub stride: u64,
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
    /// 5.2+.
    pub nflushes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct BaseOffsets {
    /// 5.1/5.2: the base knows its arena's index.
    pub ind: Option<u64>,
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
    /// 5.2+.
    pub nonfull_slabs: Option<u64>,
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

/// A thread cache's descriptor and bins.
#[derive(Debug, Clone)]
pub(crate) struct CacheBinOffsets {
    pub size: u64,
    /// `link` is a ql_elm: qre_next first (ql.h).
    pub descriptor_next: u64,
    pub bins: CacheBins,
}

/// How a cache bin says what it holds.
#[derive(Debug, Clone)]
pub(crate) enum CacheBins {
    /// 5.3: one `bins` array; a bin is a stack whose fill is told by the low bits of its
    /// pointers.
    Stack(StackBins),
    /// 5.1/5.2: `bins_small` and `bins_large` arrays; a bin counts its items (`ncached`).
    Ncached {
        ncached: u64,
        /// `avail`: one past the bin's last slot; its items are `avail[-ncached..-1]`.
        avail: u64,
        bins_small: u64,
        bins_large: u64,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StackBins {
    pub stack_head: u64,
    pub low_bits_full: u64,
    pub low_bits_empty: u64,
    pub info_size: u64,
    pub info_ncached_max: u64,
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

    fn member(&self, s: &str, m: &str) -> Result<u64, MissingMember> {
        self.path(&[(s, m)])
    }

    fn optional(&self, s: &str, m: &str) -> Option<u64> {
        self.path(&[(s, m)]).ok()
    }
}

/// `tsd_s` (tsd.h): its members carry this prefix in the source, so in DWARF too (5.2, 5.3).
const TSD_PREFIX: &str = "cant_access_tsd_items_directly_use_a_getter_or_setter_";
/// The prefix of 5.1.
const TSD_PREFIX_5_1: &str = "use_a_getter_or_setter_instead_";

impl Layout {
    /// Resolves every offset a walk needs, 5.3's page allocator first and then 5.1/5.2's
    /// arena-held extents; `Err` names the first member missing for 5.3.
    pub fn resolve(src: &dyn OffsetSource) -> Result<Layout, MissingMember> {
        let r = Resolver { src };
        match Layout::resolve_5_3(&r) {
            Ok(l) => Ok(l),
            Err(missing) => Layout::resolve_legacy(&r).map_err(|_| missing),
        }
    }

    /// jemalloc 5.3: extents, decay and their stats in the page allocator (`pa_shard_t`).
    fn resolve_5_3(r: &Resolver) -> Result<Layout, MissingMember> {
        let stats = ("arena_s", "stats");
        let pss = ("arena_stats_s", "pa_shard_stats");
        let pac_stats = ("pa_shard_stats_s", "pac_stats");
        let shard = ("arena_s", "pa_shard");
        let pac = ("pa_shard_s", "pac");
        let arena = ArenaOffsets {
            nthreads: r.member("arena_s", "nthreads")?,
            internal: r.path(&[stats, ("arena_stats_s", "internal")])?,
            lstats: r.path(&[stats, ("arena_stats_s", "lstats")])?,
            decay_stats_dirty: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "decay_dirty")])?,
            decay_stats_muzzy: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "decay_muzzy")])?,
            mapped: r.path(&[stats, pss, pac_stats, ("pac_stats_s", "pac_mapped")])?,
            abandoned_vm: Some(r.path(&[
                stats,
                pss,
                pac_stats,
                ("pac_stats_s", "abandoned_vm"),
            ])?),
            cache_bin_array_descriptor_ql: r.member("arena_s", "cache_bin_array_descriptor_ql")?,
            dss_prec: r.member("arena_s", "dss_prec")?,
            nactive: r.path(&[shard, ("pa_shard_s", "nactive")])?,
            ecache_dirty: r.path(&[shard, pac, ("pac_s", "ecache_dirty")])?,
            ecache_muzzy: r.path(&[shard, pac, ("pac_s", "ecache_muzzy")])?,
            ecache_retained: r.path(&[shard, pac, ("pac_s", "ecache_retained")])?,
            decay_dirty: r.path(&[shard, pac, ("pac_s", "decay_dirty")])?,
            decay_muzzy: r.path(&[shard, pac, ("pac_s", "decay_muzzy")])?,
            extent_avail: Some(r.path(&[
                shard,
                ("pa_shard_s", "edata_cache"),
                ("edata_cache_s", "count"),
            ])?),
            // pac.stats points back into the arena's own stats (pa_shard_init).
            own_stats: vec![(
                r.path(&[shard, pac, ("pac_s", "stats")])?,
                r.path(&[stats, pss, pac_stats])?,
            )],
            // The arena's index is stored in arena_t, pa_shard_t (and each ecache_t).
            ind: vec![
                r.member("arena_s", "ind")?,
                r.path(&[shard, ("pa_shard_s", "ind")])?,
            ],
            emap_ptr: Some(r.path(&[shard, ("pa_shard_s", "emap")])?),
            base: r.member("arena_s", "base")?,
            create_time: r.member("arena_s", "create_time")?,
            bins: r.member("arena_s", "bins")?,
            bins_ptr: None,
        };
        let mut esets = vec![r.member("ecache_s", "eset")?];
        // 5.3 added a second set for guarded extents (san); older 5.x have one.
        if let Some(g) = r.optional("ecache_s", "guarded_eset") {
            esets.push(g);
        }
        let bin_stats = r.member("eset_s", "bin_stats")?;
        let ecache = EcacheOffsets {
            esets,
            state: r.member("ecache_s", "state")?,
            ind: Some(r.member("ecache_s", "ind")?),
            eset_npages: r.member("eset_s", "npages")?,
            eset_state: r.member("eset_s", "state")?,
            per_size: Some(PerSizeOffsets {
                nextents: bin_stats + r.member("eset_bin_stats_s", "nextents")?,
                nbytes: bin_stats + r.member("eset_bin_stats_s", "nbytes")?,
                stride: r.size("eset_bin_stats_s")?,
            }),
        };
        let cache_bin = CacheBinOffsets {
            size: r.size("cache_bin_s")?,
            descriptor_next: r.member("cache_bin_array_descriptor_s", "link")?,
            bins: CacheBins::Stack(StackBins {
                stack_head: r.member("cache_bin_s", "stack_head")?,
                low_bits_full: r.member("cache_bin_s", "low_bits_full")?,
                low_bits_empty: r.member("cache_bin_s", "low_bits_empty")?,
                info_size: r.size("cache_bin_info_s")?,
                info_ncached_max: r.member("cache_bin_info_s", "ncached_max")?,
                descriptor_bins: r.member("cache_bin_array_descriptor_s", "bins")?,
                nbins_max: (r.size("tcache_s")? - r.member("tcache_s", "bins")?)
                    / r.size("cache_bin_s")?,
            }),
        };
        let tsd_member = |m: &str| r.member("tsd_s", &format!("{TSD_PREFIX}{m}"));
        let tsd = (|| {
            let tcache_slow = tsd_member("tcache_slow")?;
            Ok::<_, MissingMember>(TsdOffsets {
                descriptor: tcache_slow
                    + r.member("tcache_slow_s", "cache_bin_array_descriptor")?,
                owner: Owner::SlowPointsBack {
                    slow_tcache: tcache_slow + r.member("tcache_slow_s", "tcache")?,
                    tcache: tsd_member("tcache")?,
                },
                thread_allocated: tsd_member("thread_allocated")?,
                thread_deallocated: tsd_member("thread_deallocated")?,
            })
        })()
        .ok();
        Ok(Layout {
            source: r.src.describe(),
            features: Features::V5_3,
            muzzy_resident: false,
            arena,
            ecache,
            decay: decay_offsets(r, "decay_s")?,
            decay_stats: decay_stats_offsets(r, "pac_decay_stats_s")?,
            lstats: lstats_offsets(r, Some(r.member("arena_stats_large_s", "nflushes")?))?,
            base: base_offsets(r, None)?,
            bin: bin_offsets(r, true)?,
            bin_info: bin_info_offsets(r)?,
            cache_bin,
            tsd,
            rtree_root: r.optional("rtree_s", "root"),
        })
    }

    /// jemalloc 5.1 and 5.2: the arena keeps its extent caches (`extents_t`), decay state
    /// (`arena_decay_t`) and bins itself, and its statistics are computed as 5.1.0 / 5.2.1
    /// `src/arena.c` `arena_stats_merge` computes them.
    fn resolve_legacy(r: &Resolver) -> Result<Layout, MissingMember> {
        let stats = r.member("arena_s", "stats")?;
        let v52 = r.optional("bins_s", "bin_shards").is_some();
        let s = |m: &str| r.member("arena_stats_s", m).map(|o| stats + o);
        let decay_dirty = r.member("arena_s", "decay_dirty")?;
        let decay_muzzy = r.member("arena_s", "decay_muzzy")?;
        let decay_stats_dirty = s("decay_dirty")?;
        let decay_stats_muzzy = s("decay_muzzy")?;
        let decay_stats = r.member("arena_decay_s", "stats")?;
        let arena = ArenaOffsets {
            nthreads: r.member("arena_s", "nthreads")?,
            internal: s("internal")?,
            lstats: s("lstats")?,
            decay_stats_dirty,
            decay_stats_muzzy,
            mapped: s("mapped")?,
            abandoned_vm: r
                .optional("arena_stats_s", "abandoned_vm")
                .map(|o| stats + o),
            cache_bin_array_descriptor_ql: r.member("arena_s", "cache_bin_array_descriptor_ql")?,
            dss_prec: r.member("arena_s", "dss_prec")?,
            nactive: r.member("arena_s", "nactive")?,
            ecache_dirty: r.member("arena_s", "extents_dirty")?,
            ecache_muzzy: r.member("arena_s", "extents_muzzy")?,
            ecache_retained: r.member("arena_s", "extents_retained")?,
            decay_dirty,
            decay_muzzy,
            extent_avail: r.optional("arena_s", "extent_avail_cnt"),
            // Each decay state points at its own stats.
            own_stats: vec![
                (decay_dirty + decay_stats, decay_stats_dirty),
                (decay_muzzy + decay_stats, decay_stats_muzzy),
            ],
            ind: Vec::new(),
            emap_ptr: None,
            base: r.member("arena_s", "base")?,
            create_time: r.member("arena_s", "create_time")?,
            bins: r.member("arena_s", "bins")?,
            bins_ptr: if v52 {
                Some((r.member("bins_s", "bin_shards")?, r.size("bins_s")?))
            } else {
                None
            },
        };
        let state = r.member("extents_s", "state")?;
        let per_size = match (
            r.optional("extents_s", "nextents"),
            r.optional("extents_s", "nbytes"),
        ) {
            (Some(nextents), Some(nbytes)) => Some(PerSizeOffsets {
                nextents,
                nbytes,
                stride: 8,
            }),
            _ => None,
        };
        let ecache = EcacheOffsets {
            esets: vec![0],
            state,
            ind: None,
            eset_npages: r.member("extents_s", "npages")?,
            eset_state: state,
            per_size,
        };
        let tsd_prefix = if v52 { TSD_PREFIX } else { TSD_PREFIX_5_1 };
        let t = |m: &str| r.member("tsd_s", &format!("{tsd_prefix}{m}"));
        let tcache_descriptor = r.member("tcache_s", "cache_bin_array_descriptor")?;
        let tsd = (|| {
            Ok::<_, MissingMember>(TsdOffsets {
                descriptor: t("tcache")? + tcache_descriptor,
                owner: Owner::Ticker {
                    bypass: t("arenas_tdata_bypass")?,
                    narenas_tdata: t("narenas_tdata")?,
                    arenas_tdata: t("arenas_tdata")?,
                },
                thread_allocated: t("thread_allocated")?,
                thread_deallocated: t("thread_deallocated")?,
            })
        })()
        .ok();
        Ok(Layout {
            source: r.src.describe(),
            features: Features {
                fills_flushes: v52,
                nonfull_and_shards: v52,
                extents: v52,
                tcache_stashed: false,
                merged_large_nflushes: false,
            },
            muzzy_resident: true,
            arena,
            ecache,
            decay: decay_offsets(r, "arena_decay_s")?,
            decay_stats: decay_stats_offsets(r, "arena_stats_decay_s")?,
            lstats: lstats_offsets(r, r.optional("arena_stats_large_s", "nflushes"))?,
            base: base_offsets(r, Some(r.member("base_s", "ind")?))?,
            bin: bin_offsets(r, false)?,
            bin_info: bin_info_offsets(r)?,
            cache_bin: CacheBinOffsets {
                size: r.size("cache_bin_s")?,
                descriptor_next: r.member("cache_bin_array_descriptor_s", "link")?,
                bins: CacheBins::Ncached {
                    ncached: r.member("cache_bin_s", "ncached")?,
                    avail: r.member("cache_bin_s", "avail")?,
                    bins_small: r.member("cache_bin_array_descriptor_s", "bins_small")?,
                    bins_large: r.member("cache_bin_array_descriptor_s", "bins_large")?,
                },
            },
            tsd,
            rtree_root: r.optional("rtree_s", "root"),
        })
    }

    /// Whether this is 5.3's page allocator (extents in `pa_shard_t`, a global extent map).
    pub(crate) fn has_page_allocator(&self) -> bool {
        self.arena.emap_ptr.is_some()
    }
}

/// The decay state: 5.3 `decay_s`, 5.1/5.2 `arena_decay_s`.
fn decay_offsets(r: &Resolver, name: &str) -> Result<DecayOffsets, MissingMember> {
    Ok(DecayOffsets {
        time_ms: r.member(name, "time_ms")?,
        epoch: r.member(name, "epoch")?,
    })
}

/// A decay's purge counters: 5.3 `pac_decay_stats_s`, 5.1/5.2 `arena_stats_decay_s`.
fn decay_stats_offsets(r: &Resolver, name: &str) -> Result<DecayStatsOffsets, MissingMember> {
    Ok(DecayStatsOffsets {
        npurge: r.member(name, "npurge")?,
        nmadvise: r.member(name, "nmadvise")?,
        purged: r.member(name, "purged")?,
    })
}

/// `arena_stats_large_s`; `nflushes` as the family has it.
fn lstats_offsets(r: &Resolver, nflushes: Option<u64>) -> Result<LstatsOffsets, MissingMember> {
    let m = |name: &str| r.member("arena_stats_large_s", name);
    Ok(LstatsOffsets {
        size: r.size("arena_stats_large_s")?,
        nmalloc: m("nmalloc")?,
        ndalloc: m("ndalloc")?,
        nrequests: m("nrequests")?,
        nflushes,
    })
}

/// `base_s`; `ind` where the family keeps the arena's index there.
fn base_offsets(r: &Resolver, ind: Option<u64>) -> Result<BaseOffsets, MissingMember> {
    Ok(BaseOffsets {
        ind,
        allocated: r.member("base_s", "allocated")?,
        resident: r.member("base_s", "resident")?,
        mapped: r.member("base_s", "mapped")?,
        n_thp: r.member("base_s", "n_thp")?,
    })
}

/// `bin_t` with its `bin_stats_t` (`nonfull_slabs` required where `required_nonfull`).
fn bin_offsets(r: &Resolver, required_nonfull: bool) -> Result<BinOffsets, MissingMember> {
    let bs = r.member("bin_s", "stats")?;
    let st = |m: &str| r.member("bin_stats_s", m).map(|o| bs + o);
    Ok(BinOffsets {
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
        nonfull_slabs: if required_nonfull {
            Some(st("nonfull_slabs")?)
        } else {
            st("nonfull_slabs").ok()
        },
    })
}

fn bin_info_offsets(r: &Resolver) -> Result<BinInfoOffsets, MissingMember> {
    Ok(BinInfoOffsets {
        size: r.size("bin_info_s")?,
        reg_size: r.member("bin_info_s", "reg_size")?,
        slab_size: r.member("bin_info_s", "slab_size")?,
        nregs: r.member("bin_info_s", "nregs")?,
        n_shards: r.optional("bin_info_s", "n_shards"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_5_3_0_resolves_every_member() {
        let l = Layout::resolve(&JEMALLOC_5_3_0_X86_64).expect("complete table");
        // pa_shard (10648) + pac (24) + ecache_dirty (56)
        assert_eq!(l.arena.ecache_dirty, 10728);
        // stats (24) + pa_shard_stats (88) + pac_stats (8) + pac_mapped (56)
        assert_eq!(l.arena.mapped, 176);
        assert_eq!(l.ecache.esets, vec![112, 9768]);
        assert_eq!(l.bin.curregs, 112 + 24);
        let CacheBins::Stack(s) = &l.cache_bin.bins else {
            panic!("5.3 cache bins are stacks");
        };
        assert_eq!(s.nbins_max, 73);
        assert!(matches!(
            l.tsd.expect("tsd offsets").owner,
            Owner::SlowPointsBack { tcache: 856, .. }
        ));
    }

    #[test]
    fn builtin_legacy_tables_resolve() {
        let l52 = Layout::resolve(&JEMALLOC_5_2_1_X86_64).expect("5.2.1");
        assert!(l52.features.extents && l52.arena.bins_ptr.is_some());
        let l51 = Layout::resolve(&JEMALLOC_5_1_0_X86_64).expect("5.1.0");
        assert!(!l51.features.extents && l51.arena.bins_ptr.is_none());
        assert!(l51.ecache.per_size.is_none() && l51.arena.extent_avail.is_none());
    }

    #[test]
    fn builtin_aarch64_tables_resolve_with_their_families_features() {
        for t in [&JEMALLOC_5_3_0_AARCH64_64K, &JEMALLOC_5_3_0_AARCH64_4K] {
            let l = Layout::resolve(t).expect("5.3.0 aarch64");
            assert!(l.has_page_allocator(), "{}", t.config);
            // 48-byte pthread_mutex_t: every mutex is 8 bytes longer than on x86_64.
            assert_eq!(l.bin.curregs, 120 + 24, "{}", t.config);
        }
        let l52 = Layout::resolve(&JEMALLOC_5_2_1_AARCH64_64K).expect("5.2.1 aarch64");
        assert!(l52.features.extents && l52.arena.bins_ptr.is_some());
        let l51 = Layout::resolve(&JEMALLOC_5_1_0_AARCH64_64K).expect("5.1.0 aarch64");
        assert!(!l51.features.extents && l51.arena.bins_ptr.is_none());
    }

    #[test]
    fn tables_are_chosen_by_target_and_release() {
        use super::super::tables::builtin;
        use core_reader::{Arch, Os};
        let names = |os, arch, v| -> Vec<(&str, &str)> {
            builtin(os, arch, v)
                .into_iter()
                .map(|t| (t.version, t.config))
                .collect()
        };
        assert_eq!(names(Os::Linux, Arch::X86_64, Some((5, 3, 0))).len(), 1);
        let arm53 = names(Os::Linux, Arch::Aarch64, Some((5, 3, 0)));
        assert_eq!(arm53.len(), 2, "a table per page size: {arm53:?}");
        assert!(arm53[0].1.contains("64 KiB") && arm53[1].1.contains("4 KiB"));
        assert_eq!(names(Os::Linux, Arch::Aarch64, Some((5, 1, 0))).len(), 1);
        // An unknown version ("0.0.0") tries every table of the target.
        assert_eq!(names(Os::Linux, Arch::Aarch64, Some((0, 0, 0))).len(), 4);
        assert_eq!(names(Os::Linux, Arch::X86_64, None).len(), 3);
        assert!(names(Os::Linux, Arch::Aarch64, Some((5, 4, 0))).is_empty());
        assert!(names(Os::FreeBsd, Arch::X86_64, Some((5, 2, 1))).is_empty());
    }
}
