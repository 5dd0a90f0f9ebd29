//! `heapmortem leaks` on glibc cores, checked against ground truth only:
//!
//! - `tests/fixtures/leaks/leaky.c` is run twice, doing the same allocations: natively until
//!   it aborts and dumps a core, and under valgrind memcheck until it exits (from below
//!   `main`, so `main`'s frame is still a root). Our direct, indirect and possibly lost
//!   counts and bytes on the core must equal valgrind's "definitely lost", "indirectly lost"
//!   lines, and our possibly lost count valgrind's. Every size the fixture asks for is
//!   chunk-exact, so glibc's usable size (all a core knows) is the size valgrind reports
//!   (glibc's own dtv, possibly lost, is not: there the bytes differ by the padding).
//! - still-reachable blocks (from a global, a list kept in a global, `main`'s stack) are not
//!   reported;
//! - on chap's OneLeaked core (glibc 2.12), our leaked set equals chap's `list leaked`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::process::{require, run, Output};
use crate::harness::{cli, corpus, parse_hex, repo_root, unique_dir};

/// Our JSON, read with the tests' own types (keys from DESIGN.md).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LeaksJson {
    allocator: String,
    pub(crate) direct_count: u64,
    pub(crate) direct_bytes: u64,
    pub(crate) indirect_count: u64,
    indirect_bytes: u64,
    possible_count: u64,
    possible_bytes: u64,
    reachable_count: u64,
    reachable_bytes: u64,
    /// With allocation sites (jemalloc `prof:true`).
    pub(crate) sample_period: Option<u64>,
    pub(crate) groups: Vec<Group>,
    pub(crate) leaks: Vec<LeakJson>,
    possibly_lost: Vec<LeakJson>,
    pub(crate) notes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Group {
    pub(crate) count: u64,
    pub(crate) size: u64,
    pub(crate) bytes: u64,
    pub(crate) direct: u64,
    indirect: u64,
    shape: String,
    pub(crate) samples: Vec<String>,
    preview_ascii: String,
    pub(crate) site: Option<SiteJson>,
    pub(crate) sampled: Option<u64>,
    pub(crate) estimated_count: Option<u64>,
    pub(crate) estimated_bytes: Option<u64>,
}

/// A `site` of `leaks` and `explain`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SiteJson {
    pub(crate) function: Option<String>,
    pub(crate) frames: Vec<FrameJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FrameJson {
    pub(crate) address: String,
    pub(crate) function: Option<String>,
    pub(crate) line: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LeakJson {
    pub(crate) address: String,
    size: u64,
    kind: String,
}

/// `heap --list used --format json`, the few keys needed here.
#[derive(Debug, Deserialize)]
struct HeapJson {
    allocations: Vec<Allocation>,
}

#[derive(Debug, Deserialize)]
struct Allocation {
    address: String,
    size: u64,
    state: String,
}

/// valgrind's LEAK SUMMARY: (bytes, blocks) per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) definitely: (u64, u64),
    pub(crate) indirectly: (u64, u64),
    possibly: (u64, u64),
    reachable: (u64, u64),
}

#[derive(Clone)]
pub(crate) struct Run {
    pub(crate) core: PathBuf,
    pub(crate) valgrind: Summary,
}

/// Parses "definitely lost: 456 bytes in 11 blocks" (thousands separated by commas).
fn summary_line(log: &str, label: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("{label}:")))
        .unwrap_or_else(|| panic!("no `{label}` line in valgrind's log:\n{log}"));
    let rest = line
        .split(&format!("{label}:"))
        .nth(1)
        .expect("after label");
    let nums: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "cannot read {line:?}");
    (nums[0], nums[1])
}

/// Builds leaky.c with `gcc -O0 -g`, runs it under valgrind and natively (core), once.
pub(crate) fn leaky() -> Option<Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| leaky_on(None)).clone()
}

/// The same, linked with Debian's libjemalloc (valgrind replaces jemalloc's `malloc` with its
/// own through `--soname-synonyms=somalloc=*jemalloc*`, as its manual says for other
/// allocators).
fn leaky_jemalloc() -> Option<Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| leaky_on(Some("jemalloc"))).clone()
}

/// The same, linked with Debian's libtcmalloc (gperftools 2.10; valgrind replaces its
/// `malloc` through `--soname-synonyms=somalloc=*tcmalloc*`).
pub(crate) fn leaky_tcmalloc() -> Option<Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| leaky_on(Some("tcmalloc"))).clone()
}

/// leaky.c linked with `-l<allocator>` (glibc's malloc when None).
fn leaky_on(allocator: Option<&str>) -> Option<Run> {
    let link: Vec<String> = allocator.iter().map(|lib| format!("-l{lib}")).collect();
    leaky_linked(allocator, allocator.unwrap_or("glibc"), &link)
}

/// leaky.c linked with `link`; valgrind replaces the `malloc` of the library whose soname
/// contains `allocator` (glibc's when None). `label` names the run's directory.
pub(crate) fn leaky_linked(allocator: Option<&str>, label: &str, link: &[String]) -> Option<Run> {
    if !require("gcc", "gcc") || !require("valgrind", "valgrind") {
        return None;
    }
    let dir = unique_dir(&match allocator {
        Some(_) => format!("leaks-leaky-{label}"),
        None => "leaks-leaky".to_string(),
    });
    let exe = dir.join("leaky");
    let src = repo_root().join("tests/fixtures/leaks/leaky.c");
    let mut cc = Command::new("gcc");
    cc.args(["-O0", "-g", "-pthread"])
        .arg(&src)
        .arg("-o")
        .arg(&exe);
    cc.args(link);
    run(&mut cc, Duration::from_secs(120)).expect_success("compiling leaky.c");

    let mut valgrind = Command::new("valgrind");
    valgrind.args([
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--error-exitcode=0",
    ]);
    if let Some(lib) = allocator {
        valgrind.arg(format!("--soname-synonyms=somalloc=*{lib}*"));
    }
    let vg = run(
        valgrind.arg(&exe).arg("exit").current_dir(&dir),
        Duration::from_secs(300),
    )
    .expect_success("leaky exit under valgrind");
    let log = vg.stderr_str();
    let valgrind = Summary {
        definitely: summary_line(&log, "definitely lost"),
        indirectly: summary_line(&log, "indirectly lost"),
        possibly: summary_line(&log, "possibly lost"),
        reachable: summary_line(&log, "still reachable"),
    };

    Some(Run {
        core: core_of(&exe, &dir),
        valgrind,
    })
}

/// Runs `exe` natively in `DIR/run` until it aborts; the core the kernel wrote there.
fn core_of(exe: &Path, dir: &Path) -> PathBuf {
    let work = dir.join("run");
    std::fs::create_dir_all(&work).expect("run dir");
    let out = run(
        Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"; exec "$0""#)
            .arg(exe)
            .current_dir(&work),
        Duration::from_secs(120),
    );
    assert_eq!(
        out.signal(),
        Some(6),
        "leaky should abort\n{}",
        out.describe()
    );
    // core_pattern is `core` here; `core.PID` when core_uses_pid is set.
    std::fs::read_dir(&work)
        .expect("read run dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n == "core" || n.starts_with("core."))
        })
        .unwrap_or_else(|| {
            panic!(
                "leaky dumped no core in {} (core_pattern is {:?}; these tests need \
                     cores written into the working directory)",
                work.display(),
                std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default()
            )
        })
}

pub(crate) fn leaks_json(core: &Path, extra: &[&OsStr]) -> (Output, LeaksJson) {
    let out = cli::json_of("leaks", core, extra);
    cli::assert_no_panic(&out);
    let json = cli::parse_json(&out, "leaks");
    (out, json)
}

/// `leaks` on `run`'s core, walked as `allocator`'s heap: the definitely and indirectly lost
/// blocks equal valgrind's, their bytes at least valgrind's (size classes round sizes up, so
/// blocks are compared, not bytes). The JSON, for more checks.
pub(crate) fn leaks_agree_with_valgrind(run: &Run, allocator: &str) -> LeaksJson {
    let (out, json) = leaks_json(&run.core, &[]);
    cli::assert_exit(&out, 0);
    assert_eq!(json.allocator, allocator);
    let vg = run.valgrind;
    assert_eq!(json.direct_count, vg.definitely.1, "definitely lost blocks");
    assert_eq!(
        json.indirect_count, vg.indirectly.1,
        "indirectly lost blocks"
    );
    assert!(json.direct_bytes >= vg.definitely.0 && json.indirect_bytes >= vg.indirectly.0);
    json
}

/// jemalloc's size classes round the fixture's sizes up (40 to 48, 56 to 64, 104 to 112, 136
/// to 160).
#[test]
fn jemalloc_direct_and_indirect_blocks_agree_with_valgrind() {
    let Some(run) = leaky_jemalloc() else { return };
    let vg = run.valgrind;
    assert_eq!(vg.definitely.1, 18, "valgrind: {vg:?}");
    assert_eq!(vg.indirectly.1, 4, "valgrind: {vg:?}");
    leaks_agree_with_valgrind(&run, "jemalloc");
}

/// tcmalloc's size classes round the sizes up too (40 to 48, 56 to 64, 104 to 112, 136 to
/// 144). gperftools itself leaks one 8-byte block at start-up, which valgrind finds as well
/// (tcmalloc's initialisation allocates through the malloc valgrind replaced): 19 blocks.
#[test]
fn tcmalloc_direct_and_indirect_blocks_agree_with_valgrind() {
    let Some(run) = leaky_tcmalloc() else { return };
    let vg = run.valgrind;
    assert_eq!(vg.definitely.1, 19, "valgrind: {vg:?}");
    assert_eq!(vg.indirectly.1, 4, "valgrind: {vg:?}");
    let json = leaks_agree_with_valgrind(&run, "tcmalloc");
    assert_eq!(json.possible_count, vg.possibly.1, "possibly lost blocks");
}

#[test]
fn direct_and_indirect_agree_with_valgrind() {
    let Some(run) = leaky() else { return };
    let (out, json) = leaks_json(&run.core, &[]);
    cli::assert_exit(&out, 0);
    assert_eq!(json.allocator, "glibc");
    let vg = run.valgrind;
    // The exited thread's stack (its TLS held the 136-byte block) is not a root.
    assert!(
        json.notes
            .iter()
            .any(|n| n.contains("1 exited thread's stack in glibc's stack cache")),
        "{:?}",
        json.notes
    );
    // The fixture's own account (leaky.c's header), so a changed fixture fails here first.
    assert_eq!(vg.definitely, (1216, 18), "valgrind: {vg:?}");
    assert_eq!(vg.indirectly, (224, 4), "valgrind: {vg:?}");
    assert_eq!(
        (json.direct_bytes, json.direct_count),
        vg.definitely,
        "definitely lost"
    );
    assert_eq!(
        (json.indirect_bytes, json.indirect_count),
        vg.indirectly,
        "indirectly lost"
    );
    // Possibly lost: the 72-byte block and glibc's dtv for the thread, whose requested
    // size (272) is not chunk-exact: valgrind counts requested bytes, we count usable ones.
    assert_eq!(json.possible_count, vg.possibly.1, "possibly lost blocks");
    assert!(
        json.possible_bytes >= vg.possibly.0
            && json.possible_bytes < vg.possibly.0 + 24 * vg.possibly.1,
        "possibly lost: ours {} bytes, valgrind's {:?}",
        json.possible_bytes,
        vg.possibly
    );
    // leaks[] and groups[] add up to the same figures.
    let of = |kind: &str| -> (u64, u64) {
        let l: Vec<_> = json.leaks.iter().filter(|l| l.kind == kind).collect();
        (l.iter().map(|l| l.size).sum(), l.len() as u64)
    };
    assert_eq!(of("direct"), vg.definitely);
    assert_eq!(of("indirect"), vg.indirectly);
    assert_eq!(
        json.leaks.len() as u64,
        json.direct_count + json.indirect_count
    );
    assert!(json.possibly_lost.iter().all(|l| l.kind == "possible"));
    let g_direct: u64 = json.groups.iter().map(|g| g.direct).sum();
    let g_indirect: u64 = json.groups.iter().map(|g| g.indirect).sum();
    assert_eq!((g_direct, g_indirect), (vg.definitely.1, vg.indirectly.1));
    for g in &json.groups {
        assert_eq!(g.bytes, g.count * g.size, "{g:?}");
        assert!(!g.samples.is_empty() && g.samples.len() <= 5, "{g:?}");
        assert!(g.samples.iter().all(|s| s.starts_with("0x")), "{g:?}");
    }
    let group = |size: u64| {
        json.groups
            .iter()
            .find(|g| g.size == size)
            .unwrap_or_else(|| panic!("no group of {size} bytes: {:?}", json.groups))
    };
    // The thread's blocks (its own arena): the biggest group.
    let first = &json.groups[0];
    assert_eq!(
        (first.count, first.size, first.direct),
        (6, 104, 6),
        "{first:?}"
    );
    assert!(first.preview_ascii.starts_with("thread leak"), "{first:?}");
    // The leak() loop: ten 40-byte text blocks.
    let g = group(40);
    assert_eq!(
        (g.count, g.direct, g.shape.as_str()),
        (10, 10, "tt"),
        "{g:?}"
    );
    assert!(g.preview_ascii.starts_with("leaked block"), "{g:?}");
    // The lost list: its head and the nodes that point on are `pt`, the tail `0t`.
    let list: Vec<_> = json.groups.iter().filter(|g| g.size == 56).collect();
    assert_eq!(list.iter().map(|g| g.count).sum::<u64>(), 5, "{list:?}");
    assert_eq!(list.iter().map(|g| g.direct).sum::<u64>(), 1, "{list:?}");
}

#[test]
fn still_reachable_memory_is_not_reported() {
    let Some(run) = leaky() else { return };
    let (_, json) = leaks_json(&run.core, &[]);
    let out = cli::json_of(
        "heap",
        &run.core,
        &[OsStr::new("--list"), OsStr::new("used")],
    );
    let heap: HeapJson = cli::parse_json(&out, "heap");
    let used: Vec<_> = heap
        .allocations
        .iter()
        .filter(|a| a.state == "used")
        .collect();
    let reported: BTreeSet<u64> = json
        .leaks
        .iter()
        .chain(&json.possibly_lost)
        .map(|l| parse_hex(&l.address).expect("hex"))
        .collect();
    // The 88-byte block (a global), the 120-byte one (main's stack), the kept list's three
    // 56-byte nodes and the thread's kept 104-byte block: in use, and not called lost.
    let kept = |size: u64| -> Vec<u64> {
        used.iter()
            .filter(|a| a.size == size)
            .map(|a| parse_hex(&a.address).expect("hex"))
            .filter(|a| !reported.contains(a))
            .collect()
    };
    assert_eq!(kept(88).len(), 1, "the block held by g_kept");
    assert_eq!(kept(120).len(), 1, "the block held by main's stack");
    assert_eq!(kept(56).len(), 3, "the list held by g_list");
    assert_eq!(
        kept(104).len(),
        1,
        "the thread's block held by g_from_thread"
    );
    // valgrind's still reachable, plus what it cannot see: glibc's own tcache struct
    // (valgrind replaces malloc, so there is none under it).
    let vg = run.valgrind.reachable;
    assert!(
        json.reachable_count > vg.1 && json.reachable_bytes > vg.0,
        "still reachable: ours {} bytes in {} blocks, valgrind's {vg:?}",
        json.reachable_bytes,
        json.reachable_count
    );
    assert!(
        json.possibly_lost.iter().any(|l| l.size == 72),
        "{:?}",
        json.possibly_lost
    );
}

#[test]
fn text_summary_reads_like_valgrind() {
    let Some(run) = leaky() else { return };
    let out = cli::heapmortem([OsStr::new("leaks"), run.core.as_os_str()]);
    cli::assert_exit(&out, 0);
    let text = out.stdout_str();
    let (bytes, blocks) = run.valgrind.definitely;
    assert!(
        text.contains(&format!(
            "definitely lost: {bytes} bytes in {blocks} blocks"
        )),
        "{text}"
    );
    let (bytes, blocks) = run.valgrind.indirectly;
    assert!(
        text.contains(&format!(
            "indirectly lost: {bytes} bytes in {blocks} blocks"
        )),
        "{text}"
    );
    assert!(text.contains("leaked block"), "{text}");
}

/// (address, size) pairs from chap's "Used allocation at 601010 of size 18" lines (hex).
fn chap_list(path: &Path) -> BTreeSet<(u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| {
            let rest = l.split(" allocation at ").nth(1)?;
            let (addr, size) = rest.split_once(" of size ")?;
            Some((parse_hex(addr)?, parse_hex(size.trim())?))
        })
        .collect()
}

#[test]
fn chap_one_leaked_glibc_2_12() {
    let core = corpus::file("cores/chap/OneLeaked/core.20675.xz");
    let empty = unique_dir("leaks-empty");
    // The host's libraries are other builds; an empty debug folder keeps it to the core.
    let (out, json) = leaks_json(&core, &[OsStr::new("--debug-dir"), empty.as_os_str()]);
    cli::assert_exit(&out, 0);
    let base = corpus::path("cores/chap/OneLeaked");
    let want = chap_list(&base.join("core.20675.list_leaked"));
    let got: BTreeSet<(u64, u64)> = json
        .leaks
        .iter()
        .map(|l| (parse_hex(&l.address).expect("hex"), l.size))
        .collect();
    assert_eq!(got, want, "leaked set against chap's list_leaked");
    // chap's anchored set is what we call reachable.
    let anchored = chap_list(&base.join("core.20675.list_anchored"));
    assert_eq!(json.reachable_count, anchored.len() as u64);
    assert_eq!(json.direct_count, 1);
}

#[test]
fn a_corrupt_heap_is_checked_in_part_with_exit_1() {
    // heap_glibc's `corrupt` fixture overwrites one chunk's size field; the walk resumes
    // after it, and so does the leak check, which says it read only part of the heap.
    let run = crate::heap_glibc::fixture("corrupt");
    let (out, json) = leaks_json(&run.core, &[]);
    cli::assert_exit(&out, 1);
    assert!(
        out.stderr_str().contains("only in part"),
        "{}",
        out.describe()
    );
    assert!(json.reachable_count > 0, "{json:?}");
}

/// leaky.c linked statically: glibc's start-up code allocates on the heap too, and keeps
/// some of those blocks only in its RELRO data, which is read-only by the time the core is
/// written (`_dl_init_paths`'s 40-byte `rtld_search_dirs` block; `_dlfo_nodelete_mappings`,
/// 168 bytes, with threads). Roots include every segment the ELF file says is written at
/// run time, so those are not leaks, and what is lost is what valgrind finds lost in the
/// same program linked dynamically (where ld.so's allocations are not on the heap) — less
/// the 136-byte block held only by the TLS of the exited thread: a static program has no
/// ld.so or libc DWARF to find glibc's stack cache by, so that stack is scanned as a root.
fn check_static(jemalloc: bool) {
    let Some(dynamic) = (if jemalloc { leaky_jemalloc() } else { leaky() }) else {
        return;
    };
    let dir = unique_dir(if jemalloc {
        "leaks-leaky-static-jemalloc"
    } else {
        "leaks-leaky-static"
    });
    let exe = dir.join("leaky");
    let mut cc = Command::new("gcc");
    cc.args(["-O0", "-g", "-pthread", "-static"])
        .arg(repo_root().join("tests/fixtures/leaks/leaky.c"))
        .arg("-o")
        .arg(&exe);
    if jemalloc {
        // Debian's libjemalloc-dev archive, all of it (its malloc must win over libc.a's;
        // its C++ operators need libstdc++).
        cc.args([
            "-Wl,--whole-archive",
            "-l:libjemalloc.a",
            "-Wl,--no-whole-archive",
            "-lstdc++",
            "-lm",
        ]);
    }
    run(&mut cc, Duration::from_secs(120)).expect_success("compiling leaky.c -static");
    let core = core_of(&exe, &dir);
    let (out, json) = leaks_json(&core, &[OsStr::new("--exe"), exe.as_os_str()]);
    cli::assert_exit(&out, 0);
    assert_eq!(json.allocator, if jemalloc { "jemalloc" } else { "glibc" });
    assert!(
        json.notes.iter().any(|n| n.contains("stack cache")),
        "{:?}",
        json.notes
    );
    let (vg_bytes, vg_count) = dynamic.valgrind.definitely;
    // jemalloc's size classes round sizes up (see above): blocks only.
    let ours = |bytes: u64, count: u64| (if jemalloc { 0 } else { bytes }, count);
    assert_eq!(
        ours(json.direct_bytes, json.direct_count),
        ours(vg_bytes.saturating_sub(136), vg_count - 1),
        "static leaky: definitely lost against valgrind's (dynamic), less the TLS block\n{:?}",
        json.leaks
    );
    let (vg_bytes, vg_count) = dynamic.valgrind.indirectly;
    assert_eq!(
        ours(json.indirect_bytes, json.indirect_count),
        ours(vg_bytes, vg_count)
    );
}

#[test]
fn static_glibc_binary_has_no_false_leak() {
    check_static(false);
}

#[test]
fn static_jemalloc_binary_has_no_false_leak() {
    check_static(true);
}

#[test]
fn without_libc_debug_info_leaks_are_missed_never_invented() {
    // `--sysroot` pointing at an empty folder: no libc or ld.so file, so neither DWARF nor
    // glibc's stack cache; the exited thread's stale stack is scanned as a root.
    let Some(run) = leaky() else { return };
    let empty = unique_dir("leaks-nolibc");
    let (out, json) = leaks_json(&run.core, &[OsStr::new("--sysroot"), empty.as_os_str()]);
    cli::assert_no_panic(&out);
    let vg = run.valgrind;
    assert!(
        // At most the exited thread's 136-byte block is missed.
        (vg.definitely.1 - 1..=vg.definitely.1).contains(&json.direct_count),
        "ours {} direct, valgrind's {:?}",
        json.direct_count,
        vg.definitely
    );
    assert_eq!(
        (json.indirect_bytes, json.indirect_count),
        vg.indirectly,
        "indirectly lost"
    );
    assert!(
        json.notes.iter().any(|n| n.contains("stack cache")),
        "{:?}",
        json.notes
    );
}

/// Case 2 is fragmentation, not a leak: the journald workload keeps every block it does not
/// free in arrays that stay reachable (its source says so), so `leaks` finds none, while
/// `heap` calls the same core fragmented (`heap_glibc::journald_pattern_is_fragmentation_not_a_leak`).
#[test]
fn the_journald_core_has_fragmentation_but_no_leak() {
    let run = crate::heap_glibc::fixture("journald");
    let (out, json) = leaks_json(&run.core, &[]);
    cli::assert_exit(&out, 0);
    assert_eq!(
        (json.direct_count, json.indirect_count),
        (0, 0),
        "leaks: {:?}",
        json.leaks
    );
}
