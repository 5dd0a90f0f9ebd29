//! The kinds of address core-reader converts between, as distinct types so that a mix-up
//! does not compile: an address in the process, an address in a module's own file
//! numbering, and a byte offset in a file.
//!
//! A shared library linked at 0 and loaded at `0x7f00_0000_0000` has its function `f` at
//! module address `0x1130` (its symbol's `st_value`, what DWARF and CFI speak of) and at
//! process address `0x7f00_0000_1130` (what a thread's pc holds); the bytes are at some
//! file offset (`p_offset` based) that is neither. Looking DWARF up with a process address,
//! or biasing a file offset, gives plausible wrong answers, so each kind has its type and
//! the conversions are the methods of [`LoadBias`].
//!
//! The public API of [`Process`](crate::Process), [`Memory`](crate::Memory) and
//! [`Target`](crate::Target) keeps plain `u64` for process addresses: there the kind never
//! varies.

/// An address in the process's memory: a thread's pc, a pointer, a mapping's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessAddr(pub u64);

/// An address in a module's ELF file's own numbering (its "stated virtual memory address"):
/// `p_vaddr`, a symbol's `st_value`, the addresses of DWARF and CFI. The process holds the
/// byte at module address `a` at process address `a + bias`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleAddr(pub u64);

/// A byte offset in a file: `p_offset`, the file offset a mapping starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileOffset(pub u64);

/// A module's load bias: a process address minus the module address of the same byte
/// (0 for a non-PIE executable; the load address for a library linked at 0). Arithmetic
/// wraps, as a bias "below zero" is written modulo 2^64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LoadBias(pub u64);

impl LoadBias {
    /// The bias of a module whose byte at `module` is at `process`.
    pub fn between(process: ProcessAddr, module: ModuleAddr) -> LoadBias {
        LoadBias(process.0.wrapping_sub(module.0))
    }

    /// Where a process address is in the module's numbering.
    pub fn to_module(self, addr: ProcessAddr) -> ModuleAddr {
        ModuleAddr(addr.0.wrapping_sub(self.0))
    }

    /// Where a module address is in the process.
    pub fn to_process(self, addr: ModuleAddr) -> ProcessAddr {
        ProcessAddr(addr.0.wrapping_add(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bias = LoadBias::between(ProcessAddr(0x7f00_0000_1130), ModuleAddr(0x1130));
        assert_eq!(bias, LoadBias(0x7f00_0000_0000));
        assert_eq!(
            bias.to_module(ProcessAddr(0x7f00_0000_2000)),
            ModuleAddr(0x2000)
        );
        assert_eq!(
            bias.to_process(ModuleAddr(0x2000)),
            ProcessAddr(0x7f00_0000_2000)
        );
        // A module linked above where it was loaded (a bias "below zero") wraps.
        let low = LoadBias::between(ProcessAddr(0x1000), ModuleAddr(0x40_1000));
        assert_eq!(low.to_process(ModuleAddr(0x40_2000)), ProcessAddr(0x2000));
    }
}
