//! Thread caches: `tcache_perthread_struct` chunks found by their shape (every list holds
//! exactly its count of chunks of its bin's size), and the thread whose TLS points at each.

use std::collections::{HashMap, HashSet};

use super::super::layout::{tcache_chunk_size, TcacheLayout, SIZE_BITS, TCACHE_MAX_BINS};
use super::super::mem::{block, word};
use super::super::model::Tcache;
use super::{Mark, Range, Walker};

/// A tcache's non-empty `(bin, count)`s and the chunks its lists hold.
type TcacheContents = (Vec<(usize, u64)>, Vec<u64>);

impl Walker<'_> {
    /// Finds the tcaches: chunks of `tcache_perthread_struct`'s size, in use, whose lists
    /// hold exactly `counts[i]` chunks of bin `i`'s size each.
    pub(super) fn find_tcaches(&mut self, ranges: &[Range]) {
        let layouts: Vec<TcacheLayout> = match &self.loc.layout.tcache {
            Some(t) => vec![t.clone()],
            None if self.loc.tcache_unknown => vec![TcacheLayout::new(2), TcacheLayout::new(1)],
            None => {
                // Before 2.27 (no have_fastchunks): only 2.26 has a tcache, with byte counts.
                vec![TcacheLayout::new(1)]
            }
        };
        let sizes: Vec<u64> = layouts.iter().map(|l| l.chunk_size()).collect();
        let mut candidates = Vec::new();
        for seg in self.segments.clone() {
            self.skim_segment(&seg, |c, size, in_use| {
                if in_use && sizes.contains(&size) && candidates.len() < 100_000 {
                    candidates.push((c, size));
                }
            });
        }
        let modes: Vec<bool> = match self.safe_linking {
            Some(m) => vec![m],
            None => vec![false, true],
        };
        let mut found: Vec<(u64, TcacheLayout, bool, TcacheContents)> = Vec::new();
        for &(c, size) in &candidates {
            for tl in layouts.iter().filter(|l| l.chunk_size() == size) {
                for &mode in &modes {
                    if let Some(contents) = self.check_tcache(c + 16, tl, mode, ranges) {
                        found.push((c + 16, tl.clone(), mode, contents));
                    }
                }
            }
        }
        // Settle the unknowns by the non-empty tcaches.
        let non_empty: Vec<_> = found.iter().filter(|f| !f.3 .1.is_empty()).collect();
        if self.safe_linking.is_none() {
            if let Some(f) = non_empty.first() {
                self.safe_linking = Some(f.2);
            }
        }
        if self.loc.layout.tcache.is_none() {
            if let Some(f) = non_empty.first().copied().or(found.first()) {
                self.loc.layout.tcache = Some(f.1.clone());
            }
        }
        let mode = self.safe_linking.unwrap_or(false);
        let width = self.loc.layout.tcache.as_ref().map(|t| t.count_width);
        let owners = self.tcache_owners(found.iter().map(|f| f.0).collect());
        let full_at = self
            .params
            .as_ref()
            .and_then(|p| p.tcache_count)
            .unwrap_or(7);
        for (addr, tl, m, (counts, chunks)) in found {
            if m != mode || Some(tl.count_width) != width {
                continue;
            }
            let thread = owners.get(&addr).copied();
            // An empty tcache-shaped chunk no thread points at is just zeroed memory, unless
            // it is the first chunk of a heap, where tcache_init puts a thread's tcache.
            let first_chunk = self
                .segments
                .iter()
                .any(|s| s.start.wrapping_add(16) == addr);
            if chunks.is_empty() && thread.is_none() && (!owners.is_empty() || !first_chunk) {
                continue;
            }
            if self.tcaches.iter().any(|t| t.address == addr) {
                continue;
            }
            let bytes = counts.iter().map(|&(i, n)| n * tcache_chunk_size(i)).sum();
            self.tcaches.push(Tcache {
                address: addr,
                thread,
                chunks: chunks.len() as u64,
                bytes,
                full_bins: counts.iter().filter(|c| c.1 >= full_at).count() as u64,
                counts,
            });
            self.marks
                .v
                .extend(chunks.into_iter().map(|c| (c, Mark::Tcache)));
        }
    }

    /// Checks a tcache candidate; returns its non-empty `(bin, count)`s and chunks.
    fn check_tcache(
        &self,
        t: u64,
        tl: &TcacheLayout,
        mangled: bool,
        ranges: &[Range],
    ) -> Option<TcacheContents> {
        let b = block(self.target, t, tl.size_of as usize)?;
        let max_count = self
            .params
            .as_ref()
            .and_then(|p| p.tcache_count)
            .filter(|&c| c > 0)
            .unwrap_or(if tl.count_width == 1 { 127 } else { 65535 });
        let mut counts = Vec::new();
        let mut chunks = Vec::new();
        for i in 0..TCACHE_MAX_BINS {
            let n = match tl.count_width {
                1 => b[i] as u64,
                _ => u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u64,
            };
            let mut e = word(&b, tl.entries + 8 * i as u64);
            if (n == 0) != (e == 0) || n > max_count {
                return None;
            }
            for k in 0..n {
                let c = e.wrapping_sub(16);
                if !e.is_multiple_of(16) || !Self::in_ranges(ranges, None, c) {
                    return None;
                }
                let hdr = block(self.target, c, 24)?;
                if word(&hdr, 8) & !SIZE_BITS != tcache_chunk_size(i) {
                    return None;
                }
                chunks.push(c);
                let raw = word(&hdr, 16);
                e = if mangled { raw ^ (e >> 12) } else { raw };
                if k + 1 == n && e != 0 {
                    return None;
                }
            }
            if n > 0 {
                counts.push((i, n));
            }
        }
        Some((counts, chunks))
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
