//! FreeBSD core notes.
//!
//! Every note of a FreeBSD core is owned by `"FreeBSD"`. The kernel writes them in
//! freebsd-src sys/kern/imgact_elf.c (`__elfN(prepare_notes)`): NT_PRPSINFO once, then for
//! each thread — the one that dumped core first, then the others in `p_threads` order —
//! NT_PRSTATUS, NT_FPREGSET, NT_THRMISC, NT_PTLWPINFO and machine-dependent notes
//! (`note_threadmd`: NT_X86_SEGBASES, NT_X86_XSTATE, NT_ARM_VFP, …), then the process-wide
//! NT_PROCSTAT_* notes. A thread's notes therefore belong to the NT_PRSTATUS before them.
//!
//! Layouts (LP64: amd64 and arm64 share everything but the register block), each from the
//! FreeBSD header that defines it:
//! - `prstatus_t`, `prpsinfo_t`, `thrmisc_t`: sys/sys/procfs.h;
//! - amd64 `struct reg`: sys/x86/include/reg.h (`__reg64`); arm64 `struct reg`:
//!   sys/arm64/include/reg.h;
//! - `struct kinfo_vmentry`, `struct kinfo_proc`: sys/sys/user.h, packed into the note by
//!   sys/kern/kern_proc.c (`kern_proc_vmmap_out`) and imgact_elf.c (`note_procstat_*`);
//! - `struct ptrace_lwpinfo`: sys/sys/ptrace.h; `siginfo_t`: sys/sys/signal.h;
//! - note types: sys/sys/elf_common.h.
//!
//! The same offsets are used by gdb (gdb/fbsd-tdep.c: `KVE_*`, `LWPINFO_*`,
//! `kinfo_proc_layout_64`; bfd/elf.c `elfcore_grok_freebsd_prstatus`) and lldb
//! (lldb/source/Plugins/Process/elf-core/ProcessElfCore.cpp, `parseFreeBSDNotes`).

use crate::note_fields::Fields;
use crate::process_notes::{FileMapping, ProcessNotes, SignalInfo, ThreadNote};
use crate::{Arch, CoreFile, Diagnostic, Registers};

/// The owner name of every FreeBSD core note (the iterator strips the trailing NUL).
const OWNER: &[u8] = b"FreeBSD";

// Note types (sys/sys/elf_common.h).
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_THRMISC: u32 = 7;
const NT_PROCSTAT_PROC: u32 = 8;
const NT_PROCSTAT_VMMAP: u32 = 10;
const NT_PROCSTAT_AUXV: u32 = 16;
const NT_PTLWPINFO: u32 = 17;
const NT_X86_SEGBASES: u32 = 0x200;

// prstatus_t, LP64 (sys/sys/procfs.h, PRSTATUS_VERSION 1): int pr_version @0;
// size_t pr_statussz @8, pr_gregsetsz @16, pr_fpregsetsz @24; int pr_osreldate @32;
// int pr_cursig @36; pid_t pr_pid @40 (the LWP id); gregset_t pr_reg @48.
const PRSTATUS_VERSION: usize = 0;
const PRSTATUS_GREGSETSZ: usize = 16;
const PRSTATUS_CURSIG: usize = 36;
const PRSTATUS_LWPID: usize = 40;
const PRSTATUS_REG: usize = 48;

// prpsinfo_t, LP64 (sys/sys/procfs.h, PRPSINFO_VERSION 1): int pr_version @0;
// size_t pr_psinfosz @8; char pr_fname[PRFNAMESZ + 1 = 17] @16; char pr_psargs[PRARGSZ + 1
// = 81] @33; pid_t pr_pid @116, added later (FreeBSD 12, "1a") without a version bump:
// pr_psinfosz (120 with it, 116 without) says whether it is there.
const PRPSINFO_PSINFOSZ: usize = 8;
const PRPSINFO_FNAME: usize = 16;
const PRPSINFO_PSARGS: usize = 33;
const PRPSINFO_PID: usize = 116;

// thrmisc_t (sys/sys/procfs.h): char pr_tname[MAXCOMLEN + 1 = 20]; u_int _pad.
const THRMISC_NAME_LEN: usize = 20;

// NT_PTLWPINFO: int structsize, then struct ptrace_lwpinfo (sys/sys/ptrace.h), LP64:
// lwpid_t pl_lwpid @0; int pl_event @4; int pl_flags @8; sigset_t pl_sigmask @12,
// pl_siglist @28; siginfo_t pl_siginfo @48 (8-aligned). gdb: LWPINFO_OFFSET 0x4,
// LWPINFO_PL_FLAGS 0x8, LWPINFO64_PL_SIGINFO 0x30.
const LWPINFO: usize = 4;
const LWPINFO_LWPID: usize = LWPINFO;
const LWPINFO_FLAGS: usize = LWPINFO + 0x8;
const LWPINFO_SIGINFO: usize = LWPINFO + 0x30;
/// `pl_flags` bit: `pl_siginfo` is valid (sys/sys/ptrace.h).
const PL_FLAG_SI: u32 = 0x20;
// siginfo_t (sys/sys/signal.h `struct __siginfo`), LP64: int si_signo @0, si_errno @4,
// si_code @8; pid_t si_pid @12; uid_t si_uid @16; int si_status @20; void *si_addr @24.
// (Linux puts si_addr at 16: the layouts differ.)
const SI_SIGNO: usize = 0;
const SI_CODE: usize = 8;
const SI_ADDR: usize = 24;
/// Signals whose `si_addr` is a faulting address, in FreeBSD's numbering: SIGILL 4,
/// SIGTRAP 5, SIGFPE 8, SIGBUS 10, SIGSEGV 11. (FreeBSD's SIGBUS is 10, not Linux's 7;
/// 7 is SIGEMT.)
const FAULT_SIGNALS: [i32; 5] = [4, 5, 8, 10, 11];

// NT_PROCSTAT_VMMAP: int structsize (sizeof(struct kinfo_vmentry) = 1160), then records,
// each starting with its own kve_structsize. struct kinfo_vmentry (sys/sys/user.h):
// int kve_structsize @0; int kve_type @4; u64 kve_start @8, kve_end @16, kve_offset @24;
// int kve_flags @44; int kve_protection @56; char kve_path[PATH_MAX] @136.
// gdb/fbsd-tdep.c: KVE_STRUCTSIZE 0x0, KVE_START 0x8, KVE_END 0x10, KVE_OFFSET 0x18,
// KVE_FLAGS 0x2c, KVE_PROTECTION 0x38, KVE_PATH 0x88.
const KVE_TYPE: usize = 4;
const KVE_START: usize = 8;
const KVE_END: usize = 16;
const KVE_OFFSET: usize = 24;
const KVE_PROTECTION: usize = 56;
const KVE_PATH: usize = 136;
const KVE_PATH_MAX: usize = 1024;
/// `kve_type` of a file-backed mapping (KVME_TYPE_VNODE).
const KVME_TYPE_VNODE: u32 = 2;
// KVME_PROT_* (sys/sys/user.h).
const KVME_PROT_READ: u32 = 1;
const KVME_PROT_WRITE: u32 = 2;
const KVME_PROT_EXEC: u32 = 4;
/// At most this many vmmap records are read. A process has at most `vm.max_map_count`-like
/// thousands of entries; a corrupt note must not make us loop or allocate without bound.
const MAX_VMMAP_ENTRIES: usize = 1 << 20;

// NT_PROCSTAT_PROC: int structsize (sizeof(struct kinfo_proc)), then one kinfo_proc per
// thread; the process-wide fields are the same in each. LP64 offsets (sys/sys/user.h;
// gdb/fbsd-tdep.c kinfo_proc_layout_64): ki_pid 0x48, ki_ppid 0x4c, ki_ruid 0xac,
// ki_rgid 0xb4.
const KI_PID: usize = 0x48;
const KI_PPID: usize = 0x4c;
const KI_RUID: usize = 0xac;
const KI_RGID: usize = 0xb4;

/// NT_PROCSTAT_AUXV: int structsize (sizeof(Elf64_Auxinfo) = 16), then the pairs — at
/// offset 4, unaligned (lldb: "FreeBSD sticks an int at the beginning").
const AUXV_ENTRY: usize = 16;

/// amd64 `struct reg` (sys/x86/include/reg.h, `struct __reg64`, 176 bytes): 64-bit
/// registers and the narrower selector fields, as (name, offset, width). Names follow
/// Linux's `user_regs_struct` where the register exists there (`eflags` for rflags);
/// `trapno` and `err` have no Linux counterpart; fs_base and gs_base come from
/// NT_X86_SEGBASES instead.
const AMD64_REG: [(&str, usize, usize); 26] = [
    ("r15", 0, 8),
    ("r14", 8, 8),
    ("r13", 16, 8),
    ("r12", 24, 8),
    ("r11", 32, 8),
    ("r10", 40, 8),
    ("r9", 48, 8),
    ("r8", 56, 8),
    ("rdi", 64, 8),
    ("rsi", 72, 8),
    ("rbp", 80, 8),
    ("rbx", 88, 8),
    ("rdx", 96, 8),
    ("rcx", 104, 8),
    ("rax", 112, 8),
    ("trapno", 120, 4),
    ("fs", 124, 2),
    ("gs", 126, 2),
    ("err", 128, 4),
    ("es", 132, 2),
    ("ds", 134, 2),
    ("rip", 136, 8),
    ("cs", 144, 8),
    ("eflags", 152, 8),
    ("rsp", 160, 8),
    ("ss", 168, 8),
];
const AMD64_REG_SIZE: usize = 176;

/// arm64 `struct reg` (sys/arm64/include/reg.h): `uint64_t x[30]; uint64_t lr, sp, elr;
/// uint32_t spsr` (+4 bytes of padding; newer releases widen spsr to 64 bits, the size
/// stays 272). `lr` is x30 and `elr` the pc; spsr is read as 32 bits, which is right for
/// both and holds every defined PSTATE bit.
const ARM64_REG: [(&str, usize, usize); 34] = [
    ("x0", 0, 8),
    ("x1", 8, 8),
    ("x2", 16, 8),
    ("x3", 24, 8),
    ("x4", 32, 8),
    ("x5", 40, 8),
    ("x6", 48, 8),
    ("x7", 56, 8),
    ("x8", 64, 8),
    ("x9", 72, 8),
    ("x10", 80, 8),
    ("x11", 88, 8),
    ("x12", 96, 8),
    ("x13", 104, 8),
    ("x14", 112, 8),
    ("x15", 120, 8),
    ("x16", 128, 8),
    ("x17", 136, 8),
    ("x18", 144, 8),
    ("x19", 152, 8),
    ("x20", 160, 8),
    ("x21", 168, 8),
    ("x22", 176, 8),
    ("x23", 184, 8),
    ("x24", 192, 8),
    ("x25", 200, 8),
    ("x26", 208, 8),
    ("x27", 216, 8),
    ("x28", 224, 8),
    ("x29", 232, 8),
    ("x30", 240, 8),
    ("sp", 248, 8),
    ("pc", 256, 8),
    ("pstate", 264, 4),
];
const ARM64_REG_SIZE: usize = 272;

pub(crate) fn parse_notes(core: &CoreFile) -> ProcessNotes {
    let arch = core.arch();
    let mut out = ProcessNotes::default();
    // The thread the last good NT_PRSTATUS described: the per-thread notes after it are its.
    let mut current: Option<usize> = None;
    // The thread whose NT_PTLWPINFO carries a valid siginfo: the one that took the signal.
    let mut signalled: Option<usize> = None;
    for note in core.notes() {
        if note.name != OWNER {
            continue;
        }
        let f = Fields(note.desc);
        match note.kind {
            NT_PRSTATUS => match parse_prstatus(arch, &f) {
                Ok(t) => {
                    current = Some(out.threads.len());
                    out.threads.push(t);
                }
                Err(why) => {
                    current = None;
                    out.diagnostics.push(Diagnostic::new(
                        "bad_note",
                        format!(
                            "FreeBSD NT_PRSTATUS of {} bytes: {why}; thread skipped",
                            note.desc.len()
                        ),
                    ));
                }
            },
            NT_THRMISC => match (current, f.cstr(0, THRMISC_NAME_LEN)) {
                (Some(i), Some(name)) => {
                    out.threads[i].name = Some(name).filter(|n| !n.is_empty());
                }
                (None, _) => out.diagnostics.push(Diagnostic::new(
                    "bad_note",
                    "FreeBSD NT_THRMISC without a readable NT_PRSTATUS before it; name skipped",
                )),
                (Some(_), None) => {}
            },
            NT_PTLWPINFO => {
                if let Some(i) = parse_lwpinfo(&f, current, &mut out) {
                    signalled.get_or_insert(i);
                }
            }
            NT_X86_SEGBASES if arch == Arch::X86_64 => {
                // struct segbasereg { __register_t r_fsbase, r_gsbase; } (sys/x86/include/reg.h)
                if let (Some(i), Some(fs), Some(gs)) = (current, f.u64(0), f.u64(8)) {
                    let t = &mut out.threads[i];
                    let mut values: Vec<_> = t.registers.iter().collect();
                    values.extend([("fs_base", fs), ("gs_base", gs)]);
                    t.registers = Registers::new(arch, values);
                }
            }
            NT_PRPSINFO => parse_prpsinfo(&f, &mut out),
            NT_PROCSTAT_PROC => parse_proc(&f, &mut out),
            NT_PROCSTAT_VMMAP => parse_vmmap(note.desc, &mut out),
            NT_PROCSTAT_AUXV => parse_auxv(note.desc, &mut out),
            _ => {}
        }
    }
    // The kernel writes the thread that dumped core first; if another one holds the
    // siginfo (a core written on another thread's fault), that one took the signal.
    if let Some(i) = signalled.filter(|&i| i > 0) {
        let t = out.threads.remove(i);
        out.threads.insert(0, t);
    }
    // FreeBSD has no NT_SIGINFO; without an NT_PTLWPINFO siginfo the process signal is
    // pr_cursig. Note that pr_cursig is the *process's* signal (`p_sig`) and the kernel
    // writes it into every thread's NT_PRSTATUS: lldb shows "stop reason = signal SIGSEGV"
    // on all four threads of x86-64-freebsd-multithread.core. We keep it per thread as
    // recorded; the signalled thread is the first one.
    if out.signal.is_none() {
        if let Some(t) = out.threads.iter().find(|t| t.signal != 0) {
            out.signal = Some(SignalInfo {
                signo: t.signal,
                code: None,
                addr: None,
            });
        }
    }
    out
}

fn parse_prstatus(arch: Arch, f: &Fields) -> Result<ThreadNote, String> {
    let too_short = || "too short".to_string();
    let version = f.i32(PRSTATUS_VERSION).ok_or_else(too_short)?;
    // bfd and lldb refuse any other version: the fields after pr_version would move.
    if version != 1 {
        return Err(format!("unknown pr_version {version}"));
    }
    let (layout, need): (&[(&'static str, usize, usize)], usize) = match arch {
        Arch::X86_64 => (&AMD64_REG, AMD64_REG_SIZE),
        Arch::Aarch64 => (&ARM64_REG, ARM64_REG_SIZE),
    };
    let gregsetsz = f.u64(PRSTATUS_GREGSETSZ).ok_or_else(too_short)?;
    if gregsetsz < need as u64 {
        return Err(format!(
            "pr_gregsetsz is {gregsetsz}, a {} struct reg needs {need}",
            arch.name()
        ));
    }
    let tid = f.u32(PRSTATUS_LWPID).ok_or_else(too_short)? as u64;
    let signal = f.i32(PRSTATUS_CURSIG).ok_or_else(too_short)?;
    let values = layout
        .iter()
        .map(|&(name, off, width)| {
            let off = PRSTATUS_REG + off;
            let v = match width {
                2 => f.u16(off).map(u64::from),
                4 => f.u32(off).map(u64::from),
                _ => f.u64(off),
            };
            Some((name, v?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("too short for a {} struct reg", arch.name()))?;
    Ok(ThreadNote {
        tid,
        signal,
        registers: Registers::new(arch, values),
        name: None,
    })
}

fn parse_prpsinfo(f: &Fields, out: &mut ProcessNotes) {
    let Some(psinfosz) = f.u64(PRPSINFO_PSINFOSZ) else {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!("FreeBSD NT_PRPSINFO of {} bytes is too short", f.0.len()),
        ));
        return;
    };
    out.command = f.cstr(PRPSINFO_FNAME, 17).filter(|s| !s.is_empty());
    out.args = f
        .cstr(PRPSINFO_PSARGS, 81)
        .map(|s| s.trim_end().to_string())
        .filter(|s| !s.is_empty());
    if psinfosz >= (PRPSINFO_PID + 4) as u64 {
        if let Some(pid) = f.u32(PRPSINFO_PID) {
            out.pid = Some(pid as u64);
        }
    }
}

/// NT_PROCSTAT_PROC: ppid and ids, and the pid for old cores whose prpsinfo has no pr_pid.
fn parse_proc(f: &Fields, out: &mut ProcessNotes) {
    let structsize = f.u32(0).unwrap_or(0) as usize;
    if structsize < KI_RGID + 4 {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!("FreeBSD NT_PROCSTAT_PROC with structsize {structsize}; skipped"),
        ));
        return;
    }
    let ki = Fields(&f.0[4..]);
    if out.pid.is_none() {
        out.pid = ki.u32(KI_PID).map(u64::from);
    }
    out.ppid = ki.u32(KI_PPID).map(u64::from).or(out.ppid);
    out.uid = ki.u32(KI_RUID).or(out.uid);
    out.gid = ki.u32(KI_RGID).or(out.gid);
}

/// NT_PTLWPINFO: the siginfo of the thread that took the signal (`PL_FLAG_SI` set).
/// Returns that thread's index.
fn parse_lwpinfo(f: &Fields, current: Option<usize>, out: &mut ProcessNotes) -> Option<usize> {
    let (Some(lwpid), Some(flags)) = (f.u32(LWPINFO_LWPID), f.u32(LWPINFO_FLAGS)) else {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!("FreeBSD NT_PTLWPINFO of {} bytes is too short", f.0.len()),
        ));
        return None;
    };
    if flags & PL_FLAG_SI == 0 {
        return None;
    }
    // The note follows its thread's NT_PRSTATUS; pl_lwpid says which thread it is anyway.
    let thread = out
        .threads
        .iter()
        .position(|t| t.tid == lwpid as u64)
        .or(current);
    let Some(signo) = f.i32(LWPINFO_SIGINFO + SI_SIGNO) else {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!(
                "FreeBSD NT_PTLWPINFO of LWP {lwpid} ({} bytes) is too short for its siginfo",
                f.0.len()
            ),
        ));
        return None;
    };
    if out.signal.is_none() {
        let code = f.i32(LWPINFO_SIGINFO + SI_CODE);
        let addr = if FAULT_SIGNALS.contains(&signo) {
            f.u64(LWPINFO_SIGINFO + SI_ADDR)
        } else {
            None
        };
        out.signal = Some(SignalInfo { signo, code, addr });
    }
    thread
}

/// NT_PROCSTAT_VMMAP: packed `kinfo_vmentry` records, every one an entry of the map; vnode
/// entries with a path are file mappings too.
///
/// With `kern.coredump_pack_vmmapinfo=1` (the default) each record is cut to
/// `roundup(offsetof(kve_path) + strlen(path) + 1, 8)` bytes and says so in its
/// kve_structsize, so the walk must advance by each record's own size, never by the
/// 1160 the note's header announces (freebsd-src sys/kern/kern_proc.c `kern_proc_vmmap_out`,
/// `KERN_VMMAP_PACK_KINFO`).
fn parse_vmmap(desc: &[u8], out: &mut ProcessNotes) {
    if desc.len() < 4 {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            "FreeBSD NT_PROCSTAT_VMMAP is too short",
        ));
        return;
    }
    let mut rest = &desc[4..];
    let mut index = 0usize;
    // gdb's loop condition: a record must at least reach its path.
    while rest.len() > KVE_PATH {
        if index >= MAX_VMMAP_ENTRIES {
            out.diagnostics.push(Diagnostic::new(
                "bad_note",
                format!("FreeBSD NT_PROCSTAT_VMMAP has more than {MAX_VMMAP_ENTRIES} entries; the rest skipped"),
            ));
            return;
        }
        let f = Fields(rest);
        let size = f.u32(0).unwrap_or(0) as usize;
        if size <= KVE_PATH || size > rest.len() {
            out.diagnostics.push(Diagnostic::new(
                "bad_note",
                format!(
                    "FreeBSD NT_PROCSTAT_VMMAP entry {index} has kve_structsize {size} ({} bytes left); it and the rest skipped",
                    rest.len()
                ),
            ));
            return;
        }
        let record = Fields(&rest[..size]);
        let (start, end, offset) = (
            record.u64(KVE_START),
            record.u64(KVE_END),
            record.u64(KVE_OFFSET),
        );
        if let (Some(start), Some(end), Some(offset)) = (start, end, offset) {
            let prot = record.u32(KVE_PROTECTION).unwrap_or(0);
            // A vnode whose path the kernel could not resolve (a deleted or unlinked file)
            // is recorded with an empty path; it names no file to load, so it is no file
            // mapping, but it stays in the map like the anonymous and device entries.
            let path = match record.u32(KVE_TYPE) {
                Some(KVME_TYPE_VNODE) => record.cstr(KVE_PATH, KVE_PATH_MAX).unwrap_or_default(),
                _ => String::new(),
            };
            let entry = FileMapping {
                start,
                end,
                // An anonymous entry's offset is into its VM object: a jemalloc chunk
                // carved from a bigger reservation says 0x82000 (x86-64-freebsd.core).
                offset,
                path,
                perms: Some(perms(prot)),
            };
            if !entry.path.is_empty() {
                out.files.push(entry.clone());
            }
            out.map.push(entry);
        }
        rest = &rest[size..];
        index += 1;
    }
    // Records are whole multiples of 8 bytes; anything left is a record cut short.
    if !rest.is_empty() {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!(
                "FreeBSD NT_PROCSTAT_VMMAP ends with {} bytes that are not a whole entry (entry {index} cut short?)",
                rest.len()
            ),
        ));
    }
}

fn perms(prot: u32) -> String {
    [
        (KVME_PROT_READ, 'r'),
        (KVME_PROT_WRITE, 'w'),
        (KVME_PROT_EXEC, 'x'),
    ]
    .iter()
    .map(|&(bit, c)| if prot & bit != 0 { c } else { '-' })
    .collect()
}

fn parse_auxv(desc: &[u8], out: &mut ProcessNotes) {
    let structsize = Fields(desc).u32(0);
    if structsize != Some(AUXV_ENTRY as u32) {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!(
                "FreeBSD NT_PROCSTAT_AUXV with entry size {structsize:?}, expected {AUXV_ENTRY}; skipped"
            ),
        ));
        return;
    }
    out.auxv = desc[4..]
        .chunks_exact(AUXV_ENTRY)
        .map(|c| {
            let f = Fields(c);
            (f.u64(0).unwrap_or(0), f.u64(8).unwrap_or(0))
        })
        .take_while(|&(k, _)| k != 0)
        .collect();
}
