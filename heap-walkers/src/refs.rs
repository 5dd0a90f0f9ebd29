//! Who points to what: the references between allocations, and the anchors that keep each
//! allocation alive.
//!
//! - [`References`] holds the allocations the program holds, sorted, and answers which one a
//!   word points into. The references themselves (every aligned word that points into a
//!   held allocation) are read from memory when asked, never stored: the pointers into one
//!   allocation ([`References::incoming`]) by one scan over all of them, on every core; the
//!   pointers one holds ([`References::outgoing`]) by reading it. Stored both ways, the
//!   edges of a C++ heap took 40 bytes an allocation, more than the allocations themselves.
//! - [`Anchors`] is a breadth-first walk from the roots (registers, stacks, static data; see
//!   [`crate::leaks::Roots`]) that reads each allocation's words as it reaches it, as the
//!   leak marking does: for every allocation reached, the allocation it was first reached
//!   from (4 bytes; the few a root reached name it in a side table), so the chain back to a
//!   root is a shortest one. An allocation it does not reach is what [`crate::leaks`] calls
//!   lost.

use std::collections::VecDeque;

use core_reader::{Memory, Target};
use rayon::prelude::*;

use crate::leaks::{RootKind, Roots};
use crate::scan::{
    merge_ranges, prefetch, scan, scan_allocation, subtract, Block, BlockIndex, Cursor,
};

/// One reference, seen from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The allocation at the other end (an index into [`References::blocks`]).
    pub other: u32,
    /// Where the pointer is: its offset inside the allocation that holds it.
    pub offset: u32,
    /// Whether it points at the start of its target (rather than into its middle).
    pub exact: bool,
}

/// The allocations the program holds, and the references between them, read on demand.
pub struct References {
    index: BlockIndex,
}

/// Allocations larger than this have pointers past it left out of the graph (an offset is
/// kept in 32 bits); such buffers hold data, not object graphs.
const MAX_SCANNED: u64 = u32::MAX as u64;

/// Allocations a thread reads at a time when looking for the pointers into one.
const CHUNK: usize = 1 << 14;

impl References {
    /// The graph over `blocks` (sorted by address here, one per address).
    pub fn new(blocks: Vec<Block>) -> References {
        References {
            index: BlockIndex::new(blocks),
        }
    }

    /// The allocations, by address.
    pub fn blocks(&self) -> &[Block] {
        &self.index.blocks
    }

    /// The blocks' directory (for [`crate::types::Types::infer_in`]).
    pub(crate) fn directory(&self) -> &crate::scan::Directory {
        &self.index.directory
    }

    /// The allocation holding `address`, if any.
    pub fn block_at(&self, address: u64) -> Option<usize> {
        self.index.find(address).map(|(i, _)| i)
    }

    /// Calls `f(target, offset, exact)` for every pointer allocation `i` holds into a held
    /// allocation, in the order of its words.
    fn each_outgoing(&self, memory: &Cursor, i: usize, mut f: impl FnMut(usize, u32, bool)) {
        let Some(&b) = self.index.blocks.get(i) else {
            return;
        };
        let end = b.address.saturating_add(b.size.min(MAX_SCANNED));
        scan_allocation(memory, b.address, end, |at, w| {
            if let Some((j, exact)) = self.index.find(w) {
                f(j, (at - b.address) as u32, exact);
            }
        });
    }

    /// The pointers allocation `i` holds to others (`other` is the target), in the order of
    /// its words.
    pub fn outgoing(&self, memory: &dyn Memory, i: usize) -> Vec<Edge> {
        let mut out = Vec::new();
        self.each_outgoing(&Cursor::new(memory), i, |j, offset, exact| {
            out.push(Edge {
                other: j as u32,
                offset,
                exact,
            })
        });
        out
    }

    /// How many pointers held allocations (`i` itself too) hold into allocation `i`, and the
    /// first `keep` of them (`other` is the holder), by holder then offset: one scan over
    /// every held allocation, on every core.
    pub fn incoming(&self, target: &dyn Target, i: usize, keep: usize) -> (usize, Vec<Edge>) {
        let Some(&b) = self.index.blocks.get(i) else {
            return (0, Vec::new());
        };
        let (lo, hi) = (b.address, b.address.saturating_add(b.size.max(1)));
        let parts: Vec<(usize, Vec<Edge>)> = self
            .index
            .blocks
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let memory = Cursor::new(target);
                let (mut count, mut first) = (0, Vec::new());
                for (k, h) in chunk.iter().enumerate() {
                    let end = h.address.saturating_add(h.size.min(MAX_SCANNED));
                    scan_allocation(&memory, h.address, end, |at, w| {
                        // Inside `i`'s bytes, and `i` is the allocation the index names
                        // (blocks overlap in a damaged heap: the later one is named).
                        if lo <= w && w < hi && self.index.find(w).map(|(j, _)| j) == Some(i) {
                            count += 1;
                            if first.len() < keep {
                                first.push(Edge {
                                    other: (c * CHUNK + k) as u32,
                                    offset: (at - h.address) as u32,
                                    exact: w == lo,
                                });
                            }
                        }
                    });
                }
                (count, first)
            })
            .collect();
        let mut count = 0;
        let mut first = Vec::new();
        for (n, edges) in parts {
            count += n;
            let room = keep.saturating_sub(first.len());
            first.extend(edges.into_iter().take(room));
        }
        (count, first)
    }
}

/// How an allocation was first reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Not reached from any root.
    Unreached,
    /// A thread's register held its address.
    Register {
        /// The value (the allocation's address or a pointer into it).
        value: u64,
    },
    /// A word of root memory held its address.
    Root {
        /// Where the word is.
        address: u64,
        /// What kind of root memory it is.
        kind: RootKind,
    },
    /// Another allocation held its address ([`Anchors::chain`] finds where).
    Block {
        /// The holder (an index into [`References::blocks`]).
        from: u32,
    },
}

/// Calls `f(i, exact, how)` for every root that points into allocation `i`, in the order
/// the anchors' walk takes them: registers, the allocations the allocator's own structures
/// own (always `exact`), then root memory, word by word; returns (bytes scanned, bytes
/// unreadable) of root memory.
fn each_root(
    memory: &Cursor,
    refs: &References,
    roots: &Roots,
    mut f: impl FnMut(usize, bool, Via),
) -> (u64, u64) {
    for &value in &roots.registers {
        if let Some((i, exact)) = refs.index.find(value) {
            f(i, exact, Via::Register { value });
        }
    }
    for &o in &roots.owned {
        if let Some((i, _)) = refs.index.find(o) {
            f(i, true, Via::Register { value: o });
        }
    }
    let excluded = merge_ranges(roots.excluded.clone());
    let (mut scanned, mut unreadable) = (0, 0);
    for range in &roots.ranges {
        for (s, e) in subtract(range.start, range.end, &excluded) {
            let (a, b) = scan(memory, s, e, |at, w| {
                if let Some((i, exact)) = refs.index.find(w) {
                    let how = Via::Root {
                        address: at,
                        kind: range.kind,
                    };
                    f(i, exact, how);
                }
            });
            scanned += a;
            unreadable += b;
        }
    }
    (scanned, unreadable)
}

/// One shortest chain of pointers from a root to an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The root that reached the first allocation ([`Via::Register`] or [`Via::Root`]).
    pub root: Via,
    /// Each allocation on the way (an index into [`References::blocks`]), with the offset of
    /// the pointer it holds to the next; the last, the allocation asked about, with none.
    pub links: Vec<(usize, Option<u32>)>,
}

/// For every allocation, how it was first reached from the roots (breadth-first).
pub struct Anchors {
    /// Per allocation: the allocation it was first reached from, or [`Anchors::ROOTED`], or
    /// [`Anchors::UNREACHED`].
    from: Vec<u32>,
    /// The allocations a root reached, by index, and the root.
    rooted: Vec<(u32, Via)>,
    /// Whether pointers into the middle of allocations reached them too.
    interior: bool,
    /// Root bytes scanned.
    pub root_bytes_scanned: u64,
    /// Root bytes the process image lacks.
    pub root_bytes_unreadable: u64,
}

impl Anchors {
    const UNREACHED: u32 = u32::MAX;
    const ROOTED: u32 = u32::MAX - 1;
    /// How far on in its queue the walk asks for the allocations to read.
    const AHEAD: usize = 8;

    /// Walks from `roots`, reading each allocation reached for the pointers it holds. With
    /// `interior`, a pointer into an allocation's middle reaches it too (valgrind's
    /// "possibly"); without, only pointers to its start do (valgrind's "still reachable").
    pub fn build(memory: &dyn Memory, refs: &References, roots: &Roots, interior: bool) -> Anchors {
        // Indices from ROOTED up are marks: allocations past them are not walked (four
        // billion allocations would not fit in memory anyway).
        let n = refs.blocks().len().min(Self::ROOTED as usize);
        let mut from = vec![Self::UNREACHED; n];
        let mut rooted = Vec::new();
        // Block indices are u32: half the queue's bytes.
        let mut queue: VecDeque<u32> = VecDeque::new();
        let memory = Cursor::new(memory);
        let (scanned, unreadable) = each_root(&memory, refs, roots, |i, exact, how| {
            if (exact || interior) && from.get(i) == Some(&Self::UNREACHED) {
                from[i] = Self::ROOTED;
                rooted.push((i as u32, how));
                queue.push_back(i as u32);
            }
        });
        while let Some(i) = queue.pop_front() {
            // Each allocation read is a wait on memory: the one a few places on in the queue
            // is asked for meanwhile.
            if let Some(&ahead) = queue.get(Self::AHEAD) {
                prefetch(memory.bytes_at(refs.blocks()[ahead as usize].address));
            }
            refs.each_outgoing(&memory, i as usize, |t, _, exact| {
                if (exact || interior) && from.get(t) == Some(&Self::UNREACHED) {
                    from[t] = i;
                    queue.push_back(t as u32);
                }
            });
        }
        rooted.sort_unstable_by_key(|&(i, _)| i);
        Anchors {
            from,
            rooted,
            interior,
            root_bytes_scanned: scanned,
            root_bytes_unreadable: unreadable,
        }
    }

    /// The root a walk reaches allocation `i` from, for an allocation no allocation points
    /// into (only a root can reach it then, and the walk takes the first root word that
    /// does): [`Anchors::build`]'s answer without the walk.
    pub fn root_of(
        memory: &dyn Memory,
        refs: &References,
        roots: &Roots,
        interior: bool,
        i: usize,
    ) -> Option<Via> {
        let mut first = None;
        if i < Self::ROOTED as usize {
            each_root(&Cursor::new(memory), refs, roots, |j, exact, how| {
                if j == i && (exact || interior) && first.is_none() {
                    first = Some(how);
                }
            });
        }
        first
    }

    /// Whether pointers into the middle of allocations reached them too.
    pub fn interior(&self) -> bool {
        self.interior
    }

    /// Whether a root reaches allocation `i`.
    pub fn reaches(&self, i: usize) -> bool {
        self.from.get(i).is_some_and(|&f| f != Self::UNREACHED)
    }

    /// How allocation `i` was first reached.
    pub fn via(&self, i: usize) -> Via {
        match self.from.get(i).copied() {
            None | Some(Self::UNREACHED) => Via::Unreached,
            Some(Self::ROOTED) => self
                .rooted
                .binary_search_by_key(&(i as u32), |&(j, _)| j)
                .map_or(Via::Unreached, |k| self.rooted[k].1),
            Some(from) => Via::Block { from },
        }
    }

    /// The chain from a root to allocation `i` (`None` when `i` is not reached), with the
    /// offset of each pointer on the way read again from `memory`: the first word of the
    /// holder pointing into the next allocation as the walk counted it, the one the walk
    /// was reached through.
    pub fn chain(&self, memory: &dyn Memory, refs: &References, i: usize) -> Option<Chain> {
        let mut path = vec![i];
        let mut at = i;
        // A breadth-first tree has no cycles; the bound only guards against a bug.
        let root = loop {
            match self.via(at) {
                Via::Block { from } if path.len() <= self.from.len() => {
                    at = from as usize;
                    path.push(at);
                }
                Via::Block { .. } | Via::Unreached => return None,
                root => break root,
            }
        };
        path.reverse();
        let memory = Cursor::new(memory);
        let links = path
            .iter()
            .enumerate()
            .map(|(k, &j)| {
                let next = path.get(k + 1)?;
                let mut offset = None;
                refs.each_outgoing(&memory, j, |t, o, exact| {
                    if offset.is_none() && t == *next && (exact || self.interior) {
                        offset = Some(o);
                    }
                });
                offset
            })
            .collect::<Vec<_>>();
        Some(Chain {
            root,
            links: path.into_iter().zip(links).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::RootRange;
    use core_reader::MemoryImage;

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A root at 0x9000 -> A -> B (at offset 8) -> C (interior pointer); D -> A, D lost.
    fn image() -> (MemoryImage, Vec<Block>) {
        let mut m = MemoryImage::new();
        m.add(
            0x1000,
            words(&[
                0, 0x1020, 0, 0, // A at 0x1000: -> B at offset 8
                0x1048, 0, 0, 0, // B at 0x1020: -> C + 8 at offset 0
                0, 0, 0, 0, // C at 0x1040
                0x1000, 0x1000, 0, 0, // D at 0x1060: -> A twice
            ]),
        );
        m.add(0x9000, words(&[7, 0x1000]));
        let blocks = (0..4)
            .map(|i| Block {
                address: 0x1000 + 0x20 * i,
                size: 0x20,
            })
            .collect();
        (m, blocks)
    }

    fn roots() -> Roots {
        Roots {
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9010,
                kind: RootKind::Static,
            }],
            ..Roots::default()
        }
    }

    #[test]
    fn edges_both_ways() {
        let (m, blocks) = image();
        let refs = References::new(blocks);
        assert_eq!(
            refs.outgoing(&m, 0),
            vec![Edge {
                other: 1,
                offset: 8,
                exact: true
            }]
        );
        assert_eq!(
            refs.outgoing(&m, 1),
            vec![Edge {
                other: 2,
                offset: 0,
                exact: false
            }]
        );
        let (count, into_a) = refs.incoming(&m, 0, 8);
        let into_a: Vec<_> = into_a.iter().map(|e| (e.other, e.offset)).collect();
        assert_eq!((count, into_a), (2, vec![(3, 0), (3, 8)]));
        // Counted all, listed the first.
        let (count, first) = refs.incoming(&m, 0, 1);
        assert_eq!((count, first.len(), first[0].offset), (2, 1, 0));
        assert!(!refs.incoming(&m, 2, 8).1[0].exact);
        assert_eq!(refs.incoming(&m, 3, 8), (0, Vec::new()));
        assert_eq!(refs.block_at(0x1047), Some(2));
    }

    #[test]
    fn shortest_chain_from_the_root() {
        let (m, blocks) = image();
        let refs = References::new(blocks);
        let strict = Anchors::build(&m, &refs, &roots(), false);
        assert_eq!(
            strict.chain(&m, &refs, 1),
            Some(Chain {
                root: Via::Root {
                    address: 0x9008,
                    kind: RootKind::Static
                },
                links: vec![(0, Some(8)), (1, None)],
            })
        );
        assert_eq!(strict.via(1), Via::Block { from: 0 });
        // C is reached only through a pointer into its middle; D by nothing.
        assert_eq!(strict.chain(&m, &refs, 2), None);
        assert_eq!(strict.chain(&m, &refs, 3), None);
        assert_eq!(strict.via(3), Via::Unreached);
        let loose = Anchors::build(&m, &refs, &roots(), true);
        let chain = loose
            .chain(&m, &refs, 2)
            .expect("reached through B's middle pointer");
        assert_eq!(chain.links, vec![(0, Some(8)), (1, Some(0)), (2, None)]);
        assert_eq!(loose.chain(&m, &refs, 3), None);
        assert_eq!(strict.root_bytes_scanned, 16);
    }

    /// The offset of a link is that of the first pointer the walk could take: a pointer
    /// into the middle comes first in A but reaches B only with `interior`.
    #[test]
    fn a_link_is_the_first_pointer_the_walk_could_take() {
        let mut m = MemoryImage::new();
        m.add(
            0x1000,
            words(&[
                0x1028, 0x1020, 0, 0, // A at 0x1000: into B's middle, then B's start
                0, 0, 0, 0, // B at 0x1020
            ]),
        );
        m.add(0x9000, words(&[0x1000]));
        let blocks = (0..2)
            .map(|i| Block {
                address: 0x1000 + 0x20 * i,
                size: 0x20,
            })
            .collect();
        let refs = References::new(blocks);
        let roots = Roots {
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9008,
                kind: RootKind::Static,
            }],
            registers: vec![0x1020],
            ..Roots::default()
        };
        let strict = Anchors::build(&m, &refs, &roots, false);
        let chain = strict.chain(&m, &refs, 1).expect("B by a register");
        assert_eq!(chain.root, Via::Register { value: 0x1020 });
        let no_register = Roots {
            registers: Vec::new(),
            ..roots
        };
        for (interior, offset) in [(false, 8), (true, 0)] {
            let anchors = Anchors::build(&m, &refs, &no_register, interior);
            let chain = anchors.chain(&m, &refs, 1).expect("B through A");
            assert_eq!(chain.links, vec![(0, Some(offset)), (1, None)]);
            // A, which no allocation points into: its root found without the walk.
            let root = Anchors::root_of(&m, &refs, &no_register, interior, 0);
            assert_eq!(root, Some(anchors.via(0)));
        }
    }
}
