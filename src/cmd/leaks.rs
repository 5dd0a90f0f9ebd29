//! `heapmortem leaks`: walk the heap, mark what the roots reach, report the rest.

use heap_walkers::{leaks, HeldHeap};

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

/// Groups the text output shows.
const TOP_GROUPS: usize = 10;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
    let process = super::open(&args.input, &args.common)?;
    // The blocks the program holds, not the allocations: all the leak check reads.
    let (mut held, blocks) = HeldHeap::walk_blocks(&process, true)
        .map_err(|e| super::no_heap(e, "to check for leaks"))?;
    profile_import::name_held_sites(&process, &mut held, &args.common);
    let sites = held.sites.as_ref();
    let report = leaks::find_leaks_with_sites(&process, blocks, &held.roots, sites, None, true);
    super::write_out(None, |out| match args.format {
        TextOrJson::Text => report.write_text(out, TOP_GROUPS),
        TextOrJson::Json => report.write_json(out, held.allocator.name()),
    })?;
    Ok(super::outcome(&process, held.partial.as_deref()))
}
