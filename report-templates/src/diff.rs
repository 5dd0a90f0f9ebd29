//! The diff section: two cores of one program compared (`heapmortem diff`'s rows, their main
//! holders and the allocator's holdings), from a [`heap_walkers::diff::Diff`].

use heap_walkers::diff::{signed_bytes, signed_count, Diff, ProgramMatch};

use crate::model::{DiffArenaRow, DiffRow, DiffSection, Finding};

/// Changed groups the section lists at most (largest growth first).
pub const MAX_DIFF_ROWS: usize = 50;

impl DiffSection {
    /// The section of a diff: its changed rows, each with its main holder, and the arenas.
    pub fn of(d: &Diff) -> DiffSection {
        let changed = d
            .rows
            .iter()
            .filter(|r| r.change.count_delta != 0 || r.change.bytes_delta != 0);
        DiffSection {
            old: d.old.label.clone(),
            new: d.new.label.clone(),
            same_program: d.program_match != ProgramMatch::OtherProgram,
            totals: format!(
                "{} allocations ({}): {} → {} allocations",
                signed_count(d.totals.count_delta),
                signed_bytes(d.totals.bytes_delta),
                d.totals.old_count,
                d.totals.new_count
            ),
            rows: changed
                .take(MAX_DIFF_ROWS)
                .map(|r| DiffRow {
                    key: r.key.clone(),
                    count_delta: r.change.count_delta,
                    count_delta_text: signed_count(r.change.count_delta),
                    bytes_delta_text: signed_bytes(r.change.bytes_delta),
                    old_count: r.change.old_count,
                    new_count: r.change.new_count,
                    holder: r.holders.first().map(|h| {
                        format!("{} ({})", h.phrase(), signed_count(h.change.count_delta))
                    }),
                    example: r.example,
                })
                .collect(),
            arenas: d
                .allocator
                .iter()
                .flat_map(|a| &a.arenas)
                .map(|a| DiffArenaRow {
                    name: a.name.clone(),
                    system: signed_bytes(a.delta.system_bytes),
                    in_use: signed_bytes(a.delta.in_use_bytes),
                    free: signed_bytes(a.delta.free_bytes),
                    fragmented: signed_bytes(a.delta.fragmented_bytes),
                    dirty: a.delta.dirty_bytes.map(signed_bytes),
                })
                .collect(),
        }
    }
}

impl Finding {
    /// A finding of `heapmortem diff`.
    pub fn from_diff(f: &heap_walkers::Finding) -> Finding {
        Finding {
            source: "diff".into(),
            ..Finding::from_heap(f)
        }
    }
}
