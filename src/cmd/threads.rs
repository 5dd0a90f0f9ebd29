//! `heapmortem threads`.

use std::io::Write;

use crate::args::{TextOrJson, ThreadsArgs};
use crate::Outcome;

pub fn run(args: ThreadsArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    let report = process.threads_report();
    let mut out = std::io::stdout().lock();
    match args.format {
        TextOrJson::Text => report.write_text(&mut out)?,
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    let partial = report
        .threads
        .iter()
        .any(|t| t.stopped.is_some() && t.frames.len() <= 1);
    Ok(if partial {
        Outcome::Partial
    } else {
        super::outcome(&process)
    })
}
