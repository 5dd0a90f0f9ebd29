//! `heapmortem heap` for jemalloc: walk the arenas, print them in the format asked.

use std::io::Write;

use heap_walkers::jemalloc::{self, Allocation, State};

use crate::args::{HeapArgs, HeapFormat, ListKind};
use crate::Outcome;

pub fn run(process: &core_reader::Process, args: &HeapArgs) -> anyhow::Result<Outcome> {
    if args.format == HeapFormat::MallocInfo {
        anyhow::bail!(
            "--format malloc-info is glibc's malloc_info XML; this process used jemalloc: \
             use --format jemalloc-json (malloc_stats_print's JSON) or json"
        );
    }
    let options = jemalloc::Options {
        allocations: args.list.is_some(),
    };
    let mut heap = jemalloc::walk_with(process, &options).map_err(|e| {
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
        eprintln!("heapmortem: warning: {p}");
    }
    // `used`: what the program holds; `free`: free regions and extents, and what sits in
    // thread caches (freed by the program, still allocated for jemalloc).
    if let (Some(kind), Some(list)) = (args.list, heap.allocations.as_mut()) {
        list.retain(|a| match kind {
            ListKind::Used => a.state == State::Used,
            ListKind::Free => a.state != State::Used,
            ListKind::All => true,
        });
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        HeapFormat::Text => {
            heap.write_text(&mut out)?;
            if let Some(list) = &heap.allocations {
                write_list(&mut out, list)?;
            }
        }
        HeapFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &heap.summary())?;
            writeln!(out)?;
        }
        HeapFormat::JemallocJson => {
            serde_json::to_writer_pretty(&mut out, &heap.to_stats_json())?;
            writeln!(out)?;
        }
        HeapFormat::MallocInfo => unreachable!("refused above"),
    }
    let partial = !heap.problems.is_empty() || super::super::outcome(process) == Outcome::Partial;
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

fn write_list(out: &mut dyn Write, list: &[Allocation]) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{} allocations:", list.len())?;
    writeln!(
        out,
        "{:>18} {:>12} {:>7} {:>5}",
        "address", "size", "state", "arena"
    )?;
    for a in list {
        let state = match a.state {
            State::Used => "used",
            State::Free => "free",
            State::Tcache => "tcache",
            _ => "?",
        };
        writeln!(
            out,
            "{:>#18x} {:>12} {:>7} {:>5}",
            a.address, a.size, state, a.arena
        )?;
    }
    Ok(())
}
