// The body of the `tcmalloc` fuzz target and its seed, shared with
// heap-walkers/tests/tcmalloc_synthetic.rs (both `include!` this file, so the regression
// tests run exactly what the fuzzer runs).
//
// The seed is a gperftools 2.10 heap put together by hand on x86_64 Linux, with the statics'
// symbols as a static `libtcmalloc.a` keeps them: three size classes (0, 256, 32 bytes);
// class 1 has one span of one page (32 objects), two free on the span, a transfer-cache slot
// of two, one in a thread cache; a large allocation of two pages and a free span of one page on
// the normal list; the page map's root and leaf for those pages. Offsets are written out here
// from gperftools 2.10's headers (src/common.h, span.h, central_freelist.h, page_heap.h,
// pagemap.h, page_heap_allocator.h, thread_cache.h) — not taken from the walker's tables, so
// a slip in either shows.

use core_reader::MemoryImage;
use heap_walkers::{leaks, tcmalloc};

include!("bytes.rs");

/// Where the seed puts things.
const SIZEMAP: u64 = 0x10_0000;
const CENTRAL: u64 = 0x20_0000;
const PAGEHEAP: u64 = 0x100_0000;
const LEAF: u64 = 0x400_0000;
const SPANS: u64 = 0x300_0000;
const CACHE: u64 = 0x310_0000;
const HEAPS: u64 = 0x320_0000;
/// Page 0x10000: the heap's four 8 KiB pages.
const HEAP: u64 = 0x2000_0000;
/// Class 1's object size. Big enough that its span holds few objects: each one still in use
/// is a leak the fuzz body's leak check lists and renders (a class of 16 bytes made 507 of
/// them, most of an input's time).
const OBJECT: u64 = 256;

/// `SizeMap` (src/common.h): `class_array_` (2169 bytes), then `num_objects_to_move_[128]`
/// at 2172, `class_to_size_[128]` at 2684, `class_to_pages_[128]` at 3200,
/// `num_size_classes` at 4224.
const SM_TO_MOVE: u64 = 2172;
const SM_TO_SIZE: u64 = 2684;
const SM_TO_PAGES: u64 = 3200;
const SM_NUM_CLASSES: u64 = 4224;
/// `CentralFreeListPadded` (src/central_freelist.h), 1216 bytes apart: `size_class_` 8,
/// `num_spans_` 112, `counter_` 120, `tc_slots_` 128 (`{head, tail}`), `used_slots_` 1152.
const CENTRAL_STRIDE: u64 = 1216;
/// `PageHeap` (src/page_heap.h): `pagemap_.root_` at 0x80000 (after the 2^16-entry
/// `PageMapCache`), `free_[kMaxPages]` at 0x180068 (96 bytes a length: the normal list's
/// `Span` head, then the returned list's), `stats_` at 0x183068.
const PH_ROOT: u64 = 0x8_0000;
const PH_FREE: u64 = 0x18_0068;
const PH_STATS: u64 = 0x18_3068;
/// `TCMalloc_PageMap2<35>` (src/pagemap.h): leaves of 2^18 pages.
const LEAF_BITS: u64 = 18;

impl Bytes {
    fn u32(&mut self, at: u64, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
}

/// The seed heap.
fn seed_image() -> MemoryImage {
    let mut sizemap = Bytes::new(SIZEMAP, 4232);
    for (cl, size) in [(1u64, OBJECT as u32), (2, 32)] {
        sizemap.u32(SIZEMAP + SM_TO_MOVE + 4 * cl, 32);
        sizemap.u32(SIZEMAP + SM_TO_SIZE + 4 * cl, size);
        sizemap.u64(SIZEMAP + SM_TO_PAGES + 8 * cl, 1);
    }
    sizemap.u64(SIZEMAP + SM_NUM_CLASSES, 3);

    let mut central = Bytes::new(CENTRAL, 3 * CENTRAL_STRIDE);
    for cl in 0..3 {
        central.u64(CENTRAL + cl * CENTRAL_STRIDE + 8, cl);
    }
    let c1 = CENTRAL + CENTRAL_STRIDE;
    central.u64(c1 + 112, 1);
    central.u64(c1 + 120, 2);
    // One transfer-cache slot: objects 10 and 11.
    central.u64(c1 + 128, HEAP + OBJECT * 10);
    central.u64(c1 + 136, HEAP + OBJECT * 11);
    central.u32(c1 + 1152, 1);

    // The objects link through their first word: the slot's 10 → 11, the span's 3 → 5.
    let mut heap = Bytes::new(HEAP, 4 * 8192);
    heap.u64(HEAP + OBJECT * 10, HEAP + OBJECT * 11);
    heap.u64(HEAP + OBJECT * 3, HEAP + OBJECT * 5);

    // Spans (src/span.h, 48 bytes): start 0, length 8, objects 32, and at 40 the bit
    // fields refcount:16, sizeclass:8, location:2.
    let mut spans = Bytes::new(SPANS, 4096);
    let page = HEAP >> 13;
    for (k, start, length, bits, objects) in [
        (0, page, 1, 1u32 << 16, HEAP + OBJECT * 3),
        (1, page + 1, 2, 0, 0),
        (2, page + 3, 1, 1 << 24, 0),
    ] {
        let at = SPANS + 48 * k;
        spans.u64(at, start);
        spans.u64(at + 8, length);
        spans.u64(at + 32, objects);
        spans.u32(at + 40, bits);
    }

    // The page map: a leaf for the heap's pages, each page pointing at its span.
    let mut pageheap = Bytes::new(PAGEHEAP, 0x18_3100);
    pageheap.u64(PAGEHEAP + PH_ROOT + 8 * (page >> LEAF_BITS), LEAF);
    let mut leaf = Bytes::new(LEAF, 8 << LEAF_BITS);
    let first = LEAF + 8 * (page & ((1 << LEAF_BITS) - 1));
    for (k, span) in [(0, SPANS), (1, SPANS + 48), (2, SPANS + 48), (3, SPANS + 96)] {
        leaf.u64(first + 8 * k, span);
    }
    // Stats: system_bytes, free_bytes, unmapped_bytes, committed_bytes.
    pageheap.u64(PAGEHEAP + PH_STATS, 4 * 8192);
    pageheap.u64(PAGEHEAP + PH_STATS + 8, 8192);
    pageheap.u64(PAGEHEAP + PH_STATS + 24, 4 * 8192);
    // Every free list empty (its head pointing at itself), but for the one-page normal
    // list, which the walker finds through the page map.
    for k in 0..256u64 {
        let head = PAGEHEAP + PH_FREE + 48 * k;
        pageheap.u64(head + 16, head);
        pageheap.u64(head + 24, head);
    }

    // One thread cache (src/thread_cache.h): list_[1] (32 bytes a class: list_, length_)
    // holds object 7; size_ at 4096, max_size_ 4100, tid_ 4128, next_ 4144.
    let mut cache = Bytes::new(CACHE, 4160);
    cache.u64(CACHE + 32, HEAP + OBJECT * 7);
    cache.u32(CACHE + 32 + 8, 1);
    cache.u32(CACHE + 4096, OBJECT as u32);
    cache.u32(CACHE + 4100, 65536);
    // ThreadCache::thread_heaps_ and thread_heap_count_.
    let mut heaps = Bytes::new(HEAPS, 16);
    heaps.u64(HEAPS, CACHE);
    heaps.u32(HEAPS + 8, 1);

    let mut img = MemoryImage::new();
    for b in [sizemap, central, pageheap, leaf, spans, cache, heaps, heap] {
        assert!(img.add(b.base, b.b));
    }
    for (name, at) in [
        ("_ZN8tcmalloc6Static8sizemap_E", SIZEMAP),
        ("_ZN8tcmalloc6Static14central_cache_E", CENTRAL),
        ("_ZN8tcmalloc6Static9pageheap_E", PAGEHEAP),
        ("_ZN8tcmalloc11ThreadCache13thread_heaps_E", HEAPS),
        ("_ZN8tcmalloc11ThreadCache18thread_heap_count_E", HEAPS + 8),
    ] {
        img.symbols.insert(name.to_string(), at);
    }
    img
}

include!("patch.rs");

/// The seed, built once per process (its page map's leaf and page heap are megabytes).
static SEED: LazyLock<Mutex<MemoryImage>> = LazyLock::new(|| Mutex::new(seed_image()));

/// Patches the seed with `data` (patch.rs: `[region, offset: u32 LE, length, bytes…]` over
/// and over) and runs the walk with its allocations listed, GetStats' text, the text and
/// JSON views, and the leak check on what it listed. None may panic.
pub fn exercise(data: &[u8]) {
    let mut image = Patched::new(&SEED);
    image.apply(data);
    let image = &*image;
    let options = tcmalloc::Options { allocations: true };
    let Ok(heap) = tcmalloc::walk(image, &options) else {
        return;
    };
    let mut sink = Vec::new();
    heap.write_stats(&mut sink).expect("GetStats text");
    heap.write_text(&mut sink).expect("text");
    serde_json::to_writer(&mut sink, &heap).expect("json");
    let roots = leaks::tcmalloc_roots(image, &heap);
    let report = leaks::find_leaks(image, leaks::blocks(heap.allocations.iter().flatten()), &roots);
    report.write_text(&mut sink, 10).expect("leak text");
    report.write_json(&mut sink, "tcmalloc").expect("leak json");
}
