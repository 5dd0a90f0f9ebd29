//! `heapmortem heap`: walk the allocator the process used, print the view asked.

use heap_walkers::{Allocator, WalkedHeap};

use crate::args::HeapArgs;
use crate::Outcome;

pub fn run(args: HeapArgs) -> anyhow::Result<Outcome> {
    let process = super::open(&args.input, &args.common)?;
    let allocator = Allocator::detect(&process);
    if let Some(refusal) = args.view.refusal(allocator) {
        anyhow::bail!(refusal);
    }
    let mut heap = WalkedHeap::walk(&process, allocator, args.view.lists(), true)
        .map_err(|e| super::no_heap(e, "to show"))?;
    super::write_out(None, |out| heap.write(&process, out, &args.view))?;
    for remark in heap.remarks() {
        super::say(&remark.to_string());
    }
    // What the core lost is said too where the walk noticed only its effects (an arena
    // "not in the core").
    let read = super::outcome(&process, None);
    match heap.is_partial() {
        true => Ok(Outcome::Partial),
        false => Ok(read),
    }
}
