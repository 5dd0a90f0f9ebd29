//! Linux core notes.
//!
//! Layouts from Linux's include/uapi/linux/elfcore.h and include/linux/elfcore.h
//! (`struct elf_prstatus`, `struct elf_prpsinfo`), glibc's sys/procfs.h (the same structs
//! for user space), and fs/binfmt_elf.c (`fill_files_note` for NT_FILE). Offsets are for
//! LP64 (x86_64 and aarch64 share them; only the register block differs).

use crate::note_fields::Fields;
use crate::process_notes::{FileMapping, ProcessNotes, SignalInfo, ThreadNote};
use crate::registers::{Registers, AARCH64_NAMES, X86_64_NAMES};
use crate::{Arch, CoreFile, Diagnostic};

// Note types (linux include/uapi/linux/elf.h).
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_SIGINFO: u32 = 0x5349_4749;
const NT_FILE: u32 = 0x4649_4c45;
/// aarch64's TLS register set, owner "LINUX", written after each thread's NT_PRSTATUS:
/// `tpidr_el0` (8 bytes; Linux 6.3 and later append `tpidr2_el0`, arch/arm64/kernel/
/// ptrace.c `tls_get`).
const NT_ARM_TLS: u32 = 0x401;

// struct elf_prstatus, LP64: pr_info.si_signo @0, pr_cursig @12 (short), pr_pid @32,
// pr_ppid @36, pr_reg @112.
const PRSTATUS_CURSIG: usize = 12;
const PRSTATUS_PID: usize = 32;
const PRSTATUS_PPID: usize = 36;
const PRSTATUS_REG: usize = 112;

// struct elf_prpsinfo, LP64: pr_uid @16, pr_gid @20 (32-bit __kernel_uid_t on both arches),
// pr_pid @24, pr_ppid @28, pr_fname[16] @40, pr_psargs[80] @56.
const PRPSINFO_UID: usize = 16;
const PRPSINFO_GID: usize = 20;
const PRPSINFO_PID: usize = 24;
const PRPSINFO_PPID: usize = 28;
const PRPSINFO_FNAME: usize = 40;
const PRPSINFO_PSARGS: usize = 56;

/// Signals whose siginfo carries a faulting address in `si_addr` (@16 in siginfo_t, LP64).
const FAULT_SIGNALS: [i32; 5] = [
    4,  /*ILL*/
    5,  /*TRAP*/
    7,  /*BUS*/
    8,  /*FPE*/
    11, /*SEGV*/
];

/// At most this many NT_FILE entries are read (a corrupt count must not allocate without bound).
const MAX_FILE_ENTRIES: u64 = 1 << 20;

pub(crate) fn parse_notes(core: &CoreFile) -> ProcessNotes {
    let arch = core.arch();
    let names: &[&'static str] = match arch {
        Arch::X86_64 => &X86_64_NAMES,
        Arch::Aarch64 => &AARCH64_NAMES,
    };
    let mut out = ProcessNotes::default();
    let mut siginfo_tids: Vec<(u64, i32)> = Vec::new();
    for note in core.notes() {
        let f = Fields(note.desc);
        match (note.name, note.kind) {
            (b"CORE", NT_PRSTATUS) => {
                let parsed = (|| {
                    let tid = f.u32(PRSTATUS_PID)? as u64;
                    let signal = f.u16(PRSTATUS_CURSIG)? as i16 as i32;
                    let registers = f.registers(arch, PRSTATUS_REG, names)?;
                    if out.ppid.is_none() {
                        out.ppid = f.u32(PRSTATUS_PPID).map(u64::from);
                    }
                    Some(ThreadNote {
                        tid,
                        signal,
                        registers,
                        name: None,
                    })
                })();
                match parsed {
                    Some(t) => out.threads.push(t),
                    None => out.diagnostics.push(Diagnostic::new(
                        "bad_note",
                        format!(
                            "NT_PRSTATUS of {} bytes is too short for {} registers; thread skipped",
                            note.desc.len(),
                            arch.name()
                        ),
                    )),
                }
            }
            (b"CORE", NT_PRPSINFO) => {
                out.uid = f.u32(PRPSINFO_UID);
                out.gid = f.u32(PRPSINFO_GID);
                out.pid = f.u32(PRPSINFO_PID).map(u64::from);
                out.ppid = f.u32(PRPSINFO_PPID).map(u64::from).or(out.ppid);
                out.command = f.cstr(PRPSINFO_FNAME, 16);
                out.args = f
                    .cstr(PRPSINFO_PSARGS, 80)
                    .map(|s| s.trim_end().to_string());
                if out.pid.is_none() {
                    out.diagnostics.push(Diagnostic::new(
                        "bad_note",
                        format!("NT_PRPSINFO of {} bytes is too short", note.desc.len()),
                    ));
                }
            }
            (b"CORE", NT_SIGINFO) => {
                if let (Some(signo), code) = (f.i32(0), f.i32(8)) {
                    let addr = if FAULT_SIGNALS.contains(&signo) {
                        f.u64(16)
                    } else {
                        None
                    };
                    // A siginfo belongs to the thread whose NT_PRSTATUS precedes it: the
                    // kernel writes one, for the thread that took the signal (linux
                    // fs/binfmt_elf.c fill_note_info); gdb's gcore writes one per thread.
                    if let Some(t) = out.threads.last() {
                        siginfo_tids.push((t.tid, signo));
                    }
                    if out.signal.is_none() {
                        out.signal = Some(SignalInfo { signo, code, addr });
                    }
                }
            }
            (b"CORE", NT_AUXV) => {
                out.auxv = note
                    .desc
                    .chunks_exact(16)
                    .map(|c| {
                        let f = Fields(c);
                        (f.u64(0).unwrap_or(0), f.u64(8).unwrap_or(0))
                    })
                    .take_while(|&(k, _)| k != 0)
                    .collect();
            }
            (b"CORE", NT_FILE) => parse_nt_file(note.desc, &mut out),
            // The thread pointer, where the libc keeps the thread's TLS (and allocators
            // their per-thread caches); it belongs to the thread whose NT_PRSTATUS precedes
            // it (fs/binfmt_elf.c fill_thread_core_info writes a thread's regsets together).
            (b"LINUX", NT_ARM_TLS) if arch == Arch::Aarch64 => {
                if let (Some(tp), Some(t)) = (f.u64(0), out.threads.last_mut()) {
                    let mut values: Vec<_> = t.registers.iter().collect();
                    values.push(("tpidr_el0", tp));
                    t.registers = Registers::new(arch, values);
                }
            }
            _ => {}
        }
    }
    // Every thread's pr_cursig is the process's fatal signal; where siginfos say which
    // thread took it (or, for gcore, what stopped each), they decide, and threads without
    // one had no signal of their own (as lldb reports them).
    if !siginfo_tids.is_empty() {
        for t in &mut out.threads {
            t.signal = siginfo_tids
                .iter()
                .find(|(tid, _)| *tid == t.tid)
                .map_or(0, |&(_, s)| s);
        }
    }
    // Linux names no thread in its notes; gdb and lldb show the command name on the main
    // thread (tid == pid), which is what the kernel's comm is for it.
    if let (Some(pid), Some(cmd)) = (out.pid, out.command.clone()) {
        if let Some(main) = out.threads.iter_mut().find(|t| t.tid == pid) {
            main.name = Some(cmd);
        }
    }
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

/// NT_FILE: `long count; long page_size; { long start, end, file_ofs; } [count];` then the
/// `count` NUL-terminated paths (linux fs/binfmt_elf.c, `fill_files_note`). `file_ofs` is in
/// pages.
fn parse_nt_file(desc: &[u8], out: &mut ProcessNotes) {
    let f = Fields(desc);
    let (Some(count), Some(page_size)) = (f.u64(0), f.u64(8)) else {
        out.diagnostics
            .push(Diagnostic::new("bad_note", "NT_FILE is too short"));
        return;
    };
    let fit = (desc.len() as u64).saturating_sub(16) / 24;
    if count > fit.min(MAX_FILE_ENTRIES) {
        out.diagnostics.push(Diagnostic::new(
            "bad_note",
            format!("NT_FILE claims {count} entries but holds at most {fit}"),
        ));
    }
    let count = count.min(fit).min(MAX_FILE_ENTRIES) as usize;
    let mut names = desc[16 + count * 24..].split(|&b| b == 0);
    for i in 0..count {
        let base = 16 + i * 24;
        let (Some(start), Some(end), Some(pgoff)) =
            (f.u64(base), f.u64(base + 8), f.u64(base + 16))
        else {
            break;
        };
        let Some(name) = names.next() else {
            out.diagnostics.push(Diagnostic::new(
                "bad_note",
                format!("NT_FILE has no path for entry {i} and after"),
            ));
            break;
        };
        out.files.push(FileMapping {
            start,
            end,
            offset: pgoff.saturating_mul(page_size),
            path: String::from_utf8_lossy(name).into_owned(),
            perms: None,
        });
    }
    out.page_size = Some(page_size);
}
