//! `heapmortem heap` on tcmalloc (gperftools 2.10) cores, against tcmalloc's own account of
//! the same instant.
//!
//! The workload (`tests/fixtures/tcmalloc/workload.c`) builds a heap with four threads,
//! then writes `MallocExtension_GetStats()` — taken into a static buffer, so nothing
//! changes between the account and the core — and aborts. `--format tcmalloc-stats` must
//! print that text byte for byte (every figure, every size class, every free-span line),
//! with Debian's stripped libtcmalloc.so.4, libtcmalloc_minimal.so.4, and libtcmalloc.so.4
//! under `LD_PRELOAD`. The neutral JSON and the listing are checked against the same text.
//!
//! The same workload linked with gperftools 2.10 built from Debian's source package with
//! 32 KiB pages and `-g` ([`gperftools_32k`]) is read with the layouts of the library's
//! DWARF; with its DWARF stripped, the built-in 8 KiB layout does not fit, and the page heap
//! shows the page size the table is then used with. The same source cross-built for Linux
//! aarch64 ([`gperftools_aarch64`]) runs the workload under qemu-aarch64 and is read as
//! GetStats reads it, with its DWARF and with the built-in table.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cli::{self, assert_exit, assert_one_line_error};
use crate::harness::fixture::{abort_core, qemu_abort_core};
use crate::harness::process::{self, run};
use crate::harness::{publish_dir, repo_root, stable_hash, tmp_root, unique_dir, Memo};

/// Debian's libtcmalloc (package libgoogle-perftools4, with -dev for the link).
const LIBTCMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4";

pub(crate) fn have_tcmalloc() -> bool {
    if Path::new(LIBTCMALLOC).is_file() && Path::new("/usr/include/gperftools").is_dir() {
        return true;
    }
    if std::env::var_os("HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS").is_some() {
        eprintln!("SKIPPED: gperftools not found (Debian package libgoogle-perftools-dev)");
        return false;
    }
    panic!(
        "gperftools is missing (Debian packages libgoogle-perftools-dev, \
         libtcmalloc-minimal4); install them, or set HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS=1 \
         to skip"
    );
}

/// How the workload gets tcmalloc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Linking {
    /// `-ltcmalloc`.
    Full,
    /// `-ltcmalloc_minimal`.
    Minimal,
    /// Linked with glibc only, run with `LD_PRELOAD=libtcmalloc.so.4`.
    Preloaded,
    /// Debian's `libtcmalloc_minimal.a`: the statics' symbols are in the executable.
    Static,
    /// `-ltcmalloc_minimal` of [`gperftools_32k`], with its DWARF.
    Dwarf32k,
    /// The same library with `strip --strip-debug` (symbols kept, DWARF gone).
    Stripped32k,
    /// The same library with `strip` (only `.dynsym` kept, as Debian ships it).
    Bare32k,
    /// [`gperftools_aarch64`]'s static library linked with `aarch64-linux-gnu-gcc -static`,
    /// run under `qemu-aarch64`: as built (`Dwarf`), after `strip --strip-debug` (`Stripped`:
    /// symbols kept), or its shared library after `strip` (`Bare`: only `.dynsym`, as
    /// Debian's arm64 package ships it), linked dynamically and run with the cross
    /// toolchain's aarch64 libraries (`QEMU_LD_PREFIX`).
    Aarch64(Symbols),
}

/// What an aarch64 build of the workload keeps of tcmalloc's symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Symbols {
    Dwarf,
    Stripped,
    Bare,
}

/// Where `aarch64-linux-gnu-gcc`'s libraries are (Debian's cross packages): qemu-user's
/// prefix for a dynamically linked aarch64 program.
const AARCH64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// gperftools 2.10's source, Debian's `google-perftools_2.10.orig.tar.gz` (package
/// 2.10-1), and its SHA-256 as Debian's `google-perftools_2.10-1.dsc` gives it.
const GPERFTOOLS_ORIG: &str =
    "http://deb.debian.org/debian/pool/main/g/google-perftools/google-perftools_2.10.orig.tar.gz";
const GPERFTOOLS_ORIG_SHA256: &str =
    "b0dcfe3aca1a8355955f4b415ede43530e3bb91953b6ffdd75c45891070fe0f1";

/// `libtcmalloc_minimal` of gperftools 2.10 configured with `--with-tcmalloc-pagesize=32`
/// (kPageShift 15, where Debian's build and heapmortem's built-in layout have 13) and built
/// with `-g -O2`: a directory with `dwarf/` (the library as built, with its DWARF),
/// `stripped/` (the same after `strip --strip-debug`: symbols, no DWARF), `bare/` (after
/// `strip`: only the dynamic symbols) and `include/`
/// (its `gperftools/*.h`). Downloaded and built once per machine under the tests'
/// temporary directory ([`build_gperftools`]: about a minute); only the result is kept.
pub(crate) fn gperftools_32k() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dest = tmp_root().join("gperftools").join("2.10-32k");
            if dest.join("bare/libtcmalloc_minimal.so.4").is_file() {
                return Some(dest);
            }
            if !process::require("g++", "g++") || !process::require("strip", "binutils") {
                return None;
            }
            let (tmp, src) = build_gperftools(
                "32k",
                &[
                    "--with-tcmalloc-pagesize=32",
                    "--enable-minimal",
                    "--disable-static",
                    "--disable-dependency-tracking",
                    "CFLAGS=-g -O2",
                    "CXXFLAGS=-g -O2",
                ],
            )?;
            let out = tmp.join("out");
            for dir in ["dwarf", "stripped", "bare"] {
                std::fs::create_dir_all(out.join(dir)).expect("output directory");
            }
            let lib = "libtcmalloc_minimal.so.4";
            std::fs::copy(src.join(".libs").join(lib), out.join("dwarf").join(lib))
                .expect("copying the library");
            for (dir, option) in [("stripped", "--strip-debug"), ("bare", "--strip-all")] {
                let mut cmd = Command::new("strip");
                cmd.arg(option)
                    .arg("-o")
                    .arg(out.join(dir).join(lib))
                    .arg(out.join("dwarf").join(lib));
                run(&mut cmd, Duration::from_secs(60)).expect_success(&format!("strip {option}"));
            }
            publish_dir(&out, &dest);
            let _ = std::fs::remove_dir_all(&tmp);
            Some(dest)
        })
        .clone()
}

/// `libtcmalloc_minimal` of gperftools 2.10 cross-built for Linux aarch64
/// (`--host=aarch64-linux-gnu`, `aarch64-linux-gnu-g++`) with its default page size (8 KiB,
/// kPageShift 13: Debian's arm64 package is configured without `--with-tcmalloc-pagesize`,
/// and the 32 KiB build already covers other page sizes) and `-g -O2`: a directory with
/// `lib/libtcmalloc_minimal.a` (static, so that the workload runs under qemu-user without
/// an aarch64 sysroot), `bare/libtcmalloc_minimal.so.4` (after `strip`) and `include/`.
/// Built once per machine ([`build_gperftools`]).
fn gperftools_aarch64() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dest = tmp_root().join("gperftools").join("2.10-aarch64");
            let (lib, so) = ("libtcmalloc_minimal.a", "libtcmalloc_minimal.so.4");
            if dest.join("bare").join(so).is_file() {
                return Some(dest);
            }
            // What an older test left, without every library: built again.
            let _ = std::fs::remove_dir_all(&dest);
            if !crate::aarch64::have_toolchain()
                || !process::require("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu")
            {
                return None;
            }
            let (tmp, src) = build_gperftools(
                "aarch64",
                &[
                    "--host=aarch64-linux-gnu",
                    "--build=x86_64-pc-linux-gnu",
                    "--enable-minimal",
                    "--enable-shared",
                    "--enable-static",
                    "--disable-dependency-tracking",
                    "CFLAGS=-g -O2",
                    "CXXFLAGS=-g -O2",
                ],
            )?;
            let out = tmp.join("out");
            for dir in ["lib", "bare"] {
                std::fs::create_dir_all(out.join(dir)).expect("output directory");
            }
            std::fs::copy(src.join(".libs").join(lib), out.join("lib").join(lib))
                .expect("copying the library");
            let mut cmd = Command::new("aarch64-linux-gnu-strip");
            cmd.arg("--strip-all")
                .arg("-o")
                .arg(out.join("bare").join(so))
                .arg(src.join(".libs").join(so));
            run(&mut cmd, Duration::from_secs(60)).expect_success("strip --strip-all");
            publish_dir(&out, &dest);
            let _ = std::fs::remove_dir_all(&tmp);
            Some(dest)
        })
        .clone()
}

/// gperftools 2.10's source downloaded, checked, configured with `configure` and
/// `libtcmalloc_minimal.la` made (autoreconf, configure, make: a minute or two) in a new
/// temporary directory, with its `gperftools/*.h` copied to `out/include/`: the directory
/// and the source tree in it. None when a tool is missing.
fn build_gperftools(label: &str, configure: &[&str]) -> Option<(PathBuf, PathBuf)> {
    for (program, package) in [
        ("curl", "curl"),
        ("autoreconf", "autoconf"),
        ("automake", "automake"),
        ("libtoolize", "libtool"),
        ("make", "make"),
    ] {
        if !process::require(program, package) {
            return None;
        }
    }
    let tmp = unique_dir(&format!("build-gperftools-{label}"));
    let tarball = tmp.join("orig.tar.gz");
    let mut cmd = Command::new("curl");
    cmd.args(["-sSfL", "--retry", "2", "-o"])
        .arg(&tarball)
        .arg(GPERFTOOLS_ORIG);
    run(&mut cmd, Duration::from_secs(300)).expect_success("downloading gperftools 2.10");
    let sum = run(
        Command::new("sha256sum").arg(&tarball),
        Duration::from_secs(60),
    )
    .expect_success("sha256sum");
    assert!(
        sum.stdout_str().starts_with(GPERFTOOLS_ORIG_SHA256),
        "{GPERFTOOLS_ORIG} is not the file Debian's .dsc names: {}",
        sum.stdout_str()
    );
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .current_dir(&tmp),
        Duration::from_secs(120),
    )
    .expect_success("unpacking gperftools 2.10");
    let src = tmp.join("gperftools-gperftools-2.10");
    let step = |what: &str, program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(&src);
        run(&mut cmd, Duration::from_secs(900))
            .expect_success(&format!("gperftools 2.10 ({label}): {what}"));
    };
    // The tarball has no configure: Debian's build runs autoreconf too.
    step("autoreconf", "autoreconf", &["-fi"]);
    step("configure", "./configure", configure);
    step("make", "make", &["-j2", "libtcmalloc_minimal.la"]);
    let include = tmp.join("out/include");
    std::fs::create_dir_all(&include).expect("output directory");
    let mut cmd = Command::new("cp");
    cmd.arg("-r").arg(src.join("src/gperftools")).arg(&include);
    run(&mut cmd, Duration::from_secs(60)).expect_success("copying the headers");
    Some((tmp, src))
}

/// The workload, built once per linking (cached across runs by a hash of its source and
/// flags).
fn workload(linking: Linking) -> PathBuf {
    static EXES: OnceLock<Memo<Linking, PathBuf>> = OnceLock::new();
    EXES.get_or_init(Memo::new).get(&linking, || {
        let (gcc, strip) = match linking {
            Linking::Aarch64(_) => ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-strip"),
            _ => ("gcc", "strip"),
        };
        process::require(gcc, "gcc");
        let src = repo_root().join("tests/fixtures/tcmalloc/workload.c");
        let mut flags: Vec<String> = ["-g", "-O1", "-pthread", "-Wall", "-Wextra"]
            .map(String::from)
            .to_vec();
        let libs: &[&str] = match linking {
            Linking::Full => &["-ltcmalloc"],
            Linking::Minimal => &["-ltcmalloc_minimal"],
            Linking::Preloaded => &["-DPRELOADED", "-ldl"],
            // What the static library needs besides itself: the C++ runtime.
            Linking::Static => &[
                "-Wl,-Bstatic",
                "-ltcmalloc_minimal",
                "-Wl,-Bdynamic",
                "-lstdc++",
                "-lm",
            ],
            Linking::Dwarf32k | Linking::Stripped32k | Linking::Bare32k => &[],
            Linking::Aarch64(symbols) => {
                let built = gperftools_aarch64().expect("gperftools 2.10 for aarch64");
                flags.push(format!("-I{}", built.join("include").display()));
                if symbols == Symbols::Bare {
                    // The library by its path, found at run time through the rpath.
                    let dir = built.join("bare");
                    flags.push(dir.join("libtcmalloc_minimal.so.4").display().to_string());
                    flags.push(format!("-Wl,-rpath,{}", dir.display()));
                    &[]
                } else {
                    flags.push("-static".into());
                    flags.push(
                        built
                            .join("lib/libtcmalloc_minimal.a")
                            .display()
                            .to_string(),
                    );
                    &["-lstdc++", "-lm"]
                }
            }
        };
        flags.extend(libs.iter().map(|a| a.to_string()));
        if let Linking::Dwarf32k | Linking::Stripped32k | Linking::Bare32k = linking {
            let built = gperftools_32k().expect("gperftools 2.10 with 32 KiB pages");
            let dir = built.join(match linking {
                Linking::Dwarf32k => "dwarf",
                Linking::Stripped32k => "stripped",
                _ => "bare",
            });
            // Its own headers, and the library by its path (its soname, as Debian's, found
            // through the rpath).
            flags.push(format!("-I{}", built.join("include").display()));
            flags.push(dir.join("libtcmalloc_minimal.so.4").display().to_string());
            flags.push(format!("-Wl,-rpath,{}", dir.display()));
        }
        let key = stable_hash(&[
            &std::fs::read(&src).expect("workload.c"),
            flags.join(" ").as_bytes(),
            format!("{linking:?}").as_bytes(),
        ]);
        let out_dir = tmp_root()
            .join("build")
            .join(format!("tcmalloc-workload-{key:016x}"));
        let exe = out_dir.join("workload");
        if exe.is_file() {
            return exe;
        }
        let tmp = unique_dir("build-tcmalloc-workload");
        let mut cmd = Command::new(gcc);
        cmd.arg(&src)
            .arg("-o")
            .arg(tmp.join("workload"))
            .args(&flags);
        run(&mut cmd, Duration::from_secs(180)).expect_success("compiling the tcmalloc workload");
        if linking == Linking::Aarch64(Symbols::Stripped) {
            let mut cmd = Command::new(strip);
            cmd.arg("--strip-debug").arg(tmp.join("workload"));
            run(&mut cmd, Duration::from_secs(60)).expect_success("strip --strip-debug");
        }
        publish_dir(&tmp, &out_dir);
        exe
    })
}

/// One run: its core and what GetStats printed at that instant.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub(crate) core: PathBuf,
    pub(crate) truth: String,
    /// The executable to name with `--exe`: qemu's cores have no NT_FILE.
    exe: Option<PathBuf>,
}

impl Run {
    /// `heapmortem heap CORE [--exe EXE] extra…`.
    fn heap(&self, extra: &[&str]) -> process::Output {
        let mut args = vec![OsStr::new("heap"), self.core.as_os_str()];
        if let Some(exe) = &self.exe {
            args.extend([OsStr::new("--exe"), exe.as_os_str()]);
        }
        args.extend(extra.iter().map(OsStr::new));
        cli::heapmortem(args)
    }
}

pub(crate) fn run_workload(linking: Linking, mode: &'static str) -> Run {
    static RUNS: OnceLock<Memo<(Linking, &'static str), Run>> = OnceLock::new();
    RUNS.get_or_init(Memo::new).get(&(linking, mode), || {
        let exe = workload(linking);
        let label: String = format!("{linking:?}")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let dir = unique_dir(&format!("tcmalloc-{label}-{mode}"));
        let stats = dir.join("stats.txt");
        let stats_arg = stats.to_string_lossy().into_owned();
        let mut args = vec![stats_arg.as_str()];
        let mut env = Vec::new();
        match mode {
            "held" => {
                args.push("held");
                env.push(("TCMALLOC_RELEASE_RATE", "0"));
            }
            "tcache" => args.push("tcache"),
            "damaged" => args.push("damaged"),
            _ => {}
        }
        if linking == Linking::Preloaded {
            env.push(("LD_PRELOAD", LIBTCMALLOC));
        }
        let (core, exe) = match linking {
            Linking::Aarch64(symbols) => {
                if symbols == Symbols::Bare {
                    env.push(("QEMU_LD_PREFIX", AARCH64_SYSROOT));
                }
                (qemu_abort_core(&exe, &args, &env, &dir), Some(exe))
            }
            _ => (abort_core(&exe, &args, &env, &dir), None),
        };
        let truth = std::fs::read_to_string(&stats)
            .unwrap_or_else(|e| panic!("the workload wrote no {}: {e}", stats.display()));
        Run { core, truth, exe }
    })
}

fn heap(core: &Path, extra: &[&str]) -> process::Output {
    let mut args = vec![OsStr::new("heap"), core.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    cli::heapmortem(args)
}

/// The figure of GetStats' "MALLOC:" line labelled `label`.
pub(crate) fn malloc_figure(truth: &str, label: &str) -> u64 {
    let line = truth
        .lines()
        .find(|l| l.starts_with("MALLOC:") && l.ends_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in GetStats' text:\n{truth}"));
    line.trim_start_matches("MALLOC:")
        .trim_start_matches([' ', '+', '='])
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {line:?}"))
}

fn stats_equal(linking: Linking) {
    if !have_tcmalloc() {
        return;
    }
    assert_stats_equal(&run_workload(linking, "plain"), 0);
}

/// `--format tcmalloc-stats` exits `code` and prints GetStats' text line for line.
fn assert_stats_equal(run: &Run, code: i32) {
    let out = run.heap(&["--format", "tcmalloc-stats"]);
    assert_exit(&out, code);
    let ours = out.stdout_str();
    assert!(
        run.truth.contains("class  ") && run.truth.contains("PageHeap:"),
        "the workload's GetStats text lacks its tables:\n{}",
        run.truth
    );
    let differing: Vec<String> = run
        .truth
        .lines()
        .zip(ours.lines())
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("GetStats: {t}\nours:     {o}"))
        .collect();
    assert!(
        differing.is_empty() && run.truth.lines().count() == ours.lines().count(),
        "{} lines differ ({} lines in GetStats', {} in ours):\n{}",
        differing.len(),
        run.truth.lines().count(),
        ours.lines().count(),
        differing.join("\n")
    );
}

/// The `damaged` workload: use-after-free writes over two free objects' links in the main
/// thread's cache (a loop, a link to no mapping), made after tcmalloc wrote its own
/// account. Each is named once, of the kind and at the object the workload wrote to
/// `stats.txt.damage`, and nothing else; exit 1; the objects before each damage are still
/// listed free; and GetStats' figures are still ours line for line (its counters never
/// follow the lists).
#[test]
fn damaged_free_lists_are_named_once_and_the_rest_is_read() {
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Full, "damaged");
    let path = run.core.with_file_name("stats.txt.damage");
    let damage = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the workload wrote no {}: {e}", path.display()));
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
    let mut expected: Vec<(String, u64)> = damage
        .lines()
        .map(|l| {
            let (kind, at) = l.split_once(' ').expect("KIND 0xADDRESS");
            (kind.to_string(), hex(at))
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 2, "{damage}");

    let out = run.heap(&["--format", "json", "--list", "free"]);
    assert_exit(&out, 1);
    let json: Value = cli::parse_json(&out, "heap --format json --list free");
    let mut named: Vec<(String, u64)> = json["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let kind = p["kind"].as_str().expect("kind").to_string();
            (kind, hex(p["address"].as_str().expect("an address")))
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        expected,
        "each damage, once and alone\n{}",
        out.describe()
    );
    assert!(
        json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "corruption"),
        "a corruption finding\n{}",
        out.describe()
    );
    // The loop's object and the bad link's holder were reached: they are listed as cached.
    let listed: Vec<u64> = json["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .filter(|a| a["state"] == "tcache")
        .map(|a| hex(a["address"].as_str().expect("an address")))
        .collect();
    for (kind, at) in &expected {
        assert!(
            listed.contains(at),
            "{kind} object {at:#x} is listed in its cache"
        );
    }
    assert_stats_equal(&run, 1);
}

#[test]
fn stats_equal_getstats_with_libtcmalloc() {
    stats_equal(Linking::Full);
}

#[test]
fn stats_equal_getstats_with_libtcmalloc_minimal() {
    stats_equal(Linking::Minimal);
}

/// A glibc-linked program run with `LD_PRELOAD=libtcmalloc.so.4` is recognized as
/// tcmalloc's and walked the same.
#[test]
fn stats_equal_getstats_under_ld_preload() {
    stats_equal(Linking::Preloaded);
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Preloaded, "plain");
    let info: Value = serde_json::from_str(&cli::json_of("info", &run.core, &[]).stdout_str())
        .expect("info JSON");
    assert_eq!(info["allocator"], "tcmalloc");
}

/// Linked statically, the statics are read by their symbols (no content recognition).
#[test]
fn stats_equal_getstats_linked_statically() {
    stats_equal(Linking::Static);
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Static, "plain");
    let v: Value =
        serde_json::from_str(&cli::json_of("heap", &run.core, &[]).stdout_str()).expect("JSON");
    assert!(
        v["layout"]
            .as_str()
            .is_some_and(|l| l.contains("by symbol")),
        "{}",
        v["layout"]
    );
}

/// The neutral JSON: tcmalloc's figures equal GetStats', the arena's in-use bytes are the
/// bytes in use by the application, one cache per thread heap.
#[test]
fn json_figures_equal_getstats() {
    if !have_tcmalloc() {
        return;
    }
    json_figures_equal(Linking::Full);
}

/// The heap's JSON, checked against GetStats; returned for more checks.
fn json_figures_equal(linking: Linking) -> Value {
    let run = run_workload(linking, "plain");
    let out = run.heap(&["--format", "json"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&out.stdout_str()).expect("heap JSON");
    assert_eq!(v["allocator"], "tcmalloc");
    assert_eq!(v["version"], "2.10");
    let t = &run.truth;
    let stats = &v["stats"];
    for (key, label) in [
        ("bytes_in_use_by_application", "Bytes in use by application"),
        ("page_heap_freelist_bytes", "Bytes in page heap freelist"),
        (
            "central_cache_freelist_bytes",
            "Bytes in central cache freelist",
        ),
        (
            "transfer_cache_freelist_bytes",
            "Bytes in transfer cache freelist",
        ),
        (
            "thread_cache_freelist_bytes",
            "Bytes in thread cache freelists",
        ),
        ("metadata_bytes", "Bytes in malloc metadata"),
        (
            "released_to_os_bytes",
            "Bytes released to OS (aka unmapped)",
        ),
        ("spans_in_use", "Spans in use"),
        ("thread_heaps_in_use", "Thread heaps in use"),
    ] {
        assert_eq!(stats[key].as_u64(), Some(malloc_figure(t, label)), "{key}");
    }
    let arena = &v["arenas"][0];
    assert_eq!(
        arena["in_use_bytes"].as_u64(),
        Some(malloc_figure(t, "Bytes in use by application")),
        "objects in use plus large allocations, counted one by one"
    );
    assert_eq!(
        arena["trimmable_bytes"].as_u64(),
        Some(malloc_figure(t, "Bytes in page heap freelist"))
    );
    assert_eq!(
        v["thread_caches"].as_array().map(Vec::len) as Option<usize>,
        Some(malloc_figure(t, "Thread heaps in use") as usize)
    );
    // Each worker's cache is tied to its thread, by its thread pointer (qemu's aarch64 cores
    // have no NT_ARM_TLS, so no tpidr_el0 to tie them by).
    if !matches!(linking, Linking::Aarch64(_)) {
        let tids = v["thread_caches"]
            .as_array()
            .expect("thread_caches")
            .iter()
            .filter(|c| c["tid"].is_u64())
            .count();
        assert!(tids >= 5, "{}", v["thread_caches"]);
    }
    v
}

/// `--list all`: every free object GetStats counts in a cache (its size-class table) and
/// every free span of its page-heap table is listed as `tcache` or `free`; the objects and
/// large allocations in use add up to the bytes in use by the application.
#[test]
fn listing_agrees_with_getstats_tables() {
    if !have_tcmalloc() {
        return;
    }
    listing_agrees(Linking::Full);
}

fn listing_agrees(linking: Linking) {
    let run = run_workload(linking, "plain");
    let out = run.heap(&["--format", "json", "--list", "all"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&out.stdout_str()).expect("heap JSON");
    let list = v["allocations"].as_array().expect("allocations");
    let (mut used_bytes, mut not_used) = (0u64, 0u64);
    for a in list {
        match a["state"].as_str() {
            Some("used") => used_bytes += a["size"].as_u64().expect("size"),
            Some("tcache" | "free") => not_used += 1,
            other => panic!("unexpected state {other:?}"),
        }
    }
    assert_eq!(
        used_bytes,
        malloc_figure(&run.truth, "Bytes in use by application")
    );
    // "class   1 [        8 bytes ] :      961 objs; …", "     2 pages *      3 spans ~ …" and
    // ">128   large *      1 spans ~ …": the first number after the separator, summed.
    let sum_after = |marker: &str, separator: char| -> u64 {
        run.truth
            .lines()
            .filter(|l| l.contains(marker))
            .filter_map(|l| {
                l.split(separator)
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let objs = sum_after(" objs; ", ':');
    let spans = sum_after(" spans ~ ", '*');
    assert!(objs > 0 && spans > 0, "{}", run.truth);
    assert_eq!(not_used, objs + spans, "free objects and free spans listed");
}

/// The page heap kept 48 MiB resident with TCMALLOC_RELEASE_RATE=0: the finding names the
/// figure GetStats gives and the remedies gperftools documents.
#[test]
fn page_heap_that_never_releases_is_a_finding() {
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Full, "held");
    let out = heap(&run.core, &["--format", "tcmalloc-stats"]);
    assert_eq!(out.stdout_str(), run.truth);
    let out = cli::json_of("heap", &run.core, &[]);
    let v: Value = serde_json::from_str(&out.stdout_str()).expect("heap JSON");
    assert_eq!(v["release_rate"].as_f64(), Some(0.0));
    let finding = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "page_heap_not_released")
        .unwrap_or_else(|| panic!("no page_heap_not_released finding: {}", v["findings"]));
    let free = malloc_figure(&run.truth, "Bytes in page heap freelist");
    assert!(free >= 48 << 20, "{}", run.truth);
    let message = finding["message"].as_str().expect("message");
    let mib = format!("{:.1} MiB", free as f64 / 1048576.0);
    for part in [
        mib.as_str(),
        "ReleaseFreeMemory()",
        "TCMALLOC_RELEASE_RATE",
        "TCMALLOC_RELEASE_RATE is 0",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    // The plain run holds little in its page heap: no such finding there.
    let plain = cli::json_of("heap", &run_workload(Linking::Full, "plain").core, &[]);
    assert!(!plain.stdout_str().contains("page_heap_not_released"));
}

/// Four threads that freed 30 rounds of 256 objects per size keep megabytes in their caches:
/// the finding gives GetStats' figure, the limit the process ran with (gperftools'
/// default, 8 × kMaxThreadCacheSize = 32 MiB) and the remedies.
#[test]
fn thread_caches_holding_memory_is_a_finding() {
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Full, "tcache");
    let out = heap(&run.core, &["--format", "tcmalloc-stats"]);
    assert_eq!(out.stdout_str(), run.truth);
    let out = cli::json_of("heap", &run.core, &[]);
    let v: Value = serde_json::from_str(&out.stdout_str()).expect("heap JSON");
    assert_eq!(v["max_total_thread_cache_bytes"].as_u64(), Some(32 << 20));
    let finding = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "thread_caches_hold_memory")
        .unwrap_or_else(|| panic!("no thread_caches_hold_memory finding: {}", v["findings"]));
    let held = malloc_figure(&run.truth, "Bytes in thread cache freelists");
    let threads = malloc_figure(&run.truth, "Thread heaps in use");
    let message = finding["message"].as_str().expect("message");
    let mib = format!(
        "{threads} thread caches hold {:.1} MiB",
        held as f64 / 1048576.0
    );
    for part in [
        mib.as_str(),
        "the limit is 32.0 MiB",
        "TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES",
        "MarkThreadIdle()",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

/// glibc's and jemalloc's formats are refused on a tcmalloc core, with a pointer to the
/// right one, before any walk.
#[test]
fn other_allocators_formats_are_refused() {
    if !have_tcmalloc() {
        return;
    }
    let run = run_workload(Linking::Minimal, "plain");
    for format in ["malloc-info", "jemalloc-json"] {
        let out = heap(&run.core, &["--format", format]);
        assert_exit(&out, 2);
        assert_one_line_error(&out);
        assert!(
            out.stderr_str().contains("tcmalloc-stats"),
            "{}",
            out.describe()
        );
    }
}

/// gperftools 2.10 built with 32 KiB pages and `-g`: the walk takes its layouts and
/// kPageShift from the library's DWARF (the built-in table has 8 KiB pages), and
/// `--format tcmalloc-stats`, the JSON figures and the listing equal GetStats.
#[test]
fn dwarf_layouts_read_a_32k_page_build_as_getstats_does() {
    if gperftools_32k().is_none() {
        return;
    }
    let run = run_workload(Linking::Dwarf32k, "plain");
    assert_eq!(
        malloc_figure(&run.truth, "Tcmalloc page size"),
        32768,
        "the library was built with its default page size:\n{}",
        run.truth
    );
    stats_equal(Linking::Dwarf32k);
    let v = json_figures_equal(Linking::Dwarf32k);
    assert_eq!(v["page_size"].as_u64(), Some(32768));
    let layout = v["layout"].as_str().unwrap_or_default();
    assert!(
        layout.starts_with("DWARF (kPageShift 15") && layout.contains("by symbol"),
        "{layout}"
    );
    listing_agrees(Linking::Dwarf32k);
}

/// leaky.c linked with the 32 KiB-page library (its DWARF at hand): the leaks found equal
/// valgrind's, block for block (valgrind replaces tcmalloc's `malloc`, so its run says what
/// the program leaks whatever the page size).
#[test]
fn dwarf_layouts_find_the_leaks_valgrind_finds() {
    let Some(built) = gperftools_32k() else {
        return;
    };
    let dir = built.join("dwarf");
    let link = [
        dir.join("libtcmalloc_minimal.so.4").display().to_string(),
        format!("-Wl,-rpath,{}", dir.display()),
    ];
    let Some(run) = crate::leaks::leaky_linked(Some("tcmalloc"), "tcmalloc-32k", &link) else {
        return;
    };
    let vg = run.valgrind;
    assert!(
        vg.definitely.1 >= 18 && vg.indirectly.1 == 4,
        "valgrind: {vg:?}"
    );
    crate::leaks::leaks_agree_with_valgrind(&run, "tcmalloc");
}

/// The same library without its DWARF, with its symbols (`strip --strip-debug`) or only
/// its dynamic ones (`strip`, as Debian ships it: the statics are then found by content):
/// the built-in table's 8 KiB page heap does not fit, the 32 KiB one does, and the walk
/// equals GetStats as with the DWARF — never read with the wrong page size.
#[test]
fn stripped_32k_page_build_is_read_with_the_page_size_its_page_heap_shows() {
    if gperftools_32k().is_none() {
        return;
    }
    for (linking, statics) in [
        (Linking::Stripped32k, "by symbol"),
        (Linking::Bare32k, "found by content"),
    ] {
        let run = run_workload(linking, "plain");
        assert_eq!(malloc_figure(&run.truth, "Tcmalloc page size"), 32768);
        stats_equal(linking);
        let v = json_figures_equal(linking);
        assert_eq!(v["page_size"].as_u64(), Some(32768));
        let layout = v["layout"].as_str().unwrap_or_default();
        assert!(
            layout.contains("built-in, kPageShift 15 recognized by the page heap")
                && layout.contains(statics),
            "{linking:?}: {layout}"
        );
    }
}

/// gperftools 2.10 cross-built for Linux aarch64 ([`gperftools_aarch64`]), the workload
/// run under qemu-aarch64: linked statically with the DWARF and with it stripped (symbols
/// kept), and dynamically with the library stripped to its dynamic symbols (statics found
/// by content), so that the built-in table (gperftools' x86_64 and aarch64 builds have
/// the same layouts: LP64, kAddressBits 48, 64-byte cache lines) is what is checked;
/// `--format tcmalloc-stats`, the JSON figures and the listing equal GetStats.
#[test]
fn aarch64_build_is_read_as_getstats_does() {
    if gperftools_aarch64().is_none() {
        return;
    }
    for (symbols, layout) in [
        (Symbols::Dwarf, "DWARF (kPageShift 13, statics by symbol)"),
        (
            Symbols::Stripped,
            "gperftools 2.10, Linux aarch64 (built-in, statics by symbol)",
        ),
        (
            Symbols::Bare,
            "gperftools 2.10, Linux aarch64 (built-in, statics found by content)",
        ),
    ] {
        let linking = Linking::Aarch64(symbols);
        let run = run_workload(linking, "plain");
        assert_eq!(malloc_figure(&run.truth, "Tcmalloc page size"), 8192);
        stats_equal(linking);
        let v = json_figures_equal(linking);
        assert_eq!(v["page_size"].as_u64(), Some(8192));
        assert_eq!(v["layout"], layout, "{linking:?}");
        listing_agrees(linking);
        // qemu's cores are tens of MiB, not sparse, and no other test uses these runs.
        let _ = std::fs::remove_file(&run.core);
    }
}
