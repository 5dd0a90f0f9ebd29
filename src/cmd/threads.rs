//! `heapmortem threads`.

use std::io::Write;

use crate::args::{TextOrJson, ThreadsArgs};
use crate::Outcome;

pub fn run(args: ThreadsArgs) -> anyhow::Result<Outcome> {
    let process = super::open_input(&args.input, &args.common)?;
    let report = process.threads_report();
    let mut out = std::io::stdout().lock();
    match args.format {
        TextOrJson::Text => report.write_text(&mut out)?,
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    // A stack that could not be unwound past its first frame is part of the core that
    // could not be read (its stack or the libraries' CFI are missing).
    let lost: Vec<u64> = report
        .threads
        .iter()
        .filter(|t| t.stopped.is_some() && t.frames.len() <= 1)
        .map(|t| t.tid)
        .collect();
    let outcome = super::outcome(&process);
    if lost.is_empty() {
        return Ok(outcome);
    }
    eprintln!("heapmortem: no backtrace beyond the first frame for threads {lost:?}");
    Ok(Outcome::Partial)
}
