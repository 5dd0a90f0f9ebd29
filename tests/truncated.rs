//! Cores cut short, and inputs that are not cores. The contract: exit 1 when the input could
//! be read only in part (the output says what was skipped, `truncated: true`), exit 2 when
//! nothing can be said (one line on stderr) — never a panic.
//!
//! A fixture core is cut inside the ELF header, inside the program headers, inside the
//! notes, inside the first PT_LOAD with data, half way, and near the end. What survives the
//! cut must still be reported right: where the notes are whole, pid, signal and every
//! thread (with its pc) as eu-readelf and gdb read them from the whole core. chap's
//! truncated cores (cores/chap/Truncated, `run`: `core.48555.1M` "is truncated", exit 1;
//! `core.48555` complete, exit 0) are checked the same way.
//!
//! The heap fixtures' cores are cut at 1 … 99 % and every subcommand run on each cut: exit
//! 0, 1 or 2, no panic, in bounded time, by the truncation rule of the commands that walk
//! the heap: a walk that found its allocator's state, even in part, gives what survives and
//! exits 1 saying what was lost; one that found nothing exits 2 with one line naming the
//! truncation — the same for `heap`, `leaks` and `explain`. A glibc core whose tail (libc's
//! data, so `main_arena`) was cut still gives its heaps, with the figures malloc_info
//! printed for the arenas the cut spared; a jemalloc core that lost jemalloc's data (its
//! globals) still gives its arenas, with the figures malloc_stats_print printed.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Duration;

use crate::harness::cli::{self, Info, Threads};
use crate::harness::corpus;
use crate::harness::fixture::{self, known, FramePointer, Link, Variant};
use crate::harness::gdb;
use crate::harness::process::Output;
use crate::harness::readelf::{self, Notes};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Nothing can be said: exit 2 and one line on stderr.
    Unreadable,
    /// Either (the program headers are cut: a reader may give up or read the notes).
    PartialOrUnreadable,
    /// Exit 1, what could be read, and what was lost.
    Partial,
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The one line of a walk that found no heap in a truncated core must name the truncation.
fn assert_names_truncation(out: &Output, what: &str) {
    cli::assert_one_line_error(out);
    assert!(
        out.stderr_str().contains("truncated") && out.stdout.is_empty(),
        "{what}: no heap in a truncated core, but the error does not name the truncation (or \
         something was printed)\n{}",
        out.describe()
    );
}

/// The lines on stderr must say what was lost.
fn assert_says_what_was_lost(out: &Output, what: &str) {
    let stderr = out.stderr_str().to_ascii_lowercase();
    assert!(
        [
            "truncat",
            "missing",
            "lost",
            "cut short",
            "beyond the end",
            "past the end"
        ]
        .iter()
        .any(|w| stderr.contains(w)),
        "{what}: exit 1 but stderr does not say what was lost\n{}",
        out.describe()
    );
}

fn check_exit(out: &Output, expect: Expect, what: &str) -> bool {
    cli::assert_no_panic(out);
    match (expect, out.code()) {
        (Expect::Unreadable | Expect::PartialOrUnreadable, Some(2)) => {
            cli::assert_one_line_error(out);
            false
        }
        (Expect::Partial | Expect::PartialOrUnreadable, Some(1)) => {
            assert_says_what_was_lost(out, what);
            true
        }
        _ => panic!("{what}: expected {expect:?}\n{}", out.describe()),
    }
}

/// Runs info and threads (JSON and text) on `cut` and checks what survives.
fn check_cut(cut: &Path, expect: Expect, notes_whole: bool, full: &Notes, what: &str) {
    let out = cli::json_of("info", cut, &[]);
    if check_exit(&out, expect, &format!("{what}: info")) {
        let info: Info = cli::parse_json(&out, what);
        assert!(info.truncated, "{what}: `truncated` must be true");
        if notes_whole {
            let ps = full.prpsinfo.as_ref().expect("PRPSINFO in the whole core");
            assert_eq!(info.pid.get(), Some(&ps.pid), "{what}: pid");
            // NT_SIGINFO where the kernel wrote one (since Linux 3.7), else pr_cursig.
            let signal = full.si_signo.or(full.prstatus.first().map(|p| p.cursig));
            assert_eq!(
                info.signal.get().map(|s| s.number),
                signal,
                "{what}: signal"
            );
            let mut tids: Vec<u64> = info.threads.iter().map(|t| t.tid).collect();
            tids.sort_unstable();
            let mut want: Vec<u64> = full.prstatus.iter().map(|p| p.tid).collect();
            want.sort_unstable();
            assert_eq!(tids, want, "{what}: threads");
        }
    }
    let out = cli::json_of("threads", cut, &[]);
    if check_exit(&out, expect, &format!("{what}: threads")) {
        let threads: Threads = cli::parse_json(&out, what);
        if notes_whole {
            assert_eq!(
                threads.threads.len(),
                full.prstatus.len(),
                "{what}: threads"
            );
            for p in &full.prstatus {
                let t = threads
                    .threads
                    .iter()
                    .find(|t| t.tid == p.tid)
                    .unwrap_or_else(|| panic!("{what}: thread {} missing", p.tid));
                let f0 = t
                    .frames
                    .first()
                    .unwrap_or_else(|| panic!("{what}: thread {} has no frame", p.tid));
                assert_eq!(
                    Some(f0.pc.0),
                    p.fields.get("rip").copied(),
                    "{what}: thread {}'s frame 0 is its rip",
                    p.tid
                );
            }
        }
    }
    for sub in ["info", "threads"] {
        let out = cli::heapmortem([os(sub), cut.as_os_str(), os("--format"), os("text")]);
        check_exit(&out, expect, &format!("{what}: {sub} --format text"));
    }
}

fn full_core() -> fixture::Core {
    fixture::core(
        known::THREADS,
        Variant::x86_64(2, Link::Pie, FramePointer::Default),
    )
}

#[test]
fn cut_inside_the_elf_header() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let cut = fixture::truncated_copy(&core.core, 40, "ehdr");
    check_cut(&cut, Expect::Unreadable, false, &full, "cut at 40 bytes");
    let empty = fixture::truncated_copy(&core.core, 0, "empty");
    check_cut(&empty, Expect::Unreadable, false, &full, "empty file");
}

#[test]
fn cut_inside_the_program_headers() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let phdrs = readelf::program_headers(&core.core);
    let len = 64 + 56 * (phdrs.len() as u64 / 2) + 10;
    let cut = fixture::truncated_copy(&core.core, len, "phdrs");
    check_cut(
        &cut,
        Expect::PartialOrUnreadable,
        false,
        &full,
        &format!("cut at {len} (inside the program headers)"),
    );
}

#[test]
fn cut_inside_the_notes() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let note = readelf::program_headers(&core.core)
        .into_iter()
        .find(|p| p.kind == "NOTE")
        .expect("a PT_NOTE");
    let len = note.offset + note.filesz / 2;
    let cut = fixture::truncated_copy(&core.core, len, "notes");
    check_cut(
        &cut,
        Expect::Partial,
        false,
        &full,
        &format!("cut at {len:#x} (inside the notes)"),
    );
}

#[test]
fn cut_inside_the_first_load() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let load = readelf::program_headers(&core.core)
        .into_iter()
        .find(|p| p.kind == "LOAD" && p.filesz > 0)
        .expect("a PT_LOAD with data");
    let len = load.offset + load.filesz / 2;
    let cut = fixture::truncated_copy(&core.core, len, "load");
    check_cut(
        &cut,
        Expect::Partial,
        true,
        &full,
        &format!("cut at {len:#x} (inside the first PT_LOAD)"),
    );
}

#[test]
fn cut_half_way() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let size = std::fs::metadata(&core.core).unwrap().len();
    let cut = fixture::truncated_copy(&core.core, size / 2, "half");
    check_cut(&cut, Expect::Partial, true, &full, "cut half way");
}

/// Cut 100 bytes before the end: only the last segment (the vsyscall page or the top of a
/// stack) is lost, so every thread's backtrace that does not need it is still gdb's.
#[test]
fn cut_near_the_end() {
    let core = full_core();
    let full = readelf::notes(&core.core);
    let size = std::fs::metadata(&core.core).unwrap().len();
    let cut = fixture::truncated_copy(&core.core, size - 100, "end");
    check_cut(
        &cut,
        Expect::Partial,
        true,
        &full,
        "cut 100 bytes before the end",
    );

    // Which addresses the cut took away.
    let lost: Vec<(u64, u64)> = readelf::program_headers(&core.core)
        .into_iter()
        .filter(|p| p.kind == "LOAD" && p.filesz > 0 && p.offset + p.filesz > size - 100)
        .map(|p| (p.vaddr, p.vaddr + p.memsz))
        .collect();
    let gdb = gdb::fixture_backtrace(&core);
    let out = cli::json_of("threads", &cut, &[]);
    cli::assert_exit(&out, 1);
    let threads: Threads = cli::parse_json(&out, "cut near the end");
    for gt in &gdb.threads {
        let touches_lost = gt.frames.iter().any(|f| {
            f.pc.is_some_and(|pc| lost.iter().any(|(a, b)| (*a..*b).contains(&pc)))
        });
        if touches_lost {
            continue;
        }
        let ht = threads
            .threads
            .iter()
            .find(|t| t.tid == gt.tid)
            .expect("thread");
        let names: Vec<Option<&str>> = ht.functions();
        let want: Vec<&str> = gt.functions();
        let same = names.len() == want.len()
            && want
                .iter()
                .zip(&names)
                .all(|(g, h)| crate::harness::compare::same_function(g, *h));
        assert!(
            same,
            "thread {}: the cut lost {lost:x?} only, yet the backtrace changed:\n{}",
            gt.tid,
            crate::harness::compare::side_by_side(Some(gt), Some(ht))
        );
    }
}

/// chap's Truncated test: `core.48555.1M` and `core.48555.512K` are cut copies of
/// `core.48555` (chap: "is truncated", exit 1); the whole `core.48555` reads clean (exit 0).
#[test]
fn chap_truncated_cores() {
    let whole = corpus::file("cores/chap/Truncated/core.48555.xz");
    let info = cli::info(&whole, &[]);
    assert!(
        !info.truncated,
        "core.48555 is complete (chap: expectPass.exit 0)"
    );
    let full = readelf::notes(&whole);
    for cut in ["core.48555.1M", "core.48555.512K"] {
        let path = corpus::path(&format!("cores/chap/Truncated/{cut}"));
        check_cut(&path, Expect::Partial, true, &full, cut);
    }
}

/// Inputs that are not cores at all: exit 2, one line, no panic.
#[test]
fn unreadable_inputs() {
    let core = full_core();
    let dir = crate::harness::unique_dir("not-cores");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not an ELF file\n").unwrap();
    let missing = dir.join("no-such-core");
    let cases: [(&Path, &str); 3] = [
        (&core.exe, "an executable, not a core"),
        (&text, "a text file"),
        (&missing, "a path that does not exist"),
    ];
    for (path, what) in cases {
        for sub in ["info", "threads"] {
            for format in ["text", "json"] {
                let out = cli::heapmortem([os(sub), path.as_os_str(), os("--format"), os(format)]);
                cli::assert_exit(&out, 2);
                cli::assert_one_line_error(&out);
                assert!(
                    out.stdout.is_empty(),
                    "{what}: {sub} printed on stdout\n{}",
                    out.describe()
                );
            }
        }
    }
}

/// `heapmortem … 2>&1 | head` where head has stopped reading: the lines on stderr meet a
/// closed pipe. The exit code stays the contract's (1: read in part; 2: not a core), not a
/// panic's 101. The pipe's reading end is closed before the run, so every write fails.
#[test]
fn a_closed_stderr_is_not_a_panic() {
    let cut = corpus::path("cores/chap/Truncated/core.48555.1M");
    let dir = crate::harness::unique_dir("closed-stderr");
    for (path, code) in [(cut.as_path(), 1), (dir.as_path(), 2)] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let status = std::process::Command::new(cli::exe())
            .arg("info")
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(writer)
            .status()
            .expect("heapmortem runs");
        assert_eq!(
            status.code(),
            Some(code),
            "info {} with stderr closed",
            path.display()
        );
    }
}

/// Where each fixture core is cut, in percent of its length.
const PERCENTS: [u64; 9] = [1, 5, 10, 20, 40, 60, 80, 95, 99];

/// What one run may take (scaled by `HEAPMORTEM_TEST_TIMEOUT_SCALE`): a debug build needs
/// 2–10 s alone (most of it reading libc6-dbg's DWARF), several times that beside other
/// builds on two CPUs; a hang on what the cut left is what this catches.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// info, threads, heap, leaks, explain, diff (from the whole core to the cut one) and report
/// on `core` cut at each of [`PERCENTS`]:
/// every exit 1 says what was lost; `heap`, `leaks` and `explain` follow the truncation
/// rule (a heap not found in the cut core is exit 1 with one line naming the truncation and
/// nothing on stdout, and where `heap` found nothing, the other two found nothing either).
fn sweep(core: &Path, label: &str) {
    let len = std::fs::metadata(core).expect("core").len();
    for p in PERCENTS {
        let cut = fixture::truncated_copy(core, len * p / 100, &format!("{label}-{p}"));
        let html = cut.with_extension("html");
        let c = || OsString::from(&cut);
        let runs: [(&str, Vec<OsString>); 7] = [
            ("info", vec!["info".into(), c()]),
            ("threads", vec!["threads".into(), c()]),
            (
                "heap",
                vec!["heap".into(), c(), "--format".into(), "json".into()],
            ),
            ("leaks", vec!["leaks".into(), c()]),
            ("explain", vec!["explain".into(), c(), "0x1000".into()]),
            ("diff", vec!["diff".into(), core.into(), c()]),
            (
                "report",
                vec!["report".into(), c(), "-o".into(), html.into()],
            ),
        ];
        let mut heap_found_nothing = false;
        for (sub, args) in runs {
            let what = format!("{label} cut at {p}%: {sub}");
            let out = cli::heapmortem(args);
            let took = out.elapsed;
            cli::assert_no_panic(&out);
            let walks = ["heap", "leaks", "explain"].contains(&sub);
            // A walk that found nothing prints nothing on stdout and one line on stderr
            // (explain's answer to an address in no allocation is a line beside the
            // truncation's: its walk found something).
            let found_nothing = walks
                && out.code() == Some(1)
                && out.stdout.is_empty()
                && out.stderr_str().lines().count() == 1;
            match out.code() {
                Some(0) => {}
                Some(1) if found_nothing => assert_names_truncation(&out, &what),
                Some(1) => assert_says_what_was_lost(&out, &what),
                Some(2) if walks => panic!(
                    "{what}: exit 2 on a truncated core: the rule says exit 1\n{}",
                    out.describe()
                ),
                Some(2) => cli::assert_one_line_error(&out),
                other => panic!("{what}: exit {other:?}\n{}", out.describe()),
            }
            match sub {
                "heap" => heap_found_nothing = found_nothing,
                "leaks" | "explain" if heap_found_nothing => assert!(
                    found_nothing,
                    "{what}: `heap` found no heap in this cut, so {sub} has none either\n{}",
                    out.describe()
                ),
                _ => {}
            }
            assert!(
                took < crate::harness::process::timeout(RUN_LIMIT),
                "{what} took {took:?}\n{}",
                out.describe()
            );
        }
    }
}

#[test]
fn glibc_heap_core_cut_anywhere() {
    sweep(&crate::heap_glibc::fixture("threads").core, "glibc-threads");
}

#[test]
fn jemalloc_static_core_cut_anywhere() {
    if crate::heap_jemalloc::have_static_jemalloc() {
        sweep(
            &crate::heap_jemalloc::run_workload("arenas", "").core,
            "jemalloc-static",
        );
    }
}

#[test]
fn jemalloc_shared_core_cut_anywhere() {
    if crate::heap_jemalloc::have_static_jemalloc() {
        sweep(
            &crate::heap_jemalloc::run_shared("bind", "narenas:1").core,
            "jemalloc-shared",
        );
    }
}

#[test]
fn tcmalloc_core_cut_anywhere() {
    use crate::heap_tcmalloc::{have_tcmalloc, run_workload, Linking};
    if have_tcmalloc() {
        sweep(&run_workload(Linking::Full, "plain").core, "tcmalloc");
    }
}

/// The C++ fixture of the type pass (objects.cpp on glibc): `explain` and `leaks` run the
/// type and reference passes over what the cut leaves.
#[test]
fn cpp_objects_core_cut_anywhere() {
    if let Some(run) = crate::types::objects(crate::types::Malloc::Glibc) {
        sweep(&run.core, "cpp-objects");
    }
}

#[derive(serde::Deserialize)]
struct HeapJson {
    main_arena: String,
    main_arena_found_by: String,
    arenas: Vec<ArenaJson>,
    problems: Vec<ProblemJson>,
    #[serde(default)]
    notes: Vec<String>,
    /// With `--list all`.
    #[serde(default)]
    allocations: Vec<AllocationJson>,
}

#[derive(serde::Deserialize)]
struct ArenaJson {
    system_bytes: u64,
    fastbin_chunks: u64,
    bin_chunks: u64,
    top: String,
}

#[derive(serde::Deserialize)]
struct ProblemJson {
    kind: String,
    message: String,
}

#[derive(serde::Deserialize)]
struct AllocationJson {
    address: String,
    size: u64,
}

/// A core cut inside the brk heap itself, as an OOM kill's core is when the heap is most of
/// it: `main_arena` is lost with the tail, and the brk heap is walked from its start to the
/// cut (before, nothing was walked: "no heap is left"). Exit 1 naming the cut; the brk
/// heap's size is malloc_info's; the blocks listed are those of the whole core (whose walk
/// equals malloc_info, heap_glibc.rs) whose chunk and the next chunk's header lie before
/// the cut, and no others.
#[test]
fn glibc_brk_heap_cut_in_its_middle() {
    let run = crate::heap_glibc::fixture("threads");
    let list = [os("--list"), os("all")];
    let whole: HeapJson = cli::parse_json(&cli::json_of("heap", &run.core, &list), "whole");
    // Only where to cut comes from our own reading of the whole core.
    let top = crate::harness::parse_hex(&whole.arenas[0].top).expect("an address");
    let seg = readelf::program_headers(&run.core)
        .into_iter()
        .find(|p| p.kind == "LOAD" && p.vaddr <= top && top < p.vaddr + p.memsz)
        .expect("the brk heap's segment");
    // Half way to the top chunk: chunks in use on both sides.
    let cut_addr = seg.vaddr + (top - seg.vaddr) / 2;
    let cut = fixture::truncated_copy(
        &run.core,
        seg.offset + (cut_addr - seg.vaddr),
        "glibc-brk-cut",
    );
    let out = cli::json_of("heap", &cut, &list);
    cli::assert_exit(&out, 1);
    let json: HeapJson = cli::parse_json(&out, "cut");
    assert_eq!(json.main_arena_found_by, "lost");
    assert!(
        json.problems
            .iter()
            .any(|p| p.kind == "truncated" && p.message.contains("brk heap")),
        "the cut through the brk heap is named\n{}",
        out.describe()
    );
    let xml = crate::heap_glibc::xml_heaps(&run.xml);
    assert_eq!(
        json.arenas[0].system_bytes, xml[0].system,
        "the brk heap's size"
    );
    let in_brk = |list: &[AllocationJson]| -> Vec<(u64, u64)> {
        list.iter()
            .map(|a| (crate::harness::parse_hex(&a.address).expect("hex"), a.size))
            .filter(|&(a, _)| seg.vaddr <= a && a < seg.vaddr + seg.memsz)
            .collect()
    };
    // A block's chunk starts 16 bytes before it and ends 8 bytes after its usable size;
    // the next chunk's size field ends 16 bytes later.
    let before_cut: Vec<(u64, u64)> = in_brk(&whole.allocations)
        .into_iter()
        .filter(|&(a, size)| a + size + 8 <= cut_addr)
        .collect();
    assert!(
        before_cut.len() > 1,
        "the cut leaves chunks of the brk heap"
    );
    assert_eq!(
        in_brk(&json.allocations),
        before_cut,
        "the blocks before the cut"
    );
    // The stacks and the modules' data lie past the cut: `leaks` says what their loss
    // means, and does not blame libc's debug info for the stack cache it could not follow.
    let out = cli::heapmortem([os("leaks"), cut.as_os_str()]);
    cli::assert_exit(&out, 1);
    let text = out.stdout_str();
    assert!(
        text.contains("not in the core: a block only they point to is called lost here")
            && !text.contains("another build"),
        "leaks on the cut core\n{}",
        out.describe()
    );
}

/// The threads fixture's core cut where the segment holding `main_arena` begins: libc's
/// data and everything after it is gone, every heap is whole. The walk goes on from the
/// heaps themselves — the brk heap by its mapping, the thread arenas through their
/// `heap_info` — exits 1 and names the truncation (not a missing debug package); the
/// thread arenas' list counts and system bytes, and the brk heap's size, are malloc_info's.
#[test]
fn glibc_heaps_survive_a_cut_that_takes_main_arena() {
    let run = crate::heap_glibc::fixture("threads");
    let whole: HeapJson = cli::parse_json(&cli::json_of("heap", &run.core, &[]), "whole");
    // Only where to cut comes from our own reading of the whole core.
    let main_arena = crate::harness::parse_hex(&whole.main_arena).expect("an address");
    let seg = readelf::program_headers(&run.core)
        .into_iter()
        .find(|p| p.kind == "LOAD" && p.vaddr <= main_arena && main_arena < p.vaddr + p.memsz)
        .expect("main_arena's segment");
    let cut = fixture::truncated_copy(&run.core, seg.offset, "glibc-no-main-arena");
    let out = cli::json_of("heap", &cut, &[]);
    cli::assert_exit(&out, 1);
    let stderr = out.stderr_str();
    assert!(
        stderr.contains("truncated") && !stderr.contains("libc6-dbg"),
        "the message must name truncation\n{}",
        out.describe()
    );
    let json: HeapJson = cli::parse_json(&out, "cut");
    assert_eq!(json.main_arena_found_by, "lost");
    assert!(json.problems.iter().any(|p| p.kind == "truncated"));
    let xml = crate::heap_glibc::xml_heaps(&run.xml);
    assert_eq!(json.arenas.len(), xml.len(), "every arena is still there");
    assert_eq!(
        json.arenas[0].system_bytes, xml[0].system,
        "the brk heap's size"
    );
    // The thread arenas, in no particular order: (system, fastbins, bins).
    let mut ours: Vec<(u64, u64, u64)> = json.arenas[1..]
        .iter()
        .map(|a| (a.system_bytes, a.fastbin_chunks, a.bin_chunks + 1))
        .collect();
    let mut glibcs: Vec<(u64, u64, u64)> = xml[1..]
        .iter()
        .map(|x| (x.system, x.fast_count, x.rest_count))
        .collect();
    ours.sort_unstable();
    glibcs.sort_unstable();
    assert_eq!(ours, glibcs, "thread arenas against malloc_info");
}

/// The threads fixture's core cut half way through the last thread heap the file holds:
/// that arena's bins and fastbins run into the lost half, so free chunks no surviving list
/// names are not damage (before, each was reported `not_in_bin`), and a note says why. The
/// other thread arenas, whole, keep malloc_info's figures; every thread arena keeps its
/// system bytes (its `malloc_state`, at its heap's start, survives).
#[test]
fn glibc_thread_heap_cut_in_its_middle() {
    let run = crate::heap_glibc::fixture("threads");
    let whole: HeapJson = cli::parse_json(&cli::json_of("heap", &run.core, &[]), "whole");
    let headers = readelf::program_headers(&run.core);
    let segment_of = |a: u64| {
        headers
            .iter()
            .find(|p| p.kind == "LOAD" && p.vaddr <= a && a < p.vaddr + p.memsz)
            .expect("a top's segment")
    };
    // Only where to cut comes from our own reading of the whole core.
    let (cut_arena, seg) = whole.arenas[1..]
        .iter()
        .map(|a| {
            let top = crate::harness::parse_hex(&a.top).expect("an address");
            (a.system_bytes, segment_of(top))
        })
        .max_by_key(|(_, seg)| seg.offset)
        .expect("thread arenas");
    let cut = fixture::truncated_copy(
        &run.core,
        seg.offset + seg.filesz / 2,
        "glibc-thread-heap-cut",
    );
    let out = cli::json_of("heap", &cut, &[]);
    cli::assert_exit(&out, 1);
    let json: HeapJson = cli::parse_json(&out, "cut");
    assert!(
        !json.problems.iter().any(|p| p.kind == "not_in_bin"),
        "free chunks the lost half's lists would name are not damage\n{}",
        out.describe()
    );
    assert!(
        json.notes
            .iter()
            .any(|n| n.contains("runs into memory the core lacks")),
        "the note says why\n{}",
        out.describe()
    );
    let xml = crate::heap_glibc::xml_heaps(&run.xml);
    let sorted = |mut v: Vec<u64>| {
        v.sort_unstable();
        v
    };
    assert_eq!(
        sorted(json.arenas[1..].iter().map(|a| a.system_bytes).collect()),
        sorted(xml[1..].iter().map(|x| x.system).collect()),
        "thread arenas' system bytes against malloc_info"
    );
    let mut ours: Vec<(u64, u64, u64)> = json.arenas[1..]
        .iter()
        .filter(|a| a.system_bytes != cut_arena)
        .map(|a| (a.system_bytes, a.fastbin_chunks, a.bin_chunks + 1))
        .collect();
    let mut glibcs: Vec<(u64, u64, u64)> = xml[1..]
        .iter()
        .filter(|x| x.system != cut_arena)
        .map(|x| (x.system, x.fast_count, x.rest_count))
        .collect();
    ours.sort_unstable();
    glibcs.sort_unstable();
    assert!(!ours.is_empty(), "whole thread arenas are left");
    assert_eq!(ours, glibcs, "the whole thread arenas against malloc_info");
}

/// Debian's shared libjemalloc keeps its globals in its own data, near the end of the core:
/// cut there, the `arenas` array and the size-class tables are gone, but the arenas
/// themselves (in jemalloc's own mappings) survive. `heap` finds them by their contents and
/// gives every figure malloc_stats_print printed at the same instant — all but the thread
/// caches' bytes, held in the threads' TLS that the cut took too (the walk names each cache
/// it could not read) — and the size classes jemalloc computed at start-up; `leaks` and
/// `explain`, which need the extent map (in the lost data), say so. All exit 1 and name
/// the truncation, not missing symbols.
#[test]
fn jemalloc_data_cut_off_walks_what_survives() {
    if !crate::heap_jemalloc::have_static_jemalloc()
        || !Path::new("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2").is_file()
    {
        return;
    }
    let run = crate::heap_jemalloc::run_shared("bind", "narenas:1");
    // Cut where the library's writable data starts (its last NT_FILE mapping), not at a fixed
    // share of the core: how much lies after it (stacks, vdso, other libraries) differs between
    // machines.
    let data = readelf::notes(&run.core)
        .files
        .iter()
        .filter(|f| f.path.ends_with("/libjemalloc.so.2"))
        .map(|f| f.start)
        .max()
        .expect("libjemalloc.so.2 among the core's NT_FILE mappings");
    let load = readelf::program_headers(&run.core)
        .into_iter()
        .find(|p| p.kind == "LOAD" && p.vaddr <= data && data < p.vaddr + p.memsz.max(1))
        .expect("a PT_LOAD holding libjemalloc's data");
    assert!(load.filesz > 0, "libjemalloc's data is dumped: {load:?}");
    let cut = fixture::truncated_copy(&run.core, load.offset, "jemalloc-shared-data");

    let out = cli::heapmortem([
        os("heap"),
        cut.as_os_str(),
        os("--format"),
        os("jemalloc-json"),
    ]);
    cli::assert_exit(&out, 1);
    assert!(
        out.stderr_str().contains("truncated"),
        "heap: names the truncation\n{}",
        out.describe()
    );
    let mut ours: serde_json::Value = cli::parse_json(&out, "heap --format jemalloc-json");
    let problems = out.stderr_str();
    for (i, arena) in ours["jemalloc"]["stats.arenas"]
        .as_object_mut()
        .expect("stats.arenas")
    {
        let truth = run.truth["jemalloc"]["stats.arenas"][i.as_str()]["tcache_bytes"].as_u64();
        let cached = arena
            .as_object_mut()
            .and_then(|a| a.remove("tcache_bytes"))
            .and_then(|b| b.as_u64());
        // Unknown (and the lost cache named), or right: never the part that was read.
        assert!(
            cached == truth || (cached.is_none() && problems.contains("thread cache")),
            "arena {i}: {cached:?} bytes in thread caches, malloc_stats_print {truth:?} (an \
             unknown figure must name the cache that could not be read)\n{}",
            out.describe()
        );
    }
    crate::heap_jemalloc::compare_json_with_stats_print(&run, &ours, 1, &["tcache_bytes"]);

    for args in [&["leaks"][..], &["explain", "0x1000"]] {
        let mut argv: Vec<&OsStr> = vec![os(args[0]), cut.as_os_str()];
        argv.extend(args[1..].iter().map(|a| os(a)));
        let out = cli::heapmortem(argv);
        let sub = args[0];
        cli::assert_exit(&out, 1);
        assert!(
            out.stderr_str().contains("truncated") && out.stderr_str().contains("extent map"),
            "{sub}: says the truncation took the extent map\n{}",
            out.describe()
        );
        assert!(
            !out.stderr_str().contains("dbgsym"),
            "{sub}: the message must name truncation, not a missing package\n{}",
            out.describe()
        );
    }
}
