//! `heapmortem heap` on jemalloc cores, against jemalloc's own account of the same instant.
//!
//! The workload (`tests/fixtures/jemalloc/workload.c`, linked statically with Debian's
//! `libjemalloc.a`, jemalloc 5.3.0 with symbols and no DWARF) builds a heap, then writes
//! `malloc_stats_print(…, "J")` to a file and aborts from inside the print's last write
//! callback, so the core holds exactly the state the JSON describes (why that matters:
//! `tests/fixtures/jemalloc/stats_abort.h`). Each test compares heapmortem's
//! `--format jemalloc-json` with that file, key by key, for every key heapmortem produces —
//! all of `stats.arenas.<i>` except mutex counters and uptime, which reading the stats
//! changes, plus the totals under `stats` and the size classes under `arenas`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::harness::cli::{self, assert_exit, assert_one_line_error};
use crate::harness::fixture::{abort_core, qemu_abort_core};
use crate::harness::process::{self, run};
use crate::harness::{parse_hex, publish_dir, repo_root, stable_hash, tmp_root, unique_dir, Memo};

/// Debian's static jemalloc (package libjemalloc-dev).
const LIBJEMALLOC_A: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.a";

pub(crate) fn have_static_jemalloc() -> bool {
    if Path::new(LIBJEMALLOC_A).is_file() {
        return true;
    }
    if std::env::var_os("HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS").is_some() {
        eprintln!("SKIPPED: {LIBJEMALLOC_A} not found (Debian package libjemalloc-dev)");
        return false;
    }
    panic!(
        "{LIBJEMALLOC_A} is missing (Debian package `libjemalloc-dev`); install it, or set \
         HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS=1 to skip"
    );
}

/// How the workload gets jemalloc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Linking {
    /// Debian's libjemalloc.a: jemalloc's symbols are in the executable.
    Static,
    /// Debian's libjemalloc.so.2, which is stripped: no jemalloc symbols anywhere.
    Shared,
    /// jemalloc `version` as its `-sys` crate builds it (`tests/fixtures/jemalloc/crates/`),
    /// linked statically, symbol prefix `_rjem_`. With `dwarf: false` the workload's debug
    /// information is stripped (symbols kept), so heapmortem must use its built-in tables;
    /// with `true`, it reads the layouts from jemalloc's DWARF.
    Crate { version: &'static str, dwarf: bool },
    /// jemalloc `version`, from the sources its `-sys` crate bundles, cross-built for Linux
    /// aarch64 with pages of `1 << lg_page` bytes ([`aarch64_jemalloc`]); the workload is
    /// linked statically with `aarch64-linux-gnu-gcc` and run under `qemu-aarch64`. `dwarf`
    /// as for [`Linking::Crate`]; `prof`, jemalloc configured with `--enable-prof`.
    Aarch64 {
        version: &'static str,
        lg_page: u32,
        dwarf: bool,
        prof: bool,
    },
}

impl Linking {
    /// The environment variable the build reads its options from (`MALLOC_CONF` with the
    /// build's prefix, upper-cased: jemalloc's configure.ac `JEMALLOC_CPREFIX`).
    fn conf_var(self) -> &'static str {
        match self {
            Linking::Crate { .. } | Linking::Aarch64 { .. } => "_RJEM_MALLOC_CONF",
            _ => "MALLOC_CONF",
        }
    }
}

/// The fixture crate of jemalloc `version` (`tests/fixtures/jemalloc/crates/`), copied under
/// the tests' temporary directory (nothing is written into the repository): its directory.
/// Each file is copied to a name of its own and renamed into place, so that a cargo
/// run on the copy of another test (or test process) never reads a half-written file. With
/// `prof`, a copy of its own (built with the `profiling` feature beside the plain build).
fn fixture_crate(version: &str, prof: bool) -> PathBuf {
    let src = repo_root().join("tests/fixtures/jemalloc/crates");
    let root = tmp_root().join("jemalloc-crates");
    let suffix = if prof { "-prof" } else { "" };
    let dir = root.join(format!("jemalloc-{version}{suffix}"));
    std::fs::create_dir_all(&dir).expect("crate directory");
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let copy = |from: PathBuf, to: PathBuf| {
        let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".copy-{}-{n}", std::process::id()));
        std::fs::copy(&from, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &to))
            .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    };
    copy(src.join("lib.rs"), root.join("lib.rs"));
    for f in ["Cargo.toml", "Cargo.lock"] {
        copy(src.join(format!("jemalloc-{version}")).join(f), dir.join(f));
    }
    dir
}

/// jemalloc `version` built by cargo from its `-sys` crate: the directory it was installed
/// into (`lib/libjemalloc.a`, `include/jemalloc/jemalloc.h`). With `prof`, the crate's
/// `profiling` feature (jemalloc configured with `--enable-prof`). Built once per machine,
/// in the copied fixture crate ([`fixture_crate`]) with its own target directory.
pub(crate) fn crate_jemalloc(version: &'static str, prof: bool) -> PathBuf {
    static BUILT: OnceLock<Memo<(&'static str, bool), PathBuf>> = OnceLock::new();
    BUILT.get_or_init(Memo::new).get(&(version, prof), || {
        process::require("make", "make");
        let dir = fixture_crate(version, prof);
        let root = tmp_root().join("jemalloc-crates");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--locked", "--message-format=json"])
            .args(prof.then_some("--features=profiling"))
            .arg("--target-dir")
            .arg(root.join("target"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .current_dir(&dir);
        let out = run(&mut cmd, Duration::from_secs(1200))
            .expect_success(&format!("building jemalloc {version} with cargo"));
        let out_dir = out
            .stdout_str()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "build-script-executed")
            .filter(|m| {
                m["package_id"]
                    .as_str()
                    .is_some_and(|id| id.contains("jemalloc-sys"))
            })
            .find_map(|m| m["out_dir"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| {
                panic!(
                    "cargo did not say where jemalloc {version} went\n{}",
                    out.describe()
                )
            });
        assert!(
            out_dir.join("lib/libjemalloc.a").is_file(),
            "{}",
            out.describe()
        );
        out_dir
    })
}

/// The sources of jemalloc `version` as its `-sys` crate bundles them: the crate's
/// directory, as `cargo metadata` (which downloads the locked crates) names it. Once per
/// version and process (the builds of two page sizes share it).
fn crate_sources(version: &'static str) -> PathBuf {
    static SOURCES: OnceLock<Memo<&'static str, PathBuf>> = OnceLock::new();
    SOURCES.get_or_init(Memo::new).get(&version, || {
        let dir = fixture_crate(version, false);
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["metadata", "--locked", "--format-version", "1"])
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(&dir);
        let out = run(&mut cmd, Duration::from_secs(300))
            .expect_success(&format!("cargo metadata for the jemalloc {version} crate"));
        let meta: Value = serde_json::from_str(&out.stdout_str()).expect("cargo metadata's JSON");
        meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("jemalloc-sys"))
            })
            .find_map(|p| p["manifest_path"].as_str())
            .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
            .unwrap_or_else(|| panic!("no jemalloc-sys package in\n{}", out.describe()))
    })
}

/// jemalloc `version` cross-built for Linux aarch64 with `--with-lg-page=lg_page`: the
/// build directory (`lib/libjemalloc.a`, `include/jemalloc/jemalloc.h`). The rust aarch64
/// target is not needed: jemalloc's own configure runs with `--host=aarch64-linux-gnu`
/// and `aarch64-linux-gnu-gcc`, on the sources and the pre-generated `configure` its crate
/// bundles, with the options its build script gives (`_rjem_` prefix and private namespace,
/// no C++, the crate's version string), compiled with DWARF. Built once per machine under the
/// tests' temporary directory.
fn aarch64_jemalloc(version: &'static str, lg_page: u32, prof: bool) -> PathBuf {
    static BUILT: OnceLock<Memo<(&'static str, u32, bool), PathBuf>> = OnceLock::new();
    let key = (version, lg_page, prof);
    BUILT.get_or_init(Memo::new).get(&key, || {
        process::require("make", "make");
        let prof_suffix = if prof { "-prof" } else { "" };
        let dest = tmp_root()
            .join("jemalloc-aarch64")
            .join(format!("{version}-lg{lg_page}{prof_suffix}"));
        if dest.join("lib/libjemalloc.a").is_file() {
            return dest;
        }
        let krate = crate_sources(version);
        let tmp = unique_dir(&format!(
            "build-jemalloc-aarch64-{version}-lg{lg_page}{prof_suffix}"
        ));
        let mut cmd = Command::new("cp");
        cmd.arg("-r").arg(krate.join("jemalloc/.")).arg(&tmp);
        run(&mut cmd, Duration::from_secs(120)).expect_success("copying jemalloc's sources");
        // The crates ship configure (and, tikv-jemalloc-sys 0.4, VERSION) beside the sources.
        for f in ["configure", "VERSION"] {
            let from = krate.join("configure").join(f);
            if from.is_file() {
                std::fs::copy(&from, tmp.join(f)).expect("copy configure");
            }
        }
        let mut cmd = Command::new("sh");
        cmd.arg("./configure")
            .args([
                "--host=aarch64-linux-gnu",
                "--build=x86_64-pc-linux-gnu",
                "--disable-cxx",
                "--with-jemalloc-prefix=_rjem_",
                "--with-private-namespace=_rjem_",
            ])
            .arg(format!("--with-lg-page={lg_page}"))
            .args(prof.then_some("--enable-prof"))
            .env("CC", "aarch64-linux-gnu-gcc")
            // After configure's own `-g3 -O3`: quicker to build, with the DWARF a walk reads.
            .env("CFLAGS", "-O1 -g")
            .current_dir(&tmp);
        // tikv-jemalloc-sys 0.5+ passes the version after the `+` of its own.
        let name = krate.file_name().unwrap_or_default().to_string_lossy();
        if let Some((_, v)) = name.split_once('+').filter(|(_, v)| v.contains("-g")) {
            cmd.arg(format!("--with-version={v}"));
        }
        run(&mut cmd, Duration::from_secs(600))
            .expect_success(&format!("configuring jemalloc {version} for aarch64"));
        let mut cmd = Command::new("make");
        cmd.args(["-j2", "lib/libjemalloc.a"]).current_dir(&tmp);
        run(&mut cmd, Duration::from_secs(1800))
            .expect_success(&format!("building jemalloc {version} for aarch64"));
        publish_dir(&tmp, &dest);
        dest
    })
}

/// The flags that link the workload with the `_rjem_`-prefixed jemalloc installed in `out`
/// (a crate's or a cross build); returns what identifies the library in the build's key.
fn link_prefixed(flags: &mut Vec<String>, out: &Path) -> Vec<u8> {
    // JEMALLOC_MANGLE: jemalloc.h maps malloc, mallctl, … to the _rjem_ names.
    flags.push("-DJEMALLOC_MANGLE".into());
    flags.push(format!("-I{}", out.join("include").display()));
    let lib = out.join("lib/libjemalloc.a");
    flags.push(lib.display().to_string());
    flags.extend(["-lpthread", "-ldl", "-lm"].map(String::from));
    std::fs::read(&lib)
        .map(|b| stable_hash(&[&b]).to_le_bytes().to_vec())
        .unwrap_or_default()
}

/// The workload, built once per linking (cached across runs by a hash of its sources and
/// flags).
fn workload(linking: Linking) -> PathBuf {
    static EXES: OnceLock<Memo<Linking, PathBuf>> = OnceLock::new();
    EXES.get_or_init(Memo::new).get(&linking, || {
        let (gcc, strip) = match linking {
            Linking::Aarch64 { .. } => ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-strip"),
            _ => ("gcc", "strip"),
        };
        process::require(gcc, "gcc");
        let dir = repo_root().join("tests/fixtures/jemalloc");
        let src = dir.join("workload.c");
        let header = dir.join("stats_abort.h");
        let mut flags: Vec<String> = ["-g", "-O1", "-pthread", "-Wall", "-Wextra"]
            .map(String::from)
            .to_vec();
        let mut lib_id = Vec::new();
        match linking {
            // What Debian's static libjemalloc.a needs besides itself.
            Linking::Static => {
                flags.extend(
                    [
                        "-Wl,-Bstatic",
                        "-ljemalloc",
                        "-Wl,-Bdynamic",
                        "-lpthread",
                        "-ldl",
                        "-lm",
                    ]
                    .map(String::from),
                );
                lib_id = std::fs::metadata(LIBJEMALLOC_A)
                    .map(|m| m.len().to_le_bytes().to_vec())
                    .unwrap_or_default();
            }
            Linking::Shared => flags.push("-ljemalloc".into()),
            Linking::Crate { version, .. } => {
                lib_id = link_prefixed(&mut flags, &crate_jemalloc(version, false));
            }
            Linking::Aarch64 {
                version,
                lg_page,
                prof,
                ..
            } => {
                // Static, so that qemu-user needs no aarch64 sysroot.
                flags.push("-static".into());
                lib_id = link_prefixed(&mut flags, &aarch64_jemalloc(version, lg_page, prof));
            }
        }
        let key = stable_hash(&[
            &std::fs::read(&src).expect("workload.c"),
            &std::fs::read(&header).expect("stats_abort.h"),
            flags.join(" ").as_bytes(),
            &lib_id,
            format!("{linking:?}").as_bytes(),
        ]);
        let out_dir = tmp_root()
            .join("build")
            .join(format!("jemalloc-workload-{key:016x}"));
        let exe = out_dir.join("workload");
        if exe.is_file() {
            return exe;
        }
        let tmp = unique_dir("build-jemalloc-workload");
        let mut cmd = Command::new(gcc);
        // Libraries after the source, so the static archive resolves its references.
        cmd.arg(&src)
            .arg("-o")
            .arg(tmp.join("workload"))
            .args(&flags);
        run(&mut cmd, Duration::from_secs(180)).expect_success("compiling the jemalloc workload");
        if let Linking::Crate { dwarf: false, .. } | Linking::Aarch64 { dwarf: false, .. } = linking
        {
            process::require(strip, "binutils");
            let mut cmd = Command::new(strip);
            cmd.arg("--strip-debug").arg(tmp.join("workload"));
            run(&mut cmd, Duration::from_secs(60)).expect_success("strip --strip-debug");
        }
        publish_dir(&tmp, &out_dir);
        exe
    })
}

/// One run of the workload: its core and what malloc_stats_print said at that instant.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// The workload that ran.
    pub(crate) exe: PathBuf,
    pub(crate) core: PathBuf,
    pub(crate) truth: Value,
    /// Each worker's `(tid, thread.allocated, thread.deallocated)`, read by the worker
    /// itself before it blocked.
    workers: Vec<(u64, u64, u64)>,
}

/// Runs `workload MODE` with `MALLOC_CONF` (once per test process) until it aborts.
pub(crate) fn run_workload(mode: &'static str, malloc_conf: &'static str) -> Run {
    run_linked(Linking::Static, mode, malloc_conf)
}

/// The workload linked with Debian's stripped libjemalloc.so.2 (jemalloc's globals in the
/// library's data, near the end of the core).
pub(crate) fn run_shared(mode: &'static str, malloc_conf: &'static str) -> Run {
    run_linked(Linking::Shared, mode, malloc_conf)
}

fn run_linked(linking: Linking, mode: &'static str, malloc_conf: &'static str) -> Run {
    static RUNS: OnceLock<Memo<(Linking, &'static str, &'static str), Run>> = OnceLock::new();
    RUNS.get_or_init(Memo::new)
        .get(&(linking, mode, malloc_conf), || {
            make_run(linking, mode, malloc_conf)
        })
}

fn make_run(linking: Linking, mode: &str, malloc_conf: &str) -> Run {
    let exe = workload(linking);
    let label = match linking {
        Linking::Crate { version, dwarf } => {
            format!("{version}-{}", if dwarf { "dwarf" } else { "nodwarf" })
        }
        Linking::Aarch64 {
            version,
            lg_page,
            dwarf,
            prof,
        } => format!(
            "aarch64-{version}-lg{lg_page}-{}{}",
            if dwarf { "dwarf" } else { "nodwarf" },
            if prof { "-prof" } else { "" }
        ),
        other => format!("{other:?}"),
    };
    let dir = unique_dir(&format!("jemalloc-{label}-{mode}"));
    let stats = dir.join("stats.json");
    let args = [mode, &stats.to_string_lossy()];
    let env = [(linking.conf_var(), malloc_conf)];
    let core = match linking {
        Linking::Aarch64 { .. } => qemu_abort_core(&exe, &args, &env, &dir),
        _ => abort_core(&exe, &args, &env, &dir),
    };
    let text = std::fs::read_to_string(&stats)
        .unwrap_or_else(|e| panic!("the workload wrote no {}: {e}", stats.display()));
    let truth: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("malloc_stats_print's JSON does not parse: {e}"));
    let threads = dir.join("stats.json.threads");
    let workers = std::fs::read_to_string(&threads)
        .unwrap_or_else(|e| panic!("the workload wrote no {}: {e}", threads.display()))
        .lines()
        .map(|l| {
            let v: Vec<u64> = l.split(' ').map(|x| x.parse().expect("a number")).collect();
            (v[0], v[1], v[2])
        })
        .collect();
    Run {
        exe,
        core,
        truth,
        workers,
    }
}

fn heap(core: &Path, format: &str) -> process::Output {
    cli::heapmortem([
        OsStr::new("heap"),
        core.as_os_str(),
        OsStr::new("--format"),
        OsStr::new(format),
    ])
}

/// Every leaf of `ours` equals the same path in `truth`; returns the differences and how
/// many values were compared.
fn differences(path: &str, truth: &Value, ours: &Value, out: &mut Vec<String>) -> usize {
    match (truth, ours) {
        (Value::Object(t), Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match t.get(k) {
                Some(tv) => differences(&format!("{path}.{k}"), tv, v, out),
                None => {
                    out.push(format!("{path}.{k}: not in malloc_stats_print's output"));
                    0
                }
            })
            .sum(),
        (Value::Array(t), Value::Array(o)) => {
            if t.len() != o.len() {
                out.push(format!(
                    "{path}: {} entries, jemalloc has {}",
                    o.len(),
                    t.len()
                ));
                return 0;
            }
            t.iter()
                .zip(o)
                .enumerate()
                .map(|(i, (tv, ov))| differences(&format!("{path}[{i}]"), tv, ov, out))
                .sum()
        }
        (t, o) => {
            if t != o {
                out.push(format!("{path}: heapmortem {o}, jemalloc {t}"));
            }
            1
        }
    }
}

/// The keys of `stats.arenas.<i>` that the issue requires heapmortem to rebuild.
const REQUIRED: &[&str] = &[
    "nthreads",
    "dirty_decay_ms",
    "muzzy_decay_ms",
    "pactive",
    "pdirty",
    "pmuzzy",
    "dirty_npurge",
    "dirty_nmadvise",
    "dirty_purged",
    "muzzy_npurge",
    "muzzy_nmadvise",
    "muzzy_purged",
    "mapped",
    "retained",
    "base",
    "internal",
    "resident",
    "tcache_bytes",
    "small",
    "large",
    "bins",
    "lextents",
    "extents",
];

/// heapmortem's jemalloc-json equals the workload's malloc_stats_print for every key it
/// produces, and produces every required key for every arena jemalloc printed.
fn assert_equal_to_stats_print(run: &Run, min_arenas: usize) {
    let out = heap(&run.core, "jemalloc-json");
    assert_exit(&out, 0);
    compare_with_stats_print(run, &out, min_arenas);
}

fn compare_with_stats_print(run: &Run, out: &process::Output, min_arenas: usize) {
    let ours: Value = cli::parse_json(out, "heap --format jemalloc-json");
    compare_json_with_stats_print(run, &ours, min_arenas, &[]);
}

/// [`compare_with_stats_print`] on output already parsed, where the `lost` keys of each
/// arena need not be there (a truncated core lost what they are made of).
pub(crate) fn compare_json_with_stats_print(
    run: &Run,
    ours: &Value,
    min_arenas: usize,
    lost: &[&str],
) {
    let truth = &run.truth["jemalloc"];
    let ours = &ours["jemalloc"];
    assert_eq!(ours["version"], truth["version"], "version");
    let truth_arenas = truth["stats.arenas"].as_object().expect("stats.arenas");
    let our_arenas = ours["stats.arenas"].as_object().expect("our stats.arenas");
    let names = |m: &serde_json::Map<String, Value>| {
        let mut k: Vec<String> = m.keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(names(our_arenas), names(truth_arenas), "the arenas printed");
    assert!(
        truth_arenas.len() >= min_arenas,
        "the workload should have made at least {min_arenas} arenas: {:?}",
        names(truth_arenas)
    );
    for (i, a) in our_arenas {
        // Required where this jemalloc version prints it (5.1 has no `extents`).
        for key in REQUIRED
            .iter()
            .filter(|k| truth_arenas[i].get(**k).is_some() && !lost.contains(k))
        {
            assert!(
                a.get(*key).is_some(),
                "stats.arenas.{i}.{key} missing from our output"
            );
        }
        let bins = a["bins"].as_array().expect("bins");
        assert!(
            bins.iter().all(|b| b.get("curregs").is_some()),
            "curregs of every bin"
        );
    }
    let mut diffs = Vec::new();
    let mut compared = 0;
    for key in ["stats.arenas", "stats", "arenas", "opt"] {
        compared += differences(key, &truth[key], &ours[key], &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "{} of {compared} values differ from malloc_stats_print:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(compared > 500, "only {compared} values compared");
}

#[test]
fn bind_pattern_one_arena_equals_malloc_stats_print() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("bind", "narenas:1");
    assert_equal_to_stats_print(&run, 1);
    // The BIND shape: one arena, every worker bound to it, freed memory left dirty.
    let a0 = &run.truth["jemalloc"]["stats.arenas"]["0"];
    assert_eq!(a0["nthreads"], 7, "six workers and main share arena 0");
    assert!(
        a0["pdirty"].as_u64().unwrap() > 1000,
        "dirty pages pile up: {a0:#}"
    );
}

#[test]
fn several_arenas_equal_malloc_stats_print() {
    if !have_static_jemalloc() {
        return;
    }
    // Automatic arenas, two made with arenas.create, and the "merged" pseudo-arena.
    let run = run_workload("arenas", "");
    assert_equal_to_stats_print(&run, 5);
    assert!(run.truth["jemalloc"]["stats.arenas"]
        .get("merged")
        .is_some());
}

#[test]
fn large_allocations_equal_malloc_stats_print() {
    if !have_static_jemalloc() {
        return;
    }
    // Large extents up to 32 MiB; those over opt.oversize_threshold go to the huge arena.
    let run = run_workload("large", "");
    assert_equal_to_stats_print(&run, 2);
}

/// The BIND finding: the arena, the dirty MiB (as jemalloc counts them), dirty_decay_ms and
/// the remedies. The decay time is long here (an epoch of 3 s) so that no purge can happen
/// during the sub-second run: with the default 10 s a purge after 100 ms is possible on a
/// loaded machine, and the test would depend on timing.
#[test]
fn bind_pattern_finding_names_arena_dirty_pages_and_decay() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("bind", "narenas:1,dirty_decay_ms:600000");
    let a0 = &run.truth["jemalloc"]["stats.arenas"]["0"];
    assert_eq!(
        a0["dirty_npurge"], 0,
        "precondition: nothing purged: {a0:#}"
    );
    let page = run.truth["jemalloc"]["arenas"]["page"].as_u64().unwrap();
    let dirty_mib = (a0["pdirty"].as_u64().unwrap() * page) as f64 / (1 << 20) as f64;

    let out = heap(&run.core, "json");
    assert_exit(&out, 0);
    let summary: Summary = cli::parse_json(&out, "heap --format json");
    let f = summary
        .findings
        .iter()
        .find(|f| f.message.contains("arena 0 holds"))
        .unwrap_or_else(|| panic!("no dirty-pages finding: {:#?}", summary.findings));
    let expected = format!("{dirty_mib:.1} MiB of dirty pages");
    for needle in [
        expected.as_str(),
        "purged nothing",
        "dirty_npurge = 0",
        "dirty_decay_ms = 600000",
        "background_thread:true",
        "arena.0.purge",
    ] {
        assert!(
            f.message.contains(needle),
            "finding lacks {needle:?}: {}",
            f.message
        );
    }

    let text = heap(&run.core, "text");
    assert_exit(&text, 0);
    let text = text.stdout_str();
    assert!(
        text.contains(&expected),
        "text view lacks the finding:\n{text}"
    );
    assert!(
        text.contains("5.3.0-0-g"),
        "text view names the version:\n{text}"
    );
}

/// `--format json` follows DESIGN.md's keys, and its figures are jemalloc's.
#[test]
fn json_summary_follows_the_contract() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("arenas", "");
    let out = heap(&run.core, "json");
    assert_exit(&out, 0);
    let summary: Summary = cli::parse_json(&out, "heap --format json");
    assert_eq!(summary.allocator, "jemalloc");
    assert_eq!(
        summary.version.as_deref(),
        run.truth["jemalloc"]["version"].as_str()
    );
    let truth = run.truth["jemalloc"]["stats.arenas"].as_object().unwrap();
    let page = run.truth["jemalloc"]["arenas"]["page"].as_u64().unwrap();
    assert_eq!(
        summary.arenas.len(),
        truth.keys().filter(|k| *k != "merged").count()
    );
    for a in &summary.arenas {
        let t = &truth[&a.index.to_string()];
        let n = |k: &str| t[k].as_u64().unwrap();
        assert!(
            a.address.starts_with("0x"),
            "address as a hex string: {}",
            a.address
        );
        assert_eq!(
            a.system_bytes,
            n("mapped"),
            "arena {} system_bytes",
            a.index
        );
        assert_eq!(
            a.in_use_bytes,
            t["small"]["allocated"].as_u64().unwrap() + t["large"]["allocated"].as_u64().unwrap(),
            "arena {} in_use_bytes",
            a.index
        );
        let curregs: u64 = t["bins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["curregs"].as_u64().unwrap())
            .sum();
        let curlextents: u64 = t["lextents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["curlextents"].as_u64().unwrap())
            .sum();
        assert_eq!(
            a.in_use_chunks,
            curregs + curlextents,
            "arena {} in_use_chunks",
            a.index
        );
        assert_eq!(
            a.trimmable_bytes,
            (n("pdirty") + n("pmuzzy")) * page,
            "arena {} trimmable_bytes",
            a.index
        );
        assert!(a.free_bytes >= a.trimmable_bytes);
        assert!(a.largest_free <= a.trimmable_bytes);
        assert!(
            a.free_chunks
                >= t["extents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["ndirty"].as_u64().unwrap())
                    .sum::<u64>()
        );
    }
}

#[test]
fn malloc_info_format_is_refused_for_jemalloc() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("bind", "narenas:1");
    let out = heap(&run.core, "malloc-info");
    assert_exit(&out, 2);
    assert_one_line_error(&out);
    assert!(
        out.stderr_str().contains("jemalloc-json"),
        "{}",
        out.describe()
    );
}

/// The tests' own reading of `heap --format json` (DESIGN.md): a renamed or dropped key
/// fails to deserialize.
#[derive(Debug, Deserialize)]
struct Summary {
    allocator: String,
    version: Option<String>,
    arenas: Vec<SummaryArena>,
    findings: Vec<SummaryFinding>,
}

#[derive(Debug, Deserialize)]
struct SummaryArena {
    index: u32,
    address: String,
    system_bytes: u64,
    in_use_chunks: u64,
    in_use_bytes: u64,
    free_chunks: u64,
    free_bytes: u64,
    trimmable_bytes: u64,
    largest_free: u64,
}

#[derive(Debug, Deserialize)]
struct SummaryFinding {
    message: String,
}

/// Freed huge blocks stay as retained address space: figures equal, and the finding
/// explains that retained is virtual.
#[test]
fn retained_address_space_equals_malloc_stats_print_and_is_explained() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("retained", "");
    assert_equal_to_stats_print(&run, 2);
    let retained = run.truth["jemalloc"]["stats"]["retained"].as_u64().unwrap();
    assert!(
        retained >= 1 << 30,
        "precondition: ≥ 1 GiB retained, got {retained}"
    );
    let out = heap(&run.core, "json");
    assert_exit(&out, 0);
    let summary: Summary = cli::parse_json(&out, "heap --format json");
    let f = summary
        .findings
        .iter()
        .find(|f| f.message.contains("retained against"))
        .unwrap_or_else(|| panic!("no retained finding: {:#?}", summary.findings));
    let gib = format!("{:.1} GiB", retained as f64 / (1u64 << 30) as f64);
    assert!(
        f.message.contains(&gib),
        "finding lacks {gib}: {}",
        f.message
    );
    assert!(f.message.contains("retain:false"), "{}", f.message);
}

/// Eight threads whose caches hold most of the heap: tcache_bytes equal jemalloc's, and the
/// finding names the cached amount.
#[test]
fn thread_caches_equal_malloc_stats_print_and_are_flagged() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("tcache", "");
    assert_equal_to_stats_print(&run, 2);
    let arenas = run.truth["jemalloc"]["stats.arenas"].as_object().unwrap();
    let cached: u64 = arenas
        .iter()
        .filter(|(k, _)| *k != "merged")
        .map(|(_, a)| a["tcache_bytes"].as_u64().unwrap())
        .sum();
    let out = heap(&run.core, "json");
    assert_exit(&out, 0);
    let summary: Summary = cli::parse_json(&out, "heap --format json");
    let f = summary
        .findings
        .iter()
        .find(|f| f.message.contains("thread caches hold"))
        .unwrap_or_else(|| panic!("no tcache finding: {:#?}", summary.findings));
    let mib = format!("{:.1} MiB", cached as f64 / (1u64 << 20) as f64);
    assert!(
        f.message.contains(&mib),
        "finding lacks {mib}: {}",
        f.message
    );
}

/// Debian's libjemalloc.so.2 is stripped: no jemalloc symbol anywhere. heapmortem finds the
/// arenas and size-class tables by their contents (a layout for the version string the
/// library holds), says so in a note, and its figures still equal malloc_stats_print's.
#[test]
fn stripped_shared_library_is_read_by_contents() {
    if !have_static_jemalloc() || !Path::new("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2").is_file()
    {
        return;
    }
    for (mode, conf, min_arenas) in [("arenas", "", 5), ("bind", "narenas:1", 1)] {
        let run = run_linked(Linking::Shared, mode, conf);
        let out = heap(&run.core, "jemalloc-json");
        assert_exit(&out, 0);
        assert!(
            out.stderr_str().contains("has no symbols"),
            "a note should say the arenas were found without symbols\n{}",
            out.describe()
        );
        compare_with_stats_print(&run, &out, min_arenas);
    }
}

/// `--list all`: every slab region (from the slab bitmaps), large extent and free extent,
/// found through jemalloc's extent map. Added up per arena they give back jemalloc's own
/// figures: allocated bytes of small and large classes, live region and extent counts,
/// bytes in thread caches, free regions in current slabs, dirty and muzzy extents.
#[test]
fn list_all_adds_up_to_malloc_stats_print() {
    if !have_static_jemalloc() {
        return;
    }
    for (linking, mode, conf) in [
        (Linking::Static, "arenas", ""),
        (Linking::Static, "large", ""),
        (Linking::Shared, "bind", "narenas:1"),
    ] {
        let run = run_linked(linking, mode, conf);
        let out = cli::heapmortem([
            OsStr::new("heap"),
            run.core.as_os_str(),
            OsStr::new("--list"),
            OsStr::new("all"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ]);
        assert_exit(&out, 0);
        let listed: Listed = cli::parse_json(&out, "heap --list all --format json");
        let truth = &run.truth["jemalloc"];
        let max_small = truth["arenas"]["bin"].as_array().unwrap().last().unwrap()["size"]
            .as_u64()
            .unwrap();
        let nregs: Vec<u64> = truth["arenas"]["bin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["nregs"].as_u64().unwrap())
            .collect();
        for (k, t) in truth["stats.arenas"].as_object().unwrap() {
            if k == "merged" {
                continue;
            }
            let arena: u32 = k.parse().unwrap();
            // The listing names an arena by its address; `arenas[]` gives its index.
            let address = listed
                .arenas
                .iter()
                .find(|a| a.index == arena)
                .map(|a| a.address.clone());
            let mine: Vec<&Listed1> = listed
                .allocations
                .iter()
                .filter(|a| a.arena.is_some() && a.arena == address)
                .collect();
            let held = |a: &&&Listed1| a.state != "free";
            let sum = |f: &dyn Fn(&Listed1) -> bool| -> u64 {
                mine.iter().filter(|a| f(a)).map(|a| a.size).sum()
            };
            let what = format!("{mode} ({linking:?}) arena {arena}");
            let n = |v: &Value| v.as_u64().unwrap();
            assert_eq!(
                sum(&|a| a.state != "free" && a.size <= max_small),
                n(&t["small"]["allocated"]),
                "{what}: small bytes in use"
            );
            assert_eq!(
                sum(&|a| a.state != "free" && a.size > max_small),
                n(&t["large"]["allocated"]),
                "{what}: large bytes in use"
            );
            assert_eq!(
                sum(&|a| a.state == "tcache"),
                n(&t["tcache_bytes"]),
                "{what}: tcache"
            );
            let live = n(&t["small"]["nmalloc"]) - n(&t["small"]["ndalloc"])
                + n(&t["large"]["nmalloc"])
                - n(&t["large"]["ndalloc"]);
            assert_eq!(
                mine.iter().filter(held).count() as u64,
                live,
                "{what}: live count"
            );
            let free_regions: u64 = t["bins"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&nregs)
                .map(|(b, nr)| n(&b["curslabs"]) * nr - n(&b["curregs"]))
                .sum();
            let free_extents: u64 = t["extents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| n(&e["ndirty"]) + n(&e["nmuzzy"]))
                .sum();
            assert_eq!(
                mine.iter().filter(|a| a.state == "free").count() as u64,
                free_regions + free_extents,
                "{what}: free regions and extents"
            );
            assert!(mine.iter().all(|a| a.address.starts_with("0x")));
        }
    }
}

#[derive(Debug, Deserialize)]
struct Listed {
    arenas: Vec<ListedArena>,
    allocations: Vec<Listed1>,
}

/// `explain CORE ADDRESS --exe EXE --format json` of a run, which must exit 0.
fn explain_with_exe(run: &Run, address: &str) -> (process::Output, Value) {
    let out = cli::heapmortem([
        OsStr::new("explain"),
        run.core.as_os_str(),
        OsStr::new(address),
        OsStr::new("--exe"),
        run.exe.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    assert_exit(&out, 0);
    let json = cli::parse_json(&out, "explain --format json");
    (out, json)
}

/// `heap CORE --exe EXE --list WHICH --format json` of a run, which must exit 0.
fn listed_with_exe(run: &Run, which: &str) -> Listed {
    let out = cli::heapmortem([
        OsStr::new("heap"),
        run.core.as_os_str(),
        OsStr::new("--exe"),
        run.exe.as_os_str(),
        OsStr::new("--list"),
        OsStr::new(which),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    assert_exit(&out, 0);
    cli::parse_json(&out, &format!("heap --list {which} --format json"))
}

#[derive(Debug, Deserialize)]
struct ListedArena {
    index: u32,
    address: String,
}

#[derive(Debug, Deserialize)]
struct Listed1 {
    address: String,
    size: u64,
    state: String,
    arena: Option<String>,
}

/// Each thread cache is tied to its thread (by the thread pointer above its `tsd_t`): every
/// worker is found by tid with the `thread.allocated` / `thread.deallocated` it read itself,
/// and the caches add up to jemalloc's `tcache_bytes`.
#[test]
fn thread_caches_belong_to_their_threads() {
    if !have_static_jemalloc() {
        return;
    }
    for (linking, mode, conf) in [
        (Linking::Static, "tcache", ""),
        (Linking::Static, "bind", "narenas:1"),
        (Linking::Shared, "bind", "narenas:1"),
    ] {
        let run = run_linked(linking, mode, conf);
        let out = heap(&run.core, "json");
        assert_exit(&out, 0);
        let summary: ThreadsOut = cli::parse_json(&out, "heap --format json");
        let what = format!("{mode} ({linking:?})");
        assert!(!run.workers.is_empty());
        for &(tid, allocated, deallocated) in &run.workers {
            let t = summary
                .threads
                .iter()
                .find(|t| t.tid == Some(tid))
                .unwrap_or_else(|| {
                    panic!(
                        "{what}: no thread cache for tid {tid}: {:#?}",
                        summary.threads
                    )
                });
            assert_eq!(
                t.allocated,
                Some(allocated),
                "{what}: tid {tid} thread.allocated"
            );
            assert_eq!(
                t.deallocated,
                Some(deallocated),
                "{what}: tid {tid} thread.deallocated"
            );
            if mode == "tcache" {
                // 20 regions (opt.tcache_nslots_large) of 16, 20, 24, 28 and 32 KiB.
                assert_eq!(
                    t.tcache_bytes,
                    20 * (16 + 20 + 24 + 28 + 32) * 1024,
                    "{what}: tid {tid}"
                );
            }
        }
        let truth: u64 = run.truth["jemalloc"]["stats.arenas"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "merged")
            .map(|(_, a)| a["tcache_bytes"].as_u64().unwrap())
            .sum();
        let ours: u64 = summary.threads.iter().map(|t| t.tcache_bytes).sum();
        assert_eq!(ours, truth, "{what}: bytes in all thread caches");
    }
}

#[derive(Debug, Deserialize)]
struct ThreadsOut {
    threads: Vec<ThreadOut>,
}

#[derive(Debug, Deserialize)]
struct ThreadOut {
    tid: Option<u64>,
    tcache_bytes: u64,
    allocated: Option<u64>,
    deallocated: Option<u64>,
}

const JE_5_1_0: Linking = Linking::Crate {
    version: "5.1.0",
    dwarf: false,
};
const JE_5_2_1: Linking = Linking::Crate {
    version: "5.2.1",
    dwarf: false,
};

/// jemalloc 5.1.0 (FreeBSD 12's) and 5.2.1 (FreeBSD 13's), built from their crates: the
/// built-in tables (debug information stripped) and DWARF both give malloc_stats_print's
/// figures, with each version's own set of keys (5.1 has no `extents`, fills and flushes
/// of large classes, `nonfull_slabs`…).
#[test]
fn jemalloc_5_1_and_5_2_equal_malloc_stats_print() {
    if !have_static_jemalloc() {
        return;
    }
    for (linking, mode, conf, min_arenas) in [
        (JE_5_1_0, "bind", "narenas:1", 1),
        (JE_5_1_0, "arenas", "", 5),
        (JE_5_1_0, "large", "", 1),
        (
            Linking::Crate {
                version: "5.1.0",
                dwarf: true,
            },
            "arenas",
            "",
            5,
        ),
        (JE_5_2_1, "bind", "narenas:1", 1),
        (JE_5_2_1, "arenas", "", 5),
        (JE_5_2_1, "large", "", 2),
        (
            Linking::Crate {
                version: "5.2.1",
                dwarf: true,
            },
            "arenas",
            "",
            5,
        ),
    ] {
        let run = run_linked(linking, mode, conf);
        let out = heap(&run.core, "jemalloc-json");
        assert_exit(&out, 0);
        compare_with_stats_print(&run, &out, min_arenas);
        let Linking::Crate { version, .. } = linking else {
            unreachable!()
        };
        let keys = &run.truth["jemalloc"]["stats.arenas"]["0"];
        assert_eq!(
            keys.get("extents").is_some(),
            version != "5.1.0",
            "{version} extents"
        );
    }
}

/// The BIND 9 bug on the versions that have it: on jemalloc 5.1.0 and 5.2.1, a thread whose
/// first allocator call is free() never gets a decay ticker. heapmortem names each such
/// worker by tid (the main thread, which allocated first, has one), and says so in a
/// finding for the arena. On 5.3 (fixed) no thread is flagged.
#[test]
fn bind_bug_threads_that_began_with_free_never_tick() {
    if !have_static_jemalloc() {
        return;
    }
    for linking in [JE_5_1_0, JE_5_2_1] {
        let run = run_linked(linking, "bind", "narenas:1");
        let out = heap(&run.core, "json");
        assert_exit(&out, 0);
        let summary: TickerOut = cli::parse_json(&out, "heap --format json");
        let never: Vec<u64> = summary
            .threads
            .iter()
            .filter(|t| t.decay_ticker.as_deref() == Some("never"))
            .filter_map(|t| t.tid)
            .collect();
        let mut workers: Vec<u64> = run.workers.iter().map(|w| w.0).collect();
        workers.sort_unstable();
        assert_eq!(
            never, workers,
            "{linking:?}: the workers, and only they, never tick"
        );
        let f = summary
            .findings
            .iter()
            .find(|f| f.code == "decay_ticker_never_started")
            .unwrap_or_else(|| panic!("{linking:?}: no ticker finding: {:#?}", summary.findings));
        for tid in &workers {
            assert!(
                f.message.contains(&tid.to_string()),
                "{linking:?}: {tid} not named: {}",
                f.message
            );
        }
        assert!(f.message.contains("arena 0"), "{}", f.message);
    }
    let fixed = run_workload("bind", "narenas:1");
    let out = heap(&fixed.core, "json");
    let summary: TickerOut = cli::parse_json(&out, "heap --format json");
    assert!(summary.threads.iter().all(|t| t.decay_ticker.is_none()));
    assert!(summary
        .findings
        .iter()
        .all(|f| f.code != "decay_ticker_never_started"));
}

#[derive(Debug, Deserialize)]
struct TickerOut {
    threads: Vec<TickerThread>,
    findings: Vec<CodedFinding>,
}

#[derive(Debug, Deserialize)]
struct TickerThread {
    tid: Option<u64>,
    decay_ticker: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CodedFinding {
    code: String,
    message: String,
}

/// A core cut short (a full disk, an OOM kill while dumping) is read as far as it goes:
/// never a panic, and either a partial result (exit 1) or a one-line error (exit 2).
#[test]
fn truncated_cores_are_read_in_part_without_panic() {
    if !have_static_jemalloc() {
        return;
    }
    let run = run_workload("arenas", "");
    let len = std::fs::metadata(&run.core).expect("core").len();
    for (i, fraction) in [0.05, 0.3, 0.6, 0.9].into_iter().enumerate() {
        let cut = crate::harness::fixture::truncated_copy(
            &run.core,
            (len as f64 * fraction) as u64,
            &format!("jemalloc-{i}"),
        );
        for format in ["text", "jemalloc-json", "json"] {
            let out = heap(&cut, format);
            cli::assert_no_panic(&out);
            match out.code() {
                Some(1) => {}
                Some(2) => assert_one_line_error(&out),
                other => panic!("cut at {fraction}: exit {other:?}\n{}", out.describe()),
            }
        }
        let out = cli::heapmortem([
            OsStr::new("heap"),
            cut.as_os_str(),
            OsStr::new("--list"),
            OsStr::new("all"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ]);
        cli::assert_no_panic(&out);
    }
}

/// `(header t* counts, {stack → t* counts})` of a jemalloc `heap_v2` text.
fn heap_v2_counts(text: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let mut header = String::new();
    let mut stacks = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("MAPPED_LIBRARIES") {
            break;
        }
        if let Some(frames) = line.strip_prefix("@ ") {
            current = Some(frames.trim().to_string());
        } else if let Some(c) = line.trim_start().strip_prefix("t*: ") {
            match current.take() {
                Some(stack) => {
                    stacks.insert(stack, c.to_string());
                }
                None => header = c.to_string(),
            }
        }
    }
    (header, stacks)
}

/// A process that ran with `prof:true` keeps its heap profile in memory; rebuilt from the
/// core it equals, stack for stack and count for count, the `prof.dump` jemalloc wrote at
/// the same moment (the workload dumps, then aborts with nothing allocated in between).
/// Twice: every allocation sampled, and jemalloc's default sampling (one per 512 KiB on
/// average), where the counts printed are unbiased estimates (`prof_do_unbias`).
#[test]
fn in_memory_heap_profile_equals_prof_dump() {
    if !have_static_jemalloc() {
        return;
    }
    for (conf, period) in [("prof:true,lg_prof_sample:0", 1), ("prof:true", 1 << 19)] {
        let run = run_workload("prof", conf);
        check_profile_equals_dump(&run, conf, period, None);
    }
}

/// The heap profile read from `run`'s core equals the `prof.dump` the workload wrote just
/// before it (`stats.json.heap`), totals and every stack's counts. `exe`: the executable to
/// name (qemu's cores have no NT_FILE).
fn check_profile_equals_dump(run: &Run, conf: &str, period: u64, exe: Option<&Path>) {
    let dump_path = run.core.with_file_name("stats.json.heap");
    let dump = std::fs::read_to_string(&dump_path)
        .unwrap_or_else(|e| panic!("jemalloc wrote no {}: {e}", dump_path.display()));
    let options = core_reader::Options {
        exe: exe.map(Path::to_path_buf),
        ..Default::default()
    };
    // SAFETY: the core is not modified while it is mapped.
    let process = unsafe { core_reader::Process::open(&run.core, &options) }.expect("core");
    let profile = heap_walkers::jemalloc::profile(&process).expect("a heap profile");
    assert!(profile.problems.is_empty(), "{:?}", profile.problems);
    let ours = profile.to_heap_v2(&heap_walkers::jemalloc::HeapProfile::maps_of(&process));
    assert!(ours.starts_with(&format!("heap_v2/{period}\n")), "{ours}");
    let (truth_header, truth_stacks) = heap_v2_counts(&dump);
    let (our_header, our_stacks) = heap_v2_counts(&ours);
    assert_eq!(our_header, truth_header, "{conf}: the profile's totals");
    assert_eq!(
        our_stacks, truth_stacks,
        "{conf}: every sampled stack and its counts"
    );
    assert!(!truth_stacks.is_empty(), "{conf}: nothing sampled: {dump}");
    if period == 1 {
        assert_eq!(truth_stacks.len(), 3, "three call paths: {dump}");
    }
    assert!(ours.contains("MAPPED_LIBRARIES:\n"));
    // The maps name the executable where the core's NT_FILE does (qemu's has none).
    assert!(exe.is_some() || ours.contains("/workload"), "{ours}");
}

/// Allocation sites on aarch64: jemalloc 5.3.0 (4 KiB pages) cross-built with
/// `--enable-prof`, stripped (the profiler's built-in offsets), the `prof` workload with every
/// allocation sampled under qemu-aarch64. The in-memory profile equals the `prof.dump`
/// jemalloc wrote just before the core, and `explain` on one of the 32 KiB blocks names the
/// function the fixture allocates them in (`inflate_window`, under `handle_request`).
#[test]
fn aarch64_heap_profile_and_sites_equal_prof_dump() {
    if !crate::aarch64::have_toolchain() {
        return;
    }
    let linking = Linking::Aarch64 {
        version: "5.3.0",
        lg_page: 12,
        dwarf: false,
        prof: true,
    };
    let conf = "prof:true,lg_prof_sample:0";
    let run = run_linked(linking, "prof", conf);
    check_profile_equals_dump(&run, conf, 1, Some(&run.exe));
    let listed = listed_with_exe(&run, "used");
    let block = listed
        .allocations
        .iter()
        .find(|a| a.size == 32768)
        .expect("a 32 KiB block");
    let (out, json) = explain_with_exe(&run, &block.address);
    let functions: Vec<&str> = json["site"]["frames"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["function"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        functions.get(..2),
        Some(&["inflate_window", "handle_request"][..]),
        "explain {}: {}",
        block.address,
        out.stdout_str()
    );
    let _ = std::fs::remove_file(&run.core);
}

/// jemalloc on Linux aarch64, cross-built from the crates' sources ([`aarch64_jemalloc`]),
/// each workload under qemu-aarch64: with jemalloc's DWARF and with it stripped (symbols
/// kept), so that the built-in aarch64 tables are what is checked; every key as on x86_64.
/// The text view names the layout that was used, so a stripped build that fell back to
/// anything but the expected table fails here.
fn check_aarch64(
    version: &'static str,
    lg_page: u32,
    runs: &[(bool, &'static str, &'static str, usize)],
) {
    if !crate::aarch64::have_toolchain() {
        return;
    }
    for &(dwarf, mode, conf, min_arenas) in runs {
        let linking = Linking::Aarch64 {
            version,
            lg_page,
            dwarf,
            prof: false,
        };
        let run = run_linked(linking, mode, conf);
        let ctx = format!("{linking:?} {mode}");
        assert_eq!(
            run.truth["jemalloc"]["arenas"]["page"].as_u64(),
            Some(1 << lg_page),
            "{ctx}: the build's own page size"
        );
        // qemu's cores have no NT_FILE: the executable (jemalloc's symbols) is named.
        let heap = |format: &str| {
            cli::heapmortem([
                OsStr::new("heap"),
                run.core.as_os_str(),
                OsStr::new("--exe"),
                run.exe.as_os_str(),
                OsStr::new("--format"),
                OsStr::new(format),
            ])
        };
        let out = heap("jemalloc-json");
        assert_exit(&out, 0);
        compare_with_stats_print(&run, &out, min_arenas);
        let text = heap("text");
        assert_exit(&text, 0);
        let layout = if dwarf {
            "layout: DWARF".to_string()
        } else {
            format!(
                "layout: built-in layout for jemalloc {version} (Linux aarch64, {} KiB pages",
                (1 << lg_page) / 1024
            )
        };
        assert!(
            text.stdout_str().contains(&layout),
            "{ctx}: the text view should say {layout:?}:\n{}",
            text.stdout_str()
        );
        // qemu's cores are tens of MiB, not sparse, and no other test uses these runs.
        let _ = std::fs::remove_file(&run.core);
    }
}

/// jemalloc 5.3.0 with 64 KiB pages (`--with-lg-page=16`, the arm64 configuration of
/// distributions and of most projects that bundle jemalloc). (qemu-user's cores hold every
/// mapped page, tens of MiB with 64 KiB pages: one run of each shape, mostly `bind`.)
#[test]
fn aarch64_jemalloc_5_3_64k_equals_malloc_stats_print() {
    check_aarch64(
        "5.3.0",
        16,
        &[
            (false, "bind", "narenas:1", 1),
            (true, "bind", "narenas:1", 1),
            (false, "arenas", "", 5),
        ],
    );
}

/// jemalloc 5.3.0 with 4 KiB pages: configure's default, which is what the `-sys` crates
/// build for aarch64 unless told otherwise.
#[test]
fn aarch64_jemalloc_5_3_4k_equals_malloc_stats_print() {
    check_aarch64("5.3.0", 12, &[(false, "bind", "narenas:1", 1)]);
}

/// jemalloc 5.2.1 with 64 KiB pages.
#[test]
fn aarch64_jemalloc_5_2_64k_equals_malloc_stats_print() {
    check_aarch64(
        "5.2.1",
        16,
        &[
            (false, "bind", "narenas:1", 1),
            (true, "bind", "narenas:1", 1),
        ],
    );
}

/// jemalloc 5.1.0 with 64 KiB pages (its version string is `0.0.0`, so the table is chosen
/// among all the aarch64 ones by the arenas' self-checks).
#[test]
fn aarch64_jemalloc_5_1_64k_equals_malloc_stats_print() {
    check_aarch64(
        "5.1.0",
        16,
        &[
            (false, "bind", "narenas:1", 1),
            (true, "bind", "narenas:1", 1),
        ],
    );
}

/// `held` mode's account of its blocks (STATS_JSON.blocks): `(kind, address, usable size)`,
/// kind `h` held, `l` leaked, `c` freed into the thread cache; the sizes are jemalloc's own
/// `malloc_usable_size`.
fn held_blocks(run: &Run) -> Vec<(char, u64, u64)> {
    let path = run.core.with_file_name("stats.json.blocks");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the workload wrote no {}: {e}", path.display()))
        .lines()
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            let kind = v[0].chars().next().expect("a kind");
            (
                kind,
                parse_hex(v[1]).expect("an address"),
                v[2].parse().expect("a size"),
            )
        })
        .collect()
}

/// On every aarch64 build the stats are read from (stripped: the built-in layouts), the
/// workload's own account of its blocks, recorded before it aborted: `heap --list all`
/// lists each block it holds and each it leaked as used, with jemalloc's usable size; the
/// regions it freed last sit in its thread cache (`tcache`, not used); `leaks` finds
/// exactly the blocks it leaked, all direct, with their bytes; and `explain` anchors a held
/// block at the static array that holds it, and a leaked one nowhere.
#[test]
fn aarch64_listing_and_leaks_equal_the_workloads_account() {
    if !crate::aarch64::have_toolchain() {
        return;
    }
    for (version, lg_page) in [("5.3.0", 16), ("5.3.0", 12), ("5.2.1", 16), ("5.1.0", 16)] {
        let linking = Linking::Aarch64 {
            version,
            lg_page,
            dwarf: false,
            prof: false,
        };
        let run = run_linked(linking, "held", "");
        let ctx = format!("{linking:?}");
        let blocks = held_blocks(&run);
        let exe = [OsStr::new("--exe"), run.exe.as_os_str()];
        let listed = listed_with_exe(&run, "all");
        let by_address: std::collections::HashMap<u64, &Listed1> = listed
            .allocations
            .iter()
            .map(|a| (parse_hex(&a.address).expect("hex"), a))
            .collect();
        for &(kind, address, usable) in &blocks {
            let a = by_address
                .get(&address)
                .unwrap_or_else(|| panic!("{ctx}: {kind} block {address:#x} not listed"));
            let state = if kind == 'c' { "tcache" } else { "used" };
            assert_eq!(
                (a.state.as_str(), a.size),
                (state, usable),
                "{ctx}: {kind} block {address:#x}"
            );
        }
        let leaked: std::collections::BTreeSet<u64> =
            blocks.iter().filter(|b| b.0 == 'l').map(|b| b.1).collect();
        let leaked_bytes: u64 = blocks.iter().filter(|b| b.0 == 'l').map(|b| b.2).sum();
        assert_eq!(leaked.len(), 12, "{ctx}: the workload's leaks");
        let (out, json) = crate::leaks::leaks_json(&run.core, &exe);
        assert_exit(&out, 0);
        assert_eq!(
            (json.direct_count, json.direct_bytes, json.indirect_count),
            (leaked.len() as u64, leaked_bytes, 0),
            "{ctx}: leaks\n{}",
            out.stdout_str()
        );
        let found: std::collections::BTreeSet<u64> = json
            .leaks
            .iter()
            .map(|l| parse_hex(&l.address).expect("hex"))
            .collect();
        assert_eq!(found, leaked, "{ctx}: the leaked blocks");
        // explain: a held block is anchored by the static array that holds it, a leaked one
        // by nothing.
        for &(kind, address, _) in blocks
            .iter()
            .filter(|b| b.0 == 'h')
            .take(1)
            .chain(blocks.iter().filter(|b| b.0 == 'l').take(1))
        {
            let (_, json) = explain_with_exe(&run, &format!("{address:#x}"));
            let anchor = json["anchor_chain"][0]["symbol"].as_str().unwrap_or("");
            assert_eq!(
                (
                    json["anchored"].as_bool(),
                    anchor.starts_with("workload!held_ptrs")
                ),
                (Some(kind == 'h'), kind == 'h'),
                "{ctx}: explain {address}\n{}",
                out.stdout_str()
            );
        }
        // qemu's cores are tens of MiB, not sparse, and no other test uses these runs.
        let _ = std::fs::remove_file(&run.core);
    }
}

/// The built-in aarch64 tables are what GCC made of jemalloc's headers for the builds they
/// name: every offset and size in them equals gdb-multiarch's answer from the DWARF of that
/// cross build (the workload linked with it), members the walks above never read included;
/// so do the profiler's built-in offsets of the same release.
#[test]
fn aarch64_tables_equal_the_builds_dwarf() {
    use heap_walkers::jemalloc::layout::{
        JEMALLOC_5_1_0_AARCH64_64K, JEMALLOC_5_2_1_AARCH64_64K, JEMALLOC_5_3_0_AARCH64_4K,
        JEMALLOC_5_3_0_AARCH64_64K,
    };
    use heap_walkers::jemalloc::{PROF_5_1_0_X86_64, PROF_5_3_0_X86_64};
    if !crate::aarch64::have_toolchain() || !process::require("gdb-multiarch", "gdb-multiarch") {
        return;
    }
    for (table, lg_page) in [
        (&JEMALLOC_5_3_0_AARCH64_64K, 16),
        (&JEMALLOC_5_3_0_AARCH64_4K, 12),
        (&JEMALLOC_5_2_1_AARCH64_64K, 16),
        (&JEMALLOC_5_1_0_AARCH64_64K, 16),
    ] {
        let exe = workload(Linking::Aarch64 {
            version: table.version,
            lg_page,
            dwarf: true,
            prof: false,
        });
        let mut script = String::from(
            "import gdb\n\
             def show(key, expr):\n\
             \x20   try:\n\
             \x20       print('ENTRY', key, int(gdb.parse_and_eval(expr)))\n\
             \x20   except gdb.error:\n\
             \x20       print('ENTRY', key, 'missing')\n",
        );
        let mut expected = Vec::new();
        // The profiler's built-in offsets, read on x86_64, hold on aarch64 too (prof.rs);
        // its structs are declared whether or not the build profiles.
        let prof = if table.version == "5.3.0" {
            &PROF_5_3_0_X86_64
        } else {
            &PROF_5_1_0_X86_64
        };
        // ckh_t and ckhc_t are typedefs of anonymous structs.
        let ty = |s: &str| {
            if s.starts_with("ckh") {
                s.to_string()
            } else {
                format!("struct {s}")
            }
        };
        for t in [table, prof] {
            for (s, m, offset) in t.members() {
                let ty = ty(s);
                script += &format!("show('{s}.{m}', '(unsigned long)&(({ty} *)0)->{m}')\n");
                expected.push((format!("{s}.{m}"), offset));
            }
            for &(s, size) in t.sizes() {
                script += &format!("show('sizeof({s})', 'sizeof({})')\n", ty(s));
                expected.push((format!("sizeof({s})"), size));
            }
        }
        let dir = unique_dir("aarch64-table-dwarf");
        let file = dir.join("offsets.py");
        std::fs::write(&file, script).expect("write the gdb script");
        let mut cmd = Command::new("gdb-multiarch");
        cmd.args(["-batch", "-nx", "-x"]).arg(&file).arg(&exe);
        let out = run(&mut cmd, Duration::from_secs(300)).expect_success("gdb-multiarch");
        let answers: std::collections::HashMap<String, String> = out
            .stdout_str()
            .lines()
            .filter_map(|l| l.strip_prefix("ENTRY "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let diffs: Vec<String> = expected
            .iter()
            .filter(|(k, v)| answers.get(k) != Some(&v.to_string()))
            .map(|(k, v)| format!("{k}: table {v}, DWARF {:?}", answers.get(k)))
            .collect();
        assert!(
            diffs.is_empty(),
            "{} ({}) differs from its build's DWARF:\n{}\n{}",
            table.version,
            table.config,
            diffs.join("\n"),
            out.describe()
        );
    }
}

/// `heap --list used --format json`, the keys read here.
#[derive(Debug, Deserialize)]
struct DamagedListing {
    allocations: Vec<DamagedAllocation>,
    problems: Vec<DamagedProblem>,
}

#[derive(Debug, Deserialize)]
struct DamagedAllocation {
    address: String,
    size: u64,
    state: String,
    /// The arena's address.
    arena: String,
}

#[derive(Debug, Deserialize)]
struct DamagedProblem {
    kind: String,
    address: Option<String>,
}

/// A heap damaged on purpose (`tests/fixtures/jemalloc/corrupt.c`, issue 14): in a manual
/// arena, a slab whose region bitmap marks a region in use as free, and a large extent
/// whose size lies. Each damage is reported once, with its kind and the address the
/// workload wrote; the rest is walked; the listing exits 1; and every arena's figures,
/// the damaged one's too, equal jemalloc's own `malloc_stats_print` at the instant of the
/// core (the print reads counters, which the damage does not touch).
#[test]
fn damaged_slab_bitmap_and_lying_extent_size_are_reported_once() {
    if !have_static_jemalloc() || !process::require("gcc", "gcc") {
        return;
    }
    let dir = unique_dir("jemalloc-corrupt");
    let exe = dir.join("corrupt");
    let fixtures = repo_root().join("tests/fixtures/jemalloc");
    let mut cc = Command::new("gcc");
    cc.args(["-g", "-O1", "-Wall", "-Wextra"])
        .arg(fixtures.join("corrupt.c"))
        .arg(format!("-I{}", fixtures.display()))
        .arg("-o")
        .arg(&exe)
        .args(["-Wl,-Bstatic", "-ljemalloc", "-Wl,-Bdynamic"])
        .args(["-lpthread", "-ldl", "-lm"]);
    run(&mut cc, Duration::from_secs(120)).expect_success("compiling corrupt.c");
    let stats = dir.join("stats.json");
    let core = abort_core(&exe, &["both", &stats.to_string_lossy()], &[], &dir);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("the workload's stats"))
            .expect("malloc_stats_print's JSON");
    let damage: std::collections::HashMap<String, String> =
        std::fs::read_to_string(dir.join("stats.json.damage"))
            .expect("the workload's damage record")
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();

    // The figures: every arena equals jemalloc's own account.
    let out = heap(&core, "jemalloc-json");
    assert_exit(&out, 0);
    let run = Run {
        exe,
        core: core.clone(),
        truth,
        workers: Vec::new(),
    };
    compare_with_stats_print(&run, &out, 2);

    // The listing: each damage once, with its kind and address; the rest walked.
    let out = cli::heapmortem([
        OsStr::new("heap"),
        core.as_os_str(),
        OsStr::new("--list"),
        OsStr::new("used"),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    cli::assert_no_panic(&out);
    assert_exit(&out, 1);
    let listed: DamagedListing = cli::parse_json(&out, "heap --list used");
    let found: Vec<(&str, Option<&str>)> = listed
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.address.as_deref()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("damaged_slab", Some(damage["slab"].as_str())),
            ("extent_size", Some(damage["large"].as_str())),
        ],
        "{}",
        out.describe()
    );
    // The damaged arena: the one holding the slab's first region (in use).
    let arena = &listed
        .allocations
        .iter()
        .find(|a| a.address == damage["slab"])
        .expect("the slab's first region is listed")
        .arena;
    let in_arena = |size: u64| {
        listed
            .allocations
            .iter()
            .filter(|a| &a.arena == arena && a.size == size && a.state == "used")
            .count()
    };
    // 40 regions, one of which the bitmap now calls free (the bitmap is kept); the large
    // allocation with its size class's usable size.
    assert_eq!((in_arena(64), in_arena(65536)), (39, 1));
    assert!(
        listed.allocations.iter().any(|a| &a.arena != arena),
        "the other arenas are walked too"
    );
}
