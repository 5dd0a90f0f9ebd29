//! The chunks of each segment in address order: a quick skim (for the tcache search), and
//! the full pass that gives each chunk its state from its neighbour's `PREV_INUSE` bit and
//! the free lists that name it, checks sizes and footers, and skips damage to the next chunk
//! a list names.

use super::super::layout::{ALIGNMENT, IS_MMAPPED, MINSIZE, PREV_INUSE, SIZE_BITS, SIZE_SZ};
use super::holes::Acc;
use super::{Mark, Marks, Segment, Walker};
use crate::held::Listing;
use crate::scan::{prefetch, Cursor};
use crate::{Allocation, AllocationState};

/// How far ahead of the chunk it is at a pass over a segment's bytes asks for them
/// ([`prefetch`]): each chunk's address comes from the size before it, so the processor
/// cannot run ahead, and its own prefetcher stops at every page's end. Walking the 6 M
/// chunks of `bench/glibc_walk_6m.c`'s core (pages already mapped) took 100–130 ms without,
/// 65–85 ms with 1–2 KiB, and 115 ms with 8 KiB.
const AHEAD: u64 = 2048;

/// Asks for the bytes at `a` of a segment's `bytes`, which start at `start`.
#[inline]
fn ahead(bytes: &[u8], start: u64, a: u64) {
    if let Some(b) = usize::try_from(a.wrapping_sub(start))
        .ok()
        .and_then(|off| bytes.get(off..))
    {
        prefetch(b);
    }
}

/// A quick pass over the chunks of `[start, limit)`: `f` gets each chunk's address, size,
/// and whether it is in use. `read` gives the word at an address, `fetch` asks for one
/// [`AHEAD`]; at a fencepost or damage the pass picks up at `anchor`'s answer (the next
/// chunk a free list names), or stops.
pub(super) fn skim(
    start: u64,
    limit: u64,
    read: impl Fn(u64) -> Option<u64>,
    fetch: impl Fn(u64),
    mut anchor: impl FnMut(u64) -> Option<u64>,
    mut f: impl FnMut(u64, u64, bool),
) {
    let mut c = start;
    let mut steps = 0u64;
    while c < limit && steps < 1 << 40 {
        steps += 1;
        fetch(c.wrapping_add(AHEAD));
        let Some(sf) = read(c.wrapping_add(8)) else {
            break;
        };
        let size = sf & !SIZE_BITS;
        if size < MINSIZE || !size.is_multiple_of(ALIGNMENT) || c.saturating_add(size) > limit {
            match anchor(c) {
                Some(a) => {
                    c = a;
                    continue;
                }
                None => break,
            }
        }
        let next = c + size;
        let Some(nf) = read(next.wrapping_add(8)) else {
            break;
        };
        f(c, size, nf & PREV_INUSE != 0);
        c = next;
    }
}

/// A segment's chunks and their bytes: `start`, `limit` (the top or the end), and the
/// bytes of `[start, limit + 16)` (the last chunk's successor's header included).
pub(super) type SegmentBytes<'m> = (u64, u64, &'m [u8]);

/// [`skim`] over segments' bytes alone, needing no [`Walker`] (so another thread can skim
/// while the free lists are walked); `None` when a segment is damaged, where the skim
/// needs the free lists to pick up again.
pub(super) fn skim_bytes(
    segments: &[SegmentBytes<'_>],
    mut f: impl FnMut(u64, u64, bool),
) -> Option<()> {
    for &(start, limit, bytes) in segments {
        let read = |a: u64| {
            let off = usize::try_from(a.wrapping_sub(start)).ok()?;
            let w = bytes.get(off..)?.first_chunk::<8>()?;
            Some(u64::from_le_bytes(*w))
        };
        let mut damaged = false;
        skim(
            start,
            limit,
            read,
            |a| ahead(bytes, start, a),
            |_| {
                damaged = true;
                None
            },
            &mut f,
        );
        if damaged {
            return None;
        }
    }
    Some(())
}

impl Walker<'_> {
    /// A quick pass over a segment: chunk address, size, and whether it is in use.
    pub(super) fn skim_segment(&self, seg: &Segment, f: impl FnMut(u64, u64, bool)) {
        let cur = Cursor::new(self.target);
        let limit = seg.top.unwrap_or(seg.end);
        // Fencepost or damage: pick up at the next chunk a list names.
        skim(
            seg.start,
            limit,
            |a| cur.u64(a),
            |_| {},
            |c| self.marks.next_after(c, limit),
            f,
        );
    }
}

impl<'a> Walker<'a> {
    /// Each segment's bytes, `[start, limit + 16)`, when the core holds them in one piece
    /// (a heap in one mapping always is, unless the core was cut short).
    pub(super) fn segment_bytes(&self) -> Vec<Option<&'a [u8]>> {
        let target: &'a dyn core_reader::Target = self.target;
        self.segments
            .iter()
            .map(|seg| {
                let limit = seg.top.unwrap_or(seg.end);
                let bytes = target.bytes_at(seg.start);
                let len = limit.checked_sub(seg.start)?.checked_add(16)?;
                (bytes.len() as u64 >= len).then_some(bytes)
            })
            .collect()
    }
}

impl Marks {
    /// The first chunk after `c` a list names, below `limit` (of the sorted marks): where
    /// a pass picks up after damage.
    fn next_after(&self, c: u64, limit: u64) -> Option<u64> {
        let i = self.first_from(c.saturating_add(1));
        self.get(i).map(|m| m.0).filter(|&a| a < limit)
    }
}

/// A damage report before it is filed: kind, address, sentence.
type Problem = (&'static str, u64, String);

/// Segments shorter than this are walked on one thread.
const MIN_PIECE: u64 = 1 << 20;

/// Chunks followed from a free chunk in the middle of a segment to find where a piece of
/// the pass can start.
const MAX_SEAM_STEPS: usize = 1 << 12;

/// The full pass over one segment, or over a piece of it on a thread of its own: what the
/// pass reads besides memory (nothing of the walker's memory access, which is not
/// shareable between threads).
struct Pass<'w> {
    seg: &'w Segment,
    marks: &'w Marks,
    arena: u32,
    arena_addr: u64,
    /// The arena's top chunk size, main_arena's lost with a truncated core's tail.
    top_size: u64,
    /// Whether the arena's lists are known only in part (main_arena lost with a truncated
    /// core's tail, or a list that ran into memory the core lacks): a free chunk in no
    /// list is then not damage.
    lists_cut: bool,
    page: u64,
    /// Whether to list every chunk.
    list: bool,
}

/// What the pass over a piece of a segment found.
struct Piece {
    acc: Acc,
    problems: Vec<Problem>,
    skipped: u64,
    allocations: Listing,
    /// Where the pass ended.
    end: u64,
    /// Whether it ended where the next piece starts (else it went on to the segment's end).
    joined: bool,
}

impl Pass<'_> {
    /// Walks the chunks from `c` (with the marks from index `k` on) to the segment's end,
    /// or to the first chunk of the next piece, `stop`: a chunk address and its first mark,
    /// where the pass stops when it gets there between two runs of freed chunks (so that
    /// the next piece's figures, begun there, add up to what this pass would find). The
    /// chunks are listed after `allocations`' when asked to. `fetch` asks for the word at
    /// an address [`AHEAD`].
    fn walk(
        &self,
        read: impl Fn(u64) -> Option<u64>,
        fetch: impl Fn(u64),
        (mut c, mut k): (u64, usize),
        stop: Option<(u64, usize)>,
        mut allocations: Listing,
        mut progress: Option<&mut core_reader::Progress>,
    ) -> Piece {
        let (seg, marks, arena_addr) = (self.seg, self.marks, self.arena_addr);
        let lists_cut = self.lists_cut;
        let limit = seg.top.unwrap_or(seg.end);
        let mut acc = Acc::new(self.page, self.arena == 0);
        let mut problems: Vec<Problem> = Vec::new();
        let mut skipped = 0u64;
        let mut last_progress = c;
        let mut ended_by_fencepost = false;
        // Whether the walk stopped at memory the core does not hold (a cut core).
        let mut cut_short = false;
        loop {
            if stop.is_some_and(|(t, kt)| c == t && k == kt && acc.between_runs()) {
                // The next piece starts here, as this pass would go on.
                return Piece {
                    acc,
                    problems,
                    skipped,
                    allocations,
                    end: c,
                    joined: true,
                };
            }
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
            fetch(c.wrapping_add(AHEAD));
            if c - last_progress > (1 << 24) {
                if let Some(p) = progress.as_mut() {
                    p.advance(c - last_progress);
                }
                last_progress = c;
            }
            let sf = match read(c.wrapping_add(8)) {
                Some(v) => v,
                None => {
                    let resume = marks
                        .next_after(c, limit)
                        .filter(|&a| read(a.wrapping_add(8)).is_some());
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
                let resume = marks.next_after(c, limit);
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
            let nf = match read(next.wrapping_add(8)) {
                Some(v) => v,
                None => {
                    problems.push((
                        "unreadable",
                        next,
                        format!("chunk header at {next:#x} is not in the core"),
                    ));
                    skipped += limit.saturating_sub(c);
                    cut_short = true;
                    break;
                }
            };
            let in_use = nf & PREV_INUSE != 0;
            // The lists' view of this chunk.
            let mut mark = None;
            while let Some((a, m)) = marks.get(k) {
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
                        // The lists that could name it are not all in the core.
                        None if lists_cut => {}
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
                    if let Some(foot) = read(next) {
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
            if self.list {
                allocations.push(Allocation {
                    address: c + 16,
                    size: size - SIZE_SZ,
                    arena: self.arena,
                    state,
                    flags: 0,
                });
            }
            c = next;
        }
        if let Some(p) = progress {
            p.advance(c.saturating_sub(last_progress));
        }
        if let Some(top) = seg.top.filter(|&t| t == c) {
            let ts = self.top_size;
            acc.at_top(top, ts);
            if self.list {
                allocations.push(Allocation {
                    address: top.saturating_add(16),
                    size: ts.saturating_sub(2 * SIZE_SZ),
                    arena: self.arena,
                    state: AllocationState::Free,
                    flags: Allocation::TOP,
                });
            }
        } else {
            acc.break_run(c, None);
            if seg.top.is_none() && !ended_by_fencepost && !cut_short && c < seg.end {
                problems.push((
                    "bad_size",
                    c,
                    format!(
                        "old heap of arena {arena_addr:#x} ends at {c:#x} without its fencepost"
                    ),
                ));
            }
        }
        Piece {
            acc,
            problems,
            skipped,
            allocations,
            end: c,
            joined: false,
        }
    }
}

impl Pass<'_> {
    /// Where the pass can be split into `pieces`: for each piece after the first, its
    /// first chunk and first mark. A piece starts right after a chunk in use that follows
    /// a chunk a free list names near its share of the segment (a chunk start, if the lists
    /// are right); the pass before it stops there only if it gets there, between runs of
    /// freed chunks and with the same marks behind it, and otherwise walks on over the
    /// pieces after it, whose work is then dropped.
    fn seams(&self, read: impl Fn(u64) -> Option<u64>, pieces: u64) -> Vec<(u64, usize)> {
        let (seg, marks) = (self.seg, self.marks);
        let limit = seg.top.unwrap_or(seg.end);
        let span = limit.saturating_sub(seg.start);
        let mut seams: Vec<(u64, usize)> = Vec::new();
        for i in 1..pieces {
            let from = seg.start + span / pieces * i;
            let Some((mut c, _)) = marks.get(marks.first_from(from)) else {
                break;
            };
            for _ in 0..MAX_SEAM_STEPS {
                let Some(size) = read(c.wrapping_add(8)) else {
                    break;
                };
                let next = c.saturating_add(size & !SIZE_BITS);
                if size & IS_MMAPPED != 0 || size & !SIZE_BITS < MINSIZE || next >= limit {
                    break;
                }
                let Some(nf) = read(next.wrapping_add(8)) else {
                    break;
                };
                let first = marks.first_from(c);
                // In use, and no list names it: the pass finds it `Used`.
                if nf & PREV_INUSE != 0 && marks.get(first).is_none_or(|m| m.0 != c) {
                    if seams.last().is_none_or(|s| s.0 < next) {
                        seams.push((next, marks.first_from(c + 1)));
                    }
                    break;
                }
                c = next;
            }
        }
        seams
    }

    /// The pass in pieces split at `seams`: the first here over `read`, listing its chunks
    /// after `list`'s, the others on threads over the segment's `bytes` (`[start, limit +
    /// 16)`).
    fn walk_pieces(
        &self,
        read: impl Fn(u64) -> Option<u64>,
        bytes: &[u8],
        seams: &[(u64, usize)],
        list: Listing,
        progress: Option<&mut core_reader::Progress>,
    ) -> (Piece, Vec<Piece>) {
        let start = self.seg.start;
        std::thread::scope(|s| {
            let others: Vec<_> = (0..seams.len())
                .map(|i| {
                    let (from, stop) = (seams[i], seams.get(i + 1).copied());
                    let blank = list.empty_like();
                    s.spawn(move || {
                        let read = |a: u64| {
                            let off = usize::try_from(a.wrapping_sub(start)).ok()?;
                            let w = bytes.get(off..)?.first_chunk::<8>()?;
                            Some(u64::from_le_bytes(*w))
                        };
                        self.walk(read, |a| ahead(bytes, start, a), from, stop, blank, None)
                    })
                })
                .collect();
            let k = self.marks.first_from(start);
            let first = self.walk(
                read,
                |a| ahead(bytes, start, a),
                (start, k),
                seams.first().copied(),
                list,
                progress,
            );
            let others = others
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect();
            (first, others)
        })
    }

    /// The pieces joined into the pass over the whole segment, as far as each piece ended
    /// where the next began; with the bytes the pieces after the first walked.
    fn join(&self, first: Piece, others: Vec<Piece>) -> (Piece, u64) {
        let seg = self.seg;
        let ends = |p: &mut Piece, from: u64| {
            p.acc.walked = p.end.saturating_sub(from);
            if !p.joined {
                p.acc.walked = p
                    .acc
                    .walked
                    .saturating_add(seg.top.map_or(0, |_| self.top_size));
            }
        };
        let mut whole = first;
        ends(&mut whole, seg.start);
        let mut walked = 0u64;
        for mut piece in others {
            if !whole.joined {
                break;
            }
            let from = whole.end;
            ends(&mut piece, from);
            walked += piece.end.saturating_sub(from);
            whole.acc.join(piece.acc);
            whole.problems.append(&mut piece.problems);
            whole.skipped += piece.skipped;
            whole.allocations.append(&mut piece.allocations);
            whole.end = piece.end;
            whole.joined = piece.joined;
        }
        (whole, walked)
    }
}

impl<'a> Walker<'a> {
    /// The full pass over one segment: on as many threads as there are processors when
    /// the core holds the segment in one piece (`bytes`) and it is long enough to share.
    pub(super) fn walk_segment(&mut self, seg: &Segment, bytes: Option<&'a [u8]>) {
        let idx = seg.arena;
        let limit = seg.top.unwrap_or(seg.end);
        // Listing every chunk (`--list`, the leak finder), the pieces' lists would be held
        // side by side and then copied into one: 24 bytes a chunk more at the peak, where
        // the leak finder's memory per allocation is what limits the cores it can read.
        let threads = match self.allocations {
            Some(_) => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        };
        let pieces = threads
            .min(limit.saturating_sub(seg.start) / MIN_PIECE)
            .max(1);
        let pass = Pass {
            seg,
            marks: &self.marks,
            arena: idx as u32,
            arena_addr: self.raw[idx].addr,
            top_size: self.arenas[idx].detail.top_size,
            lists_cut: self.raw[idx].lists_cut,
            page: self.page,
            list: self.allocations.is_some(),
        };
        let cur = Cursor::new(self.target);
        let read = |a: u64| cur.u64(a);
        let seams = match bytes {
            Some(_) if pieces > 1 => pass.seams(read, pieces),
            _ => Vec::new(),
        };
        // The first piece lists its chunks after the walker's list: the list (24 bytes
        // a chunk) is not copied whole again.
        let listing = self.allocations.is_some();
        let list = self.allocations.take();
        let (first, others) = pass.walk_pieces(
            read,
            bytes.unwrap_or_default(),
            &seams,
            list.unwrap_or_default(),
            Some(&mut self.progress),
        );
        let (whole, walked) = pass.join(first, others);
        self.progress.advance(walked);
        self.skipped += whole.skipped;
        for (kd, a, m) in whole.problems {
            self.problem(kd, a, m);
        }
        if listing {
            self.allocations = Some(whole.allocations);
        }
        whole.acc.merge_into(&mut self.arenas[idx]);
    }
}

#[cfg(test)]
mod tests {
    use core_reader::{Memory, MemoryImage};

    use super::*;
    use crate::{Arena, ArenaFigures};

    const BASE: u64 = 0x5555_5555_0000;
    const TOP_SIZE: u64 = 0x1000;

    /// A segment of `n` chunks of assorted sizes ending with its top: some freed and in a
    /// bin, some in a fastbin or a tcache, in runs of every length the states' dice give.
    fn heap(n: usize) -> (MemoryImage, Marks, u64) {
        let mut words: Vec<u64> = Vec::new();
        let mut marks = Marks::default();
        let mut rng = 1u32;
        let mut prev_in_use = true;
        let mut c = BASE;
        for _ in 0..n {
            rng = rng.wrapping_mul(1103515245).wrapping_add(12345);
            let size = 32 + 16 * u64::from((rng >> 16) % 8);
            let state = (rng >> 8) % 6;
            words.push(0); // prev_size: set below after a freed chunk
            words.push(size | (u64::from(prev_in_use) * PREV_INUSE));
            words.resize(words.len() + (size as usize - 16) / 8, 0);
            match state {
                0 | 1 => marks.v.push(Marks::word(c, Mark::Bin)),
                2 => marks.v.push(Marks::word(c, Mark::Fast)),
                3 => marks.v.push(Marks::word(c, Mark::Tcache)),
                _ => {}
            }
            prev_in_use = state > 1;
            c += size;
        }
        let top = c;
        words.push(0);
        words.push(TOP_SIZE | (u64::from(prev_in_use) * PREV_INUSE));
        words.resize(words.len() + (TOP_SIZE as usize - 16) / 8, 0);
        // Freed chunks' sizes repeated as their successors' prev_size.
        let mut at = BASE;
        while at < top {
            let i = ((at - BASE) / 8) as usize;
            let size = words[i + 1] & !SIZE_BITS;
            let next = ((at + size - BASE) / 8) as usize;
            if words[next + 1] & PREV_INUSE == 0 {
                words[next] = size;
            }
            at += size;
        }
        let mut image = MemoryImage::new();
        let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert!(image.add(BASE, bytes));
        marks.sort();
        (image, marks, top)
    }

    fn pass<'w>(seg: &'w Segment, marks: &'w Marks) -> Pass<'w> {
        Pass {
            seg,
            marks,
            arena: 0,
            arena_addr: 0x7f00_0000_0000,
            top_size: TOP_SIZE,
            lists_cut: false,
            page: 4096,
            list: true,
        }
    }

    /// Everything a pass files, as text.
    fn filed(piece: Piece, top: u64) -> String {
        let mut arena = Arena {
            index: 0,
            address: 0,
            figures: ArenaFigures::default(),
            detail: Walker::glibc_arena(true, 0, None, top, TOP_SIZE),
        };
        piece.acc.merge_into(&mut arena);
        format!(
            "{}\n{:?}\n{}\n{:?}\n{:#x}",
            serde_json::to_string(&arena).unwrap_or_default(),
            piece.problems,
            piece.skipped,
            piece.allocations,
            piece.end
        )
    }

    /// The pass in four pieces files what the pass in one does, on a whole heap and on
    /// heaps damaged so that a piece cannot join the one before it.
    #[test]
    fn pieces_add_up_to_the_whole_pass() {
        let (image, marks, top) = heap(40_000);
        let seg = Segment {
            arena: 0,
            start: BASE,
            end: top + TOP_SIZE,
            top: Some(top),
        };
        // (where, the size written there (0: one reaching the top), whether the pieces
        // join: None when either may be right).
        let damage = [
            (None::<(u64, u64)>, Some(true)),
            // An impossible size: skipped to the next chunk a list names, where the
            // pass is back on the chunks.
            (Some((((top - BASE) / 8) & !15, 8)), None),
            // A size that jumps over the first seam onto no chunk start.
            (
                Some((((top - BASE) / 8) & !15, ((top - BASE) / 3) | PREV_INUSE)),
                Some(false),
            ),
            // One that jumps onto the top: the pieces after it are dropped.
            (Some((0, 0)), Some(false)),
        ];
        for (d, joins) in damage {
            let mut image = image.clone();
            let at = match d {
                Some((off, size)) => {
                    let mut c = BASE;
                    // The chunk holding `off`.
                    while c + (image.read_u64(c + 8).unwrap_or(0) & !SIZE_BITS) <= BASE + off {
                        c += image.read_u64(c + 8).unwrap_or(0) & !SIZE_BITS;
                    }
                    let size = if size == 0 {
                        (top - c) | PREV_INUSE
                    } else {
                        size
                    };
                    let word = (c + 8 - BASE) as usize;
                    image.region_mut(BASE).unwrap()[word..word + 8]
                        .copy_from_slice(&size.to_le_bytes());
                    Some(c)
                }
                None => None,
            };
            let p = pass(&seg, &marks);
            let read = |a: u64| image.read_u64(a);
            let whole = p.walk(
                read,
                |_| {},
                (BASE, marks.first_from(BASE)),
                None,
                Listing::all(),
                None,
            );
            let (whole, _) = p.join(whole, Vec::new());
            let seams = p.seams(read, 4);
            assert_eq!(seams.len(), 3, "damage at {at:x?}");
            let (first, others) =
                p.walk_pieces(read, image.bytes_at(BASE), &seams, Listing::all(), None);
            let joined = first.joined && others.iter().all(|o| o.joined || o.end == top);
            assert!(joins.is_none_or(|j| j == joined), "damage at {at:x?}");
            let (pieces, _) = p.join(first, others);
            assert_eq!(filed(pieces, top), filed(whole, top), "damage at {at:x?}");
        }
    }
}
