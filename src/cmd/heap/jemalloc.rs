//! `heapmortem heap` for jemalloc: walk the arenas, print them in the format asked.

use std::io::Write;

use heap_walkers::jemalloc;

use crate::args::{HeapArgs, HeapFormat};
use crate::Outcome;

pub fn run(process: &core_reader::Process, args: &HeapArgs) -> anyhow::Result<Outcome> {
    if args.format == HeapFormat::MallocInfo {
        anyhow::bail!(
            "--format malloc-info is glibc's malloc_info XML; this process used jemalloc: \
             use --format jemalloc-json (malloc_stats_print's JSON) or json"
        );
    }
    let options = jemalloc::Options {
        allocations: args.list.is_some() || super::wants_types(args),
    };
    let heap = jemalloc::walk_with(process, &options).map_err(|e| {
        if process.is_truncated() {
            anyhow::anyhow!("{e} (the core is truncated: what is missing was cut off)")
        } else {
            anyhow::Error::new(e)
        }
    })?;
    for n in &heap.notes {
        eprintln!("heapmortem: note: {n}");
    }
    for p in &heap.problems {
        eprintln!("heapmortem: warning: {}", p.message);
    }
    let summary = heap.summary();
    let types = super::types(process, args, summary.allocations.as_ref());
    let list = super::list_filter(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        HeapFormat::Text => {
            heap.write_text(&mut out)?;
            super::write_text_extras(&mut out, &summary, list, types.as_deref())?;
        }
        HeapFormat::Json => summary.write_json(&mut out, list, types.as_deref())?,
        HeapFormat::JemallocJson => {
            serde_json::to_writer_pretty(&mut out, &heap.to_stats_json())?;
            writeln!(out)?;
        }
        HeapFormat::MallocInfo => unreachable!("refused above"),
    }
    out.flush()?;
    let partial = !heap.problems.is_empty() || super::super::outcome(process) == Outcome::Partial;
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}
