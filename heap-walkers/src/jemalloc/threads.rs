//! Thread caches, each tied to the thread that owns it.
//!
//! A thread's cache lives in its thread state (`tsd_t`, tsd.h), which lives in the thread's
//! static TLS block: just below the thread pointer on x86_64 (`fs_base`, TLS variant II), so
//! the thread whose `fs_base` is the nearest one above a `tsd_t` owns it; just above it on
//! aarch64 (`tpidr_el0`, TLS variant I: the static blocks follow the 16-byte TCB the thread
//! pointer points at, glibc sysdeps/aarch64/nptl/tls.h), so there the nearest one below
//! owns it. Caches made with
//! `tcaches.create` are not in any `tsd_t` (their `tcache_slow_t` does not point back into
//! one) and are listed without a thread.

use core_reader::{Arch, Memory};
use serde::Serialize;

use super::layout::{Layout, Owner};
use super::walk::{read_u8, CacheSeen};

/// Static TLS blocks are small; a `tsd_t` farther than this below a thread pointer is not
/// that thread's.
const MAX_TLS_DISTANCE: u64 = 1 << 20;

/// One thread cache.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadCache {
    /// The owning thread's id, when the cache is a thread's own and the thread is in the
    /// core.
    pub tid: Option<u64>,
    /// The arena the cache is bound to.
    pub arena: u32,
    /// The owning thread's `tsd_t`, when the cache is a thread's own.
    #[serde(serialize_with = "core_reader::hex::serialize_opt")]
    pub tsd: Option<u64>,
    /// Bytes of regions cached.
    pub tcache_bytes: u64,
    /// Regions cached.
    pub tcache_regions: u64,
    /// Bytes the thread ever allocated (`thread.allocated`).
    pub allocated: Option<u64>,
    /// Bytes the thread ever freed (`thread.deallocated`).
    pub deallocated: Option<u64>,
    /// Its decay ticker (jemalloc 5.1 and 5.2 keep one per thread and arena, created
    /// lazily); absent on 5.3, where it always exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay_ticker: Option<Ticker>,
}

/// The state of a thread's decay ticker on jemalloc 5.1 / 5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ticker {
    /// Created: the thread's (de)allocations advance decay.
    Started,
    /// Not created yet; it will be on the thread's next tick.
    NotYet,
    /// Never will be: the thread's first allocator call was `free()`, which left
    /// `arenas_tdata_bypass` set for good (the BIND 9 bug).
    Never,
}

/// The thread whose static TLS block holds `tsd`: the nearest thread pointer above it on
/// x86_64, below it on aarch64.
fn tid_for(tsd: u64, threads: &[(u64, u64)], arch: Arch) -> Option<u64> {
    let distance = |tp: u64| match arch {
        Arch::X86_64 => tp.checked_sub(tsd).filter(|&d| d > 0),
        Arch::Aarch64 => tsd.checked_sub(tp),
    };
    threads
        .iter()
        .filter_map(|&(tid, tp)| Some((tid, distance(tp).filter(|&d| d <= MAX_TLS_DISTANCE)?)))
        .min_by_key(|&(_, d)| d)
        .map(|(tid, _)| tid)
}

/// Ties each cache to its thread. `threads` are `(tid, thread pointer)` pairs.
pub(crate) fn thread_caches(
    mem: &dyn Memory,
    l: &Layout,
    caches: &[(u32, CacheSeen)],
    threads: &[(u64, u64)],
    arch: Arch,
) -> Vec<ThreadCache> {
    let mut out = Vec::with_capacity(caches.len());
    for &(arena, c) in caches {
        let mut t = ThreadCache {
            tid: None,
            arena,
            tsd: None,
            tcache_bytes: c.bytes,
            tcache_regions: c.regions,
            allocated: None,
            deallocated: None,
            decay_ticker: None,
        };
        if let Some(o) = &l.tsd {
            let tsd = c.descriptor.wrapping_sub(o.descriptor);
            let own = match o.owner {
                // A thread's own cache: tcache_slow.tcache points at tsd.tcache.
                Owner::SlowPointsBack {
                    slow_tcache,
                    tcache,
                } => mem.read_u64(tsd.wrapping_add(slow_tcache)) == Some(tsd.wrapping_add(tcache)),
                // A thread's own cache is the one inside its tsd_t; there the ticker fields
                // are a flag, a small count and a pointer.
                Owner::Ticker {
                    bypass,
                    narenas_tdata,
                    arenas_tdata,
                } => {
                    let bypass = read_u8(mem, tsd.wrapping_add(bypass));
                    let narenas = mem.read_u32(tsd.wrapping_add(narenas_tdata));
                    let tdata = mem.read_u64(tsd.wrapping_add(arenas_tdata));
                    match (bypass, narenas, tdata) {
                        (Some(bypass @ 0..=1), Some(n), Some(tdata))
                            if n <= 4096 && (tdata == 0) == (n == 0) =>
                        {
                            t.decay_ticker = Some(match (tdata != 0, bypass != 0) {
                                (true, _) => Ticker::Started,
                                (false, false) => Ticker::NotYet,
                                (false, true) => Ticker::Never,
                            });
                            true
                        }
                        _ => false,
                    }
                }
            };
            if own {
                t.tsd = Some(tsd);
                t.allocated = mem.read_u64(tsd.wrapping_add(o.thread_allocated));
                t.deallocated = mem.read_u64(tsd.wrapping_add(o.thread_deallocated));
                t.tid = tid_for(tsd, threads, arch);
            }
        }
        out.push(t);
    }
    out.sort_by_key(|t| (t.tid.is_none(), t.tid, t.arena));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tsd_t` between two threads' thread pointers belongs to the one above it on x86_64
    /// (TLS below the TCB) and to the one below it on aarch64 (TLS after the TCB).
    #[test]
    fn the_owner_is_found_on_the_side_of_the_tls_variant() {
        let threads = [(1, 0x7000_1000), (2, 0x7000_3000)];
        assert_eq!(tid_for(0x7000_2000, &threads, Arch::X86_64), Some(2));
        assert_eq!(tid_for(0x7000_2000, &threads, Arch::Aarch64), Some(1));
        assert_eq!(tid_for(0x7000_0800, &threads, Arch::Aarch64), None);
    }
}
