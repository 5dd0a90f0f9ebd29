//! `heapmortem diff`: walk both cores' heaps, compare them, print the answer.

use std::io::Write;

use heap_walkers::diff::{self, Grouping, Side};
use heap_walkers::HeldHeap;

use crate::args::{DiffArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let labels = [&args.old, &args.new].map(|p| p.display().to_string());
    let cores = [
        super::open_core(&args.old, &args.common)?,
        super::open_core(&args.new, &args.common)?,
    ];
    let mut heaps = Vec::with_capacity(2);
    for (core, label) in cores.iter().zip(&labels) {
        let what = format!("to compare in {label}");
        let mut heap = HeldHeap::walk(core, true).map_err(|e| super::no_heap(e, &what))?;
        if args.by == Grouping::Site {
            if heap.sites.is_none() {
                anyhow::bail!(
                    "--by site needs the allocation sites a jemalloc run with prof:true records; \
                     {label} holds none (use --by type or size)"
                );
            }
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
        eprintln!("heapmortem: {statement}");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        TextOrJson::Text => d.write_text(&mut out)?,
        TextOrJson::Json => d.write_json(&mut out)?,
    }
    out.flush()?;
    let mut outcome = Outcome::Complete;
    for ((label, heap), core) in labels.iter().zip(&heaps).zip(&cores) {
        if let Some(partial) = &heap.partial {
            eprintln!("heapmortem: {label}: {partial}");
            outcome = Outcome::Partial;
        }
        if super::outcome(core) == Outcome::Partial {
            outcome = Outcome::Partial;
        }
    }
    Ok(outcome)
}
