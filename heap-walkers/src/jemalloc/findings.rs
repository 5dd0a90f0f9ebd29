//! Detectors: sentences with numbers that name a likely cause and a next step.

use core_reader::human_bytes;

use super::discover::release;
use super::model::{Arena, Heap};
use super::threads::Ticker;
use crate::{Finding, Severity};

/// Dirty memory below this is what a healthy arena holds between decay epochs.
const DIRTY_MIN: u64 = 8 << 20;
/// Dirty memory above this share of an arena's resident memory is worth a note even when
/// decay is purging.
const DIRTY_SHARE: f64 = 0.5;
const DIRTY_SHARE_MIN: u64 = 64 << 20;
/// Retained address space worth explaining.
const RETAINED_MIN: u64 = 1 << 30;
const RETAINED_RATIO: u64 = 4;
/// Thread caches holding this much and this share of allocated bytes.
const TCACHE_MIN: u64 = 4 << 20;
const TCACHE_SHARE: f64 = 0.2;

impl Heap {
    /// Runs every detector.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for a in &self.arenas {
            if let Some(f) = self.dirty_never_purged(a) {
                out.push(f);
            } else if let Some(f) = self.dirty_share(a) {
                out.push(f);
            }
        }
        out.extend(self.tickers_never_started());
        out.extend(self.retained_far_above_resident());
        out.extend(self.tcache_heavy());
        out
    }

    /// The BIND 9 story: an arena whose dirty pages pile up because decay never purges.
    fn dirty_never_purged(&self, a: &Arena) -> Option<Finding> {
        let dirty = a.dirty_bytes(self.page);
        if dirty < DIRTY_MIN || a.dirty.npurge != 0 || a.dirty_decay_ms == 0 {
            return None;
        }
        let i = a.index;
        let mut m = if a.dirty.purged == 0 {
            format!(
                "arena {i} holds {} of dirty pages and has purged nothing since it was \
                 created (dirty_npurge = 0, dirty_decay_ms = {})",
                human_bytes(dirty),
                a.dirty_decay_ms
            )
        } else {
            // extent_maximally_purge (5.3 src/extent.c) counts oversize extents returned at
            // free time in dirty_purged and dirty_nmadvise, never in dirty_npurge.
            format!(
                "arena {i} holds {} of dirty pages and its decay has never purged \
                 (dirty_npurge = 0, dirty_decay_ms = {}; the {} pages of dirty_purged are \
                 oversize extents returned directly when freed)",
                human_bytes(dirty),
                a.dirty_decay_ms,
                a.dirty.purged
            )
        };
        if a.dirty_decay_ms < 0 {
            m.push_str(
                ": decay is disabled, so freed pages stay resident until the program purges \
                 them. Remedies: set a decay time (MALLOC_CONF=dirty_decay_ms:10000), or \
                 purge from the program",
            );
            m.push_str(&format!(
                " with mallctl(\"arena.{i}.purge\") (\"arena.4096.purge\", MALLCTL_ARENAS_ALL, for all arenas)"
            ));
            return Some(Finding {
                severity: Severity::Warning,
                code: "dirty_never_purged",
                arena: Some(i),
                message: m,
            });
        }
        let interval_ns = a.dirty_decay_ms.saturating_mul(1_000_000) / 200;
        if a.dirty_decay_epoch_age_ns
            .is_some_and(|age| age < interval_ns / 2)
        {
            m.push_str("; its decay epoch has not advanced once since the arena was created");
        }
        m.push_str(&format!(
            ". Dirty pages are freed memory that stays resident until decay purges it, and \
             decay only runs when threads of this arena call into the allocator (or on a \
             background thread, which is {}). Remedies: MALLOC_CONF=background_thread:true \
             (purging on a timer), a shorter decay (MALLOC_CONF=dirty_decay_ms:1000), or \
             mallctl(\"arena.{i}.purge\") (\"arena.4096.purge\", MALLCTL_ARENAS_ALL, for all arenas) when the \
             program goes idle",
            match self.opts.background_thread {
                Some(true) => "enabled",
                Some(false) => "off",
                None => "probably off",
            }
        ));
        let never = self.never_ticking(i);
        if !never.is_empty() {
            m.push_str(&format!(
                "; {} of its threads never started their decay ticker (see below)",
                never.len()
            ));
        }
        let old = self
            .version
            .as_deref()
            .and_then(release)
            .is_some_and(|r| r < (5, 3, 0));
        if old || self.version.is_none() {
            m.push_str(
                "; on jemalloc before 5.3, also make every thread allocate once when it \
                 starts: a thread whose first allocator call is free() never starts its \
                 decay ticker, and with one arena nothing purges",
            );
        }
        Some(Finding {
            severity: Severity::Warning,
            code: "dirty_never_purged",
            arena: Some(i),
            message: m,
        })
    }

    /// Dirty pages are most of what an arena keeps resident, although decay runs.
    fn dirty_share(&self, a: &Arena) -> Option<Finding> {
        let dirty = a.dirty_bytes(self.page);
        if dirty < DIRTY_SHARE_MIN || a.resident == 0 {
            return None;
        }
        let share = dirty as f64 / a.resident as f64;
        if share < DIRTY_SHARE {
            return None;
        }
        Some(Finding {
            severity: Severity::Info,
            code: "dirty_share",
            arena: Some(a.index),
            message: format!(
                "arena {} holds {} of dirty pages, {:.0}% of its resident memory; decay has \
                 purged {} times ({} pages) with dirty_decay_ms = {}: the program frees \
                 faster than decay returns pages. A shorter dirty_decay_ms or \
                 background_thread:true returns them sooner",
                a.index,
                human_bytes(dirty),
                share * 100.0,
                a.dirty.npurge,
                a.dirty.purged,
                a.dirty_decay_ms
            ),
        })
    }

    /// Threads (jemalloc 5.1 / 5.2) whose decay ticker will never exist, per arena.
    fn never_ticking(&self, arena: u32) -> Vec<Option<u64>> {
        self.threads
            .iter()
            .filter(|t| t.arena == arena && t.decay_ticker == Some(Ticker::Never))
            .map(|t| t.tid)
            .collect()
    }

    /// The BIND 9 bug itself: threads whose first allocator call was `free()`.
    fn tickers_never_started(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for a in &self.arenas {
            let never = self.never_ticking(a.index);
            if never.is_empty() {
                continue;
            }
            let bound = self.threads.iter().filter(|t| t.arena == a.index).count();
            let tids: Vec<String> = never
                .iter()
                .map(|t| t.map_or_else(|| "?".to_string(), |t| t.to_string()))
                .collect();
            let shown = if tids.len() > 12 {
                format!("{} and {} more", tids[..12].join(", "), tids.len() - 12)
            } else {
                tids.join(", ")
            };
            out.push(Finding {
                severity: Severity::Warning,
                code: "decay_ticker_never_started",
                arena: Some(a.index),
                message: format!(
                    "{} of the {bound} threads with a cache on arena {} will never advance its \
                     decay (tids {shown}): their first allocator call was free(), which on \
                     jemalloc {} leaves arenas_tdata_bypass set, so their decay ticker is never \
                     created. When every busy thread of an arena is like this, its dirty pages \
                     ({} now) are never purged — the BIND 9 bug. Remedies: jemalloc 5.3 or \
                     later, one allocation at the start of every thread (free(malloc(1))), or \
                     MALLOC_CONF=dirty_decay_ms:0 / background_thread:true",
                    never.len(),
                    a.index,
                    self.version
                        .as_deref()
                        .and_then(|v| v.split('-').next())
                        .unwrap_or("5.1/5.2"),
                    human_bytes(a.dirty_bytes(self.page)),
                ),
            });
        }
        out
    }

    fn retained_far_above_resident(&self) -> Option<Finding> {
        let retained: u64 = self
            .arenas
            .iter()
            .map(|a| a.retained)
            .fold(0, u64::saturating_add);
        let resident: u64 = self
            .arenas
            .iter()
            .map(|a| a.resident)
            .fold(0, u64::saturating_add);
        if retained < RETAINED_MIN || retained < resident.saturating_mul(RETAINED_RATIO) {
            return None;
        }
        let top = self.arenas.iter().max_by_key(|a| a.retained)?;
        Some(Finding {
            severity: Severity::Info,
            code: "retained_far_above_resident",
            arena: None,
            message: format!(
                "jemalloc keeps {} of address space retained against {} resident (arena {} \
                 alone retains {}): retained memory is virtual (opt.retain keeps unmapped \
                 ranges for reuse), so it inflates VSZ, not RSS. It matters only under an \
                 address-space limit (ulimit -v, vm.overcommit_memory=2); \
                 MALLOC_CONF=retain:false gives it back with munmap",
                human_bytes(retained),
                human_bytes(resident),
                top.index,
                human_bytes(top.retained)
            ),
        })
    }

    fn tcache_heavy(&self) -> Option<Finding> {
        // Each cache's own count: on 5.1/5.2 the arenas' tcache_bytes repeat a jemalloc
        // miscount of large bins (see walk.rs, `read_tcaches`).
        let cached: u64 = if self.threads.is_empty() {
            self.arenas
                .iter()
                .map(|a| a.tcache_bytes.unwrap_or(0))
                .fold(0, u64::saturating_add)
        } else {
            self.threads
                .iter()
                .map(|t| t.tcache_bytes)
                .fold(0, u64::saturating_add)
        };
        let allocated: u64 = self
            .arenas
            .iter()
            .map(|a| a.small.allocated.saturating_add(a.large.allocated))
            .fold(0, u64::saturating_add);
        let caches: usize = self.arenas.iter().map(|a| a.tcaches).sum();
        if cached < TCACHE_MIN || allocated == 0 {
            return None;
        }
        let share = cached as f64 / allocated as f64;
        if share < TCACHE_SHARE {
            return None;
        }
        Some(Finding {
            severity: Severity::Warning,
            code: "tcache_heavy",
            arena: None,
            message: format!(
                "thread caches hold {} ({:.0}% of the {} jemalloc counts as allocated) in {} \
                 caches: freed regions parked per thread, invisible to other threads. With \
                 many threads, lower the cache (MALLOC_CONF=tcache_max:4096 or \
                 lg_tcache_nslots_mul:-1) or flush idle threads' caches with \
                 mallctl(\"thread.tcache.flush\")",
                human_bytes(cached),
                share * 100.0,
                human_bytes(allocated),
                caches
            ),
        })
    }
}
