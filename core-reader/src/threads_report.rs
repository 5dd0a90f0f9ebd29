//! `heapmortem threads`: every thread unwound and symbolized, as a serializable report and
//! as text in the shape of gdb's `thread apply all bt`.
//!
//! JSON keys are part of heapmortem's contract (DESIGN.md): snake_case, addresses as
//! `"0x…"` strings, sizes in bytes. Fields may be absent when unknown.

use std::io::{self, Write};

use serde::Serialize;

use crate::diagnostics::write_diagnostics;
use crate::unwind::SIGNAL_FRAME;
use crate::{Diagnostic, Hex, Process};

impl Process {
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

impl ThreadsReport {
    /// The threads whose stack could not be unwound past its first frame: part of the core
    /// that could not be read (their stack, or the libraries' CFI, is missing).
    pub fn unwound_no_further(&self) -> Vec<u64> {
        self.threads
            .iter()
            .filter(|t| t.stopped.is_some() && t.frames.len() <= 1)
            .map(|t| t.tid)
            .collect()
    }

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
