//! [`Target`]: what an analysis needs of a process, whatever holds it.
//!
//! The heap walkers, the leak finder and what comes after them read a process through this
//! trait, never through [`crate::Process`] itself, so that the same code runs on a core
//! (`Process`), on memory built by hand in a unit test or a fuzzer ([`MemoryImage`]), and
//! later on a live process.

use std::collections::HashMap;

use crate::{Arch, Memory, Module, Os, ThreadNote};

/// One mapping of a process's address space.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rwx` permissions.
    pub perms: String,
    /// Offset in the mapped file.
    pub offset: u64,
    /// The mapped file, if any.
    pub path: Option<String>,
    /// Build-id of the module this mapping belongs to.
    pub build_id: Option<String>,
    /// Bytes of this mapping the core holds.
    pub dumped: u64,
}

/// Where a word on a thread's stack lies (see [`Target::stack_frame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSlot {
    /// The thread whose stack holds it.
    pub tid: u64,
    /// The function whose frame holds it, as the unwinder found the frames (None past the
    /// frames it found, or where the function has no name).
    pub function: Option<String>,
    /// The variable or parameter whose slot holds it, where DWARF places one there at the
    /// frame's pc (a slot relative to the frame base, the stack or the frame pointer; see
    /// `locals.rs`).
    pub variable: Option<String>,
}

/// A process as an analysis sees it: memory, threads, mappings, modules, symbols and the
/// struct layouts its debug information describes. Shared between threads: the passes over
/// its memory split their work with rayon.
pub trait Target: Memory + Sync {
    /// The operating system.
    fn os(&self) -> Os;
    /// The architecture.
    fn arch(&self) -> Arch;
    /// Threads, the one that took the signal first.
    fn threads(&self) -> &[ThreadNote];
    /// Mappings of the address space, by address.
    fn mappings(&self) -> &[Mapping];
    /// The modules (executable, libraries, vDSO), by address.
    fn modules(&self) -> Vec<&Module>;
    /// The run-time address of a symbol in any module.
    fn find_symbol(&self, name: &str) -> Option<u64>;
    /// The byte offset of `member` in the C struct `name`, from debug information.
    fn offset_of(&self, name: &str, member: &str) -> Option<u64>;
    /// The size of the C struct `name`, from debug information.
    fn size_of(&self, name: &str) -> Option<u64>;
    /// [`Target::offset_of`] from the debug information of `module` alone: an allocator's
    /// library answers for its own classes, and the other modules' DWARF (libc's can be
    /// large) is not searched for a name it lacks. Without modules, every module's.
    fn module_offset_of(&self, module: &Module, name: &str, member: &str) -> Option<u64> {
        let _ = module;
        self.offset_of(name, member)
    }
    /// [`Target::size_of`] from the debug information of `module` alone.
    fn module_size_of(&self, module: &Module, name: &str) -> Option<u64> {
        let _ = module;
        self.size_of(name)
    }
    /// A value of the auxiliary vector (`AT_PAGESZ` is 6).
    fn auxv_value(&self, key: u64) -> Option<u64>;
    /// Whether part of the process's memory is known to be missing (a truncated core).
    fn is_truncated(&self) -> bool;
    /// Where on a thread's stack `address` lies: the thread, the function whose frame holds
    /// it and the variable whose slot it is in; None when it is on no thread's stack.
    fn stack_frame(&self, address: u64) -> Option<StackSlot> {
        let _ = address;
        None
    }
    /// `module!symbol+offset` for an address in a module's data (a global, a static).
    fn data_symbol(&self, address: u64) -> Option<String> {
        let _ = address;
        None
    }
    /// Whether `address` is in memory that holds threads' thread-local storage: a mapping
    /// that holds a thread pointer (x86_64 `fs_base`, aarch64 `tpidr_el0`), where the libc
    /// puts the static TLS blocks next to each thread's control block.
    fn is_thread_local(&self, address: u64) -> bool {
        let Some(m) = self
            .mappings()
            .iter()
            .find(|m| m.start <= address && address < m.end)
        else {
            return false;
        };
        self.threads().iter().any(|t| {
            t.registers
                .get("fs_base")
                .or_else(|| t.registers.get("tpidr_el0"))
                .is_some_and(|tp| m.start <= tp && tp < m.end)
        })
    }
}

/// A process image put together by hand: memory regions, symbols and struct layouts. For
/// unit tests of the walkers and for fuzzers, which mutate real memory taken from a core.
#[derive(Debug, Clone, Default)]
pub struct MemoryImage {
    /// The operating system it claims to be.
    pub os: Option<Os>,
    /// The architecture it claims to be (x86_64 when None).
    pub arch: Option<Arch>,
    /// `(address, bytes)` regions; [`MemoryImage::add`] keeps them sorted and apart.
    regions: Vec<(u64, Vec<u8>)>,
    /// Threads.
    pub threads: Vec<ThreadNote>,
    /// Mappings.
    pub mappings: Vec<Mapping>,
    /// Symbols by name.
    pub symbols: HashMap<String, u64>,
    /// `(struct, member)` offsets.
    pub offsets: HashMap<(String, String), u64>,
    /// Struct sizes.
    pub sizes: HashMap<String, u64>,
    /// Auxiliary vector.
    pub auxv: Vec<(u64, u64)>,
    /// Loaded objects.
    pub modules: Vec<Module>,
    /// Whether it claims to be a truncated core's (part of its memory known to be missing).
    pub truncated: bool,
}

impl MemoryImage {
    /// An empty image.
    pub fn new() -> MemoryImage {
        MemoryImage::default()
    }

    /// Adds a region of memory and a read-write mapping for it. A region that overlaps one
    /// already there is refused (returns false): memory has one value per address.
    pub fn add(&mut self, address: u64, bytes: Vec<u8>) -> bool {
        let Some(end) = address.checked_add(bytes.len() as u64) else {
            return false;
        };
        let i = self.regions.partition_point(|(a, _)| *a < address);
        let overlaps_prev = i
            .checked_sub(1)
            .and_then(|p| self.regions.get(p))
            .is_some_and(|(a, b)| a + b.len() as u64 > address);
        let overlaps_next = self.regions.get(i).is_some_and(|(a, _)| *a < end);
        if overlaps_prev || overlaps_next || bytes.is_empty() {
            return false;
        }
        let j = self.mappings.partition_point(|m| m.start < address);
        self.mappings.insert(
            j,
            Mapping {
                start: address,
                end,
                perms: "rw-".into(),
                offset: 0,
                path: None,
                build_id: None,
                dumped: bytes.len() as u64,
            },
        );
        self.regions.insert(i, (address, bytes));
        true
    }

    /// The regions, by address.
    pub fn regions(&self) -> &[(u64, Vec<u8>)] {
        &self.regions
    }

    /// The bytes of the region holding `address`, for a test or fuzzer to change.
    pub fn region_mut(&mut self, address: u64) -> Option<&mut Vec<u8>> {
        let i = self.regions.partition_point(|(a, _)| *a <= address);
        let (start, bytes) = self.regions.get_mut(i.checked_sub(1)?)?;
        (address - *start < bytes.len() as u64).then_some(bytes)
    }
}

impl Memory for MemoryImage {
    fn bytes_at(&self, addr: u64) -> &[u8] {
        let i = self.regions.partition_point(|(a, _)| *a <= addr);
        let Some((start, bytes)) = i.checked_sub(1).and_then(|i| self.regions.get(i)) else {
            return &[];
        };
        usize::try_from(addr - start)
            .ok()
            .and_then(|off| bytes.get(off..))
            .unwrap_or(&[])
    }
}

impl Target for MemoryImage {
    fn os(&self) -> Os {
        self.os.unwrap_or(Os::Linux)
    }
    fn arch(&self) -> Arch {
        self.arch.unwrap_or(Arch::X86_64)
    }
    fn threads(&self) -> &[ThreadNote] {
        &self.threads
    }
    fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }
    fn modules(&self) -> Vec<&Module> {
        self.modules.iter().collect()
    }
    fn find_symbol(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).copied()
    }
    fn offset_of(&self, name: &str, member: &str) -> Option<u64> {
        self.offsets
            .get(&(name.to_string(), member.to_string()))
            .copied()
    }
    fn size_of(&self, name: &str) -> Option<u64> {
        self.sizes.get(name).copied()
    }
    fn auxv_value(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }
    fn is_truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_read_back_and_refuse_overlap() {
        let mut image = MemoryImage::new();
        assert!(image.add(0x1000, vec![1, 2, 3, 4]));
        assert!(image.add(0x2000, 0x1122334455667788u64.to_le_bytes().to_vec()));
        assert!(!image.add(0x1002, vec![9]), "overlaps the first region");
        assert!(!image.add(0xfff, vec![9, 9]), "runs into the first region");
        assert_eq!(image.bytes_at(0x1001), &[2, 3, 4]);
        assert_eq!(image.bytes_at(0x1004), &[] as &[u8]);
        assert_eq!(image.read_u64(0x2000), Some(0x1122334455667788));
        assert_eq!(image.read_u64(0x1000), None, "only four bytes there");
        assert_eq!(image.mappings().len(), 2);
        image.region_mut(0x1003).unwrap()[0] = 7;
        assert_eq!(image.bytes_at(0x1000), &[7, 2, 3, 4]);
    }
}
