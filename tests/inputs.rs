//! Where cores come from besides a bare file: compressed as systemd-coredump stores them, and
//! paths that are no core at all.
//!
//! - Real fixture cores compressed by the real `zstd`, `xz`, `lz4` and `gzip` tools, under
//!   names that say nothing of the format (it is recognized by its magic): `info` (text and
//!   JSON), `threads` and `heap --format json` print byte for byte what they print for the
//!   uncompressed core (none of them prints the core's path), with the same exit status and
//!   stderr; `profile` takes a compressed core as a core.
//! - A .zst cut short: exit 1, stderr names the stream that ended early, and what was
//!   decompressed before the cut is read (pid and threads from the notes at the front).
//! - A directory, /dev/null, an empty file: exit 2, one line saying what the path is. A file
//!   that is neither a core nor compressed gets the error it always got.
//! - A live process (`--pid`, `tests/fixtures/live/idle.c`) that wrote glibc's
//!   `malloc_info` and idles: `heap --pid --format malloc-info` equals that file byte for
//!   byte, `info` sees both threads, `threads` gives gdb's backtraces (gdb attached to the
//!   same process afterwards), `leaks` and `heap --format json` print what they print for
//!   gdb's gcore of it, and so does `explain` of an allocation `kept` holds; `report CORE
//!   --pid PID` on that gcore and the process shows a growth section of nothing; the pause is
//!   reported, and the process answers on its pipe afterwards. Another user's process: one
//!   line naming the cause, exit 2, the process untouched.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::cli::{self, Info, Threads};
use crate::harness::compare;
use crate::harness::fixture::{self, known, FramePointer, Link, Variant};
use crate::harness::gdb::GdbRun;
use crate::harness::process::{self, run, Output};
use crate::harness::unique_dir;

/// The compressors systemd-coredump and people use, with their Debian packages.
const TOOLS: [(&str, &str); 4] = [
    ("zstd", "zstd"),
    ("xz", "xz-utils"),
    ("lz4", "lz4"),
    ("gzip", "gzip"),
];

/// `core` compressed by `tool` (its defaults, to stdout) into a fresh directory, under a name
/// that does not say how.
fn compress(core: &Path, tool: &str, package: &str) -> PathBuf {
    process::require(tool, package);
    let dir = unique_dir(&format!("compressed-{tool}"));
    let out = dir.join("core-compressed");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#""$0" -c -- "$1" > "$2""#)
        .arg(tool)
        .arg(core)
        .arg(&out);
    let result = run(&mut cmd, Duration::from_secs(120));
    assert_eq!(
        result.code(),
        Some(0),
        "{tool} failed\n{}",
        result.describe()
    );
    out
}

fn heapmortem(args: &[&OsStr]) -> Output {
    let out = cli::heapmortem(args);
    cli::assert_no_panic(&out);
    out
}

/// `heapmortem ARGS[0] CORE ARGS[1..]`.
fn with_core(args: &[&str], core: &Path) -> Output {
    let mut v: Vec<&OsStr> = vec![OsStr::new(args[0]), core.as_os_str()];
    v.extend(args[1..].iter().map(OsStr::new));
    heapmortem(&v)
}

/// Runs each of `commands` on `core` and on every compressed copy of it in its place, and
/// checks they print the same bytes and exit alike.
fn assert_same(core: &Path, commands: &[&[&str]]) {
    let copies: Vec<(&str, PathBuf)> = TOOLS
        .iter()
        .map(|&(tool, package)| (tool, compress(core, tool, package)))
        .collect();
    for args in commands {
        let plain = with_core(args, core);
        assert!(
            !plain.stdout.is_empty() || !plain.stderr.is_empty(),
            "{args:?}: no output at all\n{}",
            plain.describe()
        );
        // Paths of the core, where stderr names one, are the only difference allowed.
        let plain_err = plain.stderr_str().replace(&*core.to_string_lossy(), "CORE");
        for (tool, copy) in &copies {
            let packed = with_core(args, copy);
            let what = format!("{tool}: {args:?}");
            assert_eq!(
                packed.code(),
                plain.code(),
                "{what}: exit status\n{}\n{}",
                plain.describe(),
                packed.describe()
            );
            assert!(
                packed.stdout == plain.stdout,
                "{what}: stdout differs\n{}\n{}",
                plain.describe(),
                packed.describe()
            );
            let packed_err = packed
                .stderr_str()
                .replace(&*copy.to_string_lossy(), "CORE");
            assert_eq!(packed_err, plain_err, "{what}: stderr differs");
        }
    }
}

/// A threaded fixture's `info` and `threads`, and a glibc fixture's heap, read the same
/// from every compressed copy as from the core itself.
#[test]
fn compressed_cores_read_as_the_core() {
    let variant = Variant::x86_64(2, Link::Pie, FramePointer::Default);
    let threads = fixture::core(known::THREADS, variant);
    assert_same(
        &threads.core,
        &[
            &["info"],
            &["info", "--format", "json"],
            &["threads", "--format", "json"],
        ],
    );
    let heap = crate::heap_glibc::fixture("threads");
    assert_same(
        &heap.core,
        &[
            &["heap", "--format", "json"],
            // A glibc core offered as a profile: refused the same way, as a core.
            &["profile"],
        ],
    );
}

/// A .zst cut at 60 %: what came before the cut is read (the notes are at the front), exit
/// 1, and stderr and the diagnostics say the zstd stream ended early.
#[test]
fn truncated_zstd_gives_what_was_decompressed() {
    let variant = Variant::x86_64(2, Link::Pie, FramePointer::Default);
    let core = fixture::core(known::THREADS, variant);
    let packed = compress(&core.core, "zstd", "zstd");
    let len = std::fs::metadata(&packed).expect("compressed core").len();
    let cut = fixture::truncated_copy(&packed, len * 6 / 10, "zstd");
    let full = cli::info(&core.core, &[]);

    let out = cli::json_of("info", &cut, &[]);
    cli::assert_exit(&out, 1);
    let stderr = out.stderr_str();
    assert!(
        stderr.contains("zstd stream ended early"),
        "stderr does not name the truncated stream\n{}",
        out.describe()
    );
    let info: Info = cli::parse_json(&out, "info of a cut .zst");
    assert!(info.truncated, "`truncated` must be true");
    assert_eq!(info.pid.get(), full.pid.get(), "pid");
    let tids = |i: &Info| i.threads.iter().map(|t| t.tid).collect::<Vec<_>>();
    assert_eq!(tids(&info), tids(&full), "threads");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["diagnostics"][0]["kind"],
        "truncated_compressed_stream",
        "the first diagnostic is the stream's\n{}",
        out.describe()
    );

    // Cut inside the first zstd block: nothing to read, one line naming the stream.
    let cut = fixture::truncated_copy(&packed, 100, "zstd-head");
    let out = heapmortem(&[OsStr::new("threads"), cut.as_os_str()]);
    cli::assert_exit(&out, 2);
    cli::assert_one_line_error(&out);
    assert!(
        out.stderr_str().contains("zstd stream ended early"),
        "{}",
        out.describe()
    );
}

/// Paths that hold no core say what they are, in one line, exit 2; a file that is neither a
/// core nor compressed, or compressed but no core inside, says so.
#[test]
fn paths_that_are_not_core_files() {
    let dir = unique_dir("not-cores");
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").expect("empty file");
    let text = dir.join("notes.txt");
    std::fs::write(&text, b"not a core\n").expect("text file");
    let gz = compress(&text, "gzip", "gzip");
    let cases: [(&Path, &str); 5] = [
        (&dir, "is a directory, not a core file"),
        (
            Path::new("/dev/null"),
            "is a character device, not a core file",
        ),
        (&empty, "is an empty file, not a core file"),
        // The message every non-core got before compressed cores were read.
        (&text, "does not start with the ELF magic"),
        (
            &gz,
            "is gzip-compressed, but what it holds does not start with the ELF magic",
        ),
    ];
    for (path, says) in cases {
        for sub in ["info", "threads", "heap"] {
            let out = heapmortem(&[OsStr::new(sub), path.as_os_str()]);
            cli::assert_exit(&out, 2);
            cli::assert_one_line_error(&out);
            let stderr = out.stderr_str();
            assert!(
                stderr.contains(&*path.to_string_lossy()) && stderr.contains(says),
                "{sub} {}: expected `{says}`\n{}",
                path.display(),
                out.describe()
            );
        }
    }
}

/// The live fixture, started with stdin and stdout as pipes, once it has written its
/// malloc_info and said "ready".
struct Live {
    exe: PathBuf,
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    xml: String,
}

impl Live {
    fn start() -> Live {
        use std::io::BufRead;
        process::require("gcc", "gcc");
        let dir = unique_dir("live-idle");
        let exe = dir.join("idle");
        let mut cc = Command::new("gcc");
        cc.args(["-O1", "-g", "-pthread"])
            .arg(crate::harness::repo_root().join("tests/fixtures/live/idle.c"))
            .arg("-o")
            .arg(&exe);
        run(&mut cc, Duration::from_secs(120)).expect_success("compiling idle.c");
        let xml_path = dir.join("malloc_info.xml");
        let mut child = Command::new(&exe)
            .arg(&xml_path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start idle");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read ready");
        assert_eq!(line, "ready\n", "the fixture did not get ready");
        let xml = std::fs::read_to_string(&xml_path).expect("malloc_info.xml");
        // "ready" comes just before the main thread blocks in read(): every snapshot must
        // find the same stacks, so wait until no thread runs any more (read, pause).
        let task = format!("/proc/{}/task", child.id());
        let sleeping = || {
            std::fs::read_dir(&task)
                .into_iter()
                .flatten()
                .flatten()
                .all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('S'))
                })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !sleeping() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Live {
            exe,
            child,
            stdout,
            xml,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends a byte and expects "pong": the process ran on after being read.
    fn answers(&mut self) -> bool {
        use std::io::{BufRead, Write};
        let Some(mut stdin) = self.child.stdin.take() else {
            return false;
        };
        if stdin.write_all(b"p").and_then(|()| stdin.flush()).is_err() {
            return false;
        }
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        line == "pong\n" && self.child.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `heap --pid --format malloc-info` of an idle process equals what its glibc printed;
/// `info` and `threads` read it too, the pause is reported, and the process runs on.
#[test]
fn live_process_reads_as_its_own_malloc_info() {
    let mut live = Live::start();
    let pid = live.pid();
    let out = heapmortem(&[
        OsStr::new("heap"),
        OsStr::new("--pid"),
        OsStr::new(&pid),
        OsStr::new("--format"),
        OsStr::new("malloc-info"),
    ]);
    cli::assert_exit(&out, 0);
    assert!(
        out.stdout_str() == live.xml,
        "heap --pid differs from the process's own malloc_info\n--- malloc_info ---\n{}\n{}",
        live.xml,
        out.describe()
    );
    assert!(
        out.stderr_str().contains("paused for"),
        "the pause is not reported\n{}",
        out.describe()
    );
    let out = heapmortem(&[
        OsStr::new("info"),
        OsStr::new("--pid"),
        OsStr::new(&pid),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    cli::assert_exit(&out, 0);
    let info: Info = cli::parse_json(&out, "info --pid");
    assert_eq!(info.pid.get().map(u64::to_string), Some(pid.clone()), "pid");
    assert_eq!(info.threads.len(), 2, "threads\n{}", out.describe());
    let out = heapmortem(&[
        OsStr::new("threads"),
        OsStr::new("--pid"),
        OsStr::new(&pid),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    cli::assert_exit(&out, 0);
    let threads: Threads = cli::parse_json(&out, "threads --pid");
    // gdb attached to the same idle process afterwards (`gdb EXE PID`).
    let gdb = GdbRun {
        exe: Some(live.exe.clone()),
        ..GdbRun::default()
    }
    .on(Path::new(&pid));
    let problems = compare::function_differences(&gdb, &threads);
    assert!(
        problems.is_empty(),
        "threads --pid differs from gdb attached to the process:\n{}\n{}",
        problems.join("\n"),
        gdb.raw
    );
    assert!(
        live.answers(),
        "the process did not answer after being read"
    );
}

/// `leaks --pid`, `heap --pid --format json` (and with `--list used`) and `explain --pid`
/// print what they print for gdb's `gcore` of the same idle process, taken right after;
/// `report CORE --pid PID` compares the two and finds no growth, and the process runs on.
#[test]
fn live_process_reads_as_gdbs_gcore() {
    process::require("gdb", "gdb");
    let mut live = Live::start();
    let pid = live.pid();
    let live_run = |args: &[&str]| -> Output {
        let mut v: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        v.extend([OsStr::new("--pid"), OsStr::new(&pid)]);
        let out = heapmortem(&v);
        cli::assert_exit(&out, 0);
        out
    };
    let leaks = live_run(&["leaks", "--format", "json"]);
    let heap = live_run(&["heap", "--format", "json"]);
    let listed = live_run(&["heap", "--list", "used", "--format", "json"]);
    // The tenth allocation in use: in the main arena (brk, below the thread arena's mmap),
    // after glibc's tcache block, one of `kept`'s (idle.c frees every third).
    let listing: serde_json::Value = cli::parse_json(&listed, "heap --list used");
    let address = listing["allocations"][10]["address"]
        .as_str()
        .expect("ten allocations in use")
        .to_string();
    let explained = live_run(&["explain", &address]);
    assert!(
        explained.stdout_str().contains("static idle!kept+"),
        "explain --pid does not find the allocation held by `kept`\n{}",
        explained.describe()
    );
    let explained_json = live_run(&["explain", &address, "--format", "json"]);
    let dir = unique_dir("live-gcore");
    let mut gcore = Command::new("gdb");
    gcore
        .args(["-batch", "-nx", "-iex", "set debuginfod enabled off"])
        .arg("-ex")
        .arg(format!("gcore {}", dir.join("core").display()))
        .arg(&live.exe)
        .arg(&pid);
    run(&mut gcore, Duration::from_secs(120)).expect_success("gcore");
    let core = dir.join("core");
    let address = OsStr::new(&address);
    let list = [OsStr::new("--list"), OsStr::new("used")];
    let explained_core = heapmortem(&[OsStr::new("explain"), core.as_os_str(), address]);
    for (what, live_out, out) in [
        ("leaks", &leaks, cli::json_of("leaks", &core, &[])),
        ("heap", &heap, cli::json_of("heap", &core, &[])),
        (
            "heap --list used",
            &listed,
            cli::json_of("heap", &core, &list),
        ),
        ("explain", &explained, explained_core),
        (
            "explain --format json",
            &explained_json,
            cli::json_of("explain", &core, &[address]),
        ),
    ] {
        cli::assert_exit(&out, 0);
        assert!(
            out.stdout == live_out.stdout,
            "{what} --pid differs from {what} of gdb's gcore\n{}\n{}",
            live_out.describe(),
            out.describe()
        );
    }
    let report = dir.join("report.html");
    let out = heapmortem(&[
        OsStr::new("report"),
        core.as_os_str(),
        OsStr::new("--pid"),
        OsStr::new(&pid),
        OsStr::new("-o"),
        report.as_os_str(),
    ]);
    cli::assert_exit(&out, 0);
    let html = std::fs::read_to_string(&report).expect("report written");
    // The core beside the live process: the growth section, and an idle process grew by
    // nothing since.
    for part in [
        "id=\"diff\"".to_string(),
        "+0 allocations (+0 B)".to_string(),
        format!("process {pid} was paused for"),
        format!("heapmortem report: core, process {pid}"),
    ] {
        assert!(
            html.contains(&part),
            "the report of the core and the live process lacks {part:?}\n{}",
            out.describe()
        );
    }
    assert!(
        live.answers(),
        "the process did not answer after being read"
    );
}

/// Another user's process: one line naming the cause, exit 2, and the process untouched.
/// As root, heapmortem runs as `nobody` (setpriv) on the fixture; as any other user it reads
/// init (pid 1, root's) instead.
#[test]
fn live_process_without_permission() {
    let mut live = Live::start();
    let id = run(Command::new("id").arg("-u"), Duration::from_secs(10));
    let root = id.stdout_str().trim() == "0";
    let mut cmd = if root {
        process::require("setpriv", "util-linux");
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(cli::exe())
            .args(["info", "--pid", &live.pid()]);
        cmd
    } else {
        let mut cmd = Command::new(cli::exe());
        cmd.args(["info", "--pid", "1"]);
        cmd
    };
    let out = run(&mut cmd, Duration::from_secs(60));
    cli::assert_exit(&out, 2);
    cli::assert_one_line_error(&out);
    assert!(
        out.stderr_str().contains("permission denied"),
        "the error does not name the cause\n{}",
        out.describe()
    );
    assert!(live.answers(), "the process did not answer");
}
