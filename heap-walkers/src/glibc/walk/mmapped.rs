//! Chunks of their own mmap, found in the anonymous mappings.

use super::super::layout::{IS_MMAPPED, SIZE_BITS, SIZE_SZ};
use super::super::mem::{block, word};
use super::Walker;
use crate::{Allocation, AllocationState};

impl Walker<'_> {
    /// Chunks of their own mmap: anonymous writable mappings outside the arenas' heaps that
    /// start with a chunk header marked `IS_MMAPPED` (malloc/malloc.c, `sysmalloc_mmap`: the
    /// chunk sits at the start of the mapping with `prev_size` 0 when `MALLOC_ALIGNMENT` is
    /// `2 * SIZE_SZ`).
    pub(super) fn scan_mmapped(&mut self) {
        let heap_max = self.heap_max();
        let mut excluded: Vec<(u64, u64)> = Vec::new();
        for s in &self.segments {
            if s.arena == 0 {
                excluded.push((s.start, s.end));
            }
        }
        for a in &self.arenas {
            for h in &a.detail.heaps {
                excluded.push((h.address, h.address.saturating_add(heap_max)));
            }
        }
        let page = self.page;
        let mut found = Vec::new();
        for m in self.target.mappings() {
            if m.path.is_some() || !m.perms.contains('w') || m.dumped == 0 {
                continue;
            }
            if excluded.iter().any(|&(s, e)| s < m.end && m.start < e) {
                continue;
            }
            let mut pos = m.start;
            let mut steps = 0;
            while pos.saturating_add(16) <= m.end && steps < 1 << 24 {
                steps += 1;
                let hdr = match block(self.target, pos, 16) {
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
                    pos = pos.saturating_add(size);
                } else {
                    pos = pos.saturating_add(page);
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
                    arena: Allocation::NO_ARENA,
                    state: AllocationState::Used,
                    flags: Allocation::MMAPPED,
                });
            }
        }
    }
}
