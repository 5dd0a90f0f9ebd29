//! Findings: fragmentation that looks like a leak, and corruption.

use super::model::GlibcHeap;
use crate::{Finding, Severity};
use core_reader::human_bytes as bytes;

/// Holes must add up to at least this much before fragmentation is worth a finding.
const MIN_TRAPPED: u64 = 1 << 20;

/// The findings the figures support, and none when the heap is healthy.
pub(crate) fn findings(h: &GlibcHeap) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(f) = fragmentation(h) {
        out.push(f);
    }
    out.extend(Finding::corruption(
        &h.problems,
        &format!(
            "; {} bytes could not be walked. Something wrote past an allocation or freed one \
             twice: run the workload under valgrind, or with \
             GLIBC_TUNABLES=glibc.malloc.check=3, to catch it in the act",
            h.detail.skipped_bytes
        ),
    ));
    out
}

/// "Fragmentation, not a leak": free memory trapped below chunks in use dominates the heap.
fn fragmentation(h: &GlibcHeap) -> Option<Finding> {
    let trapped: u64 = h.arenas.iter().map(|a| a.detail.hole_bytes).sum();
    let holes: u64 = h.arenas.iter().map(|a| a.detail.holes_count).sum();
    let below_top: u64 = h
        .arenas
        .iter()
        .map(|a| a.figures.in_use_bytes + a.figures.free_bytes)
        .sum();
    // Dominates: at least half of everything below the tops is trapped in holes.
    if trapped < MIN_TRAPPED || trapped.saturating_mul(2) < below_top {
        return None;
    }
    let trim: u64 = h.arenas.iter().map(|a| a.figures.trimmable_bytes).sum();
    let worst = h.arenas.iter().max_by_key(|a| a.detail.hole_bytes)?;
    let largest = h
        .arenas
        .iter()
        .flat_map(|a| a.detail.holes.iter())
        .max_by_key(|x| x.size)?;
    let pin = match (largest.pinned_by, largest.pinned_size) {
        (Some(p), Some(s)) => format!(
            "the chunk at {p:#x} ({} in use) pins the largest hole ({} at {:#x})",
            bytes(s),
            bytes(largest.size),
            largest.address
        ),
        _ => format!(
            "the largest hole ({} at {:#x}) sits at the end of an old heap",
            bytes(largest.size),
            largest.address
        ),
    };
    // About the whole heap (the worst arena is named in the sentence), so no `arena`.
    Some(Finding {
        severity: Severity::Warning,
        code: "fragmentation",
        arena: None,
        message: format!(
            "fragmentation, not a leak: {} free in {holes} holes between chunks in use ({}% of \
             the heap below the top; arena {} at {:#x} holds {}); malloc_trim(0) could return {}; \
             {pin}. glibc cannot give back memory below a live chunk: allocate long-lived \
             buffers at their final size (copy instead of shrinking with realloc), call \
             malloc_trim(0) after bursts, or lower M_MMAP_THRESHOLD so big buffers get their own \
             mmap",
            bytes(trapped),
            trapped.saturating_mul(100) / below_top.max(1),
            worst.index,
            worst.address,
            bytes(worst.detail.hole_bytes),
            bytes(trim),
        ),
    })
}
