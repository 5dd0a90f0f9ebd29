//! `heapmortem heap` for jemalloc: walk the arenas, print them in the format asked.
//!
//! Interim glue: the neutral summary is written with serde_json and `--list` as before,
//! until one writer serves every allocator.

use std::io::Write;

use heap_walkers::jemalloc;
use heap_walkers::{Allocation, ListFilter};

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
    // `used`: what the program holds; `free`: free regions and extents, and what sits in
    // thread caches (freed by the program, still allocated for jemalloc).
    let filter = args.list.map(|l| match l {
        ListKind::Used => ListFilter::Used,
        ListKind::Free => ListFilter::Free,
        ListKind::All => ListFilter::All,
    });
    let list: Option<Vec<&Allocation>> = filter.and_then(|f| {
        let all = summary.allocations.as_ref()?;
        Some(all.iter().filter(|a| f.keeps(a)).collect())
    });
    // The arena's own index, as jemalloc numbers it.
    let arena_index = |a: &Allocation| summary.arena_of(a).map_or(a.arena, |arena| arena.index);
    let mut out = std::io::stdout().lock();
    match args.format {
        HeapFormat::Text => {
            heap.write_text(&mut out)?;
            if let Some(list) = &list {
                writeln!(out)?;
                writeln!(out, "{} allocations:", list.len())?;
                writeln!(
                    out,
                    "{:>18} {:>12} {:>7} {:>5}",
                    "address", "size", "state", "arena"
                )?;
                for a in list {
                    writeln!(
                        out,
                        "{:>#18x} {:>12} {:>7} {:>5}",
                        a.address,
                        a.size,
                        a.state.name(),
                        arena_index(a)
                    )?;
                }
            }
        }
        HeapFormat::Json => {
            let doc = WithList {
                heap: &summary,
                allocations: list.as_ref().map(|list| {
                    list.iter()
                        .map(|a| Row {
                            address: a.address,
                            size: a.size,
                            state: a.state.name(),
                            arena: arena_index(a),
                        })
                        .collect()
                }),
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
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

/// The summary with the `--list` rows after it.
#[derive(serde::Serialize)]
struct WithList<'a, T> {
    #[serde(flatten)]
    heap: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    allocations: Option<Vec<Row>>,
}

#[derive(serde::Serialize)]
struct Row {
    #[serde(serialize_with = "core_reader::hex::serialize")]
    address: u64,
    size: u64,
    state: &'static str,
    arena: u32,
}
