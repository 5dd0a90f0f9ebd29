//! The allocator-neutral outputs of a walked heap: `heap --format json` and `heap --list`,
//! one writer for every allocator.

use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::model::{Allocation, ArenaDetail, Heap, ListFilter};
use crate::types::{TypeIndex, TypeRow};

/// One listed allocation as JSON: the arena is written as its address.
struct Listed<'a, D, A> {
    heap: &'a Heap<D, A>,
    allocation: &'a Allocation,
    types: Option<&'a TypeIndex>,
}

impl<D, A> Serialize for Listed<'_, D, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.allocation;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("address", &core_reader::Hex(a.address))?;
        m.serialize_entry("size", &a.size)?;
        m.serialize_entry("state", &a.state)?;
        m.serialize_entry(
            "arena",
            &self.heap.arena_of(a).map(|r| core_reader::Hex(r.address)),
        )?;
        if a.is_top() {
            m.serialize_entry("top", &true)?;
        }
        if a.is_mmapped() {
            m.serialize_entry("mmapped", &true)?;
        }
        if a.is_internal() {
            m.serialize_entry("internal", &true)?;
        }
        if let Some(t) = self.types.and_then(|t| t.of(a.address)) {
            m.serialize_entry("type", &t.name)?;
        }
        m.end()
    }
}

/// The listing, streamed: a hundred-million-allocation heap is never built as a JSON tree.
struct Listing<'a, D, A> {
    heap: &'a Heap<D, A>,
    filter: ListFilter,
    types: Option<&'a TypeIndex>,
}

impl<D, A> Serialize for Listing<'_, D, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for allocation in self.heap.allocations.iter().flatten() {
            if self.filter.keeps(allocation) {
                seq.serialize_element(&Listed {
                    heap: self.heap,
                    allocation,
                    types: self.types,
                })?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct JsonOut<'a, H, L> {
    #[serde(flatten)]
    heap: &'a H,
    #[serde(skip_serializing_if = "Option::is_none")]
    allocations: Option<L>,
    #[serde(skip_serializing_if = "Option::is_none")]
    types: Option<&'a [TypeRow]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_classes: Option<&'a [crate::SizeClass]>,
}

impl<D: Serialize, A: ArenaDetail> Heap<D, A> {
    /// Writes the JSON document of `heapmortem heap --format json` (keys in DESIGN.md and
    /// json-schema.md); `list` adds `allocations` (with their types when an index is given),
    /// `types` (from [`crate::types::by_type`]) adds `types`, `by_size` adds `size_classes`.
    pub fn write_json(
        &self,
        w: &mut dyn Write,
        list: Option<(ListFilter, Option<&TypeIndex>)>,
        types: Option<&[TypeRow]>,
        by_size: bool,
    ) -> io::Result<()> {
        let doc = JsonOut {
            heap: self,
            // A walk that could not list (jemalloc 5.1, 5.2) has no `allocations` key.
            allocations: list
                .filter(|_| self.allocations.is_some())
                .map(|(filter, types)| Listing {
                    heap: self,
                    filter,
                    types,
                }),
            types,
            size_classes: by_size.then_some(self.size_classes.as_slice()),
        };
        serde_json::to_writer_pretty(&mut *w, &doc).map_err(io::Error::other)?;
        writeln!(w)
    }

    /// Writes `heapmortem heap --by size` as text: in use and free by size class.
    pub fn write_size_classes(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "\n{:>12} {:>10} {:>14} {:>10} {:>14}",
            "size from", "in use", "bytes", "free", "bytes"
        )?;
        for c in &self.size_classes {
            writeln!(
                w,
                "{:>12} {:>10} {:>14} {:>10} {:>14}",
                c.size, c.in_use_count, c.in_use_bytes, c.free_count, c.free_bytes
            )?;
        }
        Ok(())
    }

    /// Writes the listing of `heapmortem heap --list` as text: one allocation a line, the
    /// arena by its address (`mmapped` for a chunk with a mapping of its own).
    pub fn write_list(&self, w: &mut dyn Write, filter: ListFilter) -> io::Result<()> {
        // A walk that could not list (jemalloc 5.1, 5.2) has said so among its problems.
        let Some(allocations) = &self.allocations else {
            return Ok(());
        };
        writeln!(w, "\n{:>18} {:>12} {:<8} arena", "address", "size", "state")?;
        for a in allocations.iter().filter(|a| filter.keeps(a)) {
            let arena = match self.arena_of(a) {
                Some(r) => format!(
                    "{:#x}{}",
                    r.address,
                    if a.is_top() {
                        " (top)"
                    } else if a.is_internal() {
                        " (allocator's own)"
                    } else {
                        ""
                    }
                ),
                None => "mmapped".to_string(),
            };
            writeln!(
                w,
                "{:>#18x} {:>12} {:<8} {arena}",
                a.address,
                a.size,
                a.state.name(),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AllocationState, Allocations, Arena, ArenaFigures};
    use crate::Allocator;

    #[derive(Serialize)]
    struct NoDetail {}
    impl ArenaDetail for NoDetail {}

    fn heap() -> Heap<NoDetail, NoDetail> {
        let allocation = |address, size, state, arena, flags| Allocation {
            address,
            size,
            state,
            arena,
            flags,
        };
        Heap {
            allocator: Allocator::Glibc,
            version: Some("2.36".into()),
            detail: NoDetail {},
            arenas: vec![Arena {
                index: 0,
                address: 0x7f00,
                figures: ArenaFigures::default(),
                detail: NoDetail {},
            }],
            size_classes: Vec::new(),
            findings: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            allocations: Some(Allocations::new(vec![
                allocation(0x2000, 24, AllocationState::Free, 0, Allocation::TOP),
                allocation(0x1000, 40, AllocationState::Used, 0, 0),
                allocation(
                    0x9000,
                    4096,
                    AllocationState::Used,
                    Allocation::NO_ARENA,
                    Allocation::MMAPPED,
                ),
            ])),
        }
    }

    #[test]
    fn listing_names_arenas_by_address_and_marks_top_and_mmapped() {
        let mut out = Vec::new();
        heap().write_list(&mut out, ListFilter::All).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].trim_start().starts_with("0x1000") && lines[0].ends_with("used     0x7f00")
        );
        assert!(lines[1].ends_with("free     0x7f00 (top)"));
        assert!(lines[2].ends_with("mmapped"));
    }

    #[test]
    fn json_listing_filters_and_writes_hex() {
        let mut out = Vec::new();
        heap()
            .write_json(&mut out, Some((ListFilter::Used, None)), None, false)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["allocator"], "glibc");
        let list = v["allocations"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["address"], "0x1000");
        assert_eq!(list[0]["arena"], "0x7f00");
        assert_eq!(list[1]["arena"], serde_json::Value::Null);
        assert_eq!(list[1]["mmapped"], true);
        assert!(list[0].get("top").is_none());
        assert_eq!(v["arenas"][0]["address"], "0x7f00");
        assert_eq!(v["arenas"][0]["system_bytes"], 0);
    }
}
