//! Allocation sites of a jemalloc that ran with `prof:true`, read from its core by `leaks` and
//! `explain`, against ground truth only:
//!
//! - `tests/fixtures/leaks/sites.c` leaks from two known functions (`leak_pages`,
//!   `leak_records`). Run with every allocation sampled (`lg_prof_sample:0`), the sites of
//!   `leaks` name those functions with the blocks and bytes valgrind memcheck's loss records
//!   give for the same workload, and `explain` on a leaked block names its function.
//! - Run with jemalloc's default sampling (one allocation per 512 KiB on average), each
//!   site's sampled count equals the count of its backtrace in the `prof.dump` jemalloc wrote
//!   just before the core, and its estimate equals `jeprof --text`'s figure for the function
//!   on that dump.
//!
//! Both on Debian's jemalloc 5.3.0 and on 5.1.0 and 5.2.1 built with `--enable-prof` from
//! their crates (`tests/fixtures/jemalloc/crates/`, the `profiling` feature), with
//! jemalloc's DWARF and without it (the built-in layouts). valgrind cannot see the crates'
//! `_rjem_malloc`: their ground truth is valgrind's account of the same source on Debian's
//! build.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::fixture::abort_core;
use crate::harness::process::{require, run};
use crate::harness::{cli, parse_hex, repo_root, unique_dir};
use crate::heap_jemalloc::{crate_jemalloc, have_static_jemalloc};
use crate::leaks::{Group, LeaksJson, SiteJson};

/// `explain --format json`, the keys read here.
#[derive(Debug, Deserialize)]
struct ExplainJson {
    anchored: bool,
    site: Option<SiteJson>,
}

/// The fixture, built once (linked with Debian's static libjemalloc.a, whose symbols, and so
/// the profiler's tables, are in the executable), if it and the ground-truth `tool` (from
/// Debian's `package`) are there.
fn exe(tool: &str, package: &str) -> Option<PathBuf> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    if !require(tool, package) {
        return None;
    }
    EXE.get_or_init(|| {
        if !require("gcc", "gcc") || !have_static_jemalloc() {
            return None;
        }
        let exe = unique_dir("sites-build").join("sites");
        let static_jemalloc = ["-Wl,-Bstatic", "-ljemalloc", "-Wl,-Bdynamic"];
        compile_sites(&exe, &[], &static_jemalloc);
        Some(exe)
    })
    .clone()
}

/// Compiles sites.c into `exe` (`-O0 -g`, then `flags`), linked with `libs` and what a
/// static jemalloc needs besides.
fn compile_sites(exe: &Path, flags: &[&str], libs: &[&str]) {
    let mut cc = Command::new("gcc");
    cc.args(["-O0", "-g"])
        .args(flags)
        .arg(repo_root().join("tests/fixtures/leaks/sites.c"))
        .arg("-o")
        .arg(exe)
        .args(libs)
        .args(["-lpthread", "-ldl", "-lm"]);
    run(&mut cc, Duration::from_secs(120)).expect_success("compiling sites.c");
}

/// sites.c linked with jemalloc `version` (5.1.0, 5.2.1) built with `--enable-prof` from
/// its crate (`_rjem_` names through `JEMALLOC_MANGLE`, options from `_RJEM_MALLOC_CONF`),
/// with DWARF or `strip --strip-debug`ped (symbols kept: the built-in layouts).
fn crate_exe(version: &'static str, dwarf: bool) -> Option<PathBuf> {
    if !require("gcc", "gcc") || !require("strip", "binutils") {
        return None;
    }
    let out = crate_jemalloc(version, true);
    let exe = unique_dir(&format!("sites-{version}")).join("sites");
    let include = format!("-I{}", out.join("include").display());
    let lib = out.join("lib/libjemalloc.a").display().to_string();
    compile_sites(&exe, &["-DJEMALLOC_MANGLE", &include], &[&lib]);
    if !dwarf {
        let mut strip = Command::new("strip");
        strip.arg("--strip-debug").arg(&exe);
        run(&mut strip, Duration::from_secs(60)).expect_success("strip --strip-debug");
    }
    Some(exe)
}

/// The workload's leaks as valgrind memcheck counts them on Debian's build, once.
fn valgrind_truth() -> Option<BTreeMap<String, (u64, u64)>> {
    static TRUTH: OnceLock<Option<BTreeMap<String, (u64, u64)>>> = OnceLock::new();
    TRUTH
        .get_or_init(|| {
            let exe = exe("valgrind", "valgrind")?;
            let truth = valgrind_records(&exe, &[ARGS[0], ARGS[1], "exit"]);
            // The fixture's own account (sites.c's header), so a changed fixture fails here
            // first.
            assert_eq!(truth.get("leak_pages"), Some(&(30 * 4096, 30)), "{truth:?}");
            assert_eq!(
                truth.get("leak_records"),
                Some(&(25 * 160, 25)),
                "{truth:?}"
            );
            assert_eq!(truth.len(), 2, "{truth:?}");
            Some(truth)
        })
        .clone()
}

/// Pages and records leaked by the every-allocation-sampled runs.
const ARGS: [&str; 2] = ["30", "25"];

/// Per function: (bytes, blocks) of valgrind's "definitely lost" loss records, the function
/// being the first frame below `malloc`.
fn valgrind_records(exe: &Path, args: &[&str]) -> BTreeMap<String, (u64, u64)> {
    let mut vg = Command::new("valgrind");
    vg.args([
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--error-exitcode=0",
        // malloc is in the executable (static jemalloc): valgrind replaces it there.
        "--soname-synonyms=somalloc=NONE",
    ])
    .arg(exe)
    .args(args);
    let out = run(&mut vg, Duration::from_secs(300)).expect_success("sites under valgrind");
    let log = out.stderr_str();
    let mut records = BTreeMap::new();
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        let Some(head) = line.split("are definitely lost in loss record").next() else {
            continue;
        };
        if head.len() == line.len() {
            continue;
        }
        // "==PID== 4,000 bytes in 25 blocks "
        let nums: Vec<u64> = head
            .split_whitespace()
            .filter_map(|w| w.replace(',', "").parse().ok())
            .collect();
        assert!(nums.len() >= 2, "cannot read {line:?}");
        let (bytes, blocks) = (nums[nums.len() - 2], nums[nums.len() - 1]);
        let function = lines
            .by_ref()
            .find_map(|l| l.split(": ").nth(1).filter(|_| l.contains(" by 0x")))
            .and_then(|f| f.split_whitespace().next())
            .unwrap_or_else(|| panic!("no caller under {line:?}\n{log}"))
            .to_string();
        let e = records.entry(function).or_insert((0, 0));
        e.0 += bytes;
        e.1 += blocks;
    }
    records
}

fn leaks_json(core: &Path) -> LeaksJson {
    let (out, json) = crate::leaks::leaks_json(core, &[]);
    cli::assert_exit(&out, 0);
    json
}

/// Per site function: (blocks, bytes, sampled) over its groups.
fn by_site(json: &LeaksJson) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for g in &json.groups {
        let Some(site) = &g.site else { continue };
        let f = site.function.clone().expect("a named site");
        let e = out.entry(f).or_insert((0, 0, 0));
        e.0 += g.count;
        e.1 += g.bytes;
        e.2 += g.sampled.expect("sampled, with a site");
    }
    out
}

/// Runs `exe` with every allocation sampled (options in `conf_var`) and checks the sites of
/// `leaks` against valgrind's `truth`; the core and its leaks.
fn check_all_sampled(
    exe: &Path,
    conf_var: &str,
    truth: &BTreeMap<String, (u64, u64)>,
    label: &str,
) -> (PathBuf, PathBuf, LeaksJson) {
    let dir = unique_dir(&format!("sites-all-{label}"));
    let core = abort_core(
        exe,
        &[ARGS[0], ARGS[1], "abort"],
        &[(conf_var, "prof:true,lg_prof_sample:0")],
        &dir,
    );
    let json = leaks_json(&core);
    assert_eq!(json.sample_period, Some(1), "{label}");
    assert_eq!((json.direct_count, json.indirect_count), (55, 0), "{label}");
    let ours = by_site(&json);
    for (function, &(bytes, blocks)) in truth {
        let got = ours.get(function).copied();
        // Every block sampled, so all of them have the site; the estimate is the count.
        assert_eq!(
            got,
            Some((blocks, bytes, blocks)),
            "{label}: {function}: valgrind says {blocks} blocks, {bytes} bytes; ours {ours:?}"
        );
    }
    assert_eq!(ours.len(), truth.len(), "{label}: {ours:?}");
    for g in json.groups.iter().filter(|g| g.site.is_some()) {
        assert_eq!(g.direct, g.count);
        assert_eq!(
            (g.estimated_count, g.estimated_bytes),
            (Some(g.count), Some(g.bytes))
        );
        let site = g.site.as_ref().expect("site");
        // The full stack, innermost first: the leaking function, then main.
        let names: Vec<&str> = site
            .frames
            .iter()
            .filter_map(|f| f.function.as_deref())
            .collect();
        assert_eq!(names.get(1), Some(&"main"), "{label}: {names:?}");
        assert!(parse_hex(&site.frames[0].address).is_some_and(|a| a > 0));
    }
    (dir, core, json)
}

/// The core of sites.c on Debian's jemalloc with every allocation sampled, checked by
/// [`check_all_sampled`] once: its directory, the core and its leaks.
pub(crate) fn all_sampled() -> Option<(PathBuf, PathBuf, LeaksJson)> {
    static RUN: OnceLock<Option<(PathBuf, PathBuf, LeaksJson)>> = OnceLock::new();
    RUN.get_or_init(|| {
        let (exe, truth) = (exe("valgrind", "valgrind")?, valgrind_truth()?);
        Some(check_all_sampled(&exe, "MALLOC_CONF", &truth, "5.3.0"))
    })
    .clone()
}

#[test]
fn every_allocation_sampled_sites_agree_with_valgrind() {
    let (Some((dir, core, json)), Some(truth)) = (all_sampled(), valgrind_truth()) else {
        return;
    };
    for g in json.groups.iter().filter_map(|g| g.site.as_ref()) {
        assert!(g.frames[0].line.is_some(), "{:?}", g.frames[0]);
    }

    // diff --by site (the core against itself): each leaking function's group holds the
    // blocks valgrind counted for it, and nothing grew.
    let out = cli::heapmortem([
        OsStr::new("diff"),
        core.as_os_str(),
        core.as_os_str(),
        OsStr::new("--by"),
        OsStr::new("site"),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    cli::assert_exit(&out, 0);
    let diff: serde_json::Value = cli::parse_json(&out, "diff --by site");
    for (function, &(_, blocks)) in &truth {
        let rows = diff["rows"].as_array().expect("rows");
        let row = rows
            .iter()
            .find(|r| {
                r["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with(&format!("{function} (")))
            })
            .unwrap_or_else(|| panic!("no row for {function} in {rows:#?}"));
        assert_eq!(row["new_count"], blocks, "{function}: {row}");
        assert_eq!(row["count_delta"], 0, "{function}: {row}");
    }

    // explain on one leaked block of each site names its function.
    for function in ["leak_pages", "leak_records"] {
        let g = json
            .groups
            .iter()
            .find(|g| g.site.as_ref().and_then(|s| s.function.as_deref()) == Some(function))
            .expect("a group");
        let out = cli::json_of("explain", &core, &[OsStr::new(&g.samples[0])]);
        cli::assert_no_panic(&out);
        cli::assert_exit(&out, 0);
        let e: ExplainJson = cli::parse_json(&out, "explain");
        assert!(!e.anchored);
        assert_eq!(
            e.site.and_then(|s| s.function).as_deref(),
            Some(function),
            "explain {}",
            g.samples[0]
        );
        let text = cli::heapmortem([
            OsStr::new("explain"),
            core.as_os_str(),
            OsStr::new(&g.samples[0]),
        ]);
        assert!(
            text.stdout_str()
                .contains(&format!("allocated in {function} (sites.c:")),
            "{}",
            text.describe()
        );
    }
    let text = cli::heapmortem([OsStr::new("leaks"), core.as_os_str()]);
    assert!(
        text.stdout_str()
            .contains("allocated in leak_pages (sites.c:"),
        "{}",
        text.describe()
    );

    // The HTML report's leaks table names each group's site, with its call path.
    let html = dir.join("report.html");
    crate::report::report(&[core.as_os_str()], &html);
    let page = std::fs::read_to_string(&html).expect("the report");
    let leaks = page
        .split("<section id=\"leaks\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("a leaks section");
    for function in ["leak_pages", "leak_records"] {
        assert!(
            leaks.contains(&format!("<summary>{function} (sites.c:")),
            "{function} in\n{leaks}"
        );
    }
    assert!(leaks.contains("<li>main (sites.c:"), "{leaks}");
}

/// The `t*:` object count of each backtrace in a `heap_v2` dump, by its `@` line's addresses.
fn dump_counts(text: &str) -> Vec<(Vec<u64>, u64)> {
    let mut out = Vec::new();
    let mut stack: Option<Vec<u64>> = None;
    for line in text.lines() {
        if let Some(frames) = line.strip_prefix("@ ") {
            stack = Some(frames.split_whitespace().filter_map(parse_hex).collect());
        } else if let (Some(s), Some(c)) = (stack.take(), line.trim().strip_prefix("t*: ")) {
            let objects = c.split(':').next().and_then(|n| n.trim().parse().ok());
            out.push((s, objects.expect("a count")));
        }
    }
    out
}

#[test]
fn sampled_counts_equal_the_prof_dump_and_estimates_equal_jeprof() {
    let Some(exe) = exe("jeprof", "libjemalloc-dev") else {
        return;
    };
    check_sampled(&exe, "MALLOC_CONF", "5.3.0");
}

/// Runs `exe` with jemalloc's default sampling (options in `conf_var`), a `prof.dump` made
/// just before the core: each site's sampled count equals its backtrace's count in the
/// dump, its estimate `jeprof --text`'s figure on the dump.
fn check_sampled(exe: &Path, conf_var: &str, label: &str) {
    let dir = unique_dir(&format!("sites-sampled-{label}"));
    let dump = dir.join("sites.heap");
    // 8 MiB and 6.4 MiB leaked: about 16 and 12 samples at 512 KiB.
    let core = abort_core(
        exe,
        &["2000", "40000", "abort", &dump.to_string_lossy()],
        &[(conf_var, "prof:true")],
        &dir,
    );
    let text = std::fs::read_to_string(&dump).expect("jemalloc's prof.dump");
    let json = leaks_json(&core);
    assert_eq!(json.sample_period, Some(1 << 19));
    let objects = crate::profile::jeprof(&["--inuse_objects"], &[exe, &dump]);
    let space = crate::profile::jeprof(&["--inuse_space"], &[exe, &dump]);
    let cum = |t: &crate::profile::Table, f: &str| {
        t.rows
            .iter()
            .find(|r| r.2 == f)
            .map(|r| r.1 as u64)
            .unwrap_or_else(|| panic!("jeprof has no row {f}: {t:?}"))
    };
    let counts = dump_counts(&text);
    for (function, size) in [("leak_pages", 4096), ("leak_records", 160)] {
        let groups: Vec<&Group> = json
            .groups
            .iter()
            .filter(|g| g.site.as_ref().and_then(|s| s.function.as_deref()) == Some(function))
            .collect();
        // A group per backtrace: jemalloc may record one call path under two backtraces
        // that differ in its own frames (seen on 5.2.1: the allocation's fast and slow
        // paths), which the dump lists apart too.
        assert!(!groups.is_empty(), "{label}: no group for {function}");
        assert!(groups.iter().all(|g| g.size == size), "{label}: {groups:?}");
        let sum = |f: fn(&Group) -> Option<u64>| -> u64 {
            groups.iter().map(|&g| f(g).expect("with a site")).sum()
        };
        let sampled = sum(|g| g.sampled);
        assert!(sampled > 0, "{function}: nothing sampled");
        // The dump's backtraces through the same return address in the function.
        let site = groups[0].site.as_ref().expect("site");
        let at = parse_hex(&site.frames[0].address).expect("a hex address");
        let in_dump: u64 = counts
            .iter()
            .filter(|(frames, _)| frames.contains(&at))
            .map(|c| c.1)
            .sum();
        assert_eq!(
            sampled, in_dump,
            "{label}: {function}: sampled vs prof.dump\n{text}"
        );
        // jeprof charges a static jemalloc's frames as its own functions: the function's
        // figure is its cumulative one. jeprof adds up the backtraces' scaled counts and
        // truncates once; each group's estimate is truncated on its own.
        let slack = groups.len() as u64 - 1;
        for (ours, theirs, what) in [
            (
                sum(|g| g.estimated_count),
                cum(&objects, function),
                "--inuse_objects",
            ),
            (
                sum(|g| g.estimated_bytes),
                cum(&space, function),
                "--inuse_space",
            ),
        ] {
            assert!(
                ours <= theirs && theirs - ours <= slack,
                "{label}: {function}: estimated {ours} vs jeprof {what} {theirs}"
            );
        }
    }
    // Unsampled blocks are grouped as before, without a site, and say so.
    assert!(json
        .groups
        .iter()
        .any(|g| g.site.is_none() && g.sampled == Some(0) && g.count > 0));
}

/// jemalloc 5.1.0 and 5.2.1 with `--enable-prof`, with and without their DWARF: the sites
/// of every sampled allocation agree with valgrind; at the default rate, with the dump and
/// jeprof.
#[test]
fn sites_on_jemalloc_5_1_and_5_2() {
    let (Some(truth), true) = (valgrind_truth(), require("jeprof", "libjemalloc-dev")) else {
        return;
    };
    for version in ["5.1.0", "5.2.1"] {
        for dwarf in [true, false] {
            let Some(exe) = crate_exe(version, dwarf) else {
                return;
            };
            let label = format!("{version}{}", if dwarf { "" } else { " without DWARF" });
            let (_, core, json) = check_all_sampled(&exe, "_RJEM_MALLOC_CONF", &truth, &label);
            // The walk is the version's: the layouts said so, and the version string.
            let out = cli::json_of("heap", &core, &[]);
            let heap: serde_json::Value = cli::parse_json(&out, "heap");
            assert!(
                heap["layout"]
                    .as_str()
                    .is_some_and(|l| dwarf || l.contains(version)),
                "{label}: {heap:#}"
            );
            let lines = json
                .groups
                .iter()
                .filter_map(|g| g.site.as_ref())
                .all(|s| s.frames[0].line.is_some());
            assert_eq!(lines, dwarf, "{label}: source lines only with DWARF");
            check_sampled(&exe, "_RJEM_MALLOC_CONF", &label);
        }
    }
}

/// Debian's libjemalloc.so.2 is stripped: its heap is walked by contents, but the profiler's
/// tables are found by name, so a `prof:true` run's sites cannot be read. `leaks` says so,
/// and why, when the process's MALLOC_CONF asked for profiling (and only then).
#[test]
fn stripped_shared_jemalloc_says_why_there_are_no_sites() {
    if !require("gcc", "gcc") {
        return;
    }
    let exe = unique_dir("sites-shared").join("sites");
    compile_sites(&exe, &[], &["-ljemalloc"]);
    for (conf, said) in [("prof:true,lg_prof_sample:0", true), ("narenas:2", false)] {
        let core = abort_core(
            &exe,
            &[ARGS[0], ARGS[1], "abort"],
            &[("MALLOC_CONF", conf)],
            &unique_dir("sites-shared-run"),
        );
        let json = leaks_json(&core);
        assert_eq!(
            (json.direct_count, json.sample_period),
            (55, None),
            "{conf}"
        );
        assert!(json.groups.iter().all(|g| g.site.is_none()), "{conf}");
        let note = json
            .notes
            .iter()
            .find(|n| n.starts_with("allocation sites not read"));
        assert_eq!(note.is_some(), said, "{conf}: {:?}", json.notes);
        if let Some(note) = note {
            assert!(
                note.contains("libjemalloc.so.2 has no symbols")
                    && note.contains("libjemalloc2-dbgsym"),
                "{note}"
            );
        }
    }
}
