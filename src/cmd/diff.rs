//! `heapmortem diff`: walk both cores' heaps, compare them, print the answer.

use std::io::Write;

use heap_walkers::diff::{self, Grouping, ProgramMatch, Side};
use heap_walkers::HeldHeap;

use crate::args::{DiffArgs, DiffBy, TextOrJson};
use crate::Outcome;

pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let by = match args.by {
        DiffBy::Type => Grouping::Type,
        DiffBy::Size => Grouping::Size,
        DiffBy::Site => anyhow::bail!(
            "--by site needs allocation sites, which only cores of jemalloc run with prof:true \
             hold, read on both sides; this build does not read them yet (use --by type or size)"
        ),
    };
    let old = super::open_core(&args.old, &args.common)?;
    let new = super::open_core(&args.new, &args.common)?;
    let walk = |p: &core_reader::Process| {
        HeldHeap::walk(p, true).map_err(|e| super::no_heap(e, "to compare"))
    };
    let (old_heap, new_heap) = (walk(&old)?, walk(&new)?);
    let (old_label, new_label) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    let side = |label, target, heap| Side {
        label,
        target,
        heap,
    };
    let d = diff::diff(
        side(&old_label, &old, &old_heap),
        side(&new_label, &new, &new_heap),
        by,
    );
    // Said before the output, so that it is seen even when the output is piped away.
    if matches!(
        d.program_match,
        ProgramMatch::OtherProgram | ProgramMatch::OtherBuild
    ) {
        if let Some(f) = d.findings.first() {
            eprintln!("heapmortem: {}", f.message);
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        TextOrJson::Text => d.write_text(&mut out)?,
        TextOrJson::Json => d.write_json(&mut out)?,
    }
    out.flush()?;
    let mut outcome = Outcome::Complete;
    for (label, heap, process) in [(&old_label, &old_heap, &old), (&new_label, &new_heap, &new)] {
        if let Some(partial) = &heap.partial {
            eprintln!("heapmortem: {label}: {partial}");
            outcome = Outcome::Partial;
        }
        if super::outcome(process) == Outcome::Partial {
            outcome = Outcome::Partial;
        }
    }
    Ok(outcome)
}
