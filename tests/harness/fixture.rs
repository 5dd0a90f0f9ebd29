//! Building the C workloads in `tests/fixtures/` and running them until they dump a core.
//!
//! Executables are cached between test runs under `CARGO_TARGET_TMPDIR` (keyed by a hash of
//! the source, the compiler and the flags); cores are made afresh once per test process, since
//! a core only means something next to the exact libraries that produced it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::process::{self, run, Output};
use super::{publish_dir, repo_root, stable_hash, tmp_root, unique_dir, Memo};

/// The target a fixture is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Built with `gcc`, run natively.
    X86_64,
    /// Built with `aarch64-linux-gnu-gcc`, run under `qemu-aarch64`.
    Aarch64,
}

/// How the executable is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// `-pie` (Debian's default): loaded at a random base.
    Pie,
    /// `-no-pie`: loaded at its link address.
    NoPie,
    /// `-static`: no dynamic loader, no shared libraries.
    Static,
    /// `-static-pie`.
    StaticPie,
}

/// What to do about the frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FramePointer {
    /// Whatever `-O` implies.
    Default,
    /// `-fno-omit-frame-pointer` (and keep it in leaf functions where the target allows).
    Keep,
    /// `-fomit-frame-pointer`.
    Omit,
}

/// One way of building a fixture. Every variant is built with `-g`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Target.
    pub arch: Arch,
    /// The `-O` level.
    pub opt: u8,
    /// Linking.
    pub link: Link,
    /// Frame pointers.
    pub fp: FramePointer,
}

impl Variant {
    /// An x86_64 variant.
    pub const fn x86_64(opt: u8, link: Link, fp: FramePointer) -> Variant {
        Variant {
            arch: Arch::X86_64,
            opt,
            link,
            fp,
        }
    }

    /// An aarch64 variant.
    pub const fn aarch64(opt: u8, link: Link, fp: FramePointer) -> Variant {
        Variant {
            arch: Arch::Aarch64,
            opt,
            link,
            fp,
        }
    }

    /// A short name, e.g. `x86_64-O2-static-fp`.
    pub fn name(&self) -> String {
        let arch = match self.arch {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        };
        let link = match self.link {
            Link::Pie => "pie",
            Link::NoPie => "nopie",
            Link::Static => "static",
            Link::StaticPie => "static-pie",
        };
        let fp = match self.fp {
            FramePointer::Default => "",
            FramePointer::Keep => "-fp",
            FramePointer::Omit => "-nofp",
        };
        format!("{arch}-O{}-{link}{fp}", self.opt)
    }

    /// The compiler driver.
    pub fn compiler(&self) -> &'static str {
        match self.arch {
            Arch::X86_64 => "gcc",
            Arch::Aarch64 => "aarch64-linux-gnu-gcc",
        }
    }

    /// The Debian package that has [`Variant::compiler`].
    pub fn compiler_package(&self) -> &'static str {
        match self.arch {
            Arch::X86_64 => "gcc",
            Arch::Aarch64 => "gcc-aarch64-linux-gnu",
        }
    }

    /// Compiler and linker flags (besides the source and `-o`).
    pub fn flags(&self) -> Vec<String> {
        let mut f = vec![
            "-g".to_string(),
            format!("-O{}", self.opt),
            "-pthread".into(),
            "-Wall".into(),
            "-Wextra".into(),
        ];
        match self.fp {
            FramePointer::Default => {}
            FramePointer::Keep => {
                f.push("-fno-omit-frame-pointer".into());
                if self.arch == Arch::X86_64 {
                    f.push("-mno-omit-leaf-frame-pointer".into());
                }
            }
            FramePointer::Omit => f.push("-fomit-frame-pointer".into()),
        }
        match self.link {
            Link::Pie => f.extend(["-fPIE".into(), "-pie".into()]),
            Link::NoPie => f.extend(["-fno-PIE".into(), "-no-pie".into()]),
            Link::Static => f.push("-static".into()),
            Link::StaticPie => f.extend(["-fPIE".into(), "-static-pie".into()]),
        }
        f
    }

    /// Whether the executable loads shared libraries (and so maps glibc's `libc.so.6`).
    pub fn is_dynamic(&self) -> bool {
        matches!(self.link, Link::Pie | Link::NoPie)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The fixtures (`tests/fixtures/NAME.c`) and the call chains they are known to crash in.
pub mod known {
    /// `threads.c`: three parked threads, main crashes (SIGSEGV).
    pub const THREADS: &str = "threads";
    /// `abort.c`: recursion, then `abort()` (SIGABRT).
    pub const ABORT: &str = "abort";
    /// `sighandler.c`: a crash inside a SIGUSR1 handler (SIGSEGV through a signal frame).
    pub const SIGHANDLER: &str = "sighandler";
    /// Every fixture.
    pub const ALL: &[&str] = &[THREADS, ABORT, SIGHANDLER];

    /// The functions of the crashing thread each fixture's source guarantees, innermost first
    /// (a subsequence of the full backtrace, which also has libc's frames).
    pub fn crash_chain(fixture: &str) -> &'static [&'static str] {
        match fixture {
            THREADS => &["poke", "crash_inner", "crash_middle", "crash_outer", "main"],
            ABORT => &[
                "give_up", "descend", "descend", "descend", "descend", "descend", "main",
            ],
            SIGHANDLER => &["crash_in_handler", "on_sigusr1", "raise_usr1", "main"],
            _ => panic!("unknown fixture {fixture}"),
        }
    }

    /// The functions the parked threads of `threads.c` sit in (thread body, then its caller).
    pub const PARKED: &[(&str, &str)] = &[
        ("wait_on_pipe", "reader_thread"),
        ("wait_in_pause", "pauser_thread"),
        ("wait_on_condvar", "waiter_thread"),
    ];

    /// The signal each fixture dies of.
    pub fn signal(fixture: &str) -> i32 {
        match fixture {
            ABORT => 6,
            _ => 11,
        }
    }

    /// How many threads each fixture's core holds.
    pub fn thread_count(fixture: &str) -> usize {
        match fixture {
            THREADS => 4,
            _ => 1,
        }
    }
}

/// The x86_64 build variants every thread/info test runs over: -O0/-O1/-O2, PIE, non-PIE,
/// static (and static-pie), with and without frame pointers.
pub const X86_64_VARIANTS: &[Variant] = &[
    Variant::x86_64(0, Link::Pie, FramePointer::Default),
    Variant::x86_64(1, Link::Pie, FramePointer::Default),
    Variant::x86_64(2, Link::Pie, FramePointer::Default),
    Variant::x86_64(2, Link::NoPie, FramePointer::Default),
    Variant::x86_64(2, Link::Static, FramePointer::Default),
    Variant::x86_64(0, Link::Static, FramePointer::Default),
    Variant::x86_64(2, Link::StaticPie, FramePointer::Default),
    Variant::x86_64(2, Link::Pie, FramePointer::Keep),
    Variant::x86_64(2, Link::Static, FramePointer::Keep),
    Variant::x86_64(1, Link::NoPie, FramePointer::Omit),
];

/// The aarch64 variants (static, so qemu-user needs no sysroot).
pub const AARCH64_VARIANTS: &[Variant] = &[
    Variant::aarch64(0, Link::Static, FramePointer::Default),
    Variant::aarch64(2, Link::Static, FramePointer::Default),
    Variant::aarch64(2, Link::Static, FramePointer::Keep),
];

/// The source of fixture `name`.
pub fn source(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(format!("{name}.c"))
}

/// Builds fixture `name` in `variant` (or reuses the cached build) and returns the executable,
/// named after the fixture.
pub fn build(name: &str, variant: Variant) -> PathBuf {
    static BUILDS: OnceLock<Memo<(String, Variant), PathBuf>> = OnceLock::new();
    BUILDS
        .get_or_init(Memo::new)
        .get(&(name.to_string(), variant), || {
            build_uncached(name, variant)
        })
}

fn build_uncached(name: &str, variant: Variant) -> PathBuf {
    let src = source(name);
    let text = fs::read(&src).unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    let flags = variant.flags();
    let key = stable_hash(&[
        &text,
        variant.compiler().as_bytes(),
        flags.join(" ").as_bytes(),
    ]);
    let dir = tmp_root()
        .join("build")
        .join(format!("{name}-{}-{key:016x}", variant.name()));
    let exe = dir.join(name);
    if exe.is_file() {
        return exe;
    }
    process::require(variant.compiler(), variant.compiler_package());
    let tmp = unique_dir(&format!("build-{name}"));
    let mut cmd = Command::new(variant.compiler());
    cmd.args(&flags).arg(&src).arg("-o").arg(tmp.join(name));
    run(&mut cmd, Duration::from_secs(180))
        .expect_success(&format!("compiling fixture {name} ({variant})"));
    publish_dir(&tmp, &dir);
    assert!(exe.is_file(), "{} was not built", exe.display());
    exe
}

/// How a core was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreMethod {
    /// The Linux kernel dumped it (`ulimit -c unlimited`, `core_pattern` into the cwd).
    Kernel,
    /// The program ran under gdb, which stopped it at the fatal signal and ran `gcore`.
    Gcore,
    /// qemu-user wrote the guest core (`qemu_PROG_DATE_PID.core`).
    Qemu,
}

/// A fixture's executable and the core it dumped.
#[derive(Clone, Debug)]
pub struct Core {
    /// Fixture name.
    pub fixture: String,
    /// How it was built.
    pub variant: Variant,
    /// The executable.
    pub exe: PathBuf,
    /// The core file.
    pub core: PathBuf,
    /// How the core was made.
    pub method: CoreMethod,
    /// The signal the run died of, as its parent saw it (None for gcore).
    pub died_of: Option<i32>,
}

/// Fixture `name` built in `variant`, run until it dumps core (once per test process).
pub fn core(name: &str, variant: Variant) -> Core {
    static CORES: OnceLock<Memo<(String, Variant), Core>> = OnceLock::new();
    CORES
        .get_or_init(Memo::new)
        .get(&(name.to_string(), variant), || {
            let exe = build(name, variant);
            make_core(name, variant, &exe)
        })
}

/// What `/proc/sys/kernel/core_pattern` says, trimmed.
pub fn core_pattern() -> String {
    fs::read_to_string("/proc/sys/kernel/core_pattern")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether the kernel writes cores into the crashing process's working directory.
pub fn kernel_dumps_to_cwd() -> bool {
    let pattern = core_pattern();
    !pattern.is_empty() && !pattern.starts_with('|') && !pattern.contains('/')
}

fn make_core(name: &str, variant: Variant, exe: &Path) -> Core {
    if variant.arch == Arch::Aarch64 {
        return qemu_core(name, variant, exe);
    }
    let forced_gcore = std::env::var("HEAPMORTEM_TEST_CORES").as_deref() == Ok("gcore");
    if !forced_gcore && kernel_dumps_to_cwd() {
        if let Some(core) = kernel_core(name, variant, exe) {
            return core;
        }
        eprintln!(
            "note: the kernel wrote no core for {name} ({variant}); using gdb's gcore instead"
        );
    }
    gcore_core(name, variant, exe)
}

/// Runs the fixture with `ulimit -c unlimited` in an empty directory and picks up the core
/// the kernel writes there (`core`, `core.PID`, or whatever relative name the pattern gives).
fn kernel_core(name: &str, variant: Variant, exe: &Path) -> Option<Core> {
    let dir = unique_dir(&format!("core-{name}-{}", variant.name()));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"; exec "$0""#)
        .arg(exe)
        .current_dir(&dir);
    let out = run(&mut cmd, Duration::from_secs(60));
    let died_of = expect_crash(name, variant, &out);
    let files = files_in(&dir);
    match files.as_slice() {
        [] => None,
        [core] => Some(Core {
            fixture: name.into(),
            variant,
            exe: exe.into(),
            core: core.clone(),
            method: CoreMethod::Kernel,
            died_of: Some(died_of),
        }),
        many => panic!(
            "several files appeared where one core was expected: {many:?}\n{}",
            out.describe()
        ),
    }
}

/// Runs the fixture under gdb, lets it die, and writes the core with `gcore`.
fn gcore_core(name: &str, variant: Variant, exe: &Path) -> Core {
    process::require("gdb", "gdb");
    let dir = unique_dir(&format!("gcore-{name}-{}", variant.name()));
    let core = dir.join("core");
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled off"])
        .args(["-ex", "set pagination off"])
        .args([
            "-ex",
            "handle SIGUSR1 SIGUSR2 SIGPIPE SIGALRM nostop noprint pass",
        ])
        .args(["-ex", "run"])
        .arg("-ex")
        .arg(format!("gcore {}", core.display()))
        .args(["-ex", "kill"])
        .arg("--args")
        .arg(exe)
        .current_dir(&dir);
    let out = run(&mut cmd, Duration::from_secs(180));
    assert!(
        core.is_file(),
        "gdb's gcore wrote no core for {name} ({variant})\n{}",
        out.describe()
    );
    Core {
        fixture: name.into(),
        variant,
        exe: exe.into(),
        core,
        method: CoreMethod::Gcore,
        died_of: None,
    }
}

/// Runs an aarch64 fixture under `qemu-aarch64` ([`qemu_run`]) and takes the guest's core.
fn qemu_core(name: &str, variant: Variant, exe: &Path) -> Core {
    let dir = unique_dir(&format!("qemu-{name}-{}", variant.name()));
    let (out, guest) = qemu_run(exe, &[], &[], &dir);
    let died_of = expect_crash(name, variant, &out);
    let core = guest.unwrap_or_else(|| {
        panic!(
            "qemu-aarch64 wrote no guest core (qemu_*.core) for {name} ({variant}) in {}\n{}",
            dir.display(),
            out.describe()
        )
    });
    Core {
        fixture: name.into(),
        variant,
        exe: exe.into(),
        core,
        method: CoreMethod::Qemu,
        died_of: Some(died_of),
    }
}

/// Runs a static aarch64 `exe ARGS…` (with `env` set: qemu-user passes its environment to
/// the guest) under `qemu-aarch64` in `dir`. qemu writes the guest's core as
/// `qemu_PROG_DATE_PID.core` in the working directory (when RLIMIT_CORE allows), then kills
/// itself with the same signal. The host core of qemu itself is kept tiny with
/// `coredump_filter` 0 and deleted; the guest stack is 1 MiB (`-s 1M`) instead of 8, since
/// qemu dumps all of it. Returns the run and the guest core, if one was written.
fn qemu_run(
    exe: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    dir: &Path,
) -> (Output, Option<PathBuf>) {
    process::require("qemu-aarch64", "qemu-user");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(
            r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
               echo 0 > /proc/self/coredump_filter 2>/dev/null
               exec qemu-aarch64 -s 1M "$0" "$@""#,
        )
        .arg(exe)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir);
    let out = run(&mut cmd, Duration::from_secs(120));
    let mut guest = None;
    for file in files_in(dir) {
        let fname = file.file_name().unwrap().to_string_lossy().into_owned();
        if fname.starts_with("qemu_") && fname.ends_with(".core") {
            guest = Some(file);
        } else if fname.starts_with("core") {
            let _ = fs::remove_file(&file); // qemu's own (host) core
        }
    }
    (out, guest)
}

/// [`abort_core`] for a static aarch64 workload: runs it under `qemu-aarch64` in `dir`
/// until it aborts and returns the guest core qemu wrote.
pub fn qemu_abort_core(exe: &Path, args: &[&str], env: &[(&str, &str)], dir: &Path) -> PathBuf {
    let (out, guest) = qemu_run(exe, args, env, dir);
    assert_eq!(
        out.signal(),
        Some(6),
        "the workload should abort\n{}",
        out.describe()
    );
    guest.unwrap_or_else(|| {
        panic!(
            "qemu-aarch64 wrote no guest core (qemu_*.core) in {}\n{}",
            dir.display(),
            out.describe()
        )
    })
}

/// The signal a fixture run died of; panics if it did not die of one.
fn expect_crash(name: &str, variant: Variant, out: &Output) -> i32 {
    match out.signal() {
        Some(sig) => sig,
        None => panic!(
            "fixture {name} ({variant}) was expected to die of a signal\n{}",
            out.describe()
        ),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// A copy of `core`'s first `len` bytes, for truncation tests.
pub fn truncated_copy(core: &Path, len: u64, label: &str) -> PathBuf {
    let dir = unique_dir(&format!("cut-{label}"));
    let dest = dir.join(format!("core.cut-{len}"));
    let mut src = fs::File::open(core).unwrap_or_else(|e| panic!("{}: {e}", core.display()));
    let dst = fs::File::create(&dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
    let copied = std::io::copy(&mut std::io::Read::take(&mut src, len), &mut &dst)
        .unwrap_or_else(|e| panic!("copying {}: {e}", core.display()));
    assert_eq!(
        copied,
        len,
        "{} is shorter than {len} bytes",
        core.display()
    );
    dest
}

/// Runs `exe ARGS…` in `dir` (with `env` set) until it aborts, and returns its core: the one
/// the kernel writes into `dir` where `core_pattern` allows, else gdb's `gcore` of the
/// process stopped at the signal. For workloads that write their own account of the moment
/// into `dir` before aborting.
pub fn abort_core(exe: &Path, args: &[&str], env: &[(&str, &str)], dir: &Path) -> PathBuf {
    let forced_gcore = std::env::var("HEAPMORTEM_TEST_CORES").as_deref() == Ok("gcore");
    if !forced_gcore && kernel_dumps_to_cwd() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                r#"ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"; exec "$0" "$@""#,
            )
            .arg(exe)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir);
        let out = run(&mut cmd, Duration::from_secs(120));
        assert_eq!(
            out.signal(),
            Some(6),
            "the workload should abort\n{}",
            out.describe()
        );
        if let Some(core) = files_in(dir).into_iter().find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("core"))
        }) {
            return core;
        }
        eprintln!(
            "note: the kernel wrote no core in {}; using gdb's gcore",
            dir.display()
        );
    }
    process::require("gdb", "gdb");
    let core = dir.join("core");
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled off"])
        .args(["-ex", "set pagination off"]);
    for (k, v) in env {
        cmd.arg("-ex").arg(format!("set environment {k} {v}"));
    }
    cmd.args(["-ex", "run"])
        .arg("-ex")
        .arg(format!("gcore {}", core.display()))
        .args(["-ex", "kill"])
        .arg("--args")
        .arg(exe)
        .args(args)
        .current_dir(dir);
    let out = run(&mut cmd, Duration::from_secs(180));
    assert!(core.is_file(), "gcore wrote no core\n{}", out.describe());
    core
}

/// Runs `exe` in `dir` under gdb, which stops it each time it raises SIGSTOP and writes a
/// core of that moment with `gcore` (`stop1.core`, `stop2.core`, …, `stops` of them), then
/// lets it run on (the signal is not passed: the program continues as if never stopped). For
/// workloads that write their own account of each moment into `dir` before stopping. The
/// kernel writes no core for a stop, so gcore is the only way here.
pub fn stop_cores(exe: &Path, dir: &Path, stops: usize) -> Vec<PathBuf> {
    process::require("gdb", "gdb");
    let cores: Vec<PathBuf> = (1..=stops)
        .map(|k| dir.join(format!("stop{k}.core")))
        .collect();
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled off"])
        .args(["-ex", "set pagination off"])
        .args(["-ex", "handle SIGSTOP stop print nopass"])
        .args(["-ex", "run"]);
    for core in &cores {
        cmd.arg("-ex")
            .arg(format!("gcore {}", core.display()))
            .args(["-ex", "continue"]);
    }
    cmd.arg("--args").arg(exe).current_dir(dir);
    let out = run(&mut cmd, Duration::from_secs(180));
    for core in &cores {
        assert!(
            core.is_file(),
            "gcore wrote no {}\n{}",
            core.display(),
            out.describe()
        );
    }
    assert!(
        out.stdout_str().contains("exited normally"),
        "the workload should run to its end after the last stop\n{}",
        out.describe()
    );
    cores
}
