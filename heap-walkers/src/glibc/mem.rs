//! Small helpers over [`Memory`]: blocks borrowed from the core where possible, words.

use std::borrow::Cow;

use core_reader::Memory;

/// `len` bytes at `addr`, borrowed from the mapped core when one segment holds them all.
pub(crate) fn block(mem: &dyn Memory, addr: u64, len: usize) -> Option<Cow<'_, [u8]>> {
    let b = mem.bytes_at(addr);
    if b.len() >= len {
        return Some(Cow::Borrowed(&b[..len]));
    }
    let mut v = vec![0u8; len];
    mem.read_exact(addr, &mut v).then_some(Cow::Owned(v))
}

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
