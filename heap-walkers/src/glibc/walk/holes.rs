//! What one pass over a segment adds up: chunks in use and freed by list, the holes (runs
//! of freed chunks below a chunk in use, and what pins them), what `malloc_trim (0)` could
//! give back, and the size histogram.

use std::collections::BinaryHeap;

use super::super::layout::{MALLOC_CHUNK_SIZE, MINSIZE, SIZE_SZ};
use super::super::model::{GlibcArena, Histogram, Hole};
use crate::{AllocationState, Arena};

/// How many holes each arena keeps.
const TOP_HOLES: usize = 10;

type HoleKey = (u64, u64, u64, u64, u64);

/// Per-segment accumulator: figures, holes, trim estimate, histogram.
pub(super) struct Acc {
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
    pub(super) walked: u64,
    hist: Histogram,
}

impl Acc {
    pub(super) fn new(page: u64, main: bool) -> Acc {
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

    /// One chunk of the pass. Always inlined: the pass has just worked out `state` by a
    /// match of its own, and inlined, each of its arms goes straight to its arm here,
    /// where a call matched again through a jump table that a heap's random mix of states
    /// mispredicts.
    #[inline(always)]
    pub(super) fn chunk(&mut self, c: u64, size: u64, state: AllocationState) {
        let class = Histogram::class(size);
        match state {
            AllocationState::Used => {
                self.used.0 += 1;
                self.used.1 += size;
                self.hist.used_chunks[class] += 1;
                self.hist.used_bytes[class] += size;
                self.break_run(c, Some((c + 16, size - SIZE_SZ)));
                return;
            }
            AllocationState::Free => {
                self.bin.0 += 1;
                self.bin.1 += size;
            }
            AllocationState::Fastbin => {
                self.fast.0 += 1;
                self.fast.1 += size;
            }
            AllocationState::Tcache => {
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
        if state == AllocationState::Tcache {
            self.close_trim_run();
        } else {
            let t = self.trim_run.get_or_insert((c, 0));
            t.1 += size;
        }
    }

    /// Whether no run of freed chunks is open: the next chunk's figures do not depend on
    /// the chunks before it.
    pub(super) fn between_runs(&self) -> bool {
        self.run.is_none() && self.trim_run.is_none()
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
    pub(super) fn break_run(&mut self, _at: u64, pinned: Option<(u64, u64)>) {
        self.close_trim_run();
        if let Some((start, bytes, chunks)) = self.run.take() {
            self.hole_bytes += bytes;
            self.holes_count += 1;
            let (pa, ps) = pinned.unwrap_or((0, 0));
            self.keep_hole((bytes, start, chunks, pa, ps));
        }
    }

    /// Keeps a hole if it is among the largest so far: most runs are not, and a push and
    /// pop for each cost more than the rest of the chunk pass's arithmetic.
    fn keep_hole(&mut self, hole: HoleKey) {
        if self.holes.len() < TOP_HOLES {
            self.holes.push(std::cmp::Reverse(hole));
        } else if self.holes.peek().is_some_and(|smallest| smallest.0 < hole) {
            self.holes.pop();
            self.holes.push(std::cmp::Reverse(hole));
        }
    }

    /// Adds the figures of the pass over the next piece of the segment, which began where
    /// this one ended, between runs of freed chunks.
    pub(super) fn join(&mut self, next: Acc) {
        for (a, b) in [
            (&mut self.used, next.used),
            (&mut self.bin, next.bin),
            (&mut self.fast, next.fast),
            (&mut self.tcache, next.tcache),
        ] {
            a.0 += b.0;
            a.1 += b.1;
        }
        self.largest = self.largest.max(next.largest);
        self.run = next.run;
        self.trim_run = next.trim_run;
        self.trimmable += next.trimmable;
        for std::cmp::Reverse(hole) in next.holes {
            self.keep_hole(hole);
        }
        self.hole_bytes += next.hole_bytes;
        self.holes_count += next.holes_count;
        self.free_at_top += next.free_at_top;
        self.walked += next.walked;
        self.hist.add(&next.hist);
    }

    /// The segment ends with the top: freed chunks right below it are not holes, and
    /// what consolidates with the top can be trimmed in the main arena (`systrim` with
    /// `pad` 0, as `malloc_trim (0)` calls it).
    pub(super) fn at_top(&mut self, _top: u64, top_size: u64) {
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

    pub(super) fn merge_into(self, arena: &mut Arena<GlibcArena>) {
        let (f, a) = (&mut arena.figures, &mut arena.detail);
        f.in_use_chunks += self.used.0;
        f.in_use_bytes += self.used.1;
        f.free_chunks += self.bin.0 + self.fast.0 + self.tcache.0;
        f.free_bytes += self.bin.1 + self.fast.1 + self.tcache.1;
        f.largest_free = f.largest_free.max(self.largest);
        f.trimmable_bytes += self.trimmable;
        a.bin_chunks += self.bin.0;
        a.bin_bytes += self.bin.1;
        a.fastbin_chunks += self.fast.0;
        a.fastbin_bytes += self.fast.1;
        a.tcache_chunks += self.tcache.0;
        a.tcache_bytes += self.tcache.1;
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
