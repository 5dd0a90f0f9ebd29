//! The free lists of each arena: regular bins and fastbins, walked with bounds and link
//! checks; fastbin chunks a thread was consolidating when the core was taken; whether links
//! are mangled (safe-linking); chunks named by two lists.

use super::super::layout::{
    bin_index, fastbin_chunk_size, IS_MMAPPED, MINSIZE, NBINS, NFASTBINS, NON_MAIN_ARENA,
    SIZE_BITS, TCACHE_MAX_BINS,
};
use super::super::mem::{block, word};
use super::super::model::{BinFigures, FastbinFigures};
use super::{Mark, Range, Walker};

impl Walker<'_> {
    /// Looks at the first link of each fastbin and tcache list: a stored value equal to
    /// its own address >> 12 is a mangled NULL; a plain chunk pointer is an unmangled one.
    pub(super) fn detect_safe_linking(&self, ranges: &[Range]) -> Option<bool> {
        let mut votes = (0u32, 0u32);
        for raw in &self.raw {
            for &p in &raw.fastbins {
                if p == 0 {
                    continue;
                }
                if let Some(v) = self.target.read_u64(p.wrapping_add(16)) {
                    vote(&mut votes, p.wrapping_add(16), v, ranges, 16);
                }
            }
        }
        // The main thread's tcache is usually the first chunk of the brk heap.
        if let (Some(seg), Some(tl)) = (
            self.segments.iter().find(|s| s.arena == 0),
            &self.loc.layout.tcache,
        ) {
            if let Some(b) = block(self.target, seg.start + 16, tl.size_of as usize) {
                for i in 0..TCACHE_MAX_BINS as u64 {
                    let e = word(&b, tl.entries + 8 * i);
                    if e != 0 && e.is_multiple_of(16) {
                        if let Some(v) = self.target.read_u64(e) {
                            vote(&mut votes, e, v, ranges, 16);
                        }
                    }
                }
            }
        }
        fn vote(votes: &mut (u32, u32), at: u64, v: u64, ranges: &[Range], off: u64) {
            let plain = |x: u64| {
                x.is_multiple_of(16) && Walker::in_ranges(ranges, None, x.wrapping_sub(off))
            };
            if v == 0 {
                votes.0 += 1;
            } else if v == at >> 12 || plain(v ^ (at >> 12)) {
                votes.1 += 1;
            } else if plain(v) {
                votes.0 += 1;
            }
        }
        match votes {
            (0, 0) => None,
            (plain, mangled) => Some(mangled > plain),
        }
    }

    pub(super) fn walk_bins(&mut self, idx: usize, ranges: &[Range]) {
        let st = &self.loc.layout.state;
        let addr = self.raw[idx].addr;
        let limit = self.chunk_limit(idx, ranges);
        let mut figures = Vec::new();
        let mut marks = Vec::new();
        let mut problems = Vec::new();
        for i in 1..NBINS {
            let bin = st.bin_at(addr, i);
            let mut r = self.raw[idx].bins[i - 1].0;
            let mut prev = bin;
            let mut f = BinFigures {
                index: i,
                from: u64::MAX,
                ..Default::default()
            };
            while r != bin && r != 0 {
                if !Self::in_ranges(ranges, Some(idx), r) || !r.is_multiple_of(16) {
                    problems.push((
                        "bad_link",
                        prev,
                        format!(
                            "bin {i} of arena {addr:#x}: the chunk at {prev:#x} links to {r:#x}, outside the arena's heaps; the rest of the bin is skipped"
                        ),
                    ));
                    break;
                }
                let Some(b) = block(self.target, r, 32) else {
                    problems.push((
                        "unreadable",
                        r,
                        format!("bin {i} of arena {addr:#x}: chunk {r:#x} is not in the core"),
                    ));
                    break;
                };
                let (size, fd, bk) = (word(&b, 8), word(&b, 16), word(&b, 24));
                if bk != prev {
                    problems.push((
                        "bad_link",
                        r,
                        format!(
                            "bin {i} of arena {addr:#x}: chunk {r:#x} has bk {bk:#x} but follows {prev:#x}"
                        ),
                    ));
                }
                let chunk_size = size & !SIZE_BITS;
                if i >= 2 && bin_index(chunk_size) != i {
                    problems.push((
                        "bad_size",
                        r,
                        format!(
                            "bin {i} of arena {addr:#x} holds chunk {r:#x} of size {chunk_size:#x}, which belongs in bin {}",
                            bin_index(chunk_size)
                        ),
                    ));
                }
                f.count += 1;
                f.total = f.total.wrapping_add(size);
                f.from = f.from.min(size);
                f.to = f.to.max(size);
                marks.push((r, Mark::Bin));
                if f.count > limit {
                    problems.push((
                        "loop",
                        r,
                        format!("bin {i} of arena {addr:#x} holds more chunks than its heaps can: it loops; stopped"),
                    ));
                    break;
                }
                prev = r;
                r = fd;
            }
            if f.count == 0 {
                f.from = 0;
            }
            if f.count > 0 {
                figures.push(f);
            }
        }
        self.arenas[idx].detail.bins = figures;
        self.marks.v.extend(marks);
        for (k, a, m) in problems {
            self.problem(k, a, m);
        }
    }

    /// More chunks than this in one list means the list loops.
    fn chunk_limit(&self, idx: usize, ranges: &[Range]) -> u64 {
        ranges
            .iter()
            .filter(|r| r.2 == idx)
            .map(|r| r.1.saturating_sub(r.0) / MINSIZE)
            .sum::<u64>()
            + 1
    }

    pub(super) fn walk_fastbins(&mut self, idx: usize, ranges: &[Range]) {
        let addr = self.raw[idx].addr;
        let limit = self.chunk_limit(idx, ranges);
        let mut figures = Vec::new();
        for i in 0..NFASTBINS {
            let mut p = self.raw[idx].fastbins[i];
            if p == 0 {
                continue;
            }
            let mut f = FastbinFigures {
                index: i,
                count: 0,
                chunk_size: self.target.read_u64(p.wrapping_add(8)).unwrap_or(0) & !SIZE_BITS,
            };
            let mut prev = addr;
            while p != 0 {
                if !p.is_multiple_of(16) || !Self::in_ranges(ranges, Some(idx), p) {
                    self.problem(
                        "bad_link",
                        prev,
                        format!(
                            "fastbin {i} of arena {addr:#x}: {prev:#x} links to {p:#x}, outside the arena's heaps or misaligned; the rest of the list is skipped"
                        ),
                    );
                    break;
                }
                let Some(b) = block(self.target, p, 24) else {
                    self.problem(
                        "unreadable",
                        p,
                        format!("fastbin {i}: chunk {p:#x} is not in the core"),
                    );
                    break;
                };
                let size = word(&b, 8) & !SIZE_BITS;
                if size != fastbin_chunk_size(i) {
                    self.problem(
                        "bad_size",
                        p,
                        format!(
                            "fastbin {i} of arena {addr:#x} holds chunk {p:#x} of size {size:#x}, not {:#x}",
                            fastbin_chunk_size(i)
                        ),
                    );
                }
                f.count += 1;
                self.marks.v.push((p, Mark::Fast));
                if f.count > limit {
                    self.problem(
                        "loop",
                        p,
                        format!("fastbin {i} of arena {addr:#x} loops; stopped"),
                    );
                    break;
                }
                prev = p;
                p = self.reveal(p.wrapping_add(16), word(&b, 16));
            }
            figures.push(f);
        }
        self.arenas[idx].detail.fastbins = figures;
    }

    /// Fastbin chunks a thread has taken out of the lists but not yet put back.
    ///
    /// `malloc_consolidate` empties each fastbin with one atomic exchange and then merges
    /// the chunks one by one, holding the arena lock (malloc/malloc.c); a core taken in the
    /// middle shows freed chunks that no list names. chap's cores have one: glibc 2.17's
    /// SpinningThreads, arena 0x7fffdc000020, whose lock is held by a thread whose frame
    /// pointer is the arena and another register the 0x20-byte chunk at 0x7fffdc0008b0.
    /// Like chap (src/LibcMalloc/FastBinFreeStatusFixer.h), when the lock is held and a
    /// thread's registers point into the arena's fastbin array, the longest chain of
    /// fastbin-linked chunks starting at another of its registers is counted as free.
    pub(super) fn fastbins_in_flight(&mut self, idx: usize, ranges: &[Range]) {
        let st = self.loc.layout.state.clone();
        let arena = self.raw[idx].addr;
        if self.target.read_u32(arena).unwrap_or(0) == 0 {
            return; // the mutex is free: nobody is in the middle of anything
        }
        let (fb_lo, fb_hi) = (
            arena + st.fastbins,
            arena + st.fastbins + 8 * NFASTBINS as u64,
        );
        let heap_max = self.heap_max();
        let mut best: Vec<u64> = Vec::new();
        let mut who = 0;
        for th in self.target.threads() {
            let regs: Vec<u64> = th.registers.iter().map(|(_, v)| v).collect();
            if !regs
                .iter()
                .any(|&r| r >= fb_lo && r < fb_hi && r.is_multiple_of(8))
            {
                continue;
            }
            for &r in &regs {
                if (r >= arena && r < fb_hi)
                    || !r.is_multiple_of(16)
                    || !Self::in_ranges(ranges, Some(idx), r)
                {
                    continue;
                }
                let mut chain = Vec::new();
                let mut c = r;
                while c != 0 && chain.len() < 1 << 20 {
                    let Some(sf) = self.target.read_u64(c.wrapping_add(8)) else {
                        break;
                    };
                    let bits = sf & (IS_MMAPPED | NON_MAIN_ARENA);
                    let ok_bits = if idx == 0 {
                        bits == 0
                    } else {
                        bits == NON_MAIN_ARENA
                    };
                    let size = sf & !SIZE_BITS;
                    let in_heap =
                        idx == 0 || self.target.read_u64(c & !(heap_max - 1)) == Some(arena);
                    if !ok_bits
                        || !in_heap
                        || size < MINSIZE
                        || size > fastbin_chunk_size(NFASTBINS - 1)
                        || !c.is_multiple_of(16)
                        || !Self::in_ranges(ranges, Some(idx), c)
                        || self.marks.v.iter().any(|m| m.0 == c)
                        || chain.contains(&c)
                    {
                        break;
                    }
                    chain.push(c);
                    let Some(raw) = self.target.read_u64(c.wrapping_add(16)) else {
                        break;
                    };
                    c = self.reveal(c.wrapping_add(16), raw);
                }
                if chain.len() > best.len() {
                    best = chain;
                    who = th.tid;
                }
            }
        }
        if !best.is_empty() {
            self.notes.push(format!(
                "arena {arena:#x} was locked by thread {who} working on its fastbins: {} chunk{} its registers hold (from {:#x}) counted as freed",
                best.len(),
                if best.len() == 1 { "" } else { "s" },
                best[0]
            ));
            self.marks
                .v
                .extend(best.into_iter().map(|c| (c, Mark::Fast)));
        }
    }

    pub(super) fn report_duplicates(&mut self) {
        let dups: Vec<u64> = self
            .marks
            .v
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[0].0)
            .collect();
        for d in dups {
            self.problem(
                "double_free",
                d,
                format!("chunk {d:#x} is in two free lists at once (a double free?)"),
            );
        }
    }
}
