//! `MallocExtension::GetStats()`'s text, and the findings on what tcmalloc holds.

use std::io::{self, Write};

use super::Heap;
use crate::{Finding, Severity};

const MIB: f64 = 1048576.0;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

impl super::Stats {
    /// The byte figures of `GetStats()`'s "MALLOC:" block, in its order and with its labels
    /// (gperftools 2.10 src/tcmalloc.cc `DumpStats`); None where the walk could not find the
    /// figure.
    pub fn malloc_block(&self) -> [(&'static str, Option<u64>); 9] {
        [
            (
                "Bytes in use by application",
                Some(self.bytes_in_use_by_application),
            ),
            (
                "Bytes in page heap freelist",
                Some(self.page_heap_freelist_bytes),
            ),
            (
                "Bytes in central cache freelist",
                Some(self.central_cache_freelist_bytes),
            ),
            (
                "Bytes in transfer cache freelist",
                Some(self.transfer_cache_freelist_bytes),
            ),
            (
                "Bytes in thread cache freelists",
                Some(self.thread_cache_freelist_bytes),
            ),
            ("Bytes in malloc metadata", self.metadata_bytes),
            (
                "Actual memory used (physical + swap)",
                self.actual_memory_used,
            ),
            (
                "Bytes released to OS (aka unmapped)",
                Some(self.released_to_os_bytes),
            ),
            (
                "Virtual address space used",
                self.virtual_address_space_used,
            ),
        ]
    }
}

impl Heap {
    /// Writes what `MallocExtension::GetStats()` writes into a buffer of 10000 bytes or
    /// more: gperftools 2.10 src/tcmalloc.cc `DumpStats` at level 2, line for line. A
    /// figure the walk could not find (metadata, spans in use) is written as 0 and named
    /// among the notes.
    pub fn write_stats(&self, w: &mut dyn Write) -> io::Result<()> {
        let s = &self.detail.stats;
        let page_size = self.detail.page_size.max(1);
        let pages_mib = |pages: u64| mib(pages.wrapping_mul(page_size));
        let line = "------------------------------------------------";
        writeln!(w, "{line}")?;
        let signs = ["  ", "+ ", "+ ", "+ ", "+ ", "+ ", "= ", "+ ", "= "];
        for (i, ((label, v), sign)) in s.malloc_block().into_iter().zip(signs).enumerate() {
            if i == 6 || i == 8 {
                writeln!(w, "MALLOC:   ------------")?;
            }
            let v = v.unwrap_or(0);
            writeln!(w, "MALLOC: {sign}{v:>12} ({:>7.1} MiB) {label}", mib(v))?;
        }
        writeln!(w, "MALLOC:")?;
        for (v, label) in [
            (s.spans_in_use.unwrap_or(0), "Spans in use"),
            (s.thread_heaps_in_use.unwrap_or(0), "Thread heaps in use"),
            (self.detail.page_size, "Tcmalloc page size"),
        ] {
            writeln!(w, "MALLOC:   {v:>12}              {label}")?;
        }
        writeln!(w, "{line}")?;
        writeln!(
            w,
            "Call ReleaseFreeMemory() to release freelist memory to the OS (via madvise())."
        )?;
        writeln!(
            w,
            "Bytes released to the OS take up virtual address space but no physical memory."
        )?;
        writeln!(w, "{line}")?;
        writeln!(w, "Total size of freelists for per-thread caches,")?;
        writeln!(w, "transfer cache, and central cache, by size class")?;
        writeln!(w, "{line}")?;
        let (mut cum, mut cum_overhead) = (0u64, 0u64);
        for c in &self.detail.classes {
            let bytes = c.objects.wrapping_mul(c.size);
            cum = cum.wrapping_add(bytes);
            cum_overhead = cum_overhead.wrapping_add(c.overhead_bytes);
            writeln!(
                w,
                "class {:>3} [ {:>8} bytes ] : {:>8} objs; {:>5.1} MiB; {:>5.1} cum MiB; \
                 {:>8.3} overhead MiB; {:>8.3} cum overhead MiB",
                c.class,
                c.size,
                c.objects,
                mib(bytes),
                mib(cum),
                mib(c.overhead_bytes),
                mib(cum_overhead)
            )?;
        }
        writeln!(w, "{line}")?;
        writeln!(
            w,
            "PageHeap: {} sizes; {:>6.1} MiB free; {:>6.1} MiB unmapped",
            self.detail.free_spans.len(),
            mib(s.page_heap_freelist_bytes),
            mib(s.released_to_os_bytes)
        )?;
        writeln!(w, "{line}")?;
        let (mut total_normal, mut total_returned) = (0u64, 0u64);
        for r in &self.detail.free_spans {
            let (n, ret) = (r.pages * r.normal, r.pages * r.returned);
            total_normal += n;
            total_returned += ret;
            writeln!(
                w,
                "{:>6} pages * {:>6} spans ~ {:>6.1} MiB; {:>6.1} MiB cum; unmapped: {:>6.1} MiB; \
                 {:>6.1} MiB cum",
                r.pages,
                r.normal + r.returned,
                pages_mib(n + ret),
                pages_mib(total_normal + total_returned),
                pages_mib(ret),
                pages_mib(total_returned)
            )?;
        }
        let l = &self.detail.large_free_spans;
        total_normal += l.normal_pages;
        total_returned += l.returned_pages;
        writeln!(
            w,
            ">{:<5} large * {:>6} spans ~ {:>6.1} MiB; {:>6.1} MiB cum; unmapped: {:>6.1} MiB; \
             {:>6.1} MiB cum",
            // kMaxPages: 1 MiB of pages (src/common.h).
            (1 << 20) / page_size,
            l.spans,
            pages_mib(l.normal_pages + l.returned_pages),
            pages_mib(total_normal + total_returned),
            pages_mib(l.returned_pages),
            pages_mib(total_returned)
        )
    }

    /// The terminal view: the "MALLOC:" block, then the thread caches.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "tcmalloc (gperftools {}), page heap at {:#x}; layout: {}",
            self.version.as_deref().unwrap_or("?"),
            self.arenas.first().map_or(0, |a| a.address),
            self.detail.layout
        )?;
        let s = &self.detail.stats;
        for (label, v) in [
            ("in use by the program", Some(s.bytes_in_use_by_application)),
            (
                "page heap free (resident)",
                Some(s.page_heap_freelist_bytes),
            ),
            ("central cache free", Some(s.central_cache_freelist_bytes)),
            ("transfer cache free", Some(s.transfer_cache_freelist_bytes)),
            ("thread caches free", Some(s.thread_cache_freelist_bytes)),
            ("metadata", s.metadata_bytes),
            ("released to the system", Some(s.released_to_os_bytes)),
        ] {
            match v {
                Some(v) => writeln!(w, "  {label:<28} {v:>14} ({:.1} MiB)", mib(v))?,
                None => writeln!(w, "  {label:<28} {:>14}", "unknown")?,
            }
        }
        writeln!(
            w,
            "\n{:>18} {:>10} {:>12} {:>10}",
            "thread cache", "tid", "bytes", "objects"
        )?;
        for t in &self.detail.thread_caches {
            let tid = t.tid.map_or("-".to_string(), |t| t.to_string());
            writeln!(
                w,
                "{:>#18x} {tid:>10} {:>12} {:>10}",
                t.address, t.bytes, t.objects
            )?;
        }
        for f in &self.findings {
            writeln!(w, "\nfinding: {}", f.message)?;
        }
        Ok(())
    }
}

/// Share of the memory tcmalloc holds (in use excluded) above which a holder is named.
const SHARE: f64 = 0.10;
/// Below this, nothing held is worth a finding.
const FLOOR: u64 = 1 << 20;

/// What tcmalloc holds without returning it: thread caches, the central and transfer
/// caches, the page heap's resident free spans (gperftools' docs/tcmalloc.html,
/// "Modifying Runtime Behavior" and "Caveats").
pub(super) fn findings(heap: &Heap) -> Vec<Finding> {
    let s = &heap.detail.stats;
    let resident = s
        .bytes_in_use_by_application
        .wrapping_add(s.page_heap_freelist_bytes)
        .wrapping_add(s.central_cache_freelist_bytes)
        .wrapping_add(s.transfer_cache_freelist_bytes)
        .wrapping_add(s.thread_cache_freelist_bytes)
        .max(1);
    let share = |b: u64| b as f64 / resident as f64;
    let mut out = Vec::new();
    let thread = s.thread_cache_freelist_bytes;
    if thread >= FLOOR && share(thread) >= SHARE {
        let n = heap.detail.thread_caches.len();
        let limit = heap
            .detail
            .max_total_thread_cache_bytes
            .map(|b| format!(" (the limit is {:.1} MiB)", mib(b)))
            .unwrap_or_default();
        out.push(Finding {
            severity: Severity::Warning,
            code: "thread_caches_hold_memory",
            arena: Some(0),
            message: format!(
                "{n} thread caches hold {:.1} MiB of freed objects ({:.0}% of resident heap \
                 memory){limit}; they return them only when a thread exits or its cache \
                 overflows: lower TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES (or \
                 MallocExtension::SetNumericProperty(\"tcmalloc.max_total_thread_cache_bytes\")), \
                 or call MallocExtension::MarkThreadIdle() in threads that go idle",
                mib(thread),
                100.0 * share(thread)
            ),
        });
    }
    let central = s
        .central_cache_freelist_bytes
        .wrapping_add(s.transfer_cache_freelist_bytes);
    if central >= FLOOR && share(central) >= SHARE {
        out.push(Finding {
            severity: Severity::Info,
            code: "central_caches_hold_memory",
            arena: Some(0),
            message: format!(
                "the central and transfer caches hold {:.1} MiB of free objects ({:.0}% of \
                 resident heap memory) in spans that still have objects in use: tcmalloc \
                 returns a span to the page heap only when all its objects are free \
                 (fragmentation by size class, not a leak)",
                mib(central),
                100.0 * share(central)
            ),
        });
    }
    let free = s.page_heap_freelist_bytes;
    if free >= FLOOR && share(free) >= SHARE {
        let rate = heap
            .detail
            .release_rate
            .map(|r| format!(" (TCMALLOC_RELEASE_RATE is {r})"))
            .unwrap_or_default();
        out.push(Finding {
            severity: Severity::Warning,
            code: "page_heap_not_released",
            arena: Some(0),
            message: format!(
                "the page heap holds {:.1} MiB of free spans still resident ({:.0}% of \
                 resident heap memory) and has returned {:.1} MiB to the system{rate}: \
                 MallocExtension::ReleaseFreeMemory() returns them now; a higher \
                 TCMALLOC_RELEASE_RATE returns them sooner (0 never)",
                mib(free),
                100.0 * share(free),
                mib(s.released_to_os_bytes)
            ),
        });
    }
    out.extend(Finding::corruption(
        &heap.problems,
        ". Something wrote over a freed object or freed one twice: run the workload under \
         valgrind, or linked with gperftools' checking build (-ltcmalloc_debug), to catch it \
         in the act",
    ));
    out
}
