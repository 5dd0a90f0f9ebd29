//! `heapmortem explain`: walk the heap with its allocations, build the graph, answer.

use heap_walkers::explain::Explainer;

use crate::args::{ExplainArgs, TextOrJson};
use crate::Outcome;

pub fn run(args: ExplainArgs) -> anyhow::Result<Outcome> {
    let (source, address) = args.input().map_err(anyhow::Error::msg)?;
    let process = super::open(&source, &args.common)?;
    let mut held = super::held(&process, "to look in")?;
    profile_import::name_held_sites(&process, &mut held, &args.common);
    // The explainer keeps what it needs of the walk's table, and frees it.
    let allocations = std::mem::take(&mut held.allocations);
    let explainer =
        Explainer::new(&process, allocations, &held.roots).with_sites(held.sites.as_ref());
    let explanation = match explainer.explain(address) {
        Ok(e) => e,
        Err(unexplained) => {
            super::say(&unexplained.to_string());
            // What the core or the walk lost may be why: said too.
            super::outcome(&process, held.partial.as_deref());
            return Ok(Outcome::Partial);
        }
    };
    super::write_out(None, |out| match args.format {
        TextOrJson::Text => explanation.write_text(out),
        TextOrJson::Json => explanation.write_json(out),
    })?;
    Ok(super::outcome(&process, held.partial.as_deref()))
}
