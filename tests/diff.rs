//! `heapmortem diff OLD NEW`: two cores of one process, taken at two moments.
//!
//! Ground truth is the workload's own account: `tests/fixtures/diff/growth.cpp` grows a
//! `std::list` of `app::Session` held by the global `g_sessions` and a vector of `Timer` held
//! by its one `Registry` object, beside steady traffic (a ring of 50 `Message`s replaced
//! round and round, buffers that come and go), and at each of two stops writes how many of
//! each it holds and the allocator's usable size of a list node (`malloc_usable_size`) to
//! `phaseN.truth`, then raises SIGSTOP; gdb takes a core of each stop with `gcore`
//! ([`stop_cores`]). The diff's rows for the class, for the list's nodes and for the holder
//! must equal the counts the program wrote; gdb says what the example address of the finding
//! is. Built against glibc malloc, Debian's libjemalloc (5.3) and Debian's libtcmalloc
//! (gperftools 2.10, whose build also writes `MallocExtension::GetStats()` at each stop: the
//! allocator rows are checked against it). Cores of two builds and of two programs are
//! compared too: a statement on stderr, no invented growth.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::fixture::{stop_cores, truncated_copy};
use crate::harness::process::{require, run, Output};
use crate::harness::{cli, parse_hex, repo_root, unique_dir, Memo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Malloc {
    Glibc,
    Jemalloc,
    Tcmalloc,
}

/// How the workload is built: its executable's name and extra compiler flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Workload {
    /// `growth`, as the source is.
    Growth,
    /// `growth` with a ring of 60: another build of the program.
    OtherBuild,
    /// `other`, with a ring of 60: another program.
    OtherProgram,
}

#[derive(Debug, Clone)]
struct Run {
    exe: PathBuf,
    cores: Vec<PathBuf>,
    truth: Vec<HashMap<String, u64>>,
    /// With tcmalloc: `MallocExtension::GetStats()` at each stop.
    stats: Vec<String>,
}

impl Run {
    fn count(&self, stop: usize, key: &str) -> u64 {
        self.truth[stop][key]
    }

    /// The figure of the "MALLOC:" line labelled `label` in GetStats' text at `stop`.
    fn malloc_figure(&self, stop: usize, label: &str) -> u64 {
        crate::heap_tcmalloc::malloc_figure(&self.stats[stop], label)
    }
}

/// Builds growth.cpp (`g++ -O0 -g`) and takes a core at each of its two stops.
fn growth(malloc: Malloc, build: Workload) -> Option<Run> {
    static RUNS: OnceLock<Memo<(Malloc, Workload), Option<Run>>> = OnceLock::new();
    RUNS.get_or_init(Memo::new).get(&(malloc, build), || {
        if !require("g++", "g++") || !require("gdb", "gdb") {
            return None;
        }
        if malloc == Malloc::Jemalloc
            && !Path::new("/usr/include/jemalloc/jemalloc.h").exists()
            && !require("jemalloc-config", "libjemalloc-dev")
        {
            return None;
        }
        if malloc == Malloc::Tcmalloc && !crate::heap_tcmalloc::have_tcmalloc() {
            return None;
        }
        let dir = unique_dir(&format!("diff-{malloc:?}-{build:?}"));
        let name = match build {
            Workload::OtherProgram => "other",
            _ => "growth",
        };
        let exe = dir.join(name);
        let mut cc = Command::new("g++");
        cc.args(["-O0", "-g"])
            .arg(repo_root().join("tests/fixtures/diff/growth.cpp"))
            .arg("-o")
            .arg(&exe);
        if build != Workload::Growth {
            cc.arg("-DRING=60");
        }
        match malloc {
            Malloc::Glibc => {}
            Malloc::Jemalloc => {
                cc.args(["-DWITH_JEMALLOC", "-ljemalloc"]);
            }
            Malloc::Tcmalloc => {
                cc.args(["-DWITH_TCMALLOC", "-ltcmalloc"]);
            }
        }
        run(&mut cc, Duration::from_secs(180)).expect_success("compiling growth.cpp");
        let cores = stop_cores(&exe, &dir, 3);
        let truth = (1..=3)
            .map(|k| {
                let text = std::fs::read_to_string(dir.join(format!("phase{k}.truth")))
                    .expect("the workload wrote its truth file");
                text.lines()
                    .filter_map(|l| l.split_once(' '))
                    .map(|(k, v)| (k.to_string(), v.parse().expect("a count")))
                    .collect()
            })
            .collect();
        let stats = match malloc {
            Malloc::Tcmalloc => (1..=3)
                .map(|k| {
                    std::fs::read_to_string(dir.join(format!("phase{k}.stats")))
                        .expect("the workload wrote GetStats' text")
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Run {
            exe,
            cores,
            truth,
            stats,
        })
    })
}

/// `diff --format json` (DESIGN.md and heap-walkers' json-schema.md).
#[derive(Debug, Deserialize)]
struct Diff {
    by: String,
    program_match: String,
    rows: Vec<Row>,
    totals: Change,
    allocator: Option<Holdings>,
    findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
struct Holdings {
    old: Figures,
    new: Figures,
    delta: FiguresDelta,
    arenas: Vec<ArenaChange>,
}

#[derive(Debug, Deserialize)]
struct Figures {
    system_bytes: u64,
    in_use_bytes: u64,
    cached_bytes: Option<u64>,
    free_bytes: u64,
    trimmable_bytes: u64,
    fragmented_bytes: u64,
    dirty_bytes: Option<u64>,
    retained_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct FiguresDelta {
    system_bytes: i64,
}

#[derive(Debug, Deserialize)]
struct ArenaChange {
    name: String,
    old: Option<Figures>,
    new: Option<Figures>,
}

#[derive(Debug, Deserialize)]
struct Change {
    old_count: u64,
    new_count: u64,
    count_delta: i64,
    old_bytes: u64,
    new_bytes: u64,
    bytes_delta: i64,
}

#[derive(Debug, Deserialize)]
struct Row {
    key: String,
    kind: Option<String>,
    size: Option<u64>,
    #[serde(flatten)]
    change: Change,
    example: Option<String>,
    holders: Vec<Holder>,
}

#[derive(Debug, Deserialize)]
struct Holder {
    holder: String,
    kind: String,
    #[serde(flatten)]
    change: Change,
}

#[derive(Debug, Deserialize)]
struct Finding {
    code: String,
    message: String,
}

/// `heapmortem diff OLD NEW EXTRA…`.
fn heapmortem_diff(old: &Path, new: &Path, extra: &[&str]) -> Output {
    let mut args = vec![OsStr::new("diff"), old.as_os_str(), new.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    cli::heapmortem(args)
}

fn diff_json(old: &Path, new: &Path, by: &str) -> (Diff, Output) {
    let out = heapmortem_diff(old, new, &["--by", by, "--format", "json"]);
    cli::assert_no_panic(&out);
    let json = cli::parse_json(&out, "diff");
    (json, out)
}

/// Whether a static holder is the global `name` (C++ may tag it: `g_sessions[abi:cxx11]`).
fn is_global(h: &Holder, name: &str) -> bool {
    h.kind == "static"
        && h.holder
            .split_once('!')
            .is_some_and(|(_, s)| s == name || s.starts_with(&format!("{name}[")))
}

fn growth_by_type(malloc: Malloc) {
    let Some(run) = growth(malloc, Workload::Growth) else {
        return;
    };
    let (d, out) = diff_json(&run.cores[0], &run.cores[1], "type");
    cli::assert_exit(&out, 0);
    assert_eq!(d.by, "type");
    assert_eq!(d.program_match, "same");
    let row = |key: &str| {
        d.rows
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no row {key} in {:#?}", d.rows))
    };
    let (s1, s2) = (run.count(0, "sessions"), run.count(1, "sessions"));
    let added = (s2 - s1) as i64;

    // The class: every object the program holds, in both cores.
    let sessions = row("app::Session");
    assert_eq!(sessions.kind.as_deref(), Some("vtable"));
    assert_eq!(
        (sessions.change.old_count, sessions.change.new_count),
        (s1, s2)
    );
    assert_eq!(sessions.change.count_delta, added);
    let usable = run.count(1, "session_usable");
    assert!(sessions.change.new_bytes >= s2 * usable);
    // The holder: the global list, for all of them.
    let holder = &sessions.holders[0];
    assert!(is_global(holder, "g_sessions"), "{:#?}", sessions.holders);
    assert_eq!(
        (holder.change.old_count, holder.change.new_count),
        (s1, s2),
        "{holder:#?}"
    );
    assert_eq!(sessions.holders.len(), 1, "{:#?}", sessions.holders);
    // The list's nodes, named by how they are linked (some may be larger chunks the
    // allocator handed out whole): as many more as the sessions, all held through the list.
    let nodes = row("std::list node");
    assert_eq!(nodes.kind.as_deref(), Some("pattern"));
    assert_eq!(nodes.change.count_delta, added, "list nodes added");
    let through_list: i64 = nodes
        .holders
        .iter()
        .filter(|h| is_global(h, "g_sessions"))
        .map(|h| h.change.count_delta)
        .sum();
    assert_eq!(through_list, added, "{:#?}", nodes.holders);
    // The largest growth is the class, first.
    assert_eq!(d.rows[0].key, "app::Session", "{:#?}", &d.rows[..3]);

    // The timers grew inside the one Registry object, which is in both cores.
    let timers = row("Timer");
    assert_eq!(
        (timers.change.old_count, timers.change.new_count),
        (run.count(0, "timers"), run.count(1, "timers"))
    );
    assert_eq!(timers.holders[0].kind, "allocation");
    assert_eq!(timers.holders[0].holder, "Registry");
    assert_eq!(
        timers.holders[0].change.count_delta,
        timers.change.count_delta
    );
    // Steady traffic: as many messages at both stops, no holder listed.
    let messages = row("Message");
    let ring = run.count(0, "messages");
    assert_eq!(
        (messages.change.old_count, messages.change.new_count),
        (ring, ring)
    );
    assert_eq!(messages.change.count_delta, 0);
    assert!(messages.holders.is_empty());
    assert!(d.totals.new_count >= d.totals.old_count + 2 * added as u64);
    assert_eq!(
        d.totals.bytes_delta,
        d.totals.new_bytes as i64 - d.totals.old_bytes as i64
    );

    // The allocator's holdings: what it got from the system, by its own account at each stop.
    let a = d.allocator.as_ref().expect("one allocator in both cores");
    assert_eq!(
        (a.old.system_bytes, a.new.system_bytes),
        (run.count(0, "system_bytes"), run.count(1, "system_bytes")),
        "{a:#?}"
    );
    assert_eq!(
        a.delta.system_bytes,
        run.count(1, "system_bytes") as i64 - run.count(0, "system_bytes") as i64
    );
    assert!(!a.arenas.is_empty() && a.arenas.iter().all(|r| r.old.is_some() && r.new.is_some()));
    if malloc == Malloc::Glibc {
        assert_eq!(a.arenas[0].name, "main_arena");
        assert_eq!((a.old.cached_bytes, a.new.cached_bytes), (None, None));
    } else if malloc == Malloc::Tcmalloc {
        assert_tcmalloc_figures(&run, a, [0, 1]);
    } else {
        // jemalloc's in use counts the regions in thread caches, by its own account at each
        // stop: in use can grow less than what the program holds (the doubt of issue 11's
        // diff work: a cache that shrank between the stops), and the text says so.
        for (stop, f) in [&a.old, &a.new].into_iter().enumerate() {
            assert_eq!(f.in_use_bytes, run.count(stop, "allocated"), "stop {stop}");
            assert_eq!(
                f.cached_bytes,
                Some(run.count(stop, "tcache")),
                "stop {stop}"
            );
        }
        let text = cli::heapmortem([
            OsStr::new("diff"),
            run.cores[0].as_os_str(),
            run.cores[1].as_os_str(),
        ]);
        assert!(
            text.stdout_str()
                .contains("in use is the allocator's account, thread caches included"),
            "{}",
            text.describe()
        );
    }
    // The program's growth accounts for the allocator's: no finding about the allocator.
    assert!(
        !d.findings.iter().any(|f| f.code == "allocator_growth"),
        "{:#?}",
        d.findings
    );
    for f in [&a.old, &a.new] {
        assert_eq!(
            f.fragmented_bytes,
            f.free_bytes - f.trimmable_bytes.min(f.free_bytes)
        );
        assert!(f.in_use_bytes <= f.system_bytes);
    }

    // The finding names the class, the holder and the next step on a new object, which gdb
    // says is an app::Session.
    let growth = d
        .findings
        .iter()
        .find(|f| f.code == "growth")
        .unwrap_or_else(|| panic!("no growth finding: {:#?}", d.findings));
    let example = sessions.example.as_deref().expect("an example");
    for part in [
        "app::Session grew by ".to_string(),
        format!("{} allocations", signed(added)),
        "held through g_sessions".to_string(),
        format!("heapmortem explain {} {example}", run.cores[1].display()),
    ] {
        assert!(
            growth.message.contains(&part),
            "{part:?} in {}",
            growth.message
        );
    }
    let gdb = run_gdb(
        &run.exe,
        &run.cores[1],
        &format!("info symbol *(long*){example}"),
    );
    assert!(
        gdb.contains("vtable for app::Session"),
        "gdb on the example {example}: {gdb}"
    );
    // And nothing else the program holds is at that address in the older core.
    let gdb_old = run_gdb(
        &run.exe,
        &run.cores[0],
        &format!("info symbol *(long*){example}"),
    );
    assert!(!gdb_old.contains("vtable for app::Session"), "{gdb_old}");
    assert!(parse_hex(example).is_some());
}

/// tcmalloc's one arena, the page heap, against GetStats at the stops `stops`: from the
/// system (the page heap's system_bytes: virtual address space less metadata), in use by
/// the application, the page heap's resident free spans (dirty, trimmable: what
/// `ReleaseFreeMemory()` returns), what was released to the system (retained); free is
/// the free objects of every size class — in the thread caches, the transfer caches and
/// the central lists, GetStats' per-class table — plus the free spans, resident or
/// released.
fn assert_tcmalloc_figures(run: &Run, a: &Holdings, stops: [usize; 2]) {
    assert_eq!(a.arenas.len(), 1, "{a:#?}");
    assert_eq!(a.arenas[0].name, "page heap");
    for (f, stop) in [&a.old, &a.new].into_iter().zip(stops) {
        let m = |label: &str| run.malloc_figure(stop, label);
        let system = m("Virtual address space used") - m("Bytes in malloc metadata");
        assert_eq!(f.system_bytes, system, "stop {stop}: {f:#?}");
        assert_eq!(
            f.system_bytes,
            run.count(stop, "system_bytes"),
            "stop {stop}"
        );
        assert_eq!(
            f.in_use_bytes,
            m("Bytes in use by application"),
            "stop {stop}"
        );
        assert_eq!(f.in_use_bytes, run.count(stop, "allocated"), "stop {stop}");
        assert_eq!(
            f.dirty_bytes,
            Some(m("Bytes in page heap freelist")),
            "stop {stop}"
        );
        assert_eq!(
            f.trimmable_bytes,
            m("Bytes in page heap freelist"),
            "stop {stop}"
        );
        let released = m("Bytes released to OS (aka unmapped)");
        assert_eq!(f.retained_bytes, Some(released), "stop {stop}");
        assert_eq!(f.cached_bytes, None, "tcmalloc counts its caches free");
        // "class   1 [        8 bytes ] :      961 objs; …": size × objects.
        let cached: u64 = run.stats[stop]
            .lines()
            .filter(|l| l.starts_with("class "))
            .map(|l| {
                let number = |s: Option<&str>| -> u64 {
                    s.and_then(|s| s.split_whitespace().next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("cannot read {l:?}"))
                };
                number(l.split('[').nth(1)) * number(l.split(':').nth(1))
            })
            .sum();
        assert!(
            cached >= m("Bytes in thread cache freelists")
                && m("Bytes in thread cache freelists") > 0,
            "stop {stop}: {}",
            run.stats[stop]
        );
        assert_eq!(
            f.free_bytes,
            cached + m("Bytes in page heap freelist") + released,
            "stop {stop}: free objects and free spans"
        );
    }
}

/// `+1,200`.
fn signed(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}{out}", if n < 0 { "-" } else { "+" })
}

/// gdb's answer to one command on a core.
fn run_gdb(exe: &Path, core: &Path, command: &str) -> String {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled off"])
        .arg("-ex")
        .arg(command)
        .arg(exe)
        .arg(core);
    run(&mut cmd, Duration::from_secs(120)).stdout_str()
}

#[test]
fn growth_by_type_equals_the_workloads_counts_on_glibc() {
    growth_by_type(Malloc::Glibc);
}

#[test]
fn growth_by_type_equals_the_workloads_counts_on_jemalloc() {
    growth_by_type(Malloc::Jemalloc);
}

#[test]
fn growth_by_type_equals_the_workloads_counts_on_tcmalloc() {
    growth_by_type(Malloc::Tcmalloc);
}

/// By size: every block held through the list grew by two a session (the object and its
/// node), whatever size class each landed in.
#[test]
fn growth_by_size_through_the_list() {
    let Some(run) = growth(Malloc::Glibc, Workload::Growth) else {
        return;
    };
    let (d, out) = diff_json(&run.cores[0], &run.cores[1], "size");
    cli::assert_exit(&out, 0);
    assert_eq!(d.by, "size");
    assert!(d
        .rows
        .iter()
        .all(|r| r.key.ends_with(" bytes") && r.size.is_some()));
    let through_list: i64 = d
        .rows
        .iter()
        .flat_map(|r| &r.holders)
        .filter(|h| is_global(h, "g_sessions"))
        .map(|h| h.change.count_delta)
        .sum();
    let added = (run.count(1, "sessions") - run.count(0, "sessions")) as i64;
    assert_eq!(through_list, 2 * added);
    let usable = run.count(1, "session_usable");
    let sessions = d
        .rows
        .iter()
        .find(|r| r.size == Some(usable))
        .expect("a row of the sessions' size");
    assert!(sessions.change.count_delta > 0);
}

/// The terminal view: the class with its growth and holder, lines a terminal shows whole.
#[test]
fn text_names_the_growth_and_its_holder() {
    let Some(run) = growth(Malloc::Glibc, Workload::Growth) else {
        return;
    };
    let out = heapmortem_diff(&run.cores[0], &run.cores[1], &[]);
    cli::assert_exit(&out, 0);
    let text = out.stdout_str();
    let added = (run.count(1, "sessions") - run.count(0, "sessions")) as i64;
    let line = text
        .lines()
        .find(|l| l.ends_with("  app::Session"))
        .unwrap_or_else(|| panic!("no app::Session row:\n{text}"));
    assert!(line.trim_start().starts_with(&signed(added)), "{line}");
    assert!(text.contains("held through g_sessions"), "{text}");
    assert!(text.contains("main_arena"), "{text}");
    // Lines other than the paths as given and the findings' sentences.
    let table = text.lines().filter(|l| {
        !(l.starts_with("OLD ") || l.starts_with("NEW ") || l.starts_with("  warning:"))
    });
    for l in table {
        assert!(l.chars().count() <= 110, "too wide for a terminal: {l}");
    }
    assert!(out.stderr_str().is_empty(), "{}", out.describe());
}

/// `diff --format json` of growth's first stop against `other`'s second (glibc), which
/// exits 0.
fn first_stop_against(other: Workload) -> Option<(Run, Run, Diff, Output)> {
    let a = growth(Malloc::Glibc, Workload::Growth)?;
    let b = growth(Malloc::Glibc, other)?;
    let (d, out) = diff_json(&a.cores[0], &b.cores[1], "type");
    cli::assert_exit(&out, 0);
    Some((a, b, d, out))
}

/// Two builds of one program: compared, with a note on stderr, and growth still found.
#[test]
fn two_builds_of_one_program_are_compared_with_a_note() {
    let Some((a, b, d, out)) = first_stop_against(Workload::OtherBuild) else {
        return;
    };
    assert_eq!(d.program_match, "other_build");
    assert!(
        out.stderr_str().contains("two builds of one program"),
        "{}",
        out.describe()
    );
    assert!(d.findings.iter().any(|f| f.code == "growth"));
    let messages = d.rows.iter().find(|r| r.key == "Message").unwrap();
    assert_eq!(
        messages.change.count_delta,
        b.count(1, "messages") as i64 - a.count(0, "messages") as i64
    );
}

/// Two programs: the statement on stderr, exit 0, the rows computed, no growth claimed.
#[test]
fn two_programs_are_said_to_differ_and_no_growth_is_claimed() {
    let Some((_, _, d, out)) = first_stop_against(Workload::OtherProgram) else {
        return;
    };
    assert_eq!(d.program_match, "other_program");
    let stderr = out.stderr_str();
    assert!(stderr.contains("different programs"), "{}", out.describe());
    assert!(
        stderr.contains("/growth") && stderr.contains("/other"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!d.rows.is_empty());
    let codes: Vec<&str> = d.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["different_programs"], "{:#?}", d.findings);
    assert!(d.findings[0].message.contains("no growth is claimed"));
}

/// After the third phase the allocator holds megabytes more, freed between the blocks the
/// program kept: a finding says the allocator grew without the program, and the kept blocks
/// are the growth, held through `g_kept`.
fn allocator_growth(malloc: Malloc) {
    let Some(run) = growth(malloc, Workload::Growth) else {
        return;
    };
    let (d, out) = diff_json(&run.cores[1], &run.cores[2], "type");
    cli::assert_exit(&out, 0);
    let a = d.allocator.as_ref().expect("one allocator in both cores");
    if malloc == Malloc::Tcmalloc {
        assert_tcmalloc_figures(&run, a, [1, 2]);
    }
    let system = run.count(2, "system_bytes") as i64 - run.count(1, "system_bytes") as i64;
    assert_eq!(a.delta.system_bytes, system, "{a:#?}");
    assert!(a.new.fragmented_bytes > a.old.fragmented_bytes, "{a:#?}");
    let finding = d
        .findings
        .iter()
        .find(|f| f.code == "allocator_growth")
        .unwrap_or_else(|| panic!("no allocator_growth finding: {:#?}", d.findings));
    assert!(
        finding.message.contains("more from the system")
            && finding
                .message
                .contains("trapped between allocations in use"),
        "{}",
        finding.message
    );
    let kept: i64 = d
        .rows
        .iter()
        .flat_map(|r| &r.holders)
        .filter(|h| is_global(h, "g_kept"))
        .map(|h| h.change.count_delta)
        .sum();
    assert_eq!(kept, run.count(2, "kept") as i64);
}

#[test]
fn allocator_growth_without_the_program_on_glibc() {
    allocator_growth(Malloc::Glibc);
}

#[test]
fn allocator_growth_without_the_program_on_jemalloc() {
    allocator_growth(Malloc::Jemalloc);
}

#[test]
fn allocator_growth_without_the_program_on_tcmalloc() {
    allocator_growth(Malloc::Tcmalloc);
}

/// `report` of the two cores has a growth section: the class's row with the program's count
/// and the holder, and the growth finding.
#[test]
fn report_of_two_cores_shows_the_growth() {
    let Some(run) = growth(Malloc::Glibc, Workload::Growth) else {
        return;
    };
    let html_path = unique_dir("diff-report").join("report.html");
    let out = cli::heapmortem([
        OsStr::new("report"),
        run.cores[0].as_os_str(),
        run.cores[1].as_os_str(),
        OsStr::new("-o"),
        html_path.as_os_str(),
    ]);
    cli::assert_exit(&out, 0);
    let html = std::fs::read_to_string(&html_path).expect("the report");
    let section = html
        .split("<section id=\"diff\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_else(|| panic!("no growth section in {}", html_path.display()));
    let added = run.count(1, "sessions") - run.count(0, "sessions");
    let row = section
        .lines()
        .find(|l| l.contains("data-key=\"app::Session\""))
        .unwrap_or_else(|| panic!("no app::Session row: {section}"));
    assert!(
        row.contains(&format!("data-count-delta=\"{added}\"")),
        "{row}"
    );
    assert!(row.contains("held through g_sessions"), "{row}");
    assert!(html.contains("app::Session grew by"), "the growth finding");
}

/// A newer core cut short: read in part (exit 1, said on stderr) or refused in one line
/// (exit 2), never a panic.
#[test]
fn a_truncated_core_is_read_in_part_or_refused() {
    let Some(run) = growth(Malloc::Glibc, Workload::Growth) else {
        return;
    };
    let len = std::fs::metadata(&run.cores[1]).expect("the core").len();
    for keep in [len / 2, len * 9 / 10] {
        let cut = truncated_copy(&run.cores[1], keep, "diff");
        let out = heapmortem_diff(&run.cores[0], &cut, &[]);
        cli::assert_no_panic(&out);
        match out.code() {
            Some(1) => assert!(out.stderr_str().contains("in part"), "{}", out.describe()),
            Some(2) => cli::assert_one_line_error(&out),
            _ => panic!("exit 1 or 2 expected\n{}", out.describe()),
        }
    }
}

/// `--by site` is for jemalloc prof:true cores (tested in sites.rs): elsewhere a one-line
/// error, exit 2.
#[test]
fn by_site_is_refused_in_one_line_without_sites() {
    let Some(run) = growth(Malloc::Glibc, Workload::Growth) else {
        return;
    };
    let out = heapmortem_diff(&run.cores[0], &run.cores[1], &["--by", "site"]);
    cli::assert_exit(&out, 2);
    cli::assert_one_line_error(&out);
    assert!(out.stderr_str().contains("prof:true"), "{}", out.describe());
}
