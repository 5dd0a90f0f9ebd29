//! `heapmortem threads`.

use std::io::Write;

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
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
    let lost = report.unwound_no_further();
    let outcome = super::outcome(&process);
    if lost.is_empty() {
        return Ok(outcome);
    }
    eprintln!("heapmortem: no backtrace beyond the first frame for threads {lost:?}");
    Ok(Outcome::Partial)
}
