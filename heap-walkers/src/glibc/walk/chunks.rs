//! The chunks of each segment in address order: a quick skim (for the tcache search), and
//! the full pass that gives each chunk its state from its neighbour's `PREV_INUSE` bit and
//! the free lists that name it, checks sizes and footers, and skips damage to the next chunk
//! a list names.

use super::super::layout::{ALIGNMENT, IS_MMAPPED, MINSIZE, PREV_INUSE, SIZE_BITS, SIZE_SZ};
use super::holes::Acc;
use super::{Mark, Segment, Walker};
use crate::scan::Cursor;
use crate::{Allocation, AllocationState};

impl Walker<'_> {
    /// A quick pass over a segment: chunk address, size, and whether it is in use.
    pub(super) fn skim_segment(&self, seg: &Segment, mut f: impl FnMut(u64, u64, bool)) {
        let cur = Cursor::new(self.target);
        let limit = seg.top.unwrap_or(seg.end);
        let mut c = seg.start;
        let mut steps = 0u64;
        while c < limit && steps < 1 << 40 {
            steps += 1;
            let Some(sf) = cur.u64(c.wrapping_add(8)) else {
                break;
            };
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
            let Some(nf) = cur.u64(next.wrapping_add(8)) else {
                break;
            };
            f(c, size, nf & PREV_INUSE != 0);
            c = next;
        }
    }

    fn next_anchor(&self, c: u64, limit: u64) -> Option<u64> {
        let i = self.marks.v.partition_point(|m| m.0 <= c);
        self.marks.v.get(i).map(|m| m.0).filter(|&a| a < limit)
    }

    /// The full pass over one segment.
    pub(super) fn walk_segment(&mut self, seg: &Segment) {
        let idx = seg.arena;
        let arena_addr = self.raw[idx].addr;
        let limit = seg.top.unwrap_or(seg.end);
        let mem = self.target;
        let cur = Cursor::new(mem);
        let mut k = self.marks.v.partition_point(|m| m.0 < seg.start);
        let mut acc = Acc::new(self.page, idx == 0);
        let mut c = seg.start;
        let mut problems: Vec<(&'static str, u64, String)> = Vec::new();
        let mut skipped = 0u64;
        let mut last_progress = c;
        let mut ended_by_fencepost = false;
        let headless_main = idx == 0 && self.loc.headless.is_some();
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
            let sf = match cur.u64(c.wrapping_add(8)) {
                Some(v) => v,
                None => {
                    let resume = self
                        .next_anchor(c, limit)
                        .filter(|&a| mem.read_u64(a.wrapping_add(8)).is_some());
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
            let nf = match cur.u64(next.wrapping_add(8)) {
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
                (true, None) => AllocationState::Used,
                (true, Some(Mark::Tcache)) => AllocationState::Tcache,
                (true, Some(Mark::Fast)) => AllocationState::Fastbin,
                (true, Some(Mark::Bin)) => {
                    problems.push((
                        "not_free",
                        c,
                        format!("chunk {c:#x} is in a bin, but the next chunk says it is in use"),
                    ));
                    AllocationState::Free
                }
                (false, m) => {
                    match m {
                        // main_arena's bins were lost with a truncated core's tail.
                        None if headless_main => {}
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
                    // A free chunk's size is repeated in the next chunk's prev_size (glibc
                    // checks it in unlink_chunk: "corrupted size vs. prev_size"); the
                    // damage is that field, so it is reported at the chunk that holds it.
                    if let Some(foot) = cur.u64(next) {
                        if foot != size {
                            problems.push((
                                "bad_prev_size",
                                next,
                                format!(
                                    "chunk {next:#x} has prev_size {foot:#x}, but the free chunk before it, {c:#x}, has size {size:#x}"
                                ),
                            ));
                        }
                    }
                    match m {
                        Some(Mark::Fast) => AllocationState::Fastbin,
                        Some(Mark::Tcache) => AllocationState::Tcache,
                        _ => AllocationState::Free,
                    }
                }
            };
            acc.chunk(c, size, state);
            if let Some(list) = self.allocations.as_mut() {
                list.push(Allocation {
                    address: c + 16,
                    size: size - SIZE_SZ,
                    arena: idx as u32,
                    state,
                    flags: 0,
                });
            }
            c = next;
        }
        self.progress.advance(c.saturating_sub(last_progress));
        if let Some(top) = seg.top.filter(|&t| t == c) {
            let ts = self.arenas[idx].detail.top_size;
            acc.at_top(top, ts);
            if let Some(list) = self.allocations.as_mut() {
                list.push(Allocation {
                    address: top.saturating_add(16),
                    size: ts.saturating_sub(2 * SIZE_SZ),
                    arena: idx as u32,
                    state: AllocationState::Free,
                    flags: Allocation::TOP,
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
            .saturating_add(seg.top.map_or(0, |_| self.arenas[idx].detail.top_size));
        acc.merge_into(&mut self.arenas[idx]);
    }
}
