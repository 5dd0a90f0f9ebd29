//! One module per subcommand.

mod explain;
mod heap;
mod info;
mod leaks;
mod profile;
mod report;
mod threads;

use crate::args::{Cli, Command, Common, CoreInput};
use crate::Outcome;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Threads(a) => threads::run(a),
        Command::Heap(a) => heap::run(a),
        Command::Leaks(a) => leaks::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Profile(a) => profile::run(a),
        Command::Report(a) => report::run(a),
    }
}

/// Where the common flags say files are: `--exe`, `--sysroot`, `--debug-dir`.
fn core_options(common: &Common) -> core_reader::Options {
    core_reader::Options {
        exe: common.exe.clone(),
        sysroot: common.sysroot.clone(),
        debug_dirs: common.debug_dirs.clone(),
        progress: true,
    }
}

/// The error of a heap that could not be walked, saying which allocator's and what for.
fn no_heap(e: heap_walkers::HeldError, what: &str) -> anyhow::Error {
    let allocator = match &e {
        heap_walkers::HeldError::Glibc(_) => "glibc",
        heap_walkers::HeldError::Jemalloc(_) => "jemalloc",
        _ => return anyhow::Error::new(e),
    };
    anyhow::Error::new(e).context(format!("no {allocator} heap {what}"))
}

/// Opens a core with the common flags.
fn open_core(path: &std::path::Path, common: &Common) -> anyhow::Result<core_reader::Process> {
    // SAFETY: cores are read in place rather than copied (they can be tens of GB); the
    // file is not expected to change while heapmortem runs (see CoreFile::open).
    let process = unsafe { core_reader::Process::open(path, &core_options(common)) }?;
    Ok(process)
}

/// Opens what a core command reads: the core file, or a copy of the live process taken
/// while its threads were stopped (the pause is said on stderr).
fn open_input(input: &CoreInput, common: &Common) -> anyhow::Result<core_reader::Process> {
    let Some(pid) = input.pid else {
        let core = input
            .core
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("give a core file or --pid"))?;
        return open_core(core, common);
    };
    attach(pid, common)
}

/// A copy of the live process `pid`, with the pause it cost said on stderr.
#[cfg(target_os = "linux")]
fn attach(pid: u32, common: &Common) -> anyhow::Result<core_reader::Process> {
    let (process, pause) = core_reader::Process::attach(pid, &core_options(common))?;
    eprintln!(
        "heapmortem: process {pid} was paused for {:.1} ms ({} threads, {} of memory copied)",
        pause.duration.as_secs_f64() * 1000.0,
        pause.threads,
        core_reader::human_bytes(pause.bytes)
    );
    Ok(process)
}

/// Live processes are read through Linux's ptrace and /proc only.
#[cfg(not(target_os = "linux"))]
fn attach(pid: u32, _common: &Common) -> anyhow::Result<core_reader::Process> {
    anyhow::bail!("cannot read process {pid}: --pid reads Linux processes only")
}

/// Partial when anything of the core could not be read; says so on stderr in one line (the
/// details are in the output's `not read` section or `diagnostics` key).
fn outcome(process: &core_reader::Process) -> Outcome {
    let partial = process
        .diagnostics()
        .iter()
        .filter(|d| d.is_partial())
        .count();
    if partial == 0 && !process.is_truncated() {
        return Outcome::Complete;
    }
    let first = process
        .diagnostics()
        .iter()
        .find(|d| d.is_partial())
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    eprintln!(
        "heapmortem: the core could be read only in part ({partial} problem{}){first}",
        if partial == 1 { "" } else { "s" }
    );
    Outcome::Partial
}
