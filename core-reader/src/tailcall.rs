//! Frames that tail calls erased, rebuilt from DWARF call-site information.
//!
//! When `middle` ends in `jmp crash_here`, the stack holds no trace of `middle`: unwinding
//! `crash_here` lands straight in `middle`'s caller. gdb shows such frames anyway (its
//! "tailcall frames", gdb/dwarf2/frame-tailcall.c) by following the compiler's call-site
//! records (`DW_TAG_call_site`, DWARF 5 §3.4; `DW_TAG_GNU_call_site` in DWARF 4 with GNU
//! extensions): the caller's call at the return address names its target, and each
//! function's tail-call sites name theirs; when exactly one chain of tail calls leads from
//! the target to the function we unwound from, its functions are the missing frames. We do
//! the same, so that frame-for-frame comparisons with gdb hold at -O2.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use gimli::{AttributeValue, DwAt, DwTag};

type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;
type UnitOffset = gimli::DebugInfoOffset<usize>;

/// One call instruction, as DWARF records it.
#[derive(Debug, Clone)]
struct Site {
    /// The called function, when the call is direct.
    target: Option<Target>,
    /// Whether the call is a tail call (a jump that leaves no return address).
    tail: bool,
}

/// A called function: by entry address when it is in this module, else by name (a call
/// through the PLT into another library).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Entry(u64),
    Name(String),
}

/// The function a walk is looking for: where it starts when it is in the same module, and
/// its name.
pub(crate) struct Callee<'a> {
    pub entry: Option<u64>,
    pub name: Option<&'a str>,
}

impl Callee<'_> {
    fn is(&self, t: &Target) -> bool {
        match t {
            Target::Entry(a) => self.entry == Some(*a),
            Target::Name(n) => self.name == Some(n.as_str()),
        }
    }
}

#[derive(Default)]
struct UnitSites {
    /// Call sites by return address (for a tail call: the address after the jump).
    by_return: HashMap<u64, Site>,
    /// Tail-call sites of each function: (return address, target).
    tails: HashMap<u64, Vec<(u64, Target)>>,
}

/// Call sites of one module, parsed a compilation unit at a time on demand.
pub(crate) struct CallSites {
    /// Address ranges of each unit, with the unit's offset in `.debug_info`.
    ranges: OnceLock<Vec<(u64, u64, UnitOffset)>>,
    parsed: Mutex<HashMap<UnitOffset, Arc<UnitSites>>>,
}

/// Limits on the search: chains longer than this or more numerous are not followed
/// (gdb gives up too when the chain is ambiguous).
const MAX_CHAIN: usize = 8;
const MAX_PATHS: usize = 32;
const DW_AT_CALL_ORIGIN: DwAt = gimli::DW_AT_call_origin;
const DW_AT_CALL_RETURN_PC: DwAt = gimli::DW_AT_call_return_pc;
const DW_AT_CALL_TAIL_CALL: DwAt = gimli::DW_AT_call_tail_call;
const DW_AT_GNU_TAIL_CALL: DwAt = gimli::DW_AT_GNU_tail_call;
const DW_TAG_CALL_SITE: DwTag = gimli::DW_TAG_call_site;
const DW_TAG_GNU_CALL_SITE: DwTag = gimli::DW_TAG_GNU_call_site;

impl CallSites {
    pub fn new() -> CallSites {
        CallSites {
            ranges: OnceLock::new(),
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// The frames tail calls erased between a caller whose return address is `ret` and a
    /// callee whose function starts at `callee` (both file addresses): each is the return
    /// address of a tail-call site, innermost first. Empty when there were none or the
    /// chain is not unique.
    pub fn erased_frames(
        &self,
        dwarf: &gimli::Dwarf<Reader>,
        resolve: &dyn Fn(&str) -> Option<u64>,
        ret: u64,
        callee: &Callee<'_>,
    ) -> Vec<u64> {
        let Some(site) = self.site_at(dwarf, resolve, ret) else {
            return Vec::new();
        };
        let Some(Target::Entry(first)) = site.target else {
            return Vec::new();
        };
        if callee.entry == Some(first) || site.tail {
            return Vec::new();
        }
        // Depth-first search of tail-call chains first → … → callee.
        let mut paths: Vec<Vec<u64>> = Vec::new();
        let mut stack: Vec<(u64, Vec<u64>)> = vec![(first, Vec::new())];
        while let Some((function, path)) = stack.pop() {
            if paths.len() >= MAX_PATHS {
                return Vec::new();
            }
            if path.len() >= MAX_CHAIN {
                continue;
            }
            for (site_ret, target) in self.tails_of(dwarf, resolve, function) {
                let mut next = path.clone();
                next.push(site_ret);
                if callee.is(&target) {
                    paths.push(next);
                } else if let Target::Entry(t) = target {
                    if t != first {
                        stack.push((t, next));
                    }
                }
            }
        }
        match paths.as_slice() {
            [only] => only.iter().rev().copied().collect(),
            _ => Vec::new(),
        }
    }

    fn site_at(
        &self,
        dwarf: &gimli::Dwarf<Reader>,
        resolve: &dyn Fn(&str) -> Option<u64>,
        ret: u64,
    ) -> Option<Site> {
        self.unit_for(dwarf, resolve, ret)?
            .by_return
            .get(&ret)
            .cloned()
    }

    fn tails_of(
        &self,
        dwarf: &gimli::Dwarf<Reader>,
        resolve: &dyn Fn(&str) -> Option<u64>,
        function: u64,
    ) -> Vec<(u64, Target)> {
        self.unit_for(dwarf, resolve, function)
            .and_then(|u| u.tails.get(&function).cloned())
            .unwrap_or_default()
    }

    fn unit_for(
        &self,
        dwarf: &gimli::Dwarf<Reader>,
        resolve: &dyn Fn(&str) -> Option<u64>,
        addr: u64,
    ) -> Option<Arc<UnitSites>> {
        let ranges = self.ranges.get_or_init(|| unit_ranges(dwarf));
        let index = ranges
            .iter()
            .find(|(lo, hi, _)| *lo <= addr && addr < *hi)?
            .2;
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = parsed.get(&index) {
            return Some(u.clone());
        }
        let sites = Arc::new(parse_unit(dwarf, resolve, index).unwrap_or_default());
        parsed.insert(index, sites.clone());
        Some(sites)
    }
}

fn unit_ranges(dwarf: &gimli::Dwarf<Reader>) -> Vec<(u64, u64, UnitOffset)> {
    let mut out = Vec::new();
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        let Some(index) = header.offset().as_debug_info_offset() else {
            continue;
        };
        if let Ok(unit) = dwarf.unit(header) {
            if let Ok(mut ranges) = dwarf.unit_ranges(&unit) {
                while let Ok(Some(r)) = ranges.next() {
                    if r.begin < r.end {
                        out.push((r.begin, r.end, index));
                    }
                }
            }
        }
    }
    out
}

fn parse_unit(
    dwarf: &gimli::Dwarf<Reader>,
    resolve: &dyn Fn(&str) -> Option<u64>,
    index: UnitOffset,
) -> Option<UnitSites> {
    let header = dwarf.debug_info.header_from_offset(index).ok()?;
    let unit = dwarf.unit(header).ok()?;
    let mut out = UnitSites::default();
    let mut entries = unit.entries();
    let mut depth: isize = 0;
    // (depth, entry address) of the enclosing concrete functions.
    let mut functions: Vec<(isize, u64)> = Vec::new();
    while let Ok(Some((delta, die))) = entries.next_dfs() {
        depth += delta;
        while functions.last().is_some_and(|&(d, _)| d >= depth) {
            functions.pop();
        }
        let tag = die.tag();
        if tag == gimli::DW_TAG_subprogram {
            if let Some(entry) = subprogram_entry(dwarf, &unit, die) {
                functions.push((depth, entry));
            }
            continue;
        }
        if tag != DW_TAG_CALL_SITE && tag != DW_TAG_GNU_CALL_SITE {
            continue;
        }
        let Some(&(_, function)) = functions.last() else {
            continue;
        };
        let ret_attr = if tag == DW_TAG_CALL_SITE {
            DW_AT_CALL_RETURN_PC
        } else {
            gimli::DW_AT_low_pc
        };
        let Some(ret) = die
            .attr_value(ret_attr)
            .ok()
            .flatten()
            .and_then(|v| dwarf.attr_address(&unit, v).ok().flatten())
        else {
            continue;
        };
        let tail = die.attr(DW_AT_CALL_TAIL_CALL).ok().flatten().is_some()
            || die.attr(DW_AT_GNU_TAIL_CALL).ok().flatten().is_some();
        let origin = die
            .attr_value(DW_AT_CALL_ORIGIN)
            .ok()
            .flatten()
            .or_else(|| die.attr_value(gimli::DW_AT_abstract_origin).ok().flatten());
        let target = match origin {
            Some(AttributeValue::UnitRef(off)) => function_entry(dwarf, &unit, off, resolve),
            _ => None,
        };
        if let (true, Some(t)) = (tail, target.clone()) {
            out.tails.entry(function).or_default().push((ret, t));
        }
        out.by_return.insert(ret, Site { target, tail });
    }
    Some(out)
}

/// Where a concrete function starts: its `DW_AT_low_pc`, or, for a function split into
/// hot and cold parts (`DW_AT_ranges`: glibc 2.36's `_IO_fgets` and its `_IO_fgets.cold`),
/// the start of its first range, which is where its symbol points (gdb's entry pc of a
/// non-contiguous block is the same).
fn subprogram_entry(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    die: &gimli::DebuggingInformationEntry<'_, '_, Reader>,
) -> Option<u64> {
    if let Ok(Some(v)) = die.attr_value(gimli::DW_AT_low_pc) {
        return dwarf.attr_address(unit, v).ok().flatten();
    }
    let mut ranges = dwarf.die_ranges(unit, die).ok()?;
    ranges.next().ok().flatten().map(|r| r.begin)
}

/// The function a DIE describes: where it starts ([`subprogram_entry`]), or its name looked up in the module's
/// symbol table (declarations carry no address), or just its name for a function of
/// another library.
fn function_entry(
    dwarf: &gimli::Dwarf<Reader>,
    unit: &gimli::Unit<Reader>,
    offset: gimli::UnitOffset,
    resolve: &dyn Fn(&str) -> Option<u64>,
) -> Option<Target> {
    let die = unit.entry(offset).ok()?;
    if let Some(entry) = subprogram_entry(dwarf, unit, &die) {
        return Some(Target::Entry(entry));
    }
    let mut name = None;
    for attr in [gimli::DW_AT_linkage_name, gimli::DW_AT_name] {
        if let Ok(Some(v)) = die.attr_value(attr) {
            if let Ok(n) = dwarf.attr_string(unit, v) {
                let n = n.to_string_lossy().into_owned();
                if let Some(addr) = resolve(&n) {
                    return Some(Target::Entry(addr));
                }
                name.get_or_insert(n);
            }
        }
    }
    name.map(Target::Name)
}
