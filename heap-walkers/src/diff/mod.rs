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

mod render;

pub use render::{signed_bytes, signed_count};

use std::collections::HashMap;

use core_reader::{hex, Diagnostic, Target};
use serde::Serialize;

use crate::leaks::RootKind;
use crate::refs::{Anchors, References, Via};
use crate::types::{TypeKind, Types};
use crate::{Allocator, Arena, ArenaFigures, Finding, HeldHeap, Holdings, Severity};

/// How allocations are grouped into rows. `--by site` (allocation sites of jemalloc
/// `prof:true` cores) is not here yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Grouping {
    /// C++ classes by vtable; unrecognized allocations by usable size.
    Type,
    /// Usable size (the allocator's size class).
    Size,
}

/// One core as the diff takes it.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// How the output names it (the path given on the command line).
    pub label: &'a str,
    /// The process.
    pub target: &'a dyn Target,
    /// Its heap, walked with every allocation listed.
    pub heap: &'a HeldHeap,
}

/// Which program a core is of, and what its heap is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    /// The label given (the core's path).
    pub label: String,
    /// The main executable's path as the process had it.
    pub executable: Option<String>,
    /// Its build-id (hex).
    pub build_id: Option<String>,
    /// The allocator walked.
    pub allocator: Allocator,
    /// Its version, when known.
    pub version: Option<String>,
    /// What the walk could not read or trust.
    pub problems: Vec<Diagnostic>,
}

/// Whether the two cores are of one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramMatch {
    /// The main executables have the same build-id.
    Same,
    /// The same executable name, different build-ids: another build of the program.
    OtherBuild,
    /// Different executables.
    OtherProgram,
    /// No build-id on one side or both; the executables have the same name.
    Unverified,
}

/// Counts and bytes of one group (or holder) in both cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Allocations in OLD.
    pub old_count: u64,
    /// Allocations in NEW.
    pub new_count: u64,
    /// `new_count - old_count`.
    pub count_delta: i64,
    /// Their usable bytes in OLD.
    pub old_bytes: u64,
    /// In NEW.
    pub new_bytes: u64,
    /// `new_bytes - old_bytes`.
    pub bytes_delta: i64,
}

impl Change {
    fn of(old: Tally, new: Tally) -> Change {
        Change {
            old_count: old.count,
            new_count: new.count,
            count_delta: delta(old.count, new.count),
            old_bytes: old.bytes,
            new_bytes: new.bytes,
            bytes_delta: delta(old.bytes, new.bytes),
        }
    }

    fn is_change(&self) -> bool {
        self.count_delta != 0 || self.bytes_delta != 0
    }
}

/// `new - old` as a signed number, saturating.
fn delta(old: u64, new: u64) -> i64 {
    if new >= old {
        i64::try_from(new - old).unwrap_or(i64::MAX)
    } else {
        i64::try_from(old - new).map_or(i64::MIN, |d| -d)
    }
}

/// One group of allocations in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The type's name (`unknown (N bytes)` for unrecognized allocations), or `N bytes`.
    pub key: String,
    /// With [`Grouping::Type`]: how the type was recognized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<TypeKind>,
    /// The usable size, for a group of one size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The counts and bytes.
    #[serde(flatten)]
    pub change: Change,
    /// An allocation of the group in NEW that OLD does not hold (any one when all are at
    /// addresses OLD holds too): for `heapmortem explain NEW ADDRESS`.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub example: Option<u64>,
    /// Through what the group's allocations are held, most growth first (changed rows
    /// only; at most [`MAX_HOLDERS`]).
    pub holders: Vec<HolderRow>,
    /// How many holders there are in all.
    pub holders_count: usize,
}

/// Holders listed per row at most.
pub const MAX_HOLDERS: usize = 8;

/// What a holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    /// A global or static variable (`module!symbol`).
    Static,
    /// A thread's stack frame.
    Stack,
    /// A thread's register.
    Register,
    /// Thread-local storage.
    Tls,
    /// Other root memory (an anonymous mapping).
    Other,
    /// An allocation the same in both cores (its group did not change).
    Allocation,
    /// Nothing: no root reaches the allocations (leaked).
    Unreached,
}

/// The allocations of one row held through one holder, in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderRow {
    /// The holder, without addresses: `objects!g_sessions`, `stack of main`, a type name.
    pub holder: String,
    /// What it is.
    pub kind: HolderKind,
    /// The counts and bytes of the row's allocations held through it.
    #[serde(flatten)]
    pub change: Change,
    /// In NEW: the root word's address, or the holding allocation's start.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub example: Option<u64>,
}

/// One arena's figures in both cores (matched by index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArenaChange {
    /// The arena's index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// In OLD (`null` when OLD has no such arena).
    pub old: Option<Figures>,
    /// In NEW.
    pub new: Option<Figures>,
    /// NEW less OLD (an absent side counts as zeros).
    pub delta: FiguresDelta,
}

/// The figures of an arena (or of all) that `diff` compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// From the system.
    pub system_bytes: u64,
    /// In use (by the allocator's account; glibc: chunk bytes with headers).
    pub in_use_bytes: u64,
    /// Free in the arena.
    pub free_bytes: u64,
    /// Of those, what could go back to the system now.
    pub trimmable_bytes: u64,
    /// Free but not returnable: trapped between allocations in use (`free_bytes` less
    /// `trimmable_bytes`).
    pub fragmented_bytes: u64,
    /// Dirty pages (jemalloc), absent for allocators without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_bytes: Option<u64>,
    /// Muzzy pages (jemalloc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muzzy_bytes: Option<u64>,
    /// Retained address space (jemalloc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<u64>,
}

/// [`Figures`] NEW less OLD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FiguresDelta {
    /// From the system.
    pub system_bytes: i64,
    /// In use.
    pub in_use_bytes: i64,
    /// Free.
    pub free_bytes: i64,
    /// Trimmable.
    pub trimmable_bytes: i64,
    /// Fragmented.
    pub fragmented_bytes: i64,
    /// Dirty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_bytes: Option<i64>,
    /// Muzzy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muzzy_bytes: Option<i64>,
    /// Retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<i64>,
}

impl Figures {
    fn of(a: &Arena<Holdings>) -> Figures {
        let f: &ArenaFigures = &a.figures;
        Figures {
            system_bytes: f.system_bytes,
            in_use_bytes: f.in_use_bytes,
            free_bytes: f.free_bytes,
            trimmable_bytes: f.trimmable_bytes,
            fragmented_bytes: f.free_bytes.saturating_sub(f.trimmable_bytes),
            dirty_bytes: a.detail.dirty_bytes,
            muzzy_bytes: a.detail.muzzy_bytes,
            retained_bytes: a.detail.retained_bytes,
        }
    }

    fn add(&mut self, o: &Figures) {
        let opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        self.system_bytes = self.system_bytes.saturating_add(o.system_bytes);
        self.in_use_bytes = self.in_use_bytes.saturating_add(o.in_use_bytes);
        self.free_bytes = self.free_bytes.saturating_add(o.free_bytes);
        self.trimmable_bytes = self.trimmable_bytes.saturating_add(o.trimmable_bytes);
        self.fragmented_bytes = self.fragmented_bytes.saturating_add(o.fragmented_bytes);
        self.dirty_bytes = opt(self.dirty_bytes, o.dirty_bytes);
        self.muzzy_bytes = opt(self.muzzy_bytes, o.muzzy_bytes);
        self.retained_bytes = opt(self.retained_bytes, o.retained_bytes);
    }

    fn delta(old: Option<&Figures>, new: Option<&Figures>) -> FiguresDelta {
        let zero = Figures::default();
        let (o, n) = (old.unwrap_or(&zero), new.unwrap_or(&zero));
        let opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(delta(a.unwrap_or(0), b.unwrap_or(0))),
        };
        FiguresDelta {
            system_bytes: delta(o.system_bytes, n.system_bytes),
            in_use_bytes: delta(o.in_use_bytes, n.in_use_bytes),
            free_bytes: delta(o.free_bytes, n.free_bytes),
            trimmable_bytes: delta(o.trimmable_bytes, n.trimmable_bytes),
            fragmented_bytes: delta(o.fragmented_bytes, n.fragmented_bytes),
            dirty_bytes: opt(o.dirty_bytes, n.dirty_bytes),
            muzzy_bytes: opt(o.muzzy_bytes, n.muzzy_bytes),
            retained_bytes: opt(o.retained_bytes, n.retained_bytes),
        }
    }
}

/// The allocator's holdings, all arenas, in both cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllocatorChange {
    /// All arenas of OLD.
    pub old: Figures,
    /// All arenas of NEW.
    pub new: Figures,
    /// NEW less OLD.
    pub delta: FiguresDelta,
    /// Arena by arena.
    pub arenas: Vec<ArenaChange>,
}

/// The answer of `heapmortem diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// How the rows group allocations.
    pub by: Grouping,
    /// The older core.
    pub old: Program,
    /// The newer core.
    pub new: Program,
    /// Whether they are of one program.
    pub program_match: ProgramMatch,
    /// Every group in either core, largest growth (bytes, then count) first.
    pub rows: Vec<Row>,
    /// Every allocation the programs hold.
    pub totals: Change,
    /// The allocator's own holdings (`null` when the cores used different allocators).
    pub allocator: Option<AllocatorChange>,
    /// What the comparison concludes.
    pub findings: Vec<Finding>,
}

/// A count and its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// A group's identity across both cores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Class(String, TypeKind),
    Unknown(u64),
    Size(u64),
}

/// A holder's identity across both cores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HolderKey {
    name: String,
    kind: HolderKind,
}

/// No holder (yet): the block's group did not change.
const NONE: u32 = u32::MAX;

/// The holder of allocations no root reaches.
const UNREACHED: &str = "nothing (unreachable)";

/// One core's graph: references, types, anchors, and each block's group.
struct Graph<'a> {
    side: Side<'a>,
    refs: References,
    types: Types,
    anchors: Anchors,
    group: Vec<u32>,
}

/// Groups and holders, numbered for both cores.
struct Interner<K> {
    ids: HashMap<K, u32>,
    keys: Vec<K>,
}

impl<K: Clone + Eq + std::hash::Hash> Interner<K> {
    fn new() -> Interner<K> {
        Interner {
            ids: HashMap::new(),
            keys: Vec::new(),
        }
    }

    fn id(&mut self, key: K) -> u32 {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        self.keys.push(key.clone());
        let id = (self.keys.len() - 1) as u32;
        self.ids.insert(key, id);
        id
    }
}

impl<'a> Graph<'a> {
    fn build(side: Side<'a>, by: Grouping, groups: &mut Interner<Key>) -> Graph<'a> {
        let refs = References::build(side.target, side.heap.blocks());
        let types = Types::infer(side.target, refs.blocks());
        let anchors = Anchors::build(side.target, &refs, &side.heap.roots, false);
        // Type names are looked up once per type, not once per block.
        let mut class_group: HashMap<u32, u32> = HashMap::new();
        let group = refs
            .blocks()
            .iter()
            .enumerate()
            .map(|(i, b)| match (by, types.index_of(i)) {
                (Grouping::Size, _) => groups.id(Key::Size(b.size)),
                (Grouping::Type, Some(t)) => *class_group.entry(t).or_insert_with(|| {
                    let name = types.name(t).map_or_else(String::new, |n| n.name.clone());
                    let kind = types.name(t).map_or(TypeKind::Unknown, |n| n.kind);
                    groups.id(Key::Class(name, kind))
                }),
                (Grouping::Type, None) => groups.id(Key::Unknown(b.size)),
            })
            .collect();
        Graph {
            side,
            refs,
            types,
            anchors,
            group,
        }
    }

    fn tallies(&self, n: usize) -> Vec<Tally> {
        let mut t = vec![Tally::default(); n];
        for (b, &g) in self.refs.blocks().iter().zip(&self.group) {
            t[g as usize].add(b.size);
        }
        t
    }

    /// The holder of every block whose group changed (`u32::MAX` for the others), and an
    /// example address per holder. A block no chain of pointers to starts reaches is held
    /// through its chain of pointers into the middle of allocations, if it has one (an
    /// object held through a base class at an offset, …), as `explain`'s "possibly
    /// anchored" chains.
    fn holders(
        &self,
        changed: &[bool],
        holders: &mut Interner<HolderKey>,
        examples: &mut HashMap<u32, u64>,
    ) -> Vec<u32> {
        let mut roots = HashMap::new();
        let all = |_: usize| true;
        let mut memo = self.resolve(&self.anchors, changed, all, holders, examples, &mut roots);
        let unreached = holders.id(HolderKey {
            name: UNREACHED.into(),
            kind: HolderKind::Unreached,
        });
        if memo.contains(&unreached) {
            let loose = Anchors::build(self.side.target, &self.refs, &self.side.heap.roots, true);
            let lost = |i: usize| memo[i] == unreached;
            let again = self.resolve(&loose, changed, lost, holders, examples, &mut roots);
            for (m, a) in memo.iter_mut().zip(again) {
                if *m == unreached && a != NONE {
                    *m = a;
                }
            }
        }
        memo
    }

    /// [`Graph::holders`] along the tree of `anchors`, for the blocks `wanted` picks.
    fn resolve(
        &self,
        anchors: &Anchors,
        changed: &[bool],
        wanted: impl Fn(usize) -> bool,
        holders: &mut Interner<HolderKey>,
        examples: &mut HashMap<u32, u64>,
        roots: &mut HashMap<u64, u32>,
    ) -> Vec<u32> {
        let n = self.refs.blocks().len();
        let mut memo = vec![NONE; n];
        let mut path = Vec::new();
        for i in 0..n {
            if !changed[self.group[i] as usize] || memo[i] != NONE || !wanted(i) {
                continue;
            }
            // Up the breadth-first tree (no cycles; bounded by its size all the same) past
            // links whose group changed, to the first that did not, or to the root.
            let mut at = i;
            let mut found = NONE;
            for _ in 0..=n {
                if memo[at] != NONE {
                    found = memo[at];
                    break;
                }
                path.push(at);
                let (id, example) = match anchors.via(at) {
                    Via::Block { from, .. } if changed[self.group[from as usize] as usize] => {
                        at = from as usize;
                        continue;
                    }
                    Via::Block { from, .. } => {
                        let b = self.refs.blocks()[from as usize];
                        let name = match self.types.of(from as usize) {
                            Some(t) => t.name.clone(),
                            None => format!("unknown ({} bytes)", b.size),
                        };
                        let key = HolderKey {
                            name,
                            kind: HolderKind::Allocation,
                        };
                        (holders.id(key), Some(b.address))
                    }
                    Via::Root { address, kind } => {
                        let id = *roots
                            .entry(address)
                            .or_insert_with(|| holders.id(self.root_holder(address, kind)));
                        (id, Some(address))
                    }
                    Via::Register { .. } => (
                        holders.id(HolderKey {
                            name: "a thread's registers".into(),
                            kind: HolderKind::Register,
                        }),
                        None,
                    ),
                    Via::Unreached => (
                        holders.id(HolderKey {
                            name: UNREACHED.into(),
                            kind: HolderKind::Unreached,
                        }),
                        None,
                    ),
                };
                if let Some(a) = example {
                    examples.entry(id).or_insert(a);
                }
                found = id;
                break;
            }
            for j in path.drain(..) {
                memo[j] = found;
            }
        }
        memo
    }

    /// A root word named without addresses, so that it matches across processes.
    fn root_holder(&self, address: u64, kind: RootKind) -> HolderKey {
        let target = self.side.target;
        match kind {
            RootKind::Stack => {
                let frame = target.stack_frame(address).and_then(|(_, f)| f);
                HolderKey {
                    name: format!("stack of {}", frame.as_deref().unwrap_or("a thread")),
                    kind: HolderKind::Stack,
                }
            }
            RootKind::Static => match target.data_symbol(address) {
                // `module!symbol+0x10` → `module!symbol`: a container's head and tail words
                // (a std::list's two ends) are one holder.
                Some(s) => HolderKey {
                    name: match s.rfind("+0x") {
                        Some(k) => s[..k].to_string(),
                        None => s,
                    },
                    kind: HolderKind::Static,
                },
                None if target.is_thread_local(address) => HolderKey {
                    name: "thread-local storage".into(),
                    kind: HolderKind::Tls,
                },
                None => HolderKey {
                    name: match target
                        .mappings()
                        .iter()
                        .find(|m| m.start <= address && address < m.end)
                        .and_then(|m| m.path.as_deref())
                    {
                        Some(p) => format!("data of {}", p.rsplit('/').next().unwrap_or(p)),
                        None => "anonymous memory".into(),
                    },
                    kind: HolderKind::Other,
                },
            },
        }
    }
}

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
pub fn diff(old: Side, new: Side, by: Grouping) -> Diff {
    let mut groups = Interner::new();
    let graphs = [
        Graph::build(old, by, &mut groups),
        Graph::build(new, by, &mut groups),
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
