//! One module per subcommand.

mod diff;
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
        Command::Diff(a) => diff::run(a),
        Command::Profile(a) => profile::run(a),
        Command::Report(a) => report::run(a),
    }
}

/// The error of a heap that could not be walked, saying which allocator's and what for.
fn no_heap(e: heap_walkers::HeldError, what: &str) -> anyhow::Error {
    match e.allocator() {
        Some(allocator) => {
            anyhow::Error::new(e).context(format!("no {} heap {what}", allocator.name()))
        }
        None => anyhow::Error::new(e),
    }
}

/// Opens a core with the common flags.
fn open_core(path: &std::path::Path, common: &Common) -> anyhow::Result<core_reader::Process> {
    // SAFETY: cores are read in place rather than copied (they can be tens of GB); the
    // file is not expected to change while heapmortem runs (see CoreFile::open).
    let process = unsafe { core_reader::Process::open(path, common) }?;
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
    let (process, pause) = core_reader::Process::attach(pid, common)?;
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

/// Partial when anything of the core could not be read, said on stderr in one line (the
/// details are in the output's `not read` section or `diagnostics` key).
fn outcome(process: &core_reader::Process) -> Outcome {
    match process.read_in_part() {
        Some(line) => {
            eprintln!("heapmortem: {line}");
            Outcome::Partial
        }
        None => Outcome::Complete,
    }
}
