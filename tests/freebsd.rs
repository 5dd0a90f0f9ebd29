//! FreeBSD cores: SYNTHESIZED ones (the `synthesized_` tests) and, at the end, the real ones
//! LLVM keeps for lldb's tests (the `real_` tests).
//!
//! Real FreeBSD cores with memory cannot be had here (`../shared/corpus/README.md`,
//! `freebsd/`), so most cores are assembled by `synth/` from the layouts in `../shared/corpus/freebsd/LAYOUTS.md`,
//! independently of the reader, and carry the thread ids, registers, names and signals that
//! lldb's tests assert for the real cores x86-64-freebsd.core,
//! x86-64-freebsd-multithread.core and aarch64-freebsd-multithread.core
//! (`freebsd/ground-truth/`). The expected values below are copied from those ground-truth
//! files, not read back from the builder; values lldb does not assert (pids, mappings,
//! fault addresses) are the builder's made-up ones and are marked so. The day a real core
//! is at hand, the same expectations apply to it.

#[path = "synth/mod.rs"]
mod synth;

use std::path::PathBuf;
use std::process::Command;

use core_reader::{Arch, CoreFile, Os, ProcessNotes};
use serde::Deserialize;

use synth::freebsd::{self as fb, Process};
use synth::Note;

// ---------------------------------------------------------------- ground truth (lldb)

/// (tid, pc, name, signal) per thread, in lldb's `thread list` order.
type ThreadFacts = [(u64, u64, &'static str, i32); 4];

/// x86-64-freebsd-multithread.test.
const X86_64_MT: ThreadFacts = [
    (100744, 0x2030c2, "a.out", 11),
    (100720, 0x800396b3c, "a.out", 11),
    (100745, 0x2030cd, "a.out", 11),
    (100746, 0x2030cd, "a.out", 11),
];
/// thr1, thr3, thr4: (tid, ecx, edx, edi, esi).
const X86_64_MT_REGS: [(u64, u64, u64, u64, u64); 3] = [
    (100744, 0x04040404, 0x03030303, 0x01010101, 0x02020202),
    (100745, 0x14141414, 0x13131313, 0x11111111, 0x12121212),
    (100746, 0x24242424, 0x23232323, 0x21212121, 0x22222222),
];

/// aarch64-freebsd-multithread.test.
const AARCH64_MT: ThreadFacts = [
    (100160, 0x211fc4, "a.out", 11),
    (100115, 0x406267a8, "a.out", 11),
    (100161, 0x211fc8, "a.out", 11),
    (100162, 0x211fc8, "a.out", 11),
];
/// thr1, thr3, thr4: (tid, [w0, w1, w2, w3]).
const AARCH64_MT_REGS: [(u64, [u64; 4]); 3] = [
    (100160, [0x01010101, 0x02020202, 0x03030303, 0x04040404]),
    (100161, [0x11111111, 0x12121212, 0x13131313, 0x14141414]),
    (100162, [0x21212121, 0x22222222, 0x23232323, 0x24242424]),
];
/// aarch64-freebsd-register-fields.test: thread 1's cpsr.
const AARCH64_MT_CPSR: u64 = 0x60000200;

/// x86-64-freebsd-gp.test (Inputs/x86-64-gp-hixmm.check), by our register names
/// (Linux's `eflags` for rflags).
const X86_64_GP: [(&str, u64); 24] = [
    ("rax", 0x2726252423222120),
    ("rbx", 0x2827262524232221),
    ("rcx", 0x2928272625242322),
    ("rdx", 0x2a29282726252423),
    ("rdi", 0x2e2d2c2b2a292827),
    ("rsi", 0x2d2c2b2a29282726),
    ("rbp", 0x2c2b2a2928272625),
    ("rsp", 0x2b2a292827262524),
    ("r8", 0x2f2e2d2c2b2a2928),
    ("r9", 0x302f2e2d2c2b2a29),
    ("r10", 0x31302f2e2d2c2b2a),
    ("r11", 0x3231302f2e2d2c2b),
    ("r12", 0x333231302f2e2d2c),
    ("r13", 0x34333231302f2e2d),
    ("r14", 0x3534333231302f2e),
    ("r15", 0x363534333231302f),
    ("rip", 0x20242b),
    ("eflags", 0x10246),
    ("cs", 0x43),
    ("ss", 0x3b),
    ("ds", 0x3b),
    ("es", 0x3b),
    ("fs", 0x13),
    ("gs", 0x1b),
];

// ---------------------------------------------------------------- helpers

fn read_notes(name: &str, bytes: Vec<u8>) -> (CoreFile, ProcessNotes) {
    let core = CoreFile::from_bytes(name, bytes).expect("the synthesized core opens");
    let notes = ProcessNotes::read(&core);
    (core, notes)
}

fn write_core(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("freebsd-synth");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn heapmortem(args: &[&str], core: &std::path::Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_heapmortem"))
        .args(args)
        .arg(core)
        // No debuginfod: the files of these cores are nowhere (see cli::heapmortem).
        .env_remove("DEBUGINFOD_URLS")
        .args(["--format", "json"])
        .output()
        .expect("heapmortem runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "heapmortem {args:?} panicked: {}",
        run.stderr
    );
    run
}

fn json<T: for<'de> Deserialize<'de>>(run: &Run, what: &str) -> T {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not the JSON we expect ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            run.code, run.stdout, run.stderr
        )
    })
}

/// An address as the JSON writes it: a `"0x…"` string.
fn hex(s: &str) -> u64 {
    let digits = s
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("{s:?} is not a \"0x…\" address"));
    u64::from_str_radix(digits, 16).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

// Our own view of the CLI's JSON (DESIGN.md keys; ids and signals are numbers, addresses
// and offsets "0x…" strings), so a change cannot slip through. Unknown keys are ignored:
// the schema may grow.
#[derive(Debug, Deserialize)]
struct InfoJson {
    os: String,
    arch: String,
    pid: Option<u64>,
    signal: Option<i32>,
    signal_code: Option<i32>,
    fault_address: Option<String>,
    executable: Option<String>,
    threads: Vec<InfoThreadJson>,
    mappings: Vec<MappingJson>,
    truncated: bool,
}
#[derive(Debug, Deserialize)]
struct InfoThreadJson {
    tid: u64,
}
#[derive(Debug, Deserialize)]
struct MappingJson {
    start: String,
    end: String,
    perms: Option<String>,
    offset: Option<String>,
    path: Option<String>,
    build_id: Option<String>,
}
#[derive(Debug, Deserialize)]
struct ThreadsJson {
    threads: Vec<ThreadJson>,
}
#[derive(Debug, Deserialize)]
struct ThreadJson {
    tid: u64,
    name: Option<String>,
    signal: Option<i32>,
    frames: Vec<FrameJson>,
}
#[derive(Debug, Deserialize)]
struct FrameJson {
    pc: String,
}

type FileFacts = Vec<(u64, u64, u64, &'static str, &'static str)>;

fn check_notes_threads(notes: &ProcessNotes, facts: &ThreadFacts) {
    let got: Vec<_> = notes
        .threads
        .iter()
        .map(|t| {
            (
                t.tid,
                t.registers.pc().unwrap(),
                t.name.as_deref().unwrap(),
                t.signal,
            )
        })
        .collect();
    assert_eq!(got, facts);
}

fn check_notes_files(notes: &ProcessNotes, files: &FileFacts) {
    let got: Vec<_> = notes
        .files
        .iter()
        .map(|f| {
            (
                f.start,
                f.end,
                f.offset,
                f.perms.clone().unwrap(),
                f.path.clone(),
            )
        })
        .collect();
    let want: Vec<_> = files
        .iter()
        .map(|&(s, e, o, p, path)| (s, e, o, p.to_string(), path.to_string()))
        .collect();
    assert_eq!(got, want);
}

/// lldb's x86-64-freebsd-multithread.test: ecx, edx, edi, esi of threads 1, 3 and 4.
fn check_x86_64_mt_registers(notes: &ProcessNotes) {
    for (tid, ecx, edx, edi, esi) in X86_64_MT_REGS {
        let t = notes.threads.iter().find(|t| t.tid == tid).unwrap();
        let low = |n| t.registers.get(n).map(|v| v & 0xffff_ffff);
        assert_eq!(
            (low("rcx"), low("rdx"), low("rdi"), low("rsi")),
            (Some(ecx), Some(edx), Some(edi), Some(esi)),
            "thread {tid}"
        );
    }
}

/// lldb's aarch64-freebsd-multithread.test: w0…w3 of threads 1, 3 and 4.
fn check_aarch64_mt_registers(notes: &ProcessNotes) {
    for (tid, w) in AARCH64_MT_REGS {
        let t = notes.threads.iter().find(|t| t.tid == tid).unwrap();
        let got: Vec<_> = (0..4)
            .map(|i| t.registers.get(&format!("x{i}")).unwrap() & 0xffff_ffff)
            .collect();
        assert_eq!(got, w, "thread {tid}");
    }
}

/// What `info` must say about a synthesized core. The pid, executable, mappings and the
/// siginfo's code and address are the builder's made-up values; tids are lldb's.
struct InfoFacts<'a> {
    arch: &'a str,
    pid: u64,
    tids: &'a [u64],
    signal_code: i32,
    fault_address: u64,
    exe: &'a str,
    files: FileFacts,
}

fn check_info(run: &Run, want: &InfoFacts) {
    assert_eq!(
        run.code,
        Some(0),
        "info exit status; stderr: {}",
        run.stderr
    );
    let info: InfoJson = json(run, "info --format json");
    assert_eq!(info.os, "freebsd");
    assert_eq!(info.arch, want.arch);
    assert_eq!(info.pid, Some(want.pid));
    // NT_PTLWPINFO's siginfo, end to end.
    assert_eq!(info.signal, Some(11));
    assert_eq!(info.signal_code, Some(want.signal_code));
    assert_eq!(
        info.fault_address.as_deref().map(hex),
        Some(want.fault_address)
    );
    assert_eq!(
        info.threads.iter().map(|t| t.tid).collect::<Vec<_>>(),
        want.tids
    );
    assert!(!info.truncated);
    assert_eq!(info.executable.as_deref(), Some(want.exe));
    for &(start, end, offset, perms, path) in &want.files {
        let m = info
            .mappings
            .iter()
            .find(|m| hex(&m.start) == start && m.path.as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no mapping of {path} at {start:#x}: {:?}", info.mappings));
        assert_eq!(hex(&m.end), end, "end of {path} at {start:#x}");
        assert_eq!(
            m.offset.as_deref().map(hex),
            Some(offset),
            "offset of {path} at {start:#x}"
        );
        assert_eq!(
            m.perms.as_deref(),
            Some(perms),
            "perms of {path} at {start:#x}"
        );
        // Found from the ELF header the builder put in the file's first mapping.
        let id = fb::build_id_hex(path);
        assert_eq!(
            m.build_id.as_deref(),
            Some(id.as_str()),
            "build-id of {path}"
        );
    }
    // The vnode entry without a path (an unlinked file) names no file.
    assert!(info.mappings.iter().all(|m| m.path.as_deref() != Some("")));
}

fn check_threads(run: &Run, facts: &ThreadFacts) {
    assert_eq!(
        run.code,
        Some(0),
        "threads exit status; stderr: {}",
        run.stderr
    );
    let threads: ThreadsJson = json(run, "threads --format json");
    let got: Vec<_> = threads
        .threads
        .iter()
        .map(|t| {
            let pc = t
                .frames
                .first()
                .map(|f| hex(&f.pc))
                .unwrap_or_else(|| panic!("thread {} has no frame 0", t.tid));
            (t.tid, pc, t.name.clone().unwrap_or_default(), t.signal)
        })
        .collect();
    let want: Vec<_> = facts
        .iter()
        .map(|&(tid, pc, n, s)| (tid, pc, n.to_string(), Some(s)))
        .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------- reader, in process

#[test]
fn synthesized_freebsd_x86_64_core_notes() {
    let (core, notes) = read_notes("x86-64-freebsd.core", fb::x86_64_freebsd().core().build());
    assert_eq!(core.os(), Os::FreeBsd);
    assert_eq!(core.arch(), Arch::X86_64);
    assert!(!core.is_truncated());
    assert_eq!(notes.diagnostics, vec![]);
    // Made up by the builder: pid, ids, command line, tid.
    assert_eq!(notes.pid, Some(1234));
    assert_eq!(
        (notes.ppid, notes.uid, notes.gid),
        (Some(1000), Some(1001), Some(1001))
    );
    assert_eq!(notes.command.as_deref(), Some("a.out"));
    assert_eq!(notes.args.as_deref(), Some("./a.out"));
    assert_eq!(notes.threads.len(), 1);
    let t = &notes.threads[0];
    assert_eq!(
        (t.tid, t.signal, t.name.as_deref()),
        (100051, 11, Some("a.out"))
    );
    // lldb's values, every one of them.
    for (name, value) in X86_64_GP {
        assert_eq!(t.registers.get(name), Some(value), "register {name}");
    }
    assert_eq!(t.registers.pc(), Some(0x20242b));
    assert_eq!(t.registers.sp(), Some(0x2b2a292827262524));
    assert_eq!(t.registers.fp(), Some(0x2c2b2a2928272625));
    // NT_X86_SEGBASES (made up).
    assert_eq!(t.registers.get("fs_base"), Some(0x800a0b120));
    // NT_PTLWPINFO's siginfo: SEGV_MAPERR at 0 (`movl %eax, 0`).
    let sig = notes.signal.clone().unwrap();
    assert_eq!((sig.signo, sig.code, sig.addr), (11, Some(1), Some(0)));
    // NT_PROCSTAT_AUXV, past its leading int.
    assert_eq!(notes.auxv_value(3), Some(0x200040));
    assert_eq!(notes.auxv_value(9), Some(0x201000));
    assert_eq!(notes.auxv_value(15), Some(0x7fffffffefe0));
    assert_eq!(notes.auxv.len(), 7);
    // NT_PROCSTAT_VMMAP: vnode entries only, packed and unpacked records alike.
    check_notes_files(&notes, &fb::amd64_files("/usr/home/user/a.out"));
}

#[test]
fn synthesized_freebsd_x86_64_multithread_core_notes() {
    let (core, notes) = read_notes(
        "x86-64-freebsd-multithread.core",
        fb::x86_64_freebsd_multithread().core().build(),
    );
    assert_eq!(core.os(), Os::FreeBsd);
    assert_eq!(notes.diagnostics, vec![]);
    assert_eq!(notes.pid, Some(4321));
    check_notes_threads(&notes, &X86_64_MT);
    check_x86_64_mt_registers(&notes);
    assert_eq!(notes.signal.as_ref().map(|s| s.signo), Some(11));
    check_notes_files(&notes, &fb::amd64_files("/usr/home/user/multithread"));
}

#[test]
fn synthesized_freebsd_aarch64_multithread_core_notes() {
    let (core, notes) = read_notes(
        "aarch64-freebsd-multithread.core",
        fb::aarch64_freebsd_multithread().core().build(),
    );
    assert_eq!(core.os(), Os::FreeBsd);
    assert_eq!(core.arch(), Arch::Aarch64);
    assert_eq!(notes.diagnostics, vec![]);
    assert_eq!(notes.pid, Some(5678));
    check_notes_threads(&notes, &AARCH64_MT);
    check_aarch64_mt_registers(&notes);
    let t = &notes.threads[0];
    assert_eq!(t.registers.get("pstate"), Some(AARCH64_MT_CPSR));
    // Made up by the builder: sp, fp, lr of thread 1.
    assert_eq!(t.registers.sp(), Some(0xffffffffbe00));
    assert_eq!(t.registers.fp(), Some(0xffffffffbe20));
    assert_eq!(t.registers.get("lr"), Some(0x211f80));
    let names: Vec<_> = t.registers.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 34);
    assert_eq!(&names[30..], ["x30", "sp", "pc", "pstate"]);
    let sig = notes.signal.clone().unwrap();
    assert_eq!((sig.signo, sig.code, sig.addr), (11, Some(2), Some(0x10)));
    assert_eq!(notes.auxv_value(9), Some(0x210000));
    check_notes_files(&notes, &fb::arm64_files("/usr/home/user/multithread"));
}

/// FreeBSD 11 and older write prpsinfo without pr_pid (pr_psinfosz 116): the pid then
/// comes from NT_PROCSTAT_PROC's kinfo_proc.
#[test]
fn synthesized_freebsd_pid_from_kinfo_proc_without_pr_pid() {
    let mut p = fb::x86_64_freebsd();
    p.prpsinfo_pid = false;
    let (_, notes) = read_notes("old-prpsinfo.core", p.core().build());
    assert_eq!(notes.diagnostics, vec![]);
    assert_eq!(notes.pid, Some(1234));
    assert_eq!(notes.command.as_deref(), Some("a.out"));
}

/// The thread whose NT_PTLWPINFO carries the siginfo comes first, even when the kernel
/// wrote another thread first.
#[test]
fn synthesized_freebsd_signalled_thread_comes_first() {
    let mut p = fb::x86_64_freebsd_multithread();
    let si = p.threads[0].siginfo.take();
    p.threads[2].siginfo = si;
    let (_, notes) = read_notes("signal-on-third.core", p.core().build());
    let tids: Vec<_> = notes.threads.iter().map(|t| t.tid).collect();
    assert_eq!(tids, [100745, 100744, 100720, 100746]);
}

/// A core shrunk like lldb's Inputs/strip-coredump.py --strip-non-notes: headers and notes
/// kept, PT_LOAD data gone. The notes still give every thread; the core is truncated.
#[test]
fn synthesized_freebsd_stripped_core_keeps_its_notes() {
    let (bytes, place) = fb::aarch64_freebsd_multithread().core().build_placed();
    let (core, notes) = read_notes("stripped.core", bytes[..place.notes_end].to_vec());
    assert!(core.is_truncated());
    check_notes_threads(&notes, &AARCH64_MT);
}

fn notes_of(p: &Process, edit: impl FnOnce(&mut Vec<Note>)) -> ProcessNotes {
    let mut core = p.core();
    edit(&mut core.notes);
    read_notes("garbled.core", core.build()).1
}

fn find(notes: &mut [Note], kind: u32) -> &mut Note {
    notes.iter_mut().find(|n| n.kind == kind).unwrap()
}

fn has_diag(notes: &ProcessNotes, needle: &str) -> bool {
    notes.diagnostics.iter().any(|d| d.message.contains(needle))
}

/// Each broken-on-purpose note is skipped with a diagnostic and the rest is read.
#[test]
fn synthesized_freebsd_garbled_notes_are_skipped_with_diagnostics() {
    let p = fb::x86_64_freebsd_multithread();
    let files = fb::amd64_files("/usr/home/user/multithread");

    // A vmmap record with kve_structsize 0 (gdb: "malformed core note - vmmap entry too
    // small") would loop for ever if trusted: the entries before it are kept.
    let n = notes_of(&p, |n| {
        let d = &mut find(n, fb::NT_PROCSTAT_VMMAP).desc;
        let second = 4 + fb::kinfo_vmentry(&p.vmmap[0]).len();
        d[second..second + 4].copy_from_slice(&0u32.to_le_bytes());
    });
    assert!(has_diag(&n, "kve_structsize 0"), "{:?}", n.diagnostics);
    assert_eq!(n.files.len(), 1);
    assert_eq!(n.files[0].start, files[0].0);

    // kve_structsize past the end of the note.
    let n = notes_of(&p, |n| {
        let d = &mut find(n, fb::NT_PROCSTAT_VMMAP).desc;
        d[4..8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    });
    assert!(has_diag(&n, "NT_PROCSTAT_VMMAP"), "{:?}", n.diagnostics);
    assert!(n.files.is_empty());
    assert_eq!(n.threads.len(), 4);

    // A vmmap cut in the middle of a record: inside the unpacked libc text entry (the 8th),
    // and inside the stack entry's header (the last).
    let eighth = 4 + p.vmmap[..7]
        .iter()
        .map(|e| fb::kinfo_vmentry(e).len())
        .sum::<usize>();
    let n = notes_of(&p, |n| {
        find(n, fb::NT_PROCSTAT_VMMAP).desc.truncate(eighth + 500)
    });
    assert!(has_diag(&n, "kve_structsize 1160"), "{:?}", n.diagnostics);
    assert_eq!(n.files.len(), 6);
    let n = notes_of(&p, |n| {
        let d = &mut find(n, fb::NT_PROCSTAT_VMMAP).desc;
        d.truncate(d.len() - 100);
    });
    assert!(has_diag(&n, "not a whole entry"), "{:?}", n.diagnostics);
    assert_eq!(n.files.len(), files.len());

    // A prstatus of an unknown version: that thread is skipped, and its NT_THRMISC must not
    // rename the thread before it.
    let n = notes_of(&p, |n| {
        let second = n
            .iter_mut()
            .filter(|n| n.kind == fb::NT_PRSTATUS)
            .nth(1)
            .unwrap();
        second.desc[0..4].copy_from_slice(&2u32.to_le_bytes());
        let thrmisc = n
            .iter_mut()
            .filter(|n| n.kind == fb::NT_THRMISC)
            .nth(1)
            .unwrap();
        thrmisc.desc = fb::thrmisc("renamed");
    });
    assert!(has_diag(&n, "pr_version 2"), "{:?}", n.diagnostics);
    let tids: Vec<_> = n.threads.iter().map(|t| t.tid).collect();
    assert_eq!(tids, [100744, 100745, 100746]);
    assert!(n.threads.iter().all(|t| t.name.as_deref() == Some("a.out")));
    assert!(has_diag(&n, "NT_THRMISC"));

    // A prstatus cut inside its register block, and one whose pr_gregsetsz is too small.
    let n = notes_of(&p, |n| {
        find(n, fb::NT_PRSTATUS).desc.truncate(100);
        let second = n
            .iter_mut()
            .filter(|n| n.kind == fb::NT_PRSTATUS)
            .nth(1)
            .unwrap();
        second.desc[16..24].copy_from_slice(&8u64.to_le_bytes());
    });
    assert!(has_diag(&n, "too short"), "{:?}", n.diagnostics);
    assert!(has_diag(&n, "pr_gregsetsz is 8"), "{:?}", n.diagnostics);
    assert_eq!(n.threads.len(), 2);

    // An auxv whose entry size is not 16, and an lwpinfo too short for its siginfo.
    let n = notes_of(&p, |n| {
        find(n, fb::NT_PROCSTAT_AUXV).desc[0..4].copy_from_slice(&8u32.to_le_bytes());
        find(n, fb::NT_PTLWPINFO).desc.truncate(0x30);
    });
    assert!(has_diag(&n, "NT_PROCSTAT_AUXV"), "{:?}", n.diagnostics);
    assert!(has_diag(&n, "NT_PTLWPINFO"), "{:?}", n.diagnostics);
    assert!(n.auxv.is_empty());
    // Without the siginfo, the signal is pr_cursig.
    let sig = n.signal.clone().unwrap();
    assert_eq!((sig.signo, sig.code, sig.addr), (11, None, None));

    // Empty descriptors of every kind the reader knows.
    let n = notes_of(&p, |n| {
        for note in n.iter_mut() {
            note.desc.clear();
        }
    });
    assert!(n.threads.is_empty());
    assert!(!n.diagnostics.is_empty());
}

/// Tiny deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fuzz-style: cores cut at every few bytes through the notes, and notes with random bytes
/// overwritten, must never panic; whatever opens yields notes (possibly with diagnostics).
#[test]
fn synthesized_freebsd_truncated_and_garbled_notes_never_panic() {
    let cores = [
        fb::x86_64_freebsd().core().build_placed(),
        fb::x86_64_freebsd_multithread().core().build_placed(),
        fb::aarch64_freebsd_multithread().core().build_placed(),
    ];
    for (i, (bytes, place)) in cores.iter().enumerate() {
        for cut in (0..=place.notes_end).step_by(3) {
            let r = std::panic::catch_unwind(|| {
                if let Ok(core) = CoreFile::from_bytes("cut.core", bytes[..cut].to_vec()) {
                    let _ = ProcessNotes::read(&core);
                }
            });
            assert!(r.is_ok(), "core {i} cut at {cut} panicked");
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ i as u64);
        for round in 0..3000 {
            let mut b = bytes[..place.notes_end].to_vec();
            for _ in 0..1 + rng.below(8) {
                let at = place.notes_offset + rng.below(place.notes_end - place.notes_offset);
                // Bias towards the values that break parsers: 0, all-ones, small sizes.
                b[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => rng.below(16) as u8,
                    _ => rng.next() as u8,
                };
            }
            let r = std::panic::catch_unwind(|| {
                if let Ok(core) = CoreFile::from_bytes("garbled.core", b) {
                    let _ = ProcessNotes::read(&core);
                }
            });
            assert!(r.is_ok(), "core {i}, garbling round {round} panicked");
        }
    }
}

// ---------------------------------------------------------------- the command line

#[test]
fn synthesized_freebsd_x86_64_info_and_threads_json() {
    let path = write_core("x86-64-freebsd.core", &fb::x86_64_freebsd().core().build());
    let exe = "/usr/home/user/a.out";
    let want = InfoFacts {
        arch: "x86_64",
        pid: 1234,
        tids: &[100051], // made up: lldb asserts no tid for this core
        signal_code: 1,  // SEGV_MAPERR at 0: `movl %eax, 0`
        fault_address: 0,
        exe,
        files: fb::amd64_files(exe),
    };
    check_info(&heapmortem(&["info"], &path), &want);
    let threads = heapmortem(&["threads"], &path);
    // The program filled every register with a byte pattern before faulting (rsp =
    // 0x2b2a…), so no stack can be walked: frame 0 only, reported as partial (exit 1).
    assert_eq!(threads.code, Some(1), "stderr: {}", threads.stderr);
    let t: ThreadsJson = json(&threads, "threads --format json");
    assert_eq!(t.threads.len(), 1);
    let t = &t.threads[0];
    assert_eq!(t.tid, 100051);
    assert_eq!(t.frames.first().map(|f| hex(&f.pc)), Some(0x20242b));
    assert_eq!(t.name.as_deref(), Some("a.out"));
    assert_eq!(t.signal, Some(11));
}

#[test]
fn synthesized_freebsd_x86_64_multithread_info_and_threads_json() {
    let path = write_core(
        "x86-64-freebsd-multithread.core",
        &fb::x86_64_freebsd_multithread().core().build(),
    );
    let exe = "/usr/home/user/multithread";
    let want = InfoFacts {
        arch: "x86_64",
        pid: 4321,
        tids: &X86_64_MT.map(|t| t.0),
        signal_code: 1,
        fault_address: 0,
        exe,
        files: fb::amd64_files(exe),
    };
    check_info(&heapmortem(&["info"], &path), &want);
    check_threads(&heapmortem(&["threads"], &path), &X86_64_MT);
}

#[test]
fn synthesized_freebsd_aarch64_multithread_info_and_threads_json() {
    let path = write_core(
        "aarch64-freebsd-multithread.core",
        &fb::aarch64_freebsd_multithread().core().build(),
    );
    let exe = "/usr/home/user/multithread";
    let want = InfoFacts {
        arch: "aarch64",
        pid: 5678,
        tids: &AARCH64_MT.map(|t| t.0),
        signal_code: 2, // SEGV_ACCERR
        fault_address: 0x10,
        exe,
        files: fb::arm64_files(exe),
    };
    check_info(&heapmortem(&["info"], &path), &want);
    check_threads(&heapmortem(&["threads"], &path), &AARCH64_MT);
}

/// strip-coredump.py-style core: `info` reads the notes, says the core is truncated, exits 1.
#[test]
fn synthesized_freebsd_stripped_core_info_exits_1() {
    let (bytes, place) = fb::x86_64_freebsd_multithread().core().build_placed();
    let path = write_core(
        "x86-64-freebsd-multithread-stripped.core",
        &bytes[..place.notes_end],
    );
    let run = heapmortem(&["info"], &path);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let info: InfoJson = json(&run, "info on a stripped core");
    assert!(info.truncated);
    assert_eq!(info.os, "freebsd");
    let tids: Vec<_> = info.threads.iter().map(|t| t.tid).collect();
    assert_eq!(tids, X86_64_MT.map(|t| t.0));
}

/// A vmmap with a zero kve_structsize: `info` reports what it read and exits 1.
#[test]
fn synthesized_freebsd_garbled_vmmap_info_exits_1() {
    let p = fb::x86_64_freebsd();
    let mut core = p.core();
    let second = 4 + fb::kinfo_vmentry(&p.vmmap[0]).len();
    find(&mut core.notes, fb::NT_PROCSTAT_VMMAP).desc[second..second + 4]
        .copy_from_slice(&0u32.to_le_bytes());
    let path = write_core("x86-64-freebsd-bad-vmmap.core", &core.build());
    let run = heapmortem(&["info"], &path);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let info: InfoJson = json(&run, "info with a garbled vmmap");
    assert_eq!(info.os, "freebsd");
    assert_eq!(info.threads.len(), 1);
}

// ---------------------------------------------------------------- real cores (lldb's)
//
// `../shared/corpus/freebsd/real/`: the cores LLVM keeps for lldb's tests, written by FreeBSD
// kernels and stripped of everything but their notes (its README). lldb's assertions (above,
// from `freebsd/ground-truth/`) must hold on them as on the synthesized ones; the memory map
// must be the kernel's NT_PROCSTAT_VMMAP entry for entry, read below by a parser of the
// test's own (sys/sys/user.h `struct kinfo_vmentry`); lldb-16 is a second opinion on frame #1.

/// The 64-bit real cores (heapmortem reads no 32-bit core: the x86-32 ones are refused).
const REAL: [&str; 3] = [
    "x86-64-freebsd.core",
    "x86-64-freebsd-multithread.core",
    "aarch64-freebsd-multithread.core",
];

fn real(name: &str) -> PathBuf {
    crate::harness::corpus::path(&format!("freebsd/real/{name}"))
}

/// One NT_PROCSTAT_VMMAP entry: (start, end, offset, `rwx` protection, kve_type, path).
type VmEntry = (u64, u64, u64, String, u32, String);

/// NT_PROCSTAT_VMMAP of an ELF64 little-endian core, read here from the ELF and note
/// layouts: program headers → PT_NOTE → the "FreeBSD" note of type 10 → an int (the
/// struct size), then records each `kve_structsize` long: kve_type @4, kve_start @8,
/// kve_end @16, kve_offset @24, kve_protection @56, kve_path @136.
fn vmmap(core: &[u8]) -> Vec<VmEntry> {
    let u16_at = |o: usize| u16::from_le_bytes(core[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |d: &[u8], o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap());
    let u64_at = |d: &[u8], o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap());
    let phoff = u64_at(core, 32) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let mut out = Vec::new();
    for i in 0..phnum {
        let ph = &core[phoff + i * phentsize..];
        if u32_at(ph, 0) != 4 {
            continue;
        }
        let (off, size) = (u64_at(ph, 8) as usize, u64_at(ph, 32) as usize);
        let mut at = off;
        while at + 12 <= off + size {
            let (namesz, descsz, kind) = (
                u32_at(core, at) as usize,
                u32_at(core, at + 4) as usize,
                u32_at(core, at + 8),
            );
            let desc = at + 12 + namesz.div_ceil(4) * 4;
            if kind == 10 && &core[at + 12..at + 12 + namesz] == b"FreeBSD\0" {
                let mut rec = &core[desc + 4..desc + descsz];
                while rec.len() > 136 {
                    let len = u32_at(rec, 0) as usize;
                    let prot = u32_at(rec, 56);
                    let perms: String = [(1, 'r'), (2, 'w'), (4, 'x')]
                        .iter()
                        .map(|&(bit, c)| if prot & bit != 0 { c } else { '-' })
                        .collect();
                    let path = &rec[136..len];
                    let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
                    out.push((
                        u64_at(rec, 8),
                        u64_at(rec, 16),
                        u64_at(rec, 24),
                        perms,
                        u32_at(rec, 4),
                        String::from_utf8_lossy(path).into_owned(),
                    ));
                    rec = &rec[len..];
                }
            }
            at = desc + descsz.div_ceil(4) * 4;
        }
    }
    out
}

#[test]
fn real_freebsd_cores_hold_the_registers_lldb_asserts() {
    let (_, notes) = read_notes("x86-64-freebsd.core", std::fs::read(real(REAL[0])).unwrap());
    let t = &notes.threads[0];
    assert_eq!((t.signal, t.name.as_deref()), (11, Some("a.out")));
    for (name, value) in X86_64_GP {
        assert_eq!(t.registers.get(name), Some(value), "register {name}");
    }

    let (_, notes) = read_notes("x86-64-mt.core", std::fs::read(real(REAL[1])).unwrap());
    check_notes_threads(&notes, &X86_64_MT);
    check_x86_64_mt_registers(&notes);

    let (core, notes) = read_notes("aarch64-mt.core", std::fs::read(real(REAL[2])).unwrap());
    assert_eq!(core.arch(), Arch::Aarch64);
    check_notes_threads(&notes, &AARCH64_MT);
    check_aarch64_mt_registers(&notes);
    assert_eq!(
        notes.threads[0].registers.get("pstate"),
        Some(AARCH64_MT_CPSR)
    );
}

#[derive(Debug, Deserialize)]
struct ModulesJson {
    modules: Vec<ModuleJson>,
}
#[derive(Debug, Deserialize)]
struct ModuleJson {
    path: String,
    main: bool,
}

/// `info`: every entry of the kernel's map, as it lists it (anonymous, device and guard
/// entries too, an anonymous entry's offset into its object), and the modules it names —
/// though the core holds none of their bytes (exit 1: every PT_LOAD was stripped).
#[test]
fn real_freebsd_info_lists_the_whole_map_and_its_modules() {
    for name in REAL {
        let path = real(name);
        let want = vmmap(&std::fs::read(&path).unwrap());
        let run = heapmortem(&["info"], &path);
        assert_eq!(run.code, Some(1), "{name}: stderr {}", run.stderr);
        let info: InfoJson = json(&run, "info --format json");
        assert!(info.truncated, "{name}");
        let got: Vec<_> = info
            .mappings
            .iter()
            .map(|m| {
                (
                    hex(&m.start),
                    hex(&m.end),
                    m.offset.as_deref().map_or(0, hex),
                    m.perms.clone().unwrap_or_default(),
                    m.path.clone().unwrap_or_default(),
                )
            })
            .collect();
        let want_rows: Vec<_> = want
            .iter()
            .map(|(s, e, o, p, _, path)| (*s, *e, *o, p.clone(), path.clone()))
            .collect();
        assert_eq!(got, want_rows, "{name}: the map");
        let modules: ModulesJson = json(&run, "info --format json");
        let names: Vec<&str> = modules.modules.iter().map(|m| m.path.as_str()).collect();
        let exe = info.executable.as_deref().unwrap_or_default();
        let main: Vec<&str> = modules
            .modules
            .iter()
            .filter(|m| m.main)
            .map(|m| m.path.as_str())
            .collect();
        // The map's first entry is the executable's (AT_ENTRY lies in it).
        assert_eq!(main, [exe], "{name}: the main module");
        assert_eq!(exe, want[0].5, "{name}: the executable");
        for lib in ["/libexec/ld-elf.so.1", "/lib/libc.so.7"] {
            assert!(names.contains(&lib), "{name}: no module {lib}: {names:?}");
        }
        if name.contains("multithread") && name.starts_with("aarch64") {
            assert!(names.contains(&"/lib/libthr.so.3"), "{names:?}");
        }
    }
    // What the issue saw missing, and the offset it saw wrong (x86-64-freebsd.core): the
    // device page, the read-write reservation, the guard below the stack; the jemalloc
    // region's offset 0x82000.
    let want = vmmap(&std::fs::read(real(REAL[0])).unwrap());
    assert_eq!(want.len(), 43);
    let kinds: Vec<u32> = want.iter().map(|e| e.4).collect();
    assert!(kinds.contains(&4) && kinds.contains(&0), "{kinds:?}");
    assert!(want.iter().any(|e| (e.0, e.2) == (0x800800000, 0x82000)));
}

/// lldb-16's `bt all` on aarch64-freebsd-multithread.core: frame #1 of each thread, from
/// its link register (the core holds no stack).
const AARCH64_MT_FRAME1: [(u64, u64); 4] = [
    (100160, 0x212074),
    (100115, 0x404c2a8c),
    (100161, 0x212108),
    (100162, 0x21219c),
];

#[test]
fn real_freebsd_threads_match_lldb() {
    let run = heapmortem(&["threads"], &real(REAL[1]));
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let path = real(REAL[2]);
    let run = heapmortem(&["threads"], &path);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let threads: ThreadsJson = json(&run, "threads --format json");
    let got: Vec<_> = threads
        .threads
        .iter()
        .map(|t| {
            let pcs: Vec<u64> = t.frames.iter().map(|f| hex(&f.pc)).collect();
            (t.tid, t.name.clone().unwrap_or_default(), t.signal, pcs)
        })
        .collect();
    let want: Vec<_> = AARCH64_MT
        .iter()
        .zip(AARCH64_MT_FRAME1)
        .map(|(&(tid, pc, n, s), (_, ra))| (tid, n.to_string(), Some(s), vec![pc, ra]))
        .collect();
    assert_eq!(got, want);
    // lldb itself, where installed.
    if crate::harness::process::have("lldb-16") {
        let out = Command::new("lldb-16")
            .args(["-b", "-o", "bt all", "-c"])
            .arg(&path)
            .output()
            .expect("lldb-16 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        for (tid, ra) in AARCH64_MT_FRAME1 {
            assert!(
                text.contains(&format!("frame #1: {ra:#018x}")),
                "lldb-16 gives another frame #1 for thread {tid}\n{text}"
            );
        }
    }
}

/// The process used FreeBSD libc's jemalloc, and the core holds none of its memory: by the
/// truncation rule (a walk that found nothing in a core read in part), `heap` exits 1 with
/// one line naming the truncation and the allocator, rather than failing as if no allocator
/// were known.
#[test]
fn real_freebsd_heap_says_the_core_holds_none_of_it() {
    for name in REAL {
        let run = heapmortem(&["heap"], &real(name));
        assert_eq!(run.code, Some(1), "{name}: stderr {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {}", run.stderr);
        assert!(
            lines[0].contains("jemalloc")
                && lines[0].contains("libc.so.7")
                && lines[0].contains("truncated")
                && !lines[0].contains("glibc"),
            "{name}: {}",
            run.stderr
        );
    }
}
