//! Files fetched by build-id from a debuginfod server (`DEBUGINFOD_URLS`), against Debian's real
//! `debuginfod` (elfutils) serving a folder on this machine.
//!
//! The folder holds the glibc `threads` fixture stripped of everything (`objcopy
//! --strip-all`) and its separated debug file (`objcopy --only-keep-debug`), and the process's
//! libc and ld.so with their debug files from libc6-dbg. heapmortem runs with `--sysroot` on an
//! empty tree, so no executable, library or debug file is found locally; everything comes from
//! the server into `$XDG_CACHE_HOME/debuginfod_client/BUILD-ID/{executable,debuginfo}`, where
//! elfutils and gdb keep them.
//!
//! - `threads` gives gdb's functions, pcs and file:line (in the fixture and in libc), gdb reading
//!   the same core with the unstripped executable and the system's libc with libc6-dbg;
//! - `heap` says "layout from DWARF" and `--format malloc-info` equals what the workload's own
//!   `malloc_info` wrote;
//! - `info` says each file came from the server (`file_source`, `file_url`), and, run again,
//!   from the cache without the server being asked;
//! - with the server stopped: one `debuginfod_unreachable` remark, and `threads` and `heap`
//!   print what they print without `DEBUGINFOD_URLS`, with the same exit status.
//!
//! A heap profile whose mappings name an executable that is not on this machine, by path and
//! build-id, gets it from the server too: `profile` prints jeprof's table of the same dump
//! read beside the executable.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::harness::cli::{self, Req};
use crate::harness::compare;
use crate::harness::gdb::GdbRun;
use crate::harness::process::{self, run, Output};
use crate::harness::{readelf, unique_dir};

/// A `debuginfod` serving one folder, stopped when dropped (also when a test fails).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `debuginfod` over `folder` on a free port and waits until it serves every
    /// build-id of `ids` (it indexes the folder in the background).
    fn start(folder: &Path, work: &Path, ids: &[String]) -> Server {
        process::require("debuginfod", "debuginfod");
        // A port the kernel just gave out and took back: free unless something races us.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("debuginfod")
            .arg("-F")
            .arg(folder)
            .args(["-p", &port.to_string(), "-t0", "-g0"])
            .arg("-d")
            .arg(work.join("debuginfod.sqlite"))
            // It would forward misses to these servers.
            .env_remove("DEBUGINFOD_URLS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start debuginfod (apt-get install debuginfod)");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        // Every build-id has both an executable and a debug file in the folder.
        while !ids.iter().all(|id| {
            ["executable", "debuginfo"]
                .iter()
                .all(|kind| http_status(port, &format!("/buildid/{id}/{kind}")) == Some(200))
        }) {
            assert!(
                start.elapsed() < process::timeout(Duration::from_secs(60)),
                "debuginfod on port {port} did not serve {ids:?} within a minute"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET path` on 127.0.0.1:`port` (debuginfod answers HEAD with 400); only
/// the status line is read.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `heapmortem ARGS…` with the debuginfod environment given (and no other).
fn heapmortem(args: &[&OsStr], urls: Option<&str>, cache: &Path) -> Output {
    let mut cmd = Command::new(cli::exe());
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .env("XDG_CACHE_HOME", cache)
        .env_remove("DEBUGINFOD_CACHE_PATH")
        .env_remove("DEBUGINFOD_URLS");
    if let Some(urls) = urls {
        cmd.env("DEBUGINFOD_URLS", urls);
    }
    let out = run(&mut cmd, Duration::from_secs(300));
    cli::assert_no_panic(&out);
    out
}

/// `info --format json`: the keys this test reads.
#[derive(Debug, Deserialize)]
struct Info {
    modules: Vec<Module>,
    diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Deserialize)]
struct Module {
    path: String,
    build_id: Req<String>,
    file: Req<String>,
    file_source: Req<String>,
    file_url: Req<String>,
    debug_file: Req<String>,
    debug_file_source: Req<String>,
    debug_file_url: Req<String>,
}

#[derive(Debug, Deserialize)]
struct Diagnostic {
    kind: String,
}

/// Copies `from` into `folder`, returning its build-id.
fn serve_copy(from: &Path, folder: &Path, name: &str) -> String {
    let id =
        readelf::build_id(from).unwrap_or_else(|| panic!("{} has no build-id", from.display()));
    std::fs::copy(from, folder.join(name))
        .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    id
}

fn objcopy(args: &[&str], from: &Path, to: &Path) {
    process::require("objcopy", "binutils");
    let mut cmd = Command::new("objcopy");
    cmd.args(args).arg(from).arg(to);
    run(&mut cmd, Duration::from_secs(60)).expect_success("objcopy");
}

#[test]
fn files_come_from_a_debuginfod_server() {
    let fixture = crate::heap_glibc::fixture("threads");
    let work = unique_dir("debuginfod");
    let folder = work.join("served");
    let empty_root = work.join("empty-root");
    let cache = work.join("cache");
    for d in [&folder, &empty_root, &cache] {
        std::fs::create_dir_all(d).expect("test folders");
    }
    let core = fixture.core.as_os_str();
    let sysroot = [OsStr::new("--sysroot"), empty_root.as_os_str()];

    // The executable, stripped of everything, and its debug file.
    objcopy(
        &["--only-keep-debug"],
        &fixture.exe,
        &folder.join("threads.debug"),
    );
    objcopy(&["--strip-all"], &fixture.exe, &folder.join("threads"));
    let exe_id = readelf::build_id(&fixture.exe).expect("the fixture has a build-id");
    let mut ids = vec![exe_id.clone()];
    // The shared libraries the core maps, as this machine has them, with libc6-dbg's files.
    let local = cli::info(&fixture.core, &[]);
    let mut libraries: Vec<PathBuf> = local
        .mappings
        .iter()
        .filter_map(|m| m.path.get())
        .filter(|p| p.contains(".so"))
        .map(PathBuf::from)
        .collect();
    libraries.sort();
    libraries.dedup();
    assert!(
        libraries
            .iter()
            .any(|l| l.to_string_lossy().contains("libc.so")),
        "the fixture maps no libc: {libraries:?}"
    );
    for lib in &libraries {
        let name = lib.file_name().unwrap().to_string_lossy().to_string();
        let id = serve_copy(lib, &folder, &name);
        let debug = PathBuf::from(format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &id[..2],
            &id[2..]
        ));
        assert!(
            debug.is_file(),
            "{} has no debug file {} (apt-get install libc6-dbg)",
            lib.display(),
            debug.display()
        );
        serve_copy(&debug, &folder, &format!("{name}.debug"));
        ids.push(id);
    }

    let server = Server::start(&folder, &work, &ids);
    let url = server.url.clone();
    let urls = Some(url.as_str());
    let args = |sub: &'static str, format: &'static str| -> Vec<&OsStr> {
        let mut v = vec![OsStr::new(sub), core];
        v.extend(sysroot);
        v.extend([OsStr::new("--format"), OsStr::new(format)]);
        v
    };

    // threads: gdb's frames, gdb reading the unstripped files.
    let fetched = heapmortem(&args("threads", "json"), urls, &cache);
    cli::assert_exit(&fetched, 0);
    let hm: cli::Threads = cli::parse_json(&fetched, "threads --format json");
    let gdb = GdbRun {
        exe: Some(fixture.exe.clone()),
        ..GdbRun::default()
    }
    .on(&fixture.core);
    let libc_lines = gdb
        .threads
        .iter()
        .flat_map(|t| &t.frames)
        .filter(|f| f.file.is_some() && f.from.is_none() && !f.text.contains("threads.c"))
        .count();
    assert!(
        libc_lines > 0 && gdb.raw.contains("threads.c:"),
        "gdb gives no file:line in both the fixture and libc, so this test would prove nothing\n{}",
        gdb.raw
    );
    let mut problems = compare::function_differences(&gdb, &hm);
    problems.extend(compare::location_differences(&gdb, &hm));
    assert!(
        problems.is_empty(),
        "threads with files from debuginfod differ from gdb's:\n{}\n--- gdb ---\n{}",
        problems.join("\n"),
        gdb.raw
    );

    // heap: libc's DWARF came too, and with it the figures the allocator gave.
    let text = heapmortem(&args("heap", "text"), urls, &cache);
    cli::assert_exit(&text, 0);
    assert!(
        text.stdout_str().contains("layout from DWARF"),
        "heap did not use libc's DWARF from debuginfod\n{}",
        text.describe()
    );
    let xml = heapmortem(&args("heap", "malloc-info"), urls, &cache);
    cli::assert_exit(&xml, 0);
    assert_eq!(
        xml.stdout_str(),
        fixture.xml,
        "heap --format malloc-info with files from debuginfod"
    );

    // info: every file came from the server, into elfutils' cache.
    let info_of = |out: &Output| -> Info { cli::parse_json(out, "info --format json") };
    let first = info_of(&heapmortem(&args("info", "json"), urls, &cache));
    let served: Vec<&Module> = first
        .modules
        .iter()
        .filter(|m| m.build_id.get().is_some_and(|id| ids.contains(id)))
        .collect();
    assert_eq!(served.len(), ids.len(), "modules: {:#?}", first.modules);
    for m in &served {
        let id = m.build_id.get().unwrap();
        let in_cache = |kind: &str| {
            cache
                .join("debuginfod_client")
                .join(id)
                .join(kind)
                .to_string_lossy()
                .to_string()
        };
        assert_eq!(m.file.get(), Some(&in_cache("executable")), "{m:#?}");
        assert_eq!(m.debug_file.get(), Some(&in_cache("debuginfo")), "{m:#?}");
        for (source, url) in [
            (&m.file_source, &m.file_url),
            (&m.debug_file_source, &m.debug_file_url),
        ] {
            assert_eq!(
                source.get().map(String::as_str),
                Some("debuginfod"),
                "{m:#?}"
            );
            // threads and heap fetched them already: from the cache, no URL this time.
            assert_eq!(url.get(), None, "{} came from the cache: {m:#?}", m.path);
        }
    }
    let fresh = work.join("cache-fresh");
    let again = info_of(&heapmortem(&args("info", "json"), urls, &fresh));
    for m in again
        .modules
        .iter()
        .filter(|m| m.build_id.get().is_some_and(|id| ids.contains(id)))
    {
        let id = m.build_id.get().unwrap();
        for (got, kind) in [
            (&m.file_url, "executable"),
            (&m.debug_file_url, "debuginfo"),
        ] {
            assert_eq!(
                got.get(),
                Some(&format!("{url}/buildid/{id}/{kind}")),
                "{m:#?}"
            );
        }
    }
    assert!(first
        .diagnostics
        .iter()
        .all(|d| d.kind != "debuginfod_unreachable"));

    // The server stopped: one remark, and what heapmortem says without any server.
    drop(server);
    let down_cache = work.join("cache-down");
    for (sub, format) in [
        ("threads", "json"),
        ("threads", "text"),
        ("heap", "malloc-info"),
    ] {
        let without = heapmortem(&args(sub, format), None, &down_cache);
        let down = heapmortem(&args(sub, format), urls, &down_cache);
        assert_eq!(down.code(), without.code(), "{sub}: {}", down.describe());
        // The text lists the remark under "not read", after a blank line.
        let strip = |s: String| {
            s.lines()
                .filter(|l| {
                    !l.is_empty()
                        && !l.contains("debuginfod_unreachable")
                        && !l.starts_with("not read (")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        if format == "json" {
            let a: cli::Threads = cli::parse_json(&without, "threads");
            let b: cli::Threads = cli::parse_json(&down, "threads");
            assert_eq!(format!("{:?}", a.threads), format!("{:?}", b.threads));
        } else {
            assert_eq!(
                strip(down.stdout_str()),
                strip(without.stdout_str()),
                "{sub}"
            );
        }
    }
    let info = heapmortem(&args("info", "json"), urls, &down_cache);
    let down = info_of(&info);
    let remarks: Vec<&Diagnostic> = down
        .diagnostics
        .iter()
        .filter(|d| d.kind == "debuginfod_unreachable")
        .collect();
    assert_eq!(remarks.len(), 1, "{}", info.describe());
    cli::assert_exit(&info, 0);
}

/// A jemalloc heap profile whose mapping lines name the executable by a path that does not
/// exist here and by its build-id (pprof's `START-END PERMS PATH (@OFFSET) BUILD-ID` form):
/// with a server holding the executable, `profile` names the program's functions with
/// jeprof's figures for the original dump read beside the executable; without the server it
/// cannot name them.
#[test]
fn a_profiles_executable_comes_from_a_debuginfod_server() {
    use crate::profile::{assert_same_figures, jemalloc_fixture, jeprof, parse_text, tools, OWN};
    if !tools(&[("gcc", "gcc"), ("jeprof", "libjemalloc-dev")]) {
        return;
    }
    let fx = jemalloc_fixture();
    let (_, _, dump) = &fx.dumps[0];
    let work = unique_dir("debuginfod-profile");
    let folder = work.join("served");
    std::fs::create_dir_all(&folder).expect("test folders");
    let id = serve_copy(&fx.exe, &folder, "jemalloc_workload");
    objcopy(
        &["--only-keep-debug"],
        &fx.exe,
        &folder.join("jemalloc_workload.debug"),
    );

    // The dump with the executable's lines rewritten: the same addresses and offsets.
    let exe_path = fx.exe.to_string_lossy().to_string();
    let text = std::fs::read_to_string(dump).expect("the dump");
    let mut moved = String::new();
    let mut rewritten = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 6 && f[5] == exe_path {
            moved.push_str(&format!(
                "{} {} /nonexistent/jemalloc_workload (@{}) {id}\n",
                f[0], f[1], f[2]
            ));
            rewritten += 1;
        } else {
            moved.push_str(line);
            moved.push('\n');
        }
    }
    assert!(
        rewritten > 0,
        "no mapping of {exe_path} in {}",
        dump.display()
    );
    let profile = work.join("moved.heap");
    std::fs::write(&profile, moved).expect("the rewritten dump");

    let theirs = jeprof(&[], &[&fx.exe, dump]);
    let server = Server::start(&folder, &work, std::slice::from_ref(&id));
    let args = [OsStr::new("profile"), profile.as_os_str()];
    let fetched = heapmortem(&args, Some(&server.url), &work.join("cache"));
    cli::assert_exit(&fetched, 0);
    let ours = parse_text(&fetched.stdout_str());
    // Every row of the program's own functions equal to jeprof's (other libraries' frames
    // may be named differently, as beside the executable).
    assert_same_figures("executable from debuginfod", &theirs, &ours, OWN);
    assert!(
        ours.rows
            .iter()
            .any(|(_, _, name)| name == "handle_request"),
        "the program's functions are named\n{}",
        fetched.describe()
    );
    drop(server);

    // Without a server nothing names them: the check above can fail.
    let alone = heapmortem(&args, None, &work.join("cache-none"));
    assert!(
        !alone.stdout_str().contains("handle_request"),
        "{}",
        alone.describe()
    );
}
