//! `heapmortem heap` on glibc cores, checked against ground truth only:
//!
//! - the fixtures in `tests/fixtures/glibc/` call `malloc_info (0, f)` and then `abort ()`;
//!   our `--format malloc-info` of their core must equal that file byte for byte, three
//!   ways: with libc6-dbg (DWARF), with `--sysroot` holding only copies of the stripped
//!   libc and ld.so (built-in layouts, arena found by its shape), and with no libc file at all
//!   (layouts inferred from the data);
//! - the JSON's per-arena figures must agree with the same file, and `trimmable_bytes` with
//!   what `malloc_trim (0)` really gave back in a forked copy of the process (strace);
//! - on chap's cores (which carry no libc), our used and free lists must equal chap's
//!   `list_used` / `list_free` (chap counts tcache chunks as used and the top chunk as free).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::process::{self, run, Output};
use crate::harness::{cli, corpus, parse_hex, repo_root, tmp_root, unique_dir, Memo};

/// A fixture's core and what its malloc_info printed.
#[derive(Clone)]
pub(crate) struct Run {
    pub(crate) exe: PathBuf,
    pub(crate) core: PathBuf,
    pub(crate) xml: String,
}

/// How a fixture is built and run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Mode {
    /// x86_64, run natively.
    Native,
    /// x86_64, run under `strace -f -e trace=madvise,brk` (log in `RUN/strace.txt`).
    Traced,
    /// aarch64, static, run under qemu-user (which writes the guest's core as
    /// `qemu_PROG_DATE_PID.core`).
    Aarch64,
    /// x86_64, linked statically (no libc file, no banner: the layout comes from the data).
    Static,
}

/// Builds and runs `tests/fixtures/glibc/NAME.c` natively, once per test process.
pub(crate) fn fixture(name: &str) -> Run {
    fixture_in(name, Mode::Native)
}

fn fixture_in(name: &str, mode: Mode) -> Run {
    static RUNS: OnceLock<Memo<(String, Mode), Run>> = OnceLock::new();
    RUNS.get_or_init(Memo::new)
        .get(&(name.to_string(), mode), || make_run(name, mode))
}

fn make_run(name: &str, mode: Mode) -> Run {
    let aarch64 = mode == Mode::Aarch64;
    if mode == Mode::Traced {
        process::require("strace", "strace");
    }
    let cc_name = if aarch64 {
        process::require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
        process::require("qemu-aarch64", "qemu-user");
        "aarch64-linux-gnu-gcc"
    } else {
        process::require("gcc", "gcc");
        "gcc"
    };
    let suffix = match mode {
        Mode::Native => "",
        Mode::Traced => "-traced",
        Mode::Aarch64 => "-aarch64",
        Mode::Static => "-static",
    };
    let dir = unique_dir(&format!("glibc-{name}{suffix}"));
    let src = repo_root().join(format!("tests/fixtures/glibc/{name}.c"));
    let exe = dir.join(name);
    let mut cc = Command::new(cc_name);
    cc.args(["-O1", "-g", "-pthread"]);
    if aarch64 || mode == Mode::Static {
        cc.arg("-static");
    }
    cc.arg(&src).arg("-o").arg(&exe);
    run(&mut cc, Duration::from_secs(120)).expect_success(&format!("compiling {name}.c"));
    let work = dir.join("run");
    std::fs::create_dir_all(&work).expect("run dir");
    let script = match mode {
        // qemu's own host core is kept empty (coredump_filter 0) and ignored below.
        Mode::Aarch64 => {
            r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
               echo 0 > /proc/self/coredump_filter 2>/dev/null
               exec qemu-aarch64 "$0" "$1""#
        }
        // strace re-raises the signal its tracee died of, after the kernel dumped its core.
        Mode::Traced => {
            r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
               exec strace -f -e trace=madvise,brk -o strace.txt "$0" "$1""#
        }
        Mode::Native | Mode::Static => {
            r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"; exec "$0" "$1""#
        }
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(&exe)
        .arg(work.join("malloc_info.xml"))
        .current_dir(&work);
    let out = run(&mut cmd, Duration::from_secs(120));
    assert_eq!(
        out.signal(),
        Some(6),
        "{name} should abort after malloc_info\n{}",
        out.describe()
    );
    let xml = std::fs::read_to_string(work.join("malloc_info.xml"))
        .unwrap_or_else(|e| panic!("{name} wrote no malloc_info.xml: {e}\n{}", out.describe()));
    // core_pattern is `core` here; `core.PID` when core_uses_pid is set.
    let is_core = |n: &str| {
        if aarch64 {
            n.starts_with("qemu_") && n.ends_with(".core")
        } else {
            n == "core" || n.starts_with("core.")
        }
    };
    let core = std::fs::read_dir(&work)
        .expect("read run dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(OsStr::to_str).is_some_and(is_core))
        .unwrap_or_else(|| {
            panic!(
                "{name} dumped no core in {} (core_pattern is {:?}; these tests need cores \
                 written into the working directory)",
                work.display(),
                std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default()
            )
        });
    Run { exe, core, xml }
}

/// How the test lets heapmortem find libc.
#[derive(Clone, Copy, Debug)]
enum Libc {
    /// The host's libc with libc6-dbg's DWARF.
    Debug,
    /// `--sysroot` with copies of the stripped libc and ld.so only, `--debug-dir` empty.
    Stripped,
    /// `--sysroot` pointing at an empty folder: no libc file at all.
    Absent,
}

impl Libc {
    fn args(self) -> Vec<PathBuf> {
        match self {
            Libc::Debug => vec![],
            Libc::Stripped => vec![
                "--sysroot".into(),
                stripped_sysroot(),
                "--debug-dir".into(),
                empty_dir(),
            ],
            Libc::Absent => vec!["--sysroot".into(), empty_dir()],
        }
    }

    /// (layout_source, main_arena_found_by) the JSON must report in this mode.
    fn expected(self) -> (&'static str, &'static str) {
        match self {
            Libc::Debug => ("dwarf", "symbol"),
            Libc::Stripped => ("built_in", "scan"),
            Libc::Absent => ("inferred", "scan"),
        }
    }
}

/// A sysroot holding copies of the host's libc and dynamic linker (Debian ships them
/// stripped: symbols in `.dynsym` only) at the paths a core records.
fn stripped_sysroot() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = unique_dir("glibc-sysroot");
        for lib in [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ] {
            let real = std::fs::canonicalize(lib).unwrap_or_else(|e| panic!("{lib}: {e}"));
            for p in [Path::new(lib).to_path_buf(), real.clone()] {
                let dest = root.join(p.strip_prefix("/").expect("absolute"));
                std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
                std::fs::copy(&real, &dest).expect("copy library");
            }
        }
        root
    })
    .clone()
}

fn empty_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| unique_dir("glibc-empty")).clone()
}

fn heap(core: &Path, libc: Libc, extra: &[&str]) -> Output {
    let mut args: Vec<std::ffi::OsString> = vec!["heap".into(), core.into()];
    args.extend(libc.args().into_iter().map(Into::into));
    args.extend(extra.iter().map(Into::into));
    let out = cli::heapmortem(&args);
    cli::assert_no_panic(&out);
    out
}

/// Our malloc_info equals glibc's, and the JSON says which way the state was found.
fn check_malloc_info(name: &str, libc: Libc, exit: i32) {
    let run = fixture(name);
    let out = heap(&run.core, libc, &["--format", "malloc-info"]);
    cli::assert_exit(&out, exit);
    let ours = out.stdout_str();
    if ours != run.xml {
        let first = ours
            .lines()
            .zip(run.xml.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}: ours {a:?}, glibc {b:?}", i + 1))
            .unwrap_or_else(|| "lengths differ".into());
        panic!(
            "{name} ({libc:?}): --format malloc-info differs from glibc's malloc_info: {first}\n\
             --- glibc ---\n{}\n--- ours ---\n{ours}\n{}",
            run.xml,
            out.describe()
        );
    }
    let json: HeapJson = cli::parse_json(&heap(&run.core, libc, &["--format", "json"]), name);
    let (layout, found_by) = libc.expected();
    assert_eq!(
        (
            json.layout_source.as_str(),
            json.main_arena_found_by.as_str()
        ),
        (layout, found_by),
        "{name} ({libc:?}): the state was not found the way this mode must find it"
    );
}

macro_rules! malloc_info_tests {
    ($($name:ident: $fixture:literal, $exit:literal;)*) => {
        mod malloc_info {
            use super::*;
            $(
                mod $name {
                    use super::*;
                    #[test]
                    fn with_debug_info() {
                        check_malloc_info($fixture, Libc::Debug, $exit);
                    }
                    #[test]
                    fn with_stripped_libc_only() {
                        check_malloc_info($fixture, Libc::Stripped, $exit);
                    }
                    #[test]
                    fn with_no_libc_file() {
                        check_malloc_info($fixture, Libc::Absent, $exit);
                    }
                }
            )*
        }
    };
}

malloc_info_tests! {
    one_thread: "one_thread", 0;
    threads: "threads", 0;
    fastbins_and_full_tcaches: "fastbins", 0;
    mmapped_chunks: "mmapped", 0;
    journald_pattern: "journald", 0;
    thread_arena_with_several_heaps: "subheaps", 0;
    corrupted_heap: "corrupt", 1;
    fastbin_cycle: "corrupt_fastbin_cycle", 1;
    tcache_loop: "corrupt_tcache_loop", 1;
    tcache_bad_safe_linking_pointer: "corrupt_tcache_link", 1;
    lying_prev_size: "corrupt_prev_size", 1;
    overwritten_bin_links: "corrupt_bin_links", 1;
}

// The JSON contract (DESIGN.md), read with the tests' own types.

#[derive(Debug, Deserialize)]
struct HeapJson {
    allocator: String,
    version: Option<String>,
    layout_source: String,
    main_arena_found_by: String,
    arenas: Vec<ArenaJson>,
    findings: Vec<FindingJson>,
    problems: Vec<ProblemJson>,
    mmapped_chunks: u64,
    mmapped_bytes: u64,
    tcaches: Vec<TcacheJson>,
    #[serde(default)]
    allocations: Option<Vec<AllocationJson>>,
}

#[derive(Debug, Deserialize)]
struct ArenaJson {
    address: String,
    system_bytes: u64,
    in_use_chunks: u64,
    in_use_bytes: u64,
    free_chunks: u64,
    free_bytes: u64,
    trimmable_bytes: u64,
    largest_free: u64,
    fastbin_chunks: u64,
    tcache_chunks: u64,
    bin_chunks: u64,
    top_size: u64,
    hole_bytes: u64,
    holes: Vec<HoleJson>,
}

#[derive(Debug, Deserialize)]
struct HoleJson {
    size: u64,
    pinned_by: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FindingJson {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct ProblemJson {
    kind: String,
    address: String,
}

#[derive(Debug, Deserialize)]
struct TcacheJson {
    chunks: u64,
    full_bins: u64,
}

#[derive(Debug, Deserialize)]
struct AllocationJson {
    address: String,
    size: u64,
    state: String,
    arena: Option<String>,
}

/// The figures of one `<heap>` of glibc's XML, or of the totals.
#[derive(Debug, Default)]
pub(crate) struct XmlHeap {
    pub(crate) fast_count: u64,
    pub(crate) rest_count: u64,
    pub(crate) system: u64,
}

pub(crate) fn xml_heaps(xml: &str) -> Vec<XmlHeap> {
    let attr = |line: &str, key: &str| -> u64 {
        let k = format!("{key}=\"");
        let s = &line[line.find(&k).expect("attribute") + k.len()..];
        s[..s.find('"').expect("quote")].parse().expect("number")
    };
    let mut out = Vec::new();
    let mut cur: Option<XmlHeap> = None;
    for line in xml.lines() {
        if line.starts_with("<heap ") {
            cur = Some(XmlHeap::default());
        } else if line.starts_with("</heap>") {
            out.extend(cur.take());
        } else if let Some(h) = cur.as_mut() {
            if line.starts_with("<total type=\"fast\"") {
                h.fast_count = attr(line, "count");
            } else if line.starts_with("<total type=\"rest\"") {
                h.rest_count = attr(line, "count");
            } else if line.starts_with("<system type=\"current\"") {
                h.system = attr(line, "size");
            }
        }
    }
    out
}

fn json_of(name: &str, extra: &[&str]) -> (Run, HeapJson) {
    let run = fixture(name);
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let json = cli::parse_json(&heap(&run.core, Libc::Debug, &args), name);
    (run, json)
}

#[test]
fn json_arena_figures_agree_with_malloc_info() {
    for name in ["one_thread", "threads", "fastbins", "journald", "subheaps"] {
        let (run, json) = json_of(name, &[]);
        assert_eq!(json.allocator, "glibc");
        assert_eq!(
            json.version.as_deref(),
            Some(host_glibc().as_str()),
            "{name}"
        );
        let xml = xml_heaps(&run.xml);
        assert_eq!(json.arenas.len(), xml.len(), "{name}: arenas");
        for (a, x) in json.arenas.iter().zip(&xml) {
            assert!(
                a.address.starts_with("0x"),
                "{name}: address {:?}",
                a.address
            );
            assert_eq!(a.system_bytes, x.system, "{name} {}: system_mem", a.address);
            // The walk's classification (neighbour bits and list membership) against
            // glibc's own list counts: fastbins, and regular bins plus the top.
            assert_eq!(
                a.fastbin_chunks, x.fast_count,
                "{name} {}: fastbins",
                a.address
            );
            assert_eq!(a.bin_chunks + 1, x.rest_count, "{name} {}: bins", a.address);
            assert!(
                a.in_use_bytes + a.free_bytes + a.top_size <= a.system_bytes,
                "{name} {}: more chunk bytes than system bytes",
                a.address
            );
            assert!(a.free_chunks >= a.fastbin_chunks + a.tcache_chunks + a.bin_chunks);
            assert!(a.largest_free <= a.free_bytes);
            assert!(a.in_use_chunks > 0 || a.free_bytes == 0);
            assert!(a.hole_bytes <= a.free_bytes, "{name} {}: holes", a.address);
        }
        assert!(json.problems.is_empty(), "{name}: {:?}", json.problems);
    }
}

fn host_glibc() -> String {
    let out = run(
        Command::new("getconf").arg("GNU_LIBC_VERSION"),
        Duration::from_secs(10),
    );
    out.stdout_str()
        .trim()
        .trim_start_matches("glibc ")
        .to_string()
}

#[test]
fn full_tcaches_are_found_per_thread() {
    let (_, json) = json_of("fastbins", &[]);
    // Two threads (main and one worker), every fastbin size with 7 chunks cached: full.
    assert_eq!(json.tcaches.len(), 2, "{:?}", json.tcaches);
    for t in &json.tcaches {
        assert!(t.full_bins >= 9, "{t:?}");
        assert!(t.chunks >= 63, "{t:?}");
    }
}

#[test]
fn mmapped_chunks_match_mp() {
    let (run, json) = json_of("mmapped", &[]);
    let totals = run
        .xml
        .lines()
        .find(|l| l.starts_with("<total type=\"mmap\""))
        .expect("mmap total");
    assert!(
        totals.contains(&format!("count=\"{}\"", json.mmapped_chunks))
            && totals.contains(&format!("size=\"{}\"", json.mmapped_bytes)),
        "mapping scan found {} chunks / {} bytes; glibc says {totals}",
        json.mmapped_chunks,
        json.mmapped_bytes
    );
}

#[test]
fn journald_pattern_is_fragmentation_not_a_leak() {
    let (_, json) = json_of("journald", &[]);
    let f = json
        .findings
        .iter()
        .find(|f| f.code == "fragmentation")
        .unwrap_or_else(|| panic!("no fragmentation finding: {:?}", json.findings));
    assert!(
        f.message.contains("fragmentation, not a leak"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("malloc_trim(0) could return"),
        "{}",
        f.message
    );
    let main = &json.arenas[0];
    // 16 rounds, each trapping most of a 4 MiB buffer below a chunk in use.
    assert!(main.hole_bytes > 15 * (4 << 20) * 9 / 10, "{main:?}");
    assert!(main.trimmable_bytes > 15 * (4 << 20) * 9 / 10, "{main:?}");
    let largest = &main.holes[0];
    assert!(largest.size > 3 << 20, "{largest:?}");
    assert!(largest.pinned_by.is_some(), "{largest:?}");
}

/// What `malloc_trim (0)` actually gave back, read from strace's log of a run whose
/// process forks a copy of itself that calls it (journald.c): the lengths of the copy's
/// `madvise (…, MADV_DONTNEED)` calls, plus how far its `brk` lowered the break.
fn trim_released(log: &str) -> u64 {
    let mut child = None;
    let mut madvised = 0;
    for line in log.lines().filter(|l| l.contains("MADV_DONTNEED")) {
        let pid = line.split_whitespace().next().expect("pid");
        child = Some(pid.to_string());
        let len = line.split(", ").nth(1).expect("length");
        madvised += len.trim().parse::<u64>().expect("a number");
    }
    let child = child.expect("the forked copy called madvise");
    let brk_result = |l: &str| parse_hex(l.rsplit("= ").next().unwrap_or(""));
    let mut parent_break = 0;
    let mut child_break = None;
    for line in log.lines().filter(|l| l.contains(" brk(")) {
        if line.starts_with(&format!("{child} ")) {
            child_break = brk_result(line);
        } else if child_break.is_none() {
            parent_break = brk_result(line).unwrap_or(parent_break);
        }
    }
    madvised + child_break.map_or(0, |b| parent_break - b)
}

#[test]
fn trimmable_bytes_equal_what_malloc_trim_released() {
    let run = fixture_in("journald", Mode::Traced);
    let log = std::fs::read_to_string(run.core.with_file_name("strace.txt")).expect("strace log");
    let released = trim_released(&log);
    let json: HeapJson = cli::parse_json(
        &heap(&run.core, Libc::Debug, &["--format", "json"]),
        "journald",
    );
    let ours: u64 = json.arenas.iter().map(|a| a.trimmable_bytes).sum();
    assert_eq!(
        ours, released,
        "trimmable_bytes against malloc_trim (0) in a copy of the process"
    );
    // The same core under strace is still the core malloc_info described.
    let out = heap(&run.core, Libc::Debug, &["--format", "malloc-info"]);
    assert_eq!(out.stdout_str(), run.xml);
}

#[test]
fn healthy_heaps_have_no_findings() {
    for name in ["one_thread", "threads", "fastbins", "mmapped"] {
        let (_, json) = json_of(name, &[]);
        assert!(json.findings.is_empty(), "{name}: {:?}", json.findings);
    }
}

#[test]
fn corruption_is_reported_and_the_walk_goes_on() {
    let run = fixture("corrupt");
    let out = heap(&run.core, Libc::Debug, &["--format", "json"]);
    cli::assert_exit(&out, 1);
    let json: HeapJson = cli::parse_json(&out, "corrupt");
    assert!(json.findings.iter().any(|f| f.code == "corruption"));
    let main = &json.arenas[0];
    assert!(
        main.in_use_chunks > 150,
        "walk stopped at the damage: {main:?}"
    );
}

/// The broken-on-purpose workloads (`corrupt*.c`): each damages its main arena once, after
/// writing malloc_info, and says where in `damage.txt` ("KIND 0xCHUNK"). The walk must name
/// that damage, of that kind, at that chunk, once and nothing else; exit 1; and every
/// arena's list counts and system bytes must still be glibc's (the `malloc_info` tests
/// above compare the whole XML).
mod corrupted {
    use super::*;

    fn check(name: &str) {
        let run = fixture(name);
        let damage = std::fs::read_to_string(run.core.with_file_name("damage.txt"))
            .unwrap_or_else(|e| panic!("{name} wrote no damage.txt: {e}"));
        let (kind, address) = damage
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("{name}: damage.txt is {damage:?}"));
        let address = parse_hex(address).expect("an address");
        for libc in [Libc::Debug, Libc::Absent] {
            let out = heap(&run.core, libc, &["--format", "json"]);
            cli::assert_exit(&out, 1);
            let json: HeapJson = cli::parse_json(&out, name);
            let problems: Vec<(&str, Option<u64>)> = json
                .problems
                .iter()
                .map(|p| (p.kind.as_str(), parse_hex(&p.address)))
                .collect();
            assert_eq!(
                problems,
                [(kind, Some(address))],
                "{name} ({libc:?}): the damage, once and alone\n{}",
                out.describe()
            );
            assert!(
                json.findings.iter().any(|f| f.code == "corruption"),
                "{name}: {:?}",
                json.findings
            );
            let xml = xml_heaps(&run.xml);
            assert_eq!(json.arenas.len(), xml.len(), "{name}: arenas");
            assert_eq!(xml.len(), 2, "{name}: the main arena and the intact one");
            for (a, x) in json.arenas.iter().zip(&xml) {
                assert_eq!(a.system_bytes, x.system, "{name} {}", a.address);
                assert_eq!(a.fastbin_chunks, x.fast_count, "{name} {}", a.address);
                assert_eq!(a.bin_chunks + 1, x.rest_count, "{name} {}", a.address);
            }
            // The text says the same, and says it was partial.
            let text = heap(&run.core, libc, &[]);
            cli::assert_exit(&text, 1);
            assert!(
                text.stdout_str().contains(&format!("{address:#x}")),
                "{name}: the text does not name the damaged chunk\n{}",
                text.describe()
            );
        }
    }

    #[test]
    fn overwritten_size() {
        check("corrupt");
    }

    #[test]
    fn fastbin_cycle_is_one_loop_not_999_double_frees() {
        check("corrupt_fastbin_cycle");
    }

    #[test]
    fn tcache_loop_is_reported_not_dropped() {
        check("corrupt_tcache_loop");
        // The tcache is kept with its one distinct chunk.
        let (_, json) = json_of("corrupt_tcache_loop", &[]);
        assert_eq!(json.tcaches.len(), 1, "{:?}", json.tcaches);
        assert_eq!(json.tcaches[0].chunks, 1);
        assert_eq!(json.arenas[0].tcache_chunks, 1);
    }

    #[test]
    fn tcache_link_without_safe_linking_mangling() {
        check("corrupt_tcache_link");
        // p[4] -> p[2] -> (bad): the two chunks before the damage are kept.
        let (_, json) = json_of("corrupt_tcache_link", &[]);
        assert_eq!(json.tcaches.len(), 1, "{:?}", json.tcaches);
        assert_eq!(json.tcaches[0].chunks, 2);
    }

    #[test]
    fn prev_size_that_lies() {
        check("corrupt_prev_size");
    }

    #[test]
    fn bin_links_written_over_after_free() {
        check("corrupt_bin_links");
    }
}

#[test]
fn list_gives_pointers_sizes_and_states() {
    let (_, json) = json_of("fastbins", &["--list", "all"]);
    let list = json.allocations.expect("allocations");
    let arenas: BTreeSet<&str> = json.arenas.iter().map(|a| a.address.as_str()).collect();
    let mut states = BTreeSet::new();
    for a in &list {
        assert!(parse_hex(&a.address).is_some_and(|x| x % 16 == 0), "{a:?}");
        assert!(
            a.arena.as_deref().is_none_or(|x| arenas.contains(x)),
            "{a:?}"
        );
        states.insert(a.state.as_str());
    }
    for s in ["used", "free", "tcache", "fastbin"] {
        assert!(states.contains(s), "no {s} allocation in {states:?}");
    }
    // fastbins.c: 8 + s * 16 bytes for s in 0..10 → usable sizes 24 … 168.
    assert!(list
        .iter()
        .any(|a| a.state == "fastbin" && (24..=168).contains(&a.size)));
    let (_, used) = json_of("fastbins", &["--list", "used"]);
    assert!(used
        .allocations
        .expect("allocations")
        .iter()
        .all(|a| a.state == "used"));
}

// chap's cores: no libc in the corpus, so the arenas come from the core alone.

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

fn check_chap(dir: &str, core: &str, used: &str, free: Option<&str>) {
    let core_path = corpus::file(&format!("cores/chap/{dir}/{core}"));
    let out = cli::heapmortem([
        OsStr::new("heap"),
        core_path.as_os_str(),
        OsStr::new("--list"),
        OsStr::new("all"),
        OsStr::new("--format"),
        OsStr::new("json"),
        // The host's libraries are other builds: core-reader rejects them by build-id, so
        // nothing but the core is read. (Not `--sysroot EMPTY`: the glibc 2.12 cores have no
        // NT_FILE, and only the host's ld.so names the dynamic linker their link_map lists,
        // which is how `heap` knows the allocator is glibc's.)
        OsStr::new("--debug-dir"),
        empty_dir().as_os_str(),
    ]);
    cli::assert_no_panic(&out);
    let json: HeapJson = cli::parse_json(&out, dir);
    let list = json.allocations.expect("allocations");
    let pick = |states: &[&str]| -> BTreeSet<(u64, u64)> {
        list.iter()
            .filter(|a| states.contains(&a.state.as_str()))
            .map(|a| (parse_hex(&a.address).expect("hex"), a.size))
            .collect()
    };
    let base = corpus::path(&format!("cores/chap/{dir}"));
    // chap has no tcache: a chunk in a tcache is "used" to it.
    let want_used = chap_list(&base.join(used));
    let got_used = pick(&["used", "tcache"]);
    assert_eq!(
        got_used, want_used,
        "{dir}: used allocations differ from chap's {used}"
    );
    if let Some(free) = free {
        let want_free = chap_list(&base.join(free));
        let got_free = pick(&["free", "fastbin"]);
        assert_eq!(
            got_free, want_free,
            "{dir}: free allocations differ from chap's {free}"
        );
    }
}

mod chap {
    use super::*;

    #[test]
    fn one_allocated_glibc_2_12() {
        check_chap(
            "OneAllocated",
            "core.48555.xz",
            "core.48555.list_used",
            Some("core.48555.list_free"),
        );
    }

    #[test]
    fn one_leaked_glibc_2_12() {
        check_chap(
            "OneLeaked",
            "core.20675.xz",
            "core.20675.list_used",
            Some("core.20675.list_free"),
        );
    }

    #[test]
    fn long_string_test_glibc_2_23() {
        // Every used allocation of this core is anchored, so `describe used` lists them all.
        check_chap(
            "LongStringTest",
            "core.26368.xz",
            "core.26368.describe_used",
            None,
        );
    }

    #[test]
    fn spinning_threads_glibc_2_17() {
        check_chap(
            "SpinningThreads",
            "core.SpinningThreads.bz2",
            "core.SpinningThreads.list_used",
            Some("core.SpinningThreads.list_free"),
        );
    }

    #[test]
    fn spinning_threads_long_heap_header_glibc_2_35() {
        check_chap(
            "SpinningThreads_longHeapHeader",
            "core.SpinningThreads.bz2",
            "core.SpinningThreads.list_used",
            Some("core.SpinningThreads.list_free"),
        );
    }

    #[test]
    fn truncated_core_is_partial_not_a_panic() {
        let core = corpus::path("cores/chap/Truncated/core.48555.1M");
        let out = cli::heapmortem([OsStr::new("heap"), core.as_os_str()]);
        cli::assert_no_panic(&out);
        assert!(
            matches!(out.code(), Some(1) | Some(2)),
            "a truncated core must exit 1 or 2\n{}",
            out.describe()
        );
    }
}

/// aarch64 (x86_64 and aarch64 share glibc's malloc layouts): a static program under
/// qemu-user, so main_arena is in the executable's data and nothing of libc is a module;
/// the struct layouts come from the data (libc.a's malloc has no DWARF).
#[test]
fn aarch64_static_threads_malloc_info() {
    assert_static_malloc_info(&fixture_in("threads", Mode::Aarch64), "aarch64");
}

/// `heap --exe EXE --format malloc-info` on a static build's core equals its malloc_info.
fn assert_static_malloc_info(run: &Run, what: &str) {
    let out = cli::heapmortem([
        OsStr::new("heap"),
        run.core.as_os_str(),
        OsStr::new("--exe"),
        run.exe.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("malloc-info"),
    ]);
    cli::assert_no_panic(&out);
    cli::assert_exit(&out, 0);
    assert_eq!(
        out.stdout_str(),
        run.xml,
        "{what}: --format malloc-info differs from glibc's\n{}",
        out.describe()
    );
}

/// A statically linked x86_64 program: no libc file and no version banner (static glibc
/// does not carry it), so the layouts come from the data; glibc 2.36's `malloc_par` must
/// still be recognised even though no thread arena tells its heap_info shape.
#[test]
fn x86_64_static_one_thread_malloc_info() {
    assert_static_malloc_info(&fixture_in("one_thread", Mode::Static), "static x86_64");
}

#[test]
fn tmp_root_is_used() {
    // Everything this module writes stays under the target's temporary folder.
    assert!(fixture("one_thread").core.starts_with(tmp_root()));
}
