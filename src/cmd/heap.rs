//! `heapmortem heap`: dispatches on the allocator the process used.

use heap_walkers::Allocator;

use heap_walkers::types::TypeRow;
use heap_walkers::ListFilter;

use crate::args::{GroupBy, HeapArgs, ListKind};
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

/// Whether the view asked for needs the types of the allocations.
fn wants_types(args: &HeapArgs) -> bool {
    args.by == Some(GroupBy::Type)
}

/// `--list`'s filter.
fn list_filter(args: &HeapArgs) -> Option<ListFilter> {
    args.list.map(|l| match l {
        ListKind::Used => ListFilter::Used,
        ListKind::Free => ListFilter::Free,
        ListKind::All => ListFilter::All,
    })
}

/// The allocations in use by type, with `--by type`.
fn types(
    process: &core_reader::Process,
    args: &HeapArgs,
    allocations: Option<&heap_walkers::Allocations>,
) -> Option<Vec<TypeRow>> {
    if !wants_types(args) {
        return None;
    }
    Some(heap_walkers::types::by_type(process, allocations?))
}

/// Rows of the terminal's type table.
const TYPE_ROWS: usize = 20;

/// What the terminal view adds to the allocator's own text: the types, then the listing.
fn write_text_extras<D: serde::Serialize, A: heap_walkers::ArenaDetail>(
    out: &mut dyn std::io::Write,
    heap: &heap_walkers::Heap<D, A>,
    list: Option<ListFilter>,
    types: Option<&[TypeRow]>,
) -> std::io::Result<()> {
    if let Some(rows) = types {
        heap_walkers::types::write_types_text(out, rows, TYPE_ROWS)?;
    }
    if let Some(filter) = list {
        heap.write_list(out, filter)?;
    }
    Ok(())
}
