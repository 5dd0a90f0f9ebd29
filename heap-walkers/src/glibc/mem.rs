//! Small helpers over [`Memory`]: blocks borrowed from the core where possible, words.

use core_reader::Memory;

pub(crate) use crate::scan::block;

/// The little-endian u64 at byte `off` of `b` (0 when out of range).
#[inline]
pub(crate) fn word(b: &[u8], off: u64) -> u64 {
    let off = off as usize;
    match b.get(off..off + 8) {
        Some(s) => u64::from_le_bytes(s.try_into().unwrap_or([0; 8])),
        None => 0,
    }
}

/// The little-endian u32 at byte `off` of `b` (0 when out of range).
#[inline]
pub(crate) fn word32(b: &[u8], off: u64) -> u32 {
    let off = off as usize;
    match b.get(off..off + 4) {
        Some(s) => u32::from_le_bytes(s.try_into().unwrap_or([0; 4])),
        None => 0,
    }
}

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
