//! A live Linux process, read as a core: every thread stopped with ptrace, its registers,
//! `/proc/PID/{smaps,auxv,status,comm,cmdline}` and its memory (through `/proc/PID/mem`) copied
//! into a sparse temporary file, every thread resumed — and then the copy is a [`Process`]
//! like any core's, so every analysis runs on it unchanged while the process runs on.
//!
//! The process is stopped only while it is copied: the pause is measured and returned. Its
//! threads are resumed on every path out: on success, on an error (a guard detaches them when
//! dropped), and on Ctrl-C (SIGINT, SIGTERM, SIGHUP and SIGQUIT are held back while threads
//! are stopped, and delivered once they run again).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::compressed::write_sparse;
use crate::elf::{Backing, CoreFile};
use crate::process_notes::{FileMapping, ProcessNotes, ThreadNote};
use crate::{Arch, Diagnostic, Error, FileOffset, Options, Os, Pause, Process, Registers, Segment};

/// At most this many rounds of listing `/proc/PID/task` while threads are being stopped: a
/// process that keeps starting threads faster than we stop them is given up on.
const MAX_ROUNDS: usize = 100;
/// Memory is copied in pieces this large.
const CHUNK: usize = 1 << 20;
/// `VmFlags` of `/proc/PID/smaps` (linux Documentation/filesystems/proc.rst) that keep a
/// mapping out of a core, as the kernel's own dumper does (fs/coredump.c `vma_dump_size`):
/// `dd` (`VM_DONTDUMP`, e.g. the vDSO's `[vvar]` pages, whose reads fault) and `io`
/// (`VM_IO`, device memory).
const NOT_DUMPED: [&str; 2] = ["dd", "io"];

impl Process {
    /// Stops every thread of the live process `pid`, copies what a core would hold, resumes
    /// them, and returns the copy as a process, with how long the process was paused.
    ///
    /// Needs the right to ptrace `pid` (the same user and yama `ptrace_scope` allowing it, or
    /// `CAP_SYS_PTRACE`); without it, the error names the cause and the process is untouched.
    /// x86_64 Linux only.
    pub fn attach(pid: u32, options: &Options) -> Result<(Process, Pause), Error> {
        let live = |message: String| Error::Live { pid, message };
        if !cfg!(target_arch = "x86_64") {
            return Err(live("live processes are read on x86_64 only".into()));
        }
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        if !proc_dir.is_dir() {
            return Err(live("no such process".into()));
        }
        let mem = File::open(proc_dir.join("mem")).map_err(|e| live(denied(io_errno(&e))))?;
        let out = tempfile::tempfile().map_err(|source| Error::TempFile {
            what: "copy",
            path: proc_dir.join("mem"),
            source,
        })?;
        let held = HeldSignals::hold();
        let mut stopped = Stopped::default();
        let started = Instant::now();
        let snapshot = stopped
            .stop_all(pid)
            .map_err(live)
            .and_then(|()| copy(pid, &stopped.tids, &mem, &out));
        // Resumes every thread: the process runs on whatever happened.
        drop(stopped);
        let duration = started.elapsed();
        drop(held);
        let (notes, segments, diagnostics, bytes) = snapshot?;
        let pause = Pause {
            pid,
            duration,
            threads: notes.threads.len(),
            bytes,
        };
        let len = out.metadata().map(|m| m.len()).unwrap_or(0);
        let data = if len == 0 {
            Backing::Owned(Vec::new())
        } else {
            // SAFETY: the temporary file is unlinked and only this process holds it.
            let map = unsafe { memmap2::Mmap::map(&out) }.map_err(|source| Error::Io {
                path: proc_dir.clone(),
                source,
            })?;
            Backing::Mapped(map)
        };
        let core = CoreFile::from_parts(
            PathBuf::from(format!("process {pid}")),
            data,
            Os::Linux,
            Arch::X86_64,
            segments,
            diagnostics,
        );
        Ok((Process::from_parts(core, notes, options), pause))
    }
}

/// The error of a ptrace or /proc call, with what usually causes it.
fn denied(e: Errno) -> String {
    match e {
        Errno::EPERM | Errno::EACCES => {
            let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .map(|s| format!(", or yama ptrace_scope is {}", s.trim()))
                .unwrap_or_default();
            format!(
                "permission denied (another user's process{scope}; run as its user with \
                 ptrace allowed, or as root)"
            )
        }
        Errno::ESRCH | Errno::ENOENT => "no such process".into(),
        e => e.desc().to_string(),
    }
}

/// The errno of an I/O error (0 for one the OS did not give).
fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Signals that would end heapmortem, held back while threads are stopped.
struct HeldSignals(Option<SigSet>);

impl HeldSignals {
    fn hold() -> HeldSignals {
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            set.add(s);
        }
        let mut old = SigSet::empty();
        let ok =
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        HeldSignals(ok.ok().map(|()| old))
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            // A Ctrl-C that came meanwhile is delivered now, with every thread running.
            let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(old), None);
        }
    }
}

/// The threads stopped so far; dropping it resumes them all.
#[derive(Default)]
struct Stopped {
    tids: Vec<u32>,
}

impl Stopped {
    /// Stops every thread of `pid`, listing `/proc/PID/task` again until no new one appears.
    fn stop_all(&mut self, pid: u32) -> Result<(), String> {
        for _ in 0..MAX_ROUNDS {
            let tids = tasks(pid)?;
            let new: Vec<u32> = tids
                .into_iter()
                .filter(|t| !self.tids.contains(t))
                .collect();
            if new.is_empty() {
                return Ok(());
            }
            for tid in new {
                match ptrace::seize(Pid::from_raw(tid as i32), ptrace::Options::empty()) {
                    Ok(()) => {}
                    // A thread that exited between the listing and now.
                    Err(Errno::ESRCH) if tid != pid => continue,
                    Err(e) => {
                        return Err(match (e, tracer(pid)) {
                            (Errno::EPERM, Some(t)) => {
                                format!("it is already traced by process {t} (a debugger?)")
                            }
                            _ => format!("cannot attach: {}", denied(e)),
                        })
                    }
                }
                self.tids.push(tid);
                stop(tid).map_err(|e| format!("cannot stop thread {tid}: {}", e.desc()))?;
            }
        }
        Err(format!(
            "its threads kept changing over {MAX_ROUNDS} listings of /proc/{pid}/task"
        ))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for &tid in &self.tids {
            // Detaching a thread in a ptrace stop resumes it; one that exited meanwhile
            // needs nothing.
            let _ = ptrace::detach(Pid::from_raw(tid as i32), None);
        }
    }
}

/// The process tracing `pid`, if one is (`TracerPid` of /proc/PID/status).
fn tracer(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let tracer: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()?;
    (tracer != 0).then_some(tracer)
}

/// Interrupts a seized thread and waits until it is in its ptrace stop.
fn stop(tid: u32) -> Result<(), Errno> {
    let t = Pid::from_raw(tid as i32);
    ptrace::interrupt(t)?;
    loop {
        match waitpid(t, Some(WaitPidFlag::__WALL))? {
            WaitStatus::PtraceEvent(..) | WaitStatus::Stopped(..) => return Ok(()),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Err(Errno::ESRCH),
            _ => {}
        }
    }
}

/// The thread ids of `pid`, the main thread first.
fn tasks(pid: u32) -> Result<Vec<u32>, String> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| denied(io_errno(&e)))?;
    let mut tids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable_by_key(|&t| (t != pid, t));
    Ok(tids)
}

type Snapshot = (ProcessNotes, Vec<Segment>, Vec<Diagnostic>, u64);

/// Copies the stopped process: notes from /proc and ptrace, and every readable mapping's
/// bytes into `out`, zero pages left as holes.
fn copy(pid: u32, tids: &[u32], mem: &File, out: &File) -> Result<Snapshot, Error> {
    let proc_file = |name: &str| std::fs::read(format!("/proc/{pid}/{name}")).unwrap_or_default();
    let mut notes = ProcessNotes {
        pid: Some(u64::from(pid)),
        ..ProcessNotes::default()
    };
    let status = String::from_utf8_lossy(&proc_file("status")).into_owned();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    notes.ppid = field("PPid:");
    notes.uid = field("Uid:").and_then(|v| u32::try_from(v).ok());
    notes.gid = field("Gid:").and_then(|v| u32::try_from(v).ok());
    let comm = |path: String| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
    };
    notes.command = comm(format!("/proc/{pid}/comm"));
    // pr_psargs: the arguments joined by spaces, at most 80 bytes, as a core has them.
    let mut args: Vec<u8> = proc_file("cmdline")
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(&b' ');
    args.truncate(80);
    notes.args = Some(String::from_utf8_lossy(&args).into_owned());
    notes.auxv = proc_file("auxv")
        .chunks_exact(16)
        .map(|c| {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&c[i..i + 8]);
                u64::from_le_bytes(b)
            };
            (word(0), word(8))
        })
        .take_while(|&(k, _)| k != 0)
        .collect();
    for &tid in tids {
        let registers = registers(tid).map_err(|e| Error::Live {
            pid,
            message: format!("cannot read thread {tid}'s registers: {}", e.desc()),
        })?;
        notes.threads.push(ThreadNote {
            tid: u64::from(tid),
            signal: 0,
            registers,
            name: comm(format!("/proc/{pid}/task/{tid}/comm")),
        });
    }
    let page = 4096;
    notes.page_size = Some(page);

    let smaps = String::from_utf8_lossy(&proc_file("smaps")).into_owned();
    let maps = MapsLine::with_flags(&smaps);
    let mut segments = Vec::new();
    let mut diagnostics = Vec::new();
    let mut at: u64 = 0;
    let mut copied: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    for (m, vm_flags) in maps {
        if let Some(path) = m.path.filter(|p| p.starts_with('/')) {
            notes.files.push(FileMapping {
                start: m.start,
                end: m.end,
                offset: m.offset,
                path: path.trim_end_matches(" (deleted)").to_string(),
                perms: None,
            });
        }
        let readable = m.perms.starts_with('r')
            && !vm_flags.split_whitespace().any(|f| NOT_DUMPED.contains(&f));
        let memsz = m.end - m.start;
        let mut present = 0;
        if readable {
            while present < memsz {
                let n = (memsz - present).min(CHUNK as u64) as usize;
                match mem.read_at(&mut buf[..n], m.start + present) {
                    Ok(0) => break,
                    Ok(got) => {
                        write_sparse(out, at + present, &buf[..got]).map_err(|source| {
                            Error::TempFile {
                                what: "copy",
                                path: PathBuf::from(format!("/proc/{pid}/mem")),
                                source,
                            }
                        })?;
                        present += got as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        diagnostics.push(Diagnostic::at(
                            "unreadable_memory",
                            m.start + present,
                            format!(
                                "{} bytes of the mapping {:#x}-{:#x} could not be read: {e}",
                                memsz - present,
                                m.start,
                                m.end
                            ),
                        ));
                        break;
                    }
                }
            }
        }
        segments.push(Segment {
            vaddr: m.start,
            memsz,
            offset: FileOffset(at),
            filesz: present,
            present,
            flags: m.flags(),
        });
        copied += present;
        at += present.div_ceil(page) * page;
    }
    out.set_len(at).map_err(|source| Error::TempFile {
        what: "copy",
        path: PathBuf::from(format!("/proc/{pid}/mem")),
        source,
    })?;
    segments.sort_by_key(|s| s.vaddr);
    Ok((notes, segments, diagnostics, copied))
}

/// A stopped thread's x86_64 registers, by the names NT_PRSTATUS gives them.
#[cfg(target_arch = "x86_64")]
fn registers(tid: u32) -> Result<Registers, Errno> {
    use crate::registers::X86_64_NAMES;
    let r = ptrace::getregs(Pid::from_raw(tid as i32))?;
    let values = [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ];
    Ok(Registers::new(
        Arch::X86_64,
        X86_64_NAMES.iter().copied().zip(values).collect(),
    ))
}

/// Other architectures are not read live ([`Process::attach`] says so before this).
#[cfg(not(target_arch = "x86_64"))]
fn registers(_tid: u32) -> Result<Registers, Errno> {
    Err(Errno::ENOSYS)
}

/// One line of `/proc/PID/maps`: `start-end perms offset dev inode path`.
struct MapsLine<'a> {
    start: u64,
    end: u64,
    perms: &'a str,
    offset: u64,
    path: Option<&'a str>,
}

impl<'a> MapsLine<'a> {
    fn parse(line: &'a str) -> Option<MapsLine<'a>> {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let _dev = fields.next()?;
        let _inode = fields.next()?;
        let path = fields.next().map(str::trim_start).filter(|p| !p.is_empty());
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        (start < end).then_some(MapsLine {
            start,
            end,
            perms,
            offset,
            path,
        })
    }

    /// The mappings of `/proc/PID/smaps`, each with its `VmFlags` (empty where the kernel
    /// prints none).
    fn with_flags(smaps: &'a str) -> Vec<(MapsLine<'a>, &'a str)> {
        let mut out: Vec<(MapsLine<'a>, &'a str)> = Vec::new();
        for line in smaps.lines() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if let Some(last) = out.last_mut() {
                    last.1 = flags;
                }
            } else if let Some(m) = MapsLine::parse(line) {
                out.push((m, ""));
            }
        }
        out
    }

    /// `PF_R`, `PF_W`, `PF_X` (ELF gABI) from `rwxp`.
    fn flags(&self) -> u32 {
        let b = self.perms.as_bytes();
        let on = |i: usize, c: u8, f: u32| if b.get(i) == Some(&c) { f } else { 0 };
        on(0, b'r', 4) | on(1, b'w', 2) | on(2, b'x', 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines() {
        let m = MapsLine::parse(
            "7f0c2a400000-7f0c2a428000 r--p 00001000 fe:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6",
        )
        .unwrap();
        assert_eq!(
            (m.start, m.end, m.offset),
            (0x7f0c2a400000, 0x7f0c2a428000, 0x1000)
        );
        assert_eq!(m.path, Some("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(m.flags(), 4);
        let m = MapsLine::parse("55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(m.path, None);
        assert_eq!(m.flags(), 6);
        let m =
            MapsLine::parse("7ffd1e9f0000-7ffd1e9f2000 r-xp 00000000 00:00 0   [vdso]").unwrap();
        assert_eq!((m.path, m.flags()), (Some("[vdso]"), 5));
        assert!(MapsLine::parse("garbage").is_none());
    }
}
