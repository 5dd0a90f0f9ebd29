//! The jemalloc walker on memory built by hand (`core_reader::MemoryImage`): the figures of
//! a known heap, and damaged heaps that must give diagnostics, not panics. The seed heap and
//! the fuzz body are the `jemalloc` fuzz target's own (fuzz/jemalloc.rs).

include!("../fuzz/jemalloc.rs");

use heap_walkers::jemalloc::{walk, walk_with, Options};
use heap_walkers::{AllocationState, SizeClass};

#[test]
fn hand_built_arena_gives_jemallocs_figures() {
    let image = seed_image();
    let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
    assert_eq!(heap.layout, "DWARF");
    assert_eq!(heap.page, 4096);
    assert_eq!(heap.bin_classes.len(), 36);
    let a = &heap.arenas[0];
    assert_eq!((a.pactive, a.pdirty, a.pmuzzy), (9, 5, 0));
    assert_eq!(a.small.allocated, 6 * 32);
    assert_eq!(a.large.allocated, 2 * 16384);
    assert_eq!((a.large.nmalloc, a.large.nfills), (3, 3));
    // mapped: the base's plus the page allocator's; resident: base plus active and dirty.
    assert_eq!(a.mapped, 65536 + (1 << 21));
    assert_eq!(a.resident, 8192 + (9 + 5) * 4096);
    assert_eq!(a.dirty_decay_ms, 10_000);

    let s = heap.summary();
    let f = &s.arenas[0].figures;
    assert_eq!(f.system_bytes, 65536 + (1 << 21));
    assert_eq!(
        (f.in_use_chunks, f.in_use_bytes),
        (6 + 2, 6 * 32 + 2 * 16384)
    );
    // 128 regions in the slab, 6 in use; one free extent of five pages.
    assert_eq!(
        (f.free_chunks, f.free_bytes),
        (122 + 1, 122 * 32 + 5 * 4096)
    );
    assert_eq!((f.trimmable_bytes, f.largest_free), (5 * 4096, 5 * 4096));
    assert_eq!(
        s.size_classes,
        vec![SizeClass {
            size: 32,
            in_use_count: 6,
            in_use_bytes: 192,
            free_count: 122,
            free_bytes: 122 * 32
        }]
    );
    let list = s.allocations.expect("listed");
    assert_eq!(list.len(), 128);
    assert_eq!(list.used().count(), 6);
    let second = list.containing(SLAB + 40).expect("the second region");
    assert_eq!((second.address, second.size), (SLAB + 32, 32));
    assert_eq!((second.state, second.arena), (AllocationState::Used, 0));
    assert!(s.problems.is_empty(), "{:?}", s.problems);
}

#[test]
fn wrong_layout_is_refused_with_a_clear_error() {
    let mut image = seed_image();
    // The arena says it is arena 7: the layout cannot be right.
    let ind = image.offsets[&("arena_s".to_string(), "ind".to_string())];
    image.region_mut(ARENA).expect("arena")[ind as usize] = 7;
    let err = walk(&image).expect_err("refused").to_string();
    assert!(err.contains("does not fit this jemalloc build"), "{err}");
}

#[test]
fn arena_pointer_to_unreadable_memory_is_a_diagnostic() {
    let mut image = seed_image();
    image.region_mut(ARENAS).expect("arenas")[8..16].copy_from_slice(&0xdead_0000u64.to_le_bytes());
    let heap = walk(&image).expect("arena 0 still read");
    assert_eq!(heap.arenas.len(), 1);
    let p = heap
        .problems
        .iter()
        .find(|p| p.kind == "arena_unreadable")
        .expect("a diagnostic");
    assert_eq!(p.address, Some(0xdead_0000));
}

#[test]
fn lying_extents_are_diagnostics_not_panics() {
    let mut image = seed_image();
    // The slab's edata says 112 free regions where its bitmap has 122, and its size says
    // a terabyte: one diagnostic names both, and the slab is still listed by its bitmap.
    let edata = image.region_mut(EDATA).expect("edata");
    edata[3] = 0;
    edata[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
    let s = heap.summary();
    let damaged: Vec<_> = s
        .problems
        .iter()
        .filter(|p| p.kind == "damaged_slab")
        .collect();
    assert_eq!(damaged.len(), 1, "{:?}", s.problems);
    assert_eq!(damaged[0].address, Some(SLAB));
    assert!(
        damaged[0].message.contains("0x10000000000"),
        "{}",
        damaged[0].message
    );
    assert!(
        damaged[0].message.contains("122 of 128"),
        "{}",
        damaged[0].message
    );
    let list = s.allocations.expect("listed");
    assert_eq!(list.len(), 128);
    assert!(
        list.iter().all(|a| a.end() <= SLAB + 4096),
        "the slab's own size is used"
    );
    let _ = serde_json::to_string(&heap.to_stats_json());
    let _ = heap.write_text(&mut std::io::sink());
}

/// A region bitmap written over: the bitmap is what jemalloc allocates from, so it is kept
/// (here: every region in use), and the disagreement with the slab's free count is said.
#[test]
fn corrupted_region_bitmap_is_reported_and_the_slab_kept() {
    let mut image = seed_image();
    let edata = image.region_mut(EDATA).expect("edata");
    edata[64..80].fill(0);
    let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
    let s = heap.summary();
    let p = s
        .problems
        .iter()
        .find(|p| p.kind == "damaged_slab")
        .unwrap_or_else(|| panic!("{:?}", s.problems));
    assert_eq!(p.address, Some(SLAB));
    assert!(p.message.contains("0 of 128"), "{}", p.message);
    assert_eq!(s.allocations.expect("listed").used().count(), 128);
}

/// `nregs` from `bin_infos` would size the listing of every slab of its class: a value no
/// slab can hold is refused as a wrong layout, not allocated.
#[test]
fn impossible_nregs_is_refused_not_allocated() {
    let mut image = seed_image();
    // bin_infos[2] (32-byte regions): nregs at offset 16 of the 40-byte bin_info_t.
    image.region_mut(BIN_INFOS).expect("bin_infos")[2 * 40 + 16..2 * 40 + 20]
        .copy_from_slice(&u32::MAX.to_le_bytes());
    let err = walk_with(&image, &Options { allocations: true })
        .expect_err("refused")
        .to_string();
    assert!(err.contains("4294967295 32-byte regions"), "{err}");
}

/// Every counter of the arena at its largest: jemalloc's own sums are size_t and wrap, so
/// ours wrap the same way in the "J" document, saturate in text and findings, and nothing
/// panics (debug builds check overflow).
#[test]
fn hostile_counters_wrap_and_never_panic() {
    let seed = seed_image();
    let off = |s: &str, m: &str| seed.offsets[&(s.to_string(), m.to_string())] as usize;
    let shard = off("arena_s", "pa_shard");
    let pac = shard + off("pa_shard_s", "pac");
    // What the layout checks read (the arena's index, its caches' states and indexes, the
    // pointers to its own stats and base) stays as it is.
    let mut keep = vec![off("arena_s", "ind"), shard + off("pa_shard_s", "ind")];
    for cache in ["ecache_dirty", "ecache_muzzy", "ecache_retained"] {
        keep.push(pac + off("pac_s", cache) + off("ecache_s", "ind"));
    }
    for v in [u64::MAX, 1 << 63, u64::from(u32::MAX)] {
        let mut image = seed_image();
        let arena = image.region_mut(ARENA).expect("arena");
        for at in (0..arena.len() - 7).step_by(8) {
            let word = u64::from_le_bytes(arena[at..at + 8].try_into().expect("8 bytes"));
            if word == 0 && !keep.iter().any(|&k| (at..at + 8).contains(&k)) {
                arena[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
        let s = heap.summary();
        let _ = serde_json::to_string(&s);
        let _ = serde_json::to_string(&heap.to_stats_json());
        heap.write_text(&mut std::io::sink()).expect("text");
        let _ = heap.findings();
    }
}

/// A core cut inside an extent-map leaf: its last entry has 4 of its 8 bytes. The walk
/// reports the leaf and ends (it used to read that entry forever: a cut jemalloc core made
/// `leaks` hang).
#[test]
fn extent_map_leaf_cut_mid_entry_ends() {
    let mut image = seed_image();
    let keep = ((SLAB >> 12) * 8 + 8 * 6 + 4) as usize;
    image.region_mut(LEAF).expect("leaf").truncate(keep);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
        let _ = tx.send(heap.summary());
    });
    let s = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the walk ends");
    assert!(
        s.problems.iter().any(|p| p.kind == "truncated"),
        "{:?}",
        s.problems
    );
    // The slab before the cut is still listed.
    assert_eq!(s.allocations.expect("listed").len(), 128);
}

#[test]
fn extent_map_root_cut_mid_entry_is_a_diagnostic_and_its_leaves_are_read() {
    let mut image = seed_image();
    // The root (at 120 in `rtree_t`) keeps its first entry, the one leaf, and half of the
    // next entry.
    image.region_mut(EMAP).expect("root").truncate(120 + 8 + 4);
    let heap = walk_with(&image, &Options { allocations: true }).expect("a heap");
    let s = heap.summary();
    let cut: Vec<_> = s
        .problems
        .iter()
        .filter(|p| p.kind == "truncated")
        .collect();
    assert_eq!(cut.len(), 1, "{:?}", s.problems);
    assert_eq!(cut[0].address, Some(EMAP + 120));
    assert_eq!(s.allocations.expect("listed").len(), 128);
}

/// Inputs that stand for the fuzzer's families, run as plain tests.
#[test]
fn fuzz_regressions() {
    exercise(&[]);
    // Patches all over the seed.
    for seed in 0..4u32 {
        let mut data = Vec::new();
        for k in 0..16u32 {
            let pos = seed.wrapping_mul(2_654_435_761).wrapping_add(k * 40_503);
            data.extend_from_slice(&pos.to_le_bytes());
            data.extend_from_slice(&(seed ^ k).wrapping_mul(0x9e37_79b9).to_le_bytes());
        }
        exercise(&data);
    }
}

/// The heap of a truncated core that lost jemalloc's data (no symbols, no size-class tables,
/// no arenas array, no extent map root; the arena, its base and the map's leaves are in
/// jemalloc's own mappings and survive): the arena is found by its contents, with the
/// figures of the whole seed, the size classes are the ones jemalloc 5.3 computes (sc.c),
/// and listing allocations fails saying why.
#[test]
fn a_heap_that_lost_jemallocs_data_is_found_by_content() {
    let whole = walk(&seed_image()).expect("a heap");
    let lost = walk_with(&seed_heap(Globals::Lost), &Options { allocations: true })
        .expect("a heap from what survives");
    assert_eq!(lost.arenas.len(), 1);
    let (a, b) = (&whole.arenas[0], &lost.arenas[0]);
    assert_eq!((b.index, b.address), (0, ARENA));
    assert_eq!(
        (
            b.pactive,
            b.pdirty,
            b.mapped,
            b.resident,
            b.small.allocated,
            b.large.allocated
        ),
        (
            a.pactive,
            a.pdirty,
            a.mapped,
            a.resident,
            a.small.allocated,
            a.large.allocated
        )
    );
    assert_eq!(lost.bin_classes.len(), 36);
    assert_eq!(
        lost.bin_classes[35].slab_size,
        7 * 4096,
        "sc.c's slab, not the seed's"
    );
    assert_eq!(lost.narenas, None);
    assert!(lost.allocations.is_none());
    let kinds: Vec<&str> = lost.problems.iter().map(|p| p.kind).collect();
    assert!(
        kinds.contains(&"truncated") && kinds.contains(&"not_listed"),
        "{kinds:?}"
    );
    // And the fuzz body runs on that seed: an input of a length not a multiple of 8.
    exercise(&[0]);
}
