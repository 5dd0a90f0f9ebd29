//! The free lists of each arena: regular bins and fastbins, walked with bounds and link
//! checks; fastbin chunks a thread was consolidating when the core was taken; whether links
//! are mangled (safe-linking); chunks named by two lists.

use std::borrow::Cow;
use std::collections::HashSet;

use super::super::layout::{
    bin_index, fastbin_chunk_size, IS_MMAPPED, MINSIZE, NBINS, NFASTBINS, NON_MAIN_ARENA,
    SIZE_BITS, TCACHE_MAX_BINS,
};
use super::super::mem::{block, word, AsMemory};
use super::super::model::{BinFigures, FastbinFigures};
use super::{reveal, Mark, Marks, Range, Walker};
use crate::cycle::{first_repeat, Brent};
use crate::scan::{prefetch, Cursor};

/// A damage report before it is filed: kind, address, sentence.
type Problem = (&'static str, u64, String);

/// One fastbin's walk under way: where it is, what it found.
pub(super) struct FastbinWalk {
    figures: FastbinFigures,
    /// The chunk to look at next (0: the list's end).
    p: u64,
    /// The chunk (or, first, the arena) that linked to `p`.
    prev: u64,
    chunks: Vec<u64>,
    guard: Brent,
    done: bool,
    problems: Vec<Problem>,
}

/// What the walk of an arena's bins found, before it is filed.
pub(super) struct BinsFound {
    figures: Vec<BinFigures>,
    marks: Vec<u64>,
    problems: Vec<Problem>,
}

/// One bin's walk: its header, its name in messages, the longest list its heaps allow, and
/// where damage goes.
struct BinWalk<'p> {
    bin: u64,
    name: String,
    limit: u64,
    problems: &'p mut Vec<Problem>,
}

/// The walk of one arena's fastbins: what it reads besides the walks themselves, shareable
/// with another thread when `mem` is.
pub(super) struct FastbinPass<'p, M: ?Sized> {
    mem: &'p M,
    idx: usize,
    ranges: &'p [Range],
    limit: u64,
    arena: u64,
    safe_linking: bool,
}

impl<M: AsMemory + ?Sized> FastbinPass<'_, M> {
    /// Walks the fastbins. The lists are followed side by side, a link of each in turn,
    /// and each next chunk's header is fetched ahead: a list's chunks lie anywhere in the
    /// heap, so following one list alone waits on memory at every link (most of the walk's
    /// time on a heap of millions of freed chunks), where the lists' reads can overlap.
    pub(super) fn walk(&self, walks: &mut [FastbinWalk]) {
        let cur = Cursor::new(self.mem.memory());
        let mut active = walks.len();
        while active > 0 {
            active = 0;
            for w in walks.iter_mut().filter(|w| !w.done) {
                self.step(w, &cur);
                active += usize::from(!w.done);
            }
        }
    }

    /// One link of a fastbin's walk: checks the chunk at `w.p` and moves to the next.
    fn step(&self, w: &mut FastbinWalk, cur: &Cursor) {
        let (i, p, prev, addr) = (w.figures.index, w.p, w.prev, self.arena);
        let (idx, ranges, limit) = (self.idx, self.ranges, self.limit);
        w.done = true;
        if p == 0 {
            return;
        }
        if !Walker::chunk_ok(ranges, idx, p) {
            w.problems.push((
                "bad_link",
                prev,
                format!(
                    "fastbin {i} of arena {addr:#x}: {prev:#x} links to {p:#x}, outside the arena's heaps or misaligned; the rest of the list is skipped"
                ),
            ));
            return;
        }
        let chunks = &mut w.chunks;
        if w.guard.looped(p) || chunks.len() as u64 > limit {
            // A chunk freed twice (free (a), free (b), free (a) passes glibc's check, which
            // compares with the top of the list only) or a link overwritten: the list is a
            // ring. Each chunk counts once.
            chunks.push(p);
            let at = first_repeat(chunks).unwrap_or(chunks.len() - 1);
            let again = chunks[at];
            chunks.truncate(at);
            w.problems.push((
                "loop",
                again,
                format!(
                    "fastbin {i} of arena {addr:#x} loops: the chunk at {:#x} links back to {again:#x} (freed twice?); each chunk counted once",
                    chunks.last().copied().unwrap_or(addr)
                ),
            ));
            return;
        }
        let here = cur.bytes_at(p);
        let Some(b) = here
            .get(..24)
            .map(Cow::Borrowed)
            .or_else(|| block(self.mem.memory(), p, 24))
        else {
            w.problems.push((
                "unreadable",
                p,
                format!("fastbin {i}: chunk {p:#x} is not in the core"),
            ));
            return;
        };
        let size = word(&b, 8) & !SIZE_BITS;
        if size != fastbin_chunk_size(i) {
            w.problems.push((
                "bad_size",
                p,
                format!(
                    "fastbin {i} of arena {addr:#x} holds chunk {p:#x} of size {size:#x}, not {:#x}",
                    fastbin_chunk_size(i)
                ),
            ));
        }
        chunks.push(p);
        w.prev = p;
        w.p = reveal(self.safe_linking, p.wrapping_add(16), word(&b, 16));
        w.done = false;
        prefetch(cur.bytes_at(w.p));
    }
}

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

    /// Walks every regular bin of arena `idx` forward (`fd`); where a link is broken, walks
    /// back from the bin's `bk` to the break, so one overwritten chunk costs the bin nothing
    /// but that chunk's report (a bin is a doubly linked ring, malloc/malloc.c).
    pub(super) fn bins_of(&self, idx: usize, ranges: &[Range]) -> BinsFound {
        let st = &self.loc.layout.state;
        let addr = self.raw[idx].addr;
        let limit = chunk_limit(idx, ranges);
        let mut figures = Vec::new();
        let mut marks = Vec::new();
        let mut problems = Vec::new();
        for i in 1..NBINS {
            let bin = st.bin_at(addr, i);
            let (first, last) = self.raw[idx].bins[i - 1];
            if first == 0 || first == bin {
                continue; // empty (0: an arena whose bins were never initialised)
            }
            let mut ctx = BinWalk {
                bin,
                name: format!("bin {i} of arena {addr:#x}"),
                limit,
                problems: &mut problems,
            };
            let (mut chunks, whole) = self.bin_forward(&mut ctx, first, idx, ranges);
            if !whole {
                let back = self.bin_backward(&mut ctx, last, &chunks, idx, ranges);
                chunks.extend(back);
            }
            let mut f = BinFigures {
                index: i,
                from: u64::MAX,
                ..Default::default()
            };
            for &(r, size) in &chunks {
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
                marks.push(Marks::word(r, Mark::Bin));
            }
            if f.count > 0 {
                figures.push(f);
            }
        }
        BinsFound {
            figures,
            marks,
            problems,
        }
    }

    /// Files what the walk of arena `idx`'s bins found.
    pub(super) fn file_bins(&mut self, idx: usize, found: BinsFound) {
        self.arenas[idx].detail.bins = found.figures;
        self.marks.v.extend(found.marks);
        for (k, a, m) in found.problems {
            self.list_problem(idx, k, a, m);
        }
    }

    /// Notes a problem of one of arena `idx`'s lists; one that ran into memory a truncated
    /// core lacks (a mapping the cut took part of, not a wild link) leaves the arena's free
    /// chunks in no bin unexplained rather than damaged.
    fn list_problem(&mut self, idx: usize, kind: &'static str, address: u64, message: String) {
        let lost = || {
            self.target.is_truncated()
                && self.target.mappings().iter().any(|m| {
                    m.start <= address
                        && address < m.end
                        && address >= m.start.saturating_add(m.dumped)
                })
        };
        if kind == "unreadable" && !self.raw[idx].lists_cut && lost() {
            self.raw[idx].lists_cut = true;
            self.notes.push(format!(
                "a free list of arena {:#x} runs into memory the core lacks: its free chunks \
                 that no list names may be on the lost part, and are not called damage",
                self.raw[idx].addr
            ));
        }
        self.problem(kind, address, message);
    }

    /// Whether `c` may be a chunk of arena `idx`'s lists.
    fn chunk_ok(ranges: &[Range], idx: usize, c: u64) -> bool {
        c.is_multiple_of(16) && Self::in_ranges(ranges, Some(idx), c)
    }

    /// A bin from its `fd`: its chunks with their size fields, and whether the walk got back
    /// to the bin header.
    fn bin_forward(
        &self,
        ctx: &mut BinWalk<'_>,
        first: u64,
        idx: usize,
        ranges: &[Range],
    ) -> (Vec<(u64, u64)>, bool) {
        let (bin, name) = (ctx.bin, ctx.name.as_str());
        let mut chunks: Vec<(u64, u64)> = Vec::new();
        let mut guard = Brent::new();
        let (mut prev, mut r) = (bin, first);
        while r != bin {
            if !Self::chunk_ok(ranges, idx, r) {
                ctx.problems.push((
                    "bad_link",
                    prev,
                    format!(
                        "{name}: {} links to {r:#x}, outside the arena's heaps or misaligned",
                        if prev == bin {
                            "the bin header".to_string()
                        } else {
                            format!("the chunk at {prev:#x}")
                        }
                    ),
                ));
                return (chunks, false);
            }
            if guard.looped(r) || chunks.len() as u64 > ctx.limit {
                let mut addrs: Vec<u64> = chunks.iter().map(|c| c.0).collect();
                addrs.push(r);
                let at = first_repeat(&addrs).unwrap_or(addrs.len() - 1);
                let again = addrs[at];
                chunks.truncate(at.min(chunks.len()));
                ctx.problems.push((
                    "loop",
                    again,
                    format!(
                        "{name} loops: the chunk at {:#x} links back to {again:#x}",
                        chunks.last().map_or(bin, |c| c.0)
                    ),
                ));
                return (chunks, false);
            }
            let Some(b) = block(self.target, r, 32) else {
                ctx.problems.push((
                    "unreadable",
                    r,
                    format!("{name}: chunk {r:#x} is not in the core"),
                ));
                return (chunks, false);
            };
            let (size, fd, bk) = (word(&b, 8), word(&b, 16), word(&b, 24));
            chunks.push((r, size));
            let fd_ok = fd == bin || Self::chunk_ok(ranges, idx, fd);
            if bk != prev {
                let what = if fd_ok {
                    format!("{name}: chunk {r:#x} has bk {bk:#x} but follows {prev:#x}")
                } else {
                    format!(
                        "{name}: chunk {r:#x} has fd {fd:#x} and bk {bk:#x}, neither a link of \
                         the bin (written over after it was freed?)"
                    )
                };
                ctx.problems.push(("bad_link", r, what));
            } else if !fd_ok {
                ctx.problems.push((
                    "bad_link",
                    r,
                    format!("{name}: chunk {r:#x} links to {fd:#x}, outside the arena's heaps or misaligned"),
                ));
            }
            if !fd_ok {
                return (chunks, false);
            }
            prev = r;
            r = fd;
        }
        (chunks, true)
    }

    /// A bin from its `bk`, back to a chunk the forward walk reached (or to damage): the
    /// chunks the forward walk could not reach.
    fn bin_backward(
        &self,
        ctx: &mut BinWalk<'_>,
        last: u64,
        forward: &[(u64, u64)],
        idx: usize,
        ranges: &[Range],
    ) -> Vec<(u64, u64)> {
        let (bin, name) = (ctx.bin, ctx.name.as_str());
        let reached: HashSet<u64> = forward.iter().map(|c| c.0).collect();
        let mut chunks: Vec<(u64, u64)> = Vec::new();
        let mut guard = Brent::new();
        let (mut next, mut q) = (bin, last);
        while q != bin && !reached.contains(&q) {
            if !Self::chunk_ok(ranges, idx, q) {
                // Said once: the forward walk may have named this chunk already.
                if !ctx.problems.iter().any(|p| p.1 == next) {
                    ctx.problems.push((
                        "bad_link",
                        next,
                        format!("{name}: the bk of {next:#x} is {q:#x}, outside the arena's heaps or misaligned"),
                    ));
                }
                break;
            }
            if guard.looped(q) || chunks.len() as u64 > ctx.limit {
                let mut addrs: Vec<u64> = chunks.iter().map(|c| c.0).collect();
                addrs.push(q);
                let at = first_repeat(&addrs).unwrap_or(addrs.len() - 1);
                ctx.problems.push((
                    "loop",
                    addrs[at],
                    format!("{name} loops backwards at {:#x}", addrs[at]),
                ));
                chunks.truncate(at.min(chunks.len()));
                break;
            }
            let Some(b) = block(self.target, q, 32) else {
                ctx.problems.push((
                    "unreadable",
                    q,
                    format!("{name}: chunk {q:#x} is not in the core"),
                ));
                break;
            };
            let (size, fd, bk) = (word(&b, 8), word(&b, 16), word(&b, 24));
            if fd != next && !ctx.problems.iter().any(|p| p.1 == q) {
                ctx.problems.push((
                    "bad_link",
                    q,
                    format!("{name}: chunk {q:#x} has fd {fd:#x} but precedes {next:#x}"),
                ));
            }
            chunks.push((q, size));
            next = q;
            q = bk;
        }
        chunks
    }

    /// The fastbins of arena `idx`, their walks not yet begun (see [`FastbinPass`]).
    pub(super) fn fastbin_walks(&self, idx: usize) -> Vec<FastbinWalk> {
        (0..NFASTBINS)
            .filter(|&i| self.raw[idx].fastbins[i] != 0)
            .map(|i| {
                let p = self.raw[idx].fastbins[i];
                FastbinWalk {
                    figures: FastbinFigures {
                        index: i,
                        count: 0,
                        chunk_size: self.target.read_u64(p.wrapping_add(8)).unwrap_or(0)
                            & !SIZE_BITS,
                    },
                    p,
                    prev: self.raw[idx].addr,
                    chunks: Vec::new(),
                    guard: Brent::new(),
                    done: false,
                    problems: Vec::new(),
                }
            })
            .collect()
    }

    /// The walk of arena `idx`'s fastbins over `mem`.
    pub(super) fn fastbin_pass<'p, M: ?Sized>(
        &self,
        mem: &'p M,
        idx: usize,
        ranges: &'p [Range],
    ) -> FastbinPass<'p, M> {
        FastbinPass {
            mem,
            idx,
            ranges,
            limit: chunk_limit(idx, ranges),
            arena: self.raw[idx].addr,
            safe_linking: self.safe_linking == Some(true),
        }
    }

    /// Files what the walks of arena `idx`'s fastbins found: each list's damage and chunks
    /// in list order, as one list after another would file them.
    pub(super) fn file_fastbins(&mut self, idx: usize, walks: Vec<FastbinWalk>) {
        let mut figures = Vec::with_capacity(walks.len());
        for mut w in walks {
            for (k, a, m) in w.problems {
                self.list_problem(idx, k, a, m);
            }
            w.figures.count = w.chunks.len() as u64;
            self.marks.extend(w.chunks, Mark::Fast);
            figures.push(w.figures);
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
                        || self.marks.v.iter().any(|&m| m & !15 == c)
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
            self.marks.extend(best, Mark::Fast);
        }
    }

    pub(super) fn report_duplicates(&mut self) {
        let mut dups: Vec<u64> = self
            .marks
            .v
            .windows(2)
            .filter(|w| w[0] & !15 == w[1] & !15)
            .map(|w| w[0] & !15)
            .collect();
        dups.dedup(); // a chunk in three lists is one problem
        for d in dups {
            self.problem(
                "double_free",
                d,
                format!("chunk {d:#x} is in two free lists at once (a double free?)"),
            );
        }
    }
}

/// More chunks than this in one list of arena `idx` means the list loops.
fn chunk_limit(idx: usize, ranges: &[Range]) -> u64 {
    ranges
        .iter()
        .filter(|r| r.2 == idx)
        .map(|r| r.1.saturating_sub(r.0) / MINSIZE)
        .sum::<u64>()
        + 1
}
