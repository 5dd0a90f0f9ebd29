//! `heapmortem leaks`: walk the heap, mark what the roots reach, report the rest.

use std::io::Write;

use heap_walkers::{leaks, HeldHeap};

use crate::args::{CoreArgs, TextOrJson};
use crate::Outcome;

/// Groups the text output shows.
const TOP_GROUPS: usize = 10;

pub fn run(args: CoreArgs) -> anyhow::Result<Outcome> {
    let process = super::open_input(&args.input, &args.common)?;
    let mut held =
        HeldHeap::walk(&process, true).map_err(|e| super::no_heap(e, "to check for leaks"))?;
    profile_import::name_held_sites(&process, &mut held, &args.common);
    // Past their blocks the allocations are not needed: freed as the blocks are made.
    let blocks = held.take_blocks();
    let report =
        leaks::find_leaks_with_sites(&process, blocks, &held.roots, held.sites.as_ref(), None);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        TextOrJson::Text => report.write_text(&mut out, TOP_GROUPS)?,
        TextOrJson::Json => report.write_json(&mut out, held.allocator.name())?,
    }
    out.flush()?;
    if let Some(partial) = &held.partial {
        eprintln!("heapmortem: {partial}");
        return Ok(Outcome::Partial);
    }
    Ok(super::outcome(&process))
}
