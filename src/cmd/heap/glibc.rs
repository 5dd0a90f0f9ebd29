//! `heapmortem heap` for glibc: walk, then render in the asked format.

use std::io::Write;

use heap_walkers::glibc::{self, ListFilter, WalkOptions};

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
        HeapFormat::Text => heap.write_text(&mut out, list)?,
        HeapFormat::Json => heap.write_json(&mut out, list)?,
        HeapFormat::MallocInfo => heap.write_malloc_info(&mut out)?,
        HeapFormat::JemallocJson => unreachable!("refused above"),
    }
    out.flush()?;
    if heap.is_partial() {
        eprintln!(
            "heapmortem: the heap could be walked only in part ({} problem{}; {} bytes skipped)",
            heap.problems.len(),
            if heap.problems.len() == 1 { "" } else { "s" },
            heap.skipped_bytes
        );
        return Ok(Outcome::Partial);
    }
    Ok(super::super::outcome(process))
}
