//! Running child processes with a time limit and capturing what they print.
//!
//! Every external tool the tests call (gcc, the fixtures, gdb, readelf, qemu, heapmortem
//! itself) goes through [`run`], so a hung child fails its test with a message instead of
//! hanging the suite. Children run in their own process group, and the whole group is killed
//! on timeout (a fixture under `sh -c` or gdb's inferior would otherwise keep the pipes open).

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a finished child left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Output {
    /// The exit code, or `None` when a signal ended it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that ended it, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A readable account of the run, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?} (code {:?}, signal {:?}) after {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.code(),
            self.signal(),
            self.elapsed,
            clip(&self.stdout_str(), 6000),
            clip(&self.stderr_str(), 6000),
        )
    }

    /// Panics with [`Output::describe`] unless the child exited 0.
    pub fn expect_success(self, what: &str) -> Output {
        assert!(self.status.success(), "{what} failed\n{}", self.describe());
        self
    }
}

/// Keeps the first and last part of a long text.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut head = max / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - max / 2;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        &s[..head],
        tail - head,
        &s[tail..]
    )
}

/// `base` scaled by `HEAPMORTEM_TEST_TIMEOUT_SCALE` (a float, default 1) for slow machines.
pub fn timeout(base: Duration) -> Duration {
    let scale = std::env::var("HEAPMORTEM_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    base.mul_f64(scale)
}

/// The command line of `cmd`, shell-quoted enough to paste into a terminal.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = Vec::new();
    if let Some(dir) = cmd.get_current_dir() {
        parts.push(format!("cd {} &&", quote(dir.as_os_str())));
    }
    parts.push(quote(cmd.get_program()));
    for arg in cmd.get_args() {
        parts.push(quote(arg));
    }
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` (stdin closed, stdout and stderr captured) for at most `limit` (see
/// [`timeout`]). Panics with a clear message when it cannot start or runs too long; any exit
/// status is returned to the caller to judge.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let command = command_line(cmd);
    let limit = timeout(limit);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            panic!("cannot start `{command}`: {e} (is the tool installed? see scripts/test.sh)")
        }
    };
    let out_reader = reader(child.stdout.take().expect("piped stdout"));
    let err_reader = reader(child.stderr.take().expect("piped stderr"));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
        if start.elapsed() > limit {
            kill_group(child.id());
            let _ = child.kill();
            let status = child.wait().ok();
            let stdout = collect(&out_reader, Duration::from_secs(2), None);
            let stderr = collect(&err_reader, Duration::from_secs(2), None);
            panic!(
                "`{command}` did not finish within {limit:?} and was killed ({status:?})\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}\n\
                 (set HEAPMORTEM_TEST_TIMEOUT_SCALE to allow more time on a slow machine)",
                clip(&String::from_utf8_lossy(&stdout), 4000),
                clip(&String::from_utf8_lossy(&stderr), 4000),
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    // The child is gone. If something it started still holds the pipes open (it is then
    // still in the child's process group, whose id the kernel keeps reserved), kill it.
    let group = Some(child.id());
    let stdout = collect(&out_reader, Duration::from_secs(5), group);
    let stderr = collect(&err_reader, Duration::from_secs(5), group);
    Output {
        command,
        status,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

/// Reads `pipe` to its end on a thread; the bytes arrive on the returned channel.
fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// What a [`reader`] collected, waiting at most `wait`; then kills `group` (if given) so the
/// pipe closes, and waits once more.
fn collect(rx: &mpsc::Receiver<Vec<u8>>, wait: Duration, group: Option<u32>) -> Vec<u8> {
    match rx.recv_timeout(wait) {
        Ok(buf) => buf,
        Err(_) => {
            if let Some(pgid) = group {
                kill_group(pgid);
            }
            rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
        }
    }
}

/// Kills the process group `pgid` (the group of a child started by [`run`], and only that).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `program` can be found on `PATH`.
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Panics (failing the test) when a tool the test needs is missing, naming the package.
/// Tests do not skip silently: a missing tool is a setup problem `scripts/test.sh` fixes.
/// Set `HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS=1` to turn this into a skip (returns false).
pub fn require(program: &str, package: &str) -> bool {
    if have(program) {
        return true;
    }
    if std::env::var_os("HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS").is_some() {
        eprintln!("SKIPPED: `{program}` not found (Debian package {package})");
        return false;
    }
    panic!(
        "`{program}` is not installed (Debian package `{package}`); run scripts/test.sh as root \
         to install what the tests need, or set HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS=1 to skip"
    );
}
