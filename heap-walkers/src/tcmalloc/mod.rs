//! gperftools' tcmalloc: the page heap (spans in use, on the normal and the returned free
//! lists), the size classes, the central free lists and their transfer caches, every
//! thread's cache, rebuilt from a core and shown the way `MallocExtension::GetStats()`
//! shows them.
//!
//! - [`walk`] finds tcmalloc in a [`Target`] (a `libtcmalloc*` library, linked or
//!   `LD_PRELOAD`ed, or linked statically), reads its statics — by symbol where the build
//!   kept them, by content otherwise (Debian's libraries are stripped) — and returns the
//!   allocator-neutral [`crate::Heap`] with tcmalloc's own figures ([`TcmallocDetail`],
//!   [`PageHeapArena`]): one arena, the page heap.
//! - [`Heap::write_stats`](crate::Heap) (`heap --format tcmalloc-stats`) prints the text
//!   `MallocExtension::GetStats()` prints with a buffer of 10000 bytes or more (the
//!   "MALLOC:" block, the per-size-class table, the page heap's free spans), from the same
//!   counters.
//! - With allocations listed, every object of every small span (in use, in a thread cache,
//!   free in the central cache or a transfer cache), every large allocation and every free
//!   span, for `--list`, the leak check, types and `explain`.
//! - Findings: memory the thread caches and the page heap hold without returning it to the
//!   system, with gperftools' remedies.
//!
//! Supported: gperftools 2.10 on Linux x86_64 and aarch64 (the same layouts): with the
//! library's DWARF, any build configuration its classes describe; without it (Debian's
//! libtcmalloc.so.4 and libtcmalloc_minimal.so.4, both stripped), the default build with any
//! page size (`--with-tcmalloc-pagesize`, which only moves the page heap's members), with the
//! layouts of [`layout`] read from gperftools' sources. Either way the page heap (and, found by
//! content, the size map) is checked against the contents before use: the page size a
//! stripped build was made with is the one whose page heap fits.
#![doc = include_str!("json-schema.md")]

mod discover;
pub mod layout;
mod stats;
mod walk;

use core_reader::{Diagnostic, Memory, Target};
use serde::Serialize;

use crate::{Allocation, AllocationState, Allocations, Arena, ArenaFigures, SizeClass};
use layout::{span as span_layout, Layout};

/// A walked tcmalloc heap: the neutral model with tcmalloc's own figures.
pub type Heap = crate::Heap<TcmallocDetail, PageHeapArena>;

/// Why a tcmalloc heap could not be walked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tcmalloc module.
    #[error("no tcmalloc in the process (no libtcmalloc library, no tc_malloc symbol)")]
    NotFound,
    /// A version without a built-in layout.
    #[error(
        "gperftools {0} has no built-in layout in this heapmortem (built in: 2.10 on Linux \
         x86_64 and aarch64)"
    )]
    UnsupportedVersion(String),
    /// The statics were not recognized with the built-in layout (and no DWARF was at hand).
    #[error(
        "tcmalloc's size map, central cache or page heap in {0} does not match gperftools \
         2.10's built-in layout (the default build, with any page size from 4 to 256 KiB): \
         a build with other options (e.g. TCMALLOC_SMALL_BUT_SLOW) needs gperftools' DWARF \
         (the library built with -g), or the library's data is not in the core"
    )]
    NotRecognized(String),
    /// The statics were not recognized with the layout of the library's DWARF.
    #[error(
        "tcmalloc's size map, central cache or page heap was not recognized in {0} with the \
         layout its DWARF gives (the library's data is not in the core?)"
    )]
    NotRecognizedWithDwarf(String),
}

/// What a walk does beyond the figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also list every allocation, free object and free span.
    pub allocations: bool,
}

/// tcmalloc's own figures for the whole heap.
#[derive(Debug, Clone, Serialize)]
pub struct TcmallocDetail {
    /// Where the layouts came from.
    pub layout: String,
    /// `kPageSize`.
    pub page_size: u64,
    /// The "MALLOC:" block of `GetStats()`, figure by figure.
    pub stats: Stats,
    /// Every size class with free objects in a cache: `GetStats()`'s table.
    pub classes: Vec<ClassStats>,
    /// Free spans of each length up to kMaxPages pages.
    pub free_spans: Vec<FreeSpans>,
    /// Free spans longer than kMaxPages pages.
    pub large_free_spans: LargeSpans,
    /// Every thread's cache.
    pub thread_caches: Vec<ThreadCacheStats>,
    /// `TCMALLOC_RELEASE_RATE` as the process read it (`FLAGS_tcmalloc_release_rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_rate: Option<f64>,
    /// `TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES` as the process uses it
    /// (`ThreadCache::overall_thread_cache_size_`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total_thread_cache_bytes: Option<u64>,
}

/// `MallocExtension::GetStats()`'s "MALLOC:" block (gperftools 2.10 src/tcmalloc.cc
/// `DumpStats`). Figures the walk could not find are None.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Bytes in use by application.
    pub bytes_in_use_by_application: u64,
    /// Bytes in page heap freelist (resident free spans).
    pub page_heap_freelist_bytes: u64,
    /// Bytes in central cache freelist (with the spans' unusable tails).
    pub central_cache_freelist_bytes: u64,
    /// Bytes in transfer cache freelist.
    pub transfer_cache_freelist_bytes: u64,
    /// Bytes in thread cache freelists.
    pub thread_cache_freelist_bytes: u64,
    /// Bytes in malloc metadata.
    pub metadata_bytes: Option<u64>,
    /// Actual memory used (physical + swap).
    pub actual_memory_used: Option<u64>,
    /// Bytes released to OS (aka unmapped).
    pub released_to_os_bytes: u64,
    /// Virtual address space used.
    pub virtual_address_space_used: Option<u64>,
    /// Spans in use.
    pub spans_in_use: Option<u64>,
    /// Thread heaps in use.
    pub thread_heaps_in_use: Option<u64>,
}

/// One row of `GetStats()`'s size-class table, with its parts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassStats {
    /// The class number.
    pub class: u32,
    /// Its object size.
    pub size: u64,
    /// Free objects in the thread caches, the transfer cache and the central cache.
    pub objects: u64,
    /// In the central cache (`counter_`).
    pub central_objects: u64,
    /// In the transfer cache (`used_slots_ × num_objects_to_move`).
    pub transfer_objects: u64,
    /// In the thread caches.
    pub thread_cache_objects: u64,
    /// The spans' unusable tails (`OverheadBytes`).
    pub overhead_bytes: u64,
}

/// Free spans of one length.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FreeSpans {
    /// Pages each.
    pub pages: u64,
    /// On the normal list (resident).
    pub normal: u64,
    /// On the returned list (given back to the system).
    pub returned: u64,
}

/// Free spans above kMaxPages pages.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LargeSpans {
    /// How many.
    pub spans: u64,
    /// Pages of the normal ones.
    pub normal_pages: u64,
    /// Pages of the returned ones.
    pub returned_pages: u64,
}

/// One thread's cache.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadCacheStats {
    /// The `ThreadCache`'s address.
    #[serde(serialize_with = "core_reader::hex::serialize")]
    pub address: u64,
    /// The thread's id, when the cache's `pthread_t` is one of the core's threads.
    pub tid: Option<u64>,
    /// Bytes on its free lists.
    pub bytes: u64,
    /// Its current limit (`max_size_`).
    pub max_bytes: u64,
    /// Objects on its free lists.
    pub objects: u64,
}

/// The page heap's own figures, the one arena of a tcmalloc heap (`system_bytes` is the
/// page heap's `system_bytes`; `in_use_*` counts objects in use and large allocations,
/// `free_*` free objects in every cache plus free spans, `trimmable_bytes` the resident
/// free spans `ReleaseFreeMemory()` would return, `largest_free` the largest free span).
#[derive(Debug, Clone, Serialize)]
pub struct PageHeapArena {
    /// Resident free spans' bytes (`stats_.free_bytes`).
    pub page_heap_free_bytes: u64,
    /// Bytes returned to the system (`stats_.unmapped_bytes`).
    pub unmapped_bytes: u64,
    /// `stats_.committed_bytes`.
    pub committed_bytes: u64,
    /// Spans in use (small and large).
    pub spans_in_use: u64,
    /// Free spans on the normal lists.
    pub normal_free_spans: u64,
    /// Free spans on the returned lists.
    pub returned_free_spans: u64,
}

impl crate::ArenaDetail for PageHeapArena {
    fn name(&self, _index: u32) -> String {
        "page heap".to_string()
    }
    fn dirty_bytes(&self) -> Option<u64> {
        Some(self.page_heap_free_bytes)
    }
    fn retained_bytes(&self) -> Option<u64> {
        Some(self.unmapped_bytes)
    }
}

/// Finds tcmalloc in `target` and walks it.
pub fn walk(target: &dyn Target, options: &Options) -> Result<Heap, Error> {
    // Without a module (memory put together by hand), the statics must have symbols.
    let module = discover::module(target);
    if module.is_none() && target.find_symbol(layout::symbols::SIZEMAP).is_none() {
        return Err(Error::NotFound);
    }
    let name = module.map_or("the process", |m| m.path.as_str());
    let version = module.and_then(|m| discover::find_version(target, m));
    if let Some(v) = version.as_deref().filter(|v| *v != "2.10") {
        return Err(Error::UnsupportedVersion(v.to_string()));
    }
    // The layouts are Linux x86_64's and aarch64's (the same, see [`layout`]): every arch
    // a core can have.
    if target.os() != core_reader::Os::Linux {
        return Err(Error::NotRecognized(name.to_string()));
    }
    // The library's own DWARF where a module has it: it describes this very build. Else the
    // built-in table, for the default kPageShift first, then for the others the page heap
    // may have been built with.
    let (l, g) = match Layout::from_dwarf(target, module) {
        Some(l) => {
            let g = discover::find_globals(target, module, &l)
                .ok_or_else(|| Error::NotRecognizedWithDwarf(name.to_string()))?;
            (l, g)
        }
        None => [13, 12, 14, 15, 16, 17, 18]
            .into_iter()
            .find_map(|shift| {
                let l = Layout::built_in_with_page_shift(shift);
                discover::find_globals(target, module, &l).map(|g| (l, g))
            })
            .ok_or_else(|| Error::NotRecognized(name.to_string()))?,
    };
    let not_recognized = || match l.dwarf {
        true => Error::NotRecognizedWithDwarf(name.to_string()),
        false => Error::NotRecognized(name.to_string()),
    };
    let mem: &dyn Memory = target;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if version.is_none() {
        notes.push(format!(
            "{name}: no \"gperftools N.N\" string found; read with 2.10's layouts"
        ));
    }
    if g.by_content {
        notes.push(format!(
            "{name} has no symbols for tcmalloc's statics: the size map, central cache and \
             page heap were recognized by their contents"
        ));
    }
    let classes = walk::read_classes(mem, &l, &g).ok_or_else(not_recognized)?;
    let central = walk::read_central(mem, &l, &g, &classes, &mut problems);
    let caches = walk::read_caches(mem, &l, &g, classes.len(), &mut problems);
    let spans = walk::read_spans(mem, &l, &g, &classes, &mut problems);
    let stat = |i: u64| mem.read_u64(g.pageheap + l.page_heap.stats + 8 * i);
    let (system, free, unmapped, committed) = (
        stat(0).unwrap_or(0),
        stat(1).unwrap_or(0),
        stat(2).unwrap_or(0),
        stat(3).unwrap_or(0),
    );

    // GetStats' figures, from the counters GetStats reads (src/tcmalloc.cc ExtractStats).
    let mut rows = Vec::new();
    let (mut central_bytes, mut transfer_bytes) = (0u64, 0u64);
    for (cl, (class, c)) in classes.iter().zip(&central).enumerate() {
        let thread_objects: u64 = caches
            .iter()
            .map(|t| t.lists.get(cl).map_or(0, |l| l.1))
            .fold(0, u64::wrapping_add);
        let transfer = c.used_slots.wrapping_mul(class.batch);
        // src/central_freelist.cc OverheadBytes: the tail of each span no object fits in.
        let overhead = match (cl, class.size) {
            (0, _) | (_, 0) => 0,
            _ => c
                .num_spans
                .wrapping_mul((class.pages.wrapping_mul(l.page_size())) % class.size),
        };
        central_bytes = central_bytes
            .wrapping_add(class.size.wrapping_mul(c.counter))
            .wrapping_add(overhead);
        transfer_bytes = transfer_bytes.wrapping_add(class.size.wrapping_mul(transfer));
        let objects = c
            .counter
            .wrapping_add(transfer)
            .wrapping_add(thread_objects);
        rows.push(ClassStats {
            class: cl as u32,
            size: class.size,
            objects,
            central_objects: c.counter,
            transfer_objects: transfer,
            thread_cache_objects: thread_objects,
            overhead_bytes: overhead,
        });
    }
    let thread_bytes = caches.iter().map(|c| c.size).fold(0, u64::wrapping_add);
    let metadata = g.metadata_bytes.and_then(|a| mem.read_u64(a));
    let in_use_by_app = system
        .wrapping_sub(unmapped)
        .wrapping_sub(free)
        .wrapping_sub(central_bytes)
        .wrapping_sub(transfer_bytes)
        .wrapping_sub(thread_bytes);
    let spans_in_use = g
        .span_allocator
        .and_then(|a| mem.read_u32(a + l.span_allocator.inuse))
        .map(u64::from);
    if spans_in_use.is_none() {
        notes.push("the span allocator was not recognized: spans in use unknown".into());
    }
    if metadata.is_none() {
        notes.push("tcmalloc's metadata counter was not recognized: metadata bytes unknown".into());
    }
    let stats = Stats {
        bytes_in_use_by_application: in_use_by_app,
        page_heap_freelist_bytes: free,
        central_cache_freelist_bytes: central_bytes,
        transfer_cache_freelist_bytes: transfer_bytes,
        thread_cache_freelist_bytes: thread_bytes,
        metadata_bytes: metadata,
        actual_memory_used: metadata.map(|m| system.wrapping_add(m).wrapping_sub(unmapped)),
        released_to_os_bytes: unmapped,
        virtual_address_space_used: metadata.map(|m| system.wrapping_add(m)),
        spans_in_use,
        thread_heaps_in_use: g
            .thread_heap_count
            .and_then(|a| mem.read_u32(a))
            .map(u64::from),
    };

    // The page heap's free spans by length, from the page map.
    let mut small = vec![FreeSpans::default(); l.max_pages as usize];
    let mut large = LargeSpans::default();
    let (mut normal_spans, mut returned_spans, mut used_spans) = (0u64, 0u64, 0u64);
    for s in &spans {
        let returned = s.location == span_layout::ON_RETURNED_FREELIST;
        match s.location {
            span_layout::IN_USE => {
                used_spans += 1;
                continue;
            }
            _ if returned => returned_spans += 1,
            _ => normal_spans += 1,
        }
        if s.length <= l.max_pages {
            let row = &mut small[(s.length - 1) as usize];
            match returned {
                true => row.returned += 1,
                false => row.normal += 1,
            }
        } else {
            large.spans += 1;
            match returned {
                true => large.returned_pages += s.length,
                false => large.normal_pages += s.length,
            }
        }
    }
    for (i, row) in small.iter_mut().enumerate() {
        row.pages = i as u64 + 1;
    }
    small.retain(|r| r.normal + r.returned > 0);

    let threads = crate::allocator::thread_pointers(target);
    let thread_caches: Vec<ThreadCacheStats> = caches
        .iter()
        .map(|c| ThreadCacheStats {
            address: c.address,
            tid: threads.iter().find(|t| t.1 == c.pthread).map(|t| t.0),
            bytes: c.size,
            max_bytes: c.max_size,
            objects: c.lists.iter().map(|l| l.1).fold(0, u64::wrapping_add),
        })
        .collect();

    let listing = list(mem, &classes, &central, &caches, &spans, &mut problems);
    let largest_free = spans
        .iter()
        .filter(|s| s.location != span_layout::IN_USE)
        .map(Span::bytes)
        .max()
        .unwrap_or(0);
    let arena = Arena {
        index: 0,
        address: g.pageheap,
        figures: ArenaFigures {
            system_bytes: system,
            in_use_chunks: listing.in_use_count,
            in_use_bytes: listing.in_use_bytes,
            free_chunks: listing.free_count,
            free_bytes: listing.free_bytes,
            trimmable_bytes: free,
            largest_free,
        },
        detail: PageHeapArena {
            page_heap_free_bytes: free,
            unmapped_bytes: unmapped,
            committed_bytes: committed,
            spans_in_use: used_spans,
            normal_free_spans: normal_spans,
            returned_free_spans: returned_spans,
        },
    };
    let release_rate = g
        .release_rate
        .and_then(|a| mem.read_u64(a))
        .map(f64::from_bits);
    let max_total = g.overall_thread_cache_size.and_then(|a| mem.read_u64(a));
    let arch = target.arch().name();
    let detail = TcmallocDetail {
        layout: format!(
            "{}{}",
            match l.dwarf {
                true => format!("DWARF (kPageShift {}", l.page_shift),
                false if l.page_shift == layout::PAGE_SHIFT => {
                    format!("gperftools 2.10, Linux {arch} (built-in")
                }
                false => format!(
                    "gperftools 2.10, Linux {arch} (built-in, kPageShift {} recognized by the \
                     page heap",
                    l.page_shift
                ),
            },
            if g.by_content {
                ", statics found by content)"
            } else {
                ", statics by symbol)"
            }
        ),
        page_size: l.page_size(),
        stats,
        classes: rows.into_iter().filter(|r| r.objects > 0).collect(),
        free_spans: small,
        large_free_spans: large,
        thread_caches,
        release_rate,
        max_total_thread_cache_bytes: max_total,
    };
    let mut heap = Heap {
        allocator: crate::Allocator::Tcmalloc,
        version: Some(version.unwrap_or_else(|| "2.10".to_string())),
        findings: Vec::new(),
        detail,
        arenas: vec![arena],
        size_classes: listing.size_classes,
        problems,
        notes,
        allocations: options
            .allocations
            .then(|| Allocations::new(listing.allocations)),
    };
    heap.findings = stats::findings(&heap);
    Ok(heap)
}

use walk::{Cache, Central, Class, Span};

/// Every object, large allocation and free span, with the neutral totals.
struct Listing {
    allocations: Vec<Allocation>,
    size_classes: Vec<SizeClass>,
    in_use_count: u64,
    in_use_bytes: u64,
    free_count: u64,
    free_bytes: u64,
}

/// The diagnostic for a free list (`list`, whose head is held at `head_at`) that breaks:
/// kind `loop` or `bad_link` at the object holding the bad link, as the glibc walker names
/// the same damage; `bad_list` at the head when the list only runs past its length.
fn list_damage(damage: walk::Break, head_at: u64, list: &str) -> Diagnostic {
    let rest = "the objects after it count as in use";
    match damage {
        walk::Break::Loop { holder, again } => Diagnostic::at(
            "loop",
            holder,
            format!(
                "{list}: the link of the free object at {holder:#x} points back to {again:#x}, \
                 earlier in the list (a loop: a double free or a use-after-free write); {rest}"
            ),
        ),
        walk::Break::BadLink {
            holder: Some(holder),
            link,
        } => Diagnostic::at(
            "bad_link",
            holder,
            format!(
                "{list}: the link of the free object at {holder:#x} is {link:#x}, which is not \
                 in the core (a use-after-free write?); {rest}"
            ),
        ),
        walk::Break::BadLink { holder: None, link } => Diagnostic::at(
            "bad_link",
            head_at,
            format!("{list}: its first object, {link:#x}, is not in the core; {rest}"),
        ),
        walk::Break::TooLong => Diagnostic::at(
            "bad_list",
            head_at,
            format!("{list} runs past the objects it can hold; {rest}"),
        ),
    }
}

/// Objects of small spans are in use unless found on a free list: a thread cache's
/// (state `tcache`), a transfer-cache slot or their span's own (state `free`).
fn list(
    mem: &dyn Memory,
    classes: &[Class],
    central: &[Central],
    caches: &[Cache],
    spans: &[Span],
    problems: &mut Vec<Diagnostic>,
) -> Listing {
    let mut free: Vec<(u64, AllocationState)> = Vec::new();
    // Each list's objects, as far as they can be followed; where one breaks, the damage
    // named once at the object holding the bad link, and the objects before it kept as free
    // (the rest count as in use).
    let mut follow = |list: Result<Vec<u64>, (Vec<u64>, walk::Break)>,
                      state: AllocationState,
                      head_at: u64,
                      what: &dyn Fn() -> String| {
        let objects = match list {
            Ok(objects) => objects,
            Err((objects, damage)) => {
                problems.push(list_damage(damage, head_at, &what()));
                objects
            }
        };
        free.extend(objects.into_iter().map(|a| (a, state)));
    };
    for c in caches {
        for (cl, &(head, length)) in c.lists.iter().enumerate() {
            follow(
                walk::chain(mem, head, None, length.saturating_add(1)),
                AllocationState::Tcache,
                c.address,
                &|| {
                    format!(
                        "the free list of class {cl} in the thread cache at {:#x}",
                        c.address
                    )
                },
            );
        }
    }
    for (cl, (c, class)) in central.iter().zip(classes).enumerate() {
        for &(head, tail) in &c.slots {
            follow(
                walk::chain(mem, head, Some(tail), class.batch.max(1)),
                AllocationState::Free,
                head,
                &|| format!("a transfer-cache slot of class {cl}"),
            );
        }
    }
    for s in spans.iter().filter(|s| s.sizeclass != 0) {
        let size = classes[s.sizeclass as usize].size.max(1);
        follow(
            walk::chain(mem, s.objects, None, s.bytes() / size + 1),
            AllocationState::Free,
            s.address,
            &|| format!("the free objects of the span at {:#x}", s.base()),
        );
    }
    free.sort_unstable();
    free.dedup_by_key(|f| f.0);

    let mut rows: Vec<SizeClass> = classes
        .iter()
        .map(|c| SizeClass {
            size: c.size,
            ..SizeClass::default()
        })
        .collect();
    let mut out = Listing {
        allocations: Vec::new(),
        size_classes: Vec::new(),
        in_use_count: 0,
        in_use_bytes: 0,
        free_count: 0,
        free_bytes: 0,
    };
    let push = |out: &mut Listing, address, size, state| {
        match state {
            AllocationState::Used => {
                out.in_use_count += 1;
                out.in_use_bytes = out.in_use_bytes.wrapping_add(size);
            }
            _ => {
                out.free_count += 1;
                out.free_bytes = out.free_bytes.wrapping_add(size);
            }
        }
        out.allocations.push(Allocation {
            address,
            size,
            arena: 0,
            state,
            flags: 0,
        });
    };
    for s in spans {
        if s.sizeclass == 0 {
            let state = match s.location {
                span_layout::IN_USE => AllocationState::Used,
                _ => AllocationState::Free,
            };
            push(&mut out, s.base(), s.bytes(), state);
            continue;
        }
        let size = classes[s.sizeclass as usize].size.max(1);
        let row = &mut rows[s.sizeclass as usize];
        let base = s.base();
        let mut i = free.partition_point(|f| f.0 < base);
        for k in 0..s.bytes() / size {
            let address = base + k * size;
            // Past anything on a free list that is not an object's start.
            while free.get(i).is_some_and(|f| f.0 < address) {
                i += 1;
            }
            let state = match free.get(i) {
                Some(&(a, state)) if a == address => {
                    i += 1;
                    state
                }
                _ => AllocationState::Used,
            };
            match state {
                AllocationState::Used => {
                    row.in_use_count += 1;
                    row.in_use_bytes += size;
                }
                _ => {
                    row.free_count += 1;
                    row.free_bytes += size;
                }
            }
            push(&mut out, address, size, state);
        }
    }
    rows.retain(|r| r.in_use_count > 0 || r.free_count > 0);
    out.size_classes = rows;
    out
}
