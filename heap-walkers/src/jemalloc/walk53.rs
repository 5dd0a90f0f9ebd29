//! Reading jemalloc 5.3 arenas from memory.
//!
//! Every figure is computed the way jemalloc 5.3.0's own `stats.arenas.<i>` mallctls compute
//! it (src/ctl.c `ctl_arena_stats_amerge`, src/arena.c `arena_stats_merge`, src/pa_extra.c
//! `pa_shard_stats_merge`), from the same fields, so that a core and a `malloc_stats_print`
//! taken at the same instant agree exactly.

use core_reader::Memory;

use super::discover::Globals;
use super::layout::{BinInfoOffsets, Layout53};
use super::model::{
    Arena, BinClass, BinStats, ClassTotals, DecayCounters, ExtentStats, LextentStats, Opts,
};

/// `MALLOCX_ARENA_LIMIT` (include/jemalloc/internal/jemalloc_internal_types.h, 5.x): the
/// length of the `arenas` array.
pub(crate) const ARENA_LIMIT: u64 = 4095;

/// The largest size class on 64-bit targets, `2^62 + 3 * 2^60` (sc.h: the last group
/// has lg_base `SC_PTR_BITS - 2`), which ends `sz_index2size_tab`.
const LARGEST_CLASS: u64 = 0x7000_0000_0000_0000;

/// `SC_LG_NGROUP` (sc.h): the large classes start at `page << SC_LG_NGROUP`.
const LG_NGROUP: u32 = 2;

/// `extent_state_t` (edata.h): the states the three extent caches hold.
const STATE_DIRTY: u32 = 1;
const STATE_MUZZY: u32 = 2;
const STATE_RETAINED: u32 = 3;

/// `dss_prec_names` (src/extent_dss.c).
const DSS_NAMES: [&str; 3] = ["disabled", "primary", "secondary"];

/// Bounded walks of in-memory lists.
const MAX_TCACHES: usize = 1 << 16;

/// Size classes and thread-cache bins, read from jemalloc's own tables.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    pub page: u64,
    /// `sz_index2size_tab`: every size class.
    pub index2size: Vec<u64>,
    pub bins: Vec<BinClass>,
    pub npsizes: usize,
    /// Offset of each bin's first shard from the start of `arena_t`.
    pub bin_offsets: Vec<u64>,
    /// `ncached_max` per thread-cache bin (`tcache_bin_info[0..nhbins]`); `None` when
    /// those globals were not found (then every bin of a `tcache_t` is counted, and the
    /// stashed bytes, which need `ncached_max`, are unknown).
    pub tcache_ncached_max: Option<Vec<u16>>,
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
pub(crate) struct SizeClasses {
    pub page: u64,
    pub index2size: Vec<u64>,
    pub bins: Vec<BinClass>,
    pub npsizes: usize,
}

pub(crate) fn read_size_classes(
    mem: &dyn Memory,
    g: &Globals,
    info: &BinInfoOffsets,
) -> Result<SizeClasses, String> {
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
        if size != index2size[i as usize] || nshards == 0 || nshards > 64 {
            return Err(format!(
                "bin_infos[{i}] says {size}-byte regions in {nshards} shards where the size \
                 class table says {}: the layout of bin_info_t is not the built-in one",
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
    let npsizes = index2size.iter().filter(|&&s| s % page == 0).count();
    Ok(SizeClasses {
        page,
        index2size,
        bins,
        npsizes,
    })
}

/// Reads the size-class tables (`sz_index2size_tab`, `bin_infos`) and the thread-cache
/// bin table.
pub(crate) fn read_classes(
    mem: &dyn Memory,
    g: &Globals,
    l: &Layout53,
    problems: &mut Vec<String>,
) -> Result<Classes, String> {
    let SizeClasses {
        page,
        index2size,
        bins,
        npsizes,
    } = read_size_classes(mem, g, &l.bin_info)?;
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
                off += u64::from(b.nshards) * l.bin.size;
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
    // Without nhbins / tcache_bin_info every bin of each tcache_t is counted (unused bins
    // hold nothing) and only the stashed bytes, which need ncached_max, stay unknown.
    let tcache_ncached_max = match (g.nhbins.and_then(|a| mem.read_u32(a)), g.tcache_bin_info) {
        (Some(n), Some(info)) if n as usize <= index2size.len() => mem
            .read_u64(info)
            .and_then(|table| {
                (0..u64::from(n))
                    .map(|i| {
                        read_u16(
                            mem,
                            table + i * l.cache_bin.info_size + l.cache_bin.info_ncached_max,
                        )
                    })
                    .collect::<Option<Vec<u16>>>()
            })
            .or_else(|| {
                problems.push(
                    "tcache_bin_info unreadable: thread caches' stashed bytes left out".into(),
                );
                None
            }),
        _ => None,
    };
    Ok(Classes {
        page,
        index2size,
        bins,
        npsizes,
        bin_offsets,
        tcache_ncached_max,
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

/// Reads one arena. `Err` when the arena's own fields contradict the layout (it does not
/// know its index, its extent caches are not in their states): then nothing read from it
/// could be trusted.
pub(crate) fn read_arena(
    mem: &dyn Memory,
    l: &Layout53,
    c: &Classes,
    index: u32,
    a: u64,
    problems: &mut Vec<String>,
) -> Result<(Arena, Vec<CacheSeen>), String> {
    check_arena(mem, l, index, a)?;
    let o = &l.arena;

    let mut missing = Vec::new();
    let mut u64_at = |what: &'static str, at: u64| -> u64 {
        mem.read_u64(at).unwrap_or_else(|| {
            missing.push(what);
            0
        })
    };
    let nthreads = mem.read_u32(a + o.nthreads).unwrap_or(0);
    let dss = match mem.read_u32(a + o.dss_prec) {
        Some(d) => DSS_NAMES
            .get(d as usize)
            .copied()
            .unwrap_or("N/A")
            .to_string(),
        None => "N/A".to_string(),
    };
    let dirty_decay_ms = u64_at("dirty decay", a + o.decay_dirty + l.decay.time_ms) as i64;
    let muzzy_decay_ms = u64_at("muzzy decay", a + o.decay_muzzy + l.decay.time_ms) as i64;
    let pactive = u64_at("nactive", a + o.nactive);

    // ecache_npages_get: the sum over the cache's esets (5.3: eset and guarded_eset).
    let mut npages = |ecache: u64| -> u64 {
        l.ecache
            .esets
            .iter()
            .map(|e| u64_at("eset npages", a + ecache + e + l.ecache.eset_npages))
            .sum()
    };
    let pdirty = npages(o.ecache_dirty);
    let pmuzzy = npages(o.ecache_muzzy);
    let retained_pages = npages(o.ecache_retained);

    let decay_counters = |missing: &mut Vec<&'static str>, at: u64| {
        let mut get = |off: u64| {
            mem.read_u64(at + off).unwrap_or_else(|| {
                missing.push("decay counters");
                0
            })
        };
        DecayCounters {
            npurge: get(l.decay_stats.npurge),
            nmadvise: get(l.decay_stats.nmadvise),
            purged: get(l.decay_stats.purged),
        }
    };
    let dirty = decay_counters(&mut missing, a + o.decay_stats_dirty);
    let muzzy = decay_counters(&mut missing, a + o.decay_stats_muzzy);

    let mut u64_at = |what: &'static str, at: u64| -> u64 {
        mem.read_u64(at).unwrap_or_else(|| {
            missing.push(what);
            0
        })
    };
    let pac_mapped = u64_at("pac_mapped", a + o.pac_mapped);
    let abandoned_vm = u64_at("abandoned_vm", a + o.abandoned_vm);
    let internal = u64_at("internal", a + o.internal);
    let extent_avail = u64_at("edata_cache.count", a + o.edata_cache_count);
    let base_ptr = u64_at("base", a + o.base);
    let (base_allocated, base_resident, base_mapped, base_thp) = if base_ptr == 0 {
        (0, 0, 0, 0)
    } else {
        (
            u64_at("base allocated", base_ptr + l.base.allocated),
            u64_at("base resident", base_ptr + l.base.resident),
            u64_at("base mapped", base_ptr + l.base.mapped),
            u64_at("base n_thp", base_ptr + l.base.n_thp),
        )
    };

    // Large classes: arena_stats_merge.
    let mut lextents = Vec::with_capacity(c.lextent_sizes().len());
    let mut large = ClassTotals::default();
    for (j, &size) in c.lextent_sizes().iter().enumerate() {
        let at = a + o.lstats + j as u64 * l.lstats.size;
        let nmalloc = u64_at("lstats", at + l.lstats.nmalloc);
        let ndalloc = u64_at("lstats", at + l.lstats.ndalloc);
        let nrequests = u64_at("lstats", at + l.lstats.nrequests);
        let nflushes = u64_at("lstats", at + l.lstats.nflushes);
        let cur = nmalloc.saturating_sub(ndalloc);
        large.nmalloc += nmalloc;
        large.ndalloc += ndalloc;
        large.nrequests += nmalloc + nrequests;
        // "nfill == nmalloc for large currently" (arena_stats_merge), and the ctl reads
        // nmalloc_large for large.nfills.
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

    // Bins: bin_stats_merge over every shard; small totals: ctl_arena_stats_amerge.
    let mut bins = Vec::with_capacity(c.nbins());
    let mut small = ClassTotals::default();
    for (i, class) in c.bins.iter().enumerate() {
        let mut s = BinStats::default();
        for shard in 0..u64::from(class.nshards) {
            let b = a + c.bin_offsets[i] + shard * l.bin.size;
            s.nmalloc += u64_at("bin", b + l.bin.nmalloc);
            s.ndalloc += u64_at("bin", b + l.bin.ndalloc);
            s.nrequests += u64_at("bin", b + l.bin.nrequests);
            s.curregs += u64_at("bin", b + l.bin.curregs);
            s.nfills += u64_at("bin", b + l.bin.nfills);
            s.nflushes += u64_at("bin", b + l.bin.nflushes);
            s.nslabs += u64_at("bin", b + l.bin.nslabs);
            s.nreslabs += u64_at("bin", b + l.bin.reslabs);
            s.curslabs += u64_at("bin", b + l.bin.curslabs);
            s.nonfull_slabs += u64_at("bin", b + l.bin.nonfull_slabs);
        }
        small.allocated += s.curregs.saturating_mul(class.size);
        small.nmalloc += s.nmalloc;
        small.ndalloc += s.ndalloc;
        small.nrequests += s.nrequests;
        small.nfills += s.nfills;
        small.nflushes += s.nflushes;
        bins.push(s);
    }

    // Free extents per page-size class (pa_shard_stats_merge).
    let mut extents = Vec::with_capacity(c.npsizes);
    for p in 0..c.npsizes as u64 {
        let mut count = |ecache: u64| -> (u64, u64) {
            l.ecache.esets.iter().fold((0, 0), |(n, b), e| {
                let at =
                    a + ecache + e + l.ecache.eset_bin_stats + p * l.ecache.eset_bin_stats_size;
                (
                    n + u64_at("eset bin_stats", at + l.ecache.nextents),
                    b + u64_at("eset bin_stats", at + l.ecache.nbytes),
                )
            })
        };
        let (ndirty, dirty_bytes) = count(o.ecache_dirty);
        let (nmuzzy, muzzy_bytes) = count(o.ecache_muzzy);
        let (nretained, retained_bytes) = count(o.ecache_retained);
        extents.push(ExtentStats {
            ndirty,
            nmuzzy,
            nretained,
            dirty_bytes,
            muzzy_bytes,
            retained_bytes,
        });
    }

    let create_time = mem.read_u64(a + o.create_time);
    let epoch = mem.read_u64(a + o.decay_dirty + l.decay.epoch);
    let dirty_decay_epoch_age_ns = match (create_time, epoch) {
        (Some(c), Some(e)) => Some(e.wrapping_sub(c) as i64),
        _ => None,
    };

    let caches = read_tcaches(mem, l, c, a, index, problems);
    let tcache_bytes = caches.iter().map(|t| t.bytes).sum();
    let tcache_stashed_bytes = caches.iter().map(|t| t.stashed).sum::<Option<u64>>();
    let tcaches = caches.len();

    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        problems.push(format!(
            "arena {index} at {a:#x}: unreadable, counted as 0: {}",
            missing.join(", ")
        ));
    }

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
            mapped: base_mapped + pac_mapped,
            retained: retained_pages.saturating_mul(c.page),
            base: base_allocated,
            internal,
            metadata_thp: base_thp,
            resident: base_resident + (pactive + pdirty).saturating_mul(c.page),
            abandoned_vm,
            extent_avail,
            tcache_bytes,
            tcache_stashed_bytes,
            small,
            large,
            bins,
            lextents,
            extents,
            tcaches,
            dirty_decay_epoch_age_ns,
        },
        caches,
    ))
}

/// The layout self-checks: an arena stores its own index in `arena_t`, `pa_shard_t` and each
/// `ecache_t`, each extent cache and set its state, and `pac.stats` points back into the
/// arena's own stats. A wrong layout (or a pointer that is not an arena) fails them.
pub(crate) fn check_arena(
    mem: &dyn Memory,
    l: &Layout53,
    index: u32,
    a: u64,
) -> Result<(), String> {
    let o = &l.arena;
    let unreadable = |what: &str, at: u64| format!("arena {index}: {what} at {at:#x} unreadable");
    // Self-checks: the arena's index is stored in arena_t, pa_shard_t and each ecache_t.
    let ind = mem
        .read_u32(a + o.ind)
        .ok_or_else(|| unreadable("arena_t (not in the core?)", a))?;
    let shard_ind = mem.read_u32(a + o.shard_ind).unwrap_or(u32::MAX);
    if ind != index || shard_ind != index {
        return Err(format!(
            "arena {index} at {a:#x} calls itself {ind} (pa_shard: {shard_ind}): the layout \
             ({}) does not fit this jemalloc build",
            l.source
        ));
    }
    for (off, state, name) in [
        (o.ecache_dirty, STATE_DIRTY, "dirty"),
        (o.ecache_muzzy, STATE_MUZZY, "muzzy"),
        (o.ecache_retained, STATE_RETAINED, "retained"),
    ] {
        let s = mem.read_u32(a + off + l.ecache.state);
        let i = mem.read_u32(a + off + l.ecache.ind);
        let set_states_ok = l
            .ecache
            .esets
            .iter()
            .all(|e| mem.read_u32(a + off + e + l.ecache.eset_state) == Some(state));
        if s != Some(state) || i != Some(index) || !set_states_ok {
            return Err(format!(
                "arena {index}: its {name} extent cache says state {s:?}, arena {i:?}: the \
                 layout ({}) does not fit this jemalloc build",
                l.source
            ));
        }
    }

    // pac.stats points back into the arena's own stats (pa_shard_init).
    let pac_stats = mem.read_u64(a + o.pac_stats_ptr);
    if pac_stats != Some(a + o.pac_stats) {
        return Err(format!(
            "arena {index}: pac.stats is {pac_stats:x?}, not the arena's own stats at {:#x}: \
             the layout ({}) does not fit this jemalloc build",
            a + o.pac_stats,
            l.source
        ));
    }
    Ok(())
}

/// One thread cache bound to an arena, as its descriptor shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheSeen {
    /// The `cache_bin_array_descriptor_t` (inside `tcache_slow_t`).
    pub descriptor: u64,
    pub bytes: u64,
    pub regions: u64,
    pub stashed: Option<u64>,
}

/// The thread caches bound to the arena: its `cache_bin_array_descriptor_ql` ring, each
/// descriptor's bins counted as `cache_bin_nitems_get_remote` counts them (cache_bin.h:
/// 16-bit differences of the stack pointer's low bits).
pub(crate) fn read_tcaches(
    mem: &dyn Memory,
    l: &Layout53,
    c: &Classes,
    a: u64,
    index: u32,
    problems: &mut Vec<String>,
) -> Vec<CacheSeen> {
    let cb = &l.cache_bin;
    let nbins = match &c.tcache_ncached_max {
        Some(v) => v.len(),
        None => (cb.nbins_max as usize).min(c.index2size.len()),
    };
    let mut out = Vec::new();
    let Some(first) = mem.read_u64(a + l.arena.cache_bin_array_descriptor_ql) else {
        problems.push(format!("arena {index}: thread-cache list unreadable"));
        return out;
    };
    let mut d = first;
    while d != 0 {
        if out.len() >= MAX_TCACHES {
            problems.push(format!(
                "arena {index}: thread-cache list longer than {MAX_TCACHES}: stopped (a loop?)"
            ));
            break;
        }
        let Some(bins) = mem.read_u64(d + cb.descriptor_bins) else {
            problems.push(format!(
                "arena {index}: thread cache descriptor at {d:#x} unreadable"
            ));
            break;
        };
        let mut seen = CacheSeen {
            descriptor: d,
            bytes: 0,
            regions: 0,
            stashed: c.tcache_ncached_max.as_ref().map(|_| 0),
        };
        for i in 0..nbins {
            let b = bins + i as u64 * cb.size;
            let (Some(head), Some(full), Some(empty)) = (
                mem.read_u64(b + cb.stack_head),
                read_u16(mem, b + cb.low_bits_full),
                read_u16(mem, b + cb.low_bits_empty),
            ) else {
                problems.push(format!(
                    "arena {index}: thread cache bin at {b:#x} unreadable"
                ));
                break;
            };
            let size = c.index2size.get(i).copied().unwrap_or(0);
            let n = u64::from(empty.wrapping_sub(head as u16)) / 8;
            seen.bytes += n * size;
            seen.regions += n;
            if let (Some(max), Some(st)) = (
                c.tcache_ncached_max.as_ref().and_then(|v| v.get(i)),
                seen.stashed.as_mut(),
            ) {
                let low_bound = empty.wrapping_sub(max.wrapping_mul(8));
                *st += u64::from(full.wrapping_sub(low_bound)) / 8 * size;
            }
        }
        out.push(seen);
        match mem.read_u64(d + cb.descriptor_next) {
            Some(next) if next != first => d = next,
            Some(_) => break,
            None => {
                problems.push(format!("arena {index}: thread cache list broken at {d:#x}"));
                break;
            }
        }
    }
    out
}
