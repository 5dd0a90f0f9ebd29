//! Call frame information: a module's `.eh_frame` and `.debug_frame` sections, located once
//! when the module is loaded, and the unwind row for an address in them (through gimli).

use gimli::{BaseAddresses, CfaRule, RegisterRule, UnwindSection};
use object::{Object, ObjectSection};

use crate::ModuleAddr;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    Undefined,
    Offset(i64),
    ValOffset(i64),
    Register(u16),
    Unsupported,
}

/// One CFI row reduced to what the unwinder uses (no borrow of gimli's context).
pub(crate) struct Row {
    /// CFA = register + offset; `None` for a DWARF expression CFA.
    pub cfa: Option<(u16, i64)>,
    /// The return address's register.
    pub ra: u16,
    /// How to restore each register the row has a rule for.
    pub rules: Vec<(u16, Rule)>,
}

/// One CFI section of a module's file or debug file, with the base addresses its pointer
/// encodings are relative to.
enum CfiTable {
    Eh(gimli::EhFrame<Slice>, BaseAddresses),
    Debug(gimli::DebugFrame<Slice>, BaseAddresses),
}

type Slice = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

/// A module's call frame information: `.eh_frame` and `.debug_frame` of its file, then of
/// its debug file, located once when the module is loaded rather than at every step.
pub(crate) struct CfiTables {
    tables: Vec<CfiTable>,
}

impl CfiTables {
    /// The CFI sections of these objects, in search order.
    pub(crate) fn of<'a>(objects: impl Iterator<Item = &'a object::File<'static>>) -> CfiTables {
        let endian = gimli::RunTimeEndian::Little;
        let mut tables = Vec::new();
        for obj in objects {
            let mut bases = BaseAddresses::default();
            if let Some(text) = obj.section_by_name(".text") {
                bases = bases.set_text(text.address());
            }
            if let Some(got) = obj.section_by_name(".got") {
                bases = bases.set_got(got.address());
            }
            if let Some(eh) = obj.section_by_name(".eh_frame") {
                // A debug file's .eh_frame is NOBITS: no bytes.
                let data = eh.data().unwrap_or(&[]);
                if !data.is_empty() {
                    tables.push(CfiTable::Eh(
                        gimli::EhFrame::new(data, endian),
                        bases.clone().set_eh_frame(eh.address()),
                    ));
                }
            }
            if let Some(df) = obj.section_by_name(".debug_frame") {
                let data = crate::files::FileCache::global().section(&df);
                if !data.is_empty() {
                    let mut section = gimli::DebugFrame::new(data, endian);
                    section.set_address_size(8);
                    tables.push(CfiTable::Debug(section, bases));
                }
            }
        }
        CfiTables { tables }
    }

    /// The unwind row for a module address, from the first table that covers it.
    pub(crate) fn row(&self, addr: ModuleAddr) -> Option<Row> {
        let svma = addr.0;
        self.tables.iter().find_map(|t| match t {
            CfiTable::Eh(section, bases) => row_from(section, bases, svma),
            CfiTable::Debug(section, bases) => row_from(section, bases, svma),
        })
    }
}

fn row_from<S>(section: &S, bases: &BaseAddresses, svma: u64) -> Option<Row>
where
    S: UnwindSection<gimli::EndianSlice<'static, gimli::RunTimeEndian>>,
{
    let fde = section
        .fde_for_address(bases, svma, S::cie_from_offset)
        .ok()?;
    let mut ctx = gimli::UnwindContext::new();
    let row = fde
        .unwind_info_for_address(section, bases, &mut ctx, svma)
        .ok()?;
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => Some((register.0, *offset)),
        _ => None,
    };
    let rules = row
        .registers()
        .filter_map(|(reg, rule)| {
            let r = match rule {
                RegisterRule::Undefined => Rule::Undefined,
                RegisterRule::Offset(o) => Rule::Offset(*o),
                RegisterRule::ValOffset(o) => Rule::ValOffset(*o),
                RegisterRule::Register(r) => Rule::Register(r.0),
                // The caller sees the value this frame has: nothing to change.
                RegisterRule::SameValue => return None,
                _ => Rule::Unsupported,
            };
            Some((reg.0, r))
        })
        .collect();
    let ra = fde.cie().return_address_register();
    Some(Row {
        cfa,
        ra: ra.0,
        rules,
    })
}
