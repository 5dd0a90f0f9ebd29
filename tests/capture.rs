//! `profile_import::capture`: a Rust program that allocates through tikv-jemallocator writes
//! its own heap profile as a pprof file, and that file is read by the tools users trust.
//!
//! The fixture (tests/fixtures/capture/, its own cargo workspace) is built once per test run
//! into `CARGO_TARGET_TMPDIR/capture-fixture` — building tikv-jemalloc-sys compiles jemalloc
//! from C, a minute or two the first time — and run with every allocation sampled
//! (`_RJEM_MALLOC_CONF=prof:true,lg_prof_sample:0`). Ground truth:
//! - the bytes and blocks the fixture allocated in its two named functions (constants in its
//!   source, which it prints), against `go tool pprof -top`'s reading of the file;
//! - `go tool pprof`'s totals, against `heapmortem profile --format text`'s;
//! - the build-ids and program headers `eu-readelf` reads from the fixture binary and its
//!   libraries, against the mappings `go tool pprof -raw` reads from the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::harness::cli::{assert_exit, assert_no_panic};
use crate::harness::process::{require, run, Output};
use crate::harness::{readelf, repo_root, unique_dir};

/// The fixture's two allocating functions, as it names them in its output.
const FUNCTIONS: [&str; 2] = ["capture_fixture_small", "capture_fixture_large"];

/// The four sample indexes of a heap profile.
const INDEXES: [&str; 4] = [
    "inuse_space",
    "inuse_objects",
    "alloc_space",
    "alloc_objects",
];

fn tools() -> bool {
    [
        ("cargo", "cargo"),
        ("go", "golang-go"),
        ("eu-readelf", "elfutils"),
    ]
    .iter()
    .all(|(tool, package)| require(tool, package))
}

fn check(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    run(cmd, limit).expect_success(&what)
}

/// Builds the fixture (once per test process; cargo's own locking and caching make later
/// runs and concurrent test processes cheap) and returns the executable.
fn fixture_exe() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capture-fixture");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        check(
            Command::new(cargo)
                .args(["build", "--quiet", "--manifest-path"])
                .arg(repo_root().join("tests/fixtures/capture/Cargo.toml"))
                .env("CARGO_TARGET_DIR", &target),
            Duration::from_secs(1200),
        );
        let exe = target.join("debug/capture-fixture");
        assert!(exe.is_file(), "{} was not built", exe.display());
        exe
    })
}

/// One run of the fixture: the profile it wrote and what it says it allocated.
struct Capture {
    profile: PathBuf,
    /// Function name → (blocks, bytes per block).
    allocated: HashMap<String, (i64, i64)>,
}

fn capture() -> &'static Capture {
    static RUN: OnceLock<Capture> = OnceLock::new();
    RUN.get_or_init(|| {
        let exe = fixture_exe();
        let profile = unique_dir("capture").join("heap.pb.gz");
        let out = check(
            Command::new(exe)
                .arg(&profile)
                .env("_RJEM_MALLOC_CONF", "prof:true,lg_prof_sample:0"),
            Duration::from_secs(60),
        );
        let allocated: HashMap<String, (i64, i64)> = out
            .stdout_str()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 3, "fixture output line `{l}`");
                (
                    f[0].to_string(),
                    (f[1].parse().unwrap(), f[2].parse().unwrap()),
                )
            })
            .collect();
        // The ground truth the fixture's source fixes: 100 blocks of 4 KiB (a small size
        // class) and 3 of 1 MiB (a large one), so jemalloc's usable sizes are the sizes asked.
        assert_eq!(allocated["capture_fixture_small"], (100, 4096));
        assert_eq!(allocated["capture_fixture_large"], (3, 1 << 20));
        Capture { profile, allocated }
    })
}

fn go_pprof(args: &[&str], file: &Path) -> String {
    check(
        Command::new("go")
            .args(["tool", "pprof"])
            .args(args)
            .arg(file)
            .env("PPROF_TMPDIR", unique_dir("capture-pprof-tmp")),
        Duration::from_secs(300),
    )
    .stdout_str()
}

/// `go tool pprof -top` with every node and byte units: total and rows `(flat, cum, name)`.
fn go_top(file: &Path, index: &str) -> (i64, Vec<(i64, i64, String)>) {
    let text = go_pprof(
        &[
            "-top",
            "-unit=byte",
            "-nodefraction=0",
            "-nodecount=1000000",
            &format!("-sample_index={index}"),
        ],
        file,
    );
    // `-unit=byte` prints bytes as `123B` and counts as `123byte`; zero as `0`.
    let number = |s: &str| -> i64 {
        s.trim_end_matches("byte")
            .trim_end_matches('B')
            .parse()
            .unwrap_or_else(|_| panic!("`{s}` in go tool pprof's output:\n{text}"))
    };
    let mut total = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Showing nodes accounting for ") {
            let t = rest
                .split(" total")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap();
            total = Some(number(t));
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6 && f[1].ends_with('%') && f[0] != "flat" {
            rows.push((number(f[0]), number(f[3]), f[5..].join(" ")));
        }
    }
    (
        total.unwrap_or_else(|| panic!("no total in go tool pprof's output:\n{text}")),
        rows,
    )
}

fn heapmortem_text(file: &Path, index: &str) -> (i64, Vec<(i64, i64, String)>) {
    let out = crate::harness::cli::heapmortem([
        "profile".as_ref(),
        file.as_os_str(),
        "--sample-index".as_ref(),
        index.as_ref(),
        "--format".as_ref(),
        "text".as_ref(),
    ]);
    assert_no_panic(&out);
    assert_exit(&out, 0);
    let text = out.stdout_str();
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("Total: "))
        .and_then(|t| t.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `Total: N …` line in\n{text}"));
    let rows = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6 && f[1].ends_with('%')).then(|| {
                (
                    f[0].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[5..].join(" "),
                )
            })
        })
        .collect();
    (total, rows)
}

/// The cum of the row naming `function` (`function` or `path::function`; go tool pprof gives
/// DWARF's short name, heapmortem the demangled path).
fn cum_of(rows: &[(i64, i64, String)], function: &str) -> Option<i64> {
    let suffix = format!("::{function}");
    let found: Vec<i64> = rows
        .iter()
        .filter(|(_, _, n)| n == function || n.ends_with(&suffix))
        .map(|r| r.1)
        .collect();
    assert!(
        found.len() <= 1,
        "{function} named by several rows: {rows:?}"
    );
    found.first().copied()
}

#[test]
fn capture_totals_in_go_tool_pprof_equal_heapmortems() {
    if !tools() {
        return;
    }
    let c = capture();
    let json = crate::harness::cli::heapmortem([
        "profile".as_ref(),
        c.profile.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_exit(&json, 0);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    for index in INDEXES {
        let (go, _) = go_top(&c.profile, index);
        assert_eq!(
            json["totals"][index].as_i64(),
            Some(go),
            "{index}: heapmortem's JSON total vs go tool pprof's"
        );
        // The allocated-since-start values are 0 without jemalloc's `prof_accum:true`, and
        // heapmortem's text prints nothing for an all-zero index.
        if index.starts_with("inuse") {
            let (text, _) = heapmortem_text(&c.profile, index);
            assert_eq!(
                text, go,
                "{index}: heapmortem's text total vs go tool pprof's"
            );
        } else {
            assert_eq!(go, 0, "{index}");
        }
    }
    // What was allocated in the two functions is live, and more than that is (the holders,
    // the runtime's own allocations).
    let (space, _) = go_top(&c.profile, "inuse_space");
    let named: i64 = c.allocated.values().map(|(n, s)| n * s).sum();
    assert!(
        space > named,
        "in-use total {space} vs {named} in the named functions"
    );
}

#[test]
fn capture_named_functions_carry_the_bytes_the_fixture_allocated() {
    if !tools() {
        return;
    }
    let c = capture();
    for (index, bytes) in [("inuse_space", true), ("inuse_objects", false)] {
        let (_, rows) = go_top(&c.profile, index);
        for function in FUNCTIONS {
            let (blocks, size) = c.allocated[function];
            let expected = if bytes { blocks * size } else { blocks };
            assert_eq!(
                cum_of(&rows, function),
                Some(expected),
                "{function} {index} in go tool pprof -top: {rows:?}"
            );
        }
    }
}

/// The same figures in heapmortem's own reading of the file, symbolized through core-reader.
/// The fixture is linked by lld (rustc's default on x86_64 Linux since 1.90), whose code
/// segment starts mid-page (`p_offset` 0x1c2bc0 at `p_vaddr` 0x1c3bc0): the load bias must
/// be computed from the exact segment bounds the file records, as pprof's `GetBase` does.
#[test]
fn capture_named_functions_in_heapmortem() {
    if !tools() {
        return;
    }
    let c = capture();
    for (index, bytes) in [("inuse_space", true), ("inuse_objects", false)] {
        let (_, rows) = heapmortem_text(&c.profile, index);
        for function in FUNCTIONS {
            let (blocks, size) = c.allocated[function];
            let expected = if bytes { blocks * size } else { blocks };
            assert_eq!(
                cum_of(&rows, function),
                Some(expected),
                "{function} {index} in heapmortem's text: {rows:?}"
            );
        }
    }
}

/// One mapping of `go tool pprof -raw`: `1: 0xSTART/0xLIMIT/0xOFFSET PATH BUILDID [FN]…`.
#[derive(Debug)]
struct RawMapping {
    start: u64,
    limit: u64,
    offset: u64,
    path: String,
    build_id: Option<String>,
}

fn raw_mappings(file: &Path) -> Vec<RawMapping> {
    let text = go_pprof(&["-raw"], file);
    let section = text
        .split_once("\nMappings\n")
        .unwrap_or_else(|| panic!("no Mappings in go tool pprof -raw:\n{text}"))
        .1;
    section
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (_, rest) = l.split_once(": ").expect("`N: ` before a mapping");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let range: Vec<u64> = f[0]
                .split('/')
                .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
                .collect();
            RawMapping {
                start: range[0],
                limit: range[1],
                offset: range[2],
                path: f.get(1).map_or("", |s| s).to_string(),
                build_id: f
                    .get(2)
                    .filter(|s| !s.starts_with('['))
                    .map(|s| s.to_string()),
            }
        })
        .collect()
}

#[test]
fn capture_mappings_carry_the_build_ids_and_segments_readelf_reads() {
    if !tools() {
        return;
    }
    let c = capture();
    let exe = fixture_exe();
    let mappings = raw_mappings(&c.profile);
    let main = &mappings[0];
    assert_eq!(
        Path::new(&main.path),
        exe,
        "the main program first: {mappings:?}"
    );
    let exe_id = readelf::build_id(exe).expect("the fixture has a build-id");
    assert_eq!(main.build_id.as_deref(), Some(exe_id.as_str()));
    // Its one code segment exactly: file offset and size as the program headers say.
    let code: Vec<readelf::Phdr> = readelf::program_headers(exe)
        .into_iter()
        .filter(|p| p.kind == "LOAD" && p.flags.contains('E'))
        .collect();
    assert_eq!(code.len(), 1, "{code:?}");
    assert_eq!(
        (main.offset, main.limit - main.start, main.start % 4096),
        (code[0].offset, code[0].memsz, code[0].vaddr % 4096),
        "{main:?} vs {code:?}"
    );
    // Every library that is a file on disk carries the build-id its file has: those go tool
    // pprof keeps (it drops mappings no stack passes through; libc's is on every stack)…
    let mut libraries = 0;
    for m in &mappings[1..] {
        if let Some(id) = file_build_id(&m.path) {
            assert_eq!(m.build_id.as_deref(), Some(id.as_str()), "{}", m.path);
            libraries += 1;
        }
    }
    assert!(libraries >= 1, "libc expected: {mappings:?}");
    // …and all the file records, as this crate's reader reads them: the dynamic loader, on
    // no stack, is there too (the vDSO, no file, is left out of the check).
    let all = profile_import::read_path(&c.profile)
        .unwrap()
        .profile
        .mappings;
    let mut checked = Vec::new();
    for m in &all {
        if let Some(id) = file_build_id(&m.path) {
            assert_eq!(m.build_id.as_deref(), Some(id.as_str()), "{}", m.path);
            checked.push(m.path.as_str());
        }
    }
    assert!(
        checked.iter().any(|p| p.contains("ld-linux")),
        "the dynamic loader expected among {checked:?}"
    );
}

/// `eu-readelf -n`'s build-id of a mapping's file, if the path names a file on disk.
fn file_build_id(path: &str) -> Option<String> {
    let path = Path::new(path);
    if !path.is_absolute() || !path.is_file() {
        return None;
    }
    Some(readelf::build_id(path).unwrap_or_else(|| panic!("{} has no build-id", path.display())))
}

#[test]
fn capture_without_profiling_says_how_to_turn_it_on() {
    if !tools() {
        return;
    }
    let dir = unique_dir("capture-off");
    let out = run(
        Command::new(fixture_exe())
            .arg(dir.join("heap.pb.gz"))
            .env_remove("_RJEM_MALLOC_CONF"),
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr_str().contains("_RJEM_MALLOC_CONF=prof:true"),
        "{}",
        out.describe()
    );
    assert!(!dir.join("heap.pb.gz").exists(), "no half-written profile");
}
