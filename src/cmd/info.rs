//! `heapmortem info`.

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
    let process = super::open(&args.input, &args.common)?;
    let report = process.info_report(heap_walkers::Allocator::detect(&process).name());
    super::write_out(None, |out| match args.format {
        TextOrJson::Text => report.write_text(out),
        TextOrJson::Json => super::json(out, &report),
    })?;
    Ok(super::outcome(&process, None))
}
