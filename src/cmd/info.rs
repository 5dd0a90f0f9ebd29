//! `heapmortem info`.

use std::io::Write;

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
    let process = super::open_input(&args.input, &args.common)?;
    let report = process.info_report(heap_walkers::Allocator::detect(&process).name());
    let mut out = std::io::stdout().lock();
    match args.format {
        TextOrJson::Text => report.write_text(&mut out)?,
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(super::outcome(&process))
}
