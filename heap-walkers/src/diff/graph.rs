//! One core's reference graph grouped for the diff, and the holder of each changed
//! allocation along its anchor chain.

use std::collections::HashMap;

use core_reader::Target;

use crate::leaks::RootKind;
use crate::refs::{Anchors, References, Via};
use crate::types::{TypeKind, Types};
use crate::HeldHeap;

use super::{Grouping, HolderKind, Side, Tally};

/// A group's identity across both cores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Class(String, TypeKind),
    Unknown(u64),
    Size(u64),
    Site(String),
}

/// The group of allocations no allocation site was recorded for.
pub(super) const NOT_SAMPLED: &str = "(not sampled)";

/// A holder's identity across both cores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct HolderKey {
    pub(super) name: String,
    pub(super) kind: HolderKind,
}

/// No holder (yet): the block's group did not change.
pub(super) const NONE: u32 = u32::MAX;

/// The holder of allocations no root reaches.
const UNREACHED: &str = "nothing (unreachable)";

/// One core's graph: its blocks, their types, and each block's group. The anchors are
/// walked when the holders are asked for, one walk at a time.
pub(super) struct Graph<'a> {
    target: &'a dyn Target,
    heap: &'a HeldHeap,
    pub(super) refs: References,
    types: Types,
    pub(super) group: Vec<u32>,
}

/// Groups and holders, numbered for both cores.
pub(super) struct Interner<K> {
    ids: HashMap<K, u32>,
    pub(super) keys: Vec<K>,
}

impl<K: Clone + Eq + std::hash::Hash> Interner<K> {
    pub(super) fn new() -> Interner<K> {
        Interner {
            ids: HashMap::new(),
            keys: Vec::new(),
        }
    }

    pub(super) fn id(&mut self, key: K) -> u32 {
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
    /// The graph of `side`, taking its blocks.
    pub(super) fn build(
        side: &mut Side<'a>,
        by: Grouping,
        groups: &mut Interner<Key>,
    ) -> Graph<'a> {
        let refs = References::new(std::mem::take(&mut side.blocks));
        let types = Types::infer_in(side.target, refs.blocks(), refs.directory());
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
                (Grouping::Site, _) => {
                    let site = side.heap.sites.as_ref().and_then(|s| s.site_of(b.address));
                    let name = site.map_or_else(|| NOT_SAMPLED.to_string(), |s| s.describe());
                    groups.id(Key::Site(name))
                }
            })
            .collect();
        Graph {
            target: side.target,
            heap: side.heap,
            refs,
            types,
            group,
        }
    }

    pub(super) fn tallies(&self, n: usize) -> Vec<Tally> {
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
    pub(super) fn holders(
        &self,
        changed: &[bool],
        holders: &mut Interner<HolderKey>,
        examples: &mut HashMap<u32, u64>,
    ) -> Vec<u32> {
        let mut roots = HashMap::new();
        let all = |_: usize| true;
        let strict = Anchors::build(self.target, &self.refs, &self.heap.roots, false);
        let mut memo = self.resolve(&strict, changed, all, holders, examples, &mut roots);
        // Freed before the other walk is made: 4 bytes an allocation each.
        drop(strict);
        let unreached = holders.id(HolderKey {
            name: UNREACHED.into(),
            kind: HolderKind::Unreached,
        });
        if memo.contains(&unreached) {
            let loose = Anchors::build(self.target, &self.refs, &self.heap.roots, true);
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
                    Via::Block { from } if changed[self.group[from as usize] as usize] => {
                        at = from as usize;
                        continue;
                    }
                    Via::Block { from } => {
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
        let target = self.target;
        match kind {
            RootKind::Stack => {
                let slot = target.stack_frame(address);
                let function = slot.as_ref().and_then(|s| s.function.as_deref());
                let variable = slot.as_ref().and_then(|s| s.variable.as_deref());
                let name = match (function, variable) {
                    (Some(f), Some(v)) => format!("stack of {f} (variable {v})"),
                    (Some(f), None) => format!("stack of {f}"),
                    _ => "stack of a thread".to_string(),
                };
                HolderKey {
                    name,
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
