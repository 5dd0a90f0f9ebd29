//! Thread caches: `tcache_perthread_struct` chunks found by their shape (every list holds
//! exactly its count of chunks of its bin's size), and the thread whose TLS points at each.

use std::collections::{HashMap, HashSet};

use super::super::layout::{tcache_chunk_size, TcacheLayout, SIZE_BITS, TCACHE_MAX_BINS};
use super::super::mem::{block, word};
use super::super::model::Tcache;
use super::{Mark, Range, Walker};
use crate::cycle::{first_repeat, Brent};

/// Damage found in a tcache's lists: kind, address, the sentence's end.
type Problem = (&'static str, u64, String);

/// A tcache's non-empty `(bin, count)`s and the chunks its lists hold.
type TcacheContents = (Vec<(usize, u64)>, Vec<u64>);

/// Chunks in use of a tcache's size, `(chunk, size)`, kept at most.
const MAX_CANDIDATES: usize = 100_000;

/// The chunks that may be tcaches, as a skim of the segments finds them.
pub(super) struct Candidates {
    sizes: Vec<u64>,
    v: Vec<(u64, u64)>,
}

impl Candidates {
    /// Candidates of the chunk sizes of `layouts`.
    pub(super) fn new(layouts: &[TcacheLayout]) -> Candidates {
        Candidates {
            sizes: layouts.iter().map(|l| l.chunk_size()).collect(),
            v: Vec::new(),
        }
    }

    /// One chunk of the skim.
    #[inline]
    pub(super) fn add(&mut self, c: u64, size: u64, in_use: bool) {
        if in_use && self.sizes.contains(&size) && self.v.len() < MAX_CANDIDATES {
            self.v.push((c, size));
        }
    }
}

impl Walker<'_> {
    /// The tcache layouts to look for.
    pub(super) fn tcache_layouts(&self) -> Vec<TcacheLayout> {
        match &self.loc.layout.tcache {
            Some(t) => vec![t.clone()],
            None if self.loc.tcache_unknown => vec![TcacheLayout::new(2), TcacheLayout::new(1)],
            None => {
                // Before 2.27 (no have_fastchunks): only 2.26 has a tcache, with byte counts.
                vec![TcacheLayout::new(1)]
            }
        }
    }

    /// Skims every segment for [`Candidates`].
    pub(super) fn skim_candidates(&self) -> Candidates {
        let mut candidates = Candidates::new(&self.tcache_layouts());
        for seg in &self.segments {
            self.skim_segment(seg, |c, size, in_use| candidates.add(c, size, in_use));
        }
        candidates
    }

    /// Finds the tcaches among the candidates: chunks of `tcache_perthread_struct`'s size,
    /// in use, whose lists hold exactly `counts[i]` chunks of bin `i`'s size each.
    pub(super) fn find_tcaches(&mut self, ranges: &[Range], candidates: Candidates) {
        let layouts = self.tcache_layouts();
        let candidates = candidates.v;
        let modes: Vec<bool> = match self.safe_linking {
            Some(m) => vec![m],
            None => vec![false, true],
        };
        let mut found: Vec<(u64, TcacheLayout, bool, TcacheContents)> = Vec::new();
        for &(c, size) in &candidates {
            for tl in layouts.iter().filter(|l| l.chunk_size() == size) {
                for &mode in &modes {
                    if let Some((contents, _)) = self.check_tcache(c + 16, tl, mode, ranges, true) {
                        found.push((c + 16, tl.clone(), mode, contents));
                    }
                }
            }
        }
        // Settle safe-linking by the non-empty tcaches.
        let non_empty: Vec<_> = found.iter().filter(|f| !f.3 .1.is_empty()).collect();
        if self.safe_linking.is_none() {
            if let Some(f) = non_empty.first() {
                self.safe_linking = Some(f.2);
            }
        }
        // Damaged tcaches: the shape holds (every count within bounds, every list's first
        // chunk of its bin's size) but a list breaks further on — a link written over after
        // free, a chunk freed twice. Kept only where a thread's TLS points at them or they
        // open a heap (where tcache_init puts them), so a stray chunk of that size is not
        // taken for one.
        let mut damaged: Vec<(u64, TcacheLayout, TcacheContents, Vec<Problem>)> = Vec::new();
        if let Some(mode) = self.safe_linking {
            for tl in &layouts {
                for &(c, size) in &candidates {
                    let t = c + 16;
                    if size != tl.chunk_size()
                        || found.iter().any(|f| f.0 == t)
                        || damaged.iter().any(|d| d.0 == t)
                    {
                        continue;
                    }
                    if let Some((contents, problems)) =
                        self.check_tcache(t, tl, mode, ranges, false)
                    {
                        damaged.push((t, tl.clone(), contents, problems));
                    }
                }
            }
        }
        let owners = self.tcache_owners(
            found
                .iter()
                .map(|f| f.0)
                .chain(damaged.iter().map(|d| d.0))
                .collect(),
        );
        let first_chunk = |addr: u64| {
            self.segments
                .iter()
                .any(|s| s.start.wrapping_add(16) == addr)
        };
        damaged.retain(|d| owners.contains_key(&d.0) || first_chunk(d.0));
        // Settle the layout: a whole non-empty tcache says most, then a damaged one a
        // thread owns; an empty one (zeroed memory of the right size) least.
        if self.loc.layout.tcache.is_none() {
            let settled = non_empty
                .first()
                .map(|f| &f.1)
                .or(damaged.first().map(|d| &d.1))
                .or(found.first().map(|f| &f.1));
            self.loc.layout.tcache = settled.cloned();
        }
        let mode = self.safe_linking.unwrap_or(false);
        let width = self.loc.layout.tcache.as_ref().map(|t| t.count_width);
        let full_at = self
            .params
            .as_ref()
            .and_then(|p| p.tcache_count)
            .unwrap_or(7);
        let mut accepted: Vec<(u64, TcacheContents, Vec<Problem>)> = Vec::new();
        for (addr, tl, m, contents) in found {
            if m != mode || Some(tl.count_width) != width {
                continue;
            }
            let thread = owners.get(&addr);
            // An empty tcache-shaped chunk no thread points at is just zeroed memory, unless
            // it is the first chunk of a heap, where tcache_init puts a thread's tcache.
            if contents.1.is_empty()
                && thread.is_none()
                && (!owners.is_empty() || !first_chunk(addr))
            {
                continue;
            }
            accepted.push((addr, contents, Vec::new()));
        }
        accepted.extend(
            damaged
                .into_iter()
                .filter(|d| Some(d.1.count_width) == width)
                .map(|d| (d.0, d.2, d.3)),
        );
        for (addr, (counts, chunks), problems) in accepted {
            if self.tcaches.iter().any(|t| t.address == addr) {
                continue;
            }
            let thread = owners.get(&addr).copied();
            let bytes = counts.iter().map(|&(i, n)| n * tcache_chunk_size(i)).sum();
            self.tcaches.push(Tcache {
                address: addr,
                thread,
                chunks: chunks.len() as u64,
                bytes,
                full_bins: counts.iter().filter(|c| c.1 >= full_at).count() as u64,
                counts,
            });
            self.marks.extend(chunks, Mark::Tcache);
            for (kind, at, message) in problems {
                let whose = thread.map_or(String::new(), |t| format!(" (thread {t})"));
                self.problem(kind, at, format!("tcache at {addr:#x}{whose}, {message}"));
            }
        }
    }

    /// Checks a tcache candidate; returns its non-empty `(bin, count)`s (as the counts say)
    /// and the chunks its lists hold. `strict`: every list must hold exactly its count of
    /// chunks of its bin's size, else `None`; otherwise only the counts and each list's
    /// first chunk must fit, and where a list breaks further on, its chunks up to there
    /// are kept and the damage is returned.
    fn check_tcache(
        &self,
        t: u64,
        tl: &TcacheLayout,
        mangled: bool,
        ranges: &[Range],
        strict: bool,
    ) -> Option<(TcacheContents, Vec<Problem>)> {
        let b = block(self.target, t, tl.size_of as usize)?;
        let max_count = self
            .params
            .as_ref()
            .and_then(|p| p.tcache_count)
            .filter(|&c| c > 0)
            .unwrap_or(if tl.count_width == 1 { 127 } else { 65535 });
        let mut counts = Vec::new();
        let mut chunks = Vec::new();
        let mut problems = Vec::new();
        for i in 0..TCACHE_MAX_BINS {
            let n = match tl.count_width {
                1 => b[i] as u64,
                _ => u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u64,
            };
            let mut e = word(&b, tl.entries + 8 * i as u64);
            if (n == 0) != (e == 0) || n > max_count {
                return None;
            }
            let size = tcache_chunk_size(i);
            let fits = |e: u64| -> Option<u64> {
                let c = e.wrapping_sub(16);
                if !e.is_multiple_of(16) || !Self::in_ranges(ranges, None, c) {
                    return None;
                }
                let hdr = block(self.target, c, 24)?;
                (word(&hdr, 8) & !SIZE_BITS == size).then(|| word(&hdr, 16))
            };
            let mut guard = Brent::new();
            let mut list: Vec<u64> = Vec::new();
            for k in 0..n {
                let c = e.wrapping_sub(16);
                let Some(raw) = fits(e) else {
                    let Some(&last) = list.last().filter(|_| !strict) else {
                        return None; // the list's head: not a tcache
                    };
                    problems.push((
                        "bad_link",
                        last,
                        format!(
                            "bin {i}: chunk {last:#x} links to {e:#x}{}, not a chunk of {size:#x} \
                             bytes (data written over the link after free?); {} of {n} chunks kept",
                            if mangled {
                                " once revealed (safe-linking)"
                            } else {
                                ""
                            },
                            list.len()
                        ),
                    ));
                    break;
                };
                if guard.looped(c) {
                    if strict {
                        return None;
                    }
                    list.push(c);
                    let at = first_repeat(&list).unwrap_or(list.len() - 1);
                    let again = list[at];
                    list.truncate(at);
                    problems.push((
                        "loop",
                        again,
                        format!(
                            "bin {i} loops: chunk {:#x} links back to {again:#x} (freed twice?); \
                             distinct chunks: {} of the {n} its count says",
                            list.last().copied().unwrap_or(again),
                            list.len()
                        ),
                    ));
                    break;
                }
                list.push(c);
                e = if mangled { raw ^ (e >> 12) } else { raw };
                if k + 1 == n && e != 0 {
                    if strict {
                        return None;
                    }
                    problems.push((
                        "bad_count",
                        c,
                        format!(
                            "bin {i}: the count says {n} chunks but the list goes on past {c:#x}"
                        ),
                    ));
                }
            }
            chunks.extend(list);
            if n > 0 {
                counts.push((i, n));
            }
        }
        if !strict && problems.is_empty() {
            return None; // whole: the strict check decides
        }
        Some(((counts, chunks), problems))
    }

    /// Which thread's TLS points at each tcache (x86_64: the static TLS block lies below
    /// `fs_base`, and glibc's `tcache` variable sits at the same offset in every thread's).
    fn tcache_owners(&self, tcaches: Vec<u64>) -> HashMap<u64, u64> {
        let tcaches: HashSet<u64> = tcaches.into_iter().collect();
        let mut hits: Vec<(u64, u64, u64)> = Vec::new(); // (offset, tid, tcache)
        for th in self.target.threads() {
            let Some(tp) = th.registers.get("fs_base").filter(|&t| t != 0) else {
                continue;
            };
            // Down from the thread pointer, a page at a time, while memory is readable.
            let mut hi = tp & !7;
            while tp - hi < 0x10000 {
                let Some(lo) = hi.checked_sub(1).map(|x| x & !0xfff) else {
                    break;
                };
                let Some(b) = block(self.target, lo, (hi - lo) as usize) else {
                    break;
                };
                for off in (0..b.len() as u64).step_by(8) {
                    let v = word(&b, off);
                    if v != 0 && tcaches.contains(&v) {
                        hits.push((tp - (lo + off), th.tid, v));
                    }
                }
                hi = lo;
            }
        }
        // The offset most threads agree on.
        let mut by_off: HashMap<u64, usize> = HashMap::new();
        for h in &hits {
            *by_off.entry(h.0).or_default() += 1;
        }
        let Some((&best, _)) = by_off
            .iter()
            .max_by_key(|(o, n)| (**n, std::cmp::Reverse(**o)))
        else {
            return HashMap::new();
        };
        hits.into_iter()
            .filter(|h| h.0 == best)
            .map(|h| (h.2, h.1))
            .collect()
    }
}
