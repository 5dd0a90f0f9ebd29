//! `heapmortem heap` for glibc: walk, then render in the asked format.

use std::io::Write;

use core_reader::hex;
use heap_walkers::glibc::{self, GlibcHeap, WalkOptions};
use heap_walkers::ListFilter;
use serde::Serialize;

use crate::args::{HeapArgs, HeapFormat, ListKind};
use crate::Outcome;

pub fn run(process: &core_reader::Process, args: &HeapArgs) -> anyhow::Result<Outcome> {
    if args.format == HeapFormat::JemallocJson {
        anyhow::bail!(
            "--format jemalloc-json is for jemalloc heaps; this process used glibc malloc \
             (try --format malloc-info or json)"
        );
    }
    let options = WalkOptions {
        list: args.list.is_some(),
        progress: true,
    };
    let heap = glibc::walk(process, &options)?;
    let list = args.list.map(|l| match l {
        ListKind::Used => ListFilter::Used,
        ListKind::Free => ListFilter::Free,
        ListKind::All => ListFilter::All,
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        HeapFormat::Text => {
            heap.write_text(&mut out)?;
            if let Some(filter) = list {
                write_list(&mut out, &heap, filter)?;
            }
        }
        HeapFormat::Json => {
            let doc = Json {
                heap: &heap,
                allocations: list.map(|filter| Listed(&heap, filter)),
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        HeapFormat::MallocInfo => heap.write_malloc_info(&mut out)?,
        HeapFormat::JemallocJson => unreachable!("refused above"),
    }
    out.flush()?;
    if heap.is_partial() {
        eprintln!(
            "heapmortem: the heap could be walked only in part ({} problem{}; {} bytes skipped)",
            heap.problems.len(),
            if heap.problems.len() == 1 { "" } else { "s" },
            heap.detail.skipped_bytes
        );
        return Ok(Outcome::Partial);
    }
    Ok(super::super::outcome(process))
}

// Until the neutral `--list` / JSON writer lands: the heap, then `allocations` the way the
// glibc writer listed them (the arena by address, `null` for mmapped chunks; `top` and
// `mmapped` present only when true).

#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    heap: &'a GlibcHeap,
    #[serde(skip_serializing_if = "Option::is_none")]
    allocations: Option<Listed<'a>>,
}

/// The allocations a filter keeps, serialized as they stream (a listing of millions of
/// chunks is never built as a tree).
struct Listed<'a>(&'a GlibcHeap, ListFilter);

impl Serialize for Listed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Listed(heap, filter) = *self;
        s.collect_seq(
            heap.allocations
                .iter()
                .flatten()
                .filter(|a| filter.keeps(a))
                .map(|a| Entry {
                    address: a.address,
                    size: a.size,
                    state: a.state.name(),
                    arena: heap.arena_of(a).map(|arena| arena.address),
                    top: a.is_top(),
                    mmapped: a.is_mmapped(),
                }),
        )
    }
}

#[derive(Serialize)]
struct Entry {
    #[serde(serialize_with = "hex::serialize")]
    address: u64,
    size: u64,
    state: &'static str,
    #[serde(serialize_with = "hex::serialize_opt")]
    arena: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    top: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mmapped: bool,
}

fn write_list(w: &mut dyn Write, heap: &GlibcHeap, filter: ListFilter) -> std::io::Result<()> {
    writeln!(w, "\n{:>18} {:>12} {:<8} arena", "address", "size", "state")?;
    for a in heap
        .allocations
        .iter()
        .flatten()
        .filter(|a| filter.keeps(a))
    {
        writeln!(
            w,
            "{:>#18x} {:>12} {:<8} {}",
            a.address,
            a.size,
            a.state.name(),
            match heap.arena_of(a) {
                Some(arena) => format!(
                    "{:#x}{}",
                    arena.address,
                    if a.is_top() { " (top)" } else { "" }
                ),
                None => "mmapped".to_string(),
            }
        )?;
    }
    Ok(())
}
