//! The tcmalloc walker on a gperftools 2.10 heap built by hand (heap-walkers/fuzz/tcmalloc.rs:
//! laid out from 2.10's headers, with the statics' symbols as a static `libtcmalloc.a` keeps
//! them), read through `core_reader::Target`: the figures it must find, damaged heaps that
//! must not panic, and the fuzz target's body on fixed and pseudo-random inputs.

mod support;

include!("../fuzz/tcmalloc.rs");

use core_reader::Target;
use heap_walkers::AllocationState;
use tcmalloc::{walk, Options};

/// A copy of the fuzz target's seed (which its body patches in place, under the lock).
fn seed() -> MemoryImage {
    SEED.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Writes `v` at `at` in the image.
fn poke(image: &mut MemoryImage, at: u64, v: u64) {
    let start = image
        .regions()
        .iter()
        .map(|r| r.0)
        .filter(|&s| s <= at)
        .max()
        .expect("a region holds it");
    let region = image.region_mut(start).expect("region");
    let o = (at - start) as usize;
    region[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn a_hand_built_heap_is_walked() {
    let heap = walk(&seed(), &Options { allocations: true }).expect("walked");
    assert!(heap.problems.is_empty(), "{:?}", heap.problems);
    let s = &heap.detail.stats;
    assert_eq!(s.thread_cache_freelist_bytes, 256);
    assert_eq!(s.central_cache_freelist_bytes, 2 * 256);
    // used_slots_ × num_objects_to_move × size, as GetStats counts it.
    assert_eq!(s.transfer_cache_freelist_bytes, 32 * 256);
    // The system's bytes less the page heap's free ones and the caches'.
    assert_eq!(
        s.bytes_in_use_by_application,
        4 * 8192 - 8192 - 2 * 256 - 32 * 256 - 256
    );
    assert_eq!(heap.detail.free_spans.len(), 1);
    assert_eq!(heap.detail.free_spans[0].normal, 1);
    let list = heap.allocations.as_ref().expect("listed");
    let count = |state| list.iter().filter(|a| a.state == state).count();
    assert_eq!(count(AllocationState::Tcache), 1);
    // Two on the span, two in the transfer slot, and the free span.
    assert_eq!(count(AllocationState::Free), 5);
    // The span's 32 objects, less those five free; and the large allocation.
    assert_eq!(count(AllocationState::Used), 32 - 5 + 1);
    let arena = &heap.arenas[0].figures;
    assert_eq!(arena.in_use_bytes, (32 - 5) * 256 + 2 * 8192);
    assert_eq!(arena.largest_free, 8192);
    let mut text = Vec::new();
    heap.write_stats(&mut text).expect("text");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(text.contains("MALLOC: +         8192 (    0.0 MiB) Bytes in transfer cache freelist"));
    assert!(
        text.contains("class   1 [      256 bytes ] :       35 objs;"),
        "{text}"
    );
}

/// Any word of the statics, the spans, the page map and the cache overwritten: the walk
/// says what it could, or fails, and never panics.
#[test]
fn damaged_heaps_do_not_panic() {
    let targets = [
        SIZEMAP + SM_NUM_CLASSES,
        SIZEMAP + SM_TO_SIZE + 4,
        CENTRAL + CENTRAL_STRIDE + 1152,
        CENTRAL + CENTRAL_STRIDE + 128,
        PAGEHEAP + PH_ROOT + 8 * ((HEAP >> 13) >> LEAF_BITS),
        LEAF + 8 * ((HEAP >> 13) & ((1 << LEAF_BITS) - 1)),
        SPANS + 8,
        SPANS + 40,
        SPANS + 32,
        CACHE + 32,
        CACHE + 40,
        CACHE + 4144,
        HEAP + OBJECT * 3,
        HEAP + OBJECT * 10,
    ];
    for at in targets {
        for v in [0, 1, u64::MAX, at, SPANS, HEAP + OBJECT * 3, 1 << 40] {
            let mut img = seed();
            poke(&mut img, at, v);
            if let Ok(heap) = walk(&img, &Options { allocations: true }) {
                let mut out = Vec::new();
                heap.write_stats(&mut out).expect("text");
                heap.write_text(&mut out).expect("text");
                let _ = img.threads();
            }
        }
    }
}

/// Root entries that all name the one leaf: it is read once, the others are diagnostics —
/// without that, 2^17 entries would read 256 GiB.
#[test]
fn page_map_leaves_that_overlap_are_skipped() {
    let mut img = seed();
    let page = HEAP >> 13;
    for i in 1..4096u64 {
        // Beside the leaf's own entry: the same leaf, and one 8 bytes in.
        let at = PAGEHEAP + PH_ROOT + 8 * ((page >> LEAF_BITS) + i);
        poke(&mut img, at, if i % 2 == 0 { LEAF } else { LEAF + 8 });
    }
    let heap = walk(&img, &Options { allocations: true }).expect("walked");
    let overlaps = heap
        .problems
        .iter()
        .filter(|p| p.message.contains("overlaps another leaf"))
        .count();
    assert_eq!(overlaps, 4095);
    let list = heap.allocations.as_ref().expect("listed");
    assert_eq!(list.len(), 32 + 2, "the seed's objects and spans, once");
}

/// A size class whose spans are longer than any 2.10 class's matches no span: a span of
/// 2^30 pages claiming it lists no 2^39 objects.
#[test]
fn a_class_of_impossible_spans_lists_nothing() {
    let mut img = seed();
    poke(&mut img, SIZEMAP + SM_TO_PAGES + 8, 1 << 30);
    poke(&mut img, SPANS + 8, 1 << 30);
    let heap = walk(&img, &Options { allocations: true }).expect("walked");
    let list = heap.allocations.as_ref().expect("listed");
    assert!(list.len() <= 2, "{}", list.len());
}

/// The fuzz target's body on the empty input, a patch in every region at the offsets that
/// matter, and a fixed pseudo-random sequence (a small fuzzing run under plain `cargo test`).
#[test]
fn the_fuzz_target_survives_fixed_inputs() {
    exercise(&[]);
    let regions = seed().regions().len() as u8;
    for region in 0..regions {
        for offset in [0u32, 8, 40, 128, 1152, 2684, 4224, u32::MAX] {
            for fill in [0x00, 0xff] {
                let mut input = vec![region];
                input.extend(offset.to_le_bytes());
                input.push(7);
                input.extend([fill; 8]);
                exercise(&input);
            }
        }
    }
    let mut next = support::xorshift(0x2545_f491_4f6c_dd1d);
    // The walk reads the page map's megabytes every time: 100 runs keep this test short in
    // a debug build.
    for _ in 0..100 {
        let mut input = Vec::new();
        for _ in 0..1 + next() % 4 {
            // The values are what the walker follows: pointers into the heap, at spans and
            // at the statics, lengths and counts, junk.
            input.push(next() as u8);
            let offset = (next() % 0x1300) as u32 & if next().is_multiple_of(4) { !0 } else { !7 };
            input.extend(offset.to_le_bytes());
            input.push(7);
            let value = match next() % 6 {
                0 => 0,
                1 => HEAP + ((next() % 0x8000) & !0xf),
                2 => SPANS + 48 * (next() % 4),
                3 => next() % 0x2000,
                4 => u64::MAX - next() % 64,
                _ => next(),
            };
            input.extend(value.to_le_bytes());
        }
        exercise(&input);
    }
}

/// A page heap whose free lists are not where any page size puts them (a free-list head
/// pointing nowhere): the statics, found by symbol, are not read with a layout that does not
/// fit; the error asks for gperftools' DWARF.
#[test]
fn a_page_heap_no_built_in_layout_fits_is_refused() {
    let mut image = seed();
    poke(&mut image, PAGEHEAP + PH_FREE + 48 * 5 + 16, 0x10);
    let err = walk(&image, &Options::default()).expect_err("refused");
    assert!(matches!(err, tcmalloc::Error::NotRecognized(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("does not match gperftools 2.10's built-in layout")
            && message.contains("DWARF"),
        "{message}"
    );
}
