//! Struct layouts from DWARF: the offsets allocator walkers need when debug info exists.

use std::collections::HashMap;
use std::sync::Mutex;

use gimli::{AttributeValue, Section};

use crate::Symbolizer;

type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

/// A struct's size and member offsets.
#[derive(Debug, Clone, Default)]
struct Layout {
    size: Option<u64>,
    members: HashMap<String, u64>,
}

/// A query: the module's path when asked of one module's DWARF, and the struct's name.
type Query = (Option<String>, String);

/// Struct layouts looked up by name (in any module, or in one module's DWARF), cached.
#[derive(Default)]
pub(crate) struct TypeIndex {
    cache: Mutex<HashMap<Query, Option<Layout>>>,
    /// The unit of each DWARF (by the address of its `.debug_info`) where the last layout
    /// was found: an allocator's structs are defined together (glibc's `malloc_state`,
    /// `malloc_par`, `_heap_info` and `tcache_perthread_struct` all in malloc.c's unit),
    /// so the next query looks there first.
    last_unit: Mutex<HashMap<usize, gimli::DebugInfoOffset>>,
}

/// Units and DIEs examined per query at most, so a huge or corrupt DWARF cannot stall us.
const MAX_DIES: usize = 50_000_000;

/// Scopes followed at most inside a unit (namespaces and types within types).
const MAX_DEPTH: usize = 64;

impl TypeIndex {
    pub fn offset_of(&self, symbolizer: &Symbolizer, name: &str, member: &str) -> Option<u64> {
        self.layout(symbolizer, None, name)?
            .members
            .get(member)
            .copied()
    }

    pub fn size_of(&self, symbolizer: &Symbolizer, name: &str) -> Option<u64> {
        self.layout(symbolizer, None, name)?.size
    }

    /// `offset_of` in the DWARF of the module at `module` (its path) only.
    pub fn module_offset_of(
        &self,
        symbolizer: &Symbolizer,
        module: &str,
        name: &str,
        member: &str,
    ) -> Option<u64> {
        self.layout(symbolizer, Some(module), name)?
            .members
            .get(member)
            .copied()
    }

    /// `size_of` in the DWARF of the module at `module` (its path) only.
    pub fn module_size_of(&self, symbolizer: &Symbolizer, module: &str, name: &str) -> Option<u64> {
        self.layout(symbolizer, Some(module), name)?.size
    }

    fn layout(&self, symbolizer: &Symbolizer, module: Option<&str>, name: &str) -> Option<Layout> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((module.map(str::to_string), name.to_string()))
            .or_insert_with(|| {
                symbolizer
                    .loaded()
                    .filter(|(m, _)| module.is_none_or(|p| m.path == p))
                    .filter_map(|(_, l)| l.types())
                    .find_map(|d| self.find_struct(d, name))
            })
            .clone()
    }

    /// Finds a complete `struct name` or `class name` (or a typedef of that name to one) and reads its
    /// members' `DW_AT_data_member_location`: in the unit of the last layout found first,
    /// then in every unit.
    fn find_struct(&self, dwarf: &gimli::Dwarf<Reader>, name: &str) -> Option<Layout> {
        let key = dwarf.debug_info.reader().slice().as_ptr() as usize;
        let mut last = self.last_unit.lock().unwrap_or_else(|e| e.into_inner());
        let hint = last.get(&key).copied();
        let mut budget = MAX_DIES;
        let mut search = |header: gimli::UnitHeader<Reader>| {
            budget = budget.checked_sub(1)?;
            let unit = dwarf.unit(header).ok()?;
            find_in_unit(dwarf, &unit, name, &mut budget)
        };
        if let Some(header) = hint.and_then(|at| dwarf.debug_info.header_from_offset(at).ok()) {
            if let Some(layout) = search(header) {
                return Some(layout);
            }
        }
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let at = header.offset().as_debug_info_offset();
            if at.is_some() && at == hint {
                continue; // searched first already
            }
            if let Some(layout) = search(header) {
                if let Some(at) = at {
                    last.insert(key, at);
                }
                return Some(layout);
            }
        }
        None
    }
}

fn attr_name(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    v: AttributeValue<Reader>,
) -> Option<String> {
    let s = dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().into_owned())
}

/// [`TypeIndex::find_struct`] in one unit. Types are looked for at the unit's top level
/// and inside namespaces, structs, classes and unions (C++'s nested types), not inside
/// functions: a function's parameters, variables, blocks and call sites are most of a
/// unit's entries (libc6-dbg's), skipped whole through their `DW_AT_sibling`, and no
/// allocator keeps its state in a type local to a function.
fn find_in_unit(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    name: &str,
    budget: &mut usize,
) -> Option<Layout> {
    let mut tree = unit.entries_tree(None).ok()?;
    let root = tree.root().ok()?;
    find_in_children(dwarf, unit, root, name, budget, 0)
}

/// [`find_in_unit`] among the children of `node`, `depth` scopes down.
fn find_in_children(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    node: gimli::EntriesTreeNode<'_, '_, '_, Reader>,
    name: &str,
    budget: &mut usize,
    depth: usize,
) -> Option<Layout> {
    let mut children = node.children();
    while let Ok(Some(child)) = children.next() {
        *budget = budget.checked_sub(1)?;
        let die = child.entry();
        let tag = die.tag();
        // A C++ `class` is a DW_TAG_class_type (gperftools' classes).
        let record = tag == gimli::DW_TAG_structure_type || tag == gimli::DW_TAG_class_type;
        if record || tag == gimli::DW_TAG_typedef {
            let named = die
                .attr_value(gimli::DW_AT_name)
                .ok()
                .flatten()
                .and_then(|v| dwarf.attr_string(unit, v).ok())
                .is_some_and(|n| n.slice() == name.as_bytes());
            let declaration = matches!(die.attr_value(gimli::DW_AT_declaration), Ok(Some(_)));
            if named && !declaration {
                let offset = match die.attr_value(gimli::DW_AT_type) {
                    _ if record => Some(die.offset()),
                    Ok(Some(AttributeValue::UnitRef(o))) => Some(o),
                    _ => None,
                };
                if let Some(layout) = offset.and_then(|o| read_struct(dwarf, unit, o)) {
                    return Some(layout);
                }
            }
        }
        let scope = matches!(
            tag,
            gimli::DW_TAG_namespace
                | gimli::DW_TAG_structure_type
                | gimli::DW_TAG_class_type
                | gimli::DW_TAG_union_type
        );
        if scope && depth < MAX_DEPTH {
            if let Some(layout) = find_in_children(dwarf, unit, child, name, budget, depth + 1) {
                return Some(layout);
            }
        }
    }
    None
}

fn read_struct(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    mut offset: gimli::UnitOffset,
) -> Option<Layout> {
    // A typedef of a typedef (gperftools' `typedef MapSelector<kAddressBits>::Type
    // PageMap`) is followed to the struct, a few levels at most.
    for _ in 0..8 {
        let die = unit.entry(offset).ok()?;
        if die.tag() != gimli::DW_TAG_typedef {
            break;
        }
        match die.attr_value(gimli::DW_AT_type) {
            Ok(Some(AttributeValue::UnitRef(o))) => offset = o,
            _ => return None,
        }
    }
    let mut tree = unit.entries_tree(Some(offset)).ok()?;
    let root = tree.root().ok()?;
    if !matches!(
        root.entry().tag(),
        gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type
    ) {
        return None;
    }
    let size = root
        .entry()
        .attr_value(gimli::DW_AT_byte_size)
        .ok()
        .flatten()
        .and_then(|v| v.udata_value());
    let mut layout = Layout {
        size,
        members: HashMap::new(),
    };
    let mut children = root.children();
    while let Ok(Some(child)) = children.next() {
        let e = child.entry();
        if e.tag() != gimli::DW_TAG_member {
            continue;
        }
        let Some(n) = e.attr_value(gimli::DW_AT_name).ok().flatten() else {
            continue;
        };
        let Some(n) = attr_name(dwarf, unit, n) else {
            continue;
        };
        let loc = e
            .attr_value(gimli::DW_AT_data_member_location)
            .ok()
            .flatten()
            .and_then(|v| v.udata_value())
            .unwrap_or(0);
        layout.members.insert(n, loc);
    }
    (size.is_some() || !layout.members.is_empty()).then_some(layout)
}
