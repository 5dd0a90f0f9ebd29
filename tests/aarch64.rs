//! aarch64: the C fixtures cross-compiled with `aarch64-linux-gnu-gcc -static` and run under
//! `qemu-aarch64`, which writes the guest's core (`qemu_PROG_DATE_PID.core`, checked to
//! exist); compared with `gdb-multiarch` on the same core (threads, frames, pcs and lines, and
//! each thread's pc register). Without gdb-multiarch the fixtures' known call chains are the
//! reference. Then the real aarch64 Linux cores of elfutils' tests: backtrace.aarch64{,.fp}
//! (backtrace-subr.sh's checks) and testfile_aarch64_core (every fact of its expected
//! `readelf -n` in run-readelf-mixed-corenote.sh).

use std::ffi::OsStr;

use crate::harness::cli::{self, Threads};
use crate::harness::compare::{self, is_subsequence};
use crate::harness::corpus;
use crate::harness::fixture::{self, known, CoreMethod, FramePointer, Link, Variant};
use crate::harness::gdb::GdbRun;
use crate::harness::process;
use crate::harness::readelf::{self, FileEntry};

/// The cross compiler and qemu-user (scripts/test.sh installs them); also used by the
/// aarch64 jemalloc tests (tests/heap_jemalloc.rs).
pub(crate) fn have_toolchain() -> bool {
    process::require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
        && process::require("qemu-aarch64", "qemu-user")
}

/// gdb-multiarch, the ground truth for aarch64 backtraces (scripts/test.sh installs it).
fn have_gdb_multiarch() -> bool {
    process::require("gdb-multiarch", "gdb-multiarch")
}

fn check_fixture(name: &str, variant: Variant) {
    if !have_toolchain() {
        return;
    }
    let core = fixture::core(name, variant);
    assert_eq!(core.method, CoreMethod::Qemu);
    // qemu's cores have no NT_FILE: the executable is named with --exe.
    let exe_args = [OsStr::new("--exe"), core.exe.as_os_str()];
    let hm: Threads = cli::threads(&core.core, &exe_args);
    let ctx = format!("{name} ({variant}), core {}", core.core.display());
    assert_eq!(hm.threads.len(), known::thread_count(name), "{ctx}");
    let notes = readelf::notes(&core.core);
    assert_eq!(
        hm.threads[0].tid, notes.prstatus[0].tid,
        "the thread that got the signal (first NT_PRSTATUS) first: {ctx}"
    );
    for p in &notes.prstatus {
        let t = hm.threads.iter().find(|t| t.tid == p.tid).expect("thread");
        assert_eq!(
            Some(t.frames[0].pc.0),
            p.fields.get("pc").copied(),
            "thread {}: frame 0 is the pc register: {ctx}",
            p.tid
        );
    }
    let crashing: Vec<&str> = hm.threads[0]
        .functions()
        .into_iter()
        .map(|f| f.unwrap_or("??"))
        .collect();
    assert!(
        is_subsequence(known::crash_chain(name), &crashing),
        "{ctx}: crashing thread {crashing:?} lacks {:?}",
        known::crash_chain(name)
    );
    if name == known::THREADS {
        for (inner, outer) in known::PARKED {
            assert!(
                hm.threads.iter().any(|t| {
                    let f: Vec<&str> = t
                        .functions()
                        .into_iter()
                        .map(|f| f.unwrap_or("??"))
                        .collect();
                    is_subsequence(&[inner, outer], &f)
                }),
                "{ctx}: no thread parked in {inner} <- {outer}"
            );
        }
    }
    // gdb-multiarch 13.1 never finishes unwinding through the sigreturn trampoline qemu-user
    // puts on the guest's stack page (it hangs after `on_sigusr1`), so the signal-handler
    // fixture is checked against its known call chain (above) only.
    if name == known::SIGHANDLER || !have_gdb_multiarch() {
        return;
    }
    let gdb = GdbRun {
        program: Some("gdb-multiarch"),
        exe: Some(core.exe.clone()),
        registers: vec!["pc".into(), "sp".into()],
        ..GdbRun::default()
    }
    .on(&core.core);
    let mut problems = compare::function_differences(&gdb, &hm);
    problems.extend(compare::location_differences(&gdb, &hm));
    for gt in &gdb.threads {
        if let (Some(pc), Some(ht)) = (
            gt.registers.get("pc"),
            hm.threads.iter().find(|t| t.tid == gt.tid),
        ) {
            if ht.frames.first().map(|f| f.pc.0) != Some(*pc) {
                problems.push(format!("thread {}: gdb's pc register {pc:#x}", gt.tid));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "`heapmortem threads` disagrees with gdb-multiarch: {ctx}\n{}\n--- gdb ---\n{}",
        problems.join("\n"),
        gdb.raw
    );

    let info = cli::info(&core.core, &exe_args);
    assert_eq!(info.arch, "aarch64", "{ctx}");
    assert_eq!(info.os, "linux", "{ctx}");
    assert_eq!(info.pid.get().copied(), gdb.pid, "{ctx}");
    // qemu writes no NT_SIGINFO; gdb may then print no signal at all. pr_cursig it is.
    let signal = gdb.signal.or(Some(notes.prstatus[0].cursig));
    assert_eq!(info.signal.get().map(|s| s.number), signal, "{ctx}");
    let mut tids: Vec<u64> = info.threads.iter().map(|t| t.tid).collect();
    tids.sort_unstable();
    assert_eq!(tids, gdb.tids(), "{ctx}");
    assert!(!info.truncated, "{ctx}");
}

macro_rules! variant_tests {
    ($($module:ident => $variant:expr;)*) => {$(
        mod $module {
            use super::*;
            const VARIANT: Variant = $variant;

            #[test]
            fn threads_fixture_under_qemu() {
                check_fixture(known::THREADS, VARIANT);
            }

            #[test]
            fn abort_fixture_under_qemu() {
                check_fixture(known::ABORT, VARIANT);
            }

            #[test]
            fn sighandler_fixture_under_qemu() {
                check_fixture(known::SIGHANDLER, VARIANT);
            }
        }
    )*};
}

// Keep in step with fixture::AARCH64_VARIANTS.
variant_tests! {
    aarch64_o0_static => Variant::aarch64(0, Link::Static, FramePointer::Default);
    aarch64_o2_static => Variant::aarch64(2, Link::Static, FramePointer::Default);
    aarch64_o2_static_fp => Variant::aarch64(2, Link::Static, FramePointer::Keep);
}

#[test]
fn every_variant_has_tests() {
    let source = include_str!("aarch64.rs");
    for v in fixture::AARCH64_VARIANTS {
        let module = v.name().to_lowercase().replace('-', "_");
        assert!(
            source.contains(&format!("    {module} => ")),
            "variant {v} has no module `{module}` in tests/aarch64.rs"
        );
    }
}

/// qemu-aarch64 writes a guest core of the crashing program (not only the kernel's core of
/// qemu itself): an ELF core for EM_AARCH64 whose notes hold the fixture's threads.
#[test]
fn qemu_writes_a_guest_core() {
    if !have_toolchain() {
        return;
    }
    let v = Variant::aarch64(2, Link::Static, FramePointer::Default);
    let core = fixture::core(known::THREADS, v);
    corpus::assert_elf(&core.core);
    let notes = readelf::notes(&core.core);
    assert_eq!(notes.prstatus.len(), 4, "four threads\n{}", notes.raw);
    assert_eq!(notes.prstatus[0].cursig, 11, "SIGSEGV\n{}", notes.raw);
    let header = std::process::Command::new("eu-readelf")
        .arg("-h")
        .arg(&core.core)
        .output()
        .expect("eu-readelf -h");
    let header = String::from_utf8_lossy(&header.stdout);
    assert!(header.contains("AARCH64"), "not an aarch64 core:\n{header}");
    assert!(header.contains("CORE"), "not a core file:\n{header}");
}

#[test]
fn elfutils_backtrace_aarch64_core() {
    crate::corpus::check_elfutils_backtrace("aarch64");
}

#[test]
fn elfutils_backtrace_aarch64_fp_core() {
    crate::corpus::check_elfutils_backtrace("aarch64.fp");
}

/// run-readelf-mixed-corenote.sh, testfile_aarch64_core (`int main () { return *(int
/// *)0x12345678; }`): pid 16547, SIGSEGV at 0x12345678, one thread whose pc is 0x400548,
/// NT_FILE's 6 entries, and NT_ARM_TLS's thread pointer.
#[test]
fn elfutils_testfile_aarch64_core() {
    let core = corpus::file("cores/elfutils/testfile_aarch64_core.bz2");
    let info = cli::info(&core, &[]);
    assert_eq!(info.os, "linux");
    assert_eq!(info.arch, "aarch64");
    assert_eq!(info.pid.get(), Some(&16547));
    let signal = info.signal.get().expect("a signal");
    assert_eq!(signal.number, 11);
    if let Some(addr) = signal.address {
        assert_eq!(addr, 0x12345678, "fault address");
    }
    assert_eq!(
        info.threads.iter().map(|t| t.tid).collect::<Vec<_>>(),
        vec![16547]
    );
    let a_out = "/root/elfutils/build/a.out";
    let libc = "/usr/lib64/libc-2.17.so";
    let ld = "/usr/lib64/ld-2.17.so";
    let want = [
        FileEntry {
            start: 0x400000,
            end: 0x410000,
            offset: 0,
            path: a_out.into(),
        },
        FileEntry {
            start: 0x410000,
            end: 0x420000,
            offset: 0,
            path: a_out.into(),
        },
        FileEntry {
            start: 0x7fb7370000,
            end: 0x7fb74d0000,
            offset: 0,
            path: libc.into(),
        },
        FileEntry {
            start: 0x7fb74d0000,
            end: 0x7fb74f0000,
            offset: 0x150000,
            path: libc.into(),
        },
        FileEntry {
            start: 0x7fb7520000,
            end: 0x7fb7540000,
            offset: 0,
            path: ld.into(),
        },
        FileEntry {
            start: 0x7fb7540000,
            end: 0x7fb7550000,
            offset: 0x10000,
            path: ld.into(),
        },
    ];
    let problems = crate::info::mapping_differences(&info, &want);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let threads = cli::threads(&core, &[]);
    assert_eq!(threads.threads.len(), 1);
    assert_eq!(threads.threads[0].tid, 16547);
    assert_eq!(threads.threads[0].frames[0].pc.0, 0x400548, "pc");
    assert_eq!(threads.threads[0].signal.get().map(|s| s.number), Some(11));
    // NT_ARM_TLS: the thread pointer, as the script's `eu-readelf -n` prints it ("tls:
    // 0x0000007fb73606f0"); jemalloc's thread caches are tied to threads by it.
    let bytes = std::fs::read(&core).expect("read the core");
    let file = core_reader::CoreFile::from_bytes("testfile_aarch64_core", bytes).expect("opens");
    let notes = core_reader::ProcessNotes::read(&file);
    assert_eq!(
        notes.threads[0].registers.get("tpidr_el0"),
        Some(0x7fb73606f0),
        "tpidr_el0"
    );
}
