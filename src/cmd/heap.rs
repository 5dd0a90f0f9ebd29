//! `heapmortem heap`: dispatches on the allocator the process used.

use core_reader::Allocator;

use crate::args::HeapArgs;
use crate::Outcome;

mod glibc;
mod jemalloc;

pub fn run(args: HeapArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    match process.allocator() {
        Allocator::Glibc => glibc::run(&process, &args),
        Allocator::Jemalloc => jemalloc::run(&process, &args),
        other => anyhow::bail!(
            "the process used the {} allocator, which `heap` cannot walk (glibc and jemalloc only)",
            other.name()
        ),
    }
}
