//! Reading memory as pointers: the sorted block index that answers "which allocation does
//! this word point into" (through a [`Directory`]), the [`Cursor`] every pass reads the core
//! through, the word scanner, and root ranges less what must not be scanned. Shared by the
//! leak finder, the reference graph, the types and the glibc chunk walk.

use std::borrow::Cow;
use std::cell::Cell;

use core_reader::Memory;
use rayon::prelude::*;

/// An allocation as the scans see it: where it starts and how many bytes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block {
    /// The pointer the allocator returned.
    pub address: u64,
    /// Its size in bytes (the usable size: the only size a core records).
    pub size: u64,
}

/// The blocks, sorted, with a fast "which block holds this address" lookup.
pub(crate) struct BlockIndex {
    pub(crate) blocks: Vec<Block>,
    pub(crate) directory: Directory,
    lo: u64,
    hi: u64,
}

/// Where to start looking for an address among sorted blocks: the blocks cut into runs
/// whose starts lie less than [`Directory::GAP`] apart (one heap, one arena, one mmapped
/// chunk), and each run into as many equal slots as it has blocks, each slot holding the
/// index of the first block at or past its start. A lookup then searches the few blocks of
/// one slot instead of all of them (a binary search over millions of blocks misses the
/// cache at each of its last dozen steps: it was most of the time of the leak check and the
/// reference scan). At most one `u32` per block; none where the runs are too many to pay
/// (scattered blocks: a binary search then).
///
/// A run of blocks packed close (a heap of small allocations, all starting on 8-byte
/// boundaries) has a bitmap instead: one bit per 8 bytes, set where a block starts, and per
/// 64 bits how many blocks start before them. A lookup is then a population count, in
/// tables a twelfth of the run's bytes that stay in the cache (about a byte per block,
/// where the slots take up to four and miss the cache at each lookup).
pub(crate) struct Directory {
    runs: Vec<Run>,
    slots: Vec<u32>,
    bits: Vec<u64>,
    /// Per word of `bits`: how many of its run's blocks start before it.
    counts: Vec<u32>,
}

/// One run of blocks in a [`Directory`].
struct Run {
    /// Its first block's address.
    start: u64,
    /// Its last block's address.
    last: u64,
    /// One past the index of its last block.
    end: u32,
    /// The index of its first block.
    first: u32,
    /// Slot `k` covers `[start + (k << shift), start + ((k + 1) << shift))`.
    shift: u32,
    /// Where its slots begin in [`Directory::slots`], or its bitmap in [`Directory::bits`].
    slot0: u32,
    /// Whether it has a bitmap rather than slots.
    bitmap: bool,
}

impl Directory {
    /// Blocks whose starts are further apart than this begin a new run.
    const GAP: u64 = 1 << 20;

    /// The directory of `blocks` (sorted by address).
    pub(crate) fn new(blocks: &[Block]) -> Directory {
        let mut dir = Directory {
            runs: Vec::new(),
            slots: Vec::new(),
            bits: Vec::new(),
            counts: Vec::new(),
        };
        // Too few blocks, or more indices than a u32 holds: the plain binary search.
        if blocks.len() < 64 || u32::try_from(blocks.len()).is_err() {
            return dir;
        }
        // One pass finds the runs and whether a run's starts are 8-aligned and distinct
        // (what a bitmap needs): each pass over the blocks, 16 bytes each, reads memory.
        let (mut first, mut aligned, mut distinct) = (0, blocks[0].address.is_multiple_of(8), true);
        for i in 1..=blocks.len() {
            let split = i == blocks.len()
                || blocks[i].address.saturating_sub(blocks[i - 1].address) > Self::GAP;
            if !split {
                aligned &= blocks[i].address.is_multiple_of(8);
                distinct &= blocks[i - 1].address < blocks[i].address;
                continue;
            }
            dir.add_run(blocks, first, i, aligned && distinct);
            if let Some(b) = blocks.get(i) {
                (first, aligned, distinct) = (i, b.address.is_multiple_of(8), true);
            }
            // Runs of a block or two each: no directory (they would cost more than they
            // save).
            if dir.runs.len() > 64 && dir.runs.len() * 16 > i {
                dir.runs = Vec::new();
                dir.slots = Vec::new();
                dir.bits = Vec::new();
                dir.counts = Vec::new();
                return dir;
            }
        }
        dir
    }

    /// Adds the run of `blocks[first..end]`; `bitmap_ok` when its starts are 8-aligned and
    /// distinct (every block has a bit of its own).
    fn add_run(&mut self, blocks: &[Block], first: usize, end: usize, bitmap_ok: bool) {
        let (start, last) = (blocks[first].address, blocks[end - 1].address);
        let count = (end - first) as u64;
        let span = last.saturating_sub(start);
        // A bitmap where it takes no more than slots would (12 bytes a 64-bit word).
        let words = (span >> 9) + 1;
        let run = &blocks[first..end];
        if words.saturating_mul(12) <= count.saturating_mul(4)
            && bitmap_ok
            && u32::try_from(self.bits.len() as u64 + words).is_ok()
        {
            let bits0 = self.bits.len();
            self.bits.resize(bits0 + words as usize, 0);
            // Set on the threads, each for the blocks of a stretch of the words (a heap of
            // millions of blocks in one run).
            const WORDS: usize = 1 << 14;
            self.bits[bits0..]
                .par_chunks_mut(WORDS)
                .enumerate()
                .for_each(|(k, words)| {
                    // Each word covers 512 bytes (64 bits, 8 bytes a bit).
                    let from = start + (k * WORDS) as u64 * 512;
                    let to = from.saturating_add(words.len() as u64 * 512);
                    let skip = run.partition_point(|b| b.address < from);
                    for b in run[skip..].iter().take_while(|b| b.address < to) {
                        let bit = (b.address - from) >> 3;
                        words[(bit >> 6) as usize] |= 1 << (bit & 63);
                    }
                });
            let mut before = 0u32;
            for word in &self.bits[bits0..] {
                self.counts.push(before);
                before += word.count_ones();
            }
            self.runs.push(Run {
                start,
                last,
                end: end as u32,
                first: first as u32,
                shift: 0,
                slot0: bits0 as u32,
                bitmap: true,
            });
            return;
        }
        // The smallest slot size giving no more slots than blocks.
        let mut shift = 4;
        while shift < 63 && (span >> shift) >= count {
            shift += 1;
        }
        let slot0 = self.slots.len() as u32;
        let slots = (span >> shift) + 2;
        let mut i = first;
        for k in 0..slots {
            let at = start.saturating_add(k << shift);
            while i < end && blocks[i].address < at {
                i += 1;
            }
            self.slots.push(i as u32);
        }
        self.runs.push(Run {
            start,
            last,
            end: end as u32,
            first: first as u32,
            shift,
            slot0,
            bitmap: false,
        });
    }

    /// How many of `blocks` (those the directory was made of) start at or below `w`
    /// (`blocks.partition_point(|b| b.address <= w)`, found in a few steps), and whether a
    /// block is known to start at `w` without reading it: its bit is set in a bitmap run
    /// (there a pointer to a block's start, most of those a scan finds, costs no read of the
    /// blocks, a cache miss in a table of sixteen bytes a block).
    #[inline]
    pub(crate) fn count_and_start(&self, blocks: &[Block], w: u64) -> (usize, bool) {
        if self.runs.is_empty() {
            return (blocks.partition_point(|b| b.address <= w), false);
        }
        let r = self.runs.partition_point(|r| r.start <= w);
        let Some(run) = r.checked_sub(1).map(|r| &self.runs[r]) else {
            return (0, false);
        };
        if w >= run.last {
            return (run.end as usize, false);
        }
        if run.bitmap {
            // The blocks of the run starting in words before `w`'s, and in its word up to
            // its bit.
            let bit = (w - run.start) >> 3;
            let k = run.slot0 as usize + (bit >> 6) as usize;
            let below = self.bits[k] & (u64::MAX >> (63 - (bit & 63)));
            let count = run.first as usize + self.counts[k] as usize + below.count_ones() as usize;
            // The run's starts are 8-aligned and distinct: the bit is `w`'s own where `w`
            // is aligned.
            let starts = w.is_multiple_of(8) && below >> (bit & 63) != 0;
            return (count, starts);
        }
        let k = run.slot0 as usize + ((w - run.start) >> run.shift) as usize;
        let (lo, hi) = (self.slots[k] as usize, self.slots[k + 1] as usize);
        (
            lo + blocks[lo..hi].partition_point(|b| b.address <= w),
            false,
        )
    }

    /// The index of the last of `blocks` that starts exactly at `w`.
    #[inline]
    pub(crate) fn starting_at(&self, blocks: &[Block], w: u64) -> Option<usize> {
        let (count, starts) = self.count_and_start(blocks, w);
        let i = count.checked_sub(1)?;
        (starts || blocks[i].address == w).then_some(i)
    }

    /// The index of the last of `blocks` that holds `w` (its start, or a byte of it).
    #[inline]
    pub(crate) fn holding(&self, blocks: &[Block], w: u64) -> Option<usize> {
        let (count, starts) = self.count_and_start(blocks, w);
        let i = count.checked_sub(1)?;
        (starts || w - blocks[i].address < blocks[i].size.max(1)).then_some(i)
    }
}

impl BlockIndex {
    pub(crate) fn new(mut blocks: Vec<Block>) -> BlockIndex {
        // One pass over the blocks (the walkers list them sorted, one a start) where it
        // finds them so: each pass reads 16 bytes a block from memory.
        let end = |b: &Block| b.address.saturating_add(b.size.max(1));
        let (mut ordered, mut hi) = (true, 0);
        for (k, b) in blocks.iter().enumerate() {
            ordered &= k == 0 || blocks[k - 1].address < b.address;
            hi = hi.max(end(b));
        }
        if !ordered {
            blocks.sort_unstable();
            blocks.dedup_by_key(|b| b.address);
            hi = blocks.iter().map(end).max().unwrap_or(0);
        }
        let lo = blocks.first().map_or(0, |b| b.address);
        let directory = Directory::new(&blocks);
        BlockIndex {
            blocks,
            directory,
            lo,
            hi,
        }
    }

    /// The block `w` points into, and whether it points at its start.
    #[inline]
    pub(crate) fn find(&self, w: u64) -> Option<(usize, bool)> {
        if w < self.lo || w >= self.hi {
            return None;
        }
        let (count, starts) = self.directory.count_and_start(&self.blocks, w);
        let i = count.checked_sub(1)?;
        if starts {
            return Some((i, true));
        }
        let b = self.blocks[i];
        (w - b.address < b.size.max(1)).then_some((i, w == b.address))
    }
}

/// Reads a process's memory through the last two contiguous pieces of it that it was given:
/// reading the words of a heap (one piece of the core, mostly) then costs no lookup of the
/// piece and no copy, where [`Memory::read_u64`] costs both for every word; and reading a
/// container in one mapping and its parts in another (a vector's body, mmapped, pointing
/// into the heap) neither.
pub(crate) struct Cursor<'m> {
    memory: &'m dyn Memory,
    /// The piece last read, where it starts.
    last: Cell<(u64, &'m [u8])>,
    /// The piece read before it.
    before: Cell<(u64, &'m [u8])>,
}

impl<'m> Cursor<'m> {
    pub(crate) fn new(memory: &'m dyn Memory) -> Cursor<'m> {
        Cursor {
            memory,
            last: Cell::new((0, &[])),
            before: Cell::new((0, &[])),
        }
    }

    /// What [`Memory::bytes_at`] gives: the bytes from `a` to the end of the piece holding
    /// it, empty when the process image has none.
    #[inline]
    pub(crate) fn bytes_at(&self, a: u64) -> &'m [u8] {
        let (base, piece) = self.last.get();
        let off = a.wrapping_sub(base);
        if off < piece.len() as u64 {
            return &piece[off as usize..];
        }
        self.other_piece(a)
    }

    /// [`Cursor::bytes_at`] out of the last piece.
    fn other_piece(&self, a: u64) -> &'m [u8] {
        let (base, piece) = self.before.get();
        let off = a.wrapping_sub(base);
        if off < piece.len() as u64 {
            self.before.set(self.last.replace((base, piece)));
            return &piece[off as usize..];
        }
        let piece = self.memory.bytes_at(a);
        if !piece.is_empty() {
            self.before.set(self.last.replace((a, piece)));
        }
        piece
    }

    /// What [`Memory::read_u64`] gives.
    #[inline]
    pub(crate) fn u64(&self, a: u64) -> Option<u64> {
        match self.bytes_at(a).first_chunk::<8>() {
            Some(w) => Some(u64::from_le_bytes(*w)),
            // A word straddling two pieces, or not in the image.
            None => self.memory.read_u64(a),
        }
    }
}

/// Calls `f(address, word)` with every aligned 8-byte word of `[start, end)` that is not
/// zero; returns (bytes scanned, bytes unreadable). Reads straight from the core's mapped
/// slices. A zero word is a null pointer, never a reference, and most of what is scanned
/// (a stack below its frames, `.bss`, a zeroed buffer) is runs of them: see
/// [`nonzero_words`].
pub(crate) fn scan(memory: &Cursor, start: u64, end: u64, f: impl FnMut(u64, u64)) -> (u64, u64) {
    scan_words(memory, start, end, false, f)
}

/// [`scan`] over one allocation, `[start, end)`, stopping at its first unreadable word. An
/// allocation lies in one mapping, so memory missing from the core (a truncated core's lost
/// tail) ends it; and a damaged heap can give a block a size far beyond any memory there
/// is, which stepping page by page through would take years.
pub(crate) fn scan_allocation(memory: &Cursor, start: u64, end: u64, f: impl FnMut(u64, u64)) {
    scan_words(memory, start, end, true, f);
}

fn scan_words(
    memory: &Cursor,
    start: u64,
    end: u64,
    stop_at_hole: bool,
    mut f: impl FnMut(u64, u64),
) -> (u64, u64) {
    const PAGE: u64 = 4096;
    let mut a = start.saturating_add(7) & !7;
    let (mut scanned, mut unreadable) = (0u64, 0u64);
    while a < end && end - a >= 8 {
        let s = memory.bytes_at(a);
        let n = (s.len() as u64).min(end - a) & !7;
        if n > 0 {
            for (k, w) in nonzero_words(&s[..n as usize]) {
                f(a + 8 * k as u64, w);
            }
            scanned += n;
            a += n;
        } else if let Some(w) = memory.u64(a) {
            // A word straddling two readable pieces.
            if w != 0 {
                f(a, w);
            }
            scanned += 8;
            a += 8;
        } else if stop_at_hole {
            break;
        } else {
            // Not in the core: skip to the next page.
            let next = ((a / PAGE) + 1).saturating_mul(PAGE).min(end);
            unreadable += next - a;
            a = next;
        }
    }
    (scanned, unreadable)
}

/// The non-zero little-endian words of `bytes` (whole words; a partial last one is left
/// out), each with its index. What the walkers and scans read is mostly zeros (jemalloc's
/// extent map and tcmalloc's page map, 2 MiB a level with 4 KiB pages; a thread's stack
/// below its frames; `.bss`): [`ZERO_RUN`] words at a time are OR-ed together (vector-wide
/// where the processor can) and passed over when that is zero, one test for 256 bytes
/// instead of one a word.
pub(crate) fn nonzero_words(bytes: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
    bytes
        .chunks(8 * ZERO_RUN)
        .enumerate()
        .filter(
            move |(_, block)| match <&[u8; 8 * ZERO_RUN]>::try_from(*block) {
                // A whole block: a fold of known length, which the compiler unrolls into a few
                // vector ORs with no loop left to test (nor for a fuzzer's compare tracing).
                Ok(whole) => whole.iter().fold(0, |any, &b| any | b) != 0,
                Err(_) => block.chunks_exact(8).fold(0, |any, w| any | word(w)) != 0,
            },
        )
        .flat_map(move |(b, block)| {
            block
                .chunks_exact(8)
                .enumerate()
                .map(move |(k, w)| (ZERO_RUN * b + k, word(w)))
                .filter(|&(_, w)| w != 0)
        })
}

/// How many words [`nonzero_words`] tests as one.
const ZERO_RUN: usize = 32;

/// The little-endian u64 at byte `off` of `b` (0 when out of range).
#[inline]
pub(crate) fn word(b: &[u8], off: u64) -> u64 {
    u64::from_le_bytes(le_bytes(b, off))
}

/// The little-endian u32 at byte `off` of `b` (0 when out of range).
#[inline]
pub(crate) fn word32(b: &[u8], off: u64) -> u32 {
    u32::from_le_bytes(le_bytes(b, off))
}

/// The `N` bytes at byte `off` of `b`, zeros when they are not all in it.
#[inline]
fn le_bytes<const N: usize>(b: &[u8], off: u64) -> [u8; N] {
    usize::try_from(off)
        .ok()
        .and_then(|off| b.get(off..off.checked_add(N)?))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

/// `len` bytes at `addr`, borrowed from the mapped core when one segment holds them all
/// (copied when they straddle two), `None` when some are not in the core.
pub(crate) fn block(mem: &dyn Memory, addr: u64, len: usize) -> Option<Cow<'_, [u8]>> {
    let b = mem.bytes_at(addr);
    if b.len() >= len {
        return Some(Cow::Borrowed(&b[..len]));
    }
    let mut v = vec![0u8; len];
    mem.read_exact(addr, &mut v).then_some(Cow::Owned(v))
}

/// Asks the processor to fetch the cache line `bytes` starts with, without waiting for it:
/// reading a core's heap in the order its pointers lead waits on memory at each block.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if !bytes.is_empty() {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86_64 (every x86_64 processor has it), and a prefetch is
        // a hint: it reads nothing into the program and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// One bit a block (block `i` is bit `i % 64` of word `i / 64`): which blocks are typed,
/// kept, anchored — a byte a block would be a twentieth of a leak check's memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    /// `n` bits, all clear.
    pub(crate) fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    /// `n` bits, set where `f` holds.
    pub(crate) fn where_true(n: usize, f: impl Fn(usize) -> bool) -> Bits {
        let mut bits = Bits::new(n);
        for i in (0..n).filter(|&i| f(i)) {
            bits.set(i);
        }
        bits
    }

    /// The bits of `words`: blocks `64 k` to `64 k + 63` in word `k`.
    pub(crate) fn from_words(words: Vec<u64>) -> Bits {
        Bits(words)
    }

    /// Whether block `i`'s bit is set (not, past the end).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Sets block `i`'s bit.
    #[inline]
    pub(crate) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// The words, block `64 k` to `64 k + 63` in word `k`.
    pub(crate) fn words(&self) -> &[u64] {
        &self.0
    }

    /// [`Bits::words`], taken.
    pub(crate) fn into_words(self) -> Vec<u64> {
        self.0
    }
}

/// `[start, end)` ranges sorted and merged where they overlap or touch.
pub(crate) fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Adds `[start, end)` to `ranges`, into the last range where it overlaps or touches it: the
/// chunks of a heap, added in address order, take one range per run instead of one each (a
/// heap of a hundred million chunks would otherwise hold 1.6 GB of ranges). [`merge_ranges`]
/// gives the same result for either list.
pub(crate) fn push_merged(ranges: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    match ranges.last_mut() {
        Some(last) if last.0 <= start && start <= last.1 => last.1 = last.1.max(end),
        _ => ranges.push((start, end)),
    }
}

/// `[start, end)` less `excluded` (sorted and merged, as [`merge_ranges`] makes them).
pub(crate) fn subtract(start: u64, end: u64, excluded: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut a = start;
    let first = excluded.partition_point(|&(_, e)| e <= start);
    for &(s, e) in &excluded[first..] {
        if s >= end {
            break;
        }
        if s > a {
            out.push((a, s));
        }
        a = a.max(e);
    }
    if a < end {
        out.push((a, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_in_range_and_zero_past_it() {
        let b: Vec<u8> = (1..=12).collect();
        assert_eq!(word(&b, 0), 0x0807_0605_0403_0201);
        assert_eq!(word(&b, 4), 0x0c0b_0a09_0807_0605);
        assert_eq!(word32(&b, 8), 0x0c0b_0a09);
        // Past the end, partly or wholly, and at offsets whose end overflows.
        for off in [5, 9, 12, 1 << 40, u64::MAX - 3, u64::MAX] {
            assert_eq!(word(&b, off), 0, "word at {off:#x}");
        }
        for off in [9, 12, u64::MAX - 1] {
            assert_eq!(word32(&b, off), 0, "word32 at {off:#x}");
        }
    }

    #[test]
    fn nonzero_words_skip_zeros_and_keep_every_other_word() {
        // Every single non-zero word of a 1,000-word run (and a partial word at its end),
        // at each position in and across the blocks tested as one, against a word-by-word
        // reading.
        for at in 0..1000 {
            for value in [1u64, 1 << 63, u64::MAX] {
                let mut bytes = vec![0u8; 8 * 1000 + 5];
                bytes[8 * at..8 * at + 8].copy_from_slice(&value.to_le_bytes());
                *bytes.last_mut().unwrap() = 0xff;
                let found: Vec<(usize, u64)> = nonzero_words(&bytes).collect();
                assert_eq!(found, [(at, value)], "word {at} = {value:#x}");
            }
        }
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i % 7 == 0) as u8 * (i as u8))
            .collect();
        let by_word: Vec<(usize, u64)> = bytes
            .chunks_exact(8)
            .enumerate()
            .map(|(k, w)| (k, u64::from_le_bytes(w.try_into().unwrap())))
            .filter(|&(_, w)| w != 0)
            .collect();
        assert_eq!(nonzero_words(&bytes).collect::<Vec<_>>(), by_word);
    }

    #[test]
    fn index_finds_starts_and_interiors() {
        let index = BlockIndex::new(vec![
            Block {
                address: 0x2000,
                size: 16,
            },
            Block {
                address: 0x1000,
                size: 32,
            },
        ]);
        assert_eq!(index.find(0x1000), Some((0, true)));
        assert_eq!(index.find(0x101f), Some((0, false)));
        assert_eq!(index.find(0x1020), None);
        assert_eq!(index.find(0x2008), Some((1, false)));
    }

    /// The directory answers as a binary search over all the blocks would, in runs dense
    /// and sparse, with blocks sharing a start, before, between and past them all.
    #[test]
    fn directory_counts_as_a_binary_search() {
        let mut blocks = Vec::new();
        let mut a = 0x10_0000u64;
        for i in 0..3000u64 {
            // Mostly small neighbours, some wide gaps (new runs), a few shared starts.
            a += match i % 97 {
                0 => 3 << 20,
                1 => 0,
                k => 16 * (k % 7 + 1),
            };
            blocks.push(Block {
                address: a,
                size: 16,
            });
        }
        let directory = Directory::new(&blocks);
        assert!(directory.runs.len() > 1 && !directory.slots.is_empty());
        let probes = blocks
            .iter()
            .flat_map(|b| [b.address - 1, b.address, b.address + 5, b.address + 16])
            .chain([0, 1 << 20, a + (4 << 20), u64::MAX]);
        for w in probes {
            assert_eq!(
                directory.count_and_start(&blocks, w).0,
                blocks.partition_point(|b| b.address <= w),
                "{w:#x}"
            );
        }
        // Small blocks packed close, starting on 8-byte boundaries: a bitmap.
        let mut packed = Vec::new();
        let mut a = 0x55_0000_0010u64;
        for i in 0..5000u64 {
            packed.push(Block {
                address: a,
                size: 24,
            });
            a += 8 * (i % 11 + 2);
        }
        let directory = Directory::new(&packed);
        assert!(directory.runs.iter().all(|r| r.bitmap) && !directory.bits.is_empty());
        let probes = packed
            .iter()
            .flat_map(|b| [b.address - 1, b.address, b.address + 7, b.address + 8])
            .chain([0, 0x55_0000_0000, a, u64::MAX]);
        for w in probes {
            assert_eq!(
                directory.count_and_start(&packed, w).0,
                packed.partition_point(|b| b.address <= w),
                "{w:#x}"
            );
            // A start is known from its bit alone: as reading the block would say.
            let last = packed.partition_point(|b| b.address <= w).checked_sub(1);
            let starts = last.filter(|&i| packed[i].address == w);
            assert_eq!(directory.starting_at(&packed, w), starts, "{w:#x}");
            let holds = last.filter(|&i| w - packed[i].address < packed[i].size);
            assert_eq!(directory.holding(&packed, w), holds, "{w:#x}");
        }
        // Blocks so scattered that runs would cost more than they save: a binary search.
        let scattered: Vec<Block> = (0..200)
            .map(|i| Block {
                address: i << 30,
                size: 8,
            })
            .collect();
        let directory = Directory::new(&scattered);
        assert!(directory.runs.is_empty());
        assert_eq!(directory.count_and_start(&scattered, (7 << 30) + 3).0, 8);
    }

    /// A bitmap run longer than the stretch of words one thread sets (its blocks set by
    /// several threads), with blocks on and beside the stretches' edges.
    #[test]
    fn a_long_bitmap_run_counts_as_a_binary_search() {
        let start = 0x56_0000_0000u64;
        let edge = 1u64 << 23; // A stretch of 16,384 words, 512 bytes each.
        let mut starts: Vec<u64> = (0..500_000u64)
            .scan(start, |a, i| {
                *a += 8 * (i % 13 + 1);
                Some(*a)
            })
            .collect();
        for k in 1..4 {
            starts.extend([start + k * edge - 8, start + k * edge, start + k * edge + 8]);
        }
        starts.sort_unstable();
        starts.dedup();
        let blocks: Vec<Block> = starts
            .iter()
            .map(|&address| Block { address, size: 8 })
            .collect();
        assert!(blocks[blocks.len() - 1].address - start > 3 * edge);
        let directory = Directory::new(&blocks);
        assert_eq!(directory.runs.len(), 1);
        assert!(directory.runs[0].bitmap);
        let probes = blocks
            .iter()
            .flat_map(|b| [b.address - 8, b.address, b.address + 4]);
        for w in probes {
            let count = blocks.partition_point(|b| b.address <= w);
            let starts = count > 0 && blocks[count - 1].address == w;
            let (got, known) = directory.count_and_start(&blocks, w);
            assert_eq!(got, count, "{w:#x}");
            // Known from the bit for every start but the run's last (read to be sure).
            let last = w == blocks[blocks.len() - 1].address;
            assert_eq!(known, starts && !last, "{w:#x}");
        }
    }

    #[test]
    fn ranges_merge_and_subtract() {
        let merged = merge_ranges(vec![(10, 20), (0, 5), (15, 30), (30, 31)]);
        assert_eq!(merged, vec![(0, 5), (10, 31)]);
        assert_eq!(subtract(0, 40, &merged), vec![(5, 10), (31, 40)]);
        assert_eq!(subtract(11, 12, &merged), vec![]);
        let mut pushed = Vec::new();
        for (s, e) in [(10, 20), (0, 5), (15, 30), (30, 31)] {
            push_merged(&mut pushed, s, e);
        }
        assert_eq!(pushed, vec![(10, 20), (0, 5), (15, 31)]);
        assert_eq!(merge_ranges(pushed), merged);
    }
}
