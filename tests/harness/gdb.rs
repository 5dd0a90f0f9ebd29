//! gdb's reading of a core: `gdb -batch -nx … -ex 'thread apply all bt' EXE CORE`, parsed.
//!
//! Settings, and why:
//! - `set backtrace past-main on`: gdb stops at `main` by default; heapmortem (like lldb,
//!   drgn and eu-stack) shows `__libc_start_call_main`, `__libc_start_main` and `_start` too.
//! - `set print frame-arguments none`: arguments become `(...)`, so the function name is
//!   everything before ` (`.
//! - `set width 0`, `set pagination off`: one frame per line, no prompts.
//! - `set debuginfod enabled off`: no network; debug info comes from /usr/lib/debug
//!   (libc6-dbg) or the files themselves.
//!
//! Output sections are separated with `echo @@NAME` markers so one run gives the pid
//! (`info inferiors`), the signal (`$_siginfo.si_signo`), every thread's backtrace and,
//! on request, registers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::fixture::{Arch, Core};
use super::process::{self, run};
use super::{parse_hex, Memo};

/// How gdb names the frame of the kernel's signal trampoline.
pub const SIGNAL_FRAME: &str = "<signal handler called>";

/// One frame of gdb's `bt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GdbFrame {
    /// `#N`.
    pub level: usize,
    /// The address gdb printed before ` in ` (gdb leaves it out when the pc is at the start of
    /// a line, which includes most inlined frames).
    pub pc: Option<u64>,
    /// The function, `??` when gdb has no symbol, or [`SIGNAL_FRAME`].
    pub function: String,
    /// `at FILE:LINE`: the file as gdb prints it (as recorded in DWARF).
    pub file: Option<String>,
    /// `at FILE:LINE`: the line.
    pub line: Option<u32>,
    /// `from LIBRARY` (frames without line info in a shared library).
    pub from: Option<String>,
    /// The whole line, for messages.
    pub text: String,
}

/// One thread of gdb's `thread apply all bt`.
#[derive(Clone, Debug)]
pub struct GdbThread {
    /// gdb's thread number: 1 is the first NT_PRSTATUS, the thread that received the signal.
    pub num: u32,
    /// The kernel thread id (`LWP N`, or `process N` for a process gdb sees as one thread).
    pub tid: u64,
    /// A thread name gdb printed in quotes, if any.
    pub name: Option<String>,
    /// Frames, innermost first.
    pub frames: Vec<GdbFrame>,
    /// Registers read with `info registers` (only those requested).
    pub registers: BTreeMap<String, u64>,
    /// The header line.
    pub header: String,
}

impl GdbThread {
    /// The function names, innermost first.
    pub fn functions(&self) -> Vec<&str> {
        self.frames.iter().map(|f| f.function.as_str()).collect()
    }
}

/// Everything parsed from one gdb run on a core.
#[derive(Clone, Debug)]
pub struct GdbCore {
    /// `info inferiors`: `process N`.
    pub pid: Option<u64>,
    /// `$_siginfo.si_signo`, else the signal named in "Program terminated with signal SIGX".
    pub signal: Option<i32>,
    /// Threads in the order gdb listed them (highest number first).
    pub threads: Vec<GdbThread>,
    /// The command that was run.
    pub command: String,
    /// gdb's stdout and stderr, for messages.
    pub raw: String,
}

impl GdbCore {
    /// The thread with kernel id `tid`.
    pub fn thread(&self, tid: u64) -> Option<&GdbThread> {
        self.threads.iter().find(|t| t.tid == tid)
    }

    /// gdb's thread 1: the thread the kernel wrote first, the one that got the signal.
    pub fn crashing(&self) -> &GdbThread {
        self.threads
            .iter()
            .find(|t| t.num == 1)
            .unwrap_or_else(|| panic!("gdb listed no thread 1\n{}", self.raw))
    }

    /// All tids, sorted.
    pub fn tids(&self) -> Vec<u64> {
        let mut tids: Vec<u64> = self.threads.iter().map(|t| t.tid).collect();
        tids.sort_unstable();
        tids
    }
}

/// How to run gdb.
#[derive(Clone, Debug, Default)]
pub struct GdbRun {
    /// `gdb` (default) or `gdb-multiarch`.
    pub program: Option<&'static str>,
    /// The executable; without it gdb reads only the core.
    pub exe: Option<PathBuf>,
    /// Commands run before the files are loaded (`-iex`), e.g. `set sysroot DIR`,
    /// `set solib-search-path DIR`.
    pub init: Vec<String>,
    /// Registers to read for every thread (`info registers pc sp …`).
    pub registers: Vec<String>,
}

impl GdbRun {
    /// Runs gdb on `core` and parses what it printed. Panics if gdb fails or lists no thread.
    pub fn on(&self, core: &Path) -> GdbCore {
        let mut commands = vec![
            "set print frame-arguments none".to_string(),
            "set backtrace past-main on".into(),
            "set backtrace limit 500".into(),
            "echo \\n@@INFERIORS\\n".into(),
            "info inferiors".into(),
            "echo \\n@@SIGINFO\\n".into(),
            "print $_siginfo.si_signo".into(),
            "echo \\n@@THREADS\\n".into(),
            "thread apply all bt".into(),
        ];
        if !self.registers.is_empty() {
            commands.push("echo \\n@@REGISTERS\\n".into());
            commands.push(format!(
                "thread apply all info registers {}",
                self.registers.join(" ")
            ));
        }
        commands.push("echo \\n@@END\\n".into());
        let out = self.batch(core, &commands);
        let stdout = out.stdout_str();
        let raw = format!(
            "$ {}\n{}\n--- gdb stderr ---\n{}",
            out.command,
            stdout,
            out.stderr_str()
        );
        let mut parsed = parse(&stdout, &raw);
        parsed.command = out.command.clone();
        assert!(
            !parsed.threads.is_empty(),
            "gdb listed no threads for {}\n{}",
            core.display(),
            out.describe()
        );
        parsed
    }

    /// Runs `commands` (`-ex`) in one batch gdb on `core`, after the settings every run
    /// shares and the `init` commands.
    fn batch(&self, core: &Path, commands: &[String]) -> process::Output {
        let program = self.program.unwrap_or("gdb");
        let package = if program == "gdb" {
            "gdb"
        } else {
            "gdb-multiarch"
        };
        process::require(program, package);
        let mut cmd = Command::new(program);
        cmd.args(["-batch", "-nx"])
            .args(["-iex", "set debuginfod enabled off"])
            .args(["-iex", "set pagination off"])
            .args(["-iex", "set width 0"])
            .args(["-iex", "set height 0"]);
        for init in &self.init {
            cmd.arg("-iex").arg(init);
        }
        for c in commands {
            cmd.arg("-ex").arg(c);
        }
        match &self.exe {
            Some(exe) => {
                cmd.arg(exe).arg(core);
            }
            None => {
                cmd.arg("-c").arg(core);
            }
        }
        run(&mut cmd, Duration::from_secs(300))
    }

    /// The arguments and locals of frame `level` of gdb's thread 1 (`info args`, `info
    /// locals`), each with the address and size gdb gives it in that frame (`print &NAME`,
    /// `print sizeof(NAME)`). Panics when gdb does not answer for one of them.
    pub fn frame_variables(&self, core: &Path, level: usize) -> Vec<GdbVariable> {
        let select = format!("frame {level}");
        let out = self.batch(
            core,
            &[
                select.clone(),
                "echo \\n@@NAMES\\n".into(),
                "info args".into(),
                "info locals".into(),
            ],
        );
        let stdout = out.stdout_str();
        let listing = stdout.split_once("@@NAMES\n").map_or("", |(_, l)| l);
        // `NAME = VALUE` at the start of a line; a struct's members are indented under it,
        // and a name shadowed in an inner block is listed again (the inner one first).
        let mut names: Vec<&str> = Vec::new();
        for line in listing.lines() {
            let Some((name, _)) = line.split_once(" = ") else {
                continue;
            };
            let ident = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if ident && !names.contains(&name) {
                names.push(name);
            }
        }
        let mut commands = vec![select];
        for name in &names {
            commands.push(format!("echo \\n@@VAR {name}\\n"));
            commands.push(format!("print/x (unsigned long) &{name}"));
            commands.push(format!("print/x sizeof({name})"));
        }
        let out = self.batch(core, &commands);
        let stdout = out.stdout_str();
        let values = |section: &str| -> Vec<u64> {
            section
                .lines()
                .filter_map(|l| parse_hex(l.strip_prefix('$')?.split_once(" = ")?.1))
                .collect()
        };
        let vars: Vec<GdbVariable> = stdout
            .split("@@VAR ")
            .skip(1)
            .filter_map(|section| {
                let (name, rest) = section.split_once('\n')?;
                match values(rest)[..] {
                    [address, size] => Some(GdbVariable {
                        name: name.to_string(),
                        address,
                        size,
                    }),
                    _ => None,
                }
            })
            .collect();
        assert_eq!(
            vars.len(),
            names.len(),
            "gdb gave no address or size for some of {names:?}\n{}",
            out.describe()
        );
        vars
    }
}

/// A variable of one frame as gdb sees it.
#[derive(Clone, Debug)]
pub struct GdbVariable {
    /// Its name.
    pub name: String,
    /// Where it is (`&NAME`).
    pub address: u64,
    /// Its size (`sizeof(NAME)`).
    pub size: u64,
}

/// gdb's reading of a fixture core (memoized per core file).
pub fn fixture_backtrace(core: &Core) -> GdbCore {
    static RUNS: OnceLock<Memo<PathBuf, GdbCore>> = OnceLock::new();
    RUNS.get_or_init(Memo::new).get(&core.core, || {
        let program = match core.variant.arch {
            Arch::X86_64 => "gdb",
            Arch::Aarch64 => "gdb-multiarch",
        };
        GdbRun {
            program: Some(program),
            exe: Some(core.exe.clone()),
            ..GdbRun::default()
        }
        .on(&core.core)
    })
}

/// Parses the stdout of a [`GdbRun`]; `raw` goes into messages.
pub fn parse(stdout: &str, raw: &str) -> GdbCore {
    let mut section = "";
    let mut pid = None;
    let mut signal = None;
    let mut terminated_with = None;
    let mut threads: Vec<GdbThread> = Vec::new();
    let mut reg_thread: Option<u32> = None;
    for line in stdout.lines() {
        let trimmed = line.trim_end();
        if let Some(name) = trimmed.strip_prefix("@@") {
            section = match name {
                "INFERIORS" => "inferiors",
                "SIGINFO" => "siginfo",
                "THREADS" => "threads",
                "REGISTERS" => "registers",
                _ => "end",
            };
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("Program terminated with signal ") {
            terminated_with = rest.split(',').next().and_then(signal_number);
        }
        match section {
            "inferiors" => {
                if let Some(n) = number_after(trimmed, "process ") {
                    pid = Some(n);
                }
            }
            "siginfo" => {
                if let Some((_, value)) = trimmed.split_once(" = ") {
                    if trimmed.starts_with('$') {
                        signal = value.trim().parse::<i32>().ok();
                    }
                }
            }
            "threads" => {
                if let Some(thread) = parse_thread_header(trimmed) {
                    threads.push(thread);
                } else if let Some(frame) = parse_frame(trimmed) {
                    if let Some(thread) = threads.last_mut() {
                        thread.frames.push(frame);
                    }
                }
            }
            "registers" => {
                if let Some(thread) = parse_thread_header(trimmed) {
                    reg_thread = Some(thread.num);
                } else if let (Some(num), Some((name, value))) =
                    (reg_thread, parse_register(trimmed))
                {
                    if let Some(t) = threads.iter_mut().find(|t| t.num == num) {
                        t.registers.insert(name, value);
                    }
                }
            }
            _ => {}
        }
    }
    GdbCore {
        pid,
        signal: signal.or(terminated_with),
        threads,
        command: String::new(),
        raw: raw.to_string(),
    }
}

fn number_after(line: &str, word: &str) -> Option<u64> {
    let at = line.find(word)? + word.len();
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// `Thread 2 (Thread 0x7f… (LWP 1234) "name"):`, `Thread 1 (LWP 1234):`,
/// `Thread 1 (process 1234):`.
fn parse_thread_header(line: &str) -> Option<GdbThread> {
    let rest = line.strip_prefix("Thread ")?;
    if !rest.ends_with("):") {
        return None;
    }
    let (num, inner) = rest.split_once(" (")?;
    let num: u32 = num.parse().ok()?;
    let tid = number_after(inner, "LWP ").or_else(|| number_after(inner, "process "))?;
    let name = inner
        .find('"')
        .and_then(|start| {
            inner[start + 1..]
                .rfind('"')
                .map(|end| &inner[start + 1..start + 1 + end])
        })
        .map(str::to_string);
    Some(GdbThread {
        num,
        tid,
        name,
        frames: Vec::new(),
        registers: BTreeMap::new(),
        header: line.to_string(),
    })
}

/// `#3  0x00007f… in func (...) at file.c:12`, `#0  func (...) at f.c:3`,
/// `#4  0x… in ?? () from /lib/…`, `#2  <signal handler called>`.
pub fn parse_frame(line: &str) -> Option<GdbFrame> {
    let rest = line.strip_prefix('#')?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let level: usize = rest[..digits_end].parse().ok()?;
    let rest = rest[digits_end..].trim_start();
    let mut frame = GdbFrame {
        level,
        pc: None,
        function: String::new(),
        file: None,
        line: None,
        from: None,
        text: line.to_string(),
    };
    if rest.starts_with(SIGNAL_FRAME) {
        frame.function = SIGNAL_FRAME.to_string();
        return Some(frame);
    }
    let rest = if rest.starts_with("0x") {
        let (addr, after) = rest.split_once(" in ")?;
        frame.pc = Some(parse_hex(addr)?);
        after
    } else {
        rest
    };
    let name_end = rest.find(" (").unwrap_or(rest.len());
    frame.function = rest[..name_end].to_string();
    let tail = &rest[name_end..];
    if let Some(at) = tail.rfind(" at ") {
        let location = &tail[at + 4..];
        if let Some((file, line_no)) = location.rsplit_once(':') {
            if let Ok(n) = line_no.trim().parse::<u32>() {
                frame.file = Some(file.to_string());
                frame.line = Some(n);
            }
        }
    } else if let Some(from) = tail.rfind(" from ") {
        frame.from = Some(tail[from + 6..].to_string());
    }
    Some(frame)
}

/// `pc             0x400548            0x400548 <main+20>` → ("pc", 0x400548).
fn parse_register(line: &str) -> Option<(String, u64)> {
    let mut parts = line.split_whitespace();
    let name = parts.next()?;
    let value = parts.next()?;
    if !value.starts_with("0x") {
        return None;
    }
    Some((name.to_string(), parse_hex(value)?))
}

/// Linux signal numbers by name (x86_64 and aarch64 agree), for gdb's
/// "Program terminated with signal SIGSEGV".
pub fn signal_number(name: &str) -> Option<i32> {
    Some(match name.trim() {
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGILL" => 4,
        "SIGTRAP" => 5,
        "SIGABRT" => 6,
        "SIGBUS" => 7,
        "SIGFPE" => 8,
        "SIGKILL" => 9,
        "SIGUSR1" => 10,
        "SIGSEGV" => 11,
        "SIGUSR2" => 12,
        "SIGPIPE" => 13,
        "SIGALRM" => 14,
        "SIGTERM" => 15,
        "SIGSTOP" => 19,
        _ => return None,
    })
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn frames_in_every_shape_gdb_prints() {
        let f = parse_frame("#0  poke (...) at /x/threads.c:115").unwrap();
        assert_eq!((f.level, f.pc, f.function.as_str()), (0, None, "poke"));
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("/x/threads.c"), Some(115))
        );
        let f = parse_frame(
            "#12 0x00007fb2c44941f5 in start_thread (...) at ./nptl/pthread_create.c:442",
        )
        .unwrap();
        assert_eq!(f.level, 12);
        assert_eq!(f.pc, Some(0x7fb2c44941f5));
        assert_eq!(f.function, "start_thread");
        assert_eq!(f.line, Some(442));
        let f = parse_frame("#2  <signal handler called>").unwrap();
        assert_eq!(f.function, SIGNAL_FRAME);
        let f = parse_frame("#4  0x0000000000401058 in ?? () from /lib/x86_64-linux-gnu/libc.so.6")
            .unwrap();
        assert_eq!(f.function, "??");
        assert_eq!(f.from.as_deref(), Some("/lib/x86_64-linux-gnu/libc.so.6"));
        let f = parse_frame("#13 0x000055e21d8b80c1 in _start ()").unwrap();
        assert_eq!((f.function.as_str(), f.file.as_deref()), ("_start", None));
        assert!(parse_frame("#x not a frame").is_none());
    }

    #[test]
    fn thread_headers() {
        let t = parse_thread_header("Thread 4 (Thread 0x7fb2c43856c0 (LWP 10133)):").unwrap();
        assert_eq!((t.num, t.tid), (4, 10133));
        let t = parse_thread_header("Thread 1 (LWP 18759):").unwrap();
        assert_eq!((t.num, t.tid), (1, 18759));
        let t = parse_thread_header("Thread 1 (process 32259):").unwrap();
        assert_eq!((t.num, t.tid), (1, 32259));
        let t = parse_thread_header("Thread 2 (Thread 0x7f (LWP 5) \"worker\"):").unwrap();
        assert_eq!(t.name.as_deref(), Some("worker"));
    }
}
