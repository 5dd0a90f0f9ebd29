//! `heapmortem diff OLD NEW`: how a program's heap changed between two cores, and through
//! what it grew.
//!
//! - [`diff`] takes two walked heaps ([`crate::HeldHeap`], any allocator) and groups the
//!   allocations each program holds by type (C++ classes named by their vtables, the rest by
//!   usable size, as `heap --by type` does) or by usable size ([`Grouping`]). Each group is a
//!   [`Row`] with both cores' counts and bytes, largest growth first.
//! - Every changed row names its **holders**: for each of its allocations, the anchor chain
//!   from a root ([`crate::refs::Anchors`]) is followed back from the allocation past every
//!   link whose own group changed too (a list's nodes, a vector's reallocated buffer) to the
//!   first one that did not: a root (a global `module!symbol`, a frame of a thread's stack,
//!   a register) or an allocation that is the same in both cores (an object holding the
//!   container). Holders are named without addresses, so two processes of one program compare
//!   too, and counted in both cores ([`HolderRow`]).
//! - The allocator's own holdings are compared arena by arena ([`ArenaChange`]): what it got
//!   from the system, what is free in it, dirty, trapped between live allocations.
//! - [`Diff::findings`] name the largest growth, its holder and the next step, and growth in
//!   the allocator's holdings that the program does not account for.
//!
//! Two cores of different programs (the main executables' build-ids differ) are compared all
//! the same, and [`Diff::program_match`] says so; for different executables (other names)
//! no finding claims growth, since the rows then compare unrelated heaps.
//!
//! The JSON document is described in `json-schema.md` beside this module's crate root.

mod graph;
mod model;
mod render;

pub use model::{
    AllocatorChange, ArenaChange, Change, Diff, Figures, FiguresDelta, Grouping, HolderKind,
    HolderRow, Program, ProgramMatch, Row, Side, MAX_HOLDERS,
};
pub use render::{signed_bytes, signed_count};

use std::collections::HashMap;

use crate::types::TypeKind;
use crate::{Finding, HeldHeap, Severity};

use graph::{Graph, Interner, Key, NONE};
use model::Tally;

/// The main executable's path and build-id.
fn program(side: &Side) -> Program {
    let main = side.target.modules().into_iter().find(|m| m.is_main);
    Program {
        label: side.label.to_string(),
        executable: main.map(|m| m.path.clone()),
        build_id: main
            .and_then(|m| m.build_id.as_ref())
            .map(|b| b.to_string()),
        allocator: side.heap.allocator,
        version: side.heap.version.clone(),
        problems: side.heap.problems.clone(),
    }
}

fn program_match(old: &Program, new: &Program) -> ProgramMatch {
    let name = |p: &Program| {
        p.executable
            .as_deref()
            .map(|e| e.rsplit('/').next().unwrap_or(e).to_string())
    };
    match (&old.build_id, &new.build_id) {
        (Some(a), Some(b)) if a == b => ProgramMatch::Same,
        // A core whose notes were cut off names no executable: nothing to tell them apart.
        _ if name(old).is_none() || name(new).is_none() => ProgramMatch::Unverified,
        _ if name(old) != name(new) => ProgramMatch::OtherProgram,
        (Some(_), Some(_)) => ProgramMatch::OtherBuild,
        _ => ProgramMatch::Unverified,
    }
}

impl Diff {
    /// What must be said on stderr whatever the output: that the cores are of different
    /// programs, or of two builds of one, or could not be told apart.
    pub fn statement(&self) -> Option<&str> {
        let code = match self.program_match {
            ProgramMatch::Same => return None,
            ProgramMatch::OtherProgram => "different_programs",
            ProgramMatch::OtherBuild => "other_build",
            ProgramMatch::Unverified => "unverified_program",
        };
        self.findings
            .iter()
            .find(|f| f.code == code)
            .map(|f| f.message.as_str())
    }
}

/// Compares the heaps of two cores, grouping allocations `by` type or size.
pub fn diff(mut old: Side, mut new: Side, by: Grouping) -> Diff {
    let mut groups = Interner::new();
    let graphs = [
        Graph::build(&mut old, by, &mut groups),
        Graph::build(&mut new, by, &mut groups),
    ];
    let n = groups.keys.len();
    let [t_old, t_new] = [graphs[0].tallies(n), graphs[1].tallies(n)];
    let changes: Vec<Change> = (0..n).map(|g| Change::of(t_old[g], t_new[g])).collect();
    let changed: Vec<bool> = changes.iter().map(Change::is_change).collect();

    // Holders of the changed groups' blocks, in both cores.
    let mut holders = Interner::new();
    let mut holder_examples = HashMap::new();
    let mut by_holder: HashMap<(u32, u32), [Tally; 2]> = HashMap::new();
    for (s, graph) in graphs.iter().enumerate() {
        // Only NEW's examples are kept: they are for `explain NEW`.
        let mut scratch = HashMap::new();
        let ex = if s == 1 {
            &mut holder_examples
        } else {
            &mut scratch
        };
        let of = graph.holders(&changed, &mut holders, ex);
        for (i, &h) in of.iter().enumerate() {
            if h != NONE {
                let g = graph.group[i];
                by_holder.entry((g, h)).or_default()[s].add(graph.refs.blocks()[i].size);
            }
        }
    }
    let mut row_holders: HashMap<u32, Vec<HolderRow>> = HashMap::new();
    for ((g, h), [o, n]) in by_holder {
        let key = &holders.keys[h as usize];
        row_holders.entry(g).or_default().push(HolderRow {
            holder: key.name.clone(),
            kind: key.kind,
            change: Change::of(o, n),
            example: holder_examples.get(&h).copied(),
        });
    }

    let examples = examples(&graphs, n);
    let mut rows: Vec<Row> = groups
        .keys
        .iter()
        .enumerate()
        .map(|(g, key)| {
            let (key, kind, size) = match key {
                Key::Class(name, kind) => (name.clone(), Some(*kind), None),
                Key::Unknown(size) => (
                    format!("unknown ({size} bytes)"),
                    Some(TypeKind::Unknown),
                    Some(*size),
                ),
                Key::Size(size) => (format!("{size} bytes"), None, Some(*size)),
                Key::Site(site) => (site.clone(), None, None),
            };
            let mut hs = row_holders.remove(&(g as u32)).unwrap_or_default();
            hs.sort_by(|a, b| {
                b.change
                    .count_delta
                    .cmp(&a.change.count_delta)
                    .then(b.change.new_count.cmp(&a.change.new_count))
                    .then_with(|| a.holder.cmp(&b.holder))
            });
            let holders_count = hs.len();
            hs.truncate(MAX_HOLDERS);
            Row {
                key,
                kind,
                size,
                change: changes[g],
                example: examples[g],
                holders: hs,
                holders_count,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.change
            .bytes_delta
            .cmp(&a.change.bytes_delta)
            .then(b.change.count_delta.cmp(&a.change.count_delta))
            .then_with(|| a.key.cmp(&b.key))
    });

    let [old_all, new_all] = [&t_old, &t_new].map(|t| {
        t.iter().fold(Tally::default(), |a, x| Tally {
            count: a.count + x.count,
            bytes: a.bytes.saturating_add(x.bytes),
        })
    });
    let (p_old, p_new) = (program(&old), program(&new));
    let mut diff = Diff {
        by,
        program_match: program_match(&p_old, &p_new),
        old: p_old,
        new: p_new,
        rows,
        totals: Change::of(old_all, new_all),
        allocator: (old.heap.allocator == new.heap.allocator)
            .then(|| allocator_change(old.heap, new.heap)),
        findings: Vec::new(),
    };
    diff.findings = render::findings(&diff);
    diff
}

/// For every group, an allocation of it in NEW at an address where OLD holds none of the
/// group (the lowest), else the lowest of it in NEW; in one pass over NEW.
fn examples(graphs: &[Graph; 2], groups: usize) -> Vec<Option<u64>> {
    let [old, new] = graphs;
    // (example, whether it is new since OLD)
    let mut out: Vec<Option<(u64, bool)>> = vec![None; groups];
    for (i, b) in new.refs.blocks().iter().enumerate() {
        let g = new.group[i];
        let slot = &mut out[g as usize];
        if slot.is_some_and(|(_, fresh)| fresh) {
            continue;
        }
        let in_old = old
            .refs
            .block_at(b.address)
            .is_some_and(|j| old.group[j] == g && old.refs.blocks()[j].address == b.address);
        if slot.is_none() || !in_old {
            *slot = Some((b.address, !in_old));
        }
    }
    out.into_iter().map(|e| e.map(|(a, _)| a)).collect()
}

fn allocator_change(old: &HeldHeap, new: &HeldHeap) -> AllocatorChange {
    let mut indices: Vec<u32> = old
        .arenas
        .iter()
        .chain(&new.arenas)
        .map(|a| a.index)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let (mut all_old, mut all_new) = (Figures::default(), Figures::default());
    let arenas = indices
        .into_iter()
        .map(|index| {
            let find = |h: &HeldHeap| h.arenas.iter().find(|a| a.index == index).cloned();
            let (o, n) = (find(old), find(new));
            let name = n
                .as_ref()
                .or(o.as_ref())
                .map_or_else(String::new, |a| a.detail.name.clone());
            let (o, n) = (o.as_ref().map(Figures::of), n.as_ref().map(Figures::of));
            if let Some(f) = &o {
                all_old.add(f);
            }
            if let Some(f) = &n {
                all_new.add(f);
            }
            ArenaChange {
                index,
                name,
                delta: Figures::delta(o.as_ref(), n.as_ref()),
                old: o,
                new: n,
            }
        })
        .collect();
    AllocatorChange {
        delta: Figures::delta(Some(&all_old), Some(&all_new)),
        old: all_old,
        new: all_new,
        arenas,
    }
}

/// A finding of the diff.
fn finding(severity: Severity, code: &'static str, message: String) -> Finding {
    Finding {
        severity,
        code,
        arena: None,
        message,
    }
}

#[cfg(test)]
mod tests;
