//! Finding `main_arena` and `mp_`: by symbol and DWARF when libc's debug file is there, else
//! from the shape of the structures in the core.
//!
//! The shape of an arena (malloc/malloc.c, `malloc_init_state`): every empty bin is a fake
//! chunk whose `fd` and `bk` both point at the bin itself, so an arena in memory is a run of
//! words equal to their own address minus 16; its `next` pointers form a ring through every
//! arena back to `main_arena`; `top` points at a chunk whose size reaches the end of a heap.
//! A thread arena lives right after its heap's `heap_info`, whose `ar_ptr` points back at
//! it (malloc/arena.c, `_int_new_arena`); `main_arena` is the one arena of the ring that does
//! not. `mp_` is found near `main_arena` (both are in libc's `.data`) by its `sbrk_base`,
//! which points at the start of the brk heap, and its counters' invariants.

use std::collections::HashSet;

use core_reader::{Memory, Target};

use super::layout::{
    HeapInfoLayout, Layout, LayoutSource, ParLayout, StateLayout, TcacheLayout, ALIGNMENT,
    HEAP_MAX_SIZE, IS_MMAPPED, MINSIZE, NBINS, NFASTBINS, NON_MAIN_ARENA, PREV_INUSE, SIZE_BITS,
};
use super::mem::{block, word, word32};
use super::version::{self, GlibcVersion, VersionSource};

/// What was found, and how.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub main_arena: u64,
    pub mp: Option<u64>,
    pub layout: Layout,
    pub version: Option<(GlibcVersion, VersionSource)>,
    /// How `main_arena` was found, for the report ("symbol", "scan").
    pub arena_found_by: &'static str,
    /// How `mp_` was found.
    pub mp_found_by: Option<&'static str>,
    /// Whether the tcache counts' width must be worked out from the data.
    pub tcache_unknown: bool,
    /// Set when `main_arena` is not in the core (cut off with a truncated core's tail):
    /// what is walked instead.
    pub headless: Option<Headless>,
}

/// What a truncated core still shows of glibc's heap when `main_arena` and `mp_` (in
/// libc's data, near the end of the core) were cut off: the brk heap, found by its
/// mapping, and the thread arenas, found through their heaps' `heap_info` (each arena's
/// `malloc_state` lives in its first heap, malloc/arena.c `_int_new_arena`).
#[derive(Debug, Clone)]
pub(crate) struct Headless {
    /// The brk heap, when a mapping's chunks chain from its start to its end, or to where
    /// the core was cut inside it.
    pub brk: Option<BrkHeap>,
    /// The thread arenas, by address.
    pub arenas: Vec<u64>,
}

/// The brk heap of a core that lost `main_arena`, found by its mapping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BrkHeap {
    /// The mapping's start, where sysmalloc put the first chunk.
    pub start: u64,
    /// The mapping's end, where the top chunk ends.
    pub end: u64,
    /// The top chunk; `None` when the core was cut inside the heap (an OOM kill's core
    /// whose heap is most of it): the chunks from `dumped_end` on, the top among them, are
    /// not in the core.
    pub top: Option<u64>,
    /// Where the core's bytes of the mapping end.
    pub dumped_end: u64,
}

/// Chunks followed when checking a mapping is the brk heap.
const MAX_BRK_CHUNKS: u64 = 1 << 26;

/// Arenas followed through `next` at most (glibc caps them at `8 * cores`).
pub(crate) const MAX_ARENAS: usize = 4096;
/// Writable mappings larger than this are not scanned for `main_arena` unless named after
/// libc (its `.data` is small; big anonymous mappings are heaps and stacks).
const MAX_SCAN_MAPPING: u64 = 4 << 20;

/// Finds the allocator's state, or says why it cannot, given glibc's `version`
/// ([`version::detect`]) and the layout libc's DWARF gives ([`dwarf_layout`]; the first
/// choice when it fits the memory at `main_arena`).
pub(crate) fn locate(
    target: &dyn Target,
    version: Option<(GlibcVersion, VersionSource)>,
    dwarf: Option<Layout>,
) -> Result<Located, String> {
    let builtin = version.and_then(|(v, _)| Layout::builtin(v));

    if let Some(addr) = target.find_symbol("main_arena") {
        // The symbol is trusted for the address; the layout must still fit the memory.
        let candidates: Vec<Layout> = dwarf
            .iter()
            .chain(builtin.iter())
            .cloned()
            .chain(inferred_layouts(target, addr))
            .collect();
        for layout in candidates {
            if score_arena(target, addr, &layout.state).is_some() {
                let tcache_unknown = layout.tcache.is_none() && layout.state.fastbins == 16;
                let (mp, mp_found_by) = match target.find_symbol("mp_") {
                    Some(mp) if layout.par.is_some() => (Some(mp), Some("symbol")),
                    _ => scan_mp(target, addr, &layout),
                };
                let mut layout = layout;
                // The scan may have settled which malloc_par layout this build has; an
                // inferred layout only guessed it (from thread arenas' offsets, which a
                // program whose threads never called malloc does not have: a static 2.36
                // binary then got 2.34's malloc_par and an sbrk_base of 0), so let the
                // data at `mp_` decide as well.
                if mp_found_by == Some("scan") || layout.source == LayoutSource::Inferred {
                    if let Some(p) = mp.and_then(|mp| best_par(target, mp, addr, &layout)) {
                        layout.par = Some(p);
                    }
                }
                return Ok(Located {
                    main_arena: addr,
                    mp,
                    layout,
                    version,
                    arena_found_by: "symbol",
                    mp_found_by,
                    tcache_unknown,
                    headless: None,
                });
            }
        }
    }

    let (addr, state) = scan_for_main_arena(target).ok_or_else(|| {
        "no glibc main_arena found: no symbol for it (install libc6-dbg or pass --debug-dir) \
         and no arena-shaped data in the writable mappings (was malloc ever called?)"
            .to_string()
    })?;
    let mut layout = match builtin.filter(|b| b.state == state) {
        Some(b) => b,
        None => inferred_layout(target, addr, state),
    };
    let tcache_unknown = layout.tcache.is_none() && layout.state.fastbins == 16;
    let (mp, mp_found_by) = scan_mp(target, addr, &layout);
    if let Some(p) = mp.and_then(|mp| best_par(target, mp, addr, &layout)) {
        layout.par = Some(p);
    }
    Ok(Located {
        main_arena: addr,
        mp,
        layout,
        version,
        arena_found_by: "scan",
        mp_found_by,
        tcache_unknown,
        headless: None,
    })
}

/// `main_arena` lost with a truncated core's tail: the layout from libc's DWARF or the
/// built-in table for its version (both from files, not the core), the brk heap and the
/// thread arenas from the memory that is left.
pub(crate) fn locate_headless(target: &dyn Target) -> Result<Located, String> {
    let version = version::detect(target);
    let layout = dwarf_layout(target, version.map(|v| v.0))
        .or_else(|| version.and_then(|(v, _)| Layout::builtin(v)))
        .ok_or_else(|| {
            "and neither libc's debug info nor a known glibc version gives the layout of \
             what is left"
                .to_string()
        })?;
    let st = &layout.state;
    let hi = &layout.heap_info;
    // mp_.hp_pagesize is lost with mp_: the default HEAP_MAX_SIZE.
    let heap_max = layout.heap_max_size(0);
    let maps = target.mappings();
    let mut arenas = Vec::new();
    let mut thread_heaps = HashSet::new();
    for m in maps.iter().filter(|m| m.dumped > 0) {
        let h = m.start;
        if !h.is_multiple_of(heap_max) {
            continue;
        }
        let Some(ar) = target.read_u64(h + hi.ar_ptr) else {
            continue;
        };
        if ar != 0 && target.read_u64(h + hi.size).is_some_and(|s| s <= heap_max) {
            thread_heaps.insert(h);
        }
        // The first heap of an arena holds it right after heap_info.
        let own = (h + hi.size_of + 15) & !15;
        if ar != own || block(target, ar, st.size as usize).is_none() {
            continue;
        }
        let top = target.read_u64(ar + st.top).unwrap_or(0);
        if target.read_u64(top & !(heap_max - 1)) == Some(ar) {
            arenas.push(ar);
        }
    }
    let main_end = target
        .modules()
        .iter()
        .find(|m| m.is_main)
        .map_or(0, |m| m.end);
    let brk = maps
        .iter()
        .filter(|m| {
            m.path.is_none()
                && m.perms.contains('w')
                && m.dumped > 0
                && m.start >= main_end
                && !thread_heaps.contains(&m.start)
        })
        .find_map(|m| brk_heap(target, m.start, m.end, m.start.saturating_add(m.dumped)));
    if brk.is_none() && arenas.is_empty() {
        return Err("and no heap is left in what remains of it".into());
    }
    let tcache_unknown = layout.tcache.is_none() && layout.state.fastbins == 16;
    Ok(Located {
        main_arena: target.find_symbol("main_arena").unwrap_or(0),
        mp: None,
        layout,
        version,
        arena_found_by: "lost",
        mp_found_by: None,
        tcache_unknown,
        headless: Some(Headless { brk, arenas }),
    })
}

/// The brk heap in `[start, end)`, when its chunks chain from its start (the first chunk's
/// `PREV_INUSE` set, as sysmalloc leaves it) to a top chunk that ends the mapping, or, in a
/// mapping the core holds only up to `dumped_end`, from its start to that cut.
fn brk_heap(mem: &dyn Memory, start: u64, end: u64, dumped_end: u64) -> Option<BrkHeap> {
    let heap = |top| BrkHeap {
        start,
        end,
        top,
        dumped_end,
    };
    let mut c = start;
    for _ in 0..MAX_BRK_CHUNKS {
        if c > start && dumped_end < end && c.saturating_add(16) > dumped_end {
            // The next chunk's header is past the cut: what came before chained.
            return Some(heap(None));
        }
        let sf = mem.read_u64(c.checked_add(8)?)?;
        let size = sf & !SIZE_BITS;
        if size < MINSIZE
            || !size.is_multiple_of(ALIGNMENT)
            || sf & (IS_MMAPPED | NON_MAIN_ARENA) != 0
            || (c == start && sf & PREV_INUSE == 0)
        {
            return None;
        }
        let next = c.checked_add(size)?;
        if next == end {
            return Some(heap(Some(c)));
        }
        if next > end {
            return None;
        }
        c = next;
    }
    None
}

/// The layout from libc's DWARF (`struct malloc_state`, `struct malloc_par`, `heap_info`,
/// `tcache_perthread_struct`), when its debug file was found.
pub(crate) fn dwarf_layout(target: &dyn Target, version: Option<GlibcVersion>) -> Option<Layout> {
    let ms = |m: &str| target.offset_of("malloc_state", m);
    let state = StateLayout {
        flags: ms("flags")?,
        fastbins: ms("fastbinsY")?,
        top: ms("top")?,
        bins: ms("bins")?,
        next: ms("next")?,
        next_free: ms("next_free")?,
        attached_threads: ms("attached_threads"),
        system_mem: ms("system_mem")?,
        max_system_mem: ms("max_system_mem")?,
        size: target.size_of("malloc_state")?,
    };
    let mp = |m: &str| target.offset_of("malloc_par", m);
    let par = (|| {
        Some(ParLayout {
            trim_threshold: mp("trim_threshold")?,
            top_pad: mp("top_pad")?,
            mmap_threshold: mp("mmap_threshold")?,
            arena_max: mp("arena_max")?,
            hp_pagesize: mp("hp_pagesize"),
            n_mmaps: mp("n_mmaps")?,
            n_mmaps_max: mp("n_mmaps_max")?,
            max_n_mmaps: mp("max_n_mmaps")?,
            mmapped_mem: mp("mmapped_mem")?,
            max_mmapped_mem: mp("max_mmapped_mem")?,
            sbrk_base: mp("sbrk_base")?,
            tcache_bins: mp("tcache_bins"),
            tcache_max_bytes: mp("tcache_max_bytes"),
            tcache_count: mp("tcache_count"),
            size: target.size_of("malloc_par")?,
        })
    })();
    let hi = |m: &str| target.offset_of("_heap_info", m);
    let heap_info = match (hi("prev"), hi("size"), hi("mprotect_size")) {
        (Some(prev), Some(size), Some(mprotect_size)) => HeapInfoLayout {
            ar_ptr: hi("ar_ptr").unwrap_or(0),
            prev,
            size,
            mprotect_size,
            pagesize: hi("pagesize"),
            size_of: target.size_of("_heap_info")?,
        },
        _ => HeapInfoLayout::new(version.is_some_and(|v| v >= GlibcVersion::new(2, 35))),
    };
    let tcache = target
        .offset_of("tcache_perthread_struct", "entries")
        .map(|entries| TcacheLayout::new(entries / super::layout::TCACHE_MAX_BINS as u64));
    Some(Layout {
        source: LayoutSource::Dwarf,
        state,
        par,
        heap_info,
        tcache,
        safe_linking: version.map(|v| v >= GlibcVersion::new(2, 32)),
    })
}

/// The layouts to try at a known `main_arena` address when neither DWARF nor the table
/// applies: the three shapes of `malloc_state` that 2.12 … 2.40 have had.
fn inferred_layouts(target: &dyn Target, addr: u64) -> Vec<Layout> {
    [(true, true), (false, true), (false, false)]
        .into_iter()
        .map(|(f, a)| inferred_layout(target, addr, StateLayout::new(f, a)))
        .collect()
}

/// A layout for an arena found by its shape: the rest is worked out from the data.
fn inferred_layout(target: &dyn Target, main_arena: u64, state: StateLayout) -> Layout {
    let modern = state.fastbins == 16; // have_fastchunks: 2.27 and later
                                       // heap_info grew a pagesize in 2.35: a thread arena then sits 48 bytes into its heap.
    let mut heap_info = HeapInfoLayout::new(false);
    for a in arena_ring(target, main_arena, &state) {
        if a != main_arena && a & (HEAP_MAX_SIZE - 1) == 48 {
            heap_info = HeapInfoLayout::new(true);
        }
    }
    Layout {
        source: LayoutSource::Inferred,
        state,
        // 2.26 has no have_fastchunks but has the tcache fields; the mp_ scan decides.
        par: Some(ParLayout::new(heap_info.pagesize.is_some())),
        heap_info,
        tcache: None,
        safe_linking: if modern { None } else { Some(false) },
    }
}

/// The arenas of the ring starting at `main_arena`, in `next` order (bounded).
pub(crate) fn arena_ring(mem: &dyn Memory, main_arena: u64, state: &StateLayout) -> Vec<u64> {
    let mut out = vec![main_arena];
    let mut a = main_arena;
    while out.len() < MAX_ARENAS {
        let Some(n) = mem.read_u64(a.wrapping_add(state.next)) else {
            break;
        };
        if n == main_arena || n == 0 || out.contains(&n) {
            break;
        }
        out.push(n);
        a = n;
    }
    out
}

/// How well the words at `a` fit an arena of this layout; `None` when they cannot be one.
fn score_arena(mem: &dyn Memory, a: u64, st: &StateLayout) -> Option<u32> {
    let b = block(mem, a, st.size as usize)?;
    let top = word(&b, st.top);
    if top == 0 || !top.is_multiple_of(16) {
        return None;
    }
    let mut score = 0;
    for i in 1..NBINS {
        let off = st.bins + (i as u64 - 1) * 16;
        let (fd, bk) = (word(&b, off), word(&b, off + 8));
        let me = a + off - 16;
        if fd == me || bk == me {
            if fd != bk {
                return None;
            }
            score += 1;
        } else if fd == 0 || bk == 0 || !fd.is_multiple_of(16) || !bk.is_multiple_of(16) {
            return None;
        }
    }
    for i in 0..NFASTBINS as u64 {
        let p = word(&b, st.fastbins + 8 * i);
        if !p.is_multiple_of(16) {
            return None;
        }
    }
    let (sys, max) = (word(&b, st.system_mem), word(&b, st.max_system_mem));
    if sys > max || max > 1 << 48 {
        return None;
    }
    // The ring of arenas must come back.
    let mut n = word(&b, st.next);
    let mut hops = 0;
    while n != a {
        hops += 1;
        if hops > MAX_ARENAS || n == 0 {
            return None;
        }
        n = mem.read_u64(n.checked_add(st.next)?)?;
    }
    Some(score + 10)
}

/// Scans writable memory for the arena ring and returns `main_arena` with its shape.
fn scan_for_main_arena(target: &dyn Target) -> Option<(u64, StateLayout)> {
    let is_libc = |p: &str| {
        let n = p.rsplit('/').next().unwrap_or(p);
        n.starts_with("libc.so") || n.starts_with("libc-2.")
    };
    let maps = target.mappings();
    let mut regions: Vec<(u64, u64, u8)> = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        if !m.perms.contains('w') || m.dumped == 0 {
            continue;
        }
        let rank = match m.path.as_deref() {
            Some(p) if is_libc(p) => 0,
            // The anonymous mapping right after libc's is its .bss.
            None if i > 0 && maps[i - 1].path.as_deref().is_some_and(is_libc) => 1,
            Some(_) => 2,
            None if m.end - m.start <= MAX_SCAN_MAPPING => 3,
            None => continue,
        };
        regions.push((m.start, m.end, rank));
    }
    regions.sort_by_key(|r| r.2);
    let shapes = [
        StateLayout::new(true, true),
        StateLayout::new(false, true),
        StateLayout::new(false, false),
    ];
    for (start, end, _) in regions {
        let mut best: Option<(u32, u64, StateLayout)> = None;
        // An arena's 126 empty bins name the same candidates over and over: score each
        // (address, shape) once (a score never changes, and only a higher one wins). The
        // links come in address order, so the candidates of a link that an earlier link of
        // the same shape and 16-byte phase named are the ones at or below the highest that
        // link named: `tried[shape][phase]`.
        let mut tried = vec![[None::<u64>; 2]; shapes.len()];
        for p in self_links(target, start, end) {
            // p is an empty bin's fd: bins + 16 * (i - 1) for some bin i.
            for (k, st) in shapes.iter().enumerate() {
                let highest = &mut tried[k][((p >> 3) & 1) as usize];
                let done = *highest;
                *highest = p.checked_sub(st.bins).or(done);
                for i in 1..NBINS as u64 {
                    let Some(a) = p.checked_sub(st.bins + 16 * (i - 1)) else {
                        break;
                    };
                    if done.is_some_and(|d| a <= d) {
                        break;
                    }
                    if best.as_ref().is_some_and(|b| b.1 == a) {
                        continue;
                    }
                    if let Some(s) = score_arena(target, a, st) {
                        let s = s + attached_bonus(target, a, st);
                        if best.as_ref().is_none_or(|b| s > b.0) {
                            best = Some((s, a, st.clone()));
                        }
                    }
                }
            }
            if best.is_some() {
                break;
            }
        }
        if let Some((_, a, st)) = best {
            // Any arena of the ring leads to main_arena: the one not inside a heap.
            let ring = arena_ring(target, a, &st);
            let main = ring
                .iter()
                .copied()
                .find(|&x| !is_heap_arena(target, x))
                .unwrap_or(a);
            return Some((main, st));
        }
    }
    None
}

/// Prefers the `attached_threads` variant when the word after `next_free` is a thread count
/// and the next two are `system_mem <= max_system_mem`; penalizes it otherwise.
fn attached_bonus(mem: &dyn Memory, a: u64, st: &StateLayout) -> u32 {
    let Some(b) = block(mem, a.wrapping_add(st.next_free), 32) else {
        return 0;
    };
    let (w1, w2, w3) = (word(&b, 8), word(&b, 16), word(&b, 24));
    let looks_attached = w1 < 0x10000 && w2 <= w3 && w2 >= w1;
    match (st.attached_threads.is_some(), looks_attached) {
        (true, true) | (false, false) => 1,
        _ => 0,
    }
}

/// Whether arena `a` sits right after the `heap_info` of its own heap.
fn is_heap_arena(mem: &dyn Memory, a: u64) -> bool {
    let heap = a & !(HEAP_MAX_SIZE - 1);
    let off = a - heap;
    (off == 32 || off == 48) && mem.read_u64(heap) == Some(a)
}

/// Addresses `p` in `[start, end)` where `*p == *(p + 8) == p - 16`: empty bins.
fn self_links(mem: &dyn Memory, start: u64, end: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let b = mem.bytes_at(at);
        if b.is_empty() {
            at = (at | 0xfff) + 1;
            continue;
        }
        let len = (b.len() as u64).min(end - at) as usize;
        let mut off = 0usize;
        while off + 16 <= len {
            let w = u64::from_le_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]));
            let p = at + off as u64;
            if w == p.wrapping_sub(16) {
                let w2 = u64::from_le_bytes(b[off + 8..off + 16].try_into().unwrap_or([0; 8]));
                if w2 == w {
                    out.push(p);
                    if out.len() > 4096 {
                        return out;
                    }
                }
            }
            off += 8;
        }
        at += len as u64;
    }
    out
}

/// Finds `mp_` near `main_arena` with the layout's (or either) `malloc_par` shape.
fn scan_mp(
    target: &dyn Target,
    main_arena: u64,
    layout: &Layout,
) -> (Option<u64>, Option<&'static str>) {
    if layout.par.is_none() {
        return (None, None);
    }
    let heap = main_heap_bounds(target, main_arena, &layout.state);
    let lo = main_arena.saturating_sub(0x4000) & !7;
    let hi = main_arena + layout.state.size + 0x4000;
    let mut best: Option<(u32, u64)> = None;
    for pl in par_candidates(layout) {
        let mut p = lo;
        while p < hi {
            if p + pl.size > main_arena && p < main_arena + layout.state.size {
                p = main_arena + layout.state.size;
                continue;
            }
            if let Some(s) = score_par(target, p, &pl, heap) {
                if best.is_none_or(|b| s > b.0) {
                    best = Some((s, p));
                }
            }
            p += 8;
        }
    }
    match best {
        Some((_, p)) => (Some(p), Some("scan")),
        None => (None, None),
    }
}

/// The `malloc_par` layouts to try: the layout's own first.
fn par_candidates(layout: &Layout) -> Vec<ParLayout> {
    let mut v: Vec<ParLayout> = layout.par.iter().cloned().collect();
    for hp in [true, false] {
        let p = ParLayout::new(hp);
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// The `malloc_par` layout that fits `mp` best.
fn best_par(target: &dyn Target, mp: u64, main_arena: u64, layout: &Layout) -> Option<ParLayout> {
    let heap = main_heap_bounds(target, main_arena, &layout.state);
    par_candidates(layout)
        .into_iter()
        .filter_map(|pl| score_par(target, mp, &pl, heap).map(|s| (s, pl)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, pl)| pl)
}

/// The mapping holding the main arena's top chunk: `[start, top]`, where `sbrk_base` lies.
fn main_heap_bounds(target: &dyn Target, main_arena: u64, st: &StateLayout) -> Option<(u64, u64)> {
    let top = target.read_u64(main_arena + st.top)?;
    if top == st.bin_at(main_arena, 1) {
        return None; // malloc never ran in the main arena
    }
    let m = target
        .mappings()
        .iter()
        .find(|m| m.start <= top && top < m.end)?;
    Some((m.start, top))
}

fn score_par(mem: &dyn Memory, p: u64, pl: &ParLayout, heap: Option<(u64, u64)>) -> Option<u32> {
    let b = block(mem, p, pl.size as usize)?;
    let sbrk = word(&b, pl.sbrk_base);
    let mut score = 0;
    match heap {
        Some((lo, top)) => {
            if !(lo.saturating_sub(4096) <= sbrk && sbrk <= top) {
                return None;
            }
            score += 4;
        }
        None => {
            if sbrk != 0 && !sbrk.is_multiple_of(8) {
                return None;
            }
        }
    }
    let n_mmaps = word32(&b, pl.n_mmaps) as i32;
    let n_max = word32(&b, pl.n_mmaps_max) as i32;
    let max_n = word32(&b, pl.max_n_mmaps) as i32;
    if n_mmaps < 0 || n_max < 0 || max_n < n_mmaps {
        return None;
    }
    let (mm, max_mm) = (word(&b, pl.mmapped_mem), word(&b, pl.max_mmapped_mem));
    if mm > max_mm
        || !mm.is_multiple_of(4096)
        || !max_mm.is_multiple_of(4096)
        || (n_mmaps == 0) != (mm == 0)
    {
        return None;
    }
    let mmap_threshold = word(&b, pl.mmap_threshold);
    if mmap_threshold > HEAP_MAX_SIZE {
        return None;
    }
    if n_max == 65536 {
        score += 2; // DEFAULT_MMAP_MAX (malloc/malloc.c)
    }
    if word(&b, pl.top_pad) == 131072 {
        score += 1; // DEFAULT_TOP_PAD (sysdeps/generic/malloc-machine.h)
    }
    if let Some(hp) = pl.hp_pagesize {
        let v = word(&b, hp);
        if v != 0 && !v.is_power_of_two() {
            return None;
        }
    }
    if let (Some(tb), Some(tm), Some(tc)) = (pl.tcache_bins, pl.tcache_max_bytes, pl.tcache_count) {
        let (bins, max, count) = (word(&b, tb), word(&b, tm), word(&b, tc));
        if bins > 64 || max > 1032 || count > 65535 {
            return None;
        }
        if bins == 64 && max == 1032 {
            score += 3; // TCACHE_MAX_BINS and tidx2usize (63)
        }
        if count == 7 {
            score += 1; // TCACHE_FILL_COUNT
        }
    }
    Some(score)
}
