//! Running the built `heapmortem` and reading its output.
//!
//! The JSON types below are the tests' own, written from the contract in DESIGN.md ("JSON keys
//! are stable, snake_case, addresses as "0x…" strings"), not shared with the code under test:
//! if a key is renamed, dropped or changes type, these fail to deserialize and the test says
//! which key. Every key the contract names must be present ([`Req`]: `null` is accepted where
//! a value can be unknown, a missing key is not). Keys the contract does not name are ignored,
//! so the output may grow.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use super::process::{run, Output};

/// The binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_heapmortem"))
}

/// Runs `heapmortem ARGS…` (time limit 5 minutes: debug builds reading glibc's debug info
/// are slow). Without `DEBUGINFOD_URLS`, as gdb runs with debuginfod off: files come from
/// this machine only (tests/debuginfod.rs sets its own server).
pub fn heapmortem<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(exe());
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("DEBUGINFOD_URLS");
    run(&mut cmd, Duration::from_secs(300))
}

/// `heapmortem SUBCOMMAND CORE --format json EXTRA…`.
pub fn json_of(subcommand: &str, core: &Path, extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new(subcommand),
        core.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ];
    args.extend_from_slice(extra);
    heapmortem(args)
}

/// Fails if the output shows a Rust panic (the contract: errors are one line, never a panic).
pub fn assert_no_panic(out: &Output) {
    let stderr = out.stderr_str();
    assert!(
        !stderr.contains("panicked") && out.code() != Some(101),
        "heapmortem panicked\n{}",
        out.describe()
    );
    assert!(
        out.signal().is_none(),
        "heapmortem was killed by signal {:?}\n{}",
        out.signal(),
        out.describe()
    );
}

/// Fails unless heapmortem exited with `code` (and did not panic).
pub fn assert_exit(out: &Output, code: i32) {
    assert_no_panic(out);
    assert_eq!(
        out.code(),
        Some(code),
        "expected exit status {code}\n{}",
        out.describe()
    );
}

/// Fails unless heapmortem printed exactly one non-empty line on stderr (the contract for
/// exit status 2).
pub fn assert_one_line_error(out: &Output) {
    let stderr = out.stderr_str();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line error on stderr\n{}",
        out.describe()
    );
}

/// heapmortem's stdout parsed as `T`; on failure the message names the serde error (which
/// names the key) and shows the output.
pub fn parse_json<T: DeserializeOwned>(out: &Output, what: &str) -> T {
    let stdout = out.stdout_str();
    match serde_json::from_str::<T>(&stdout) {
        Ok(v) => v,
        Err(e) => panic!(
            "{what}: stdout does not follow the JSON contract in DESIGN.md: {e}\n{}",
            out.describe()
        ),
    }
}

/// A key the contract requires: present, possibly `null`.
#[derive(Clone, PartialEq, Eq)]
pub struct Req<T>(pub Option<T>);

impl<T> Req<T> {
    /// The value, if not null.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T: fmt::Debug> fmt::Debug for Req<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("null"),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Req<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Going through `Value` (deserialize_any) makes a *missing* key an error: serde only
        // substitutes `None` for missing fields that deserialize through `deserialize_option`.
        let value = serde_json::Value::deserialize(d)?;
        if value.is_null() {
            return Ok(Req(None));
        }
        T::deserialize(value)
            .map(|v| Req(Some(v)))
            .map_err(D::Error::custom)
    }
}

/// An address: a `"0x…"` string, per the contract.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr(pub u64);

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let hex = s
            .strip_prefix("0x")
            .ok_or_else(|| D::Error::custom(format!("address {s:?} is not a \"0x…\" string")))?;
        u64::from_str_radix(hex, 16)
            .map(Addr)
            .map_err(|e| D::Error::custom(format!("address {s:?}: {e}")))
    }
}

/// A file offset: the contract fixes addresses as "0x…" strings and sizes as numbers of bytes
/// but says neither of offsets, so both spellings are read (the value is bytes either way).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64);

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(Offset)
                .ok_or_else(|| D::Error::custom(format!("offset {n} is not a u64"))),
            serde_json::Value::String(s) => Addr::deserialize(serde_json::Value::String(s))
                .map(|a| Offset(a.0))
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "offset {other} is neither a number nor a \"0x…\" string"
            ))),
        }
    }
}

/// A signal: DESIGN.md names the key `signal` without sub-keys, so a plain number is the
/// reading; an object with the number under `signo`/`number` (plus e.g. a fault address) is
/// accepted too, since the issue asks for "the signal (with the faulting address …)".
#[derive(Clone, PartialEq, Eq)]
pub struct Signal {
    /// The signal number.
    pub number: i32,
    /// The faulting address, when given in an object form.
    pub address: Option<u64>,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(a) => write!(f, "{} (address {a:#x})", self.number),
            None => write!(f, "{}", self.number),
        }
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if let Some(n) = value.as_i64() {
            return Ok(Signal {
                number: n as i32,
                address: None,
            });
        }
        if let Some(obj) = value.as_object() {
            let number = ["signo", "number"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(|v| v.as_i64()))
                .ok_or_else(|| {
                    D::Error::custom(format!("signal object {value} has no `signo`/`number`"))
                })?;
            let address = ["addr", "address", "fault_address"]
                .iter()
                .find_map(|k| obj.get(*k))
                .and_then(|v| Addr::deserialize(v.clone()).ok())
                .map(|a| a.0);
            return Ok(Signal {
                number: number as i32,
                address,
            });
        }
        Err(D::Error::custom(format!(
            "signal {value} is neither a number nor an object with `signo`"
        )))
    }
}

/// `heapmortem info --format json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Info {
    /// `linux` | `freebsd`.
    pub os: String,
    /// `x86_64` | `aarch64`.
    pub arch: String,
    /// The process id.
    pub pid: Req<u64>,
    /// The signal that killed it.
    pub signal: Req<Signal>,
    /// The main executable's path.
    pub executable: Req<String>,
    /// The threads.
    pub threads: Vec<InfoThread>,
    /// The memory mappings.
    pub mappings: Vec<Mapping>,
    /// `glibc` | `jemalloc` | `unknown`.
    pub allocator: Req<String>,
    /// Whether the core is cut short.
    pub truncated: bool,
}

/// A thread in `info`.
#[derive(Clone, Debug, Deserialize)]
pub struct InfoThread {
    /// Kernel thread id.
    pub tid: u64,
}

/// A mapping in `info`.
#[derive(Clone, Debug, Deserialize)]
pub struct Mapping {
    /// First address.
    pub start: Addr,
    /// One past the last address.
    pub end: Addr,
    /// Protection, e.g. `r-xp` or `rx`.
    pub perms: Req<String>,
    /// Offset in the mapped file (bytes).
    pub offset: Req<Offset>,
    /// The mapped file.
    pub path: Req<String>,
    /// The file's GNU build-id (lowercase hex).
    pub build_id: Req<String>,
}

/// `heapmortem threads --format json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Threads {
    /// The threads, the crashing one first.
    pub threads: Vec<Thread>,
}

/// A thread in `threads`.
#[derive(Clone, Debug, Deserialize)]
pub struct Thread {
    /// Kernel thread id.
    pub tid: u64,
    /// Its name, where the core records one.
    pub name: Req<String>,
    /// The signal it was stopped with.
    pub signal: Req<Signal>,
    /// Its frames, innermost first.
    pub frames: Vec<Frame>,
}

impl Thread {
    /// Function names, innermost first (`None` where unknown).
    pub fn functions(&self) -> Vec<Option<&str>> {
        self.frames
            .iter()
            .map(|f| f.function.get().map(String::as_str))
            .collect()
    }
}

/// A frame in `threads`.
#[derive(Clone, Debug, Deserialize)]
pub struct Frame {
    /// The frame's pc.
    pub pc: Addr,
    /// The function (inlined frames listed like gdb lists them).
    pub function: Req<String>,
    /// The module (path of the executable or library).
    pub module: Req<String>,
    /// Source file.
    pub file: Req<String>,
    /// Source line.
    pub line: Req<u32>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
}

/// `info --format json` on `core` (plus `extra` flags): asserts exit 0 and parses.
pub fn info(core: &Path, extra: &[&OsStr]) -> Info {
    let out = json_of("info", core, extra);
    assert_exit(&out, 0);
    parse_json(&out, "info --format json")
}

/// `threads --format json` on `core` (plus `extra` flags): asserts exit 0 and parses.
pub fn threads(core: &Path, extra: &[&OsStr]) -> Threads {
    let out = json_of("threads", core, extra);
    assert_exit(&out, 0);
    parse_json(&out, "threads --format json")
}

/// `threads --format json` on a core whose files are not at hand (no executable, no
/// libraries): heapmortem may unwind no further than frame 0 and say so with exit 1; the
/// facts in the notes (tids, names, signals, frame 0) must be right either way.
pub fn threads_without_files(core: &Path, extra: &[&OsStr]) -> Threads {
    let out = json_of("threads", core, extra);
    assert_no_panic(&out);
    assert!(
        matches!(out.code(), Some(0) | Some(1)),
        "expected exit status 0 or 1\n{}",
        out.describe()
    );
    parse_json(&out, "threads --format json")
}
