//! Struct layouts from DWARF: the offsets allocator walkers need when debug info exists.

use std::collections::HashMap;
use std::sync::Mutex;

use gimli::AttributeValue;

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
}

/// Units and DIEs examined per query at most, so a huge or corrupt DWARF cannot stall us.
const MAX_DIES: usize = 50_000_000;

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
                    .filter_map(|(_, l)| l.types.as_ref())
                    .find_map(|d| find_struct(d, name))
            })
            .clone()
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

/// Finds a complete `struct name` or `class name` (or a typedef of that name to one) and
/// reads its members' `DW_AT_data_member_location`.
fn find_struct(dwarf: &gimli::Dwarf<Reader>, name: &str) -> Option<Layout> {
    let mut units = dwarf.units();
    let mut budget = MAX_DIES;
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut entries = unit.entries();
        while let Ok(Some((_, die))) = entries.next_dfs() {
            budget = budget.checked_sub(1)?;
            let tag = die.tag();
            // A C++ `class` is a DW_TAG_class_type (gperftools' classes).
            if tag != gimli::DW_TAG_structure_type
                && tag != gimli::DW_TAG_class_type
                && tag != gimli::DW_TAG_typedef
            {
                continue;
            }
            let Ok(Some(n)) = die.attr_value(gimli::DW_AT_name) else {
                continue;
            };
            if attr_name(dwarf, &unit, n).as_deref() != Some(name) {
                continue;
            }
            if matches!(die.attr_value(gimli::DW_AT_declaration), Ok(Some(_))) {
                continue;
            }
            let offset = if tag == gimli::DW_TAG_typedef {
                match die.attr_value(gimli::DW_AT_type) {
                    Ok(Some(AttributeValue::UnitRef(o))) => o,
                    _ => continue,
                }
            } else {
                die.offset()
            };
            if let Some(layout) = read_struct(dwarf, &unit, offset) {
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
