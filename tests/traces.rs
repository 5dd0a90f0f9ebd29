//! What tracers write, read as profiles (CASES.md case 7): `perf script` output and perf's own
//! folded stacks of a fixture recorded here by `perf record -g -e page-faults`, checked
//! against `perf report --stdio --no-children` on the same perf.data; bpftrace, DTrace and
//! memleak output written by hand in their documented formats
//! (tests/fixtures/profile/README.md), checked against the counts those files hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::cli::{assert_exit, assert_no_panic, parse_json};
use crate::harness::process::{require, run, Output};
use crate::harness::unique_dir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profile")
        .join(name)
}

fn check(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    run(cmd, Duration::from_secs(300)).expect_success(&what)
}

#[derive(Debug, Deserialize)]
struct Json {
    format: String,
    sample_types: Vec<ValueType>,
    sample_index: String,
    shown_total: i64,
    functions: Vec<Function>,
}

#[derive(Debug, Deserialize)]
struct ValueType {
    r#type: String,
    unit: String,
}

#[derive(Debug, Deserialize)]
struct Function {
    name: String,
    flat: i64,
    cum: i64,
}

fn profile_json(file: &Path, extra: &[&str]) -> Json {
    let mut args = vec!["profile", file.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = crate::harness::cli::heapmortem(args);
    assert_no_panic(&out);
    assert_exit(&out, 0);
    parse_json(&out, "profile --format json")
}

fn flat_of(json: &Json) -> BTreeMap<String, i64> {
    json.functions
        .iter()
        .filter(|f| f.flat != 0)
        .map(|f| (f.name.clone(), f.flat))
        .collect()
}

fn cum(json: &Json, name: &str) -> i64 {
    json.functions
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no row for {name}: {json:?}"))
        .cum
}

/// The fixture recorded by `perf record -g -e page-faults` (perf's default sampling, so
/// periods differ from sample to sample), with `perf script`'s output and perf's own folded
/// stacks beside it.
struct Recorded {
    data: PathBuf,
    script: PathBuf,
    folded: PathBuf,
}

/// The page-faulting fixture, compiled into `dir` with frame pointers (perf's `-g` walks them).
fn page_faults(dir: &Path) -> PathBuf {
    let exe = dir.join("page_faults");
    check(
        Command::new("gcc")
            .args(["-O0", "-g", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(fixture("page_faults.c")),
    );
    exe
}

fn recorded() -> Option<&'static Recorded> {
    static RECORDED: OnceLock<Option<Recorded>> = OnceLock::new();
    RECORDED
        .get_or_init(|| {
            if !(require("gcc", "gcc") && require("perf", "linux-perf")) {
                return None;
            }
            let dir = unique_dir("traces-perf");
            let exe = page_faults(&dir);
            let data = dir.join("perf.data");
            let out = run(
                Command::new("perf")
                    .args(["record", "-q", "-g", "-e", "page-faults", "-o"])
                    .arg(&data)
                    .arg(&exe),
                Duration::from_secs(120),
            );
            assert!(
                out.code() == Some(0),
                "perf record failed; it needs /proc/sys/kernel/perf_event_paranoid <= 2 \
                 (now {:?}) to record one's own process: {}",
                std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid"),
                out.describe()
            );
            let script = dir.join("perf.script");
            let out = check(Command::new("perf").args(["script", "-i"]).arg(&data));
            std::fs::write(&script, &out.stdout).unwrap();
            let folded = dir.join("perf.folded");
            let out = check(
                Command::new("perf")
                    .args(["script", "report", "stackcollapse", "-i"])
                    .arg(&data),
            );
            std::fs::write(&folded, &out.stdout).unwrap();
            Some(Recorded {
                data,
                script,
                folded,
            })
        })
        .as_ref()
}

/// `perf report --stdio --no-children --sort sym` on the same data: the event count and per
/// symbol its period and samples (symbols perf could not name, `0x…`, are summed as
/// `[unknown]`, the name perf script gives them).
struct Report {
    event: String,
    event_count: i64,
    samples: i64,
    period: BTreeMap<String, i64>,
    by_samples: BTreeMap<String, i64>,
}

fn perf_report(data: &Path) -> Report {
    let out = check(
        Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "sym",
                "-F",
                "overhead,period,sample,sym",
                "-g",
                "none",
                "--percent-limit",
                "0",
                "-i",
            ])
            .arg(data),
    );
    let text = out.stdout_str();
    let mut report = Report {
        event: String::new(),
        event_count: 0,
        samples: 0,
        period: BTreeMap::new(),
        by_samples: BTreeMap::new(),
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# Samples: ") {
            // `# Samples: 50  of event 'page-faults'`
            report.event = rest.split('\'').nth(1).unwrap().to_string();
        } else if let Some(n) = line.strip_prefix("# Event count (approx.): ") {
            report.event_count = n.trim().parse().unwrap();
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || !f[0].ends_with('%') || !f[3].starts_with('[') {
            continue;
        }
        let name = f[4..].join(" ");
        let name = if name.starts_with("0x") {
            "[unknown]".to_string()
        } else {
            name
        };
        let period: i64 = f[1].parse().unwrap();
        let samples: i64 = f[2].parse().unwrap();
        *report.period.entry(name.clone()).or_default() += period;
        *report.by_samples.entry(name).or_default() += samples;
        report.samples += samples;
    }
    assert!(!report.period.is_empty(), "no rows in perf report: {text}");
    report
}

#[test]
fn perf_script_gives_perf_reports_self_counts_per_function() {
    let Some(rec) = recorded() else { return };
    let perf = perf_report(&rec.data);
    let ours = profile_json(&rec.script, &[]);
    assert_eq!(ours.format, "perf script");
    assert_eq!(perf.event, "page-faults");
    // The event's name is the sample type, and the default value.
    assert_eq!(ours.sample_index, "page-faults");
    assert_eq!(ours.sample_types.len(), 1);
    assert_eq!(ours.sample_types[0].r#type, "page-faults");
    assert_eq!(ours.sample_types[0].unit, "count");
    // perf report's percentages are of the event count, the periods summed.
    assert_eq!(ours.shown_total, perf.event_count);
    assert_eq!(flat_of(&ours), perf.period);
    // The fixture's faults are where it makes them.
    let touch = perf.period["touch_pages"];
    assert!(touch > perf.event_count / 2, "{:?}", perf.period);
    assert_eq!(cum(&ours, "grow_arena"), touch);
    assert_eq!(
        cum(&ours, "handle_request"),
        touch + perf.period["fill_pages"]
    );

    // The text table: perf report's percentages to one decimal.
    let out = crate::harness::cli::heapmortem(["profile", rec.script.to_str().unwrap()]);
    assert_exit(&out, 0);
    let text = out.stdout_str();
    assert!(
        text.starts_with(&format!("Total: {} page-faults\n", perf.event_count)),
        "{text}"
    );
    let row = text.lines().find(|l| l.ends_with(" touch_pages")).unwrap();
    let pct = format!("{:.1}%", touch as f64 * 100.0 / perf.event_count as f64);
    assert_eq!(row.split_whitespace().nth(1), Some(pct.as_str()), "{row}");
}

#[test]
fn perfs_own_folded_stacks_give_perf_reports_sample_counts() {
    let Some(rec) = recorded() else { return };
    let perf = perf_report(&rec.data);
    let ours = profile_json(&rec.folded, &[]);
    assert_eq!(ours.format, "folded stacks");
    assert_eq!(ours.sample_index, "samples");
    // perf's stackcollapse counts samples, not periods.
    assert_eq!(ours.shown_total, perf.samples);
    assert_eq!(flat_of(&ours), perf.by_samples);
}

#[test]
fn a_report_of_perf_script_output_shows_the_event() {
    let Some(rec) = recorded() else { return };
    let html = rec.script.with_extension("html");
    let out = crate::harness::cli::heapmortem([
        "report",
        rec.script.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_no_panic(&out);
    assert_exit(&out, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("page-faults"));
    assert!(page.contains("touch_pages"));
    assert!(page.contains("<svg"));
}

/// `perf report --stdio` on a recording of several events: per event, in file order, its
/// name, sample count and event count (`# Samples: 45  of event 'cpu-clock'`, `# Event count
/// (approx.): 45000000`).
fn perf_report_events(data: &Path) -> Vec<(String, i64, i64)> {
    let out = check(
        Command::new("perf")
            .args(["report", "--stdio", "--no-children", "-g", "none", "-i"])
            .arg(data),
    );
    let mut events: Vec<(String, i64, i64)> = Vec::new();
    for line in out.stdout_str().lines() {
        if let Some(rest) = line.strip_prefix("# Samples: ") {
            let samples = rest.split_whitespace().next().unwrap();
            // perf shortens large counts: `1K`; this recording is far smaller.
            let samples: i64 = samples.parse().unwrap_or_else(|_| panic!("{line}"));
            events.push((rest.split('\'').nth(1).unwrap().to_string(), samples, 0));
        } else if let Some(n) = line.strip_prefix("# Event count (approx.): ") {
            events.last_mut().unwrap().2 = n.trim().parse().unwrap();
        }
    }
    events
}

/// A recording of two events (`perf record -e page-faults,cpu-clock`): inferno keeps one, so
/// the samples of the other are said to be left out (exit 1), with perf's own count of them;
/// `perf script --per-event-dump` gives a file per event, each read whole as its event's
/// profile, with perf report's event count (the periods summed: perf pads `cpu-clock` to the
/// width of `page-faults`, which must not lose them).
#[test]
fn perf_script_of_two_events_says_which_were_left_out() {
    if !(require("gcc", "gcc") && require("perf", "linux-perf")) {
        return;
    }
    let dir = unique_dir("traces-perf-two");
    let exe = page_faults(&dir);
    check(
        Command::new("perf")
            .args(["record", "-q", "-g", "-e", "page-faults,cpu-clock", "-o"])
            .arg(dir.join("perf.data"))
            .arg(&exe),
    );
    let events = perf_report_events(&dir.join("perf.data"));
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["page-faults", "cpu-clock"], "{events:?}");
    let (faults, clock) = (&events[0], &events[1]);
    assert!(clock.1 > 0, "no cpu-clock samples: {events:?}");

    let script = dir.join("perf.script");
    let out = check(
        Command::new("perf")
            .args(["script", "-i"])
            .arg(dir.join("perf.data")),
    );
    std::fs::write(&script, &out.stdout).unwrap();
    let out =
        crate::harness::cli::heapmortem(["profile", script.to_str().unwrap(), "--format", "json"]);
    assert_no_panic(&out);
    assert_exit(&out, 1);
    let stderr = out.stderr_str();
    let said = format!(
        "{} samples of other events left out: cpu-clock ({})",
        clock.1, clock.1
    );
    assert!(stderr.contains(&said), "{stderr}");
    assert!(stderr.contains("--per-event-dump"), "{stderr}");
    let ours: Json = parse_json(&out, "profile --format json");
    assert_eq!(ours.sample_index, "page-faults");
    assert_eq!(ours.shown_total, faults.2);

    check(
        Command::new("perf")
            .args(["script", "--per-event-dump", "-i", "perf.data"])
            .current_dir(&dir),
    );
    for (event, _, count) in &events {
        let dump = dir.join(format!("perf.data.{event}.dump"));
        let ours = profile_json(&dump, &[]);
        assert_eq!(&ours.sample_index, event);
        assert_eq!(ours.shown_total, *count, "{event}");
    }
}

#[test]
fn bpftrace_maps_give_the_counts_they_hold() {
    let ours = profile_json(&fixture("traces/bpftrace_ustack.txt"), &[]);
    assert_eq!(ours.format, "bpftrace map");
    assert_eq!(ours.sample_index, "count");
    // 9 + 4 + 2 calls, all into malloc (a trace keeps the allocator's frames).
    assert_eq!(ours.shown_total, 15);
    assert_eq!(flat_of(&ours), BTreeMap::from([("malloc".to_string(), 15)]));
    assert_eq!(cum(&ours, "grow_arena"), 9);
    assert_eq!(cum(&ours, "fill_cache"), 4 + 2);
    assert_eq!(cum(&ours, "handle_request"), 9 + 4);
    assert_eq!(cum(&ours, "0x61ce258d4c544155"), 2);
}

#[test]
fn dtrace_aggregations_give_the_counts_they_hold() {
    let ours = profile_json(&fixture("traces/dtrace_ustack.txt"), &[]);
    assert_eq!(ours.format, "dtrace aggregation");
    assert_eq!(ours.shown_total, 12 + 30);
    assert_eq!(
        flat_of(&ours),
        BTreeMap::from([("libc.so.7`malloc".to_string(), 42)])
    );
    assert_eq!(cum(&ours, "prog`grow_arena"), 12);
    assert_eq!(cum(&ours, "prog`fill_cache"), 30);
}

#[test]
fn memleak_reports_give_the_last_reports_outstanding_bytes() {
    let file = fixture("traces/memleak.txt");
    let ours = profile_json(&file, &[]);
    assert_eq!(ours.format, "bcc memleak");
    assert_eq!(ours.sample_index, "inuse_space");
    // The later report replaces the earlier: 160 + 32 bytes.
    assert_eq!(ours.shown_total, 192);
    assert_eq!(
        flat_of(&ours),
        BTreeMap::from([
            ("grow_arena".to_string(), 160),
            ("fill_cache".to_string(), 32)
        ])
    );
    let objects = profile_json(&file, &["--sample-index", "inuse_objects"]);
    assert_eq!(objects.shown_total, 10 + 2);
    assert_eq!(cum(&objects, "handle_request"), 12);
}
