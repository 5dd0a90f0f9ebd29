//! The glibc walker on a heap built by hand (heap-walkers/fuzz/glibc.rs: a glibc 2.36 heap
//! laid out from malloc/malloc.c's struct declarations), read through `core_reader::Target`:
//! the figures it must find under each way of learning the layout, the diagnostics damage
//! must give, and the fuzz target's body on fixed inputs.

mod support;

include!("../fuzz/glibc.rs");

use glibc::{GlibcHeap, LayoutSource, VersionSource};
use heap_walkers::{Allocation, AllocationState};

fn walk(image: &MemoryImage) -> GlibcHeap {
    let options = glibc::WalkOptions {
        list: true,
        progress: false,
    };
    glibc::walk(image, &options).expect("the seed has a main_arena")
}

/// Writes `v` at `at` in the image.
fn poke(image: &mut MemoryImage, at: u64, v: u64) {
    let start = image
        .regions()
        .iter()
        .map(|r| r.0)
        .rfind(|&s| s <= at)
        .expect("a region");
    let bytes = image.region_mut(at).expect("mapped");
    let o = (at - start) as usize;
    bytes[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn the_hand_built_heap_adds_up_whichever_way_the_layout_is_learned() {
    use seed::*;
    for variant in Variant::ALL {
        let heap = walk(&seed_image(variant));
        let what = format!("{variant:?}");
        let (source, version) = match variant {
            Variant::Banner => (LayoutSource::BuiltIn, Some("2.36")),
            Variant::Dwarf => (LayoutSource::Dwarf, None),
            Variant::Bare => (LayoutSource::Inferred, None),
        };
        assert_eq!(heap.detail.layout_source, source, "{what}");
        assert_eq!(heap.version.as_deref(), version, "{what}");
        assert_eq!(
            heap.detail.version_source,
            version.map(|_| VersionSource::Banner),
            "{what}"
        );
        assert!(heap.problems.is_empty(), "{what}: {:?}", heap.problems);
        assert!(heap.findings.is_empty(), "{what}: {:?}", heap.findings);
        assert!(heap.notes.is_empty(), "{what}: {:?}", heap.notes);
        let d = &heap.detail;
        assert_eq!(
            (d.main_arena, d.main_arena_found_by),
            (MAIN_ARENA, "symbol"),
            "{what}"
        );
        assert!(
            d.safe_linking,
            "{what}: 2.36 mangles fastbin and tcache links"
        );
        assert_eq!(d.page_size, 4096);
        let params = d.params.as_ref().expect("mp_");
        assert_eq!(
            (
                params.address,
                params.sbrk_base,
                params.n_mmaps,
                params.tcache_count
            ),
            (MP, HEAP, 1, Some(7)),
            "{what}"
        );
        assert_eq!((d.mmapped_chunks, d.mmapped_bytes), (1, MMAPPED_SIZE));
        assert_eq!(d.skipped_bytes, 0);
        assert_eq!(d.tcaches.len(), 1, "{what}");
        let t = &d.tcaches[0];
        assert_eq!(
            (t.address, t.thread, t.chunks, t.bytes, t.full_bins),
            (TCACHE_STRUCT.0 + 16, Some(4242), 1, TCACHED.1, 0),
            "{what}: the tcache and the thread whose TLS points at it"
        );
        assert_eq!(t.counts, vec![(1, 1)]);

        assert_eq!(heap.arenas.len(), 1, "{what}");
        let arena = &heap.arenas[0];
        assert_eq!((arena.index, arena.address), (0, MAIN_ARENA));
        let used = TCACHE_STRUCT.1 + USED_1.1 + USED_2.1 + USED_3.1 + USED_4.1;
        let freed = FASTBIN.1 + TCACHED.1 + BINNED.1;
        let f = &arena.figures;
        assert_eq!(
            (f.system_bytes, f.in_use_chunks, f.in_use_bytes),
            (HEAP_SIZE, 5, used),
            "{what}"
        );
        assert_eq!((f.free_chunks, f.free_bytes), (3, freed), "{what}");
        assert_eq!(f.largest_free, BINNED.1);
        // malloc_trim(0) in the main arena: the top less MINSIZE + 1, in whole pages
        // (`systrim`); no free chunk spans a page.
        assert_eq!(f.trimmable_bytes, (TOP_SIZE - 33) & !0xfff, "{what}");
        let a = &arena.detail;
        assert!(a.main);
        assert_eq!(
            (a.max_system_bytes, a.attached_threads),
            (HEAP_SIZE, Some(1))
        );
        assert_eq!((a.bin_chunks, a.bin_bytes), (1, BINNED.1));
        assert_eq!((a.fastbin_chunks, a.fastbin_bytes), (1, FASTBIN.1));
        assert_eq!((a.tcache_chunks, a.tcache_bytes), (1, TCACHED.1));
        assert_eq!((a.top, a.top_size, a.free_at_top), (TOP, TOP_SIZE, 0));
        assert_eq!((a.holes_count, a.hole_bytes), (3, freed));
        let holes: Vec<(u64, u64, Option<u64>)> = a
            .holes
            .iter()
            .map(|h| (h.address, h.size, h.pinned_by))
            .collect();
        assert_eq!(
            holes,
            vec![
                (BINNED.0, BINNED.1, Some(USED_4.0 + 16)),
                (TCACHED.0, TCACHED.1, Some(USED_3.0 + 16)),
                (FASTBIN.0, FASTBIN.1, Some(USED_2.0 + 16)),
            ],
            "{what}: holes, largest first, with the chunk that pins each"
        );
        let fastbins: Vec<(usize, u64, u64)> = a
            .fastbins
            .iter()
            .map(|f| (f.index, f.count, f.chunk_size))
            .collect();
        assert_eq!(fastbins, vec![(0, 1, 0x20)]);
        // malloc_info adds bin sizes as stored, PREV_INUSE included.
        let bins: Vec<(usize, u64, u64)> =
            a.bins.iter().map(|b| (b.index, b.count, b.total)).collect();
        assert_eq!(bins, vec![(16, 1, BINNED.1 | 1)]);
        assert_eq!(a.walked_bytes, HEAP_SIZE);

        let sizes: Vec<(u64, u64, u64, u64, u64)> = heap
            .size_classes
            .iter()
            .map(|c| {
                (
                    c.size,
                    c.in_use_count,
                    c.in_use_bytes,
                    c.free_count,
                    c.free_bytes,
                )
            })
            .collect();
        assert_eq!(
            sizes,
            vec![
                (0, 0, 0, 1, 0x20),
                (33, 3, 0x30 + 0x40 + 0x30, 1, 0x30),
                (65, 1, 0x50, 0, 0),
                (129, 0, 0, 1, 0x100),
                (513, 1, 0x290, 0, 0),
            ],
            "{what}: size classes by their low end"
        );

        let list: Vec<(u64, u64, AllocationState, u32, u8)> = heap
            .allocations
            .as_ref()
            .expect("listed")
            .iter()
            .map(|a| (a.address, a.size, a.state, a.arena, a.flags))
            .collect();
        let chunk = |(c, size): (u64, u64), state| (c + 16, size - 8, state, 0, 0);
        assert_eq!(
            list,
            vec![
                chunk(TCACHE_STRUCT, AllocationState::Used),
                chunk(USED_1, AllocationState::Used),
                chunk(FASTBIN, AllocationState::Fastbin),
                chunk(USED_2, AllocationState::Used),
                chunk(TCACHED, AllocationState::Tcache),
                chunk(USED_3, AllocationState::Used),
                chunk(BINNED, AllocationState::Free),
                chunk(USED_4, AllocationState::Used),
                (
                    TOP + 16,
                    TOP_SIZE - 16,
                    AllocationState::Free,
                    0,
                    Allocation::TOP
                ),
                (
                    MMAPPED + 16,
                    MMAPPED_SIZE - 16,
                    AllocationState::Used,
                    Allocation::NO_ARENA,
                    Allocation::MMAPPED
                ),
            ],
            "{what}: every chunk, by address"
        );
    }
}

#[test]
fn the_leak_check_follows_the_roots_of_the_hand_built_process() {
    use seed::*;
    let image = seed_image(Variant::Banner);
    let heap = walk(&image);
    let roots = leaks::glibc_roots(&image, &heap);
    let report = leaks::find_leaks(
        &image,
        leaks::blocks(heap.allocations.iter().flatten()),
        &roots,
    );
    // The tcache (TLS), USED_1 (a global) and USED_2 (the stack) are reachable; USED_3 and
    // the mmapped chunk are lost, and USED_4, held only by USED_3, indirectly.
    assert_eq!(
        (report.direct_count, report.direct_bytes),
        (2, (USED_3.1 - 8) + (MMAPPED_SIZE - 16))
    );
    assert_eq!(
        (report.indirect_count, report.indirect_bytes),
        (1, USED_4.1 - 8)
    );
}

#[test]
fn a_chunk_that_runs_past_the_heap_is_a_diagnostic_and_the_walk_goes_on() {
    use glibc_2_36::PREV_INUSE;
    use seed::*;
    for variant in Variant::ALL {
        let mut image = seed_image(variant);
        poke(&mut image, USED_2.0 + 8, 0x10_0000 | PREV_INUSE);
        let heap = walk(&image);
        let p = heap
            .problems
            .iter()
            .find(|p| p.kind == "bad_size")
            .unwrap_or_else(|| panic!("{variant:?}: no bad_size: {:?}", heap.problems));
        assert_eq!(p.address, Some(USED_2.0));
        assert!(
            p.message.contains("past the end of its heap"),
            "{}",
            p.message
        );
        assert!(heap.is_partial());
        assert!(heap.findings.iter().any(|f| f.code == "corruption"));
        // Skipped to the next chunk a list names (the tcached one), then on to the top.
        assert_eq!(heap.detail.skipped_bytes, TCACHED.0 - USED_2.0);
        assert_eq!(heap.arenas[0].figures.in_use_chunks, 4, "{variant:?}");
        assert_eq!(heap.arenas[0].detail.free_at_top, 0);
    }
}

#[test]
fn a_fastbin_that_loops_is_a_diagnostic_not_a_hang() {
    use glibc_2_36::protect;
    use seed::*;
    for variant in Variant::ALL {
        let mut image = seed_image(variant);
        // The fastbin chunk links to itself.
        poke(
            &mut image,
            FASTBIN.0 + 16,
            protect(FASTBIN.0 + 16, FASTBIN.0),
        );
        let heap = walk(&image);
        // Once, where the list comes back round; the chunk counted once.
        let kinds: Vec<&str> = heap.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["loop"], "{variant:?}");
        assert!(heap.problems.iter().all(|p| p.address == Some(FASTBIN.0)));
        assert_eq!(heap.arenas[0].detail.fastbin_chunks, 1, "{variant:?}");
        assert!(heap.findings.iter().any(|f| f.code == "corruption"));
    }
}

/// Inputs the fuzz target must get through: none, each variant untouched, patches at the
/// start, middle and end of each region, and runs of patches from a fixed pseudo-random
/// sequence (a small fuzzing run under plain `cargo test`).
#[test]
fn the_fuzz_target_survives_fixed_inputs() {
    exercise(&[]);
    for v in 0..3u8 {
        exercise(&[v]);
        for region in 0..5u8 {
            for offset in [0u32, 8, 0x2c8, 0x300, 0x898, 0x20b38, u32::MAX] {
                let mut input = vec![v, region];
                input.extend(offset.to_le_bytes());
                input.push(7);
                input.extend([0xff; 8]);
                exercise(&input);
            }
        }
    }
    let mut next = support::xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let mut input = vec![next() as u8];
        for _ in 0..1 + next() % 4 {
            // Most structure lives in the first 0xb00 bytes of each region; the values are
            // what a walker follows: pointers into the heap or the arena, sizes, junk.
            input.push(next() as u8);
            let offset = (next() % 0xb00) as u32 & if next().is_multiple_of(4) { !0 } else { !7 };
            input.extend(offset.to_le_bytes());
            input.push(7);
            let value = match next() % 6 {
                0 => 0,
                1 => seed::HEAP + ((next() % 0x540) & !0xf),
                2 => seed::MAIN_ARENA + ((next() % 0x898) & !0x7),
                3 => next() % 0x2000,
                4 => u64::MAX - next() % 64,
                _ => next(),
            };
            input.extend(value.to_le_bytes());
        }
        exercise(&input);
    }
    // Each input patches the one shared seed in place and must leave nothing behind, where
    // its patches overlap too.
    for v in 0..3u8 {
        let mut input = vec![v];
        for (offset, byte) in [(0x2c8u32, 0xff), (0x2cc, 0x11), (0x2c4, 0x22)] {
            input.extend([0, offset.to_le_bytes()[0], offset.to_le_bytes()[1], 0, 0, 7]);
            input.extend([byte; 8]);
        }
        exercise(&input);
    }
    for (v, seed) in Variant::ALL.into_iter().zip(SEEDS.iter()) {
        let image = seed.lock().expect("no run panicked");
        assert!(
            image.regions() == seed_image(v).regions(),
            "{v:?}: a patch outlived its input"
        );
    }
}
