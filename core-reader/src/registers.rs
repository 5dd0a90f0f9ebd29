//! A thread's general-purpose registers, by name and by DWARF number.

use crate::Arch;

/// x86-64 registers in the order of Linux's `user_regs_struct`
/// (linux arch/x86/include/asm/user_64.h), which is also `elf_gregset_t` in NT_PRSTATUS.
pub(crate) const X86_64_NAMES: [&str; 27] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs",
    "gs",
];

/// AArch64 registers in the order of Linux's `user_pt_regs`
/// (linux arch/arm64/include/uapi/asm/ptrace.h): x0–x30, sp, pc, pstate.
pub(crate) const AARCH64_NAMES: [&str; 34] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
    "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",
    "x28", "x29", "x30", "sp", "pc", "pstate",
];

/// DWARF register numbers for x86-64 (System V psABI, figure 3.36): 0 rax, 1 rdx, 2 rcx,
/// 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8–15 r8–r15, 16 the return address (rip).
const X86_64_DWARF: [&str; 17] = [
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rip",
];

/// A snapshot of one thread's integer registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registers {
    arch: Arch,
    values: Vec<(&'static str, u64)>,
}

impl Registers {
    /// Registers from `(name, value)` pairs; names are the canonical ones of the arch
    /// (`rip`, `rsp`, … on x86-64; `x0`…`x30`, `sp`, `pc`, `pstate` on AArch64).
    pub fn new(arch: Arch, values: Vec<(&'static str, u64)>) -> Registers {
        Registers { arch, values }
    }

    /// The architecture these registers belong to.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// All registers in the order the OS stores them.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.values.iter().copied()
    }

    /// A register by name (`lr` and `fp` are accepted as AArch64 aliases of x30 and x29).
    pub fn get(&self, name: &str) -> Option<u64> {
        let name = match (self.arch, name) {
            (Arch::Aarch64, "lr") => "x30",
            (Arch::Aarch64, "fp") => "x29",
            _ => name,
        };
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }

    /// The program counter.
    pub fn pc(&self) -> Option<u64> {
        self.get(match self.arch {
            Arch::X86_64 => "rip",
            Arch::Aarch64 => "pc",
        })
    }

    /// The stack pointer.
    pub fn sp(&self) -> Option<u64> {
        self.get(match self.arch {
            Arch::X86_64 => "rsp",
            Arch::Aarch64 => "sp",
        })
    }

    /// The frame pointer (rbp / x29).
    pub fn fp(&self) -> Option<u64> {
        self.get(match self.arch {
            Arch::X86_64 => "rbp",
            Arch::Aarch64 => "x29",
        })
    }

    /// The name of a DWARF register number, for this arch.
    pub fn dwarf_name(arch: Arch, reg: u16) -> Option<&'static str> {
        match arch {
            Arch::X86_64 => X86_64_DWARF.get(reg as usize).copied(),
            // AADWARF64: 0–30 are x0–x30, 31 is sp.
            Arch::Aarch64 => AARCH64_NAMES
                .get(reg as usize)
                .copied()
                .filter(|_| reg <= 31),
        }
    }
}
