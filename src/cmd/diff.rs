//! `heapmortem diff`: walk both cores' heaps, compare them, print the answer.

use heap_walkers::diff::{self, Grouping, Side};
use heap_walkers::leaks::Block;

use crate::args::{DiffArgs, TextOrJson};
use crate::Outcome::{self, Complete, Partial};

pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let labels = [&args.old, &args.new].map(|p| p.display().to_string());
    let cores = [
        super::open_core(&args.old, &args.common)?,
        super::open_core(&args.new, &args.common)?,
    ];
    let mut heaps = Vec::with_capacity(2);
    let mut blocks: [Vec<Block>; 2] = Default::default();
    for ((core, label), blocks) in cores.iter().zip(&labels).zip(&mut blocks) {
        let mut heap = super::held(core, &format!("to compare in {label}"))?;
        if let Some(refusal) = args.by.refusal(&heap, label) {
            anyhow::bail!(refusal);
        }
        if args.by == Grouping::Site {
            profile_import::name_held_sites(core, &mut heap, &args.common);
        }
        // The walk's table freed before the next walk: the diff reads the blocks only.
        *blocks = heap.take_blocks();
        heaps.push(heap);
    }
    let [old_blocks, new_blocks] = blocks;
    let side = |i: usize, blocks| Side {
        label: &labels[i],
        target: &cores[i],
        heap: &heaps[i],
        blocks,
    };
    let d = diff::diff(side(0, old_blocks), side(1, new_blocks), args.by);
    // Said before the output, so that it is seen even when the output is piped away.
    if let Some(statement) = d.statement() {
        super::say(statement);
    }
    super::write_out(None, |out| match args.format {
        TextOrJson::Text => d.write_text(out),
        TextOrJson::Json => d.write_json(out),
    })?;
    let mut partial = false;
    for ((label, heap), core) in labels.iter().zip(&heaps).zip(&cores) {
        if let Some(missed) = &heap.partial {
            super::say(&format!("{label}: {missed}"));
            partial = true;
        }
        partial |= super::outcome(core, None) == Partial;
    }
    Ok(if partial { Partial } else { Complete })
}
