//! `heapmortem diff`: walk both cores' heaps, compare them, print the answer.

use heap_walkers::diff::{self, Grouping, Side};

use crate::args::{DiffArgs, TextOrJson};
use crate::Outcome::{self, Complete, Partial};

pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let labels = [&args.old, &args.new].map(|p| p.display().to_string());
    let cores = [
        super::open_core(&args.old, &args.common)?,
        super::open_core(&args.new, &args.common)?,
    ];
    let mut heaps = Vec::with_capacity(2);
    for (core, label) in cores.iter().zip(&labels) {
        let mut heap = super::held(core, &format!("to compare in {label}"))?;
        if let Some(refusal) = args.by.refusal(&heap, label) {
            anyhow::bail!(refusal);
        }
        if args.by == Grouping::Site {
            profile_import::name_held_sites(core, &mut heap, &args.common);
        }
        heaps.push(heap);
    }
    let side = |i: usize| Side {
        label: &labels[i],
        target: &cores[i],
        heap: &heaps[i],
    };
    let d = diff::diff(side(0), side(1), args.by);
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
