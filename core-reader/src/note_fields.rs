//! Reading fixed-layout fields out of a note's descriptor.

use crate::{Arch, Registers};

/// Little-endian field readers over a note descriptor that return `None` past its end.
pub(crate) struct Fields<'a>(pub &'a [u8]);

impl Fields<'_> {
    pub fn u16(&self, off: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.0.get(off..off + 2)?.try_into().ok()?,
        ))
    }
    pub fn u32(&self, off: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.0.get(off..off + 4)?.try_into().ok()?,
        ))
    }
    pub fn i32(&self, off: usize) -> Option<i32> {
        self.u32(off).map(|v| v as i32)
    }
    pub fn u64(&self, off: usize) -> Option<u64> {
        Some(u64::from_le_bytes(
            self.0.get(off..off + 8)?.try_into().ok()?,
        ))
    }
    /// A NUL-terminated string in a fixed-size field.
    pub fn cstr(&self, off: usize, max: usize) -> Option<String> {
        let field = self.0.get(off..)?;
        let field = &field[..max.min(field.len())];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        Some(String::from_utf8_lossy(&field[..end]).into_owned())
    }
    /// `count` consecutive u64 registers starting at `off`, named.
    pub fn registers(&self, arch: Arch, off: usize, names: &[&'static str]) -> Option<Registers> {
        let values = names
            .iter()
            .enumerate()
            .map(|(i, &n)| Some((n, self.u64(off + 8 * i)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Registers::new(arch, values))
    }
}
