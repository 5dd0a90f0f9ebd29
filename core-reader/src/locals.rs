//! The variable whose stack slot holds an address: how `explain` names a stack root.
//!
//! A function's `DW_TAG_variable` and `DW_TAG_formal_parameter` children (and those of the
//! lexical blocks and inlined calls whose ranges hold the pc) are read for a location that
//! is one `DW_OP_fbreg N` or `DW_OP_bregR N`, directly or in the entry of a location list that
//! covers the pc. The frame base is `DW_OP_call_frame_cfa` for GCC (every function, -O0 and
//! -O2, x86-64 and arm64): the frame's call frame address, which the unwinder knows for
//! every frame. clang's is a register (`DW_OP_reg6`, rbp, at -O0 on x86-64; `DW_OP_reg7`,
//! rsp, without a frame pointer): the frame's stack and frame pointers are known too. Other
//! registers are not kept per frame, so variables placed relative to them, and variables
//! that live in registers, go unnamed.

use gimli::{AttributeValue, DebuggingInformationEntry, EntriesTreeNode, Operation, UnitOffset};

type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;
type Unit<'a> = gimli::UnitRef<'a, Reader>;
type Die<'a, 'b> = DebuggingInformationEntry<'a, 'b, Reader>;

/// DIEs read per question at most: a function has hundreds, corrupt DWARF could have more.
const MAX_DIES: usize = 100_000;
/// Scopes nested deeper than this are not entered (the recursion is bounded by it).
const MAX_DEPTH: usize = 64;
/// Typedefs, qualifiers and array levels followed to find a type's size.
const MAX_TYPE_HOPS: usize = 32;
/// Location list entries and address ranges read per DIE at most.
const MAX_RANGES: usize = 10_000;

/// What the unwinder knows of one frame.
pub(crate) struct FrameState<'a> {
    /// The module address of the pc (less one for a return address).
    pub pc: u64,
    /// The call frame address.
    pub cfa: u64,
    /// The value of a register (by DWARF number) in the frame, where known.
    pub register: &'a dyn Fn(u16) -> Option<u64>,
}

/// The name of the variable or parameter of `function` (the `DW_TAG_subprogram` at that
/// offset) whose slot holds `address` in `frame`; None when DWARF places no variable there
/// (or not in a way described above).
pub(crate) fn variable_at(
    unit: Unit<'_>,
    function: UnitOffset,
    frame: &FrameState<'_>,
    address: u64,
) -> Option<String> {
    let mut tree = unit.entries_tree(Some(function)).ok()?;
    let root = tree.root().ok()?;
    let e = root.entry();
    if e.tag() != gimli::DW_TAG_subprogram {
        return None;
    }
    let mut search = Search {
        unit,
        frame,
        frame_base: None,
        address,
        budget: MAX_DIES,
    };
    search.frame_base = match e.attr_value(gimli::DW_AT_frame_base) {
        Ok(Some(AttributeValue::Exprloc(expr))) => search.eval(expr, true),
        _ => None,
    };
    search.scope(root, 0)
}

struct Search<'a> {
    unit: Unit<'a>,
    frame: &'a FrameState<'a>,
    /// The function's frame base, when its expression is one this module evaluates.
    frame_base: Option<u64>,
    address: u64,
    budget: usize,
}

impl Search<'_> {
    /// The variables of one scope, then the nested scopes that hold the pc.
    fn scope(&mut self, node: EntriesTreeNode<'_, '_, '_, Reader>, depth: usize) -> Option<String> {
        let mut children = node.children();
        while let Ok(Some(child)) = children.next() {
            self.budget = self.budget.checked_sub(1)?;
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_variable | gimli::DW_TAG_formal_parameter => {
                    if let Some(name) = self.holds(e) {
                        return Some(name);
                    }
                }
                gimli::DW_TAG_lexical_block | gimli::DW_TAG_inlined_subroutine
                    if depth < MAX_DEPTH && self.in_scope(e) =>
                {
                    if let Some(name) = self.scope(child, depth + 1) {
                        return Some(name);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Whether the pc is in the scope's ranges; a block without ranges spans its parent.
    fn in_scope(&self, e: &Die<'_, '_>) -> bool {
        let Ok(mut ranges) = self.unit.die_ranges(e) else {
            return false;
        };
        let pc = self.frame.pc;
        let mut any = false;
        for _ in 0..MAX_RANGES {
            match ranges.next() {
                Ok(Some(r)) if r.begin <= pc && pc < r.end => return true,
                Ok(Some(_)) => any = true,
                _ => break,
            }
        }
        !any
    }

    /// The variable's name when its slot holds the address. The name and type of an inlined
    /// or out-of-line copy are on the DIE its `DW_AT_abstract_origin` names.
    fn holds(&self, e: &Die<'_, '_>) -> Option<String> {
        let slot = self.slot(e)?;
        let origin = match e.attr_value(gimli::DW_AT_abstract_origin) {
            Ok(Some(AttributeValue::UnitRef(o))) => self.unit.entry(o).ok(),
            _ => None,
        };
        let attr = |name| {
            e.attr_value(name)
                .ok()
                .flatten()
                .or_else(|| origin.as_ref()?.attr_value(name).ok().flatten())
        };
        // A type whose size is unknown still covers its first byte.
        let size = match attr(gimli::DW_AT_type) {
            Some(AttributeValue::UnitRef(t)) => self.type_size(t, MAX_TYPE_HOPS),
            _ => None,
        }
        .unwrap_or(1);
        if self.address.wrapping_sub(slot) >= size {
            return None;
        }
        let name = self.unit.attr_string(attr(gimli::DW_AT_name)?).ok()?;
        Some(name.to_string_lossy().into_owned())
    }

    /// The variable's address in this frame, from its location.
    fn slot(&self, e: &Die<'_, '_>) -> Option<u64> {
        let value = e.attr_value(gimli::DW_AT_location).ok()??;
        if let AttributeValue::Exprloc(expr) = value {
            return self.eval(expr, false);
        }
        let pc = self.frame.pc;
        let mut list = self.unit.attr_locations(value).ok()??;
        for _ in 0..MAX_RANGES {
            let entry = list.next().ok()??;
            if entry.range.begin <= pc && pc < entry.range.end {
                return self.eval(entry.data, false);
            }
        }
        None
    }

    /// A one-operation expression: a frame base (`DW_OP_call_frame_cfa`, `DW_OP_regR`:
    /// the register's value, `DW_OP_bregR N`) or a memory location (`DW_OP_fbreg N`,
    /// `DW_OP_bregR N`).
    fn eval(&self, expr: gimli::Expression<Reader>, frame_base: bool) -> Option<u64> {
        let mut ops = expr.operations(self.unit.encoding());
        let (Ok(Some(op)), Ok(None)) = (ops.next(), ops.next()) else {
            return None;
        };
        let register = |r: gimli::Register| (self.frame.register)(r.0);
        match op {
            Operation::CallFrameCFA if frame_base => Some(self.frame.cfa),
            Operation::Register { register: r } if frame_base => register(r),
            Operation::FrameOffset { offset } if !frame_base => {
                Some(self.frame_base?.wrapping_add(offset as u64))
            }
            Operation::RegisterOffset {
                register: r,
                offset,
                base_type,
            } if base_type.0 == 0 => Some(register(r)?.wrapping_add(offset as u64)),
            _ => None,
        }
    }

    /// A type's size in bytes, through typedefs, qualifiers and array dimensions.
    fn type_size(&self, offset: UnitOffset, hops: usize) -> Option<u64> {
        let hops = hops.checked_sub(1)?;
        let e = self.unit.entry(offset).ok()?;
        if let Some(size) = udata(&e, gimli::DW_AT_byte_size) {
            return Some(size);
        }
        let inner = || match e.attr_value(gimli::DW_AT_type) {
            Ok(Some(AttributeValue::UnitRef(t))) => Some(t),
            _ => None,
        };
        match e.tag() {
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => self.type_size(inner()?, hops),
            gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_reference_type
            | gimli::DW_TAG_rvalue_reference_type => {
                Some(u64::from(self.unit.encoding().address_size))
            }
            gimli::DW_TAG_array_type => {
                let element = self.type_size(inner()?, hops)?;
                let mut tree = self.unit.entries_tree(Some(offset)).ok()?;
                let root = tree.root().ok()?;
                let mut dims = root.children();
                let mut size = element;
                for _ in 0..MAX_TYPE_HOPS {
                    let Ok(Some(dim)) = dims.next() else { break };
                    let d = dim.entry();
                    if d.tag() != gimli::DW_TAG_subrange_type {
                        continue;
                    }
                    let count = udata(d, gimli::DW_AT_count).or_else(|| {
                        let lower = udata(d, gimli::DW_AT_lower_bound).unwrap_or(0);
                        udata(d, gimli::DW_AT_upper_bound)?
                            .checked_sub(lower)?
                            .checked_add(1)
                    })?;
                    size = size.checked_mul(count)?;
                }
                Some(size)
            }
            _ => None,
        }
    }
}

fn udata(e: &Die<'_, '_>, name: gimli::DwAt) -> Option<u64> {
    e.attr_value(name).ok().flatten()?.udata_value()
}
