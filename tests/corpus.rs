//! The public cores of `../shared/corpus/cores/` (lldb, drgn, elfutils, pyelftools): every
//! fact those projects' own tests assert about them, transcribed from the test files beside
//! the cores (TestLinuxCore.py, TestLinuxCoreThreads.py, TestGCore.py,
//! run-readelf-mixed-corenote.sh, backtrace-subr.sh, test_core_notes64.py) or, for drgn, from
//! its tests in github.com/osandov/drgn (TestCoreDump in the thread tests, the userspace
//! core-dump stack-trace and module tests — the version whose build-ids match the cores
//! here). Where a project asserts nothing about a core, the ground truth is a tool run at
//! test time (gdb, eu-readelf), never heapmortem's own output.
//!
//! 32-bit cores (i386, arm) are not supported: heapmortem must say so in one line and exit 2
//! — or, if it reads them after all, every asserted fact must hold ([`unsupported_or_read`]).
//! The aarch64 cores of elfutils are in tests/aarch64.rs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::harness::cli::{self, Info, Threads};
use crate::harness::corpus;
use crate::harness::gdb::GdbRun;
use crate::harness::process::Output;
use crate::harness::readelf::{self, FileEntry};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn tids(threads: &Threads) -> Vec<u64> {
    let mut t: Vec<u64> = threads.threads.iter().map(|t| t.tid).collect();
    t.sort_unstable();
    t
}

fn info_tids(info: &Info) -> Vec<u64> {
    let mut t: Vec<u64> = info.threads.iter().map(|t| t.tid).collect();
    t.sort_unstable();
    t
}

/// The line of `file` (beside a core) holding `marker`, 1-based — lldb's `line_number()`.
fn line_of(file: &Path, marker: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let index = text
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{} has no line with {marker:?}", file.display()));
    index as u32 + 1
}

/// Every NT_FILE entry a project lists must be a mapping of `info` with that start, end,
/// offset (bytes) and path.
fn assert_mappings(info: &Info, want: &[FileEntry], what: &str) {
    let missing: Vec<&FileEntry> = want
        .iter()
        .filter(|e| {
            !info.mappings.iter().any(|m| {
                m.start.0 == e.start
                    && m.end.0 == e.end
                    && m.offset.get().map(|o| o.0) == Some(e.offset)
                    && m.path.get() == Some(&e.path)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: NT_FILE entries missing from `info` mappings: {missing:#?}\nmappings: {:#?}",
        info.mappings
    );
}

fn entry(start: u64, end: u64, offset: u64, path: &str) -> FileEntry {
    FileEntry {
        start,
        end,
        offset,
        path: path.to_string(),
    }
}

/// For a 32-bit core: either heapmortem refuses it (exit 2, one line on stderr naming the
/// reason), or it reads it (exit 0 or 1) and the caller checks the facts. Returns whether it
/// was read.
fn unsupported_or_read(out: &Output, what: &str) -> bool {
    cli::assert_no_panic(out);
    match out.code() {
        Some(2) => {
            cli::assert_one_line_error(out);
            let msg = out.stderr_str().to_ascii_lowercase();
            assert!(
                [
                    "32-bit",
                    "32 bit",
                    "elfclass32",
                    "i386",
                    "arm",
                    "unsupported",
                    "not supported"
                ]
                .iter()
                .any(|w| msg.contains(w)),
                "{what}: the error does not say the core is 32-bit / unsupported\n{}",
                out.describe()
            );
            false
        }
        Some(0) | Some(1) => true,
        _ => panic!(
            "{what}: expected exit 2 (unsupported) or a reading\n{}",
            out.describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// lldb: lldb/test/API/functionalities/postmortem/elf-core/ (TestLinuxCore.py and friends)

const LLDB_X86_64_PID: u64 = 32259; // TestLinuxCore.py: _x86_64_pid
const LLDB_X86_64_REGIONS: usize = 5; // TestLinuxCore.py: _x86_64_regions

/// TestLinuxCore.py `test_x86_64` / `check_all`: pid 32259, one thread whose tid is the pid
/// and whose name is `a.out`, backtrace exactly `bar`, `foo`, `_start` at the lines marked
/// `// Frame bar` etc. in main.c, and 5 memory regions (its PT_LOAD segments).
#[test]
fn lldb_linux_x86_64_core() {
    let core = corpus::path("cores/lldb/elf-core/linux-x86_64.core");
    let exe = corpus::path("cores/lldb/elf-core/linux-x86_64.out");
    let main_c = corpus::path("cores/lldb/elf-core/main.c");
    let args = [os("--exe"), exe.as_os_str()];

    let info = cli::info(&core, &args);
    assert_eq!(info.os, "linux");
    assert_eq!(info.arch, "x86_64");
    assert_eq!(info.pid.get(), Some(&LLDB_X86_64_PID));
    assert_eq!(info_tids(&info), vec![LLDB_X86_64_PID]);
    assert_eq!(info.signal.get().map(|s| s.number), Some(11), "SIGSEGV");
    assert_eq!(
        info.mappings.len(),
        LLDB_X86_64_REGIONS,
        "lldb counts 5 memory regions: {:#?}",
        info.mappings
    );
    assert!(!info.truncated);

    let threads = cli::threads(&core, &args);
    assert_eq!(tids(&threads), vec![LLDB_X86_64_PID]);
    let t = &threads.threads[0];
    assert_eq!(t.name.get().map(String::as_str), Some("a.out"));
    let want = ["bar", "foo", "_start"];
    assert_eq!(
        t.functions(),
        want.iter().map(|f| Some(*f)).collect::<Vec<_>>(),
        "frames: {:#?}",
        t.frames
    );
    for (frame, f) in t.frames.iter().zip(want) {
        assert_eq!(
            frame.line.get().copied(),
            Some(line_of(&main_c, &format!("Frame {f}"))),
            "line of frame {f}"
        );
    }
}

/// TestLinuxCore.py `test_two_cores_same_pid`: altmain.core has one thread, pid 32259, and
/// its frame 0 is `_start` at the line marked `// Frame _start` in altmain.c.
#[test]
fn lldb_altmain_core() {
    let core = corpus::path("cores/lldb/elf-core/altmain.core");
    let exe = corpus::path("cores/lldb/elf-core/altmain.out");
    let args = [os("--exe"), exe.as_os_str()];
    let info = cli::info(&core, &args);
    assert_eq!(info.pid.get(), Some(&LLDB_X86_64_PID));
    assert_eq!(info.threads.len(), 1);
    let threads = cli::threads(&core, &args);
    assert_eq!(threads.threads.len(), 1);
    let f0 = &threads.threads[0].frames[0];
    assert_eq!(f0.function.get().map(String::as_str), Some("_start"));
    assert_eq!(
        f0.line.get().copied(),
        Some(line_of(
            &corpus::path("cores/lldb/elf-core/altmain.c"),
            "Frame _start"
        ))
    );
}

/// TestLinuxCoreThreads.py: pid 5222, 3 threads; the thread that raised SIGILL (tid 5250)
/// has signal 4, the other two signal 0 (their NT_PRSTATUS repeat `cursig` 4, but only 5250
/// has the NT_SIGINFO). The crashing thread comes first in `threads`.
#[test]
fn lldb_thread_crash_core() {
    let core = corpus::path("cores/lldb/thread_crash/linux-x86_64.core");
    let info = cli::info(&core, &[]);
    assert_eq!(info.pid.get(), Some(&5222));
    assert_eq!(info.threads.len(), 3);
    assert_eq!(info.signal.get().map(|s| s.number), Some(4), "SIGILL");
    let threads = cli::threads_without_files(&core, &[]);
    assert_eq!(threads.threads.len(), 3);
    assert_eq!(threads.threads[0].tid, 5250, "the crashing thread first");
    for t in &threads.threads {
        let sig = t.signal.get().map(|s| s.number);
        if t.tid == 5250 {
            assert_eq!(sig, Some(4), "thread 5250: SIGILL");
        } else {
            assert!(
                matches!(sig, None | Some(0)),
                "thread {}: lldb asserts signal 0, heapmortem says {sig:?}",
                t.tid
            );
        }
    }
}

/// TestGCore.py: a core written by gdb's `gcore`: pid 5669, 3 threads, every thread stopped
/// with SIGSTOP (19) (gcore writes an NT_SIGINFO per thread; pr_cursig is 0).
#[test]
fn lldb_gcore_core() {
    let core = corpus::path("cores/lldb/gcore/linux-x86_64.core");
    let info = cli::info(&core, &[]);
    assert_eq!(info.pid.get(), Some(&5669));
    assert_eq!(info.threads.len(), 3);
    let threads = cli::threads_without_files(&core, &[]);
    assert_eq!(threads.threads.len(), 3);
    for t in &threads.threads {
        assert_eq!(
            t.signal.get().map(|s| s.number),
            Some(19),
            "thread {}: SIGSTOP",
            t.tid
        );
    }
}

/// TestLinuxCore.py `test_FPR_SSE` asserts x87/SSE register values, which the CLI contract
/// does not expose; what can be checked is that the core reads completely.
#[test]
fn lldb_fpr_sse_core_reads() {
    let core = corpus::path("cores/lldb/elf-core/linux-fpr_sse_x86_64.core");
    let info = cli::info(&core, &[]);
    assert_eq!(info.arch, "x86_64");
    assert_eq!(info.threads.len(), 1);
    assert!(!info.truncated);
    let threads = cli::threads(&core, &[]);
    assert_eq!(threads.threads.len(), 1);
}

/// The 32-bit cores of lldb's tests: refused in one line (exit 2), or read with the facts
/// lldb asserts: linux-i386.core pid 32306 with one thread named a.out (TestLinuxCore.py);
/// thread_crash/linux-i386.core pid 5193, 3 threads, tid 5195 got SIGILL
/// (TestLinuxCoreThreads.py); gcore/linux-i386.core pid 5586, 3 threads, all SIGSTOP
/// (TestGCore.py); linux-arm.core registers r0..r12 = 0..12, sp 0xd, lr 0xe, pc 0xf
/// (TestLinuxCore.py `test_arm_core`).
#[test]
fn lldb_32_bit_cores_are_refused_or_read_right() {
    struct Case {
        core: &'static str,
        pid: Option<u64>,
        threads: usize,
        signal_tid: Option<(u64, i32)>,
        pc: Option<u64>,
    }
    let cases = [
        Case {
            core: "cores/lldb/elf-core/linux-i386.core",
            pid: Some(32306),
            threads: 1,
            signal_tid: None,
            pc: None,
        },
        Case {
            core: "cores/lldb/thread_crash/linux-i386.core",
            pid: Some(5193),
            threads: 3,
            signal_tid: Some((5195, 4)),
            pc: None,
        },
        Case {
            core: "cores/lldb/gcore/linux-i386.core",
            pid: Some(5586),
            threads: 3,
            signal_tid: None,
            pc: None,
        },
        Case {
            core: "cores/lldb/elf-core/linux-fpr_sse_i386.core",
            pid: None,
            threads: 1,
            signal_tid: None,
            pc: None,
        },
        Case {
            core: "cores/lldb/elf-core/linux-arm.core",
            pid: None,
            threads: 1,
            signal_tid: None,
            pc: Some(0xf),
        },
    ];
    for case in cases {
        let core = corpus::path(case.core);
        let out = cli::json_of("info", &core, &[]);
        if unsupported_or_read(&out, case.core) {
            let info: Info = cli::parse_json(&out, case.core);
            if let Some(pid) = case.pid {
                assert_eq!(info.pid.get(), Some(&pid), "{}", case.core);
            }
            assert_eq!(info.threads.len(), case.threads, "{}", case.core);
        }
        let out = cli::json_of("threads", &core, &[]);
        if unsupported_or_read(&out, case.core) {
            let threads: Threads = cli::parse_json(&out, case.core);
            assert_eq!(threads.threads.len(), case.threads, "{}", case.core);
            if let Some((tid, sig)) = case.signal_tid {
                assert_eq!(
                    threads.threads[0].tid, tid,
                    "{}: crashing thread first",
                    case.core
                );
                assert_eq!(
                    threads.threads[0].signal.get().map(|s| s.number),
                    Some(sig),
                    "{}",
                    case.core
                );
            }
            if let Some(pc) = case.pc {
                assert_eq!(threads.threads[0].frames[0].pc.0, pc, "{}", case.core);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// drgn: tests/resources/ of github.com/osandov/drgn; facts from its TestCoreDump (threads),
// TestLinuxUserspaceCoreDump (modules and build-ids; stack frames).

/// A sysroot holding crashme and crashme.so where the cores recorded them.
fn drgn_sysroot() -> PathBuf {
    corpus::sysroot(
        "drgn",
        &[
            ("cores/drgn/crashme.zst", "/home/osandov/crashme"),
            ("cores/drgn/crashme.so.zst", "/home/osandov/crashme.so"),
            ("cores/drgn/crashme_pie.zst", "/home/osandov/crashme_pie"),
            (
                "cores/drgn/crashme_static.zst",
                "/home/osandov/crashme_static",
            ),
            (
                "cores/drgn/crashme_static_pie.zst",
                "/home/osandov/crashme_static_pie",
            ),
        ],
    )
}

/// Build-ids the drgn tests assert, by the path NT_FILE records for the module (drgn names
/// libc `/lib64/libc.so.6` after the link map; NT_FILE has its real path
/// `/usr/lib64/libc.so.6`).
fn assert_build_ids(info: &Info, want: &[(&str, &str)], what: &str) {
    for (path, id) in want {
        let ids: Vec<Option<&String>> = info
            .mappings
            .iter()
            .filter(|m| m.path.get().map(String::as_str) == Some(*path))
            .map(|m| m.build_id.get())
            .collect();
        assert!(!ids.is_empty(), "{what}: no mapping of {path}");
        assert!(
            ids.iter().any(|i| i.map(String::as_str) == Some(*id))
                && ids.iter().flatten().all(|i| i.as_str() == *id),
            "{what}: {path} has build-id {id} (drgn), heapmortem says {ids:?}"
        );
    }
}

/// The mapping that starts at `start` (a module's first address in drgn's tests).
fn assert_mapping_at(
    info: &Info,
    start: u64,
    path: Option<&str>,
    build_id: Option<&str>,
    what: &str,
) {
    let m = info
        .mappings
        .iter()
        .find(|m| m.start.0 == start)
        .unwrap_or_else(|| {
            panic!(
                "{what}: no mapping starts at {start:#x}: {:#?}",
                info.mappings
            )
        });
    if let Some(path) = path {
        assert_eq!(
            m.path.get().map(String::as_str),
            Some(path),
            "{what}: {start:#x}"
        );
    }
    if let Some(id) = build_id {
        assert_eq!(
            m.build_id.get().map(String::as_str),
            Some(id),
            "{what}: {start:#x}"
        );
    }
}

const DRGN_VDSO_BUILD_ID: &str = "fdc3e4d463911345fbc6d9cc432e5ebc276e8e03";
const DRGN_CRASHME_SO_BUILD_ID: &str = "7bd58f10e741c3c8fbcf2031aa65f830f933d616";
const DRGN_LIBC_BUILD_ID: &str = "77c77fee058b19c6f001cf2cb0371ce3b8341211";
const DRGN_LD_BUILD_ID: &str = "91dcd0244204201b616bbf59427771b3751736ce";

/// drgn's stack trace test: with crashme and crashme.so (and no other debug info), the
/// crashed thread's pc is 0x7f6112caa0fc, frame 0 is `c`, frame 5 an unnamed libc address
/// 0x7f6112ad8088, frame 7 `_start`. Frames 0–4 are also checked against gdb on the same
/// core and files (c, b, a, crashme, main).
#[test]
fn drgn_crashme_stack() {
    let core = corpus::file("cores/drgn/crashme.core.zst");
    let root = drgn_sysroot();
    let args = [os("--sysroot"), root.as_os_str()];
    let threads = cli::threads(&core, &args);
    let t = &threads.threads[0];
    let f = &t.frames;
    assert!(f.len() >= 8, "drgn unwinds at least 8 frames: {f:#?}");
    assert_eq!(f[0].pc.0, 0x7F61_12CA_A0FC, "crashed thread's pc");
    assert_eq!(f[0].function.get().map(String::as_str), Some("c"));
    assert_eq!(f[5].pc.0, 0x7f61_12ad_8088, "frame 5: {:#?}", f[5]);
    assert_eq!(
        f[5].function.get(),
        None,
        "frame 5 has no symbol (libc not given)"
    );
    assert_eq!(f[7].function.get().map(String::as_str), Some("_start"));

    let gdb = GdbRun {
        exe: Some(root.join("home/osandov/crashme")),
        init: vec![format!("set sysroot {}", root.display())],
        ..GdbRun::default()
    }
    .on(&core);
    let want: Vec<&str> = gdb.crashing().functions().into_iter().take(5).collect();
    assert_eq!(
        want,
        ["c", "b", "a", "crashme", "main"],
        "gdb's reading\n{}",
        gdb.raw
    );
    let got: Vec<Option<&str>> = t.functions().into_iter().take(5).collect();
    assert_eq!(got, want.iter().map(|w| Some(*w)).collect::<Vec<_>>());
}

/// drgn's TestLinuxUserspaceCoreDump.test_loaded_modules: crashme.core's modules and their
/// build-ids (main 0x400000…, crashme.so at 0x7f6112ca9000, libc, ld.so, the vDSO at
/// 0x7f6112cb4000).
#[test]
fn drgn_crashme_modules() {
    let core = corpus::file("cores/drgn/crashme.core.zst");
    let info = cli::info(&core, &[]);
    let what = "crashme.core";
    assert_mapping_at(&info, 0x400000, Some("/home/osandov/crashme"), None, what);
    assert_mapping_at(
        &info,
        0x7F61_12CA_9000,
        Some("/home/osandov/crashme.so"),
        None,
        what,
    );
    assert_mapping_at(
        &info,
        0x7F61_12CB_4000,
        None,
        Some(DRGN_VDSO_BUILD_ID),
        what,
    );
    assert_build_ids(
        &info,
        &[
            (
                "/home/osandov/crashme",
                "99a6524c4df01fbff9b43a6ead3d8e8e6201568b",
            ),
            ("/home/osandov/crashme.so", DRGN_CRASHME_SO_BUILD_ID),
            ("/usr/lib64/libc.so.6", DRGN_LIBC_BUILD_ID),
            ("/usr/lib64/ld-linux-x86-64.so.2", DRGN_LD_BUILD_ID),
        ],
        what,
    );
}

/// test_loaded_modules_pie: crashme_pie at 0x557ed343d000, crashme.so at 0x7fab2c38a000,
/// the vDSO at 0x7fab2c395000, and the same libraries' build-ids.
#[test]
fn drgn_crashme_pie_modules() {
    let core = corpus::file("cores/drgn/crashme_pie.core.zst");
    let info = cli::info(&core, &[]);
    let what = "crashme_pie.core";
    assert_mapping_at(
        &info,
        0x557E_D343_D000,
        Some("/home/osandov/crashme_pie"),
        None,
        what,
    );
    assert_mapping_at(
        &info,
        0x7FAB_2C38_A000,
        Some("/home/osandov/crashme.so"),
        None,
        what,
    );
    assert_mapping_at(
        &info,
        0x7FAB_2C39_5000,
        None,
        Some(DRGN_VDSO_BUILD_ID),
        what,
    );
    assert_build_ids(
        &info,
        &[
            (
                "/home/osandov/crashme_pie",
                "eb4ad7aaded3815ab133a6d7784a2c95a4e52998",
            ),
            ("/home/osandov/crashme.so", DRGN_CRASHME_SO_BUILD_ID),
            ("/usr/lib64/libc.so.6", DRGN_LIBC_BUILD_ID),
            ("/usr/lib64/ld-linux-x86-64.so.2", DRGN_LD_BUILD_ID),
        ],
        what,
    );
}

/// test_loaded_modules_static / _static_pie: the executable (at 0x400000, or 0x7fd981dc9000
/// for static-pie) and the vDSO, nothing else.
#[test]
fn drgn_crashme_static_modules() {
    for (core, exe, start, id, vdso) in [
        (
            "cores/drgn/crashme_static.core.zst",
            "/home/osandov/crashme_static",
            0x400000u64,
            "a0b6befad9f0883c52c475ba3cee9c549cd082cf",
            0x7FBC_73A6_6000u64,
        ),
        (
            "cores/drgn/crashme_static_pie.core.zst",
            "/home/osandov/crashme_static_pie",
            0x7FD9_81DC_9000,
            "3e0bc47f80d7e64724e11fc021a251ed0d35bc2c",
            0x7FD9_81DC_7000,
        ),
    ] {
        let info = cli::info(&corpus::file(core), &[]);
        assert_mapping_at(&info, start, Some(exe), None, core);
        assert_mapping_at(&info, vdso, None, Some(DRGN_VDSO_BUILD_ID), core);
        assert_build_ids(&info, &[(exe, id)], core);
        let files: Vec<&String> = info
            .mappings
            .iter()
            .filter_map(|m| m.path.get())
            .filter(|p| p.starts_with('/'))
            .collect();
        assert!(
            files.iter().all(|p| p.as_str() == exe),
            "{core}: a static executable maps no other file: {files:?}"
        );
    }
}

/// test_loaded_modules_pie_no_headers: without the ELF headers in the core and without the
/// file, the main module has a name but no build-id; the vDSO (at 0x7f299f607000) still has
/// its build-id.
#[test]
fn drgn_crashme_pie_no_headers() {
    let core = corpus::file("cores/drgn/crashme_pie_no_headers.core.zst");
    let info = cli::info(&core, &[]);
    let main: Vec<_> = info
        .mappings
        .iter()
        .filter(|m| m.path.get().map(String::as_str) == Some("/home/osandov/crashme_pie"))
        .collect();
    assert!(
        !main.is_empty(),
        "the main executable's mappings are named (NT_FILE)"
    );
    assert!(
        main.iter().all(|m| m.build_id.get().is_none()),
        "no build-id can be known for the main executable: {main:#?}"
    );
    assert_mapping_at(
        &info,
        0x7F29_9F60_7000,
        None,
        Some(DRGN_VDSO_BUILD_ID),
        "crashme_pie_no_headers.core",
    );
}

/// drgn's TestCoreDump: multithreaded.core has the 13 threads 2265413–2265425;
/// the main thread 2265413 is named `segfault_random`, the others have no name; the crashed
/// thread is 2265419 (listed first).
#[test]
fn drgn_multithreaded_core() {
    let core = corpus::file("cores/drgn/multithreaded.core.zst");
    let all: Vec<u64> = (2265413..=2265425).collect();
    let info = cli::info(&core, &[]);
    assert_eq!(info_tids(&info), all);
    assert_eq!(
        info.pid.get(),
        Some(&2265413),
        "the main thread's tid is the pid"
    );
    let threads = cli::threads_without_files(&core, &[]);
    assert_eq!(tids(&threads), all);
    assert_eq!(threads.threads[0].tid, 2265419, "the crashed thread first");
    for t in &threads.threads {
        let name = t.name.get().map(String::as_str);
        if t.tid == 2265413 {
            assert_eq!(name, Some("segfault_random"));
        } else {
            assert_eq!(name, None, "thread {} has no name", t.tid);
        }
    }
}

// ---------------------------------------------------------------------------------------
// elfutils: tests/ of sourceware's elfutils (backtrace-subr.sh, run-backtrace-core-*.sh,
// run-readelf-mixed-corenote.sh)

/// backtrace-subr.sh `check_core`: the backtraces of backtrace.ARCH.core (with its .exec)
/// contain `main` and `backtracegen`, and never the weak alias `gsignal` — the README of
/// the corpus adds that `raise` is named instead.
pub fn check_elfutils_backtrace(arch: &str) {
    let core = corpus::file(&format!("cores/elfutils/backtrace.{arch}.core.bz2"));
    let exe = corpus::file(&format!("cores/elfutils/backtrace.{arch}.exec.bz2"));
    let threads = cli::threads(&core, &[os("--exe"), exe.as_os_str()]);
    assert_eq!(threads.threads.len(), 2, "backtrace-child has two threads");
    let names: Vec<&str> = threads
        .threads
        .iter()
        .flat_map(|t| {
            t.frames
                .iter()
                .filter_map(|f| f.function.get().map(String::as_str))
        })
        .collect();
    let show = || {
        format!(
            "{:#?}",
            threads
                .threads
                .iter()
                .map(|t| (t.tid, t.functions()))
                .collect::<Vec<_>>()
        )
    };
    assert!(names.contains(&"main"), "{arch}: no `main`\n{}", show());
    assert!(
        names.contains(&"backtracegen"),
        "{arch}: no `backtracegen`\n{}",
        show()
    );
    assert!(
        !names.contains(&"gsignal"),
        "{arch}: `gsignal` named\n{}",
        show()
    );
    assert!(names.contains(&"raise"), "{arch}: no `raise`\n{}", show());
}

#[test]
fn elfutils_backtrace_x86_64_core() {
    check_elfutils_backtrace("x86_64");
}

#[test]
fn elfutils_backtrace_x86_64_fp_core() {
    check_elfutils_backtrace("x86_64.fp");
}

/// testfile65 (an x86_64 core of a program `loop`): nothing is asserted about it beside it,
/// so eu-readelf's reading of its notes is the ground truth: pid, signal, the one thread
/// and its pc (frame 0).
#[test]
fn elfutils_testfile65_matches_eu_readelf() {
    let core = corpus::file("cores/elfutils/testfile65.bz2");
    let notes = readelf::notes(&core);
    let prpsinfo = notes.prpsinfo.as_ref().expect("PRPSINFO");
    let info = cli::info(&core, &[]);
    assert_eq!(info.pid.get(), Some(&prpsinfo.pid));
    assert_eq!(info.threads.len(), notes.prstatus.len());
    assert_eq!(
        info.signal.get().map(|s| s.number),
        Some(notes.prstatus[0].cursig)
    );
    let threads = cli::threads_without_files(&core, &[]);
    assert_eq!(threads.threads[0].tid, notes.prstatus[0].tid);
    assert_eq!(
        threads.threads[0].frames[0].pc.0, notes.prstatus[0].fields["rip"],
        "frame 0's pc is the thread's rip"
    );
}

/// testfile63: a 32-bit ARM core whose PT_LOADs point past its end (run-readelf-mixed-
/// corenote.sh: pid 11087, SIGSEGV). Refused as 32-bit (exit 2), or read as truncated
/// (exit 1) with those facts.
#[test]
fn elfutils_testfile63_arm_truncated() {
    let core = corpus::file("cores/elfutils/testfile63.bz2");
    let out = cli::json_of("info", &core, &[]);
    if unsupported_or_read(&out, "testfile63") {
        assert_eq!(out.code(), Some(1), "a truncated core\n{}", out.describe());
        let info: Info = cli::parse_json(&out, "testfile63");
        assert_eq!(info.pid.get(), Some(&11087));
        assert_eq!(info.signal.get().map(|s| s.number), Some(11));
        assert!(info.truncated);
    }
    let out = cli::json_of("threads", &core, &[]);
    unsupported_or_read(&out, "testfile63 threads");
}

// ---------------------------------------------------------------------------------------
// pyelftools: test/test_core_notes64.py, test_core_notes32.py

/// test_core_notes64.py: pid 23395 (NT_PRPSINFO), and NT_FILE's 10 entries with their start,
/// end, offset (page offset × 4096) and path.
#[test]
fn pyelftools_core_linux64() {
    let core = corpus::path("cores/pyelftools/core_linux64.elf");
    let info = cli::info(&core, &[]);
    assert_eq!(info.pid.get(), Some(&23395));
    let exe = "/home/max42/pyelftools/test/coredump_self";
    let libc = "/lib/x86_64-linux-gnu/libc-2.23.so";
    let ld = "/lib/x86_64-linux-gnu/ld-2.23.so";
    assert_mappings(
        &info,
        &[
            entry(0x00400000, 0x00401000, 0x00000000, exe),
            entry(0x00600000, 0x00601000, 0x00000000, exe),
            entry(0x00601000, 0x00602000, 0x00001000, exe),
            entry(0x7fa4593ae000, 0x7fa45956d000, 0x00000000, libc),
            entry(0x7fa45956d000, 0x7fa45976d000, 0x001bf000, libc),
            entry(0x7fa45976d000, 0x7fa459771000, 0x001bf000, libc),
            entry(0x7fa459771000, 0x7fa459773000, 0x001c3000, libc),
            entry(0x7fa459777000, 0x7fa45979d000, 0x00000000, ld),
            entry(0x7fa45999c000, 0x7fa45999d000, 0x00025000, ld),
            entry(0x7fa45999d000, 0x7fa45999e000, 0x00026000, ld),
        ],
        "core_linux64.elf",
    );
    let named = info
        .mappings
        .iter()
        .filter(|m| m.path.get().is_some_and(|p| p.starts_with('/')))
        .count();
    assert_eq!(named, 10, "NT_FILE has exactly 10 entries");
}

/// test_core_notes32.py: pid 11038, NT_FILE entries (page offsets in 4096-byte pages) —
/// refused as 32-bit, or read with those facts.
#[test]
fn pyelftools_core_linux32() {
    let core = corpus::path("cores/pyelftools/core_linux32.elf");
    let out = cli::json_of("info", &core, &[]);
    if unsupported_or_read(&out, "core_linux32.elf") {
        let info: Info = cli::parse_json(&out, "core_linux32.elf");
        assert_eq!(info.pid.get(), Some(&11038));
        let exe = "/tmp/coredump";
        let libc = "/lib/i386-linux-gnu/libc-2.27.so";
        let ld = "/lib/i386-linux-gnu/ld-2.27.so";
        assert_mappings(
            &info,
            &[
                entry(0x56624000, 0x56625000, 0, exe),
                entry(0x56625000, 0x56626000, 0, exe),
                entry(0x56626000, 0x56627000, 0x1000, exe),
                entry(0xf7d13000, 0xf7ee8000, 0, libc),
                entry(0xf7ee8000, 0xf7ee9000, 0x1d5 * 4096, libc),
                entry(0xf7ee9000, 0xf7eeb000, 0x1d5 * 4096, libc),
                entry(0xf7eeb000, 0xf7eec000, 0x1d7 * 4096, libc),
                entry(0xf7f39000, 0xf7f5f000, 0, ld),
                entry(0xf7f5f000, 0xf7f60000, 0x25 * 4096, ld),
                entry(0xf7f60000, 0xf7f61000, 0x26 * 4096, ld),
            ],
            "core_linux32.elf",
        );
    }
}

// ---------------------------------------------------------------------------------------

/// Every core of the corpus: `info` and `threads` (text and JSON) end with 0, 1 or 2 and
/// never panic; with 2, the error is one line.
#[test]
fn no_corpus_core_makes_heapmortem_panic() {
    let cores = [
        "cores/lldb/elf-core/linux-x86_64.core",
        "cores/lldb/elf-core/altmain.core",
        "cores/lldb/elf-core/linux-fpr_sse_x86_64.core",
        "cores/lldb/elf-core/linux-i386.core",
        "cores/lldb/elf-core/linux-fpr_sse_i386.core",
        "cores/lldb/elf-core/linux-arm.core",
        "cores/lldb/thread_crash/linux-x86_64.core",
        "cores/lldb/thread_crash/linux-i386.core",
        "cores/lldb/gcore/linux-x86_64.core",
        "cores/lldb/gcore/linux-i386.core",
        "cores/pyelftools/core_linux64.elf",
        "cores/pyelftools/core_linux32.elf",
        "cores/pyelftools/core_simple64.elf",
        "cores/drgn/crashme.core.zst",
        "cores/drgn/crashme_pie.core.zst",
        "cores/drgn/crashme_static.core.zst",
        "cores/drgn/crashme_static_pie.core.zst",
        "cores/drgn/crashme_pie_no_headers.core.zst",
        "cores/elfutils/testfile63.bz2",
        "cores/elfutils/testfile65.bz2",
        "cores/elfutils/testfile_aarch64_core.bz2",
        "cores/elfutils/backtrace.x86_64.core.bz2",
        "cores/elfutils/backtrace.aarch64.core.bz2",
        "cores/chap/OneAllocated/core.48555.xz",
        "cores/chap/Truncated/core.48555.1M",
    ];
    for rel in cores {
        let core = corpus::file(rel);
        for sub in ["info", "threads"] {
            for format in ["text", "json"] {
                let out = cli::heapmortem([os(sub), core.as_os_str(), os("--format"), os(format)]);
                cli::assert_no_panic(&out);
                match out.code() {
                    Some(0) | Some(1) => {}
                    Some(2) => cli::assert_one_line_error(&out),
                    _ => panic!("{rel}: unexpected exit\n{}", out.describe()),
                }
            }
        }
    }
}
