//! `heapmortem info`: what the core is, its threads, modules and mappings, as a
//! serializable report and as text.
//!
//! JSON keys are part of heapmortem's contract (DESIGN.md): snake_case, addresses as
//! `"0x…"` strings, sizes in bytes. Fields may be absent when unknown.

use std::io::{self, Write};

use serde::Serialize;

use crate::diagnostics::write_diagnostics;
use crate::{human_bytes, signal_name, Diagnostic, FileSource, Hex, Process};

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
                    load_bias: Hex(m.bias.0),
                    build_id: m.build_id.as_ref().map(ToString::to_string),
                    file: m.file.as_ref().map(|f| f.path.display().to_string()),
                    file_build_id: m
                        .file
                        .as_ref()
                        .and_then(|f| f.build_id.as_ref())
                        .map(ToString::to_string),
                    file_matches: m.file.as_ref().and_then(|f| f.matches),
                    file_source: m.file.as_ref().map(|f| FileOrigin::of(&f.source)),
                    file_url: m.file.as_ref().and_then(|f| FileOrigin::url(&f.source)),
                    debug_file: m.debug_file.as_ref().map(|p| p.display().to_string()),
                    debug_file_source: m.debug_file_source.as_ref().map(FileOrigin::of),
                    debug_file_url: m.debug_file_source.as_ref().and_then(FileOrigin::url),
                    main: m.is_main,
                })
                .collect(),
            allocator,
            truncated: self.is_truncated(),
            diagnostics: self.diagnostics().to_vec(),
        }
    }
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
    /// Where `file` came from.
    pub file_source: Option<FileOrigin>,
    /// The debuginfod URL `file` was fetched from in this run.
    pub file_url: Option<String>,
    pub debug_file: Option<String>,
    /// Where `debug_file` came from.
    pub debug_file_source: Option<FileOrigin>,
    /// The debuginfod URL `debug_file` was fetched from in this run.
    pub debug_file_url: Option<String>,
    pub main: bool,
}

/// Where a module's file came from, in `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOrigin {
    /// This machine's folders (`--exe`, `--sysroot`, the debug folders).
    Local,
    /// A debuginfod server, now or (in its cache) earlier.
    Debuginfod,
}

impl FileOrigin {
    fn of(source: &FileSource) -> FileOrigin {
        match source {
            FileSource::Local => FileOrigin::Local,
            FileSource::Debuginfod { .. } => FileOrigin::Debuginfod,
        }
    }

    fn url(source: &FileSource) -> Option<String> {
        match source {
            FileSource::Debuginfod { url } => url.clone(),
            FileSource::Local => None,
        }
    }

    /// How the text says where a file came from: nothing for local files.
    fn text(source: Option<FileOrigin>, url: Option<&str>) -> String {
        match (source, url) {
            (Some(FileOrigin::Debuginfod), Some(url)) => format!(" from {url}"),
            (Some(FileOrigin::Debuginfod), None) => " from the debuginfod cache".to_string(),
            _ => String::new(),
        }
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
            let from = FileOrigin::text(m.file_source, m.file_url.as_deref());
            let file = match (&m.file, m.file_matches) {
                (None, _) if m.path.starts_with('[') => "read from the core".to_string(),
                (None, _) => "file not found".to_string(),
                (Some(f), Some(false)) => format!("{f} (build-id DIFFERS: not used)"),
                (Some(f), Some(true)) => format!("{f} (build-id matches){from}"),
                (Some(f), None) => format!("{f} (build-id not compared){from}"),
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
                    .map(|d| format!(
                        ", debug info {d}{}",
                        FileOrigin::text(m.debug_file_source, m.debug_file_url.as_deref())
                    ))
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
