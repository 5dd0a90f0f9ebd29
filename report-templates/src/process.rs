//! The process section: what the core is, and every thread's backtrace.

use core_reader::{InfoReport, ThreadsReport};

use crate::model::ModuleRow;

/// One frame of a backtrace, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameView {
    /// Frame number, as gdb numbers them (inlined frames get their own).
    pub index: usize,
    /// The program counter, `0x…`.
    pub pc: String,
    /// The function, or `??`.
    pub function: String,
    /// `file:line`, when known.
    pub location: Option<String>,
    /// The module's file name.
    pub module: Option<String>,
    /// Whether this frame was inlined into the next.
    pub inlined: bool,
}

/// One thread.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadView {
    /// Thread id.
    pub tid: u64,
    /// Thread name, if the core has it.
    pub name: Option<String>,
    /// The signal the thread stopped with, named (`SIGSEGV (11)`), if any.
    pub signal: Option<String>,
    /// Whether this is the thread that took the fatal signal.
    pub crashed: bool,
    /// The backtrace, innermost first.
    pub frames: Vec<FrameView>,
    /// Why the walk ended early, when it did.
    pub stopped: Option<String>,
}

/// The process a core came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSection {
    /// The core, as given on the command line.
    pub input: String,
    /// `linux x86_64`.
    pub platform: String,
    /// Process id.
    pub pid: Option<u64>,
    /// The command name and arguments.
    pub command: Option<String>,
    /// The executable's path.
    pub executable: Option<String>,
    /// The fatal signal (`SIGSEGV (11)`), with the fault address when there is one.
    pub signal: Option<String>,
    /// The allocator, judged from modules and symbols.
    pub allocator: String,
    /// Whether the core is cut short.
    pub truncated: bool,
    /// What could not be read, one line each.
    pub diagnostics: Vec<String>,
    /// Threads, the crashing thread first.
    pub threads: Vec<ThreadView>,
}

fn signal_text(name: Option<&str>, number: i32) -> String {
    match name {
        Some(n) => format!("{n} ({number})"),
        None => format!("signal {number}"),
    }
}

impl ProcessSection {
    /// The section for one core, from core-reader's `info` and `threads` reports.
    pub fn new(input: &str, info: &InfoReport, threads: &ThreadsReport) -> ProcessSection {
        let signal = info.signal.map(|s| {
            let mut t = signal_text(info.signal_name.as_deref(), s);
            if let Some(a) = info.fault_address {
                t.push_str(&format!(" at {:#x}", a.0));
            }
            t
        });
        let command = match (&info.args, &info.command) {
            (Some(a), _) if !a.trim().is_empty() => Some(a.trim().to_string()),
            (_, Some(c)) => Some(c.clone()),
            _ => None,
        };
        let mut views: Vec<ThreadView> = threads
            .threads
            .iter()
            .map(|t| {
                let mut index = 0;
                let frames = t
                    .frames
                    .iter()
                    .map(|f| {
                        let v = FrameView {
                            index,
                            pc: format!("{:#018x}", f.pc.0),
                            function: f.function.clone().unwrap_or_else(|| "??".to_string()),
                            location: f.file.as_ref().map(|file| match f.line {
                                Some(l) => format!("{file}:{l}"),
                                None => file.clone(),
                            }),
                            module: f
                                .module
                                .as_ref()
                                .map(|m| m.rsplit('/').next().unwrap_or(m).to_string()),
                            inlined: f.inlined,
                        };
                        index += 1;
                        v
                    })
                    .collect();
                let sig = (t.signal != 0).then(|| {
                    let os = if info.os == "freebsd" {
                        core_reader::Os::FreeBsd
                    } else {
                        core_reader::Os::Linux
                    };
                    let name = core_reader::signal_name(os, t.signal);
                    signal_text(name.as_deref(), t.signal)
                });
                ThreadView {
                    tid: t.tid,
                    name: t.name.clone(),
                    signal: sig,
                    crashed: false,
                    frames,
                    stopped: t.stopped.clone(),
                }
            })
            .collect();
        // The crashing thread: the first that stopped with the process's fatal signal (a
        // gcore'd process has every thread at SIGSTOP; then the first, as gdb shows it).
        let crashed = threads
            .threads
            .iter()
            .position(|t| t.signal != 0 && Some(t.signal) == info.signal)
            .or_else(|| (!views.is_empty()).then_some(0));
        if let Some(i) = crashed {
            let mut t = views.remove(i);
            t.crashed = true;
            views.insert(0, t);
        }
        ProcessSection {
            input: input.to_string(),
            platform: format!("{} {}", info.os, info.arch),
            pid: info.pid,
            command,
            executable: info.executable.clone(),
            signal,
            allocator: info.allocator.to_string(),
            truncated: info.truncated,
            diagnostics: info.diagnostics.iter().map(|d| d.to_string()).collect(),
            threads: views,
        }
    }
}

/// The modules of a core and what was found for each.
pub fn core_modules(input: &str, info: &InfoReport) -> Vec<ModuleRow> {
    info.modules
        .iter()
        .map(|m| {
            let (status, missing) = match (&m.file, m.file_matches, &m.debug_file) {
                // The vDSO: no file, its image is in the core.
                (None, _, _) if m.path.starts_with('[') => {
                    ("read from the core".to_string(), false)
                }
                (None, _, _) => ("file not found".to_string(), true),
                (Some(_), Some(false), _) => ("wrong build-id".to_string(), true),
                (Some(_), _, Some(_)) => ("debug info".to_string(), false),
                (Some(_), _, None) => ("symbols, no separate debug file".to_string(), false),
            };
            ModuleRow {
                input: input.to_string(),
                path: m.path.clone(),
                build_id: m.build_id.clone(),
                file: m.file.clone(),
                file_matches: m.file_matches,
                debug_file: m.debug_file.clone(),
                status,
                missing,
            }
        })
        .collect()
}
