//! Finding gperftools' tcmalloc in a process: its module, version, and the statics a walk
//! starts from. Debian's libraries are stripped of the symbols of `tcmalloc::Static`'s
//! members (they are hidden), so those are recognized by what they hold, with the
//! gperftools 2.10 layouts of [`super::layout`]; a build that keeps its symbol table (a
//! static `libtcmalloc.a`) is read by name.

use core_reader::{Memory, Module, Target};

use super::layout::{central, page_heap, page_heap_allocator, size_map, span, symbols};
use super::layout::{CLASS_SIZES_MAX, MAX_PAGES, MAX_SIZE, PAGE_SIZE};

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
/// found.
pub(crate) fn find_globals(target: &dyn Target, module: Option<&Module>) -> Option<Globals> {
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
        return Some(g);
    }
    let ranges = crate::allocator::writable_data(target, &module?.path);
    let data: Vec<(u64, Vec<u8>)> = ranges
        .iter()
        .map(|&(start, end)| (start, copy(target, start, end)))
        .collect();
    g.by_content = true;
    g.sizemap = find_sizemap(target, &data)?;
    let classes = target.read_u64(g.sizemap + size_map::NUM_SIZE_CLASSES)?;
    g.central_cache = find_central_cache(target, &data, g.sizemap, classes)?;
    g.pageheap = find_pageheap(target, &data)?;
    g.span_allocator = find_span_allocator(target, g.central_cache);
    g.metadata_bytes = find_metadata_bytes(target, &data);
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
fn find_sizemap(mem: &dyn Memory, data: &[(u64, Vec<u8>)]) -> Option<u64> {
    const START: [u32; 10] = [0, 8, 16, 32, 48, 64, 80, 96, 112, 128];
    let pattern: Vec<u8> = START.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (start, bytes) in data {
        let finder = memchr::memmem::Finder::new(&pattern);
        for at in finder.find_iter(bytes) {
            let Some(sizemap) = (start + at as u64).checked_sub(size_map::CLASS_TO_SIZE) else {
                continue;
            };
            if check_sizemap(mem, sizemap) {
                return Some(sizemap);
            }
        }
    }
    None
}

/// Whether `sizemap` holds a size map gperftools 2.10 would build.
pub(crate) fn check_sizemap(mem: &dyn Memory, sizemap: u64) -> bool {
    let Some(n) = mem.read_u64(sizemap + size_map::NUM_SIZE_CLASSES) else {
        return false;
    };
    if !(2..=CLASS_SIZES_MAX).contains(&n) {
        return false;
    }
    let mut last = 0;
    for cl in 1..n {
        let size = mem.read_u32(sizemap + size_map::CLASS_TO_SIZE + 4 * cl);
        let pages = mem.read_u64(sizemap + size_map::CLASS_TO_PAGES + 8 * cl);
        let batch = mem.read_u32(sizemap + size_map::NUM_OBJECTS_TO_MOVE + 4 * cl);
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

/// `Static::central_cache_`: `classes` free lists 1216 bytes apart, each naming its own
/// class in `size_class_` (src/central_freelist.cc `Init`). gperftools' static_vars.cc
/// defines it right after the size map, which GCC places just below it; elsewhere it is
/// searched for.
fn find_central_cache(
    mem: &dyn Memory,
    data: &[(u64, Vec<u8>)],
    sizemap: u64,
    classes: u64,
) -> Option<u64> {
    let fits = |at: u64| {
        (0..classes)
            .all(|cl| mem.read_u64(at + cl * central::STRIDE + central::SIZE_CLASS) == Some(cl))
    };
    let below = sizemap.checked_sub(CLASS_SIZES_MAX * central::STRIDE)?;
    if fits(below) {
        return Some(below);
    }
    words(data)
        .filter(|&(_, w)| w == 1)
        .filter_map(|(at, _)| at.checked_sub(central::STRIDE + central::SIZE_CLASS))
        .find(|&at| at.is_multiple_of(64) && fits(at))
}

/// Whether the two words at `head + NEXT`, `head + PREV` make `head` the head of a
/// doubly-linked span list (src/span.cc `DLL_Init`, `DLL_Prepend`): empty (both itself),
/// or its neighbours point back at it.
fn is_list_head(mem: &dyn Memory, head: u64) -> bool {
    match (
        mem.read_u64(head.wrapping_add(span::NEXT)),
        mem.read_u64(head.wrapping_add(span::PREV)),
    ) {
        (Some(n), Some(p)) if n == head && p == head => true,
        (Some(n), Some(p)) if n != 0 && p != 0 => {
            mem.read_u64(n.wrapping_add(span::PREV)) == Some(head)
                && mem.read_u64(p.wrapping_add(span::NEXT)) == Some(head)
        }
        _ => false,
    }
}

/// `Static::pageheap_`: its `free_` array is 2 × kMaxPages span-list heads, 48 bytes apart,
/// the empty ones pointing at themselves; the page heap starts a fixed distance before,
/// and its stats must add up.
fn find_pageheap(mem: &dyn Memory, data: &[(u64, Vec<u8>)]) -> Option<u64> {
    let heads = 2 * MAX_PAGES;
    let mut tried_below = 0;
    for (at, w) in words(data) {
        // An empty head: `next` (at +16) is the head itself.
        let Some(head) = at.checked_sub(span::NEXT) else {
            continue;
        };
        if w != head || head < tried_below || mem.read_u64(head + span::PREV) != Some(head) {
            continue;
        }
        // Back to the first head of the run, then check the whole array from there.
        let mut first = head;
        for _ in 0..heads {
            match first.checked_sub(48) {
                Some(p) if is_list_head(mem, p) => first = p,
                _ => break,
            }
        }
        let run = (0..heads)
            .take_while(|&k| is_list_head(mem, first.wrapping_add(48 * k)))
            .count() as u64;
        tried_below = first.saturating_add(48 * run);
        if run < heads {
            continue;
        }
        let Some(pageheap) = first.checked_sub(page_heap::FREE) else {
            continue;
        };
        let stat = |i: u64| mem.read_u64(pageheap + page_heap::STATS + 8 * i);
        if let (Some(system), Some(free), Some(unmapped), Some(committed)) =
            (stat(0), stat(1), stat(2), stat(3))
        {
            if system.is_multiple_of(PAGE_SIZE)
                && free.is_multiple_of(PAGE_SIZE)
                && unmapped.is_multiple_of(PAGE_SIZE)
                && free.checked_add(unmapped).is_some_and(|f| f <= system)
                && committed <= system
            {
                return Some(pageheap);
            }
        }
    }
    None
}

/// Whether `at` holds a `PageHeapAllocator<Span>`: what is left of its current 128 KiB area
/// is a whole number of 48-byte spans short of the area, and its count is sane.
fn is_span_allocator(mem: &dyn Memory, at: u64) -> bool {
    let avail = mem.read_u64(at + page_heap_allocator::FREE_AVAIL);
    let area = mem.read_u64(at + page_heap_allocator::FREE_AREA);
    let inuse = mem.read_u32(at + page_heap_allocator::INUSE);
    match (avail, area, inuse) {
        (Some(avail), Some(area), Some(inuse)) => {
            avail <= page_heap_allocator::ALLOC_INCREMENT
                && (page_heap_allocator::ALLOC_INCREMENT - avail).is_multiple_of(span::SIZE)
                && area != 0
                && i32::try_from(inuse).is_ok()
        }
        _ => false,
    }
}

/// `Static::span_allocator_` ("Spans in use"): static_vars.cc defines it right after the
/// central cache, and GCC places it just below (2.10 on Debian, both libraries). Not
/// searched for elsewhere: the stack-trace allocator and the `std::set` node allocator
/// look alike.
fn find_span_allocator(mem: &dyn Memory, central_cache: u64) -> Option<u64> {
    let at = central_cache.checked_sub(32)?;
    is_span_allocator(mem, at).then_some(at)
}

/// `metadata_system_bytes_` (src/common.cc `MetaDataAlloc`): GCC places it right after
/// `metadata_chunk_alloc_` and `metadata_chunk_avail_`, the rest of the current 8 MiB
/// metadata chunk. Recognized as `avail, alloc, bytes` where the chunk's end
/// (`alloc + avail`) is page-aligned, `avail` is under 8 MiB and `bytes` counts at least
/// the part of the chunk handed out. Exactly one such triple must be found.
fn find_metadata_bytes(mem: &dyn Memory, data: &[(u64, Vec<u8>)]) -> Option<u64> {
    const CHUNK: u64 = 8 << 20;
    let mut found = None;
    for (start, bytes) in data {
        let w: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        for (i, t) in w.windows(3).enumerate() {
            let (avail, alloc, total) = (t[0], t[1], t[2]);
            if avail == 0
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
            found = Some(start + 8 * (i as u64 + 2));
        }
    }
    found
}
