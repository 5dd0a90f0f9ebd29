//! `heapmortem threads`.

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
    let process = super::open(&args.input, &args.common)?;
    let report = process.threads_report();
    super::write_out(None, |out| match args.format {
        TextOrJson::Text => report.write_text(out),
        TextOrJson::Json => super::json(out, &report),
    })?;
    let outcome = super::outcome(&process, None);
    let lost = report.unwound_no_further();
    if lost.is_empty() {
        return Ok(outcome);
    }
    super::say(&format!(
        "no backtrace beyond the first frame for threads {lost:?}"
    ));
    Ok(Outcome::Partial)
}
