//! The walk: arenas, their free lists, tcaches, then every chunk in address order.
//!
//! Order of work, one module per phase: (1) find `main_arena`/`mp_` ([`super::locate`]);
//! (2) read `mp_` and each arena of the ring and the heaps it owns ([`arenas`]); (3) walk
//! every free list — bins, fastbins — with bounds and link checks, noting each listed chunk
//! ([`free_lists`]); (4) a quick pass over the chunks to find the tcaches
//! (`tcache_perthread_struct` chunks whose lists check out, [`tcaches`]); (5) the full pass,
//! where each chunk's state comes from its neighbour's `PREV_INUSE` bit and the lists that
//! name it ([`chunks`]), streamed into per-arena figures, holes and the trim estimate
//! without storing chunks unless a list was asked for ([`holes`]); (6) mmapped chunks from
//! the anonymous mappings ([`mmapped`]); (7) findings. Where the core holds each segment in
//! one piece, (3)'s fastbins and (4) run on threads beside (3)'s bins, and (5), unless
//! chunks are listed, in one piece per processor: threads read those bytes, not the process
//! (not shareable between threads), and what they find is filed in the order one thread
//! would file it.

mod arenas;
mod chunks;
mod free_lists;
mod holes;
mod mmapped;
mod tcaches;

use core_reader::{Diagnostic, Target};

use super::layout::{Layout, LayoutSource, NFASTBINS};
use super::locate::{dwarf_layout, locate, locate_headless, Located};
use super::mem::Pieces;
use super::model::{GlibcArena, GlibcDetail, GlibcHeap, Histogram, Params, Tcache};
use super::{version, Error};
use crate::held::Listing;
use crate::{Allocations, Allocator, Arena, Heap};
use tcaches::Candidates;

/// What to do besides the figures.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Keep every allocation (for `--list` and the leak check).
    pub list: bool,
    /// Show a progress bar on a terminal when the walk takes more than a second.
    pub progress: bool,
}

/// A stretch of memory holding consecutive chunks of one arena.
#[derive(Debug, Clone)]
struct Segment {
    arena: usize,
    start: u64,
    end: u64,
    /// The top chunk, when this segment ends with it.
    top: Option<u64>,
}

/// Which free list names a chunk: the order is the precedence when two lists name one
/// chunk (a double free), the last kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Bin = 0,
    Fast = 1,
    Tcache = 2,
}

/// Chunks named by a free list, sorted by address once the lists are walked. Each is one
/// word, the chunk's address with its [`Mark`] in the low bits (every list walk takes only
/// 16-byte aligned chunks), so sorting the words sorts by address and puts a chunk's marks
/// in [`Mark`]'s order: millions of fastbin chunks are sorted, and words sort fastest.
#[derive(Default)]
struct Marks {
    v: Vec<u64>,
}

/// Marks below this many are sorted on one thread.
const PARALLEL_SORT: usize = 1 << 16;

impl Marks {
    /// The word of chunk `chunk` named by a list of kind `mark`.
    #[inline]
    fn word(chunk: u64, mark: Mark) -> u64 {
        chunk | mark as u64
    }

    /// Adds the chunks a list of kind `mark` names.
    fn extend(&mut self, chunks: impl IntoIterator<Item = u64>, mark: Mark) {
        self.v
            .extend(chunks.into_iter().map(|c| Marks::word(c, mark)));
    }

    /// The chunk and mark at `i`.
    #[inline]
    fn get(&self, i: usize) -> Option<(u64, Mark)> {
        self.v.get(i).map(|&w| {
            let mark = match w & 15 {
                0 => Mark::Bin,
                1 => Mark::Fast,
                _ => Mark::Tcache,
            };
            (w & !15, mark)
        })
    }

    /// The index of the first mark of a chunk at or after `c` (of the sorted marks).
    #[inline]
    fn first_from(&self, c: u64) -> usize {
        self.v.partition_point(|&w| w & !15 < c)
    }

    /// Sorts the marks: two halves side by side, then merged. The stable sort finds runs
    /// already in order, ascending or descending, and merges them (Rust's `slice::sort`,
    /// driftsort), where the unstable one sorts them afresh: each fastbin is such a run
    /// when a program freed its blocks in address order (the 1.9 million of
    /// `bench/glibc_walk_6m.c`'s fastbin chunks are seven runs), and marks are plain words
    /// (equal ones are the same mark), so the order is the same.
    fn sort(&mut self) {
        let v = &mut self.v;
        if v.len() < PARALLEL_SORT {
            v.sort();
            return;
        }
        let n = v.len();
        let (a, b) = v.split_at_mut(n / 2);
        std::thread::scope(|s| {
            s.spawn(|| a.sort());
            b.sort();
        });
        let mut out = Vec::with_capacity(n);
        let (mut i, mut j) = (0, 0);
        // Without a branch on which half gives the next mark: the fastbins' marks
        // interleave, and a mispredicted branch a mark cost more than the rest.
        while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
            let first = x <= y;
            out.push(if first { x } else { y });
            i += usize::from(first);
            j += usize::from(!first);
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        *v = out;
    }
}

/// The raw `malloc_state` of one arena.
struct RawArena {
    addr: u64,
    fastbins: [u64; NFASTBINS],
    top: u64,
    bins: Vec<(u64, u64)>,
    /// Whether a list of the arena (a bin, a fastbin) ran into memory the core lacks: a
    /// free chunk no list names may then be on the part of a list that was lost.
    lists_cut: bool,
}

/// `[start, end)` of a segment's chunks (its top's header included) and its arena.
type Range = (u64, u64, usize);

/// Problems kept at most: a badly broken heap must not drown the output.
const MAX_PROBLEMS: usize = 1000;

/// Segments of fewer bytes in all have their tcache skim and fastbin walks done on the
/// walk's own thread: two thread starts cost more than the work on a heap this small (a
/// test's, a fuzz input's: a quarter of the glibc fuzz target's time went to them).
const BESIDE_MIN_BYTES: u64 = 1 << 20;

/// Work started on a thread of its own, or done already where a thread would not pay.
enum Beside<'scope, T> {
    Thread(std::thread::ScopedJoinHandle<'scope, T>),
    Done(T),
}

impl<'scope, T: Send + 'scope> Beside<'scope, T> {
    fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        thread: bool,
        work: impl FnOnce() -> T + Send + 'scope,
    ) -> Self {
        if thread {
            Beside::Thread(scope.spawn(work))
        } else {
            Beside::Done(work())
        }
    }

    fn join(self) -> std::thread::Result<T> {
        match self {
            Beside::Thread(h) => h.join(),
            Beside::Done(t) => Ok(t),
        }
    }
}

/// Walks glibc malloc's heap in a process.
pub fn walk(target: &dyn Target, options: &WalkOptions) -> Result<GlibcHeap, Error> {
    let listing = options.list.then(Listing::all);
    walk_listing(target, options.progress, listing).map(|(heap, _)| heap)
}

/// [`walk`] for the leak check: the heap without its allocations, and the list of what the
/// leak check reads of them ([`Listing::held_only`]).
pub(crate) fn walk_held(
    target: &dyn Target,
    progress: bool,
) -> Result<(GlibcHeap, Listing), Error> {
    let (heap, listing) = walk_listing(target, progress, Some(Listing::held_only()))?;
    Ok((heap, listing.unwrap_or_default()))
}

/// [`walk`] listing the chunks in `listing`: the heap, with its allocations where the
/// listing keeps them all, else the listing.
fn walk_listing(
    target: &dyn Target,
    progress: bool,
    listing: Option<Listing>,
) -> Result<(GlibcHeap, Option<Listing>), Error> {
    let version = version::detect(target);
    // Inflating and searching libc's DWARF (libc6-dbg's sections are compressed) takes
    // longer than anything the walk does before its list walks, and for a glibc in the
    // built-in table it gives the table's offsets: the walk starts with the table's
    // layout while another thread reads the DWARF, and is done again with the DWARF's
    // only where the two differ.
    let builtin = version.and_then(|(v, _)| Layout::builtin(v));
    let (guess, dwarf) = std::thread::scope(|s| {
        let dwarf = s.spawn(|| dwarf_layout(target, version.map(|v| v.0)));
        let guess = builtin
            .as_ref()
            .and_then(|_| locate(target, version, None).ok())
            .map(|loc| {
                let mut w = Walker::new(target, loc, progress, listing.clone());
                w.run();
                w
            });
        let dwarf = dwarf
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (guess, dwarf)
    });
    if let Some(mut w) = guess {
        // `locate` tries the DWARF's layout first, then the table's: where they are the
        // same offsets, it finds what it found without the DWARF, but for the layout's
        // source when that is the table's and `main_arena` was found by its symbol (the
        // scan does not look at the DWARF).
        let same = |d: &Layout| {
            builtin.as_ref().is_some_and(|b| {
                *d == Layout {
                    source: LayoutSource::Dwarf,
                    ..b.clone()
                }
            })
        };
        if dwarf.as_ref().is_none_or(same) {
            if dwarf.is_some()
                && w.loc.arena_found_by == "symbol"
                && w.loc.layout.source == LayoutSource::BuiltIn
            {
                w.loc.layout.source = LayoutSource::Dwarf;
            }
            return Ok(w.finish());
        }
    }
    let loc = match locate(target, version, dwarf) {
        Ok(loc) => loc,
        // A truncated core: main_arena, in libc's data near the end, may be what was cut.
        Err(_) if target.is_truncated() => locate_headless(target).map_err(|why| {
            Error::Truncated(format!(
                "the core is truncated: glibc's main_arena (in libc's data, near the core's \
                 end) was cut off with its tail, {why}"
            ))
        })?,
        Err(e) => return Err(Error::NotFound(e)),
    };
    let mut w = Walker::new(target, loc, progress, listing);
    w.run();
    Ok(w.finish())
}

struct Walker<'a> {
    target: &'a dyn Target,
    loc: Located,
    page: u64,
    params: Option<Params>,
    raw: Vec<RawArena>,
    arenas: Vec<Arena<GlibcArena>>,
    segments: Vec<Segment>,
    marks: Marks,
    safe_linking: Option<bool>,
    tcaches: Vec<Tcache>,
    problems: Vec<Diagnostic>,
    notes: Vec<String>,
    skipped: u64,
    allocations: Option<Listing>,
    mmapped: (u64, u64),
    progress: core_reader::Progress,
}

impl<'a> Walker<'a> {
    fn new(
        target: &'a dyn Target,
        loc: Located,
        progress: bool,
        listing: Option<Listing>,
    ) -> Walker<'a> {
        let page = target
            .auxv_value(6) // AT_PAGESZ (linux include/uapi/linux/auxvec.h)
            .filter(|p| p.is_power_of_two() && *p >= 4096)
            .unwrap_or(4096);
        Walker {
            target,
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
            allocations: listing,
            mmapped: (0, 0),
            progress: core_reader::Progress::new("walking the heap", progress),
        }
    }

    /// Notes damage once: a second report of the same kind at the same address (a chunk two
    /// passes or two lists find broken) adds nothing.
    fn problem(&mut self, kind: &'static str, address: u64, message: String) {
        if self.problems.len() < MAX_PROBLEMS
            && !self
                .problems
                .iter()
                .any(|p| p.kind == kind && p.address == Some(address))
        {
            self.problems.push(Diagnostic::at(kind, address, message));
        }
    }

    fn run(&mut self) {
        if self.loc.headless.is_some() {
            let at = self.loc.main_arena;
            self.problem(
                "truncated",
                at,
                format!(
                    "the core is truncated: main_arena{} and mp_, in libc's data near the \
                     core's end, were cut off. Walked what is left: the brk heap from its \
                     mapping's start, thread arenas through their heaps' heap_info. Lost: the \
                     main arena's bins, fastbins and system_mem (its system bytes are its \
                     mapping's size; its fastbin chunks count as in use, its freed chunks are \
                     in no bin), mp_ (mmapped chunks are counted from the mappings), and \
                     whatever the cut took of the heaps themselves",
                    if at != 0 {
                        format!(" (at {at:#x})")
                    } else {
                        String::new()
                    }
                ),
            );
        }
        self.read_params();
        self.read_arenas();
        self.find_segments();
        let ranges: Vec<Range> = self
            .segments
            .iter()
            .map(|s| {
                (
                    s.start,
                    s.top.map_or(s.end, |t| t.saturating_add(16)),
                    s.arena,
                )
            })
            .collect();
        if self.safe_linking.is_none() {
            self.safe_linking = self.detect_safe_linking(&ranges);
        }
        // The skim for tcaches reads the segments in address order, the list walks jump
        // about the heap: another thread skims meanwhile where it needs no lists.
        let bytes = self.segment_bytes();
        let skimmable: Option<Vec<chunks::SegmentBytes>> = (self.segments.iter().zip(&bytes))
            .map(|(seg, b)| Some((seg.start, seg.top.unwrap_or(seg.end), (*b)?)))
            .collect();
        // The fastbins (millions of chunks, each a jump in the heap) on a thread of their
        // own where the segments' bytes are all they read; the bins here.
        let pieces = self.list_pieces(&ranges);
        let mut fastbins: Vec<_> = (0..self.raw.len()).map(|i| self.fastbin_walks(i)).collect();
        let total: u64 = self
            .segments
            .iter()
            .map(|s| s.top.map_or(s.end, |t| t).saturating_sub(s.start))
            .fold(0, u64::saturating_add);
        let beside = total >= BESIDE_MIN_BYTES;
        let skimmed = std::thread::scope(|s| {
            let skim = skimmable.map(|bytes| {
                let mut candidates = Candidates::new(&self.tcache_layouts());
                Beside::start(s, beside, move || {
                    chunks::skim_bytes(&bytes, |c, size, in_use| candidates.add(c, size, in_use))
                        .map(|()| candidates)
                })
            });
            let fast_thread = pieces.as_ref().map(|pieces| {
                let passes: Vec<_> = (0..self.raw.len())
                    .map(|i| self.fastbin_pass(pieces, i, &ranges))
                    .collect();
                let mut fastbins = std::mem::take(&mut fastbins);
                Beside::start(s, beside, move || {
                    for (pass, walks) in passes.iter().zip(fastbins.iter_mut()) {
                        pass.walk(walks);
                    }
                    fastbins
                })
            });
            let bins: Vec<_> = (0..self.raw.len())
                .map(|i| self.bins_of(i, &ranges))
                .collect();
            let fastbins = match fast_thread {
                Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                None => {
                    for (i, walks) in fastbins.iter_mut().enumerate() {
                        self.fastbin_pass(self.target, i, &ranges).walk(walks);
                    }
                    std::mem::take(&mut fastbins)
                }
            };
            // Filed as one arena after another, bins then fastbins, would file them.
            for (i, (bins, fastbins)) in bins.into_iter().zip(fastbins).enumerate() {
                self.file_bins(i, bins);
                self.file_fastbins(i, fastbins);
                self.fastbins_in_flight(i, &ranges);
            }
            skim.and_then(|h| h.join().ok().flatten())
        });
        // The tcaches' marks join the lists' before the one sort: finding the tcaches reads
        // no marks, and sorting them in after moved every mark above a tcache (one at the
        // heap's start moves them all) into a fresh, larger vector.
        let candidates = skimmed.unwrap_or_else(|| self.skim_candidates());
        self.find_tcaches(&ranges, candidates);
        self.marks.sort();
        self.report_duplicates();
        self.progress.start(total);
        for (seg, bytes) in self.segments.clone().iter().zip(bytes) {
            self.walk_segment(seg, bytes);
        }
        self.progress.finish();
        self.scan_mmapped();
    }

    /// The segments' bytes as [`Pieces`], when the core holds each segment in one piece
    /// with room for a list walk's reads: a chunk a list names lies in a segment (up to
    /// its top's header), and 32 bytes of it are read.
    fn list_pieces(&self, ranges: &[Range]) -> Option<Pieces<'a>> {
        let target: &'a dyn Target = self.target;
        let pieces = ranges
            .iter()
            .map(|&(start, end, _)| {
                let bytes = target.bytes_at(start);
                let len = end.checked_sub(start)?.checked_add(32)?;
                (bytes.len() as u64 >= len).then_some((start, bytes))
            })
            .collect::<Option<Vec<_>>>()?;
        // Heaps never overlap; hostile segment bounds may.
        let mut sorted: Vec<(u64, u64)> = ranges.iter().map(|r| (r.0, r.1)).collect();
        sorted.sort_unstable();
        sorted
            .windows(2)
            .all(|w| w[0].1 <= w[1].0)
            .then(|| Pieces::new(pieces))
    }

    /// `heap_max_size ()` for this process.
    fn heap_max(&self) -> u64 {
        let hp = self
            .params
            .as_ref()
            .and_then(|p| p.hp_pagesize)
            .unwrap_or(0);
        self.loc.layout.heap_max_size(hp)
    }

    /// Whether chunk `c` lies in a segment (of `arena`, when given).
    fn in_ranges(ranges: &[Range], arena: Option<usize>, c: u64) -> bool {
        ranges
            .iter()
            .any(|&(s, e, a)| c >= s && c < e && arena.is_none_or(|x| x == a))
    }

    /// Decodes a fastbin or tcache link stored at `at` (see [`reveal`]).
    #[inline]
    fn reveal(&self, at: u64, raw: u64) -> u64 {
        reveal(self.safe_linking == Some(true), at, raw)
    }

    fn finish(mut self) -> (GlibcHeap, Option<Listing>) {
        let mut histogram = Histogram::new();
        for a in &self.arenas {
            histogram.add(&a.detail.histogram);
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
        let mut heap = Heap {
            allocator: Allocator::Glibc,
            version: loc.version.map(|v| v.0.to_string()),
            detail: GlibcDetail {
                version_source: loc.version.map(|v| v.1),
                layout_source: loc.layout.source.clone(),
                main_arena: loc.main_arena,
                main_arena_found_by: loc.arena_found_by,
                params: self.params,
                safe_linking: self.safe_linking.unwrap_or(false),
                page_size: self.page,
                tcaches: self.tcaches,
                mmapped_chunks: self.mmapped.0,
                mmapped_bytes: self.mmapped.1,
                histogram,
                skipped_bytes: self.skipped,
            },
            arenas: self.arenas,
            size_classes: Vec::new(),
            findings: Vec::new(),
            problems: self.problems,
            notes: self.notes,
            allocations: None,
        };
        heap.size_classes = heap.detail.histogram.size_classes();
        heap.findings = super::findings::findings(&heap);
        match self.allocations {
            Some(listing) if listing.is_held_only() => (heap, Some(listing)),
            listing => {
                heap.allocations = listing.map(|l| Allocations::new(l.all));
                (heap, None)
            }
        }
    }
}

/// Decodes a fastbin or tcache link stored at `at`, when links are mangled (`REVEAL_PTR`,
/// malloc/malloc.c 2.32+: the pointer XORed with the link's own address shifted right by
/// 12).
#[inline]
fn reveal(mangled: bool, at: u64, raw: u64) -> u64 {
    if mangled {
        raw ^ (at >> 12)
    } else {
        raw
    }
}

#[inline]
fn align16(a: u64) -> u64 {
    (a + 15) & !15
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting the marks in halves and merging gives what one sort of them all gives: on
    /// marks in runs (fastbins freed in address order), in no order, with repeats (a chunk
    /// in two lists), and with a few late ones (a tcache's) after them, lower than, higher
    /// than, between and equal to the others.
    #[test]
    fn marks_sorted_in_halves_as_one_sort() {
        // Addresses in no order: Fibonacci hashing of the index.
        let scatter = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44;
        for (n, late) in [(10, 3), (PARALLEL_SORT + 999, 50), (200_000, 0), (3, 40)] {
            let mut v: Vec<u64> = Vec::new();
            for i in 0..n as u64 {
                v.push(match i % 3 {
                    0 => ((n as u64 - i) << 4) | 1, // a descending run
                    1 => scatter(i) << 4,
                    _ => v.last().copied().unwrap_or(0), // a repeat
                });
            }
            let tail: Vec<u64> = (0..late)
                .map(|i| match i % 4 {
                    0 => 0,
                    1 => !15,
                    2 => v.get(scatter(i) as usize % v.len()).copied().unwrap_or(16),
                    _ => (scatter(i + 1) << 4) | 2,
                })
                .collect();
            let mut all: Vec<u64> = v.iter().chain(&tail).copied().collect();
            all.sort_unstable();
            let mut marks = Marks { v };
            marks.v.extend(&tail);
            marks.sort();
            assert_eq!(marks.v, all, "{n} marks, {late} late");
        }
    }
}
