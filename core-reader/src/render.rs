//! The `info` and `threads` views of a process, as serializable reports and as text.
//!
//! JSON keys are part of heapmortem's contract (DESIGN.md): snake_case, addresses as
//! `"0x…"` strings, sizes in bytes. Fields may be absent when unknown.

use std::io::{self, Write};

use serde::Serialize;

use crate::unwind::SIGNAL_FRAME;
use crate::{Diagnostic, Hex, Os, Process};

impl Process {
    /// The `info` report.
    pub fn info_report(&self, allocator: &'static str) -> InfoReport {
        let notes = self.notes();
        InfoReport {
            os: self.os().name(),
            arch: self.arch().name(),
            pid: notes.pid,
            ppid: notes.ppid,
            command: notes.command.clone(),
            args: notes.args.clone(),
            signal: notes.signal.as_ref().map(|s| s.signo),
            signal_name: notes
                .signal
                .as_ref()
                .and_then(|s| signal_name(self.os(), s.signo)),
            signal_code: notes.signal.as_ref().and_then(|s| s.code),
            fault_address: notes.signal.as_ref().and_then(|s| s.addr).map(Hex),
            executable: self.executable().map(str::to_string),
            threads: self
                .threads()
                .iter()
                .map(|t| InfoThread {
                    tid: t.tid,
                    name: t.name.clone(),
                    signal: t.signal,
                    pc: t.registers.pc().map(Hex),
                    sp: t.registers.sp().map(Hex),
                })
                .collect(),
            mappings: self
                .mappings()
                .iter()
                .map(|m| InfoMapping {
                    start: Hex(m.start),
                    end: Hex(m.end),
                    perms: m.perms.clone(),
                    offset: Hex(m.offset),
                    path: m.path.clone(),
                    build_id: m.build_id.clone(),
                    dumped: m.dumped,
                })
                .collect(),
            modules: self
                .modules()
                .map(|m| InfoModule {
                    path: m.path.clone(),
                    start: Hex(m.start),
                    end: Hex(m.end),
                    load_bias: Hex(m.bias),
                    build_id: m.build_id.as_ref().map(ToString::to_string),
                    file: m.file.as_ref().map(|f| f.path.display().to_string()),
                    file_build_id: m
                        .file
                        .as_ref()
                        .and_then(|f| f.build_id.as_ref())
                        .map(ToString::to_string),
                    file_matches: m.file.as_ref().and_then(|f| f.matches),
                    debug_file: m.debug_file.as_ref().map(|p| p.display().to_string()),
                    main: m.is_main,
                })
                .collect(),
            allocator,
            truncated: self.is_truncated(),
            diagnostics: self.diagnostics().to_vec(),
        }
    }

    /// The `threads` report: every thread unwound and symbolized.
    pub fn threads_report(&self) -> ThreadsReport {
        let threads = self
            .threads()
            .iter()
            .map(|t| {
                let bt = self.backtrace(t);
                let mut frames = Vec::new();
                for f in &bt.frames {
                    let module = f.module.clone();
                    if f.symbols.is_empty() {
                        frames.push(ThreadFrame {
                            pc: Hex(f.pc),
                            function: None,
                            module: module.clone(),
                            file: None,
                            line: None,
                            inlined: false,
                            trust: f.trust.name(),
                        });
                    }
                    for s in &f.symbols {
                        frames.push(ThreadFrame {
                            pc: Hex(f.pc),
                            function: s.function.clone(),
                            module: module.clone(),
                            file: s.file.clone(),
                            line: s.line,
                            inlined: s.inlined,
                            trust: f.trust.name(),
                        });
                    }
                }
                ReportThread {
                    tid: t.tid,
                    name: t.name.clone(),
                    signal: t.signal,
                    frames,
                    stopped: bt.stopped,
                }
            })
            .collect();
        ThreadsReport {
            threads,
            diagnostics: self.diagnostics().to_vec(),
        }
    }
}

impl crate::FrameTrust {
    fn name(self) -> &'static str {
        match self {
            crate::FrameTrust::Context => "context",
            crate::FrameTrust::Cfi => "cfi",
            crate::FrameTrust::FramePointer => "frame_pointer",
            crate::FrameTrust::Signal => "signal",
            crate::FrameTrust::TailCall => "tail_call",
        }
    }
}

/// A signal's name (`SIGSEGV`) for the OS that numbered it; the numbers below 16 are the
/// same on Linux and FreeBSD except 7 and 10.
pub fn signal_name(os: Os, signo: i32) -> Option<String> {
    let common = match signo {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "",
    };
    if !common.is_empty() {
        return Some(common.into());
    }
    // linux arch/x86/include/uapi/asm/signal.h; FreeBSD sys/sys/signal.h.
    let name = match (os, signo) {
        (Os::Linux, 7) | (Os::FreeBsd, 10) => "SIGBUS",
        (Os::Linux, 10) | (Os::FreeBsd, 30) => "SIGUSR1",
        (Os::Linux, 12) | (Os::FreeBsd, 31) => "SIGUSR2",
        (Os::Linux, 19) | (Os::FreeBsd, 17) => "SIGSTOP",
        (Os::FreeBsd, 12) => "SIGSYS",
        (Os::Linux, 31) => "SIGSYS",
        _ => return None,
    };
    Some(name.into())
}

/// `heapmortem info`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct InfoReport {
    pub os: &'static str,
    pub arch: &'static str,
    pub pid: Option<u64>,
    pub ppid: Option<u64>,
    pub command: Option<String>,
    pub args: Option<String>,
    pub signal: Option<i32>,
    pub signal_name: Option<String>,
    pub signal_code: Option<i32>,
    pub fault_address: Option<Hex>,
    pub executable: Option<String>,
    pub threads: Vec<InfoThread>,
    pub mappings: Vec<InfoMapping>,
    pub modules: Vec<InfoModule>,
    pub allocator: &'static str,
    pub truncated: bool,
    pub diagnostics: Vec<Diagnostic>,
}

/// A thread in `info`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct InfoThread {
    pub tid: u64,
    pub name: Option<String>,
    pub signal: i32,
    pub pc: Option<Hex>,
    pub sp: Option<Hex>,
}

/// A mapping in `info`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct InfoMapping {
    pub start: Hex,
    pub end: Hex,
    pub perms: String,
    pub offset: Hex,
    pub path: Option<String>,
    pub build_id: Option<String>,
    /// Bytes of the mapping present in the core file.
    pub dumped: u64,
}

/// A module in `info`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct InfoModule {
    pub path: String,
    pub start: Hex,
    pub end: Hex,
    pub load_bias: Hex,
    pub build_id: Option<String>,
    /// The file found on disk.
    pub file: Option<String>,
    pub file_build_id: Option<String>,
    /// Whether the file's build-id equals the core's (absent when one is unknown).
    pub file_matches: Option<bool>,
    pub debug_file: Option<String>,
    pub main: bool,
}

/// `heapmortem threads`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct ThreadsReport {
    pub threads: Vec<ReportThread>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A thread in `threads`.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct ReportThread {
    pub tid: u64,
    pub name: Option<String>,
    pub signal: i32,
    pub frames: Vec<ThreadFrame>,
    /// Why the walk ended early, when it did.
    pub stopped: Option<String>,
}

/// A frame in `threads` (inlined functions get a frame each, as gdb lists them).
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct ThreadFrame {
    pub pc: Hex,
    pub function: Option<String>,
    pub module: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
    /// How the frame was found: context, cfi, frame_pointer or signal.
    pub trust: &'static str,
}

/// Bytes for people: `512 B`, `1.5 MiB` (binary units, one decimal). The one formatter of
/// byte counts for sentences and tables across heapmortem's crates.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl InfoReport {
    /// Writes the report for a terminal.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        writeln!(w, "os:         {} {}", self.os, self.arch)?;
        writeln!(
            w,
            "process:    pid {} (parent {}) {}",
            opt(self.pid),
            opt(self.ppid),
            self.args
                .as_deref()
                .or(self.command.as_deref())
                .unwrap_or("?")
        )?;
        if let Some(exe) = &self.executable {
            writeln!(w, "executable: {exe}")?;
        }
        match self.signal {
            Some(s) => {
                write!(w, "signal:     {s}")?;
                if let Some(n) = &self.signal_name {
                    write!(w, " ({n})")?;
                }
                if let Some(a) = self.fault_address {
                    write!(w, " at address {:#x}", a.0)?;
                }
                writeln!(w)?;
            }
            None => writeln!(w, "signal:     none recorded")?,
        }
        writeln!(w, "allocator:  {}", self.allocator)?;
        writeln!(
            w,
            "core:       {}",
            if self.truncated {
                "TRUNCATED (see below)"
            } else {
                "complete"
            }
        )?;
        writeln!(w, "\nthreads ({}):", self.threads.len())?;
        for t in &self.threads {
            writeln!(
                w,
                "  {:>8}  {:<16} signal {:<3} pc {}",
                t.tid,
                t.name.as_deref().unwrap_or("-"),
                t.signal,
                t.pc.map_or("?".into(), |p| format!("{:#x}", p.0))
            )?;
        }
        writeln!(w, "\nmodules ({}):", self.modules.len())?;
        for m in &self.modules {
            let file = match (&m.file, m.file_matches) {
                (None, _) if m.path.starts_with('[') => "read from the core".to_string(),
                (None, _) => "file not found".to_string(),
                (Some(f), Some(false)) => format!("{f} (build-id DIFFERS: not used)"),
                (Some(f), Some(true)) => format!("{f} (build-id matches)"),
                (Some(f), None) => format!("{f} (build-id not compared)"),
            };
            writeln!(
                w,
                "  {:#014x}-{:#014x} {}{}\n      build-id {}  {}{}",
                m.start.0,
                m.end.0,
                m.path,
                if m.main { "  [main]" } else { "" },
                m.build_id.as_deref().unwrap_or("none"),
                file,
                m.debug_file
                    .as_ref()
                    .map(|d| format!(", debug info {d}"))
                    .unwrap_or_default()
            )?;
        }
        writeln!(w, "\nmappings ({}):", self.mappings.len())?;
        for m in &self.mappings {
            let size = m.end.0.saturating_sub(m.start.0);
            writeln!(
                w,
                "  {:#014x}-{:#014x} {} {:>9} {:>10} {}",
                m.start.0,
                m.end.0,
                m.perms,
                human_bytes(size),
                if m.dumped == size {
                    "in core".to_string()
                } else if m.dumped == 0 {
                    "not dumped".to_string()
                } else {
                    format!("{} dumped", human_bytes(m.dumped))
                },
                m.path.as_deref().unwrap_or("")
            )?;
        }
        write_diagnostics(w, &self.diagnostics)
    }
}

impl ThreadsReport {
    /// Writes the report in the shape of gdb's `thread apply all bt`.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                writeln!(w)?;
            }
            write!(w, "Thread {} (LWP {}", i + 1, t.tid)?;
            if let Some(n) = &t.name {
                write!(w, " \"{n}\"")?;
            }
            write!(w, ")")?;
            if t.signal != 0 {
                write!(w, " signal {}", t.signal)?;
            }
            writeln!(w, ":")?;
            for (n, f) in t.frames.iter().enumerate() {
                write!(w, "#{n:<2} ")?;
                if f.function.as_deref() == Some(SIGNAL_FRAME) {
                    writeln!(w, "{SIGNAL_FRAME}")?;
                    continue;
                }
                if f.inlined {
                    write!(w, "{:18} ", "")?;
                } else {
                    write!(w, "{:#018x} in ", f.pc.0)?;
                }
                write!(w, "{} ()", f.function.as_deref().unwrap_or("??"))?;
                match (&f.file, f.line) {
                    (Some(file), Some(line)) => write!(w, " at {file}:{line}")?,
                    _ => {
                        if let Some(m) = &f.module {
                            write!(w, " from {m}")?;
                        }
                    }
                }
                writeln!(w)?;
            }
            if let Some(why) = &t.stopped {
                writeln!(w, "(backtrace stopped: {why})")?;
            }
        }
        write_diagnostics(w, &self.diagnostics)
    }
}

fn write_diagnostics(w: &mut dyn Write, diags: &[Diagnostic]) -> io::Result<()> {
    if diags.is_empty() {
        return Ok(());
    }
    writeln!(w, "\nnot read ({}):", diags.len())?;
    for d in diags {
        writeln!(w, "  {d}")?;
    }
    Ok(())
}
