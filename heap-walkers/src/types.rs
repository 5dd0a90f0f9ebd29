//! What each allocation is: C++ objects named by their vtable, and container parts named
//! by how they are linked ([`crate::patterns`]).
//!
//! On the Itanium C++ ABI (every Linux and FreeBSD compiler), an object of a class with
//! virtual functions starts with a pointer into its class's vtable, 16 bytes past the
//! vtable's start; the two words before that address are the offset to the top of the
//! object (0 for the complete object's primary vtable) and a pointer to the class's
//! `std::type_info`, whose second word points to the mangled type name (Itanium C++ ABI
//! §2.5.2 "Virtual Table Layout" and §2.9.5 "RTTI Layout"). So an allocation is an instance
//! of class `T` when its first word `v` is such that `[v-16]` is 0, `[v-8]` points to a
//! type_info, and that type_info's name is a mangled type — all read from the process, no
//! symbols needed. Programs built with `-fno-rtti` have no type_info: their objects stay
//! unknown.

use std::collections::HashMap;
use std::io::{self, Write};

use core_reader::Target;
use rayon::prelude::*;
use serde::Serialize;

use crate::model::Allocations;
use crate::patterns::{self, Pattern};
use crate::scan::{Bits, Block, Cursor, Directory};
use crate::Sites;

/// How a type was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    /// A C++ class with virtual functions, from its vtable.
    Vtable,
    /// A container's part, from how it is linked (chap's "patterns").
    Pattern,
    /// Not recognized.
    Unknown,
}

impl TypeKind {
    /// The name JSON gives it (`vtable`, `pattern`, `unknown`).
    pub fn name(self) -> &'static str {
        match self {
            TypeKind::Vtable => "vtable",
            TypeKind::Pattern => "pattern",
            TypeKind::Unknown => "unknown",
        }
    }
}

/// A type's name and how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TypeName {
    /// The demangled C++ name, or a pattern's name.
    pub name: String,
    /// How it was recognized.
    pub kind: TypeKind,
}

/// The type of every block, where one was recognized.
#[derive(Debug, Clone, Default)]
pub struct Types {
    names: Vec<TypeName>,
    /// The blocks whose types are kept.
    kept: Kept,
    /// Per block kept, at its [`Kept::slot`]: an index into `names`, if recognized.
    of_block: TypeIds,
}

/// Which blocks a [`Types`] keeps the type of: all, or those set in a bitmap, one bit a
/// block, with per 64 bits how many are kept before them (a kept block's place among them).
#[derive(Debug, Clone, Default)]
enum Kept {
    #[default]
    All,
    Some {
        bits: Bits,
        before: Vec<u32>,
    },
}

impl Kept {
    /// The blocks of `n` that `keep` names.
    fn of(n: usize, keep: impl Fn(usize) -> bool) -> Kept {
        let bits = Bits::where_true(n, keep);
        let mut count = 0u32;
        let before = bits
            .words()
            .iter()
            .map(|w| {
                let b = count;
                count += w.count_ones();
                b
            })
            .collect();
        Kept::Some { bits, before }
    }

    /// How many blocks before block `i` are kept.
    fn place(&self, i: usize) -> usize {
        match self {
            Kept::All => i,
            Kept::Some { bits, before } => match (bits.words().get(i / 64), before.get(i / 64)) {
                (Some(w), Some(&b)) => {
                    b as usize + (w & ((1u64 << (i % 64)) - 1)).count_ones() as usize
                }
                // Past the last block: all of them.
                _ => {
                    before.last().map_or(0, |&b| b as usize)
                        + bits.words().last().map_or(0, |w| w.count_ones() as usize)
                }
            },
        }
    }

    /// `table` (a place per block kept of `n`) cut in the places of each `chunk` blocks.
    fn places<'t>(&self, table: &'t mut [u16], n: usize, chunk: usize) -> Vec<&'t mut [u16]> {
        let mut rest = table;
        (0..n.div_ceil(chunk))
            .map(|k| {
                let (from, to) = (self.place(k * chunk), self.place(n.min((k + 1) * chunk)));
                let (places, after) = std::mem::take(&mut rest).split_at_mut(to - from);
                rest = after;
                places
            })
            .collect()
    }

    /// Whether block `i` is kept.
    #[inline]
    fn keeps(&self, i: usize) -> bool {
        match self {
            Kept::All => true,
            Kept::Some { bits, .. } => bits.get(i),
        }
    }

    /// Block `i`'s place in the table, if kept.
    #[inline]
    fn slot(&self, i: usize) -> Option<usize> {
        self.keeps(i).then(|| self.place(i))
    }
}

/// Per block: an index into a [`Types`]' names, or none: two bytes a block while the names
/// are fewer than [`TypeIds::NARROW`] (four bytes a block were a sixth of a leak check's
/// peak memory), four past that.
#[derive(Debug, Clone)]
enum TypeIds {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Default for TypeIds {
    fn default() -> TypeIds {
        TypeIds::Narrow(Vec::new())
    }
}

impl TypeIds {
    /// A narrow table's "none".
    const NARROW: u16 = u16::MAX;

    /// The index of block `i`'s type, if recognized.
    #[inline]
    fn get(&self, i: usize) -> Option<u32> {
        match self {
            TypeIds::Narrow(ids) => ids
                .get(i)
                .filter(|&&t| t != Self::NARROW)
                .map(|&t| t.into()),
            TypeIds::Wide(ids) => ids.get(i).copied().filter(|&t| t != Types::UNKNOWN),
        }
    }

    /// Gives block `i` the type at `id`, widening the table first if `id` does not fit.
    fn set(&mut self, i: usize, id: u32) {
        if let TypeIds::Narrow(ids) = self {
            match u16::try_from(id).ok().filter(|&t| t != Self::NARROW) {
                Some(t) => {
                    ids[i] = t;
                    return;
                }
                None => {
                    let wide = ids.iter().map(|&t| match t {
                        Self::NARROW => Types::UNKNOWN,
                        t => t.into(),
                    });
                    *self = TypeIds::Wide(wide.collect());
                }
            }
        }
        if let TypeIds::Wide(ids) = self {
            ids[i] = id;
        }
    }
}

/// The allocations of one type (or, unrecognized, of one size): `heap --by type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeRow {
    /// The type's name; `unknown (N bytes)` for unrecognized allocations of usable size N.
    pub name: String,
    /// How it was recognized.
    pub kind: TypeKind,
    /// Allocations.
    pub count: u64,
    /// Their usable bytes.
    pub bytes: u64,
    /// The lowest one's address.
    #[serde(serialize_with = "core_reader::hex::serialize")]
    pub example: u64,
}

/// The types of the allocations the program holds, found by address.
pub struct TypeIndex {
    blocks: Vec<Block>,
    types: Types,
}

impl TypeIndex {
    /// Recognizes the type of every allocation in use.
    pub fn infer(target: &dyn Target, allocations: &Allocations) -> TypeIndex {
        let blocks = crate::leaks::blocks(allocations);
        let types = Types::infer(target, &blocks);
        TypeIndex { blocks, types }
    }

    /// [`TypeIndex::infer`], taking the allocations: their table is freed as the blocks
    /// are made ([`crate::leaks::take_blocks`]), for a caller that needs the types only.
    pub fn infer_taking(target: &dyn Target, allocations: Allocations) -> TypeIndex {
        let blocks = crate::leaks::take_blocks(allocations);
        let types = Types::infer(target, &blocks);
        TypeIndex { blocks, types }
    }

    /// The type of the allocation in use that starts at `address`, if recognized.
    pub fn of(&self, address: u64) -> Option<&TypeName> {
        let i = self
            .blocks
            .binary_search_by_key(&address, |b| b.address)
            .ok()?;
        self.types.of(i)
    }

    /// The allocations counted by type, most bytes first.
    pub fn rows(&self) -> Vec<TypeRow> {
        by_type_of(&self.blocks, &self.types)
    }

    /// For each row of [`TypeIndex::rows`] (by name) with sampled allocations, the site
    /// (an index in [`Sites::sites`]) most of them were made at: where the report links a
    /// type to its call path.
    pub fn main_sites(&self, sites: &Sites) -> HashMap<String, usize> {
        let mut counts: HashMap<(String, usize), u64> = HashMap::new();
        for (i, b) in self.blocks.iter().enumerate() {
            if let Some(site) = sites.site_index(b.address) {
                *counts
                    .entry((row_key(&self.types, i, b).1, site))
                    .or_default() += 1;
            }
        }
        let mut best: HashMap<String, (u64, usize)> = HashMap::new();
        for ((name, site), n) in counts {
            let e = best.entry(name).or_insert((n, site));
            // Most allocations first, then the lower site index: one answer run to run.
            if (n, std::cmp::Reverse(site)) > (e.0, std::cmp::Reverse(e.1)) {
                *e = (n, site);
            }
        }
        best.into_iter().map(|(k, (_, site))| (k, site)).collect()
    }
}

/// The row block `i` (`b`) is counted in: its type, or unknown by usable size.
fn row_key(types: &Types, i: usize, b: &Block) -> (TypeKind, String) {
    match types.of(i) {
        Some(t) => (t.kind, t.name.clone()),
        None => (TypeKind::Unknown, unknown_name(b.size)),
    }
}

/// The row of unrecognized allocations of usable size `size`.
fn unknown_name(size: u64) -> String {
    format!("unknown ({size} bytes)")
}

/// The allocations the program holds, counted by type, most bytes first.
pub fn by_type(target: &dyn Target, allocations: &Allocations) -> Vec<TypeRow> {
    TypeIndex::infer(target, allocations).rows()
}

fn by_type_of(blocks: &[Block], types: &Types) -> Vec<TypeRow> {
    /// How many blocks of a row, their bytes, the lowest one's address.
    #[derive(Clone, Copy)]
    struct Tally {
        count: u64,
        bytes: u64,
        example: u64,
    }
    /// Adds `more` to the row's tally, its first where it has none.
    fn add(tally: &mut Option<Tally>, more: Tally) {
        match tally {
            Some(t) => {
                t.count += more.count;
                t.bytes = t.bytes.saturating_add(more.bytes);
                t.example = t.example.min(more.example);
            }
            None => *tally = Some(more),
        }
    }
    // Counted on the threads, a stretch of blocks each, by type index, or by size where
    // unknown (one name each: the rows of `row_key`), and named once a row.
    const CHUNK: usize = 1 << 16;
    type Tallies = (Vec<Option<Tally>>, HashMap<u64, Option<Tally>>);
    let none = || -> Tallies { (vec![None; types.names.len()], HashMap::new()) };
    let (typed, unknown) = blocks
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(k, chunk)| {
            let (mut typed, mut unknown) = none();
            for (j, b) in chunk.iter().enumerate() {
                let tally = match types.index_of(k * CHUNK + j) {
                    Some(t) => &mut typed[t as usize],
                    None => unknown.entry(b.size).or_default(),
                };
                let one = Tally {
                    count: 1,
                    bytes: b.size,
                    example: b.address,
                };
                add(tally, one);
            }
            (typed, unknown)
        })
        .reduce(
            none,
            |(mut typed, mut unknown), (more_typed, more_unknown)| {
                for (tally, more) in typed.iter_mut().zip(more_typed) {
                    if let Some(more) = more {
                        add(tally, more);
                    }
                }
                for (size, more) in more_unknown {
                    if let Some(more) = more {
                        add(unknown.entry(size).or_default(), more);
                    }
                }
                (typed, unknown)
            },
        );
    let row = |name: String, kind: TypeKind, t: Tally| TypeRow {
        name,
        kind,
        count: t.count,
        bytes: t.bytes,
        example: t.example,
    };
    let typed = typed
        .into_iter()
        .zip(&types.names)
        .filter_map(|(t, name)| t.map(|t| row(name.name.clone(), name.kind, t)));
    let unknown = unknown
        .into_iter()
        .filter_map(|(size, t)| Some(row(unknown_name(size), TypeKind::Unknown, t?)));
    let mut rows: Vec<TypeRow> = typed.chain(unknown).collect();
    rows.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

/// `heap --by type` as text: the `top` largest rows, then what the rest add up to.
pub fn write_types_text(w: &mut dyn Write, rows: &[TypeRow], top: usize) -> io::Result<()> {
    let total = rows.iter().fold(0u64, |t, r| t.saturating_add(r.bytes));
    let typed = rows.iter().filter(|r| r.kind != TypeKind::Unknown).count();
    writeln!(
        w,
        "\nin use by type ({typed} type{} recognized; {} in all):",
        if typed == 1 { "" } else { "s" },
        core_reader::human_bytes(total)
    )?;
    writeln!(
        w,
        "{:>10} {:>12} {:>6}  {:<18} type",
        "count", "bytes", "%", "example"
    )?;
    for r in rows.iter().take(top) {
        writeln!(
            w,
            "{:>10} {:>12} {:>5.1}%  {:<18} {}",
            r.count,
            r.bytes,
            if total == 0 {
                0.0
            } else {
                r.bytes as f64 * 100.0 / total as f64
            },
            format!("{:#x}", r.example),
            r.name
        )?;
    }
    if rows.len() > top {
        let rest = &rows[top..];
        writeln!(
            w,
            "{:>10} {:>12}          … {} more rows (--format json lists them all)",
            rest.iter().map(|r| r.count).sum::<u64>(),
            rest.iter().fold(0u64, |t, r| t.saturating_add(r.bytes)),
            rest.len()
        )?;
    }
    Ok(())
}

/// Longest mangled type name read.
const MAX_NAME: usize = 1024;

impl Types {
    const UNKNOWN: u32 = u32::MAX;

    /// Recognizes the type of each of `blocks` (sorted by address, as
    /// [`crate::refs::References::blocks`] keeps them).
    pub fn infer(target: &dyn Target, blocks: &[Block]) -> Types {
        Types::infer_in(target, blocks, &Directory::new(blocks))
    }

    /// [`Types::infer`] with the blocks' directory made already (the leak check's, the
    /// reference graph's): one directory in memory, not two.
    pub(crate) fn infer_in(target: &dyn Target, blocks: &[Block], directory: &Directory) -> Types {
        Types::infer_kept(target, blocks, directory, Kept::All)
    }

    /// [`Types::infer_in`] for the blocks `keep` names only, the leak check's leaked blocks
    /// (no word of the roots or of a block they reach points into them): only their vtables
    /// are read, and only their words for the containers owning them, a leak check's few
    /// kilobytes rather than the whole heap. On a whole core that names them as the whole
    /// pass does: a container claims the blocks its object points to the start of and
    /// those they point to the start of in turn (a list's or a tree's nodes, a deque's
    /// blocks), so a leaked part's container, and any container that could have claimed
    /// the part before it, lie in leaked memory too. Save for one case: the nodes of a
    /// leaked unordered map whose bucket array something reachable points to are named hash
    /// nodes here, where the whole pass names them only if no container in reachable memory
    /// claimed the bucket array first.
    pub(crate) fn infer_some(
        target: &dyn Target,
        blocks: &[Block],
        directory: &Directory,
        keep: impl Fn(usize) -> bool,
    ) -> Types {
        Types::infer_kept(target, blocks, directory, Kept::of(blocks.len(), keep))
    }

    fn infer_kept(
        target: &dyn Target,
        blocks: &[Block],
        directory: &Directory,
        kept: Kept,
    ) -> Types {
        // Blocks a thread names at a time: fewer than a narrow table counts, so that each
        // chunk's own numbering fits in it, and whole words of the typed blocks' [`Bits`].
        const CHUNK: usize = 1 << 15;
        let n = blocks.len();
        let mut of_block = vec![TypeIds::NARROW; kept.place(n)];
        // Each chunk of blocks numbers the classes it meets in the order it meets them; the
        // chunks' numbers are then made one numbering, chunk by chunk: the order one pass
        // over all the blocks would have met them in.
        let met: Vec<(Vec<String>, Vec<u64>)> = kept
            .places(&mut of_block, n, CHUNK)
            .into_par_iter()
            .zip(blocks.par_chunks(CHUNK))
            .enumerate()
            .map(|(k, (places, chunk))| {
                let at = |j: usize| kept.slot(k * CHUNK + j).map(|s| s - kept.place(k * CHUNK));
                name_vtables(target, blocks, directory, chunk, places, at)
            })
            .collect();
        let mut names: Vec<TypeName> = Vec::new();
        let mut by_name: HashMap<String, u32> = HashMap::new();
        let mut typed = Vec::with_capacity(n.div_ceil(64));
        let renumber: Vec<Vec<u32>> = met
            .into_iter()
            .map(|(met, bits)| {
                typed.extend(bits);
                met.into_iter()
                    .map(|name| {
                        *by_name.entry(name.clone()).or_insert_with(|| {
                            names.push(TypeName {
                                name,
                                kind: TypeKind::Vtable,
                            });
                            (names.len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        // Room for the patterns' names too in a narrow table, where they fit.
        let of_block = if names.len() + Pattern::ALL.len() < usize::from(TypeIds::NARROW) {
            kept.places(&mut of_block, n, CHUNK)
                .into_par_iter()
                .zip(renumber)
                .for_each(|(of_block, renumber)| {
                    for t in of_block.iter_mut().filter(|t| **t != TypeIds::NARROW) {
                        // Below NARROW: checked above.
                        *t = renumber[usize::from(*t)] as u16;
                    }
                });
            TypeIds::Narrow(of_block)
        } else {
            let wide = kept
                .places(&mut of_block, n, CHUNK)
                .into_par_iter()
                .zip(renumber)
                .flat_map_iter(|(of_block, renumber)| {
                    of_block.iter().map(move |&t| match t {
                        TypeIds::NARROW => Types::UNKNOWN,
                        t => renumber[usize::from(t)],
                    })
                })
                .collect::<Vec<u32>>();
            TypeIds::Wide(wide)
        };
        let mut types = Types {
            names,
            kept,
            of_block,
        };
        types.add_patterns(target, blocks, directory, Bits::from_words(typed));
        types
    }

    /// Names the container parts among the blocks no vtable named (`typed`).
    fn add_patterns(
        &mut self,
        target: &dyn Target,
        blocks: &[Block],
        directory: &Directory,
        mut typed: Bits,
    ) {
        // Each pattern's index among the names, once it has one.
        let mut ids = [None; Pattern::ALL.len()];
        let Types {
            names,
            kept,
            of_block,
        } = self;
        let only = |i: usize| kept.keeps(i);
        let only: Option<&dyn Fn(usize) -> bool> = match kept {
            Kept::All => None,
            Kept::Some { .. } => Some(&only),
        };
        patterns::recognize(
            target,
            blocks,
            directory,
            only,
            &mut typed,
            &mut |i, pattern| {
                let id = *ids[pattern.index()].get_or_insert_with(|| {
                    names.push(TypeName {
                        name: pattern.name().to_string(),
                        kind: TypeKind::Pattern,
                    });
                    (names.len() - 1) as u32
                });
                if let Some(s) = kept.slot(i) {
                    of_block.set(s, id);
                }
            },
        );
    }

    /// The type of block `i`, if recognized.
    pub fn of(&self, i: usize) -> Option<&TypeName> {
        self.name(self.index_of(i)?)
    }

    /// The index of block `i`'s type among [`Types::name`]'s, if recognized: a cheap key
    /// for grouping blocks by type.
    pub fn index_of(&self, i: usize) -> Option<u32> {
        self.of_block.get(self.kept.slot(i)?)
    }

    /// The type at `index` (from [`Types::index_of`]).
    pub fn name(&self, index: u32) -> Option<&TypeName> {
        self.names.get(index as usize)
    }

    /// How many blocks have a recognized type.
    pub fn recognized(&self) -> usize {
        match &self.of_block {
            TypeIds::Narrow(ids) => ids.iter().filter(|&&t| t != TypeIds::NARROW).count(),
            TypeIds::Wide(ids) => ids.iter().filter(|&&t| t != Types::UNKNOWN).count(),
        }
    }
}

/// Names the classes of `chunk` (some of `blocks`, which `directory` was made of) by their
/// vtables: sets the place `at(j)` of its block `j` in `places` to an index in the names
/// returned, each class once, in the order met, or leaves it [`TypeIds::NARROW`] (a block
/// with no place is not read); returns the names and the words of the chunk's typed blocks'
/// [`Bits`] (the chunk shorter than [`TypeIds::NARROW`], its start a multiple of 64).
fn name_vtables(
    target: &dyn Target,
    blocks: &[Block],
    directory: &Directory,
    chunk: &[Block],
    places: &mut [u16],
    at: impl Fn(usize) -> Option<usize>,
) -> (Vec<String>, Vec<u64>) {
    let mut names: Vec<String> = Vec::new();
    let mut bits = Bits::new(chunk.len());
    let mut by_name: HashMap<String, u16> = HashMap::new();
    let mut by_vtable: HashMap<u64, u16> = HashMap::new();
    let memory = Cursor::new(target);
    // Neighbours are often of one class: the last vtable's answer, without hashing.
    let mut last = (0, TypeIds::NARROW);
    for (j, b) in chunk.iter().enumerate() {
        let Some(place) = at(j) else {
            continue;
        };
        if b.size < 8 {
            continue;
        }
        let Some(v) = memory.u64(b.address) else {
            continue;
        };
        let t = if v == last.0 {
            last.1
        } else if v % 8 != 0 || v < 16 || directory.holding(blocks, v).is_some() {
            continue;
        } else {
            let t = *by_vtable
                .entry(v)
                .or_insert_with(|| match class_of_vtable(target, v) {
                    Some(name) => *by_name.entry(name.clone()).or_insert_with(|| {
                        names.push(name);
                        // Fewer names than the chunk's blocks.
                        (names.len() - 1) as u16
                    }),
                    None => TypeIds::NARROW,
                });
            last = (v, t);
            t
        };
        if t != TypeIds::NARROW {
            bits.set(j);
            places[place] = t;
        }
    }
    (names, bits.into_words())
}

/// The demangled class name for a vtable address point `v`, read through RTTI.
fn class_of_vtable(target: &dyn Target, v: u64) -> Option<String> {
    // Only file-backed, non-writable memory holds vtables (.data.rel.ro after RELRO, or
    // .rodata); anonymous or writable memory that happens to look right is data.
    // Called for every distinct first word that is not a heap pointer: a binary search.
    let mappings = target.mappings();
    let i = mappings
        .partition_point(|m| m.start <= v - 16)
        .checked_sub(1)?;
    let mapping = mappings
        .get(i)
        .filter(|m| v < m.end && !m.perms.contains('w'))?;
    // A core without NT_FILE names no mapping's file: a module's range says it too (looked
    // up only then: this runs for every distinct first word).
    let file_backed = mapping.path.is_some()
        || target
            .modules()
            .iter()
            .any(|m| m.start <= mapping.start && mapping.start < m.end);
    if !file_backed {
        return None;
    }
    let offset_to_top = target.read_u64(v - 16)?;
    if offset_to_top != 0 {
        return None;
    }
    let type_info = target.read_u64(v - 8)?;
    if type_info == 0 || type_info % 8 != 0 {
        return None;
    }
    // The type_info object's own vtable pointer must be set, then the name.
    target.read_u64(type_info).filter(|&w| w != 0)?;
    let name_ptr = target.read_u64(type_info + 8)?;
    let mangled = target.read_cstr(name_ptr, MAX_NAME)?;
    demangle_type(&mangled)
}

/// A mangled type name as C++ prints it (`N3app7SessionE` → `app::Session`).
fn demangle_type(mangled: &str) -> Option<String> {
    let first = mangled.chars().next()?;
    // A class type's mangling starts with its <source-name> length or a nested-name `N`
    // (or `St`/`S` substitutions for std:: names); anything else is not a class name.
    if !(first.is_ascii_digit() || first == 'N' || first == 'S')
        || !mangled.bytes().all(|c| c.is_ascii_graphic())
    {
        return None;
    }
    // `_ZTS<type>` is the symbol of a type_info's name: demangled, "typeinfo name for T".
    let symbol = cpp_demangle::Symbol::new(format!("_ZTS{mangled}")).ok()?;
    // Not `to_string()`: a name that parses can still fail to print (cpp_demangle 0.4.5 gives
    // up past its recursion limit), and `to_string()` panics on that; the name read from a
    // damaged core is then no class name.
    let text = symbol
        .demangle(&cpp_demangle::DemangleOptions::default())
        .ok()?;
    text.strip_prefix("typeinfo name for ").map(str::to_string)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use core_reader::MemoryImage;

    #[test]
    fn mangled_names_demangle_as_cpp_prints_them() {
        assert_eq!(demangle_type("7Session").as_deref(), Some("Session"));
        assert_eq!(
            demangle_type("N3app6server7SessionE").as_deref(),
            Some("app::server::Session")
        );
        assert_eq!(demangle_type("hello world"), None);
        assert_eq!(demangle_type(""), None);
    }

    /// The address point of class `Session`'s vtable in [`session_vtable`]'s image.
    pub(crate) const SESSION_VTABLE: u64 = 0x400010;

    /// Adds to `m` the vtable of a class `Session` in a read-only file mapping at 0x400000:
    /// offset-to-top, type_info pointer, then the address point ([`SESSION_VTABLE`]) with a
    /// virtual function pointer; type_info at 0x400100 with its name pointer; the name at
    /// 0x400200.
    pub(crate) fn session_vtable(m: &mut MemoryImage) {
        let mut ro = vec![0u8; 0x300];
        ro[8..16].copy_from_slice(&0x400100u64.to_le_bytes());
        ro[16..24].copy_from_slice(&0x401000u64.to_le_bytes());
        ro[0x100..0x108].copy_from_slice(&0x7777u64.to_le_bytes());
        ro[0x108..0x110].copy_from_slice(&0x400200u64.to_le_bytes());
        ro[0x200..0x20b].copy_from_slice(b"7Session\0\0\0");
        m.add(0x400000, ro);
        let ro = m.mappings.iter_mut().find(|r| r.start == 0x400000).unwrap();
        ro.perms = "r--".into();
        ro.path = Some("/usr/bin/app".into());
    }

    /// A vtable, a type_info and its name, and three heap blocks: an object of the class,
    /// one whose first word points into writable memory, and one holding a heap pointer.
    #[test]
    fn objects_are_named_by_their_vtable() {
        let mut m = MemoryImage::new();
        session_vtable(&mut m);
        let heap: Vec<u8> = [SESSION_VTABLE, 0, 0x600010, 0, 0x1000, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        m.add(0x1000, heap);
        m.add(0x600000, vec![0; 0x100]);
        let blocks: Vec<Block> = (0..3)
            .map(|i| Block {
                address: 0x1000 + 16 * i,
                size: 16,
            })
            .collect();
        let types = Types::infer(&m, &blocks);
        assert_eq!(
            types.of(0),
            Some(&TypeName {
                name: "Session".into(),
                kind: TypeKind::Vtable
            })
        );
        assert_eq!(types.of(1), None, "writable memory holds no vtable");
        assert_eq!(types.of(2), None, "a heap pointer is no vtable");
        assert_eq!(types.recognized(), 1);
    }
}
