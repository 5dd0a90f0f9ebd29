//! Finding gperftools' tcmalloc in a process: its module, version, and the statics a walk
//! starts from. Debian's libraries are stripped of the symbols of `tcmalloc::Static`'s
//! members (they are hidden), so those are recognized by what they hold, with the
//! gperftools 2.10 layouts of [`super::layout`]; a build that keeps its symbol table (a
//! static `libtcmalloc.a`, a `-g` build) is read by name. Either way the page heap must
//! hold what the layout says it holds.

use core_reader::{Arch, Memory, Module, Target};

use super::layout::{page_heap_allocator, symbols, Layout, MAX_SIZE};

/// Where the walk starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Globals {
    /// `Static::sizemap_`.
    pub sizemap: u64,
    /// `Static::central_cache_`.
    pub central_cache: u64,
    /// `Static::pageheap_`.
    pub pageheap: u64,
    /// `Static::span_allocator_`, when found.
    pub span_allocator: Option<u64>,
    /// `metadata_system_bytes_` (src/common.cc), when found.
    pub metadata_bytes: Option<u64>,
    /// `ThreadCache::thread_heaps_`, `thread_heap_count_` (exported).
    pub thread_heaps: Option<u64>,
    /// `ThreadCache::thread_heap_count_`.
    pub thread_heap_count: Option<u64>,
    /// `ThreadCache::overall_thread_cache_size_`.
    pub overall_thread_cache_size: Option<u64>,
    /// `FLAGS_tcmalloc_release_rate`.
    pub release_rate: Option<u64>,
    /// Whether the statics were found by content rather than by symbol.
    pub by_content: bool,
}

/// The module that holds tcmalloc: a `libtcmalloc*` library (linked or `LD_PRELOAD`ed),
/// else the executable when it defines `tc_malloc` (linked statically).
pub(crate) fn module(target: &dyn Target) -> Option<&Module> {
    let modules = target.modules();
    if let Some(m) = modules.iter().find(|m| m.name().starts_with("libtcmalloc")) {
        return Some(m);
    }
    let at = target.find_symbol(symbols::TC_MALLOC)?;
    modules.into_iter().find(|m| m.start <= at && at < m.end)
}

/// gperftools' version as its `tc_version()` string (`TC_VERSION_STRING`, "gperftools
/// 2.10") in the module's read-only data.
pub(crate) fn find_version(target: &dyn Target, module: &Module) -> Option<String> {
    let finder = memchr::memmem::Finder::new(b"gperftools ");
    for m in target
        .mappings()
        .iter()
        .filter(|m| m.path.as_deref() == Some(module.path.as_str()) && !m.perms.contains('w'))
    {
        let mut addr = m.start;
        while addr < m.end {
            let bytes = target.bytes_at(addr);
            if bytes.is_empty() {
                break;
            }
            let bytes = &bytes[..bytes.len().min((m.end - addr) as usize)];
            for at in finder.find_iter(bytes) {
                let rest = &bytes[at + 11..];
                let n = rest
                    .iter()
                    .take(16)
                    .take_while(|b| b.is_ascii_digit() || **b == b'.')
                    .count();
                if n > 0 && rest.get(n) == Some(&0) && rest[0].is_ascii_digit() {
                    return std::str::from_utf8(&rest[..n]).ok().map(str::to_string);
                }
            }
            addr += bytes.len() as u64;
        }
    }
    None
}

/// The statics, by symbol where the build kept them, else by content in the writable data
/// of tcmalloc's module. None when the size map, the central cache or the page heap is not
/// found, or (found by symbol) its page heap does not hold what `l` says: a build `l` does
/// not describe.
pub(crate) fn find_globals(
    target: &dyn Target,
    module: Option<&Module>,
    l: &Layout,
) -> Option<Globals> {
    // Addresses a struct's offsets are added to: none near the top of the address space
    // (a hostile symbol table's values).
    let sym = |name: &str| target.find_symbol(name).filter(|&a| a < 1 << 56);
    let mut g = Globals {
        thread_heaps: sym(symbols::THREAD_HEAPS),
        thread_heap_count: sym(symbols::THREAD_HEAP_COUNT),
        overall_thread_cache_size: sym(symbols::OVERALL_THREAD_CACHE_SIZE),
        release_rate: sym(symbols::RELEASE_RATE),
        ..Globals::default()
    };
    if let (Some(sizemap), Some(central_cache), Some(pageheap)) = (
        sym(symbols::SIZEMAP),
        sym(symbols::CENTRAL_CACHE),
        sym(symbols::PAGEHEAP),
    ) {
        g.sizemap = sizemap;
        g.central_cache = central_cache;
        g.pageheap = pageheap;
        g.span_allocator = sym(symbols::SPAN_ALLOCATOR);
        g.metadata_bytes = sym(symbols::METADATA_SYSTEM_BYTES);
        // The page heap's shape is what another build configuration changes first
        // (kPageShift moves `free_` and changes its length).
        return check_pageheap(target, l, pageheap).then_some(g);
    }
    let ranges = crate::allocator::writable_data(target, module?);
    let data: Vec<(u64, Vec<u8>)> = ranges
        .iter()
        .map(|&(start, end)| (start, copy(target, start, end)))
        .collect();
    g.by_content = true;
    g.sizemap = find_sizemap(target, l, &data)?;
    let classes = target.read_u64(g.sizemap + l.size_map.num_size_classes)?;
    g.central_cache = find_central_cache(target, l, &data, g.sizemap, classes)?;
    g.pageheap = find_pageheap(target, l, &data)?;
    g.span_allocator = find_span_allocator(target, l, g.central_cache, g.pageheap);
    g.metadata_bytes = find_metadata_bytes(target, &data, target.arch());
    Some(g)
}

/// The bytes of `[start, end)` (unreadable pages as zeros), for scanning.
fn copy(mem: &dyn Memory, start: u64, end: u64) -> Vec<u8> {
    let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
    // Writable data of one module: a few MiB; a hostile mapping size is capped.
    let mut out = vec![0u8; len.min(64 << 20)];
    let mut done = 0;
    while done < out.len() {
        let at = start + done as u64;
        let n = mem.read(at, &mut out[done..]);
        // Past an unreadable byte: on to the next page.
        done += if n > 0 {
            n
        } else {
            (4096 - at % 4096) as usize
        };
    }
    out
}

/// The u64 words of `data` with their addresses.
fn words(data: &[(u64, Vec<u8>)]) -> impl Iterator<Item = (u64, u64)> + '_ {
    data.iter().flat_map(|(start, bytes)| {
        bytes.chunks_exact(8).enumerate().map(move |(i, w)| {
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            (start + 8 * i as u64, w)
        })
    })
}

/// `Static::sizemap_`: its `class_to_size_` starts 0, 8, 16, 32, 48, … (src/common.cc
/// `SizeMap::Init` with kMinAlign 16), ends at kMaxSize, and rises in between; every class
/// has pages and a batch size.
fn find_sizemap(mem: &dyn Memory, l: &Layout, data: &[(u64, Vec<u8>)]) -> Option<u64> {
    const START: [u32; 10] = [0, 8, 16, 32, 48, 64, 80, 96, 112, 128];
    let pattern: Vec<u8> = START.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (start, bytes) in data {
        let finder = memchr::memmem::Finder::new(&pattern);
        for at in finder.find_iter(bytes) {
            let Some(sizemap) = (start + at as u64).checked_sub(l.size_map.class_to_size) else {
                continue;
            };
            if check_sizemap(mem, l, sizemap) {
                return Some(sizemap);
            }
        }
    }
    None
}

/// Whether `sizemap` holds a size map gperftools 2.10 would build.
pub(crate) fn check_sizemap(mem: &dyn Memory, l: &Layout, sizemap: u64) -> bool {
    let m = &l.size_map;
    let Some(n) = mem.read_u64(sizemap.wrapping_add(m.num_size_classes)) else {
        return false;
    };
    if !(2..=l.class_sizes_max).contains(&n) {
        return false;
    }
    let mut last = 0;
    for cl in 1..n {
        let size = mem.read_u32(sizemap.wrapping_add(m.class_to_size + 4 * cl));
        let pages = mem.read_u64(sizemap.wrapping_add(m.class_to_pages + 8 * cl));
        let batch = mem.read_u32(sizemap.wrapping_add(m.num_objects_to_move + 4 * cl));
        match (size, pages, batch) {
            (Some(s), Some(p), Some(b))
                if u64::from(s) > last && (1..=256).contains(&p) && (1..=32768).contains(&b) =>
            {
                last = u64::from(s)
            }
            _ => return false,
        }
    }
    last == MAX_SIZE
}

/// `Static::central_cache_`: `classes` free lists 1216 bytes apart (with the built-in
/// layout), each naming its own
/// class in `size_class_` (src/central_freelist.cc `Init`). gperftools' static_vars.cc
/// defines it right after the size map, which GCC places just below it; elsewhere it is
/// searched for. Only 8-byte aligned: `CentralFreeListPadded` pads its size to 64 bytes
/// but asks for no alignment (src/central_freelist.h), and the aarch64 build puts the
/// array 8 bytes past a 64-byte boundary.
fn find_central_cache(
    mem: &dyn Memory,
    l: &Layout,
    data: &[(u64, Vec<u8>)],
    sizemap: u64,
    classes: u64,
) -> Option<u64> {
    let c = &l.central;
    let fits = |at: u64| {
        (0..classes).all(|cl| mem.read_u64(at + cl * c.stride + c.size_class) == Some(cl))
    };
    let below = sizemap.checked_sub(l.class_sizes_max * c.stride)?;
    if fits(below) {
        return Some(below);
    }
    words(data)
        .filter(|&(_, w)| w == 1)
        .filter_map(|(at, _)| at.checked_sub(c.stride + c.size_class))
        .find(|&at| at.is_multiple_of(8) && fits(at))
}

/// Whether the two words at `head + NEXT`, `head + PREV` make `head` the head of a
/// doubly-linked span list (src/span.cc `DLL_Init`, `DLL_Prepend`): empty (both itself),
/// or its neighbours point back at it.
fn is_list_head(mem: &dyn Memory, l: &Layout, head: u64) -> bool {
    let s = &l.span;
    match (
        mem.read_u64(head.wrapping_add(s.next)),
        mem.read_u64(head.wrapping_add(s.prev)),
    ) {
        (Some(n), Some(p)) if n == head && p == head => true,
        (Some(n), Some(p)) if n != 0 && p != 0 => {
            mem.read_u64(n.wrapping_add(s.prev)) == Some(head)
                && mem.read_u64(p.wrapping_add(s.next)) == Some(head)
        }
        _ => false,
    }
}

/// `Static::pageheap_`: its `free_` array is 2 × kMaxPages span-list heads, a `Span` (48
/// bytes) apart, the empty ones pointing at themselves; the page heap starts a fixed
/// distance before, and its stats must add up.
fn find_pageheap(mem: &dyn Memory, l: &Layout, data: &[(u64, Vec<u8>)]) -> Option<u64> {
    let heads = 2 * l.max_pages;
    let stride = l.span.size;
    let mut tried_below = 0;
    for (at, w) in words(data) {
        // An empty head: `next` is the head itself.
        let Some(head) = at.checked_sub(l.span.next) else {
            continue;
        };
        if w != head
            || head < tried_below
            || mem.read_u64(head.wrapping_add(l.span.prev)) != Some(head)
        {
            continue;
        }
        // Back to the first head of the run, then check the whole array from there.
        let mut first = head;
        for _ in 0..heads {
            match first.checked_sub(stride) {
                Some(p) if is_list_head(mem, l, p) => first = p,
                _ => break,
            }
        }
        let run = (0..heads)
            .take_while(|&k| is_list_head(mem, l, first.wrapping_add(stride * k)))
            .count() as u64;
        tried_below = first.saturating_add(stride * run);
        if run < heads {
            continue;
        }
        let Some(pageheap) = first.checked_sub(l.page_heap.free) else {
            continue;
        };
        if check_stats(mem, l, pageheap) {
            return Some(pageheap);
        }
    }
    None
}

/// Whether `pageheap` holds a page heap as `l` lays it out: its `free_` array is 2 ×
/// kMaxPages span-list heads and its stats add up. A page heap read with another build's
/// layout (another `kPageShift` moves `free_` and changes its length) fails this.
fn check_pageheap(mem: &dyn Memory, l: &Layout, pageheap: u64) -> bool {
    let free = pageheap.wrapping_add(l.page_heap.free);
    (0..2 * l.max_pages).all(|k| is_list_head(mem, l, free.wrapping_add(l.span.size * k)))
        && check_stats(mem, l, pageheap)
}

/// Whether the page heap's `stats_` add up: whole pages, the free and the unmapped bytes
/// within the system's, and so the committed ones.
fn check_stats(mem: &dyn Memory, l: &Layout, pageheap: u64) -> bool {
    let stat = |i: u64| mem.read_u64(pageheap.wrapping_add(l.page_heap.stats + 8 * i));
    let page = l.page_size();
    match (stat(0), stat(1), stat(2), stat(3)) {
        (Some(system), Some(free), Some(unmapped), Some(committed)) => {
            system.is_multiple_of(page)
                && free.is_multiple_of(page)
                && unmapped.is_multiple_of(page)
                && free.checked_add(unmapped).is_some_and(|f| f <= system)
                && committed <= system
        }
        _ => false,
    }
}

/// Whether `at` holds a `PageHeapAllocator<Span>`: what is left of its current 128 KiB area
/// is a whole number of spans short of the area, and its count is sane.
fn is_span_allocator(mem: &dyn Memory, l: &Layout, at: u64) -> bool {
    let a = &l.span_allocator;
    let avail = mem.read_u64(at + a.free_avail);
    let area = mem.read_u64(at + a.free_area);
    let inuse = mem.read_u32(at + a.inuse);
    match (avail, area, inuse) {
        (Some(avail), Some(area), Some(inuse)) => {
            avail <= page_heap_allocator::ALLOC_INCREMENT
                && (page_heap_allocator::ALLOC_INCREMENT - avail).is_multiple_of(l.span.size)
                && area != 0
                && i32::try_from(inuse).is_ok()
        }
        _ => false,
    }
}

/// `Static::span_allocator_` ("Spans in use"): static_vars.cc defines it right after the
/// central cache, and GCC places it just below on x86_64 (2.10 on Debian, both libraries);
/// in the aarch64 build (GCC 12, tests/fixtures/tcmalloc/README.md) it lies before what
/// static_vars.cc defines next, `stacktrace_allocator_` (32 bytes) and `sampled_objects_`
/// (a `Span`), and the page heap.
/// Not searched for elsewhere: the stack-trace allocator and the `std::set` node allocator
/// look alike.
fn find_span_allocator(
    mem: &dyn Memory,
    l: &Layout,
    central_cache: u64,
    pageheap: u64,
) -> Option<u64> {
    [
        central_cache.checked_sub(32),
        pageheap.checked_sub(32 + 32 + l.span.size),
    ]
    .into_iter()
    .flatten()
    .find(|&at| is_span_allocator(mem, l, at))
}

/// `metadata_system_bytes_` (src/common.cc `MetaDataAlloc`): on x86_64 GCC places it right
/// after `metadata_chunk_alloc_` and `metadata_chunk_avail_`, the rest of the current 8 MiB
/// metadata chunk (`avail, alloc, bytes`); in the aarch64 build (GCC 12) as
/// `bytes, metadata_alloc_lock, alloc, avail`. Recognized where the chunk's end
/// (`alloc + avail`) is page-aligned, `avail` is under 8 MiB and `bytes` counts at least
/// the part of the chunk handed out, and is less than the 48-bit address space (on
/// aarch64 the `--tcmalloc_release_rate` flag's double, 1.0, with a one-byte guard and an
/// STL allocator's free area after it, looks alike otherwise); the lock (a `SpinLock`, 32
/// bits) in between. Exactly one such group must be found.
fn find_metadata_bytes(mem: &dyn Memory, data: &[(u64, Vec<u8>)], arch: Arch) -> Option<u64> {
    const CHUNK: u64 = 8 << 20;
    // Word indexes of avail, alloc and bytes in the group.
    let (avail_at, alloc_at, total_at, len) = match arch {
        Arch::X86_64 => (0, 1, 2, 3),
        Arch::Aarch64 => (3, 2, 0, 4),
    };
    let mut found = None;
    for (start, bytes) in data {
        let w: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        for (i, t) in w.windows(len).enumerate() {
            let (avail, alloc, total) = (t[avail_at], t[alloc_at], t[total_at]);
            if avail == 0
                || total >= 1 << 48
                || (arch == Arch::Aarch64 && t[1] > u64::from(u32::MAX))
                || avail >= CHUNK
                || alloc < 4096
                || total < CHUNK - avail
                || !total.is_multiple_of(16)
                || alloc
                    .checked_add(avail)
                    .is_none_or(|end| !end.is_multiple_of(4096))
                || mem.read_u64(alloc - 8).is_none()
            {
                continue;
            }
            if found.is_some() {
                return None;
            }
            found = Some(start + 8 * (i + total_at) as u64);
        }
    }
    found
}
