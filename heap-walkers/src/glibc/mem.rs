//! Small helpers over [`Memory`]: blocks borrowed from the core where possible, words.

use core_reader::Memory;

pub(crate) use crate::scan::{block, word, word32};

/// Pieces of a process's memory borrowed from its mapped core, by address: reading them
/// needs nothing of the process, so threads can share them (a process's own memory access
/// is not shareable). Addresses outside every piece are not readable.
pub(crate) struct Pieces<'m> {
    v: Vec<(u64, &'m [u8])>,
}

impl<'m> Pieces<'m> {
    /// Pieces `(start, bytes)`, which must not overlap.
    pub(crate) fn new(mut v: Vec<(u64, &'m [u8])>) -> Pieces<'m> {
        v.sort_unstable_by_key(|p| p.0);
        Pieces { v }
    }
}

impl Memory for Pieces<'_> {
    fn bytes_at(&self, addr: u64) -> &[u8] {
        let i = self.v.partition_point(|p| p.0 <= addr);
        let Some(&(start, bytes)) = i.checked_sub(1).and_then(|i| self.v.get(i)) else {
            return &[];
        };
        usize::try_from(addr - start)
            .ok()
            .and_then(|off| bytes.get(off..))
            .unwrap_or(&[])
    }
}

/// What can be read as [`Memory`]: the process itself or [`Pieces`] of it, for code that
/// runs on either.
pub(crate) trait AsMemory {
    fn memory(&self) -> &dyn Memory;
}

impl AsMemory for Pieces<'_> {
    fn memory(&self) -> &dyn Memory {
        self
    }
}

impl AsMemory for dyn core_reader::Target + '_ {
    fn memory(&self) -> &dyn Memory {
        self
    }
}
