//! The heap as `malloc_stats_print` JSON, as heapmortem's allocator-neutral JSON, and as
//! terminal text.

use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use core_reader::human_bytes as human;

use super::model::{
    Arena, BinStats, ClassTotals, DecayCounters, ExtentStats, Features, Heap, LextentStats,
};
use super::threads::{ThreadCache, Ticker};
use crate::{Finding, Severity, SizeClass};

// ---- malloc_stats_print("J") -----------------------------------------------------------

#[derive(Serialize)]
struct StatsDoc<'a> {
    jemalloc: StatsBody<'a>,
}

#[derive(Serialize)]
struct StatsBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    opt: OptJson,
    arenas: ArenasJson,
    stats: GlobalJson,
    #[serde(rename = "stats.arenas")]
    stats_arenas: ArenaMap<'a>,
}

#[derive(Serialize)]
struct OptJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    retain: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    narenas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    background_thread: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dirty_decay_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    muzzy_decay_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcache: Option<bool>,
}

#[derive(Serialize)]
struct BinJson {
    size: u64,
    nregs: u32,
    slab_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nshards: Option<u32>,
}

/// `small` / `large` as "J" prints them: fills and flushes from 5.2 on.
#[derive(Serialize)]
struct ClassJson {
    allocated: u64,
    nmalloc: u64,
    ndalloc: u64,
    nrequests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nfills: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nflushes: Option<u64>,
}

impl ClassJson {
    fn of(c: &ClassTotals, f: Features) -> ClassJson {
        ClassJson {
            allocated: c.allocated,
            nmalloc: c.nmalloc,
            ndalloc: c.ndalloc,
            nrequests: c.nrequests,
            nfills: f.fills_flushes.then_some(c.nfills),
            nflushes: f.fills_flushes.then_some(c.nflushes),
        }
    }
}

#[derive(Serialize)]
struct SizeJson {
    size: u64,
}

#[derive(Serialize)]
struct ArenasJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    narenas: Option<u32>,
    page: u64,
    nbins: usize,
    bin: Vec<BinJson>,
    nlextents: usize,
    lextent: Vec<SizeJson>,
}

#[derive(Serialize)]
struct GlobalJson {
    allocated: u64,
    active: u64,
    metadata: u64,
    metadata_thp: u64,
    resident: u64,
    mapped: u64,
    retained: u64,
}

#[derive(Serialize)]
struct ArenaJson<'a> {
    nthreads: u32,
    dss: &'a str,
    dirty_decay_ms: i64,
    muzzy_decay_ms: i64,
    pactive: u64,
    pdirty: u64,
    pmuzzy: u64,
    dirty_npurge: u64,
    dirty_nmadvise: u64,
    dirty_purged: u64,
    muzzy_npurge: u64,
    muzzy_nmadvise: u64,
    muzzy_purged: u64,
    small: ClassJson,
    large: ClassJson,
    mapped: u64,
    retained: u64,
    base: u64,
    internal: u64,
    metadata_thp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcache_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcache_stashed_bytes: Option<u64>,
    resident: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    abandoned_vm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extent_avail: Option<u64>,
    bins: Vec<BinJson2>,
    lextents: Vec<LextentJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extents: Option<&'a [ExtentStats]>,
}

/// A bin as "J" prints it (`nreslabs`, no `nslabs`).
#[derive(Serialize)]
struct BinJson2 {
    nmalloc: u64,
    ndalloc: u64,
    curregs: u64,
    nrequests: u64,
    nfills: u64,
    nflushes: u64,
    nreslabs: u64,
    curslabs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonfull_slabs: Option<u64>,
}

#[derive(Serialize)]
struct LextentJson {
    curlextents: u64,
}

impl Arena {
    /// The "merged" pseudo-arena, summed the way jemalloc 5.3.0's
    /// `ctl_arena_stats_sdmerge` (src/ctl.c) sums it: dss "N/A" and decay times -1
    /// (`ctl_arena_clear`), everything else added up.
    fn merged(arenas: &[Arena]) -> Arena {
        let first = &arenas[0];
        let mut m = Arena {
            index: 0,
            address: 0,
            tcaches: 0,
            dirty_decay_epoch_age_ns: None,
            nthreads: 0,
            dss: "N/A".into(),
            dirty_decay_ms: -1,
            muzzy_decay_ms: -1,
            pactive: 0,
            pdirty: 0,
            pmuzzy: 0,
            dirty: DecayCounters::default(),
            muzzy: DecayCounters::default(),
            small: ClassTotals::default(),
            large: ClassTotals::default(),
            mapped: 0,
            retained: 0,
            base: 0,
            internal: 0,
            metadata_thp: 0,
            tcache_bytes: Some(0),
            tcache_stashed_bytes: Some(0),
            resident: 0,
            abandoned_vm: 0,
            extent_avail: 0,
            bins: vec![BinStats::default(); first.bins.len()],
            lextents: vec![LextentStats::default(); first.lextents.len()],
            extents: vec![ExtentStats::default(); first.extents.len()],
        };
        // jemalloc merges arenas in size_t (ctl.c ctl_arena_stats_sdmerge): modular.
        for a in arenas {
            m.nthreads = m.nthreads.wrapping_add(a.nthreads);
            m.pactive = m.pactive.wrapping_add(a.pactive);
            m.pdirty = m.pdirty.wrapping_add(a.pdirty);
            m.pmuzzy = m.pmuzzy.wrapping_add(a.pmuzzy);
            m.dirty += a.dirty;
            m.muzzy += a.muzzy;
            m.small += a.small;
            m.large += a.large;
            m.mapped = m.mapped.wrapping_add(a.mapped);
            m.retained = m.retained.wrapping_add(a.retained);
            m.base = m.base.wrapping_add(a.base);
            m.internal = m.internal.wrapping_add(a.internal);
            m.metadata_thp = m.metadata_thp.wrapping_add(a.metadata_thp);
            m.tcache_bytes = m
                .tcache_bytes
                .zip(a.tcache_bytes)
                .map(|(x, y)| x.wrapping_add(y));
            m.tcache_stashed_bytes = m
                .tcache_stashed_bytes
                .zip(a.tcache_stashed_bytes)
                .map(|(x, y)| x.wrapping_add(y));
            m.resident = m.resident.wrapping_add(a.resident);
            m.abandoned_vm = m.abandoned_vm.wrapping_add(a.abandoned_vm);
            m.extent_avail = m.extent_avail.wrapping_add(a.extent_avail);
            for (d, &s) in m.bins.iter_mut().zip(&a.bins) {
                *d += s;
            }
            for (d, &s) in m.lextents.iter_mut().zip(&a.lextents) {
                *d += s;
            }
            for (d, &s) in m.extents.iter_mut().zip(&a.extents) {
                *d += s;
            }
        }
        m
    }

    fn json(&self, f: Features) -> ArenaJson<'_> {
        ArenaJson {
            nthreads: self.nthreads,
            dss: &self.dss,
            dirty_decay_ms: self.dirty_decay_ms,
            muzzy_decay_ms: self.muzzy_decay_ms,
            pactive: self.pactive,
            pdirty: self.pdirty,
            pmuzzy: self.pmuzzy,
            dirty_npurge: self.dirty.npurge,
            dirty_nmadvise: self.dirty.nmadvise,
            dirty_purged: self.dirty.purged,
            muzzy_npurge: self.muzzy.npurge,
            muzzy_nmadvise: self.muzzy.nmadvise,
            muzzy_purged: self.muzzy.purged,
            small: ClassJson::of(&self.small, f),
            large: ClassJson::of(&self.large, f),
            mapped: self.mapped,
            retained: self.retained,
            base: self.base,
            internal: self.internal,
            metadata_thp: self.metadata_thp,
            tcache_bytes: self.tcache_bytes,
            tcache_stashed_bytes: self.tcache_stashed_bytes.filter(|_| f.tcache_stashed),
            resident: self.resident,
            abandoned_vm: f.extents.then_some(self.abandoned_vm),
            extent_avail: f.extents.then_some(self.extent_avail),
            bins: self
                .bins
                .iter()
                .map(|b| BinJson2 {
                    nmalloc: b.nmalloc,
                    ndalloc: b.ndalloc,
                    curregs: b.curregs,
                    nrequests: b.nrequests,
                    nfills: b.nfills,
                    nflushes: b.nflushes,
                    nreslabs: b.nreslabs,
                    curslabs: b.curslabs,
                    nonfull_slabs: f.nonfull_and_shards.then_some(b.nonfull_slabs),
                })
                .collect(),
            lextents: self
                .lextents
                .iter()
                .map(|l| LextentJson {
                    curlextents: l.curlextents,
                })
                .collect(),
            extents: f.extents.then_some(&self.extents[..]),
        }
    }
}

/// `stats.arenas`: "merged" when more than one arena is initialized (as stats.c prints
/// it), then each arena by index.
struct ArenaMap<'a> {
    merged: Option<Arena>,
    arenas: &'a [Arena],
    features: Features,
}

impl Serialize for ArenaMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.arenas.len() + 1))?;
        if let Some(m) = &self.merged {
            map.serialize_entry("merged", &m.json(self.features))?;
        }
        for a in self.arenas {
            map.serialize_entry(&a.index.to_string(), &a.json(self.features))?;
        }
        map.end()
    }
}

impl Heap {
    /// `malloc_stats_print(…, "J")`'s document, limited to what heapmortem rebuilds:
    /// `version`, some `opt`, `arenas` (size classes), `stats` (totals) and
    /// `stats.arenas` ("merged" and each initialized arena) with the same key names.
    /// Mutex statistics, uptime and the HPA are left out.
    pub fn to_stats_json(&self) -> serde_json::Value {
        let merged = (self.arenas.len() > 1).then(|| {
            let mut m = Arena::merged(&self.arenas);
            if !self.features.merged_large_nflushes {
                m.large.nflushes = 0;
            }
            m
        });
        let sum = |f: fn(&Arena) -> u64| self.arenas.iter().fold(0u64, |n, a| n.wrapping_add(f(a)));
        let doc = StatsDoc {
            jemalloc: StatsBody {
                version: self.version.as_deref(),
                opt: OptJson {
                    retain: self.opts.retain,
                    narenas: self.opts.narenas,
                    background_thread: self.opts.background_thread,
                    dirty_decay_ms: self.opts.dirty_decay_ms,
                    muzzy_decay_ms: self.opts.muzzy_decay_ms,
                    tcache: self.opts.tcache,
                },
                arenas: ArenasJson {
                    narenas: self.narenas,
                    page: self.page,
                    nbins: self.bin_classes.len(),
                    bin: self
                        .bin_classes
                        .iter()
                        .map(|b| BinJson {
                            size: b.size,
                            nregs: b.nregs,
                            slab_size: b.slab_size,
                            nshards: self.features.nonfull_and_shards.then_some(b.nshards),
                        })
                        .collect(),
                    nlextents: self.lextent_sizes.len(),
                    lextent: self
                        .lextent_sizes
                        .iter()
                        .map(|&size| SizeJson { size })
                        .collect(),
                },
                stats: GlobalJson {
                    allocated: sum(|a| a.small.allocated.wrapping_add(a.large.allocated)),
                    active: sum(|a| a.pactive).wrapping_mul(self.page),
                    metadata: sum(|a| a.base.wrapping_add(a.internal)),
                    metadata_thp: sum(|a| a.metadata_thp),
                    resident: sum(|a| a.resident),
                    mapped: sum(|a| a.mapped),
                    retained: sum(|a| a.retained),
                },
                stats_arenas: ArenaMap {
                    merged,
                    arenas: &self.arenas,
                    features: self.features,
                },
            },
        };
        serde_json::to_value(&doc).unwrap_or(serde_json::Value::Null)
    }

    /// The page-size classes (`extents` is indexed by them): every size class that is a
    /// whole number of pages.
    fn page_classes(&self) -> Vec<u64> {
        self.bin_classes
            .iter()
            .map(|b| b.size)
            .chain(self.lextent_sizes.iter().copied())
            .filter(|s| s % self.page == 0)
            .collect()
    }

    /// The allocator-neutral heap of `heapmortem heap --format json` and `--list`. Its
    /// allocations' `arena` is the arena's position in `arenas`.
    pub fn summary(&self) -> crate::Heap<JemallocDetail, JemallocArena> {
        let allocations = self.allocations.as_ref().map(|list| {
            let position = |index: u32| {
                self.arenas
                    .iter()
                    .position(|a| a.index == index)
                    .map_or(crate::Allocation::NO_ARENA, |p| p as u32)
            };
            crate::Allocations::new(
                list.iter()
                    .map(|a| crate::Allocation {
                        arena: position(a.arena),
                        ..*a
                    })
                    .collect(),
            )
        });
        crate::Heap {
            allocations,
            ..self.figures()
        }
    }

    /// [`Self::summary`] without the allocations (none are copied): the figures and findings
    /// the report shows.
    pub fn figures(&self) -> crate::Heap<JemallocDetail, JemallocArena> {
        crate::Heap {
            allocator: crate::Allocator::Jemalloc,
            version: self.version.clone(),
            detail: JemallocDetail {
                layout: self.layout.clone(),
                page: self.page,
                threads: self.threads.clone(),
            },
            arenas: self.arenas.iter().map(|a| self.summary_arena(a)).collect(),
            size_classes: self.size_classes(),
            findings: self.findings(),
            problems: self.problems.clone(),
            notes: self.notes.clone(),
            allocations: None,
        }
    }

    /// The small size classes, summed over arenas: regions in use (`curregs`) and free
    /// regions in the slabs held (`curslabs * nregs - curregs`); empty classes left out.
    fn size_classes(&self) -> Vec<SizeClass> {
        let mut classes: Vec<SizeClass> = self
            .bin_classes
            .iter()
            .map(|c| SizeClass {
                size: c.size,
                ..SizeClass::default()
            })
            .collect();
        for arena in &self.arenas {
            for ((row, bin), class) in classes.iter_mut().zip(&arena.bins).zip(&self.bin_classes) {
                let free = bin
                    .curslabs
                    .wrapping_mul(u64::from(class.nregs))
                    .saturating_sub(bin.curregs);
                row.in_use_count = row.in_use_count.wrapping_add(bin.curregs);
                row.in_use_bytes = row
                    .in_use_bytes
                    .wrapping_add(bin.curregs.wrapping_mul(class.size));
                row.free_count = row.free_count.wrapping_add(free);
                row.free_bytes = row.free_bytes.wrapping_add(free.wrapping_mul(class.size));
            }
        }
        classes.retain(|c| c.in_use_count > 0 || c.free_count > 0);
        classes
    }

    pub(crate) fn summary_arena(&self, a: &Arena) -> crate::Arena<JemallocArena> {
        let page = self.page;
        let (mut free_regions, mut free_region_bytes) = (0u64, 0u64);
        for (b, class) in a.bins.iter().zip(&self.bin_classes) {
            let n = b
                .curslabs
                .wrapping_mul(u64::from(class.nregs))
                .saturating_sub(b.curregs);
            free_regions = free_regions.wrapping_add(n);
            free_region_bytes = free_region_bytes.wrapping_add(n.wrapping_mul(class.size));
        }
        let free_extents = a
            .extents
            .iter()
            .fold(0u64, |n, e| n.wrapping_add(e.ndirty).wrapping_add(e.nmuzzy));
        // Figures from memory add up modulo 2^64, as jemalloc's own do.
        let free_pages_bytes = a.pdirty.wrapping_add(a.pmuzzy).wrapping_mul(page);
        crate::Arena {
            index: a.index,
            address: a.address,
            figures: crate::ArenaFigures {
                system_bytes: a.mapped,
                in_use_chunks: a.in_use_count(),
                in_use_bytes: a.small.allocated.wrapping_add(a.large.allocated),
                free_chunks: free_regions.wrapping_add(free_extents),
                free_bytes: free_region_bytes.wrapping_add(free_pages_bytes),
                trimmable_bytes: free_pages_bytes,
                largest_free: largest_free(a, &self.page_classes()),
            },
            detail: JemallocArena {
                nthreads: a.nthreads,
                resident: a.resident,
                retained: a.retained,
                dirty_bytes: a.pdirty.wrapping_mul(page),
                muzzy_bytes: a.pmuzzy.wrapping_mul(page),
                dirty_decay_ms: a.dirty_decay_ms,
                muzzy_decay_ms: a.muzzy_decay_ms,
                dirty_npurge: a.dirty.npurge,
                dirty_purged: a.dirty.purged,
                muzzy_npurge: a.muzzy.npurge,
                muzzy_purged: a.muzzy.purged,
                small_allocated: a.small.allocated,
                large_allocated: a.large.allocated,
                tcache_bytes: a.tcache_bytes,
                metadata_bytes: a.base.wrapping_add(a.internal),
            },
        }
    }

    /// The terminal view: one line per arena, the findings, and the problems.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "jemalloc {} — {} arenas in use of {} slots{}, page {} B, layout: {}",
            self.version.as_deref().unwrap_or("(version not found)"),
            self.arenas.len(),
            self.narenas
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            self.narenas_auto
                .map(|n| format!(" ({n} automatic)"))
                .unwrap_or_default(),
            self.page,
            self.layout
        )?;
        let o = &self.opts;
        let opt = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        writeln!(
            w,
            "options: dirty_decay_ms {}, muzzy_decay_ms {}, narenas {}, retain {}, \
             background_thread {}, tcache {}",
            opt(o.dirty_decay_ms.map(|v| v.to_string())),
            opt(o.muzzy_decay_ms.map(|v| v.to_string())),
            opt(o.narenas.map(|v| v.to_string())),
            opt(o.retain.map(|v| v.to_string())),
            opt(o.background_thread.map(|v| v.to_string())),
            opt(o.tcache.map(|v| v.to_string())),
        )?;
        writeln!(w)?;
        writeln!(
            w,
            "{:>5} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7} {:>9}",
            "arena",
            "threads",
            "allocated",
            "active",
            "dirty",
            "muzzy",
            "retained",
            "resident",
            "mapped",
            "tcache",
            "decay_ms",
            "npurge",
            "purged"
        )?;
        for a in &self.arenas {
            let p = self.page;
            writeln!(
                w,
                "{:>5} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7} {:>9}",
                a.index,
                a.nthreads,
                human(a.small.allocated.saturating_add(a.large.allocated)),
                human(a.pactive.saturating_mul(p)),
                human(a.pdirty.saturating_mul(p)),
                human(a.pmuzzy.saturating_mul(p)),
                human(a.retained),
                human(a.resident),
                human(a.mapped),
                a.tcache_bytes.map_or_else(|| "?".to_string(), human),
                a.dirty_decay_ms,
                a.dirty.npurge,
                a.dirty.purged,
            )?;
        }
        for a in &self.arenas {
            let mut rows: Vec<(u64, String)> = a
                .bins
                .iter()
                .zip(&self.bin_classes)
                .filter(|(b, _)| b.curregs > 0)
                .map(|(b, c)| {
                    (
                        b.curregs.saturating_mul(c.size),
                        format!(
                            "{:>10} {:>9} {:>10} {:>6} {:>8}",
                            c.size,
                            b.curregs,
                            human(b.curregs.saturating_mul(c.size)),
                            b.curslabs,
                            b.nonfull_slabs
                        ),
                    )
                })
                .chain(
                    a.lextents
                        .iter()
                        .zip(&self.lextent_sizes)
                        .filter(|(l, _)| l.curlextents > 0)
                        .map(|(l, &s)| {
                            (
                                l.curlextents.saturating_mul(s),
                                format!(
                                    "{:>10} {:>9} {:>10} {:>6} {:>8}",
                                    s,
                                    l.curlextents,
                                    human(l.curlextents.saturating_mul(s)),
                                    "-",
                                    "-"
                                ),
                            )
                        }),
                )
                .collect();
            if rows.is_empty() {
                continue;
            }
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
            writeln!(w)?;
            writeln!(w, "arena {}: largest size classes in use", a.index)?;
            writeln!(
                w,
                "{:>10} {:>9} {:>10} {:>6} {:>8}",
                "size", "in use", "bytes", "slabs", "nonfull"
            )?;
            for (_, row) in rows.iter().take(8) {
                writeln!(w, "{row}")?;
            }
            if rows.len() > 8 {
                writeln!(w, "{:>10} (and {} more classes)", "…", rows.len() - 8)?;
            }
        }
        if self
            .threads
            .iter()
            .any(|t| t.tcache_bytes > 0 || t.decay_ticker.is_some())
        {
            let mut rows: Vec<&ThreadCache> = self.threads.iter().collect();
            rows.sort_by_key(|t| {
                (
                    t.decay_ticker != Some(Ticker::Never),
                    std::cmp::Reverse(t.tcache_bytes),
                )
            });
            writeln!(w)?;
            let show_ticker = rows.iter().any(|t| t.decay_ticker.is_some());
            writeln!(
                w,
                "thread caches ({}), largest first (threads that never tick first):",
                rows.len()
            )?;
            writeln!(
                w,
                "{:>8} {:>5} {:>10} {:>8} {:>12} {:>12}{}",
                "tid",
                "arena",
                "cached",
                "regions",
                "allocated",
                "freed",
                if show_ticker { "  decay ticker" } else { "" }
            )?;
            let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), human);
            for t in rows.iter().take(10) {
                writeln!(
                    w,
                    "{:>8} {:>5} {:>10} {:>8} {:>12} {:>12}{}",
                    t.tid.map_or_else(|| "-".to_string(), |t| t.to_string()),
                    t.arena,
                    human(t.tcache_bytes),
                    t.tcache_regions,
                    opt(t.allocated),
                    opt(t.deallocated),
                    match t.decay_ticker {
                        None => "",
                        Some(Ticker::Started) => "  started",
                        Some(Ticker::NotYet) => "  not yet",
                        Some(Ticker::Never) => "  NEVER (first call was free())",
                    }
                )?;
            }
            if rows.len() > 10 {
                writeln!(w, "{:>8} (and {} more)", "…", rows.len() - 10)?;
            }
        }
        let findings = self.findings();
        writeln!(w)?;
        if findings.is_empty() {
            writeln!(w, "findings: none")?;
        } else {
            writeln!(w, "findings:")?;
            for f in &findings {
                write_finding(w, f)?;
            }
        }
        if !self.notes.is_empty() {
            writeln!(w)?;
            for n in &self.notes {
                writeln!(w, "note: {n}")?;
            }
        }
        if !self.problems.is_empty() {
            writeln!(w)?;
            writeln!(w, "not read:")?;
            for p in &self.problems {
                writeln!(w, "- {}", p.message)?;
            }
        }
        Ok(())
    }
}

fn write_finding(w: &mut dyn Write, f: &Finding) -> io::Result<()> {
    let tag = match f.severity {
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    writeln!(w, "- {tag}: {}", f.message)
}

/// The largest free (dirty or muzzy) extent, from the per-page-size-class counts: exact
/// when the largest occupied class holds one extent; otherwise an upper bound (the class's
/// bytes less all but one extent at the class's lower bound).
fn largest_free(a: &Arena, psz: &[u64]) -> u64 {
    for (i, e) in a.extents.iter().enumerate().rev() {
        let n = e.ndirty.saturating_add(e.nmuzzy);
        if n == 0 {
            continue;
        }
        let bytes = e.dirty_bytes.saturating_add(e.muzzy_bytes);
        let lower = psz.get(i).copied().unwrap_or(0);
        return bytes
            .saturating_sub((n - 1).saturating_mul(lower))
            .max(lower);
    }
    0
}

/// jemalloc's own figures for the whole heap in the neutral [`crate::Heap`].
#[derive(Debug, Clone, Serialize)]
pub struct JemallocDetail {
    /// Where the struct layouts came from.
    pub layout: String,
    /// Page size.
    pub page: u64,
    /// Thread caches, with their threads.
    pub threads: Vec<ThreadCache>,
}

/// jemalloc's own figures for one arena in the neutral [`crate::Arena`] (after the common
/// [`crate::ArenaFigures`]: `system_bytes` is `mapped`, `in_use_*` counts regions and large
/// extents — thread-cached regions count as in use, as jemalloc counts them — `free_*` are
/// free regions in slabs plus dirty and muzzy extents, `trimmable_bytes` dirty and muzzy
/// pages, and `largest_free` the largest free extent: exact when it is alone in its
/// page-size class, an upper bound otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct JemallocArena {
    /// Threads bound to the arena.
    pub nthreads: u32,
    /// Resident bytes.
    pub resident: u64,
    /// Retained (virtual, unbacked) bytes.
    pub retained: u64,
    /// Dirty bytes.
    pub dirty_bytes: u64,
    /// Muzzy bytes.
    pub muzzy_bytes: u64,
    /// Dirty decay time.
    pub dirty_decay_ms: i64,
    /// Muzzy decay time.
    pub muzzy_decay_ms: i64,
    /// Dirty purge sweeps.
    pub dirty_npurge: u64,
    /// Dirty pages purged.
    pub dirty_purged: u64,
    /// Muzzy purge sweeps.
    pub muzzy_npurge: u64,
    /// Muzzy pages purged.
    pub muzzy_purged: u64,
    /// Bytes in small regions.
    pub small_allocated: u64,
    /// Bytes in large extents.
    pub large_allocated: u64,
    /// Bytes in thread caches (null when a cache could not be read).
    pub tcache_bytes: Option<u64>,
    /// Metadata bytes (base and internal).
    pub metadata_bytes: u64,
}

impl crate::ArenaDetail for JemallocArena {
    fn dirty_bytes(&self) -> Option<u64> {
        Some(self.dirty_bytes)
    }
    fn muzzy_bytes(&self) -> Option<u64> {
        Some(self.muzzy_bytes)
    }
    fn retained_bytes(&self) -> Option<u64> {
        Some(self.retained)
    }
    fn cached_bytes(&self) -> Option<u64> {
        self.tcache_bytes
    }
}
