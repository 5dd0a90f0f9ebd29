//! `heapmortem leaks`: walk the heap, mark what the roots reach, report the rest.

use std::io::Write;

use heap_walkers::Allocator;
use heap_walkers::{glibc, leaks};

use crate::args::{LeaksArgs, TextOrJson};
use crate::Outcome;

/// Groups the text output shows.
const TOP_GROUPS: usize = 10;

pub fn run(args: LeaksArgs) -> anyhow::Result<Outcome> {
    let process = super::open_core(&args.core, &args.common)?;
    match heap_walkers::Allocator::detect(&process) {
        Allocator::Glibc => {}
        // A stripped static executable names no allocator: try glibc's arenas anyway.
        Allocator::Unknown => {}
        // The jemalloc walker enumerates its regions too; the roots are still to be built.
        Allocator::Jemalloc => return super::not_built("`heapmortem leaks` on a jemalloc heap"),
        other => anyhow::bail!(
            "the process used the {} allocator; `leaks` can check glibc heaps only so far",
            other.name()
        ),
    }
    let options = glibc::WalkOptions {
        list: true,
        progress: true,
    };
    let heap = glibc::walk(&process, &options)
        .map_err(|e| anyhow::Error::new(e).context("no glibc heap to check for leaks"))?;
    let roots = leaks::glibc_roots(&process, &heap);
    let report = leaks::find_leaks(&process, leaks::glibc_blocks(&heap), &roots);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        TextOrJson::Text => report.write_text(&mut out, TOP_GROUPS)?,
        TextOrJson::Json => report.write_json(&mut out, "glibc")?,
    }
    out.flush()?;
    if heap.is_partial() {
        eprintln!(
            "heapmortem: the heap could be walked only in part ({} problem{}; {} bytes \
             skipped): blocks in the skipped part were not checked, and pointers held there \
             were missed",
            heap.problems.len(),
            if heap.problems.len() == 1 { "" } else { "s" },
            heap.detail.skipped_bytes
        );
        return Ok(Outcome::Partial);
    }
    Ok(super::outcome(&process))
}
