//! What a core's notes say about the process, whatever OS wrote them: the types the Linux
//! and FreeBSD readers fill (`ProcessNotes::read` in notes.rs picks the reader).

use crate::{Diagnostic, Registers};

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
    /// Every entry of the process's memory map, when the notes carry the whole map
    /// (FreeBSD's NT_PROCSTAT_VMMAP): anonymous, device and guard entries too, with an empty
    /// `path`, whether or not the kernel dumped their bytes. Empty for Linux cores, whose
    /// notes name file mappings only.
    pub map: Vec<FileMapping>,
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
    /// A value of the auxiliary vector.
    pub fn auxv_value(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }
}
