//! `heapmortem profile` against the tools users trust, on the same files: jeprof (jemalloc
//! dumps), google-pprof (gperftools), `go tool pprof` (Go and Java profiles, and our own pprof
//! output). Expectations come only from those tools, run by the test; fixtures are compiled
//! and run here (tests/fixtures/profile/README.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::harness::cli::{assert_exit, assert_no_panic, assert_one_line_error};
use crate::harness::process::{require, run, Output};
use crate::harness::{corpus, unique_dir};

fn corpus(name: &str) -> PathBuf {
    corpus::path(&format!("profiles/google-pprof/{name}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profile")
        .join(name)
}

/// A fresh folder under target/ for one test's files.
fn scratch(name: &str) -> PathBuf {
    unique_dir(&format!("profile-{name}"))
}

/// Whether every tool is there; a missing one fails the test naming its Debian package
/// (the harness's rule: no silent pass), unless HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS is set.
pub(crate) fn tools(needed: &[(&str, &str)]) -> bool {
    needed.iter().all(|(tool, package)| require(tool, package))
}

/// Runs a ground-truth tool or fixture; it must succeed.
fn check(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    run(cmd, Duration::from_secs(300)).expect_success(&what)
}

fn heapmortem(args: &[&str]) -> Output {
    let out = crate::harness::cli::heapmortem([&["profile"], args].concat());
    assert_no_panic(&out);
    out
}

fn heapmortem_ok(args: &[&str]) -> String {
    let out = heapmortem(args);
    assert_exit(&out, 0);
    out.stdout_str()
}

/// A report in jeprof's `--text` layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) total: Option<String>,
    /// (flat, cum, name)
    pub(crate) rows: Vec<(i64, i64, String)>,
}

pub(crate) fn parse_text(text: &str) -> Table {
    let mut total = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("Total: ") {
            total = Some(t.to_string());
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || !f[1].ends_with('%') {
            continue;
        }
        // The name is everything after the fifth column (it may contain blanks).
        let mut rest = line.trim_start();
        for _ in 0..5 {
            rest = rest[rest.find(char::is_whitespace).unwrap()..].trim_start();
        }
        rows.push((
            f[0].parse().unwrap(),
            f[3].parse().unwrap(),
            rest.to_string(),
        ));
    }
    Table { total, rows }
}

/// A name for an unsymbolized address, whichever way it is printed (jeprof: `00007f…` or
/// `0x00007f…`; heapmortem: `0x…`).
fn address_of(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("0x").unwrap_or(name);
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// Compares heapmortem's table with jeprof's (or google-pprof's) for the same file:
/// - the Total line is equal;
/// - every row of jeprof's whose name heapmortem also prints has the same flat and cum;
/// - every other row of jeprof's has a row of heapmortem's with the same flat and cum under
///   another name: an unsymbolized address printed differently, a frame jeprof names by the
///   nearest dynamic symbol of a stripped library, an inlined frame (see `known`);
/// - heapmortem's extra rows are such renamed rows or `(inline)` rows that jeprof does not
///   show for libraries without a `_fini` symbol.
///
/// `own` lists functions of the workload that must be there by name.
pub(crate) fn assert_same_figures(
    what: &str,
    jeprof: &Table,
    ours: &Table,
    own: &[&str],
) -> Vec<String> {
    assert_eq!(jeprof.total, ours.total, "{what}: Total");
    let ours_by_name: HashMap<&str, (i64, i64)> = ours
        .rows
        .iter()
        .map(|(f, c, n)| (n.as_str(), (*f, *c)))
        .collect();
    let jeprof_by_name: HashMap<&str, (i64, i64)> = jeprof
        .rows
        .iter()
        .map(|(f, c, n)| (n.as_str(), (*f, *c)))
        .collect();
    for name in own {
        if let Some(&(f, c)) = jeprof_by_name.get(name) {
            assert_eq!(ours_by_name.get(name), Some(&(f, c)), "{what}: row {name}");
        }
    }
    let mut unmatched_ours: Vec<(i64, i64, &str)> = ours
        .rows
        .iter()
        .filter(|(_, _, n)| !jeprof_by_name.contains_key(n.as_str()))
        .map(|(f, c, n)| (*f, *c, n.as_str()))
        .collect();
    let mut renamed = Vec::new();
    for (f, c, name) in &jeprof.rows {
        match ours_by_name.get(name.as_str()) {
            Some(&fc) => assert_eq!(fc, (*f, *c), "{what}: row {name}"),
            None => {
                let i = unmatched_ours
                    .iter()
                    .position(|&(of, oc, on)| {
                        (of, oc) == (*f, *c)
                            && (address_of(on).is_some() || address_of(name).is_some())
                    })
                    .unwrap_or_else(|| {
                        panic!(
                            "{what}: jeprof's row `{name}` ({f} {c}) has no counterpart in\n{ours:#?}"
                        )
                    });
                let (_, _, on) = unmatched_ours.remove(i);
                renamed.push(format!("{name} => {on}"));
            }
        }
    }
    for (f, c, name) in unmatched_ours {
        assert!(
            name.ends_with(" (inline)")
                && jeprof_by_name.contains_key(name.trim_end_matches(" (inline)")),
            "{what}: our row `{name}` ({f} {c}) is not in jeprof's table"
        );
    }
    renamed
}

/// The jemalloc fixture, built once, and its dumps for each lg_prof_sample.
pub(crate) struct Jemalloc {
    pub(crate) exe: PathBuf,
    /// (lg_prof_sample, base dump, final dump)
    pub(crate) dumps: Vec<(u32, PathBuf, PathBuf)>,
}

pub(crate) fn jemalloc_fixture() -> &'static Jemalloc {
    static BUILT: OnceLock<Jemalloc> = OnceLock::new();
    BUILT.get_or_init(|| {
        assert!(
            Path::new("/usr/include/jemalloc/jemalloc.h").exists(),
            "the jemalloc fixture needs jemalloc's headers and library: apt-get install libjemalloc-dev"
        );
        let dir = scratch("jemalloc");
        let exe = dir.join("jemalloc_workload");
        check(Command::new("gcc")
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(fixture("jemalloc_workload.c"))
            .arg("-ljemalloc"));
        let dumps = [0u32, 10, 19]
            .into_iter()
            .map(|lg| {
                let base = dir.join(format!("base.{lg}.heap"));
                let last = dir.join(format!("final.{lg}.heap"));
                check(Command::new(&exe)
                    .env("MALLOC_CONF", format!("prof:true,prof_accum:true,lg_prof_sample:{lg}"))
                    .arg(&base)
                    .arg(&last));
                (lg, base, last)
            })
            .collect();
        Jemalloc { exe, dumps }
    })
}

pub(crate) const OWN: &[&str] = &[
    "window_alloc",
    "inflate_init",
    "handle_request",
    "small_objects",
    "zeroed_table",
    "growing_buffer",
    "recurse",
    "uses_inline",
    "inline_helper (inline)",
    "main",
];

const INDEXES: [&str; 4] = [
    "inuse_space",
    "inuse_objects",
    "alloc_space",
    "alloc_objects",
];

/// `jeprof --text --show_bytes ARGS FILES…`, parsed.
pub(crate) fn jeprof(args: &[&str], files: &[&Path]) -> Table {
    let out = check(
        Command::new("jeprof")
            .args(["--text", "--show_bytes"])
            .args(args)
            .args(files),
    );
    parse_text(&out.stdout_str())
}

#[test]
fn jemalloc_dumps_match_jeprof_for_every_sample_rate_and_index() {
    if !tools(&[("gcc", "gcc"), ("jeprof", "libjemalloc-dev")]) {
        return;
    }
    let fx = jemalloc_fixture();
    for (lg, _, dump) in &fx.dumps {
        for index in INDEXES {
            let theirs = jeprof(&[&format!("--{index}")], &[&fx.exe, dump]);
            let ours = parse_text(&heapmortem_ok(&[
                dump.to_str().unwrap(),
                "--exe",
                fx.exe.to_str().unwrap(),
                "--sample-index",
                index,
            ]));
            assert!(
                theirs.total.is_some(),
                "lg_prof_sample:{lg} {index}: jeprof printed no total"
            );
            assert_same_figures(&format!("lg_prof_sample:{lg} {index}"), &theirs, &ours, OWN);
        }
    }
}

#[test]
fn jemalloc_base_subtraction_matches_jeprof_base() {
    if !tools(&[("gcc", "gcc"), ("jeprof", "libjemalloc-dev")]) {
        return;
    }
    let fx = jemalloc_fixture();
    for (lg, base, dump) in &fx.dumps {
        for index in ["inuse_space", "alloc_objects"] {
            let theirs = jeprof(
                &[&format!("--{index}"), "--base", base.to_str().unwrap()],
                &[&fx.exe, dump],
            );
            let ours = parse_text(&heapmortem_ok(&[
                dump.to_str().unwrap(),
                "--base",
                base.to_str().unwrap(),
                "--sample-index",
                index,
            ]));
            let what = format!("--base, lg_prof_sample:{lg} {index}");
            assert_same_figures(&what, &theirs, &ours, OWN);
        }
    }
    // With every allocation sampled, the growth is the second phase only: the 64 windows.
    let (_, base, dump) = &fx.dumps[0];
    let ours = parse_text(&heapmortem_ok(&[
        dump.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--focus",
        "handle_request",
    ]));
    let window = ours.rows.iter().find(|r| r.2 == "window_alloc").unwrap();
    // 64 × 32 KiB, scaled by 1/(1-exp(-32768)) = 1 at lg_prof_sample:0.
    assert_eq!(window.0, 64 * 32768);
}

#[test]
fn jeprof_names_frames_of_stripped_libraries_by_the_nearest_dynamic_symbol() {
    if !tools(&[
        ("gcc", "gcc"),
        ("jeprof", "libjemalloc-dev"),
        ("nm", "binutils"),
    ]) {
        return;
    }
    // libstdc++'s start-up allocates its emergency exception pool from a static function.
    // Debian's libstdc++ is stripped: jeprof names the frame after the exported symbol before
    // it; heapmortem, which only names an address inside a symbol's extent, prints the
    // address. `nm -D -S` shows the address lies past the end of jeprof's symbol.
    let fx = jemalloc_fixture();
    let (_, _, dump) = &fx.dumps[0];
    let theirs = jeprof(&[], &[&fx.exe, dump]);
    let ours = parse_text(&heapmortem_ok(&[dump.to_str().unwrap()]));
    let renamed = assert_same_figures("lg_prof_sample:0", &theirs, &ours, OWN);
    // The premise (Debian's stripped libstdc++6) must hold, or the test shows nothing.
    let pair = renamed
        .iter()
        .find(|r| r.contains("@@GLIBCXX"))
        .unwrap_or_else(|| panic!("no frame jeprof names by a libstdc++ symbol: {renamed:?}"));
    let (name, address) = pair.split_once(" => ").unwrap();
    let address = address_of(address).expect("heapmortem prints the address");
    let symbol = name.split(['(', '@']).next().unwrap();
    let text = std::fs::read_to_string(dump).unwrap();
    let (start, offset, lib) = text
        .lines()
        .filter(|l| l.contains("libstdc++") && l.contains("r-xp"))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (s, e) = f[0].split_once('-')?;
            let (s, e) = (
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            );
            (s..e)
                .contains(&address)
                .then(|| (s, u64::from_str_radix(f[2], 16).unwrap(), f[5].to_string()))
        })
        .expect("the address lies in libstdc++");
    let out =
        check(Command::new("nm").args(["-D", "-S", "-C", "--defined-only", &lib])).stdout_str();
    let file_address = address - start + offset;
    let (sym_start, sym_size) = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (f.len() == 4 && f[3].starts_with(symbol)).then(|| {
                (
                    u64::from_str_radix(f[0], 16).unwrap(),
                    u64::from_str_radix(f[1], 16).unwrap(),
                )
            })
        })
        .find(|&(s, _)| s <= file_address)
        .expect("jeprof's symbol is a dynamic symbol of libstdc++");
    assert!(
        file_address >= sym_start + sym_size,
        "{name}: {file_address:#x} lies inside [{sym_start:#x}, +{sym_size:#x}): jeprof was right"
    );
}

#[test]
fn corpus_jemalloc_heap_matches_jeprof() {
    if !tools(&[("jeprof", "libjemalloc-dev")]) {
        return;
    }
    // The corpus README: jeprof reads it as 182546748483 B. Its binaries are not here, so
    // both tools print addresses.
    let file = corpus("jemalloc.heap");
    for index in INDEXES {
        let theirs = jeprof(&[&format!("--{index}")], &[Path::new("/bin/true"), &file]);
        let ours = parse_text(&heapmortem_ok(&[
            file.to_str().unwrap(),
            "--sample-index",
            index,
        ]));
        if index == "inuse_space" {
            assert_eq!(ours.total.as_deref(), Some("182546748483 B"));
            assert_eq!(ours.rows.len(), 586);
        }
        assert_same_figures(index, &theirs, &ours, &[]);
        for (f, c, name) in &ours.rows {
            let theirs_row = theirs
                .rows
                .iter()
                .find(|r| address_of(&r.2) == address_of(name))
                .unwrap();
            assert_eq!((theirs_row.0, theirs_row.1), (*f, *c), "{index} {name}");
        }
    }
}

#[test]
fn corpus_gperftools_profiles_match_jeprof() {
    if !tools(&[("jeprof", "libjemalloc-dev")]) {
        return;
    }
    for name in ["cppbench.heap", "cppbench.growth"] {
        let file = corpus(name);
        for index in INDEXES {
            let theirs = jeprof(&[&format!("--{index}")], &[Path::new("/bin/true"), &file]);
            let ours = parse_text(&heapmortem_ok(&[
                file.to_str().unwrap(),
                "--sample-index",
                index,
            ]));
            assert_same_figures(&format!("{name} {index}"), &theirs, &ours, &[]);
        }
    }
}

#[test]
fn corpus_go_legacy_heap_matches_jeprof_where_jeprof_can_read_it() {
    if !tools(&[("jeprof", "libjemalloc-dev")]) {
        return;
    }
    // gobench.heap (`@ heap/1048576`) has lines with an in-use count of 0, on which jeprof
    // dies dividing by zero, and a bare `@` line, which jeprof drops. Without those lines
    // jeprof reads it; heapmortem must agree with that reading on the in-use space, and its
    // reading of the whole file must differ only by the bare stack's 288 bytes.
    let text = std::fs::read_to_string(corpus("gobench.heap")).unwrap();
    let dir = scratch("gobench");
    let cleaned = dir.join("gobench.cleaned.heap");
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || !(l.starts_with("0: 0 ") || l.trim_end().ends_with('@')))
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&cleaned, kept.join("\n") + "\n").unwrap();
    let theirs = jeprof(&["--inuse_space"], &[Path::new("/bin/true"), &cleaned]);
    let ours = parse_text(&heapmortem_ok(&[cleaned.to_str().unwrap()]));
    assert_same_figures("gobench.heap", &theirs, &ours, &[]);
    let whole = parse_text(&heapmortem_ok(&[corpus("gobench.heap").to_str().unwrap()]));
    let total = |t: &Table| -> i64 {
        t.total
            .as_ref()
            .unwrap()
            .trim_end_matches(" B")
            .parse()
            .unwrap()
    };
    // The bare `@` line, `1: 288 [2: 296] @`, un-sampled (uniform, adjustment 524288).
    assert_eq!(total(&whole) - total(&ours), 524288);
}

/// `go tool pprof -top` with every node and byte units: (total, rows (flat, cum, name)).
fn go_top(file: &Path, index: &str) -> (i64, Vec<(i64, i64, String)>) {
    let out = check(
        Command::new("go")
            .args([
                "tool",
                "pprof",
                "-top",
                "-unit=byte",
                "-nodefraction=0",
                "-nodecount=1000000",
            ])
            .arg(format!("-sample_index={index}"))
            .arg(file)
            .env("PPROF_TMPDIR", scratch("pprof-tmp")),
    );
    let text = out.stdout_str();
    // `-unit=byte` prints bytes as `123B` and counts as `123byte`.
    let number = |s: &str| -> i64 {
        s.trim_end_matches("byte")
            .trim_end_matches('B')
            .parse()
            .unwrap_or_else(|_| panic!("`{s}` in go tool pprof's output"))
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
            // pprof marks a function seen only inlined `name (inline)`; heapmortem's JSON names
            // it `name`. Rows of the same function are summed.
            let name = f[5..].join(" ");
            let name = name.trim_end_matches(" (inline)").to_string();
            match rows
                .iter_mut()
                .find(|r: &&mut (i64, i64, String)| r.2 == name)
            {
                Some(r) => {
                    r.0 += number(f[0]);
                    r.1 += number(f[3]);
                }
                None => rows.push((number(f[0]), number(f[3]), name)),
            }
        }
    }
    (total.expect("go tool pprof printed a total"), rows)
}

#[derive(serde::Deserialize)]
struct Json {
    totals: HashMap<String, i64>,
    functions: Vec<JsonFunction>,
}

#[derive(serde::Deserialize)]
struct JsonFunction {
    name: String,
    flat: i64,
    cum: i64,
}

fn ours_json(args: &[&str]) -> Json {
    serde_json::from_str(&heapmortem_ok(&[args, &["--format", "json"]].concat())).unwrap()
}

fn assert_matches_go(what: &str, go: &(i64, Vec<(i64, i64, String)>), ours: &Json, index: &str) {
    assert_eq!(ours.totals[index], go.0, "{what}: total");
    let by_name: HashMap<&str, (i64, i64)> = ours
        .functions
        .iter()
        .map(|f| (f.name.as_str(), (f.flat, f.cum)))
        .collect();
    for (flat, cum, name) in &go.1 {
        assert_eq!(
            by_name.get(name.as_str()),
            Some(&(*flat, *cum)),
            "{what}: {name}"
        );
    }
    assert_eq!(by_name.len(), go.1.len(), "{what}: number of functions");
}

#[test]
fn corpus_java_heap_matches_go_tool_pprof() {
    if !tools(&[("go", "golang-go")]) {
        return;
    }
    let file = corpus("java.heap");
    for index in ["inuse_space", "inuse_objects"] {
        let go = go_top(&file, index);
        let ours = ours_json(&[file.to_str().unwrap(), "--sample-index", index]);
        assert_matches_go(&format!("java.heap {index}"), &go, &ours, index);
    }
}

fn go_fixture() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = scratch("go");
        let exe = dir.join("go_heap");
        check(
            Command::new("go")
                .args(["build", "-o"])
                .arg(&exe)
                .arg(fixture("go_heap/main.go"))
                .env("GOCACHE", dir.join("cache"))
                .env("GOPATH", dir.join("gopath"))
                .env("GO111MODULE", "off"),
        );
        let profile = dir.join("heap.pb.gz");
        check(Command::new(&exe).arg(&profile));
        profile
    })
}

#[test]
fn go_heap_profile_matches_go_tool_pprof() {
    if !tools(&[("go", "golang-go")]) {
        return;
    }
    let profile = go_fixture();
    for index in INDEXES {
        let go = go_top(profile, index);
        let ours = ours_json(&[profile.to_str().unwrap(), "--sample-index", index]);
        assert_matches_go(&format!("go heap {index}"), &go, &ours, index);
        assert!(ours.functions.iter().any(|f| f.name == "main.windowAlloc"));
    }
}

#[test]
fn our_pprof_output_reads_back_in_go_tool_pprof() {
    if !tools(&[("gcc", "gcc"), ("go", "golang-go")]) {
        return;
    }
    let dir = scratch("pprof-out");
    let fx = jemalloc_fixture();
    let (_, _, dump) = &fx.dumps[1];
    let inputs: [(&str, PathBuf); 3] = [
        ("jemalloc", dump.clone()),
        ("go", go_fixture().clone()),
        ("corpus", corpus("jemalloc.heap")),
    ];
    for (what, input) in inputs {
        let out = dir.join(format!("{what}.pb.gz"));
        heapmortem_ok(&[
            input.to_str().unwrap(),
            "--format",
            "pprof",
            "-o",
            out.to_str().unwrap(),
        ]);
        for index in INDEXES {
            let ours = ours_json(&[input.to_str().unwrap(), "--sample-index", index]);
            let go = go_top(&out, index);
            assert_eq!(go.0, ours.totals[index], "{what} {index}: total");
            // The top functions (by flat) carry the same figures, within the 1 per sample that
            // integer sample values allow.
            // (Unsymbolized addresses are left out: pprof names them by their mapping.)
            let symbolized = ours.functions.iter().filter(|f| !f.name.starts_with("0x"));
            for f in symbolized.filter(|f| f.flat != 0).take(5) {
                let name = &f.name;
                let row = go.1.iter().find(|r| &r.2 == name);
                let row = row.unwrap_or_else(|| panic!("{what} {index}: {name} not in {:?}", go.1));
                assert!(
                    (row.0 - f.flat).abs() <= 500,
                    "{what} {index} {name}: {row:?} vs {}",
                    f.flat
                );
            }
        }
    }
}

#[test]
fn gperftools_heap_profile_matches_google_pprof() {
    if !tools(&[("gcc", "gcc"), ("google-pprof", "google-perftools")]) {
        return;
    }
    assert!(
        Path::new("/usr/include/gperftools/heap-profiler.h").exists(),
        "the gperftools fixture needs tcmalloc: apt-get install libgoogle-perftools-dev"
    );
    let dir = scratch("tcmalloc");
    let exe = dir.join("tcmalloc_workload");
    check(
        Command::new("gcc")
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(fixture("tcmalloc_workload.c"))
            .arg("-ltcmalloc"),
    );
    let prefix = dir.join("prof");
    check(Command::new(&exe).env("HEAPPROFILE", &prefix));
    let file = dir.join("prof.0001.heap");
    let head = std::fs::read_to_string(&file).unwrap();
    assert!(
        head.starts_with("heap profile:"),
        "{}",
        &head[..60.min(head.len())]
    );
    for index in INDEXES {
        let out = check(
            Command::new("google-pprof")
                .args(["--text", "--show_bytes", &format!("--{index}")])
                .arg(&exe)
                .arg(&file),
        );
        let theirs = parse_text(&out.stdout_str());
        let ours = parse_text(&heapmortem_ok(&[
            file.to_str().unwrap(),
            "--sample-index",
            index,
        ]));
        assert_same_figures(
            &format!("tcmalloc {index}"),
            &theirs,
            &ours,
            &[
                "window_alloc",
                "handle_request",
                "small_objects",
                "zeroed_table",
                "main",
            ],
        );
        assert!(ours.rows.iter().any(|r| r.2 == "window_alloc"));
    }
}

#[test]
fn text_json_folded_and_dot_agree() {
    if !tools(&[("gcc", "gcc")]) {
        return;
    }
    let fx = jemalloc_fixture();
    let (_, _, dump) = &fx.dumps[0];
    let dump = dump.to_str().unwrap();
    let text = parse_text(&heapmortem_ok(&[dump]));
    let json = ours_json(&[dump]);
    let total: i64 = text
        .total
        .as_ref()
        .unwrap()
        .trim_end_matches(" B")
        .parse()
        .unwrap();
    assert_eq!(json.totals["inuse_space"], total);
    let folded = heapmortem_ok(&[dump, "--format", "folded"]);
    let window: i64 = folded
        .lines()
        .filter(|l| l.contains("handle_request;inflate_init;window_alloc "))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .sum();
    let row = json
        .functions
        .iter()
        .find(|f| f.name == "window_alloc")
        .unwrap();
    assert_eq!(window, row.flat);
    assert!(folded
        .lines()
        .all(|l| !l.contains("malloc;") && !l.ends_with(" 0")));
    // The call graph (the graph crate's, checked against `jeprof --dot` in report.rs):
    // at most --nodecount functions, the request path among them.
    let dot = heapmortem_ok(&[dump, "--format", "dot", "--nodecount", "5"]);
    let nodes = dot
        .lines()
        .filter(|l| l.starts_with('N') && l.contains(" [label=") && !l.contains(" -> "))
        .count();
    assert!(
        dot.starts_with("digraph") && dot.contains("handle_request"),
        "{dot}"
    );
    assert!((1..=5).contains(&nodes), "{nodes} nodes: {dot}");
    let svg = heapmortem_ok(&[dump, "--format", "svg", "--nodecount", "5"]);
    assert!(
        svg.contains("<svg") && svg.contains("handle_request"),
        "{svg}"
    );
    let top = parse_text(&heapmortem_ok(&[
        dump,
        "--nodecount",
        "3",
        "--ignore",
        "window_alloc",
    ]));
    assert_eq!(top.rows.len(), 3);
    assert!(top
        .rows
        .iter()
        .all(|r| r.2 != "window_alloc" && r.2 != "handle_request"));
}

#[test]
fn a_damaged_profile_yields_what_could_be_read_and_exits_1() {
    let dir = scratch("damaged");
    let text = std::fs::read_to_string(corpus("jemalloc.heap")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[600] = "@ 0x12 not-an-address".to_string();
    lines[900] = "  t*: 1: 2 [3:".to_string();
    let file = dir.join("damaged.heap");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = heapmortem(&[file.to_str().unwrap()]);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 601"), "{err}");
    assert!(out.stdout_str().starts_with("Total: "));
    // Cut in the middle of a stack line: still read, in part.
    let cut = dir.join("cut.heap");
    std::fs::write(&cut, &text.as_bytes()[..text.len() / 3]).unwrap();
    let out = heapmortem(&[cut.to_str().unwrap()]);
    assert!(matches!(out.code(), Some(0 | 1)), "{}", out.describe());
}

#[test]
fn unreadable_inputs_exit_2_with_one_line() {
    let dir = scratch("unreadable");
    let junk = dir.join("junk");
    std::fs::write(&junk, b"\x00\x01\x02garbage").unwrap();
    let text = dir.join("text");
    std::fs::write(&text, b"hello world\n").unwrap();
    let good = corpus("jemalloc.heap");
    let good = good.to_str().unwrap();
    for args in [
        vec![junk.to_str().unwrap()],
        vec![text.to_str().unwrap()],
        vec!["/nonexistent/file.heap"],
        vec![good, "--focus", "("],
    ] {
        let out = heapmortem(&args);
        assert_exit(&out, 2);
        assert_one_line_error(&out);
    }
}

#[test]
fn help_lists_the_allocator_frame_rule() {
    let help = heapmortem_ok(&["--help"]);
    assert!(help.contains("RemoveUninterestingFrames"), "{help}");
    assert!(help.contains("operator new"));
}

/// `heapmortem profile CORE`: the heap profile a jemalloc running with `prof:true` kept in
/// memory, read from the core of a process that aborted right after `prof.dump`, gives
/// what `jeprof --text --show_bytes` reads from that dump, for every sample index: the same
/// Total, and the same cumulative figure for each of the workload's own functions.
///
/// The workload links jemalloc statically, so its internals carry the `je_` prefix; jeprof
/// keeps those frames (its list knows no `je_*` names) and puts every flat byte on
/// jemalloc's `prof_backtrace_impl`; heapmortem drops them (the allocator-frame rule) and
/// puts the flat bytes on the workload's functions that called malloc. So for flat, the
/// truth is jeprof's own cumulative figure of those callers, whose only callee that
/// allocates is malloc.
#[test]
fn a_core_with_prof_true_gives_the_profile_jeprof_reads_from_its_dump() {
    if !crate::heap_jemalloc::have_static_jemalloc() || !tools(&[("jeprof", "libjemalloc-dev")]) {
        return;
    }
    let run = crate::heap_jemalloc::run_workload("prof", "prof:true,lg_prof_sample:0");
    let dump = run.core.with_file_name("stats.json.heap");
    let core = run.core.to_str().unwrap();
    for index in INDEXES {
        let truth = jeprof(&[&format!("--{index}")], &[&run.exe, &dump]);
        let ours = parse_text(&heapmortem_ok(&[core, "--sample-index", index]));
        assert_eq!(truth.total, ours.total, "{index}: Total");
        let row = |t: &Table, name: &str| t.rows.iter().find(|r| r.2 == name).map(|r| (r.0, r.1));
        for name in ["main", "handle_request", "render_node", "inflate_window"] {
            let Some((_, cum)) = row(&truth, name) else {
                continue;
            };
            assert_eq!(
                row(&ours, name).map(|r| r.1),
                Some(cum),
                "{index}: cum of {name}"
            );
        }
        // The allocating leaves of the workload.
        for name in ["inflate_window", "render_node"] {
            if let Some((_, cum)) = row(&truth, name) {
                assert_eq!(
                    row(&ours, name).map(|r| r.0),
                    Some(cum),
                    "{index}: flat of {name}"
                );
            }
        }
        assert!(
            ours.rows
                .iter()
                .all(|r| !r.2.starts_with("je_") && !r.2.starts_with("prof_")),
            "{index}: jemalloc's own frames are dropped: {ours:#?}"
        );
    }
}
