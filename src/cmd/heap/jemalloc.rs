//! `heapmortem heap` for jemalloc.

use crate::args::HeapArgs;
use crate::Outcome;

pub fn run(_process: &core_reader::Process, _args: &HeapArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`heapmortem heap` for jemalloc is not built yet in this version")
}
