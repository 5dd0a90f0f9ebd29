//! `heapmortem threads` against gdb on real cores of the C fixtures, in every x86_64 build
//! variant: the same threads (tids), the crashing thread first, and frame by frame the same
//! function names as `gdb -batch -ex 'thread apply all bt' EXE CORE` (inlined frames and
//! `<signal handler called>` included); then pcs and file:line where gdb prints them; then
//! the text format's gdb-like shape.

use crate::harness::cli::{self, Threads};
use crate::harness::compare::{self, is_subsequence};
use crate::harness::fixture::{self, known, Core, CoreMethod, FramePointer, Link, Variant};
use crate::harness::gdb::{self, parse_frame};

/// heapmortem's and gdb's readings of fixture `name` built as `variant`.
fn both(name: &str, variant: Variant) -> (Core, gdb::GdbCore, Threads) {
    let core = fixture::core(name, variant);
    let gdb = gdb::fixture_backtrace(&core);
    let hm = cli::threads(&core.core, &[]);
    (core, gdb, hm)
}

fn check_functions(name: &str, variant: Variant) {
    let (core, gdb, hm) = both(name, variant);
    let problems = compare::function_differences(&gdb, &hm);
    assert!(
        problems.is_empty(),
        "`heapmortem threads {}` disagrees with gdb ({name}, {variant}, core by {:?}):\n{}\n\
         --- gdb ---\n{}",
        core.core.display(),
        core.method,
        problems.join("\n"),
        gdb.raw
    );
    // The crashing thread carries the signal gdb reports for the core. The others carry
    // none: the kernel writes NT_SIGINFO for the dumping thread only, and lldb's
    // TestLinuxCoreThreads.py asserts signal 0 for the other threads of such a core even
    // though their pr_cursig repeats the signal (see tests/corpus.rs).
    let first = &hm.threads[0];
    assert_eq!(
        first.signal.get().map(|s| s.number),
        gdb.signal,
        "signal of the crashing thread ({name}, {variant})"
    );
    if core.method == CoreMethod::Kernel {
        for t in &hm.threads[1..] {
            let sig = t.signal.get().map(|s| s.number);
            assert!(
                matches!(sig, None | Some(0)),
                "thread {} did not receive the signal but heapmortem says {sig:?} ({name}, {variant})",
                t.tid
            );
        }
    }
}

fn check_locations(name: &str, variant: Variant) {
    let (core, gdb, hm) = both(name, variant);
    let problems = compare::location_differences(&gdb, &hm);
    assert!(
        problems.is_empty(),
        "`heapmortem threads {}`: pcs or lines differ from gdb's ({name}, {variant}):\n{}",
        core.core.display(),
        problems.join("\n")
    );
}

macro_rules! variant_tests {
    ($($module:ident => $variant:expr;)*) => {$(
        mod $module {
            use super::*;
            const VARIANT: Variant = $variant;

            #[test]
            fn threads_fixture_functions_match_gdb() {
                check_functions(known::THREADS, VARIANT);
            }

            #[test]
            fn threads_fixture_pcs_and_lines_match_gdb() {
                check_locations(known::THREADS, VARIANT);
            }

            #[test]
            fn abort_fixture_functions_match_gdb() {
                check_functions(known::ABORT, VARIANT);
            }

            #[test]
            fn abort_fixture_pcs_and_lines_match_gdb() {
                check_locations(known::ABORT, VARIANT);
            }

            #[test]
            fn sighandler_fixture_functions_match_gdb() {
                check_functions(known::SIGHANDLER, VARIANT);
            }

            #[test]
            fn sighandler_fixture_pcs_and_lines_match_gdb() {
                check_locations(known::SIGHANDLER, VARIANT);
            }
        }
    )*};
}

// Keep in step with fixture::X86_64_VARIANTS (checked by `every_variant_has_tests`).
variant_tests! {
    x86_64_o0_pie => Variant::x86_64(0, Link::Pie, FramePointer::Default);
    x86_64_o1_pie => Variant::x86_64(1, Link::Pie, FramePointer::Default);
    x86_64_o2_pie => Variant::x86_64(2, Link::Pie, FramePointer::Default);
    x86_64_o2_nopie => Variant::x86_64(2, Link::NoPie, FramePointer::Default);
    x86_64_o2_static => Variant::x86_64(2, Link::Static, FramePointer::Default);
    x86_64_o0_static => Variant::x86_64(0, Link::Static, FramePointer::Default);
    x86_64_o2_static_pie => Variant::x86_64(2, Link::StaticPie, FramePointer::Default);
    x86_64_o2_pie_fp => Variant::x86_64(2, Link::Pie, FramePointer::Keep);
    x86_64_o2_static_fp => Variant::x86_64(2, Link::Static, FramePointer::Keep);
    x86_64_o1_nopie_nofp => Variant::x86_64(1, Link::NoPie, FramePointer::Omit);
}

#[test]
fn every_variant_has_tests() {
    let source = include_str!("threads.rs");
    for v in fixture::X86_64_VARIANTS {
        let module = v.name().to_lowercase().replace('-', "_");
        assert!(
            source.contains(&format!("    {module} => ")),
            "variant {v} has no module `{module}` in tests/threads.rs"
        );
    }
}

/// The harness itself: gdb must see each fixture's call chain in every variant, and the
/// parked threads in their named functions. If this fails, the fixture or the harness is
/// broken, not heapmortem.
#[test]
fn gdb_sees_the_fixture_call_chains() {
    for &variant in fixture::X86_64_VARIANTS {
        for &name in known::ALL {
            let core = fixture::core(name, variant);
            let gdb = gdb::fixture_backtrace(&core);
            let crashing = gdb.crashing();
            assert!(
                is_subsequence(known::crash_chain(name), &crashing.functions()),
                "{name} ({variant}): gdb's crashing thread lacks {:?}\n{}",
                known::crash_chain(name),
                gdb.raw
            );
            assert_eq!(
                gdb.threads.len(),
                known::thread_count(name),
                "{name} ({variant}): thread count\n{}",
                gdb.raw
            );
            assert_eq!(gdb.signal, Some(known::signal(name)), "{name} ({variant})");
            if let Some(sig) = core.died_of {
                assert_eq!(sig, known::signal(name), "{name} ({variant}) died of");
            }
            if name == known::THREADS {
                for (inner, outer) in known::PARKED {
                    assert!(
                        gdb.threads
                            .iter()
                            .any(|t| is_subsequence(&[inner, outer], &t.functions())),
                        "{name} ({variant}): no thread parked in {inner} <- {outer}\n{}",
                        gdb.raw
                    );
                }
            }
            if name == known::SIGHANDLER {
                assert!(
                    crashing.functions().contains(&gdb::SIGNAL_FRAME),
                    "{name} ({variant}): gdb shows no signal frame\n{}",
                    gdb.raw
                );
            }
        }
    }
}

/// The text format follows gdb's `thread apply all bt`: a header per thread naming its tid,
/// then `#N  0x… in function (…) at file:line` lines, and says what the JSON says.
#[test]
fn text_format_is_gdb_shaped() {
    let variant = Variant::x86_64(2, Link::Pie, FramePointer::Default);
    let core = fixture::core(known::THREADS, variant);
    let json = cli::threads(&core.core, &[]);
    let out = cli::heapmortem([
        "threads".as_ref(),
        core.core.as_os_str(),
        "--format".as_ref(),
        "text".as_ref(),
    ]);
    cli::assert_exit(&out, 0);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for thread in &json.threads {
        // The thread's header: the first later line that names its tid and is not a frame.
        let tid = thread.tid.to_string();
        let header = lines[at..]
            .iter()
            .position(|l| {
                !l.trim_start().starts_with('#')
                    && l.split(|c: char| !c.is_ascii_digit()).any(|w| w == tid)
            })
            .unwrap_or_else(|| panic!("no header line naming thread {tid}\n{text}"));
        at += header + 1;
        for (i, frame) in thread.frames.iter().enumerate() {
            while at < lines.len() && lines[at].trim().is_empty() {
                at += 1;
            }
            let line = lines.get(at).copied().unwrap_or("");
            at += 1;
            let parsed = parse_frame(line.trim_start()).unwrap_or_else(|| {
                panic!("thread {tid} frame {i}: not a gdb-style frame line: {line:?}\n{text}")
            });
            assert_eq!(parsed.level, i, "frame number in {line:?}");
            let want = frame.function.get().map(String::as_str).unwrap_or("??");
            assert!(
                compare::same_function(&parsed.function, Some(want)),
                "thread {tid} frame {i}: text says {:?}, JSON says {want:?}: {line:?}",
                parsed.function
            );
            if let Some(pc) = parsed.pc {
                assert_eq!(pc, frame.pc.0, "thread {tid} frame {i}: pc in {line:?}");
            } else {
                assert!(
                    i == 0 || frame.inlined,
                    "thread {tid} frame {i}: gdb prints an address for a caller frame that \
                     is not inlined: {line:?}"
                );
            }
            if let (Some(file), Some(l)) = (frame.file.get(), frame.line.get()) {
                assert!(
                    line.contains(&format!(" at {file}:{l}")),
                    "thread {tid} frame {i}: {line:?} lacks ` at {file}:{l}`"
                );
            }
        }
    }
}

/// A real Debian program: sqlite3 waiting for a line on a pipe, in glibc's `fgets`, dumped by
/// gdb's `gcore`. glibc 2.36 (Debian 12, with libc6-dbg) shows the two things gdb does there
/// that a plain reading of the stack and line table does not: `_IO_getline` ends in a `jmp`
/// to `_IO_getline_info`, so its frame is on no stack and gdb rebuilds it from DWARF
/// call-site records (a tail-call frame, and `_IO_fgets`, split into hot and cold parts, is
/// described by address ranges); and the return address in `_IO_new_file_underflow` has three
/// line-table rows at its address, of which gdb reports the statement, libioP.h:947.
/// heapmortem must give gdb's frames, pcs and lines.
#[test]
fn sqlite3_waiting_in_fgets_matches_gdb() {
    use crate::harness::process::{self, run};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    process::require("sqlite3", "sqlite3");
    process::require("gcore", "gdb");
    /// The waiting sqlite3, killed when dropped (also when the test fails).
    struct Waiting(std::process::Child);
    impl Drop for Waiting {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = crate::harness::unique_dir("sqlite3-fgets");
    let waiting = Waiting(
        Command::new("sqlite3")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sqlite3 starts"),
    );
    let pid = waiting.0.id();
    // Blocked in read(2) on stdin: /proc/PID/syscall says syscall 0 (x86_64's read).
    let start = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .map_or(true, |s| !s.starts_with("0 0x0 "))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sqlite3 never waited for input"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let prefix = dir.join("core");
    let mut gcore = Command::new("gcore");
    gcore.arg("-o").arg(&prefix).arg(pid.to_string());
    run(&mut gcore, Duration::from_secs(120)).expect_success("gcore of sqlite3");
    drop(waiting);
    let core = dir.join(format!("core.{pid}"));

    let gdb = gdb::GdbRun {
        exe: Some("/usr/bin/sqlite3".into()),
        ..gdb::GdbRun::default()
    }
    .on(&core);
    let text = &gdb.raw;
    assert!(
        gdb.crashing().functions().contains(&"__GI__IO_getline") && text.contains("libioP.h:947"),
        "gdb shows no tail-call frame or no statement line here (not glibc 2.36 with \
         libc6-dbg?): this test would prove nothing\n{text}"
    );
    let hm = cli::threads(&core, &[]);
    let mut problems = compare::function_differences(&gdb, &hm);
    problems.extend(compare::location_differences(&gdb, &hm));
    assert!(
        problems.is_empty(),
        "sqlite3 in fgets: heapmortem differs from gdb:\n{}\n--- gdb ---\n{text}",
        problems.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
