use core_reader::MemoryImage;

use super::*;
use crate::leaks::{RootKind, RootRange, Roots};
use crate::types::tests::{session_vtable, SESSION_VTABLE};
use crate::types::TypeKind;
use crate::{Allocation, AllocationState, Allocations, Allocator, Arena, ArenaFigures, Holdings};

const BUFFER: u64 = 0x10000;
const HOLDER: u64 = 0x11000;
const SESSIONS: u64 = 0x12000;

fn words(ws: &[u64]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A process whose global at 0x9000 points to a buffer of `in_buffer` Session pointers and
/// to a 64-byte object holding `in_holder` more; the allocator holds `system` bytes.
fn process(in_buffer: u64, in_holder: u64, system: u64) -> (MemoryImage, HeldHeap) {
    process_with(in_buffer, in_holder, system, 0)
}

/// [`process`] with the buffer's pointers `into` bytes past each session's start (a base
/// class at an offset).
fn process_with(in_buffer: u64, in_holder: u64, system: u64, into: u64) -> (MemoryImage, HeldHeap) {
    let mut m = MemoryImage::new();
    session_vtable(&mut m);
    m.add(0x9000, words(&[BUFFER, HOLDER]));
    let n = in_buffer + in_holder;
    let session = |k: u64| SESSIONS + 0x40 * k;
    m.add(
        BUFFER,
        words(
            &(0..in_buffer)
                .map(|k| session(k) + into)
                .collect::<Vec<_>>(),
        ),
    );
    let mut held = vec![0u64; 8];
    for k in 0..in_holder {
        held[k as usize] = session(in_buffer + k);
    }
    m.add(HOLDER, words(&held));
    m.add(
        SESSIONS,
        words(
            &(0..n)
                .flat_map(|_| [SESSION_VTABLE, 0, 0, 0, 0, 0, 0, 0])
                .collect::<Vec<_>>(),
        ),
    );
    let used = |address, size| Allocation {
        address,
        size,
        arena: 0,
        state: AllocationState::Used,
        flags: 0,
    };
    let mut list = vec![used(BUFFER, 8 * in_buffer), used(HOLDER, 64)];
    list.extend((0..n).map(|k| used(session(k), 0x40)));
    let in_use: u64 = list.iter().map(|a| a.size).sum();
    let heap = HeldHeap {
        allocator: Allocator::Glibc,
        version: Some("2.36".into()),
        arenas: vec![Arena {
            index: 0,
            address: 0x7000,
            figures: ArenaFigures {
                system_bytes: system,
                in_use_bytes: in_use,
                free_bytes: system - in_use,
                trimmable_bytes: 0,
                ..ArenaFigures::default()
            },
            detail: Holdings {
                name: "main_arena".into(),
                dirty_bytes: None,
                muzzy_bytes: None,
                retained_bytes: None,
                cached_bytes: None,
            },
        }],
        allocations: Allocations::new(list),
        roots: Roots {
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9010,
                kind: RootKind::Static,
            }],
            ..Roots::default()
        },
        problems: Vec::new(),
        partial: None,
        sites: None,
    };
    (m, heap)
}

fn diff_of(old: &(MemoryImage, HeldHeap), new: &(MemoryImage, HeldHeap), by: Grouping) -> Diff {
    diff(side("old.core", old), side("new.core", new), by)
}

fn side<'a>(label: &'a str, p: &'a (MemoryImage, HeldHeap)) -> Side<'a> {
    Side {
        label,
        target: &p.0,
        heap: &p.1,
        blocks: p.1.blocks(),
    }
}

#[test]
fn growth_by_type_with_its_holders() {
    let old = process(1, 1, 1 << 20);
    let new = process(3, 2, 4 << 20);
    let d = diff_of(&old, &new, Grouping::Type);
    let top = &d.rows[0];
    assert_eq!(top.key, "Session");
    assert_eq!(top.kind, Some(TypeKind::Vtable));
    assert_eq!(
        (
            top.change.old_count,
            top.change.new_count,
            top.change.count_delta
        ),
        (2, 5, 3)
    );
    assert_eq!(top.change.bytes_delta, 3 * 0x40);
    // The first session NEW holds at an address OLD did not.
    assert_eq!(top.example, Some(SESSIONS + 0x80));
    // The buffer was reallocated (its size changed): the holder is the global past it; the
    // 64-byte object is in both cores and is a holder itself.
    let holders: Vec<(&str, HolderKind, i64)> = top
        .holders
        .iter()
        .map(|h| (h.holder.as_str(), h.kind, h.change.count_delta))
        .collect();
    assert_eq!(
        holders,
        vec![
            ("anonymous memory", HolderKind::Other, 2),
            ("unknown (64 bytes)", HolderKind::Allocation, 1),
        ]
    );
    assert_eq!(top.holders[1].example, Some(HOLDER));
    let buffer = |size: u64| {
        d.rows
            .iter()
            .find(|r| r.size == Some(size) && r.kind == Some(TypeKind::Unknown))
            .map(|r| r.change.count_delta)
    };
    assert_eq!(buffer(8), Some(-1));
    assert_eq!(buffer(24), Some(1));
    assert_eq!(d.totals.count_delta, 3);
    assert_eq!(d.program_match, ProgramMatch::Unverified);
    let growth = d.findings.iter().find(|f| f.code == "growth").unwrap();
    assert!(
        growth
            .message
            .starts_with("Session grew by +3 allocations (+192 B) from old.core to new.core"),
        "{}",
        growth.message
    );
    assert!(growth
        .message
        .contains("`heapmortem explain new.core 0x12080`"));
    let allocator = d.findings.iter().find(|f| f.code == "allocator_growth");
    assert!(allocator.is_some(), "{:#?}", d.findings);
    let a = d.allocator.as_ref().unwrap();
    assert_eq!(a.delta.system_bytes, 3 << 20);
    assert_eq!(a.arenas[0].name, "main_arena");
}

/// Sessions the buffer points into (not at): held through it all the same, not leaked.
#[test]
fn holders_through_pointers_into_the_middle() {
    let old = process_with(1, 1, 1 << 20, 8);
    let new = process_with(3, 1, 1 << 20, 8);
    let d = diff_of(&old, &new, Grouping::Type);
    let top = &d.rows[0];
    assert_eq!((top.key.as_str(), top.change.count_delta), ("Session", 2));
    assert_eq!(
        top.holders[0].holder, "anonymous memory",
        "{:#?}",
        top.holders
    );
    assert_eq!(top.holders[0].change.count_delta, 2);
    assert!(top.holders.iter().all(|h| h.kind != HolderKind::Unreached));
}

#[test]
fn by_size_and_no_growth() {
    let p = process(2, 1, 1 << 20);
    let d = diff_of(&p, &p, Grouping::Size);
    assert!(d.rows.iter().all(|r| !r.change.is_change()));
    assert!(d.rows.iter().all(|r| r.holders.is_empty()));
    let sixty_four = d.rows.iter().find(|r| r.key == "64 bytes").unwrap();
    assert_eq!(
        sixty_four.change.new_count, 4,
        "three sessions and the holder"
    );
    assert!(d.findings.iter().any(|f| f.code == "no_growth"));
    assert!(!d.findings.iter().any(|f| f.code == "allocator_growth"));
    let mut text = Vec::new();
    d.write_text(&mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("by size, largest growth first (0 of "),
        "{text}"
    );
    assert!(text
        .lines()
        .all(|l| l.chars().count() <= 100 || l.contains("info:")));
}

#[test]
fn programs_match_by_build_id_then_by_name() {
    let p = |exe: &str, id: Option<&str>| Program {
        label: String::new(),
        executable: Some(exe.into()),
        build_id: id.map(str::to_string),
        allocator: Allocator::Glibc,
        version: None,
        problems: Vec::new(),
    };
    let m = program_match;
    assert_eq!(
        m(&p("/a/app", Some("01")), &p("/b/app", Some("01"))),
        ProgramMatch::Same
    );
    assert_eq!(
        m(&p("/a/app", Some("01")), &p("/a/app", Some("02"))),
        ProgramMatch::OtherBuild
    );
    assert_eq!(
        m(&p("/a/app", Some("01")), &p("/a/other", Some("02"))),
        ProgramMatch::OtherProgram
    );
    assert_eq!(
        m(&p("/a/app", None), &p("/a/app", Some("02"))),
        ProgramMatch::Unverified
    );
    assert_eq!(
        m(&p("/a/app", None), &p("/a/other", None)),
        ProgramMatch::OtherProgram
    );
    let mut unnamed = p("", None);
    unnamed.executable = None;
    assert_eq!(
        m(&p("/a/app", Some("01")), &unnamed),
        ProgramMatch::Unverified
    );
}

#[test]
fn counts_read_as_people_write_them() {
    assert_eq!(render_count(41200), "+41,200");
    assert_eq!(render_count(-5), "-5");
    assert_eq!(render_count(0), "+0");
}

fn render_count(n: i64) -> String {
    super::render::signed_count(n)
}
