//! `heapmortem heap`: dispatches on the allocator the process used.

use heap_walkers::Allocator;

use crate::args::HeapArgs;
use crate::Outcome;

mod glibc;
mod jemalloc;

pub fn run(args: HeapArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    match heap_walkers::Allocator::detect(&process) {
        Allocator::Glibc => glibc::run(&process, &args),
        Allocator::Jemalloc => jemalloc::run(&process, &args),
        // A stripped static executable names no allocator; glibc's arenas can still be
        // found from the core alone, so try that before giving up.
        Allocator::Unknown => glibc::run(&process, &args).map_err(|e| {
            e.context(
                "no allocator could be recognised from the modules (stripped static \
                 executable?), and no glibc arena was found in the core",
            )
        }),
        other => anyhow::bail!(
            "the process used the {} allocator, which `heap` cannot walk (glibc and jemalloc only)",
            other.name()
        ),
    }
}
