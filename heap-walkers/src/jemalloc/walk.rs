//! Reading jemalloc arenas from memory, for every family the [`Layout`] resolves.
//!
//! Every figure is computed the way jemalloc's own `stats.arenas.<i>` mallctls compute it
//! (5.3.0: src/ctl.c `ctl_arena_stats_amerge`, src/arena.c `arena_stats_merge`,
//! src/pa_extra.c `pa_shard_stats_merge`; 5.1.0 / 5.2.1: src/arena.c `arena_stats_merge`),
//! from the same fields, so that a core and a `malloc_stats_print` taken at the same instant
//! agree exactly. Where the versions differ, the layout's optional members say which way.

use std::borrow::Cow;

use core_reader::{Diagnostic, Memory};

use super::globals::Globals;
use super::layout::{BinInfoOffsets, CacheBins, Layout};
use super::model::{
    Arena, BinClass, BinStats, ClassTotals, DecayCounters, ExtentStats, LextentStats, Opts,
};
use super::sizes::{LARGEST_CLASS, LG_NGROUP};
use crate::scan;

/// Bound on a small class's slab: jemalloc 5.3 slabs are a few pages (sc.c `slab_size`: the
/// fewest pages that waste little), so 16 MiB is generous for any page size up to 64 KiB.
const MAX_SLAB: u64 = 16 << 20;

/// Bound on the bytes of one extent set's per-size counts read as a run: 5.3 has ~200
/// page-size classes of 16 bytes; a layout that asks for more is read count by count.
const MAX_ESET_RUN: usize = 64 << 10;

/// One extent set's address and its per-size counts read as one run (`None` where that run
/// is not all in the core: then they are read one by one).
type EsetRun<'m> = (u64, Option<Cow<'m, [u8]>>);

/// `extent_state_t` (5.3 edata.h, 5.1/5.2 extent_structs.h): the states the three extent
/// caches hold.
const STATE_DIRTY: u32 = 1;
const STATE_MUZZY: u32 = 2;
const STATE_RETAINED: u32 = 3;

/// `dss_prec_names` (src/extent_dss.c).
const DSS_NAMES: [&str; 3] = ["disabled", "primary", "secondary"];

/// Bounded walks of in-memory lists.
pub(crate) const MAX_TCACHES: usize = 1 << 16;

/// Size classes and thread-cache bins, read from jemalloc's own tables.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    pub page: u64,
    /// `sz_index2size_tab`: every size class.
    pub index2size: Vec<u64>,
    pub bins: Vec<BinClass>,
    pub npsizes: usize,
    /// Offset of each bin's first shard (5.2: of its `bins_t`) from the start of `arena_t`.
    pub bin_offsets: Vec<u64>,
    /// `ncached_max` per thread-cache bin (5.3 `tcache_bin_info[0..nhbins]`); `None` when
    /// those globals were not found (then every bin of a `tcache_t` is counted, and the
    /// stashed bytes, which need `ncached_max`, are unknown), and on 5.1/5.2.
    pub tcache_ncached_max: Option<Vec<u16>>,
    /// Bins a thread cache uses (`nhbins`).
    pub nhbins: usize,
}

impl Classes {
    pub fn nbins(&self) -> usize {
        self.bins.len()
    }

    pub fn lextent_sizes(&self) -> &[u64] {
        &self.index2size[self.nbins()..]
    }
}

pub(crate) fn read_u16(mem: &dyn Memory, addr: u64) -> Option<u16> {
    let mut b = [0u8; 2];
    mem.read_exact(addr, &mut b).then(|| u16::from_le_bytes(b))
}

pub(crate) fn read_u8(mem: &dyn Memory, addr: u64) -> Option<u8> {
    let mut b = [0u8; 1];
    mem.read_exact(addr, &mut b).then_some(b[0])
}

/// The size classes: `sz_index2size_tab` (every class, ending at the largest 64-bit class)
/// and `bin_infos` (the small ones), with the page size they imply.
fn read_size_classes(
    mem: &dyn Memory,
    g: &Globals,
    info: &BinInfoOffsets,
) -> Result<(u64, Vec<u64>, Vec<BinClass>), String> {
    let mut index2size = Vec::new();
    for i in 0..1024u64 {
        let Some(s) = mem.read_u64(g.index2size + 8 * i) else {
            return Err(format!(
                "the size class table (sz_index2size_tab at {:#x}) is not in the core",
                g.index2size
            ));
        };
        if index2size.last().is_some_and(|&p| s <= p) {
            return Err(format!(
                "the size class table at {:#x} is not increasing at entry {i} \
                 (jemalloc not initialized yet, or not the table it should be)",
                g.index2size
            ));
        }
        index2size.push(s);
        if s == LARGEST_CLASS {
            break;
        }
    }
    if index2size.last() != Some(&LARGEST_CLASS) {
        return Err("the size class table does not end where jemalloc's does".into());
    }
    // The smallest class's slab is one page (sc.c: its `pgs` is 1).
    let page = mem
        .read_u64(g.bin_infos + info.slab_size)
        .filter(|p| p.is_power_of_two() && *p >= 4096)
        .ok_or_else(|| format!("bin_infos at {:#x} unreadable or wrong", g.bin_infos))?;
    let large_min = page << LG_NGROUP;
    let nbins = index2size
        .iter()
        .position(|&s| s == large_min)
        .ok_or_else(|| format!("no size class of {large_min} bytes: page size {page} wrong?"))?;
    let mut bins = Vec::with_capacity(nbins);
    for i in 0..nbins as u64 {
        let at = g.bin_infos + i * info.size;
        let nshards = match info.n_shards {
            Some(o) => mem.read_u32(at + o),
            None => Some(1),
        };
        let (Some(size), Some(slab), Some(nregs), Some(nshards)) = (
            mem.read_u64(at + info.reg_size),
            mem.read_u64(at + info.slab_size),
            mem.read_u32(at + info.nregs),
            nshards,
        ) else {
            return Err(format!("bin_infos[{i}] at {at:#x} unreadable"));
        };
        // A slab holds its regions (sc.c: `nregs = slab_size / reg_size`); anything else is
        // not a bin_info_t, and an nregs from it must not size a listing.
        let fits = u64::from(nregs)
            .checked_mul(size)
            .is_some_and(|b| nregs > 0 && b <= slab && slab <= MAX_SLAB);
        if size != index2size[i as usize] || nshards == 0 || nshards > 64 || !fits {
            return Err(format!(
                "bin_infos[{i}] says {nregs} {size}-byte regions in {slab}-byte slabs, {nshards} \
                 shards, where the size class table says {}-byte regions: the layout of \
                 bin_info_t is not the built-in one",
                index2size[i as usize]
            ));
        }
        bins.push(BinClass {
            size,
            nregs,
            slab_size: slab,
            nshards,
        });
    }
    Ok((page, index2size, bins))
}

/// Reads the size-class tables (`sz_index2size_tab`, `bin_infos`), where each bin sits in
/// `arena_t`, and the thread-cache bin table.
pub(crate) fn read_classes(
    mem: &dyn Memory,
    g: &Globals,
    l: &Layout,
    problems: &mut Vec<Diagnostic>,
) -> Result<Classes, String> {
    let (page, index2size, bins) = read_size_classes(mem, g, &l.bin_info)?;
    complete_classes(mem, g, l, (page, index2size, bins), problems)
}

/// The classes of `sizes` (the page, every size class, the small classes' bins), with where
/// each bin sits in `arena_t` and the thread-cache bin table (read from the globals that
/// `g` names, computed from the layout where it names none).
pub(crate) fn complete_classes(
    mem: &dyn Memory,
    g: &Globals,
    l: &Layout,
    sizes: (u64, Vec<u64>, Vec<BinClass>),
    problems: &mut Vec<Diagnostic>,
) -> Result<Classes, String> {
    let (page, index2size, bins) = sizes;
    let npsizes = index2size.iter().filter(|&&s| s % page == 0).count();
    let nbins = bins.len();
    let mut bin_offsets = Vec::with_capacity(nbins);
    match g.arena_bin_offsets {
        Some(at) => {
            for i in 0..nbins as u64 {
                let off = mem
                    .read_u32(at + 4 * i)
                    .ok_or_else(|| format!("arena_bin_offsets[{i}] unreadable"))?;
                bin_offsets.push(u64::from(off));
            }
        }
        None => {
            let mut off = l.arena.bins;
            for b in &bins {
                bin_offsets.push(off);
                off += match l.arena.bins_ptr {
                    Some((_, bins_t_size)) => bins_t_size,
                    None => u64::from(b.nshards) * l.bin.size,
                };
            }
        }
    }
    if bin_offsets.first() != Some(&l.arena.bins) {
        return Err(format!(
            "the first bin is at offset {:?} of arena_t, the layout says {}: \
             this jemalloc's arena_t is not the built-in one",
            bin_offsets.first(),
            l.arena.bins
        ));
    }
    let mut tcache_ncached_max = None;
    let nhbins = match &l.cache_bin.bins {
        CacheBins::Stack(cb) => {
            // Without nhbins / tcache_bin_info every bin of each tcache_t is counted
            // (unused bins hold nothing) and only the stashed bytes, which need
            // ncached_max, stay unknown.
            tcache_ncached_max = match (g.nhbins.and_then(|a| mem.read_u32(a)), g.tcache_bin_info) {
                (Some(n), Some(info)) if n as usize <= index2size.len() => mem
                    .read_u64(info)
                    .and_then(|table| {
                        (0..u64::from(n))
                            .map(|i| read_u16(mem, table + i * cb.info_size + cb.info_ncached_max))
                            .collect::<Option<Vec<u16>>>()
                    })
                    .or_else(|| {
                        problems.push(Diagnostic::at(
                            "tcache_bin_info_unreadable",
                            info,
                            "tcache_bin_info unreadable: thread caches' stashed bytes \
                                 left out",
                        ));
                        None
                    }),
                _ => None,
            };
            match &tcache_ncached_max {
                Some(v) => v.len(),
                None => (cb.nbins_max as usize).min(index2size.len()),
            }
        }
        CacheBins::Ncached { .. } => g
            .nhbins
            .and_then(|a| mem.read_u32(a))
            .map_or(nbins, |n| n as usize)
            .min(index2size.len()),
    };
    Ok(Classes {
        page,
        index2size,
        bins,
        npsizes,
        bin_offsets,
        tcache_ncached_max,
        nhbins,
    })
}

/// `opt.*` values whose symbols exist.
pub(crate) fn read_opts(mem: &dyn Memory, g: &Globals) -> Opts {
    let i64_at = |a: Option<u64>| a.and_then(|a| mem.read_u64(a)).map(|v| v as i64);
    let bool_at = |a: Option<u64>| a.and_then(|a| read_u8(mem, a)).map(|v| v != 0);
    Opts {
        dirty_decay_ms: i64_at(g.opt_dirty_decay_ms),
        muzzy_decay_ms: i64_at(g.opt_muzzy_decay_ms),
        narenas: g.opt_narenas.and_then(|a| mem.read_u32(a)),
        retain: bool_at(g.opt_retain),
        background_thread: bool_at(g.opt_background_thread),
        tcache: bool_at(g.opt_tcache),
    }
}

/// Reads `u64`s of one arena, remembering which could not be read (counted as 0).
struct Reader<'a> {
    mem: &'a dyn Memory,
    missing: Vec<&'static str>,
}

impl Reader<'_> {
    fn u64(&mut self, what: &'static str, at: u64) -> u64 {
        self.mem.read_u64(at).unwrap_or_else(|| {
            self.missing.push(what);
            0
        })
    }

    fn opt(&mut self, what: &'static str, at: Option<u64>) -> u64 {
        at.map_or(0, |at| self.u64(what, at))
    }
}

/// Reads one arena. `Err` when the arena's own fields contradict the layout (it does not
/// know its index, its extent caches are not in their states): then nothing read from it
/// could be trusted.
pub(crate) fn read_arena(
    mem: &dyn Memory,
    l: &Layout,
    c: &Classes,
    index: u32,
    a: u64,
    problems: &mut Vec<Diagnostic>,
) -> Result<(Arena, Vec<CacheSeen>), Diagnostic> {
    check_arena(mem, l, index, a)?;
    let o = &l.arena;
    let mut r = Reader {
        mem,
        missing: Vec::new(),
    };
    let nthreads = mem.read_u32(a.wrapping_add(o.nthreads)).unwrap_or(0);
    let dss = mem
        .read_u32(a.wrapping_add(o.dss_prec))
        .and_then(|d| DSS_NAMES.get(d as usize).copied())
        .unwrap_or("N/A")
        .to_string();
    let dirty_decay_ms = r.u64(
        "dirty decay",
        a.wrapping_add(o.decay_dirty + l.decay.time_ms),
    ) as i64;
    let muzzy_decay_ms = r.u64(
        "muzzy decay",
        a.wrapping_add(o.decay_muzzy + l.decay.time_ms),
    ) as i64;
    let pactive = r.u64("nactive", a.wrapping_add(o.nactive));

    // ecache_npages_get: the sum over the cache's sets (5.3: eset and guarded_eset).
    let npages = |r: &mut Reader, ecache: u64| -> u64 {
        l.ecache.esets.iter().fold(0u64, |n, e| {
            n.wrapping_add(r.u64(
                "eset npages",
                a.wrapping_add(ecache + e + l.ecache.eset_npages),
            ))
        })
    };
    let pdirty = npages(&mut r, o.ecache_dirty);
    let pmuzzy = npages(&mut r, o.ecache_muzzy);
    let retained_pages = npages(&mut r, o.ecache_retained);

    let counters = |r: &mut Reader, at: u64| DecayCounters {
        npurge: r.u64("decay counters", at.wrapping_add(l.decay_stats.npurge)),
        nmadvise: r.u64("decay counters", at.wrapping_add(l.decay_stats.nmadvise)),
        purged: r.u64("decay counters", at.wrapping_add(l.decay_stats.purged)),
    };
    let dirty = counters(&mut r, a.wrapping_add(o.decay_stats_dirty));
    let muzzy = counters(&mut r, a.wrapping_add(o.decay_stats_muzzy));

    let mapped = r.u64("mapped", a.wrapping_add(o.mapped));
    let abandoned_vm = r.opt(
        "abandoned_vm",
        o.abandoned_vm.map(|off| a.wrapping_add(off)),
    );
    let internal = r.u64("internal", a.wrapping_add(o.internal));
    let extent_avail = r.opt(
        "extent_avail",
        o.extent_avail.map(|off| a.wrapping_add(off)),
    );
    let base_ptr = r.u64("base", a.wrapping_add(o.base));
    let (base_allocated, base_resident, base_mapped, base_thp) = if base_ptr == 0 {
        (0, 0, 0, 0)
    } else {
        (
            r.u64("base allocated", base_ptr.wrapping_add(l.base.allocated)),
            r.u64("base resident", base_ptr.wrapping_add(l.base.resident)),
            r.u64("base mapped", base_ptr.wrapping_add(l.base.mapped)),
            r.u64("base n_thp", base_ptr.wrapping_add(l.base.n_thp)),
        )
    };

    // Large classes: arena_stats_merge.
    let mut lextents = Vec::with_capacity(c.lextent_sizes().len());
    let mut large = ClassTotals::default();
    for (j, &size) in c.lextent_sizes().iter().enumerate() {
        let at = a.wrapping_add(o.lstats + j as u64 * l.lstats.size);
        let nmalloc = r.u64("lstats", at.wrapping_add(l.lstats.nmalloc));
        let ndalloc = r.u64("lstats", at.wrapping_add(l.lstats.ndalloc));
        let nrequests = nmalloc.wrapping_add(r.u64("lstats", at.wrapping_add(l.lstats.nrequests)));
        let nflushes = r.opt("lstats", l.lstats.nflushes.map(|off| at.wrapping_add(off)));
        let curlextents = nmalloc.saturating_sub(ndalloc);
        large += ClassTotals {
            allocated: curlextents.saturating_mul(size),
            nmalloc,
            ndalloc,
            nrequests,
            // "nfill == nmalloc for large currently" (5.3 arena_stats_merge), and the
            // ctl reads nmalloc_large for large.nfills.
            nfills: nmalloc,
            nflushes,
        };
        lextents.push(LextentStats {
            nmalloc,
            ndalloc,
            nrequests,
            curlextents,
        });
    }

    // Bins: bin_stats_merge over every shard; small totals: ctl_arena_stats_amerge.
    let mut bins = Vec::with_capacity(c.nbins());
    let mut small = ClassTotals::default();
    for (i, class) in c.bins.iter().enumerate() {
        let first = match o.bins_ptr {
            // 5.2: the shards are elsewhere, bins_t points at them.
            Some((ptr, _)) => r.u64("bins", a.wrapping_add(c.bin_offsets[i] + ptr)),
            None => a.wrapping_add(c.bin_offsets[i]),
        };
        let mut s = BinStats::default();
        for shard in 0..u64::from(class.nshards) {
            let b = first.wrapping_add(shard * l.bin.size);
            s += BinStats {
                nmalloc: r.u64("bin", b.wrapping_add(l.bin.nmalloc)),
                ndalloc: r.u64("bin", b.wrapping_add(l.bin.ndalloc)),
                nrequests: r.u64("bin", b.wrapping_add(l.bin.nrequests)),
                curregs: r.u64("bin", b.wrapping_add(l.bin.curregs)),
                nfills: r.u64("bin", b.wrapping_add(l.bin.nfills)),
                nflushes: r.u64("bin", b.wrapping_add(l.bin.nflushes)),
                nslabs: r.u64("bin", b.wrapping_add(l.bin.nslabs)),
                nreslabs: r.u64("bin", b.wrapping_add(l.bin.reslabs)),
                curslabs: r.u64("bin", b.wrapping_add(l.bin.curslabs)),
                nonfull_slabs: r.opt("bin", l.bin.nonfull_slabs.map(|off| b.wrapping_add(off))),
            };
        }
        small += ClassTotals {
            allocated: s.curregs.saturating_mul(class.size),
            nmalloc: s.nmalloc,
            ndalloc: s.ndalloc,
            nrequests: s.nrequests,
            nfills: s.nfills,
            nflushes: s.nflushes,
        };
        bins.push(s);
    }

    // Free extents per page-size class (5.3 pa_shard_stats_merge; 5.2 arena_stats_merge).
    let mut extents = Vec::new();
    if let Some(ps) = &l.ecache.per_size {
        // Each set's counts are one run of bytes (npsizes entries, ~3 KiB): read once per
        // set rather than twice per class and set.
        let lo = ps.nextents.min(ps.nbytes);
        let len = (ps.nextents.max(ps.nbytes) - lo)
            .saturating_add(
                (c.npsizes as u64)
                    .saturating_sub(1)
                    .saturating_mul(ps.stride),
            )
            .saturating_add(8);
        let tables = |ecache: u64| -> Vec<EsetRun<'_>> {
            l.ecache
                .esets
                .iter()
                .map(|e| {
                    let set = a.wrapping_add(ecache + e);
                    let run = usize::try_from(len)
                        .ok()
                        .filter(|&n| n <= MAX_ESET_RUN)
                        .and_then(|n| scan::block(mem, set.wrapping_add(lo), n));
                    (set, run)
                })
                .collect()
        };
        let (dirty, muzzy, retained) = (
            tables(o.ecache_dirty),
            tables(o.ecache_muzzy),
            tables(o.ecache_retained),
        );
        for p in 0..c.npsizes as u64 {
            let count = |r: &mut Reader, sets: &[EsetRun<'_>]| -> (u64, u64) {
                let mut read = |(set, run): &EsetRun<'_>, off: u64| {
                    let at = off.wrapping_add(p.wrapping_mul(ps.stride));
                    match run {
                        // The run holds every count of the set: `at - lo` is within it.
                        Some(b) => scan::word(b, at.wrapping_sub(lo)),
                        None => r.u64("eset bin_stats", set.wrapping_add(at)),
                    }
                };
                sets.iter().fold((0, 0), |(n, b), set| {
                    (
                        n.wrapping_add(read(set, ps.nextents)),
                        b.wrapping_add(read(set, ps.nbytes)),
                    )
                })
            };
            let (ndirty, dirty_bytes) = count(&mut r, &dirty);
            let (nmuzzy, muzzy_bytes) = count(&mut r, &muzzy);
            let (nretained, retained_bytes) = count(&mut r, &retained);
            extents.push(ExtentStats {
                ndirty,
                nmuzzy,
                nretained,
                dirty_bytes,
                muzzy_bytes,
                retained_bytes,
            });
        }
    }

    let create_time = mem.read_u64(a.wrapping_add(o.create_time));
    let epoch = mem.read_u64(a.wrapping_add(o.decay_dirty + l.decay.epoch));
    let dirty_decay_epoch_age_ns = match (create_time, epoch) {
        (Some(c), Some(e)) => Some(e.wrapping_sub(c) as i64),
        _ => None,
    };

    let before = problems.len();
    let caches = read_tcaches(mem, l, c, a, index, problems);
    // Unknown when a cache could not be read (a truncated core that lost the threads' TLS):
    // the caches read are a part, not the figure.
    let all_read = !problems[before..]
        .iter()
        .any(|p| p.kind.starts_with("tcache_"));
    let tcache_bytes = all_read.then(|| {
        caches
            .iter()
            .fold(0u64, |n, t| n.wrapping_add(t.as_jemalloc))
    });
    let tcache_stashed_bytes = if l.features.tcache_stashed {
        caches
            .iter()
            .try_fold(0u64, |n, t| Some(n.wrapping_add(t.stashed?)))
    } else {
        None
    };

    let mut missing = r.missing;
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        problems.push(Diagnostic::at(
            "arena_partly_unreadable",
            a,
            format!(
                "arena {index} at {a:#x}: unreadable, counted as 0: {}",
                missing.join(", ")
            ),
        ));
    }
    // Counters from memory are jemalloc's size_t: modular, like its own sums.
    let resident_pages = if l.muzzy_resident {
        pactive.wrapping_add(pdirty).wrapping_add(pmuzzy)
    } else {
        pactive.wrapping_add(pdirty)
    };

    Ok((
        Arena {
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
            mapped: base_mapped.wrapping_add(mapped),
            retained: retained_pages.wrapping_mul(c.page),
            base: base_allocated,
            internal,
            metadata_thp: base_thp,
            resident: base_resident.wrapping_add(resident_pages.wrapping_mul(c.page)),
            abandoned_vm,
            extent_avail,
            tcache_bytes,
            tcache_stashed_bytes,
            small,
            large,
            bins,
            lextents,
            extents,
            tcaches: caches.len(),
            dirty_decay_epoch_age_ns,
        },
        caches,
    ))
}

/// The layout self-checks: an arena stores its own index (5.3: in `arena_t`, `pa_shard_t`
/// and each `ecache_t`; 5.1/5.2: in its base), each extent cache and set its state, and
/// pointers into the arena's own stats point there (5.3 `pac.stats`, 5.1/5.2 each decay's
/// `stats`). A wrong layout (or a pointer that is not an arena) fails them.
fn check_arena(mem: &dyn Memory, l: &Layout, index: u32, a: u64) -> Result<(), Diagnostic> {
    let Some(misfit) = arena_misfit(mem, l, index, a) else {
        return Ok(());
    };
    let what = match misfit {
        Misfit::Unreadable => {
            return Err(Diagnostic::at(
                "arena_unreadable",
                a,
                format!("arena {index}: arena_t (not in the core?) at {a:#x} unreadable"),
            ));
        }
        Misfit::NoBase => "has no base".to_string(),
        Misfit::Index(inds) => format!("calls itself {inds:?}"),
        Misfit::Cache { name, state, ind } => {
            format!("has a {name} extent cache that says state {state:?}, arena {ind:?}")
        }
        Misfit::Stats { points, own } => {
            format!("points at stats {points:x?}, not its own at {own:#x}")
        }
    };
    Err(Diagnostic::at(
        "layout_mismatch",
        a,
        format!(
            "arena {index} at {a:#x} {what}: the layout ({}) does not fit this jemalloc build",
            l.source
        ),
    ))
}

/// Whether an `arena_t` at `a` passes [`check_arena`]'s self-checks, without saying why
/// not: the searches for arenas by content ask it of every aligned word they meet, and
/// building a message for each miss cost more than the checks.
pub(crate) fn arena_fits(mem: &dyn Memory, l: &Layout, index: u32, a: u64) -> bool {
    arena_misfit(mem, l, index, a).is_none()
}

/// What an `arena_t` at `a` contradicts, if anything.
enum Misfit {
    Unreadable,
    NoBase,
    /// The indexes it and its base give itself.
    Index(Vec<Option<u32>>),
    Cache {
        name: &'static str,
        state: Option<u32>,
        ind: Option<Option<u32>>,
    },
    Stats {
        points: Option<u64>,
        own: u64,
    },
}

fn arena_misfit(mem: &dyn Memory, l: &Layout, index: u32, a: u64) -> Option<Misfit> {
    let o = &l.arena;
    let Some(base) = mem.read_u64(a.wrapping_add(o.base)) else {
        return Some(Misfit::Unreadable);
    };
    // Every arena has its base (5.3 arena.c `arena_new`; 5.1/5.2 alike): this one test
    // turns away the zeros a search by content mostly meets.
    if base == 0 {
        return Some(Misfit::NoBase);
    }
    let inds = || {
        o.ind
            .iter()
            .map(|off| mem.read_u32(a.wrapping_add(*off)))
            .chain(l.base.ind.map(|off| mem.read_u32(base.wrapping_add(off))))
    };
    if inds().any(|i| i != Some(index)) {
        return Some(Misfit::Index(inds().collect()));
    }
    for (off, state, name) in [
        (o.ecache_dirty, STATE_DIRTY, "dirty"),
        (o.ecache_muzzy, STATE_MUZZY, "muzzy"),
        (o.ecache_retained, STATE_RETAINED, "retained"),
    ] {
        let s = mem.read_u32(a.wrapping_add(off + l.ecache.state));
        let i = l.ecache.ind.map(|i| mem.read_u32(a.wrapping_add(off + i)));
        let set_states_ok =
            l.ecache.esets.iter().all(|e| {
                mem.read_u32(a.wrapping_add(off + e + l.ecache.eset_state)) == Some(state)
            });
        if s != Some(state) || i.is_some_and(|i| i != Some(index)) || !set_states_ok {
            return Some(Misfit::Cache {
                name,
                state: s,
                ind: i,
            });
        }
    }
    for &(at, own) in &o.own_stats {
        let p = mem.read_u64(a.wrapping_add(at));
        if p != Some(a.wrapping_add(own)) {
            return Some(Misfit::Stats {
                points: p,
                own: a.wrapping_add(own),
            });
        }
    }
    None
}

/// One thread cache bound to an arena, as its descriptor shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheSeen {
    /// The `cache_bin_array_descriptor_t` (5.3: inside `tcache_slow_t`; 5.1/5.2: inside
    /// `tcache_t`).
    pub descriptor: u64,
    /// Bytes cached, counted per class correctly.
    pub bytes: u64,
    pub regions: u64,
    pub stashed: Option<u64>,
    /// The bytes jemalloc's own `tcache_bytes` counts (see [`read_tcaches`]).
    pub as_jemalloc: u64,
}

/// The thread caches bound to the arena: its `cache_bin_array_descriptor_ql` ring, each
/// descriptor's bins counted as jemalloc counts them. 5.3: `cache_bin_nitems_get_remote`
/// (cache_bin.h: 16-bit differences of the stack pointer's low bits); 5.1/5.2: `ncached`.
///
/// Folklore: jemalloc 5.1.0 and 5.2.1 `arena_stats_merge` count the large bins of each
/// cache as `descriptor->bins_large[i]` for `i` from `NBINS` to `nhbins`, but `bins_large`
/// starts at class `NBINS` (tcache.c `tcache_large_bin_get` subtracts it), so the figure
/// jemalloc prints reads the bins of classes 36 to 72 too far and misses the large classes
/// actually cached (fixed in 5.3 with the unified `bins` array). The arena's
/// `tcache_bytes` repeats that computation (`as_jemalloc`), to equal `malloc_stats_print`;
/// each cache's own bytes, used by the thread view and the findings, are counted correctly.
pub(crate) fn read_tcaches(
    mem: &dyn Memory,
    l: &Layout,
    c: &Classes,
    a: u64,
    index: u32,
    problems: &mut Vec<Diagnostic>,
) -> Vec<CacheSeen> {
    let cb = &l.cache_bin;
    let mut out = Vec::new();
    let ql = a.wrapping_add(l.arena.cache_bin_array_descriptor_ql);
    let Some(first) = mem.read_u64(ql) else {
        problems.push(Diagnostic::at(
            "tcache_unreadable",
            ql,
            format!("arena {index}: thread-cache list unreadable"),
        ));
        return out;
    };
    let mut d = first;
    while d != 0 {
        if out.len() >= MAX_TCACHES {
            problems.push(Diagnostic::at(
                "tcache_list_too_long",
                d,
                format!(
                    "arena {index}: thread-cache list longer than {MAX_TCACHES}: stopped \
                     (a loop?)"
                ),
            ));
            break;
        }
        let seen = match &cb.bins {
            CacheBins::Stack(s) => mem.read_u64(d.wrapping_add(s.descriptor_bins)).map(|bins| {
                let mut seen = CacheSeen {
                    descriptor: d,
                    bytes: 0,
                    regions: 0,
                    stashed: c.tcache_ncached_max.as_ref().map(|_| 0),
                    as_jemalloc: 0,
                };
                for i in 0..c.nhbins {
                    let b = bins.wrapping_add(i as u64 * cb.size);
                    let (Some(head), Some(full), Some(empty)) = (
                        mem.read_u64(b.wrapping_add(s.stack_head)),
                        read_u16(mem, b.wrapping_add(s.low_bits_full)),
                        read_u16(mem, b.wrapping_add(s.low_bits_empty)),
                    ) else {
                        problems.push(Diagnostic::at(
                            "tcache_unreadable",
                            b,
                            format!("arena {index}: thread cache bin at {b:#x} unreadable"),
                        ));
                        break;
                    };
                    let size = c.index2size.get(i).copied().unwrap_or(0);
                    let n = u64::from(empty.wrapping_sub(head as u16)) / 8;
                    // jemalloc's own sums are size_t: modular.
                    seen.bytes = seen.bytes.wrapping_add(n.wrapping_mul(size));
                    seen.regions += n;
                    if let (Some(max), Some(st)) = (
                        c.tcache_ncached_max.as_ref().and_then(|v| v.get(i)),
                        seen.stashed.as_mut(),
                    ) {
                        let low_bound = empty.wrapping_sub(max.wrapping_mul(8));
                        *st = st.wrapping_add(
                            (u64::from(full.wrapping_sub(low_bound)) / 8).wrapping_mul(size),
                        );
                    }
                }
                seen.as_jemalloc = seen.bytes;
                seen
            }),
            CacheBins::Ncached {
                ncached,
                bins_small,
                bins_large,
                ..
            } => match (
                mem.read_u64(d.wrapping_add(*bins_small)),
                mem.read_u64(d.wrapping_add(*bins_large)),
            ) {
                (Some(small), Some(large)) => {
                    let nbins = c.nbins();
                    let count = |bin: u64| {
                        mem.read_u32(bin.wrapping_add(*ncached))
                            .map_or(0, u64::from)
                    };
                    let mut seen = CacheSeen {
                        descriptor: d,
                        bytes: 0,
                        regions: 0,
                        stashed: None,
                        as_jemalloc: 0,
                    };
                    for i in 0..c.nhbins {
                        let size = c.index2size[i];
                        let (bin, buggy) = if i < nbins {
                            let b = small.wrapping_add(i as u64 * cb.size);
                            (b, b)
                        } else {
                            (
                                large.wrapping_add((i - nbins) as u64 * cb.size),
                                large.wrapping_add(i as u64 * cb.size),
                            )
                        };
                        let n = count(bin);
                        seen.bytes = seen.bytes.wrapping_add(n.wrapping_mul(size));
                        seen.regions = seen.regions.wrapping_add(n);
                        seen.as_jemalloc = seen
                            .as_jemalloc
                            .wrapping_add(count(buggy).wrapping_mul(size));
                    }
                    Some(seen)
                }
                _ => None,
            },
        };
        let Some(seen) = seen else {
            problems.push(Diagnostic::at(
                "tcache_unreadable",
                d,
                format!("arena {index}: thread cache descriptor at {d:#x} unreadable"),
            ));
            break;
        };
        out.push(seen);
        match mem.read_u64(d.wrapping_add(cb.descriptor_next)) {
            Some(next) if next != first => d = next,
            Some(_) => break,
            None => {
                problems.push(Diagnostic::at(
                    "tcache_unreadable",
                    d,
                    format!("arena {index}: thread cache list broken at {d:#x}"),
                ));
                break;
            }
        }
    }
    out
}
