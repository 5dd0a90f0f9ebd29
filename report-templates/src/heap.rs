//! The heap and leaks sections filled from heap-walkers' allocator-neutral results: any
//! allocator's walked [`Heap`] and any [`LeakReport`].

use heap_walkers::leaks::LeakReport;
use heap_walkers::types::{TypeKind, TypeRow};
use heap_walkers::{ArenaDetail, Heap};
use serde::Serialize;

use crate::model::{
    ArenaRow, Finding, HeapSection, LeakGroup, LeaksSection, Severity, SizeClassRow, TypeCount,
    TypesSection,
};
use crate::MAX_TYPE_ROWS;

impl TypesSection {
    /// The types section of one core from `heap --by type`'s rows
    /// ([`heap_walkers::types::by_type`], largest first).
    pub fn of(input: &str, rows: &[TypeRow]) -> TypesSection {
        let (shown, rest) = rows.split_at(rows.len().min(MAX_TYPE_ROWS));
        TypesSection {
            input: input.to_string(),
            rows: shown
                .iter()
                .map(|r| TypeCount {
                    name: r.name.clone(),
                    kind: r.kind.name().to_string(),
                    count: r.count,
                    bytes: r.bytes,
                    example: Some(r.example),
                })
                .collect(),
            recognized: rows.iter().filter(|r| r.kind != TypeKind::Unknown).count() as u64,
            total_bytes: rows.iter().map(|r| r.bytes).sum(),
            omitted_rows: rest.len() as u64,
            omitted_count: rest.iter().map(|r| r.count).sum(),
            omitted_bytes: rest.iter().map(|r| r.bytes).sum(),
        }
    }
}

impl HeapSection {
    /// The heap section of one core (`input` as given on the command line).
    pub fn of<D: Serialize, A: ArenaDetail>(input: &str, heap: &Heap<D, A>) -> HeapSection {
        let mut notes = heap.notes.clone();
        notes.extend(heap.problems.iter().map(|p| match p.address {
            Some(a) => format!("{a:#x}: {}", p.message),
            None => p.message.clone(),
        }));
        HeapSection {
            input: input.to_string(),
            allocator: heap.allocator.name().to_string(),
            version: heap.version.clone(),
            arenas: heap
                .arenas
                .iter()
                .map(|a| ArenaRow {
                    name: a.detail.name(a.index),
                    address: Some(a.address),
                    system_bytes: a.figures.system_bytes,
                    in_use_chunks: a.figures.in_use_chunks,
                    in_use_bytes: a.figures.in_use_bytes,
                    free_chunks: a.figures.free_chunks,
                    free_bytes: a.figures.free_bytes,
                    dirty_bytes: a.detail.dirty_bytes(),
                    muzzy_bytes: a.detail.muzzy_bytes(),
                    retained_bytes: a.detail.retained_bytes(),
                    trimmable_bytes: Some(a.figures.trimmable_bytes),
                    largest_free: Some(a.figures.largest_free),
                })
                .collect(),
            size_classes: heap
                .size_classes
                .iter()
                .map(|c| SizeClassRow {
                    size: c.size,
                    in_use_count: c.in_use_count,
                    in_use_bytes: c.in_use_bytes,
                    free_count: c.free_count,
                    free_bytes: c.free_bytes,
                })
                .collect(),
            notes,
        }
    }
}

impl Finding {
    /// The report's finding for a heap walker's: a warning names a likely cause.
    pub fn from_heap(f: &heap_walkers::Finding) -> Finding {
        Finding {
            severity: match f.severity {
                heap_walkers::Severity::Warning => Severity::Problem,
                heap_walkers::Severity::Info => Severity::Info,
            },
            source: "heap".into(),
            text: f.message.clone(),
        }
    }
}

impl LeaksSection {
    /// The leaks section of one core.
    pub fn of(input: &str, report: &LeakReport) -> LeaksSection {
        LeaksSection {
            input: input.to_string(),
            direct_count: report.direct_count,
            direct_bytes: report.direct_bytes,
            indirect_count: report.indirect_count,
            indirect_bytes: report.indirect_bytes,
            groups: report
                .groups
                .iter()
                .map(|g| LeakGroup {
                    count: g.count,
                    size: g.size,
                    bytes: g.bytes,
                    example: g.samples.first().copied(),
                    type_name: g.type_name.clone(),
                    contents: Some(format!("{}  {}", g.preview_hex, g.preview_ascii)),
                })
                .collect(),
        }
    }
}
