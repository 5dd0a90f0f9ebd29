//! heapmortem: post-mortem analysis of native memory.
//!
//! Glue only: flags are parsed into [`args`] structs, each subcommand in [`cmd`] builds the
//! library objects and hands them to the renderers that live beside the data. `main` maps
//! errors to the exit codes of the contract: 0 success, 1 partial input, 2 bad usage or
//! unreadable input.

mod args;
mod cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// What a subcommand reports when it ran: all input read, or only part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was read.
    Complete,
    /// Some of the input could not be read; the output says what was skipped.
    Partial,
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cmd::run(cli) {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let mut msg = format!("heapmortem: {e}");
            for cause in e.chain().skip(1) {
                // Library errors often say their cause already (`cannot read X: reason`).
                let cause = cause.to_string();
                if !msg.contains(&cause) {
                    msg.push_str(&format!(": {cause}"));
                }
            }
            // Not eprintln!, which panics when stderr is a pipe closed early.
            let _ = writeln!(std::io::stderr(), "{msg}");
            // A heap the core was cut short before: the input was read in part.
            ExitCode::from(if cmd::is_truncation(&e) { 1 } else { 2 })
        }
    }
}

/// `heapmortem … | head` closing the pipe early is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
