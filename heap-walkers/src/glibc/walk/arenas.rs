//! `mp_`, the ring of arenas, and the heaps each arena owns (as [`Segment`]s of
//! consecutive chunks).

use super::super::layout::{NBINS, NFASTBINS, SIZE_BITS};
use super::super::locate::{BrkHeap, MAX_ARENAS};
use super::super::mem::{block, word, word32};
use super::super::model::{GlibcArena, Histogram, Params, SubHeap};
use super::{align16, RawArena, Segment, Walker};
use crate::{Arena, ArenaFigures};

/// Heaps of one thread arena followed at most.
const MAX_HEAPS: usize = 1 << 16;

impl Walker<'_> {
    /// Reads `mp_`, when it was found and its layout is known.
    pub(super) fn read_params(&mut self) {
        let (Some(mp), Some(pl)) = (self.loc.mp, self.loc.layout.par.as_ref()) else {
            return;
        };
        let Some(b) = block(self.target, mp, pl.size as usize) else {
            self.notes
                .push(format!("mp_ at {mp:#x} is not in the core"));
            return;
        };
        let i32_at = |off: u64| word32(&b, off) as i32 as i64 as u64;
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

    /// Reads every arena of the `next` ring, `main_arena` first; or, when `main_arena` was
    /// lost with a truncated core's tail, a stand-in for it over the brk heap and the thread
    /// arenas found through their heaps.
    pub(super) fn read_arenas(&mut self) {
        if let Some(h) = self.loc.headless.clone() {
            self.stand_in_main(h.brk);
            for a in h.arenas {
                self.read_arena(a);
            }
            return;
        }
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
            match self.read_arena(a) {
                Some(next) if next != main => a = next,
                _ => break,
            }
        }
    }

    /// `main_arena` in a core that lost it: no bins, no fastbins; the brk heap's top, and
    /// its mapping's size as the system bytes. A brk heap the cut went through is walked
    /// to the cut, as a segment without a top.
    fn stand_in_main(&mut self, brk: Option<BrkHeap>) {
        let st = &self.loc.layout.state;
        let addr = self.loc.main_arena;
        // No top: a top that find_segments takes for an arena never used.
        let never_used = st.bin_at(addr, 1);
        let (system, top, top_size) = match brk {
            Some(h) => (
                h.end - h.start,
                h.top.unwrap_or(never_used),
                h.top.map_or(0, |t| h.end - t),
            ),
            None => (0, never_used, 0),
        };
        if let Some(h) = brk.filter(|h| h.top.is_none()) {
            self.problem(
                "truncated",
                h.dumped_end,
                format!(
                    "the brk heap {:#x}..{:#x} is cut at {:#x}: its chunks from there to its \
                     end, its top chunk among them, are not in the core",
                    h.start, h.end, h.dumped_end
                ),
            );
            self.segments.push(Segment {
                arena: 0,
                start: align16(h.start),
                end: h.end,
                top: None,
            });
        }
        self.arenas.push(Arena {
            index: 0,
            address: addr,
            figures: ArenaFigures {
                system_bytes: system,
                ..ArenaFigures::default()
            },
            detail: Self::glibc_arena(true, system, None, top, top_size),
        });
        self.raw.push(RawArena {
            addr,
            fastbins: [0; NFASTBINS],
            top,
            bins: vec![(0, 0); NBINS - 1],
            lists_cut: true,
        });
    }

    /// Reads the arena at `a`; its `next`, or `None` when it is not in the core.
    fn read_arena(&mut self, a: u64) -> Option<u64> {
        let st = self.loc.layout.state.clone();
        let Some(b) = block(self.target, a, st.size as usize) else {
            self.problem(
                "unreadable",
                a,
                format!(
                    "arena at {a:#x} is not in the core: it and the arenas after it are skipped"
                ),
            );
            return None;
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
        let top = word(&b, st.top);
        let top_size = self.target.read_u64(top.wrapping_add(8)).unwrap_or(0) & !SIZE_BITS;
        self.arenas.push(Arena {
            index: self.raw.len() as u32,
            address: a,
            figures: ArenaFigures {
                system_bytes: word(&b, st.system_mem),
                ..ArenaFigures::default()
            },
            detail: Self::glibc_arena(
                a == self.loc.main_arena && self.loc.headless.is_none(),
                word(&b, st.max_system_mem),
                st.attached_threads.map(|o| word(&b, o)),
                top,
                top_size,
            ),
        });
        self.raw.push(RawArena {
            addr: a,
            fastbins,
            top,
            bins,
            lists_cut: false,
        });
        Some(word(&b, st.next))
    }

    /// glibc's own figures of an arena before the walk adds to them.
    pub(super) fn glibc_arena(
        main: bool,
        max_system_bytes: u64,
        attached_threads: Option<u64>,
        top: u64,
        top_size: u64,
    ) -> GlibcArena {
        GlibcArena {
            main,
            max_system_bytes,
            attached_threads,
            bin_chunks: 0,
            bin_bytes: 0,
            fastbin_chunks: 0,
            fastbin_bytes: 0,
            tcache_chunks: 0,
            tcache_bytes: 0,
            top,
            top_size,
            free_at_top: 0,
            hole_bytes: 0,
            holes_count: 0,
            holes: Vec::new(),
            fastbins: Vec::new(),
            bins: Vec::new(),
            heaps: Vec::new(),
            walked_bytes: 0,
            histogram: Histogram::new(),
        }
    }

    /// The heaps of every arena, as segments of consecutive chunks.
    pub(super) fn find_segments(&mut self) {
        let st = self.loc.layout.state.clone();
        let hi = self.loc.layout.heap_info.clone();
        let heap_max = self.heap_max();
        for idx in 0..self.raw.len() {
            let (addr, top) = (self.raw[idx].addr, self.raw[idx].top);
            if top == st.bin_at(addr, 1) {
                continue; // initial_top: this arena never allocated
            }
            let top_size = self.arenas[idx].detail.top_size;
            if idx == 0 {
                self.main_segments(top, top_size);
                continue;
            }
            // Thread arena: heap_info chain from the top's heap (malloc/arena.c).
            let mut heaps = Vec::new();
            let mut h = top & !(heap_max - 1);
            while h != 0 && heaps.len() < MAX_HEAPS {
                let Some(b) = block(self.target, h, hi.size_of as usize) else {
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
                self.arenas[idx].detail.heaps.push(SubHeap {
                    address: h,
                    size,
                    mprotect_size: mprotect,
                });
                let first = if addr >= h && addr < h.saturating_add(heap_max) {
                    align16(addr.saturating_add(st.size))
                } else {
                    align16(h.saturating_add(hi.size_of))
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
        let mappings = self.target.mappings();
        let mapping_of = |a: u64| {
            mappings
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
}
