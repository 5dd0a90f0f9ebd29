//! One module per subcommand, and what they share: opening the input, walking the heap it
//! holds, writing standard output, the outcome.

mod diff;
mod explain;
mod heap;
mod info;
mod leaks;
mod profile;
mod report;
mod threads;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use core_reader::{Options, Process, Source};
use heap_walkers::HeldHeap;

use crate::args::{Cli, Command};
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

/// Opens a core with the common flags.
fn open_core(path: &Path, common: &Options) -> anyhow::Result<Process> {
    // SAFETY: cores are read in place rather than copied (they can be tens of GB); the
    // file is not expected to change while heapmortem runs (see CoreFile::open).
    Ok(unsafe { Process::open(path, common) }?)
}

/// Opens what a core command reads: the core file, or a copy of the live process taken
/// while its threads were stopped (the pause is said on stderr).
fn open(source: &Source, common: &Options) -> anyhow::Result<Process> {
    // SAFETY: a core is read in place, as `open_core` reads it.
    let (process, pause) = unsafe { source.open(common) }?;
    if let Some(pause) = pause {
        say(&pause.to_string());
    }
    Ok(process)
}

/// The heap `process` holds, walked with its allocations and roots; the error as
/// [`no_heap`] says it.
fn held(process: &Process, what: &str) -> anyhow::Result<HeldHeap> {
    HeldHeap::walk(process, true).map_err(|e| no_heap(e, what))
}

/// A walk that found no heap, by heap-walkers' truncation rule (`HeldError::in_core`: it names
/// a truncation that may have caused it), as every core command fails on it: one line saying
/// which allocator's heap could not be walked, and `what` for; exit 1 in a truncated core
/// ([`is_truncation`]), else 2.
fn no_heap(e: heap_walkers::HeldError, what: &str) -> anyhow::Error {
    match e.allocator() {
        Some(allocator) => {
            anyhow::Error::new(e).context(format!("no {} heap {what}", allocator.name()))
        }
        None => anyhow::Error::new(e),
    }
}

/// Whether `e` is a walk that found no heap in a core cut short: the contract's exit 1 (the
/// input read in part, the line saying what was lost), not 2 (unreadable input).
pub fn is_truncation(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<heap_walkers::HeldError>()
            .is_some_and(heap_walkers::HeldError::is_truncation)
    })
}

/// Says a line on stderr; a closed stderr (`2>&1 | head` that has stopped reading) is not
/// an error, where `eprintln!` would panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "heapmortem: {line}");
}

/// Writes the file at `path`, or standard output, through a buffer.
fn write_out(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let out: Box<dyn Write> = match path {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    write(&mut out)?;
    Ok(out.flush()?)
}

/// A report as indented JSON and a newline.
fn json(out: &mut dyn Write, report: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// Partial when `partial` says what a walk missed, or when anything of the core could not
/// be read; each said on stderr in one line (the details are in the output's `not read`
/// section or `diagnostics` key): what the core lost is said even where the walk noticed
/// only its effects.
fn outcome(process: &Process, partial: Option<&str>) -> Outcome {
    let lines: Vec<String> = partial
        .map(str::to_string)
        .into_iter()
        .chain(process.read_in_part())
        .collect();
    for line in &lines {
        say(line);
    }
    match lines.is_empty() {
        true => Outcome::Complete,
        false => Outcome::Partial,
    }
}
