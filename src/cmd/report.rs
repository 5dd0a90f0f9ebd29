//! `heapmortem report`.

use crate::args::ReportArgs;
use crate::Outcome;

pub fn run(_args: ReportArgs) -> anyhow::Result<Outcome> {
    super::not_built("report")
}
