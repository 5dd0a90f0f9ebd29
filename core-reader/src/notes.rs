//! What a core's notes say about the process, whatever OS wrote them.

use crate::{Arch, CoreFile, Diagnostic, Os, Registers};

/// The signal that killed the process (`NT_SIGINFO` on Linux, `pr_cursig` elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignalInfo {
    /// Signal number (11 is SIGSEGV on both Linux and FreeBSD).
    pub signo: i32,
    /// `si_code`, when a siginfo was recorded.
    pub code: Option<i32>,
    /// The faulting address for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP.
    pub addr: Option<u64>,
}

/// One thread as the notes describe it.
#[derive(Debug, Clone)]
pub struct ThreadNote {
    /// Kernel thread id (Linux tid / FreeBSD lwpid).
    pub tid: u64,
    /// The signal this thread was stopped with (0 for none).
    pub signal: i32,
    /// Its general-purpose registers.
    pub registers: Registers,
    /// Its name (FreeBSD `NT_THRMISC`; on Linux the command name for the main thread).
    pub name: Option<String>,
}

/// A file-backed mapping (Linux `NT_FILE`, FreeBSD vnode entries of `NT_PROCSTAT_VMMAP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file, in bytes.
    pub offset: u64,
    /// The path the kernel recorded.
    pub path: String,
    /// `rwx` protection when the notes record it (FreeBSD does, Linux `NT_FILE` does not).
    pub perms: Option<String>,
}

/// Everything the notes of a core say.
#[derive(Debug, Clone, Default)]
pub struct ProcessNotes {
    /// Process id.
    pub pid: Option<u64>,
    /// Parent process id.
    pub ppid: Option<u64>,
    /// Real user id.
    pub uid: Option<u32>,
    /// Real group id.
    pub gid: Option<u32>,
    /// The command name (`pr_fname`, at most 15 or 16 bytes).
    pub command: Option<String>,
    /// The start of the command line (`pr_psargs`, at most 80 bytes).
    pub args: Option<String>,
    /// The signal that ended the process.
    pub signal: Option<SignalInfo>,
    /// Threads, the one that took the signal first.
    pub threads: Vec<ThreadNote>,
    /// The auxiliary vector (`AT_*` key, value).
    pub auxv: Vec<(u64, u64)>,
    /// File-backed mappings.
    pub files: Vec<FileMapping>,
    /// Page size from `NT_FILE`, when recorded.
    pub page_size: Option<u64>,
    /// Notes that could not be read.
    pub diagnostics: Vec<Diagnostic>,
}

/// `AT_*` keys heapmortem uses (linux include/uapi/linux/auxvec.h; FreeBSD sys/sys/elf_common.h
/// uses the same numbers for these three).
pub(crate) const AT_PHDR: u64 = 3;
pub(crate) const AT_PHNUM: u64 = 5;
pub(crate) const AT_ENTRY: u64 = 9;

impl ProcessNotes {
    /// Reads the notes of a core.
    pub fn read(core: &CoreFile) -> ProcessNotes {
        let mut notes = match core.os() {
            Os::Linux => crate::linux::parse_notes(core),
            Os::FreeBsd => crate::freebsd::parse_notes(core),
        };
        // The thread that took the signal comes first, as gdb lists it.
        if let Some(pos) = notes.threads.iter().position(|t| t.signal != 0) {
            if notes.threads.iter().filter(|t| t.signal != 0).count() < notes.threads.len() {
                let t = notes.threads.remove(pos);
                notes.threads.insert(0, t);
            }
        }
        notes
    }

    /// A value of the auxiliary vector.
    pub fn auxv_value(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }
}

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
