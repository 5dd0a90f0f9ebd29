//! Reading memory as pointers: the sorted block index that answers "which allocation does
//! this word point into", the word scanner, and root ranges less what must not be scanned.
//! Shared by the leak finder and the reference graph.

use core_reader::Memory;

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
    lo: u64,
    hi: u64,
}

impl BlockIndex {
    pub(crate) fn new(mut blocks: Vec<Block>) -> BlockIndex {
        if !blocks.is_sorted() {
            blocks.sort_unstable();
        }
        blocks.dedup_by_key(|b| b.address);
        let lo = blocks.first().map_or(0, |b| b.address);
        let hi = blocks
            .iter()
            .map(|b| b.address.saturating_add(b.size.max(1)))
            .max()
            .unwrap_or(0);
        BlockIndex { blocks, lo, hi }
    }

    /// The block `w` points into, and whether it points at its start.
    #[inline]
    pub(crate) fn find(&self, w: u64) -> Option<(usize, bool)> {
        if w < self.lo || w >= self.hi {
            return None;
        }
        let i = self
            .blocks
            .partition_point(|b| b.address <= w)
            .checked_sub(1)?;
        let b = self.blocks[i];
        (w - b.address < b.size.max(1)).then_some((i, w == b.address))
    }
}

/// Calls `f(address, word)` with every aligned 8-byte word of `[start, end)`; returns
/// (bytes scanned, bytes unreadable). Reads straight from the core's mapped slices.
pub(crate) fn scan(
    memory: &dyn Memory,
    start: u64,
    end: u64,
    f: impl FnMut(u64, u64),
) -> (u64, u64) {
    scan_words(memory, start, end, false, f)
}

/// [`scan`] over one allocation, `[start, end)`, stopping at its first unreadable word. An
/// allocation lies in one mapping, so memory missing from the core (a truncated core's lost
/// tail) ends it; and a damaged heap can give a block a size far beyond any memory there
/// is, which stepping page by page through would take years.
pub(crate) fn scan_allocation(memory: &dyn Memory, start: u64, end: u64, f: impl FnMut(u64, u64)) {
    scan_words(memory, start, end, true, f);
}

fn scan_words(
    memory: &dyn Memory,
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
            for (k, w) in s[..n as usize].chunks_exact(8).enumerate() {
                f(
                    a + 8 * k as u64,
                    u64::from_le_bytes(w.try_into().unwrap_or([0; 8])),
                );
            }
            scanned += n;
            a += n;
        } else if let Some(w) = memory.read_u64(a) {
            // A word straddling two readable pieces.
            f(a, w);
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

    #[test]
    fn ranges_merge_and_subtract() {
        let merged = merge_ranges(vec![(10, 20), (0, 5), (15, 30), (30, 31)]);
        assert_eq!(merged, vec![(0, 5), (10, 31)]);
        assert_eq!(subtract(0, 40, &merged), vec![(5, 10), (31, 40)]);
        assert_eq!(subtract(11, 12, &merged), vec![]);
    }
}
