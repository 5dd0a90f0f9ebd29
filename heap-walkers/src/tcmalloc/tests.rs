//! A tcmalloc heap put together by hand, with the statics' symbols as a static
//! `libtcmalloc.a` keeps them. Offsets are written out here from gperftools 2.10's headers
//! (src/common.h, span.h, central_freelist.h, page_heap.h, pagemap.h, thread_cache.h), not
//! taken from the walker's tables, so a slip in either shows.

use core_reader::{MemoryImage, Target};

use super::{walk, Options};
use crate::AllocationState;

const SIZEMAP: u64 = 0x10_0000;
const CENTRAL: u64 = 0x20_0000;
const PAGEHEAP: u64 = 0x100_0000;
const LEAF: u64 = 0x400_0000;
const SPANS: u64 = 0x300_0000;
const CACHE: u64 = 0x310_0000;
const HEAPS: u64 = 0x320_0000;
/// Page 0x10000: the heap's four 8 KiB pages.
const HEAP: u64 = 0x2000_0000;

fn put(img: &mut MemoryImage, at: u64, v: u64) {
    let (start, region) = img
        .regions()
        .iter()
        .find(|(s, b)| *s <= at && at + 8 <= s + b.len() as u64)
        .map(|(s, _)| *s)
        .and_then(|s| Some((s, img.region_mut(s)?)))
        .expect("a region holds it");
    let o = (at - start) as usize;
    region[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

fn put32(img: &mut MemoryImage, at: u64, v: u32) {
    let start = img
        .regions()
        .iter()
        .find(|(s, b)| *s <= at && at + 4 <= s + b.len() as u64)
        .map(|(s, _)| *s)
        .expect("a region holds it");
    let region = img.region_mut(start).expect("region");
    let o = (at - start) as usize;
    region[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// Three classes (0, 16, 32 bytes). Class 1 has one span of one page (512 objects): two
/// free on the span, a transfer-cache slot of two, one in a thread cache. A large
/// allocation of two pages and a free span of one page on the normal list.
fn image() -> MemoryImage {
    let mut img = MemoryImage::new();
    for (at, len) in [
        (SIZEMAP, 4232),
        (CENTRAL, 3 * 1216),
        (PAGEHEAP, 0x18_3100),
        (LEAF, 8 << 18),
        (SPANS, 4096),
        (CACHE, 4160),
        (HEAPS, 16),
        (HEAP, 4 * 8192),
    ] {
        assert!(img.add(at, vec![0; len]));
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
    // SizeMap: num_objects_to_move_ at 2172, class_to_size_ at 2684, class_to_pages_ at
    // 3200, num_size_classes at 4224.
    for (cl, size) in [(1u64, 16u32), (2, 32)] {
        put32(&mut img, SIZEMAP + 2172 + 4 * cl, 32);
        put32(&mut img, SIZEMAP + 2684 + 4 * cl, size);
        put(&mut img, SIZEMAP + 3200 + 8 * cl, 1);
    }
    put(&mut img, SIZEMAP + 4224, 3);
    // CentralFreeList (1216 bytes apart): size_class_ 8, num_spans_ 112, counter_ 120,
    // tc_slots_ 128, used_slots_ 1152.
    for cl in 0..3 {
        put(&mut img, CENTRAL + cl * 1216 + 8, cl);
    }
    let c1 = CENTRAL + 1216;
    put(&mut img, c1 + 112, 1);
    put(&mut img, c1 + 120, 2);
    put(&mut img, c1 + 128, HEAP + 16 * 10);
    put(&mut img, c1 + 136, HEAP + 16 * 11);
    put32(&mut img, c1 + 1152, 1);
    put(&mut img, HEAP + 16 * 10, HEAP + 16 * 11);
    // The span's own free objects: 3 then 5.
    put(&mut img, HEAP + 16 * 3, HEAP + 16 * 5);
    // Spans (48 bytes): start 0, length 8, objects 32, bits 40 (refcount:16,
    // sizeclass:8, location:2).
    let span = |img: &mut MemoryImage, at: u64, page: u64, len: u64, bits: u32, objects| {
        put(img, at, page);
        put(img, at + 8, len);
        put(img, at + 32, objects);
        put32(img, at + 40, bits);
    };
    let page = HEAP >> 13;
    span(&mut img, SPANS, page, 1, 1 << 16, HEAP + 16 * 3);
    span(&mut img, SPANS + 48, page + 1, 2, 0, 0);
    span(&mut img, SPANS + 96, page + 3, 1, 1 << 24, 0);
    // The page map: root_ at 0x80000 (2^17 leaves of 2^18 pages); first and last pages.
    put(&mut img, PAGEHEAP + 0x8_0000 + 8 * (page >> 18), LEAF);
    let leaf = LEAF + 8 * (page & ((1 << 18) - 1));
    for (k, s) in [
        (0, SPANS),
        (1, SPANS + 48),
        (2, SPANS + 48),
        (3, SPANS + 96),
    ] {
        put(&mut img, leaf + 8 * k, s);
    }
    // Stats at 0x183068: system_bytes, free_bytes, unmapped_bytes, committed_bytes.
    put(&mut img, PAGEHEAP + 0x18_3068, 4 * 8192);
    put(&mut img, PAGEHEAP + 0x18_3068 + 8, 8192);
    put(&mut img, PAGEHEAP + 0x18_3068 + 24, 4 * 8192);
    // Free-list heads (free_ at 0x180068, 96 bytes a length, normal then returned): empty,
    // pointing at themselves, but for the one-page normal list holding the free span.
    for k in 0..256u64 {
        let head = PAGEHEAP + 0x18_0068 + 48 * k;
        put(&mut img, head + 16, head);
        put(&mut img, head + 24, head);
    }
    // One thread cache: list_[1] (32 bytes a class: list_, length_) holds object 7;
    // size_ 4096, max_size_ 4100, tid_ 4128, next_ 4144.
    put(&mut img, CACHE + 32, HEAP + 16 * 7);
    put32(&mut img, CACHE + 32 + 8, 1);
    put32(&mut img, CACHE + 4096, 16);
    put32(&mut img, CACHE + 4100, 65536);
    put(&mut img, HEAPS, CACHE);
    put32(&mut img, HEAPS + 8, 1);
    img
}

#[test]
fn a_hand_built_heap_is_walked() {
    let img = image();
    let heap = walk(&img, &Options { allocations: true }).expect("walked");
    assert!(heap.problems.is_empty(), "{:?}", heap.problems);
    let s = &heap.detail.stats;
    assert_eq!(s.thread_cache_freelist_bytes, 16);
    assert_eq!(s.central_cache_freelist_bytes, 2 * 16);
    // used_slots_ × num_objects_to_move × size, as GetStats counts it.
    assert_eq!(s.transfer_cache_freelist_bytes, 32 * 16);
    assert_eq!(
        s.bytes_in_use_by_application,
        4 * 8192 - 8192 - 32 - 512 - 16
    );
    assert_eq!(heap.detail.free_spans.len(), 1);
    assert_eq!(heap.detail.free_spans[0].normal, 1);
    let list = heap.allocations.as_ref().expect("listed");
    let count = |state| list.iter().filter(|a| a.state == state).count();
    assert_eq!(count(AllocationState::Tcache), 1);
    // Two on the span, two in the transfer slot, and the free span.
    assert_eq!(count(AllocationState::Free), 5);
    assert_eq!(count(AllocationState::Used), 512 - 5 + 1);
    let arena = &heap.arenas[0].figures;
    assert_eq!(arena.in_use_bytes, (512 - 5) * 16 + 2 * 8192);
    assert_eq!(arena.largest_free, 8192);
    let mut text = Vec::new();
    heap.write_stats(&mut text).expect("text");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(text.contains("MALLOC: +          512 (    0.0 MiB) Bytes in transfer cache freelist"));
    assert!(
        text.contains("class   1 [       16 bytes ] :       35 objs;"),
        "{text}"
    );
}

/// Any byte of the statics, the spans, the page map and the cache overwritten: the walk
/// says what it could, or fails, and never panics.
#[test]
fn damaged_heaps_do_not_panic() {
    let base = image();
    let targets = [
        SIZEMAP + 4224,
        SIZEMAP + 2684 + 4,
        CENTRAL + 1216 + 1152,
        CENTRAL + 1216 + 128,
        PAGEHEAP + 0x8_0000 + 8 * ((HEAP >> 13) >> 18),
        LEAF + 8 * ((HEAP >> 13) & ((1 << 18) - 1)),
        SPANS + 8,
        SPANS + 40,
        SPANS + 32,
        CACHE + 32,
        CACHE + 40,
        CACHE + 4144,
        HEAP + 16 * 3,
        HEAP + 16 * 10,
    ];
    for at in targets {
        for v in [0, 1, u64::MAX, at, SPANS, HEAP + 16 * 3, 1 << 40] {
            let mut img = base.clone();
            put(&mut img, at, v);
            if let Ok(heap) = walk(&img, &Options { allocations: true }) {
                let mut out = Vec::new();
                heap.write_stats(&mut out).expect("text");
                heap.write_text(&mut out).expect("text");
                let _ = img.threads();
            }
        }
    }
}
