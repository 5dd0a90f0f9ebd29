//! `heapmortem explain`: walk the heap with its allocations, build the graph, answer.

use std::io::Write;

use heap_walkers::explain::Explainer;
use heap_walkers::HeldHeap;

use crate::args::{ExplainArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: ExplainArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    let mut held = HeldHeap::walk(&process, true).map_err(|e| super::no_heap(e, "to look in"))?;
    profile_import::name_held_sites(&process, &mut held, &args.common);
    let explainer =
        Explainer::new(&process, &held.allocations, &held.roots).with_sites(held.sites.as_ref());
    let explanation = match explainer.explain(args.address) {
        Ok(e) => e,
        Err(unexplained) => {
            eprintln!("heapmortem: {unexplained}");
            return Ok(Outcome::Partial);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        TextOrJson::Text => explanation.write_text(&mut out)?,
        TextOrJson::Json => explanation.write_json(&mut out)?,
    }
    out.flush()?;
    Ok(super::outcome(&process))
}
