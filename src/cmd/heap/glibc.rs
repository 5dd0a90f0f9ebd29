//! `heapmortem heap` for glibc: walk, then render in the asked format.

use std::io::Write;

use heap_walkers::glibc::{self, WalkOptions};

use crate::args::{HeapArgs, HeapFormat};
use crate::Outcome;

pub fn run(process: &core_reader::Process, args: &HeapArgs) -> anyhow::Result<Outcome> {
    if args.format == HeapFormat::JemallocJson {
        anyhow::bail!(
            "--format jemalloc-json is for jemalloc heaps; this process used glibc malloc \
             (try --format malloc-info or json)"
        );
    }
    let options = WalkOptions {
        list: args.list.is_some() || super::wants_types(args),
        progress: true,
    };
    let heap = glibc::walk(process, &options)?;
    let types = super::types(process, args, heap.allocations.as_ref());
    let list = super::list_filter(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        HeapFormat::Text => {
            heap.write_text(&mut out)?;
            super::write_text_extras(&mut out, &heap, list, types.as_deref())?;
        }
        HeapFormat::Json => heap.write_json(&mut out, list, types.as_deref())?,
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
