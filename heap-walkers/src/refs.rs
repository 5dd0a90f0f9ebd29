//! Who points to what: the references between allocations, and the anchors that keep each
//! allocation alive.
//!
//! - [`References`] is built in one pass over every allocation the program holds: each
//!   aligned word that points into another held allocation is an edge. Edges are kept in
//!   compressed sparse rows both ways (outgoing sorted by source, incoming by target), 8 bytes
//!   an edge and a direction, never as per-allocation vectors or hash maps.
//! - [`Anchors`] is a breadth-first walk from the roots (registers, stacks, static data; see
//!   [`crate::leaks::Roots`]) along those edges: for every allocation reached, the root or
//!   allocation it was first reached from, so the chain back to a root is a shortest one. An
//!   allocation it does not reach is what [`crate::leaks`] calls lost.

use core_reader::Memory;

use crate::leaks::{RootKind, Roots};
use crate::scan::{merge_ranges, scan, scan_allocation, subtract, Block, BlockIndex, Cursor};

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

/// Every reference between held allocations, both ways.
pub struct References {
    index: BlockIndex,
    out_start: Vec<usize>,
    out: Vec<Edge>,
    in_start: Vec<usize>,
    incoming: Vec<Edge>,
}

/// Allocations larger than this have pointers past it left out of the graph (an offset is
/// kept in 32 bits); such buffers hold data, not object graphs.
const MAX_SCANNED: u64 = u32::MAX as u64;

impl References {
    /// Scans every block in `blocks` for pointers into the others.
    pub fn build(memory: &dyn Memory, blocks: Vec<Block>) -> References {
        let index = BlockIndex::new(blocks);
        let n = index.blocks.len();
        let memory = Cursor::new(memory);
        let mut out_start = Vec::with_capacity(n + 1);
        // (source, edge) pairs are produced in source order: the outgoing rows directly.
        let mut out: Vec<Edge> = Vec::new();
        // Per target, its incoming count; then (below) where its row ends, then starts.
        let mut in_start = vec![0usize; n + 1];
        for b in &index.blocks {
            out_start.push(out.len());
            let end = b.address.saturating_add(b.size.min(MAX_SCANNED));
            scan_allocation(&memory, b.address, end, |at, w| {
                if let Some((j, exact)) = index.find(w) {
                    out.push(Edge {
                        other: j as u32,
                        offset: (at - b.address) as u32,
                        exact,
                    });
                    in_start[j] += 1;
                }
            });
        }
        out_start.push(out.len());
        // Incoming rows by counting sort on the target, in place: the counts become where
        // each row ends, and filling each row from its end, sources taken last first, leaves
        // them where it starts (no second table of n entries).
        let mut total = 0;
        for c in in_start.iter_mut() {
            total += *c;
            *c = total;
        }
        let mut incoming = vec![
            Edge {
                other: 0,
                offset: 0,
                exact: false
            };
            total
        ];
        for source in (0..n).rev() {
            for e in out[out_start[source]..out_start[source + 1]].iter().rev() {
                let t = e.other as usize;
                in_start[t] -= 1;
                incoming[in_start[t]] = Edge {
                    other: source as u32,
                    ..*e
                };
            }
        }
        References {
            index,
            out_start,
            out,
            in_start,
            incoming,
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

    /// The pointers allocation `i` holds to others (`other` is the target).
    pub fn outgoing(&self, i: usize) -> &[Edge] {
        match (self.out_start.get(i), self.out_start.get(i + 1)) {
            (Some(&s), Some(&e)) => &self.out[s..e],
            _ => &[],
        }
    }

    /// The pointers other allocations hold to allocation `i` (`other` is the holder).
    pub fn incoming(&self, i: usize) -> &[Edge] {
        match (self.in_start.get(i), self.in_start.get(i + 1)) {
            (Some(&s), Some(&e)) => &self.incoming[s..e],
            _ => &[],
        }
    }

    /// How many references there are.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
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
    /// Another allocation held its address.
    Block {
        /// The holder (an index into [`References::blocks`]).
        from: u32,
        /// Where the pointer is inside the holder.
        offset: u32,
    },
}

/// For every allocation, how it was first reached from the roots (breadth-first).
pub struct Anchors {
    via: Vec<Via>,
    /// Root bytes scanned.
    pub root_bytes_scanned: u64,
    /// Root bytes the process image lacks.
    pub root_bytes_unreadable: u64,
}

impl Anchors {
    /// Walks from `roots` along `refs`. With `interior`, a pointer into an allocation's
    /// middle reaches it too (valgrind's "possibly"); without, only pointers to its start
    /// do (valgrind's "still reachable").
    pub fn build(memory: &dyn Memory, refs: &References, roots: &Roots, interior: bool) -> Anchors {
        let n = refs.blocks().len();
        let mut via = vec![Via::Unreached; n];
        // Block indices are u32 (as in [`Edge`]): half the queue's bytes.
        let mut queue: std::collections::VecDeque<u32> = std::collections::VecDeque::new();
        let reach =
            |via: &mut [Via], queue: &mut std::collections::VecDeque<u32>, w: u64, how: Via| {
                if let Some((i, exact)) = refs.index.find(w) {
                    if (exact || interior) && via[i] == Via::Unreached {
                        via[i] = how;
                        queue.push_back(i as u32);
                    }
                }
            };
        for &value in &roots.registers {
            reach(&mut via, &mut queue, value, Via::Register { value });
        }
        for &o in &roots.owned {
            if let Some((i, _)) = refs.index.find(o) {
                if via[i] == Via::Unreached {
                    via[i] = Via::Register { value: o };
                    queue.push_back(i as u32);
                }
            }
        }
        let excluded = merge_ranges(roots.excluded.clone());
        let memory = Cursor::new(memory);
        let (mut scanned, mut unreadable) = (0, 0);
        for range in &roots.ranges {
            for (s, e) in subtract(range.start, range.end, &excluded) {
                let (a, b) = scan(&memory, s, e, |at, w| {
                    reach(
                        &mut via,
                        &mut queue,
                        w,
                        Via::Root {
                            address: at,
                            kind: range.kind,
                        },
                    )
                });
                scanned += a;
                unreadable += b;
            }
        }
        while let Some(i) = queue.pop_front() {
            for e in refs.outgoing(i as usize) {
                let t = e.other as usize;
                if (e.exact || interior) && via[t] == Via::Unreached {
                    via[t] = Via::Block {
                        from: i,
                        offset: e.offset,
                    };
                    queue.push_back(e.other);
                }
            }
        }
        Anchors {
            via,
            root_bytes_scanned: scanned,
            root_bytes_unreadable: unreadable,
        }
    }

    /// How allocation `i` was first reached.
    pub fn via(&self, i: usize) -> Via {
        self.via.get(i).copied().unwrap_or(Via::Unreached)
    }

    /// The chain from a root to allocation `i`: the root's [`Via`] first, then each
    /// allocation on the way with the offset of the pointer it holds, ending at `i`. Empty
    /// when `i` is not reached.
    pub fn chain(&self, i: usize) -> Vec<(usize, Via)> {
        let mut chain = Vec::new();
        let mut at = i;
        // A breadth-first tree has no cycles; the bound only guards against a bug.
        for _ in 0..=self.via.len() {
            let v = self.via(at);
            chain.push((at, v));
            match v {
                Via::Block { from, .. } => at = from as usize,
                Via::Unreached => return Vec::new(),
                _ => break,
            }
        }
        chain.reverse();
        chain
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
        let refs = References::build(&m, blocks);
        assert_eq!(refs.len(), 4);
        let out: Vec<_> = refs.outgoing(0).to_vec();
        assert_eq!(
            out,
            vec![Edge {
                other: 1,
                offset: 8,
                exact: true
            }]
        );
        assert_eq!(
            refs.outgoing(1),
            &[Edge {
                other: 2,
                offset: 0,
                exact: false
            }]
        );
        let into_a: Vec<_> = refs
            .incoming(0)
            .iter()
            .map(|e| (e.other, e.offset))
            .collect();
        assert_eq!(into_a, vec![(3, 0), (3, 8)]);
        assert!(refs.incoming(3).is_empty());
        assert_eq!(refs.block_at(0x1047), Some(2));
    }

    #[test]
    fn shortest_chain_from_the_root() {
        let (m, blocks) = image();
        let refs = References::build(&m, blocks);
        let strict = Anchors::build(&m, &refs, &roots(), false);
        let chain = strict.chain(1);
        assert_eq!(
            chain,
            vec![
                (
                    0,
                    Via::Root {
                        address: 0x9008,
                        kind: RootKind::Static
                    }
                ),
                (1, Via::Block { from: 0, offset: 8 }),
            ]
        );
        // C is reached only through a pointer into its middle; D by nothing.
        assert!(strict.chain(2).is_empty());
        assert!(strict.chain(3).is_empty());
        let loose = Anchors::build(&m, &refs, &roots(), true);
        assert_eq!(loose.chain(2).len(), 3);
        assert!(loose.chain(3).is_empty());
        assert_eq!(strict.root_bytes_scanned, 16);
    }
}
