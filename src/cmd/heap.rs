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
    let mut heap = match WalkedHeap::walk(&process, allocator, args.view.lists(), true) {
        Ok(heap) => heap,
        // The core lost the heap's memory: the input was read in part (exit 1), and that is
        // all there is to say of the heap.
        Err(e) if e.is_truncation() => {
            super::say(&format!("no {} heap: {e}", allocator.name()));
            return Ok(Outcome::Partial);
        }
        Err(e) => return Err(e.into()),
    };
    super::write_out(None, |out| heap.write(&process, out, &args.view))?;
    for remark in heap.remarks() {
        super::say(&remark.to_string());
    }
    match heap.is_partial() {
        true => Ok(Outcome::Partial),
        false => Ok(super::outcome(&process, None)),
    }
}
