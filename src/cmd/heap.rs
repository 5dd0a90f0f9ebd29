//! `heapmortem heap`: walk the allocator the process used, print the format asked.

use std::io::Write;

use heap_walkers::{glibc, jemalloc, Allocator, ArenaDetail, Heap, ListFilter};

use crate::args::{GroupBy, HeapArgs, HeapFormat, ListKind};
use crate::Outcome;

/// Rows of the terminal's type table.
const TYPE_ROWS: usize = 20;

pub fn run(args: HeapArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    let list = args.list.map(|l| match l {
        ListKind::Used => ListFilter::Used,
        ListKind::Free => ListFilter::Free,
        ListKind::All => ListFilter::All,
    });
    let listed = list.is_some() || args.by == Some(GroupBy::Type);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let partial = match Allocator::detect(&process) {
        allocator @ (Allocator::Glibc | Allocator::Unknown) => {
            if args.format == HeapFormat::JemallocJson {
                anyhow::bail!(
                    "--format jemalloc-json is for jemalloc heaps; this process used glibc \
                     malloc (try --format malloc-info or json)"
                );
            }
            let options = glibc::WalkOptions {
                list: listed,
                progress: true,
            };
            let heap = glibc::walk(&process, &options).map_err(|e| {
                let e = anyhow::Error::new(e);
                // A stripped static executable names no allocator; glibc's arenas were
                // looked for in the core alone.
                match allocator {
                    Allocator::Unknown => e.context(
                        "no allocator could be recognised from the modules (stripped static \
                         executable?), and no glibc arena was found in the core",
                    ),
                    _ => e,
                }
            })?;
            match args.format {
                HeapFormat::MallocInfo => heap.write_malloc_info(&mut out)?,
                HeapFormat::Text => heap.write_text(&mut out)?,
                _ => {}
            }
            write_neutral(&mut out, &process, &heap, &args, list)?;
            heap.walked_in_part()
        }
        Allocator::Jemalloc => {
            if args.format == HeapFormat::MallocInfo {
                anyhow::bail!(
                    "--format malloc-info is glibc's malloc_info XML; this process used \
                     jemalloc: use --format jemalloc-json (malloc_stats_print's JSON) or json"
                );
            }
            let options = jemalloc::Options {
                allocations: listed,
            };
            let heap = jemalloc::walk_with(&process, &options).map_err(|e| {
                // The walker names a truncation that took jemalloc's own data.
                if process.is_truncated() && !matches!(e, jemalloc::Error::Truncated(_)) {
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
            match args.format {
                HeapFormat::JemallocJson => {
                    serde_json::to_writer_pretty(&mut out, &heap.to_stats_json())?;
                    writeln!(out)?;
                }
                HeapFormat::Text => heap.write_text(&mut out)?,
                _ => {}
            }
            write_neutral(&mut out, &process, &heap.summary(), &args, list)?;
            // Each problem was said above.
            (!heap.problems.is_empty()).then(String::new)
        }
        other => anyhow::bail!(
            "the process used the {} allocator, which `heap` cannot walk (glibc and jemalloc only)",
            other.name()
        ),
    };
    out.flush()?;
    match partial {
        Some(sentence) => {
            if !sentence.is_empty() {
                eprintln!("heapmortem: {sentence}");
            }
            Ok(Outcome::Partial)
        }
        None => Ok(super::outcome(&process)),
    }
}

/// What every allocator's heap shows alike: the JSON document, and after the allocator's own
/// text the types (`--by type`) and the listing (`--list`).
fn write_neutral<D: serde::Serialize, A: ArenaDetail>(
    out: &mut dyn Write,
    process: &core_reader::Process,
    heap: &Heap<D, A>,
    args: &HeapArgs,
    list: Option<ListFilter>,
) -> std::io::Result<()> {
    let types = match (args.by, &heap.allocations) {
        (Some(GroupBy::Type), Some(allocations)) => {
            Some(heap_walkers::types::by_type(process, allocations))
        }
        _ => None,
    };
    match args.format {
        HeapFormat::Json => {
            heap.write_json(out, list, types.as_deref(), args.by == Some(GroupBy::Size))
        }
        HeapFormat::Text => {
            if let Some(rows) = &types {
                heap_walkers::types::write_types_text(out, rows, TYPE_ROWS)?;
            }
            if args.by == Some(GroupBy::Size) {
                heap.write_size_classes(out)?;
            }
            match list {
                Some(filter) => heap.write_list(out, filter),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
