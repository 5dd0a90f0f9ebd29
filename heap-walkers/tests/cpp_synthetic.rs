//! The type, reference and leak passes on a C++ process built by hand
//! (heap-walkers/fuzz/cpp.rs: vtables and libstdc++ containers laid out from the ABI and
//! libstdc++'s headers), read through `core_reader::Target`: what they must find in the
//! seed, and the bodies of the `types` and `leaks` fuzz targets on fixed inputs.

mod support;

include!("../fuzz/cpp.rs");

use core_reader::Memory;
use heap_walkers::leaks::LeakKind;
use heap_walkers::types::TypeKind;

/// The seed's blocks by the name `heap --by type` gives them.
fn names(image: &MemoryImage, allocations: &Allocations) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = TypeIndex::infer(image, allocations)
        .rows()
        .into_iter()
        .filter(|r| r.kind != TypeKind::Unknown)
        .map(|r| (r.name, r.count))
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_seed_names_every_class_and_container_part() {
    let (image, allocations, _) = cpp_patched(&[0]).expect("a flags byte");
    let expected: Vec<(String, u64)> = [
        ("app::Cache", 1),
        ("app::Session", 1),
        ("std::deque block", 2),
        ("std::deque map", 1),
        ("std::list node", 3),
        ("std::map/set node", 3),
        ("std::string data", 2),
        ("std::unordered_map/set buckets", 1),
        ("std::unordered_map/set node", 2),
        ("std::vector data", 2),
    ]
    .iter()
    .map(|&(n, c)| (n.to_string(), c))
    .collect();
    assert_eq!(names(&image, &allocations), expected);
    // Without libstdc++'s name on its mapping, no mapping says the program is C++ and the
    // image has no executable module to read DT_NEEDED from: the classes are still named
    // by their vtables, no container part is claimed.
    let (image, allocations, _) = cpp_patched(&[1]).expect("a flags byte");
    let rows = names(&image, &allocations);
    assert_eq!(
        rows,
        vec![
            ("app::Cache".to_string(), 1),
            ("app::Session".to_string(), 1)
        ]
    );
}

#[test]
fn the_seed_leaks_as_valgrind_would_count_them() {
    for flags in [0u8, 2] {
        let (image, allocations, _) = cpp_patched(&[flags]).expect("a flags byte");
        let report = leaks::find_leaks(&*image, leaks::blocks(&allocations), &cpp_roots(&image));
        // Lost: a 2-block cycle (24 + 24), a chain (40 then 88), and a block of 104 the
        // stack points into the middle of.
        let kinds: Vec<(u64, LeakKind)> = report
            .leaks
            .iter()
            .chain(&report.possibly_lost)
            .map(|l| (l.size, l.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (24, LeakKind::Direct),
                (24, LeakKind::Indirect),
                (40, LeakKind::Direct),
                (88, LeakKind::Indirect),
                (104, LeakKind::Possible),
            ],
            "flags {flags}"
        );
        assert_eq!((report.direct_count, report.direct_bytes), (2, 64));
        assert_eq!((report.indirect_count, report.indirect_bytes), (2, 112));
        assert_eq!((report.possible_count, report.possible_bytes), (1, 104));
        assert_eq!(report.reachable_count as usize, allocations.len() - 5);
        assert_eq!(report.root_bytes_unreadable, 0);
    }
}

#[test]
fn the_seed_explains_a_list_node_through_its_global() {
    let (image, allocations, _) = cpp_patched(&[0]).expect("a flags byte");
    let roots = cpp_roots(&image);
    let explainer = Explainer::new(&*image, allocations, &roots);
    // The third list node: reached from the global header through the first two nodes
    // (breadth-first: the header's `_M_prev` reaches it directly).
    let list = image
        .read_u64(cpp_seed::G_LIST + 8)
        .expect("the list's last node");
    let e = explainer.explain(list).expect("an allocation");
    assert!(e.anchored);
    assert_eq!(e.allocation.type_name.as_deref(), Some("std::list node"));
    assert_eq!(e.anchor_chain.len(), 2, "{:?}", e.anchor_chain);
}

#[test]
fn the_fuzz_targets_survive_fixed_inputs() {
    let regions = cpp_seed().image.regions().len() as u8;
    exercise_types(&[]);
    exercise_leaks(&[]);
    for flags in 0..4u8 {
        // Every region, the block table included, at a few offsets, with all-ones.
        for region in 0..=regions {
            for offset in [0u32, 8, 0x18, 0x100, 0x168, 0x3f8, u32::MAX] {
                let mut input = vec![flags, region];
                input.extend(offset.to_le_bytes());
                input.push(7);
                input.extend([0xff; 8]);
                exercise_types(&input);
                exercise_leaks(&input);
            }
        }
    }
    let mut next = support::xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let mut input = vec![next() as u8];
        for _ in 0..1 + next() % 4 {
            input.push(next() as u8);
            let offset = (next() % 0x600) as u32 & !7;
            input.extend(offset.to_le_bytes());
            input.push(7);
            // What the passes follow: heap pointers, pointers into the globals, sizes, junk.
            let value = match next() % 5 {
                0 => 0,
                1 => cpp_seed::HEAP + (next() % 0x800),
                2 => cpp_seed::APP_DATA + (next() % 0x170),
                3 => next() % 0x200,
                _ => next(),
            };
            input.extend(value.to_le_bytes());
        }
        exercise_types(&input);
        exercise_leaks(&input);
    }
}
