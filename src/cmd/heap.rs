//! `heapmortem heap`.

use crate::args::HeapArgs;
use crate::Outcome;

pub fn run(_args: HeapArgs) -> anyhow::Result<Outcome> {
    super::not_built("heap")
}
