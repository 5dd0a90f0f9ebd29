//! The walk: arenas, their free lists, tcaches, then every chunk in address order.
//!
//! Order of work: (1) find `main_arena`/`mp_` ([`super::locate`]); (2) read each arena of
//! the ring and the heaps it owns; (3) walk every free list — bins, fastbins — with bounds
//! and link checks, noting each listed chunk; (4) a quick pass over the chunks to find the
//! tcaches (`tcache_perthread_struct` chunks whose lists check out); (5) the full pass, where
//! each chunk's state comes from its neighbour's `PREV_INUSE` bit and the lists that name
//! it, streamed into per-arena figures without storing chunks (unless a list was asked
//! for); (6) mmapped chunks from the anonymous mappings; (7) findings.

use std::collections::{BinaryHeap, HashMap};

use core_reader::{Memory, Process};

use super::layout::*;
use super::locate::{locate, Located, MAX_ARENAS};
use super::mem::{block, word};
use super::model::*;
use super::Error;

/// What to do besides the figures.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Keep every allocation (for `--list`).
    pub list: bool,
    /// Show a progress bar on a terminal when the walk takes more than a second.
    pub progress: bool,
}

/// A tcache's non-empty `(bin, count)`s and the chunks its lists hold.
type TcacheContents = (Vec<(usize, u64)>, Vec<u64>);

/// How many holes each arena keeps.
const TOP_HOLES: usize = 10;
/// Heaps of one thread arena followed at most.
const MAX_HEAPS: usize = 1 << 16;

/// A stretch of memory holding consecutive chunks of one arena.
#[derive(Debug, Clone)]
struct Segment {
    arena: usize,
    start: u64,
    end: u64,
    /// The top chunk, when this segment ends with it.
    top: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Bin,
    Fast,
    Tcache,
}

/// Chunks named by a free list, sorted by address.
#[derive(Default)]
struct Marks {
    v: Vec<(u64, Mark)>,
}

/// The raw `malloc_state` of one arena.
struct RawArena {
    addr: u64,
    fastbins: [u64; NFASTBINS],
    top: u64,
    bins: Vec<(u64, u64)>,
    attached: Option<u64>,
    system_mem: u64,
    max_system_mem: u64,
}

/// Walks glibc malloc's heap in a core.
pub fn walk(process: &Process, options: &WalkOptions) -> Result<GlibcHeap, Error> {
    let loc = locate(process).map_err(Error::NotFound)?;
    let mut w = Walker::new(process, loc, options);
    w.run();
    Ok(w.finish())
}

struct Walker<'a> {
    mem: &'a dyn Memory,
    process: &'a Process,
    loc: Located,
    page: u64,
    params: Option<Params>,
    raw: Vec<RawArena>,
    arenas: Vec<Arena>,
    segments: Vec<Segment>,
    marks: Marks,
    safe_linking: Option<bool>,
    tcaches: Vec<Tcache>,
    problems: Vec<Problem>,
    notes: Vec<String>,
    skipped: u64,
    allocations: Option<Vec<Allocation>>,
    mmapped: (u64, u64),
    progress: super::progress::Progress,
}

impl<'a> Walker<'a> {
    fn new(process: &'a Process, loc: Located, options: &WalkOptions) -> Walker<'a> {
        let page = process
            .notes()
            .auxv_value(6) // AT_PAGESZ (linux include/uapi/linux/auxvec.h)
            .filter(|p| p.is_power_of_two() && *p >= 4096)
            .unwrap_or(4096);
        Walker {
            mem: process,
            process,
            safe_linking: loc.layout.safe_linking,
            loc,
            page,
            params: None,
            raw: Vec::new(),
            arenas: Vec::new(),
            segments: Vec::new(),
            marks: Marks::default(),
            tcaches: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            skipped: 0,
            allocations: options.list.then(Vec::new),
            mmapped: (0, 0),
            progress: super::progress::Progress::new(options.progress),
        }
    }

    fn problem(&mut self, kind: &'static str, address: u64, message: String) {
        // A badly broken heap must not drown the output: keep the first thousand.
        if self.problems.len() < 1000 {
            self.problems.push(Problem {
                kind,
                address,
                message,
            });
        }
    }

    fn run(&mut self) {
        self.read_params();
        self.read_arenas();
        self.find_segments();
        let ranges: Vec<(u64, u64, usize)> = self
            .segments
            .iter()
            .map(|s| (s.start, s.top.map_or(s.end, |t| t + 16), s.arena))
            .collect();
        if self.safe_linking.is_none() {
            self.safe_linking = self.detect_safe_linking(&ranges);
        }
        for i in 0..self.raw.len() {
            self.walk_bins(i, &ranges);
            self.walk_fastbins(i, &ranges);
            self.fastbins_in_flight(i, &ranges);
        }
        self.marks.v.sort_unstable_by_key(|m| m.0);
        self.find_tcaches(&ranges);
        self.marks.v.sort_unstable_by_key(|m| m.0);
        self.report_duplicates();
        let total: u64 = self
            .segments
            .iter()
            .map(|s| s.top.map_or(s.end, |t| t).saturating_sub(s.start))
            .sum();
        self.progress.start(total);
        for i in 0..self.segments.len() {
            let seg = self.segments[i].clone();
            self.walk_segment(&seg);
        }
        self.progress.finish();
        self.scan_mmapped();
    }

    fn read_params(&mut self) {
        let (Some(mp), Some(pl)) = (self.loc.mp, self.loc.layout.par.as_ref()) else {
            return;
        };
        let Some(b) = block(self.mem, mp, pl.size as usize) else {
            self.notes
                .push(format!("mp_ at {mp:#x} is not in the core"));
            return;
        };
        let i32_at = |off: u64| super::mem::word32(&b, off) as i32 as i64 as u64;
        self.params = Some(Params {
            address: mp,
            trim_threshold: word(&b, pl.trim_threshold),
            top_pad: word(&b, pl.top_pad),
            mmap_threshold: word(&b, pl.mmap_threshold),
            arena_max: word(&b, pl.arena_max),
            n_mmaps: i32_at(pl.n_mmaps),
            max_n_mmaps: i32_at(pl.max_n_mmaps),
            mmapped_mem: word(&b, pl.mmapped_mem),
            max_mmapped_mem: word(&b, pl.max_mmapped_mem),
            sbrk_base: word(&b, pl.sbrk_base),
            tcache_count: pl.tcache_count.map(|o| word(&b, o)),
            hp_pagesize: pl.hp_pagesize.map(|o| word(&b, o)),
        });
    }

    fn heap_max(&self) -> u64 {
        let hp = self
            .params
            .as_ref()
            .and_then(|p| p.hp_pagesize)
            .unwrap_or(0);
        self.loc.layout.heap_max_size(hp)
    }

    fn read_arenas(&mut self) {
        let st = self.loc.layout.state.clone();
        let main = self.loc.main_arena;
        let mut a = main;
        let mut seen = Vec::new();
        loop {
            if seen.contains(&a) {
                self.problem(
                    "loop",
                    a,
                    format!("the arena ring loops back to {a:#x} without reaching main_arena"),
                );
                break;
            }
            if seen.len() >= MAX_ARENAS {
                self.problem("loop", a, format!("more than {MAX_ARENAS} arenas: stopped"));
                break;
            }
            seen.push(a);
            let Some(b) = block(self.mem, a, st.size as usize) else {
                self.problem(
                    "unreadable",
                    a,
                    format!("arena at {a:#x} is not in the core: it and the arenas after it are skipped"),
                );
                break;
            };
            let mut fastbins = [0u64; NFASTBINS];
            for (i, f) in fastbins.iter_mut().enumerate() {
                *f = word(&b, st.fastbins + 8 * i as u64);
            }
            let bins = (1..NBINS)
                .map(|i| {
                    let off = st.bins + (i as u64 - 1) * 16;
                    (word(&b, off), word(&b, off + 8))
                })
                .collect();
            let raw = RawArena {
                addr: a,
                fastbins,
                top: word(&b, st.top),
                bins,
                attached: st.attached_threads.map(|o| word(&b, o)),
                system_mem: word(&b, st.system_mem),
                max_system_mem: word(&b, st.max_system_mem),
            };
            let next = word(&b, st.next);
            self.arenas.push(Arena {
                index: self.raw.len(),
                address: a,
                main: a == main,
                system_bytes: raw.system_mem,
                max_system_bytes: raw.max_system_mem,
                attached_threads: raw.attached,
                in_use_chunks: 0,
                in_use_bytes: 0,
                free_chunks: 0,
                free_bytes: 0,
                trimmable_bytes: 0,
                largest_free: 0,
                bin_chunks: 0,
                bin_bytes: 0,
                fastbin_chunks: 0,
                fastbin_bytes: 0,
                tcache_chunks: 0,
                tcache_bytes: 0,
                top: raw.top,
                top_size: self.mem.read_u64(raw.top + 8).unwrap_or(0) & !SIZE_BITS,
                free_at_top: 0,
                hole_bytes: 0,
                holes_count: 0,
                holes: Vec::new(),
                fastbins: Vec::new(),
                bins: Vec::new(),
                heaps: Vec::new(),
                walked_bytes: 0,
                histogram: Histogram::new(),
            });
            self.raw.push(raw);
            if next == main {
                break;
            }
            a = next;
        }
    }

    /// The heaps of every arena, as segments of consecutive chunks.
    fn find_segments(&mut self) {
        let st = self.loc.layout.state.clone();
        let hi = self.loc.layout.heap_info.clone();
        let heap_max = self.heap_max();
        for idx in 0..self.raw.len() {
            let (addr, top) = (self.raw[idx].addr, self.raw[idx].top);
            if top == st.bin_at(addr, 1) {
                continue; // initial_top: this arena never allocated
            }
            let top_size = self.arenas[idx].top_size;
            if idx == 0 {
                self.main_segments(top, top_size);
                continue;
            }
            // Thread arena: heap_info chain from the top's heap (malloc/arena.c).
            let mut heaps = Vec::new();
            let mut h = top & !(heap_max - 1);
            while h != 0 && heaps.len() < MAX_HEAPS {
                let Some(b) = block(self.mem, h, hi.size_of as usize) else {
                    self.problem(
                        "unreadable",
                        h,
                        format!("heap_info at {h:#x} of arena {addr:#x} is not in the core"),
                    );
                    break;
                };
                let ar = word(&b, hi.ar_ptr);
                if ar != addr {
                    self.problem(
                        "bad_link",
                        h,
                        format!(
                            "heap_info at {h:#x} names arena {ar:#x}, not {addr:#x}: its older heaps are skipped"
                        ),
                    );
                    break;
                }
                if heaps.iter().any(|x: &(u64, u64, u64)| x.0 == h) {
                    self.problem(
                        "loop",
                        h,
                        format!("heap_info chain of arena {addr:#x} loops at {h:#x}"),
                    );
                    break;
                }
                heaps.push((h, word(&b, hi.size), word(&b, hi.mprotect_size)));
                h = word(&b, hi.prev);
            }
            heaps.reverse();
            let top_heap = top & !(heap_max - 1);
            for &(h, size, mprotect) in &heaps {
                self.arenas[idx].heaps.push(SubHeap {
                    address: h,
                    size,
                    mprotect_size: mprotect,
                });
                let first = if addr >= h && addr < h.saturating_add(heap_max) {
                    align16(addr + st.size)
                } else {
                    align16(h + hi.size_of)
                };
                let is_top = h == top_heap;
                self.segments.push(Segment {
                    arena: idx,
                    start: first,
                    end: if is_top {
                        top.saturating_add(top_size)
                    } else {
                        h.saturating_add(size)
                    },
                    top: is_top.then_some(top),
                });
            }
        }
    }

    /// The brk heap: from `mp_.sbrk_base` (or the start of the top's mapping) to the top.
    fn main_segments(&mut self, top: u64, top_size: u64) {
        let mapping_of = |a: u64| {
            self.process
                .mappings()
                .iter()
                .find(|m| m.start <= a && a < m.end)
                .map(|m| (m.start, m.end))
        };
        let top_map = mapping_of(top);
        let sbrk = self
            .params
            .as_ref()
            .map(|p| p.sbrk_base)
            .filter(|&s| s != 0 && s <= top);
        let start = match (sbrk, top_map) {
            (Some(s), _) => s,
            (None, Some((s, _))) => s,
            (None, None) => top,
        };
        let start = align16(start);
        let contiguous =
            top_map.is_some_and(|(s, e)| s <= start && start < e) || mapping_of(start) == top_map;
        if contiguous || top_map.is_none() {
            self.segments.push(Segment {
                arena: 0,
                start,
                end: top.saturating_add(top_size),
                top: Some(top),
            });
        } else {
            // Non-contiguous main arena (brk failed and mmap stood in, or a foreign sbrk):
            // the first region up to its fencepost, then the top's region.
            let first_end = mapping_of(start).map_or(start, |m| m.1);
            self.segments.push(Segment {
                arena: 0,
                start,
                end: first_end,
                top: None,
            });
            if let Some((s, _)) = top_map {
                self.notes.push(format!(
                    "main arena is not contiguous: walked {start:#x}..{first_end:#x} and {s:#x}..top"
                ));
                self.segments.push(Segment {
                    arena: 0,
                    start: align16(s),
                    end: top.saturating_add(top_size),
                    top: Some(top),
                });
            }
        }
    }

    fn in_ranges(ranges: &[(u64, u64, usize)], arena: Option<usize>, c: u64) -> bool {
        ranges
            .iter()
            .any(|&(s, e, a)| c >= s && c < e && arena.is_none_or(|x| x == a))
    }

    /// Decodes a fastbin or tcache link stored at `at` (`REVEAL_PTR`, malloc/malloc.c 2.32+:
    /// the pointer XORed with the link's own address shifted right by 12).
    #[inline]
    fn reveal(&self, at: u64, raw: u64) -> u64 {
        if self.safe_linking == Some(true) {
            raw ^ (at >> 12)
        } else {
            raw
        }
    }

    /// Looks at the first link of each fastbin and tcache list: a stored value equal to
    /// its own address >> 12 is a mangled NULL; a plain chunk pointer is an unmangled one.
    fn detect_safe_linking(&self, ranges: &[(u64, u64, usize)]) -> Option<bool> {
        let mut votes = (0u32, 0u32);
        for raw in &self.raw {
            for &p in &raw.fastbins {
                if p == 0 {
                    continue;
                }
                if let Some(v) = self.mem.read_u64(p.wrapping_add(16)) {
                    vote(&mut votes, p.wrapping_add(16), v, ranges, 16);
                }
            }
        }
        // The main thread's tcache is usually the first chunk of the brk heap.
        if let (Some(seg), Some(tl)) = (
            self.segments.iter().find(|s| s.arena == 0),
            &self.loc.layout.tcache,
        ) {
            if let Some(b) = block(self.mem, seg.start + 16, tl.size_of as usize) {
                for i in 0..TCACHE_MAX_BINS as u64 {
                    let e = word(&b, tl.entries + 8 * i);
                    if e != 0 && e.is_multiple_of(16) {
                        if let Some(v) = self.mem.read_u64(e) {
                            vote(&mut votes, e, v, ranges, 16);
                        }
                    }
                }
            }
        }
        fn vote(votes: &mut (u32, u32), at: u64, v: u64, ranges: &[(u64, u64, usize)], off: u64) {
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

    fn walk_bins(&mut self, idx: usize, ranges: &[(u64, u64, usize)]) {
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
                let Some(b) = block(self.mem, r, 32) else {
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
        self.arenas[idx].bins = figures;
        self.marks.v.extend(marks);
        for (k, a, m) in problems {
            self.problem(k, a, m);
        }
    }

    /// More chunks than this in one list means the list loops.
    fn chunk_limit(&self, idx: usize, ranges: &[(u64, u64, usize)]) -> u64 {
        ranges
            .iter()
            .filter(|r| r.2 == idx)
            .map(|r| r.1.saturating_sub(r.0) / MINSIZE)
            .sum::<u64>()
            + 1
    }

    fn walk_fastbins(&mut self, idx: usize, ranges: &[(u64, u64, usize)]) {
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
                chunk_size: self.mem.read_u64(p.wrapping_add(8)).unwrap_or(0) & !SIZE_BITS,
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
                let Some(b) = block(self.mem, p, 24) else {
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
                p = self.reveal(p + 16, word(&b, 16));
            }
            figures.push(f);
        }
        self.arenas[idx].fastbins = figures;
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
    fn fastbins_in_flight(&mut self, idx: usize, ranges: &[(u64, u64, usize)]) {
        let st = self.loc.layout.state.clone();
        let arena = self.raw[idx].addr;
        if self.mem.read_u32(arena).unwrap_or(0) == 0 {
            return; // the mutex is free: nobody is in the middle of anything
        }
        let (fb_lo, fb_hi) = (
            arena + st.fastbins,
            arena + st.fastbins + 8 * NFASTBINS as u64,
        );
        let heap_max = self.heap_max();
        let mut best: Vec<u64> = Vec::new();
        let mut who = 0;
        for th in self.process.threads() {
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
                    let Some(sf) = self.mem.read_u64(c.wrapping_add(8)) else {
                        break;
                    };
                    let bits = sf & (IS_MMAPPED | NON_MAIN_ARENA);
                    let ok_bits = if idx == 0 {
                        bits == 0
                    } else {
                        bits == NON_MAIN_ARENA
                    };
                    let size = sf & !SIZE_BITS;
                    let in_heap = idx == 0 || self.mem.read_u64(c & !(heap_max - 1)) == Some(arena);
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
                    let Some(raw) = self.mem.read_u64(c.wrapping_add(16)) else {
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

    /// Finds the tcaches: chunks of `tcache_perthread_struct`'s size, in use, whose lists
    /// hold exactly `counts[i]` chunks of bin `i`'s size each.
    fn find_tcaches(&mut self, ranges: &[(u64, u64, usize)]) {
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
            let first_chunk = self.segments.iter().any(|s| s.start + 16 == addr);
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
        ranges: &[(u64, u64, usize)],
    ) -> Option<TcacheContents> {
        let b = block(self.mem, t, tl.size_of as usize)?;
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
                let hdr = block(self.mem, c, 24)?;
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
        let tcaches: std::collections::HashSet<u64> = tcaches.into_iter().collect();
        let mut hits: Vec<(u64, u64, u64)> = Vec::new(); // (offset, tid, tcache)
        for th in self.process.threads() {
            let Some(tp) = th.registers.get("fs_base").filter(|&t| t != 0) else {
                continue;
            };
            // Down from the thread pointer, a page at a time, while memory is readable.
            let mut hi = tp & !7;
            while tp - hi < 0x10000 {
                let Some(lo) = hi.checked_sub(1).map(|x| x & !0xfff) else {
                    break;
                };
                let Some(b) = block(self.mem, lo, (hi - lo) as usize) else {
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

    fn report_duplicates(&mut self) {
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

    /// A quick pass over a segment: chunk address, size, and whether it is in use.
    fn skim_segment(&self, seg: &Segment, mut f: impl FnMut(u64, u64, bool)) {
        let mut cur = Cursor::new(self.mem);
        let limit = seg.top.unwrap_or(seg.end);
        let mut c = seg.start;
        let mut steps = 0u64;
        while c < limit && steps < 1 << 40 {
            steps += 1;
            let Some(sf) = cur.u64(c + 8) else { break };
            let size = sf & !SIZE_BITS;
            if size < MINSIZE || !size.is_multiple_of(ALIGNMENT) || c.saturating_add(size) > limit {
                // Fencepost or damage: pick up at the next chunk a list names.
                match self.next_anchor(c, limit) {
                    Some(a) => {
                        c = a;
                        continue;
                    }
                    None => break,
                }
            }
            let next = c + size;
            let Some(nf) = cur.u64(next + 8) else { break };
            f(c, size, nf & PREV_INUSE != 0);
            c = next;
        }
    }

    fn next_anchor(&self, c: u64, limit: u64) -> Option<u64> {
        let i = self.marks.v.partition_point(|m| m.0 <= c);
        self.marks.v.get(i).map(|m| m.0).filter(|&a| a < limit)
    }

    /// The full pass over one segment.
    fn walk_segment(&mut self, seg: &Segment) {
        let idx = seg.arena;
        let arena_addr = self.raw[idx].addr;
        let limit = seg.top.unwrap_or(seg.end);
        let mem = self.mem;
        let mut cur = Cursor::new(mem);
        let mut k = self.marks.v.partition_point(|m| m.0 < seg.start);
        let mut acc = Acc::new(self.page, idx == 0);
        let mut c = seg.start;
        let mut problems: Vec<(&'static str, u64, String)> = Vec::new();
        let mut skipped = 0u64;
        let mut last_progress = c;
        let mut ended_by_fencepost = false;
        loop {
            if Some(c) == seg.top {
                break;
            }
            if c >= limit {
                if seg.top.is_some() {
                    problems.push((
                        "bad_size",
                        c,
                        format!("the chunks of arena {arena_addr:#x} run past its top {limit:#x}"),
                    ));
                }
                break;
            }
            if c - last_progress > (1 << 24) {
                self.progress.advance(c - last_progress);
                last_progress = c;
            }
            let sf = match cur.u64(c + 8) {
                Some(v) => v,
                None => {
                    let resume = self
                        .next_anchor(c, limit)
                        .filter(|&a| mem.read_u64(a + 8).is_some());
                    let to = resume.unwrap_or(limit);
                    problems.push((
                        "unreadable",
                        c,
                        format!(
                            "{:#x}..{to:#x} of arena {arena_addr:#x} is not in the core: skipped",
                            c
                        ),
                    ));
                    skipped += to.saturating_sub(c);
                    acc.break_run(c, None);
                    c = to;
                    if resume.is_none() {
                        break;
                    }
                    continue;
                }
            };
            let size = sf & !SIZE_BITS;
            if seg.top.is_none() && size == 16 {
                // The fenceposts that close an old heap (malloc/malloc.c, sysmalloc).
                ended_by_fencepost = true;
                break;
            }
            let bad = if size < MINSIZE || !size.is_multiple_of(ALIGNMENT) {
                Some(format!(
                    "chunk {c:#x} of arena {arena_addr:#x} has an impossible size {sf:#x}"
                ))
            } else if c.saturating_add(size) > limit {
                Some(format!(
                    "chunk {c:#x} of arena {arena_addr:#x} claims {size:#x} bytes, past the end of its heap at {limit:#x}"
                ))
            } else if sf & IS_MMAPPED != 0 {
                Some(format!(
                    "chunk {c:#x} of arena {arena_addr:#x} is marked mmapped inside a heap"
                ))
            } else {
                None
            };
            if let Some(msg) = bad {
                let resume = self.next_anchor(c, limit);
                let to = resume.or(seg.top).unwrap_or(limit);
                problems.push((
                    "bad_size",
                    c,
                    format!(
                        "{msg}; skipped {} bytes to {}",
                        to.saturating_sub(c),
                        if resume.is_some() {
                            format!("the next chunk a free list names, {to:#x}")
                        } else {
                            "the end of the heap".to_string()
                        }
                    ),
                ));
                skipped += to.saturating_sub(c);
                acc.break_run(c, None);
                c = to;
                continue;
            }
            let next = c + size;
            let nf = match cur.u64(next + 8) {
                Some(v) => v,
                None => {
                    problems.push((
                        "unreadable",
                        next,
                        format!("chunk header at {next:#x} is not in the core"),
                    ));
                    skipped += limit.saturating_sub(c);
                    break;
                }
            };
            let in_use = nf & PREV_INUSE != 0;
            // The lists' view of this chunk.
            let mut mark = None;
            while let Some(&(a, m)) = self.marks.v.get(k) {
                if a > c {
                    break;
                }
                if a == c {
                    mark = Some(m);
                } else if a >= seg.start {
                    problems.push((
                        "bad_link",
                        a,
                        format!("a free list names {a:#x}, which is not the start of a chunk"),
                    ));
                }
                k += 1;
            }
            let state = match (in_use, mark) {
                (true, None) => ChunkState::Used,
                (true, Some(Mark::Tcache)) => ChunkState::Tcache,
                (true, Some(Mark::Fast)) => ChunkState::Fastbin,
                (true, Some(Mark::Bin)) => {
                    problems.push((
                        "not_free",
                        c,
                        format!("chunk {c:#x} is in a bin, but the next chunk says it is in use"),
                    ));
                    ChunkState::Free
                }
                (false, m) => {
                    match m {
                        None => problems.push((
                            "not_in_bin",
                            c,
                            format!("chunk {c:#x} ({size:#x} bytes) is free but in no bin of arena {arena_addr:#x}"),
                        )),
                        Some(Mark::Fast) | Some(Mark::Tcache) => problems.push((
                            "bad_size",
                            c,
                            format!("chunk {c:#x} is in a fastbin or tcache but its neighbour says it is free"),
                        )),
                        Some(Mark::Bin) => {}
                    }
                    // A free chunk's size is repeated at the start of the next one.
                    if let Some(foot) = cur.u64(next) {
                        if foot != size {
                            problems.push((
                                "bad_footer",
                                c,
                                format!(
                                    "free chunk {c:#x} has size {size:#x} but the next chunk's prev_size says {foot:#x}"
                                ),
                            ));
                        }
                    }
                    match m {
                        Some(Mark::Fast) => ChunkState::Fastbin,
                        Some(Mark::Tcache) => ChunkState::Tcache,
                        _ => ChunkState::Free,
                    }
                }
            };
            acc.chunk(c, size, state);
            if let Some(list) = self.allocations.as_mut() {
                list.push(Allocation {
                    address: c + 16,
                    size: size - SIZE_SZ,
                    state,
                    arena: Some(arena_addr),
                    top: false,
                    mmapped: false,
                });
            }
            c = next;
        }
        self.progress.advance(c.saturating_sub(last_progress));
        if let Some(top) = seg.top.filter(|&t| t == c) {
            acc.at_top(top, self.arenas[idx].top_size);
            if let Some(list) = self.allocations.as_mut() {
                let ts = self.arenas[idx].top_size;
                list.push(Allocation {
                    address: top + 16,
                    size: ts.saturating_sub(2 * SIZE_SZ),
                    state: ChunkState::Free,
                    arena: Some(arena_addr),
                    top: true,
                    mmapped: false,
                });
            }
        } else {
            acc.break_run(c, None);
            if seg.top.is_none() && !ended_by_fencepost && c < seg.end {
                problems.push((
                    "bad_size",
                    c,
                    format!(
                        "old heap of arena {arena_addr:#x} ends at {c:#x} without its fencepost"
                    ),
                ));
            }
        }
        self.skipped += skipped;
        for (kd, a, m) in problems {
            self.problem(kd, a, m);
        }
        acc.walked = c
            .saturating_sub(seg.start)
            .saturating_add(seg.top.map_or(0, |_| self.arenas[idx].top_size));
        acc.merge_into(&mut self.arenas[idx]);
    }

    /// Chunks of their own mmap: anonymous writable mappings outside the arenas' heaps that
    /// start with a chunk header marked `IS_MMAPPED` (malloc/malloc.c, `sysmalloc_mmap`: the
    /// chunk sits at the start of the mapping with `prev_size` 0 when `MALLOC_ALIGNMENT` is
    /// `2 * SIZE_SZ`).
    fn scan_mmapped(&mut self) {
        let heap_max = self.heap_max();
        let mut excluded: Vec<(u64, u64)> = Vec::new();
        for s in &self.segments {
            if s.arena == 0 {
                excluded.push((s.start, s.end));
            }
        }
        for a in &self.arenas {
            for h in &a.heaps {
                excluded.push((h.address, h.address + heap_max));
            }
        }
        let page = self.page;
        let mut found = Vec::new();
        for m in self.process.mappings() {
            if m.path.is_some() || !m.perms.contains('w') || m.dumped == 0 {
                continue;
            }
            if excluded.iter().any(|&(s, e)| s < m.end && m.start < e) {
                continue;
            }
            let mut pos = m.start;
            let mut steps = 0;
            while pos + 16 <= m.end && steps < 1 << 24 {
                steps += 1;
                let hdr = match block(self.mem, pos, 16) {
                    Some(h) => (word(&h, 0), word(&h, 8)),
                    None => (1, 0),
                };
                let size = hdr.1 & !SIZE_BITS;
                if hdr.0 == 0
                    && hdr.1 & SIZE_BITS == IS_MMAPPED
                    && size >= page
                    && size.is_multiple_of(page)
                    && pos.saturating_add(size) <= m.end
                {
                    found.push((pos, size));
                    pos += size;
                } else {
                    pos += page;
                }
            }
        }
        let (n, bytes) = (found.len() as u64, found.iter().map(|f| f.1).sum::<u64>());
        if let Some(p) = &self.params {
            if p.n_mmaps != n || p.mmapped_mem != bytes {
                self.notes.push(format!(
                    "mp_ counts {} mmapped chunks ({} bytes); {} were found in the mappings ({} bytes)",
                    p.n_mmaps, p.mmapped_mem, n, bytes
                ));
            }
        }
        self.mmapped = (n, bytes);
        if let Some(list) = self.allocations.as_mut() {
            for (c, size) in found {
                list.push(Allocation {
                    address: c + 16,
                    size: size - 2 * SIZE_SZ,
                    state: ChunkState::Used,
                    arena: None,
                    top: false,
                    mmapped: true,
                });
            }
        }
    }

    fn finish(mut self) -> GlibcHeap {
        let mut histogram = Histogram::new();
        for a in &self.arenas {
            histogram.add(&a.histogram);
        }
        if let Some(list) = self.allocations.as_mut() {
            list.sort_by_key(|a| a.address);
        }
        let loc = &self.loc;
        if loc.arena_found_by == "scan" {
            self.notes.insert(
                0,
                format!(
                    "main_arena found by its shape at {:#x} (no symbol){}",
                    loc.main_arena,
                    match loc.mp_found_by {
                        Some(_) => format!("; mp_ at {:#x}", loc.mp.unwrap_or(0)),
                        None => "; mp_ not found: mmapped totals come from the mappings".into(),
                    }
                ),
            );
        }
        let mut heap = GlibcHeap {
            version: loc.version.map(|v| v.0),
            version_source: loc.version.map(|v| v.1),
            layout_source: loc.layout.source.clone(),
            main_arena: loc.main_arena,
            main_arena_found_by: loc.arena_found_by,
            params: self.params,
            safe_linking: self.safe_linking.unwrap_or(false),
            page_size: self.page,
            arenas: self.arenas,
            tcaches: self.tcaches,
            mmapped_chunks: self.mmapped.0,
            mmapped_bytes: self.mmapped.1,
            histogram,
            skipped_bytes: self.skipped,
            problems: self.problems,
            findings: Vec::new(),
            notes: self.notes,
            allocations: self.allocations,
        };
        heap.findings = super::findings::findings(&heap);
        heap
    }
}

#[inline]
fn align16(a: u64) -> u64 {
    (a + 15) & !15
}

/// Reads words through the longest slice the core lends, refetching when a read leaves it.
struct Cursor<'m> {
    mem: &'m dyn Memory,
    base: u64,
    data: &'m [u8],
}

impl<'m> Cursor<'m> {
    fn new(mem: &'m dyn Memory) -> Cursor<'m> {
        Cursor {
            mem,
            base: 0,
            data: &[],
        }
    }

    #[inline]
    fn u64(&mut self, addr: u64) -> Option<u64> {
        let off = addr.wrapping_sub(self.base);
        if off < self.data.len() as u64 && off + 8 <= self.data.len() as u64 {
            let o = off as usize;
            return Some(u64::from_le_bytes(self.data[o..o + 8].try_into().ok()?));
        }
        self.data = self.mem.bytes_at(addr);
        self.base = addr;
        if self.data.len() >= 8 {
            Some(u64::from_le_bytes(self.data[..8].try_into().ok()?))
        } else {
            self.mem.read_u64(addr)
        }
    }
}

type HoleKey = (u64, u64, u64, u64, u64);

/// Per-segment accumulator: figures, holes, trim estimate, histogram.
struct Acc {
    page: u64,
    main: bool,
    used: (u64, u64),
    bin: (u64, u64),
    fast: (u64, u64),
    tcache: (u64, u64),
    largest: u64,
    /// The current run of freed chunks: start, bytes, chunks.
    run: Option<(u64, u64, u64)>,
    /// The current run of free and fastbin chunks (what malloc_consolidate merges).
    trim_run: Option<(u64, u64)>,
    trimmable: u64,
    /// The largest holes so far, smallest on top: (bytes, start, chunks, pin, pin size).
    holes: BinaryHeap<std::cmp::Reverse<HoleKey>>,
    hole_bytes: u64,
    holes_count: u64,
    free_at_top: u64,
    walked: u64,
    hist: Histogram,
}

impl Acc {
    fn new(page: u64, main: bool) -> Acc {
        Acc {
            page,
            main,
            used: (0, 0),
            bin: (0, 0),
            fast: (0, 0),
            tcache: (0, 0),
            largest: 0,
            run: None,
            trim_run: None,
            trimmable: 0,
            holes: BinaryHeap::new(),
            hole_bytes: 0,
            holes_count: 0,
            free_at_top: 0,
            walked: 0,
            hist: Histogram::new(),
        }
    }

    #[inline]
    fn chunk(&mut self, c: u64, size: u64, state: ChunkState) {
        let class = Histogram::class(size);
        match state {
            ChunkState::Used => {
                self.used.0 += 1;
                self.used.1 += size;
                self.hist.used_chunks[class] += 1;
                self.hist.used_bytes[class] += size;
                self.break_run(c, Some((c + 16, size - SIZE_SZ)));
                return;
            }
            ChunkState::Free => {
                self.bin.0 += 1;
                self.bin.1 += size;
            }
            ChunkState::Fastbin => {
                self.fast.0 += 1;
                self.fast.1 += size;
            }
            ChunkState::Tcache => {
                self.tcache.0 += 1;
                self.tcache.1 += size;
            }
        }
        self.hist.free_chunks[class] += 1;
        self.hist.free_bytes[class] += size;
        self.largest = self.largest.max(size);
        let r = self.run.get_or_insert((c, 0, 0));
        r.1 += size;
        r.2 += 1;
        if state == ChunkState::Tcache {
            self.close_trim_run();
        } else {
            let t = self.trim_run.get_or_insert((c, 0));
            t.1 += size;
        }
    }

    /// `mtrim`'s arithmetic for one consolidated free chunk (malloc/malloc.c at
    /// glibc-2.36): the whole pages after its `struct malloc_chunk` header.
    fn madvisable(&self, p: u64, size: u64) -> u64 {
        let psm1 = self.page - 1;
        if size > psm1 + MALLOC_CHUNK_SIZE {
            let paligned = (p + MALLOC_CHUNK_SIZE + psm1) & !psm1;
            let rest = size - (paligned - p);
            if rest > psm1 {
                return rest & !psm1;
            }
        }
        0
    }

    fn close_trim_run(&mut self) {
        if let Some((p, size)) = self.trim_run.take() {
            self.trimmable += self.madvisable(p, size);
        }
    }

    /// A chunk in use (or the end of a heap) closes the current run into a hole.
    fn break_run(&mut self, _at: u64, pinned: Option<(u64, u64)>) {
        self.close_trim_run();
        if let Some((start, bytes, chunks)) = self.run.take() {
            self.hole_bytes += bytes;
            self.holes_count += 1;
            let (pa, ps) = pinned.unwrap_or((0, 0));
            self.holes
                .push(std::cmp::Reverse((bytes, start, chunks, pa, ps)));
            if self.holes.len() > TOP_HOLES {
                self.holes.pop();
            }
        }
    }

    /// The segment ends with the top: freed chunks right below it are not holes, and
    /// what consolidates with the top can be trimmed in the main arena (`systrim` with
    /// `pad` 0, as `malloc_trim (0)` calls it).
    fn at_top(&mut self, _top: u64, top_size: u64) {
        if let Some((_, bytes, _)) = self.run.take() {
            self.free_at_top += bytes;
        }
        let merged = self.trim_run.take().map_or(0, |t| t.1);
        if self.main {
            let top_area =
                top_size.saturating_add(merged).min(i64::MAX as u64) as i64 - MINSIZE as i64 - 1;
            if top_area > 0 {
                self.trimmable += (top_area as u64) & !(self.page - 1);
            }
        }
    }

    fn merge_into(self, a: &mut Arena) {
        a.in_use_chunks += self.used.0;
        a.in_use_bytes += self.used.1;
        a.bin_chunks += self.bin.0;
        a.bin_bytes += self.bin.1;
        a.fastbin_chunks += self.fast.0;
        a.fastbin_bytes += self.fast.1;
        a.tcache_chunks += self.tcache.0;
        a.tcache_bytes += self.tcache.1;
        a.free_chunks += self.bin.0 + self.fast.0 + self.tcache.0;
        a.free_bytes += self.bin.1 + self.fast.1 + self.tcache.1;
        a.largest_free = a.largest_free.max(self.largest);
        a.trimmable_bytes += self.trimmable;
        a.hole_bytes += self.hole_bytes;
        a.holes_count += self.holes_count;
        a.free_at_top += self.free_at_top;
        a.walked_bytes += self.walked;
        a.histogram.add(&self.hist);
        for std::cmp::Reverse((size, address, chunks, pa, ps)) in self.holes {
            a.holes.push(Hole {
                address,
                size,
                chunks,
                pinned_by: (pa != 0).then_some(pa),
                pinned_size: (pa != 0).then_some(ps),
            });
        }
        a.holes
            .sort_by(|x, y| y.size.cmp(&x.size).then(x.address.cmp(&y.address)));
        a.holes.truncate(TOP_HOLES);
    }
}
