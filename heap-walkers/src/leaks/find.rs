//! The reachability pass: mark from the roots, then split what is left into direct and
//! indirect leaks the way valgrind memcheck does (its "cliques").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use core_reader::{Memory, Target};

use super::model::{Leak, LeakGroup, LeakKind, LeakReport, Roots};
use crate::scan::{
    merge_ranges, prefetch, scan, scan_allocation, subtract, Block, BlockIndex, Cursor,
};
use crate::sites::Sites;
use crate::types::{TypeIndex, Types};

/// How many sample addresses a group keeps.
const SAMPLES: usize = 5;

/// Block states, ordered: a block only ever moves up (bounded work: each block is scanned
/// at most once per state it reaches).
const UNREACHED: u8 = 0;
const POSSIBLE: u8 = 1;
const REACHABLE: u8 = 2;
/// After marking: unreachable and pointed to by another unreachable block.
const INDIRECT: u8 = 3;

/// Finds the blocks no root reaches.
///
/// `blocks` are the allocations the program holds; `roots` the registers and memory it could
/// still read them through. A word equal to a block's address marks it reachable; a word
/// pointing into its middle marks it possibly lost, like valgrind memcheck. Reachable blocks
/// are scanned in turn (a worklist; each block at most twice). The rest are split as
/// valgrind splits them: walking from each unreached block in address order, every other
/// unreached block it leads to is indirect; those left are direct.
pub fn find_leaks(target: &dyn Target, blocks: Vec<Block>, roots: &Roots) -> LeakReport {
    find_leaks_with_sites(target, blocks, roots, None, None, false)
}

/// [`find_leaks`], with the leaks grouped by allocation site too where `sites` knows the
/// site of a block (jemalloc's `prof:true` records, [`crate::jemalloc::allocation_sites`]):
/// a group then holds blocks of one site only, says how many of its blocks were sampled, and
/// what they stand for at the sampling rate ([`Sites::estimate`]). `types`, when the
/// caller has inferred them already for the same allocations, saves inferring them again.
/// With `progress`, the marking shows its progress on a terminal when it takes more than a
/// second (a heap of a hundred million allocations takes minutes).
pub fn find_leaks_with_sites(
    target: &dyn Target,
    blocks: Vec<Block>,
    roots: &Roots,
    sites: Option<&Sites>,
    types: Option<&TypeIndex>,
    progress: bool,
) -> LeakReport {
    let memory: &dyn Memory = target;
    let index = BlockIndex::new(blocks);
    let mut report = LeakReport {
        notes: roots.notes.clone(),
        ..LeakReport::default()
    };
    let state = mark_and_split(target, &index, roots, &mut report, progress);
    // Only the leaked blocks' types are named (each pass on every core in turn: the types'
    // table has room for the leaked blocks only, where it would need two bytes a block
    // while the marking ran).
    let inferred = types.is_none().then(|| {
        let leaked = |i: usize| matches!(state.get(i), UNREACHED | INDIRECT);
        Types::infer_some(target, &index.blocks, &index.directory, leaked)
    });
    let type_of = |i: usize| match (types, &inferred) {
        (Some(t), _) => t.of(index.blocks[i].address),
        (None, Some(inferred)) => inferred.of(i),
        (None, None) => None,
    };
    report.sample_period = sites.map(|s| s.sample_period);
    if let Some(s) = sites {
        let unread = s.problems.iter();
        report
            .notes
            .extend(unread.map(|p| format!("allocation sites: {p}")));
    }
    type Key = (u64, String, Option<String>, Option<usize>);
    let mut groups: BTreeMap<Key, LeakGroup> = BTreeMap::new();
    for (i, b) in index.blocks.iter().enumerate() {
        let kind = match state.get(i) {
            REACHABLE => {
                report.reachable_count += 1;
                report.reachable_bytes = report.reachable_bytes.saturating_add(b.size);
                continue;
            }
            POSSIBLE => {
                report.possible_count += 1;
                report.possible_bytes = report.possible_bytes.saturating_add(b.size);
                report.possibly_lost.push(Leak {
                    address: b.address,
                    size: b.size,
                    kind: LeakKind::Possible,
                });
                continue;
            }
            INDIRECT => {
                report.indirect_count += 1;
                report.indirect_bytes = report.indirect_bytes.saturating_add(b.size);
                LeakKind::Indirect
            }
            _ => {
                report.direct_count += 1;
                report.direct_bytes = report.direct_bytes.saturating_add(b.size);
                LeakKind::Direct
            }
        };
        report.leaks.push(Leak {
            address: b.address,
            size: b.size,
            kind,
        });
        let mut head = [0u8; 16];
        let got = memory.read(b.address, &mut head[..b.size.min(16) as usize]);
        let shape: String = (0..2)
            .map(|k| {
                let word = &head[k * 8..k * 8 + 8];
                if got < k * 8 + 8 {
                    '-'
                } else {
                    let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                    if w == 0 {
                        '0'
                    } else if index.find(w).is_some() {
                        'p'
                    } else if word
                        .iter()
                        .all(|&c| c == 0 || c.is_ascii_graphic() || c == b' ')
                    {
                        't'
                    } else {
                        'x'
                    }
                }
            })
            .collect();
        let type_name = type_of(i).map(|t| t.name.clone());
        let site = sites.and_then(|s| s.site_index(b.address));
        // Objects of one class, or from one call path, group together whatever their
        // fields hold.
        let shape_key = if type_name.is_some() || site.is_some() {
            String::new()
        } else {
            shape.clone()
        };
        let g = groups
            .entry((b.size, shape_key, type_name.clone(), site))
            .or_insert_with(|| LeakGroup {
                count: 0,
                size: b.size,
                type_name,
                bytes: 0,
                direct: 0,
                indirect: 0,
                shape,
                samples: Vec::new(),
                preview_hex: head[..got].iter().map(|c| format!("{c:02x}")).collect(),
                preview_ascii: head[..got]
                    .iter()
                    .map(|&c| {
                        if c.is_ascii_graphic() || c == b' ' {
                            c as char
                        } else {
                            '.'
                        }
                    })
                    .collect(),
                site: site.and_then(|i| sites?.sites.get(i).cloned()),
                sampled: sites.map(|_| 0),
                estimated_count: None,
                estimated_bytes: None,
            });
        g.count += 1;
        if site.is_some() {
            *g.sampled.get_or_insert(0) += 1;
        }
        g.bytes = g.bytes.saturating_add(b.size);
        match kind {
            LeakKind::Direct => g.direct += 1,
            _ => g.indirect += 1,
        }
        if g.samples.len() < SAMPLES {
            g.samples.push(b.address);
        }
    }
    report.groups = groups.into_values().collect();
    if let Some(sites) = sites {
        for g in report.groups.iter_mut().filter(|g| g.site.is_some()) {
            let (count, bytes) = sites.estimate(g.sampled.unwrap_or(0), g.size);
            g.estimated_count = Some(count);
            g.estimated_bytes = Some(bytes);
        }
    }
    report
        .groups
        .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.size.cmp(&b.size)));
    report
}

/// The marking's shared state: what the threads read and raise.
struct Marking<'a> {
    target: &'a dyn Target,
    index: &'a BlockIndex,
    state: Vec<AtomicU8>,
    bar: Mutex<core_reader::Progress>,
    /// Lists of blocks to read handed to a thread and not yet all read.
    tasks: AtomicUsize,
    /// The threads that mark.
    threads: usize,
}

impl<'a> Marking<'a> {
    /// A thread keeps at most this many blocks to read before it hands half of them to
    /// another (a vector's body may point to a million).
    const SHARE: usize = 1024;
    /// How far down its list a thread asks for the next blocks to read.
    const AHEAD: usize = 6;

    /// Raises block `i` to `new`; pushes it on `work` (to be read) if it moved up, and says
    /// so.
    #[inline]
    fn raise(&self, work: &mut Vec<u32>, i: usize, new: u8) -> bool {
        let state = &self.state[i];
        let up = new > state.load(Relaxed) && new > state.fetch_max(new, Relaxed);
        if up {
            work.push(i as u32);
        }
        up
    }

    /// What the word `w` marks: the block it points to, reachable where it points at its
    /// start from a reachable block (`definite`), else possibly lost. Whether a block was
    /// pushed on `work`.
    #[inline]
    fn mark(&self, work: &mut Vec<u32>, w: u64, definite: bool) -> bool {
        self.index.find(w).is_some_and(|(i, exact)| {
            let new = if definite && exact {
                REACHABLE
            } else {
                POSSIBLE
            };
            self.raise(work, i, new)
        })
    }

    /// Moves the progress bar.
    fn advance(&self, f: impl FnOnce(&mut core_reader::Progress)) {
        f(&mut self.bar.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Hands `work` to another thread of `scope`.
    fn hand_over<'s>(&'s self, scope: &rayon::Scope<'s>, work: Vec<u32>) {
        self.tasks.fetch_add(1, Relaxed);
        scope.spawn(move |scope| self.mark_from(scope, work));
    }

    /// Reads the blocks of `work` and every block they lead to, handing part of the work to
    /// other threads of `scope` when it grows, or when a thread has none. Called once for
    /// each [`Marking::hand_over`] (or first with `tasks` at 1).
    fn mark_from<'s>(&'s self, scope: &rayon::Scope<'s>, mut work: Vec<u32>) {
        let cursor = Cursor::new(self.target);
        // Bytes read since the bar was last moved: moved every few thousand blocks, not each.
        let (mut unshown, mut popped) = (0u64, 0u32);
        while let Some(i) = work.pop() {
            // The blocks are read as the pointers lead, each a wait on memory: the block
            // a few places down the list is asked for while this one is read.
            if let Some(&ahead) = work
                .len()
                .checked_sub(Self::AHEAD)
                .and_then(|k| work.get(k))
            {
                prefetch(cursor.bytes_at(self.index.blocks[ahead as usize].address));
            }
            // A thread has nothing to read: it takes the oldest half of the blocks waiting.
            // A long list is read from both its ends (its header points to both), a tree
            // from more than one branch, where one thread would read them alone.
            if !work.is_empty() && self.tasks.load(Relaxed) < self.threads {
                let oldest = work.drain(..work.len().div_ceil(2)).collect();
                self.hand_over(scope, oldest);
            }
            let b = self.index.blocks[i as usize];
            let definite = self.state[i as usize].load(Relaxed) == REACHABLE;
            // Shared as it grows, within a block too: a vector's body of a million pointers
            // would otherwise push them all first (4 MB a list, each kept at its longest).
            scan_allocation(
                &cursor,
                b.address,
                b.address.saturating_add(b.size),
                |_, w| {
                    // A block pushed is often the next one read (a list's next node).
                    if self.mark(&mut work, w, definite) {
                        prefetch(cursor.bytes_at(w));
                    }
                    if work.len() > Self::SHARE {
                        let half = work.split_off(work.len() / 2);
                        self.hand_over(scope, half);
                    }
                },
            );
            unshown = unshown.saturating_add(b.size);
            popped = popped.wrapping_add(1);
            if popped % 4096 == 0 {
                self.advance(|bar| bar.advance(std::mem::take(&mut unshown)));
            }
        }
        self.advance(|bar| bar.advance(unshown));
        self.tasks.fetch_sub(1, Relaxed);
    }
}

/// Marks what the roots reach, then splits the rest into cliques; the state of every block
/// of `index` (`REACHABLE`, `POSSIBLE`, `INDIRECT`, or `UNREACHED`: directly lost), with the
/// roots' figures added to `report`.
fn mark_and_split(
    target: &dyn Target,
    index: &BlockIndex,
    roots: &Roots,
    report: &mut LeakReport,
    progress: bool,
) -> States {
    let memory: &dyn Memory = target;
    let n = index.blocks.len();
    let marking = Marking {
        target,
        index,
        // Raised by the threads that mark, each block's state only ever moves up.
        state: (0..n).map(|_| AtomicU8::new(UNREACHED)).collect(),
        bar: Mutex::new(core_reader::Progress::new(
            "marking from the roots",
            progress,
        )),
        tasks: AtomicUsize::new(1),
        threads: rayon::current_num_threads(),
    };
    // Block indices fit in 32 bits (a core of more than 4 billion allocations would not
    // fit in memory): half the worklist's bytes.
    let mut work: Vec<u32> = Vec::new();

    for &r in &roots.registers {
        marking.mark(&mut work, r, true);
    }
    for &o in &roots.owned {
        if let Some((i, _)) = index.find(o) {
            marking.raise(&mut work, i, REACHABLE);
        }
    }
    let merged = merge_ranges(roots.excluded.clone());
    let cursor = Cursor::new(memory);
    // Bytes to read at most: the roots, then every block once (a block is read again only
    // when a definite pointer is found after an interior one: rare, and the bar stops full).
    let root_bytes = roots.ranges.iter().map(|r| r.end.saturating_sub(r.start));
    let block_bytes = index.blocks.iter().map(|b| b.size);
    marking.advance(|bar| bar.start(root_bytes.chain(block_bytes).fold(0, u64::saturating_add)));
    for range in &roots.ranges {
        for (s, e) in subtract(range.start, range.end, &merged) {
            let (scanned, unreadable) = scan(&cursor, s, e, |_, w| {
                marking.mark(&mut work, w, true);
            });
            report.root_bytes_scanned += scanned;
            report.root_bytes_unreadable += unreadable;
        }
        marking.advance(|bar| bar.advance(range.end.saturating_sub(range.start)));
    }
    // What the roots reach is the same whichever thread reads which block first: a block is
    // read again each time its state moves up, so each is read in its final state.
    rayon::scope(|scope| marking.mark_from(scope, work));
    marking.advance(|bar| bar.finish());
    let mut state: Vec<u8> = marking
        .state
        .into_iter()
        .map(AtomicU8::into_inner)
        .collect();
    let mut work: Vec<u32> = Vec::new();

    // Cliques: from each still-unreached block in address order, everything unreached it
    // leads to (through start or interior pointers) is indirect. An earlier leader reached
    // from a later one becomes indirect too, so a cycle with no way in keeps one direct.
    for leader in 0..n {
        if state[leader] != UNREACHED {
            continue;
        }
        work.push(leader as u32);
        while let Some(i) = work.pop() {
            let b = index.blocks[i as usize];
            scan_allocation(
                &cursor,
                b.address,
                b.address.saturating_add(b.size),
                |_, w| {
                    if let Some((j, _)) = index.find(w) {
                        if j != leader && state[j] == UNREACHED {
                            state[j] = INDIRECT;
                            work.push(j as u32);
                        }
                    }
                },
            );
        }
    }

    States::pack(&state)
}

/// Every block's state after marking, four to a byte: the marking's byte a block, a
/// twenty-fourth of a leak check's memory, is freed before the types are named.
struct States(Vec<u8>);

impl States {
    fn pack(state: &[u8]) -> States {
        let packed = state.chunks(4).map(|four| {
            four.iter()
                .enumerate()
                .fold(0u8, |byte, (k, &s)| byte | (s & 3) << (2 * k))
        });
        States(packed.collect())
    }

    /// Block `i`'s state.
    #[inline]
    fn get(&self, i: usize) -> u8 {
        (self.0[i / 4] >> (2 * (i % 4))) & 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::model::{RootKind, RootRange};
    use crate::scan::Block;
    use core_reader::MemoryImage;

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn direct_indirect_possible_and_reachable() {
        // Heap at 0x1000: A (reachable from a root), B (pointed to by A), C (interior
        // pointer from the root), D -> E (lost list), F <-> G (lost cycle), H -> D.
        let heap: Vec<u64> = vec![
            0, 0, 0x1020, 0, // A at 0x1000: points to B
            0, 0, 0, 0, // B at 0x1020
            0, 0, 0, 0, // C at 0x1040
            0x1080, 0, 0, 0, // D at 0x1060 -> E
            0, 0, 0, 0, // E at 0x1080
            0x10c0, 0, 0, 0, // F at 0x10a0 -> G
            0x10a8, 0, 0, 0, // G at 0x10c0 -> F (interior)
            0x1060, 0, 0, 0, // H at 0x10e0 -> D
        ];
        let mut memory = MemoryImage::new();
        memory.add(0x1000, words(&heap));
        memory.add(0x9000, words(&[0x1000, 0x1048, 7]));
        let blocks = (0..8)
            .map(|i| Block {
                address: 0x1000 + 0x20 * i,
                size: 0x20,
            })
            .collect();
        let roots = Roots {
            registers: vec![],
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9018,
                kind: RootKind::Static,
            }],
            excluded: vec![],
            ..Roots::default()
        };
        let r = find_leaks(&memory, blocks, &roots);
        assert_eq!((r.reachable_count, r.possible_count), (2, 1));
        assert_eq!((r.direct_count, r.indirect_count), (2, 3), "{:?}", r.leaks);
        let kind = |a: u64| r.leaks.iter().find(|l| l.address == a).map(|l| l.kind);
        // D led its own clique first, then H (a later leader) reached it.
        assert_eq!(kind(0x1060), Some(LeakKind::Indirect));
        assert_eq!(kind(0x1080), Some(LeakKind::Indirect));
        assert_eq!(kind(0x10e0), Some(LeakKind::Direct));
        // A cycle with no way in keeps its lowest block direct.
        assert_eq!(kind(0x10a0), Some(LeakKind::Direct));
        assert_eq!(kind(0x10c0), Some(LeakKind::Indirect));
        assert_eq!(r.root_bytes_scanned, 24);
    }

    /// A long doubly linked list, a vector of pointers and lost blocks: with two threads or
    /// more, the vector (the oldest root pushed) is handed over while the list is read, and
    /// the vector's pointers as they are read.
    #[test]
    fn long_lists_and_vectors_are_marked_whole() {
        const NODES: u64 = 20_000;
        const HEAP: u64 = 0x10_0000;
        // Node k at HEAP + 32 k: next, prev (the root's address at the ends), two zeros.
        let node = |k: u64| HEAP + 32 * k;
        let vector = node(NODES);
        let mut heap = Vec::new();
        for k in 0..NODES {
            let next = if k + 1 < NODES { node(k + 1) } else { 0x9000 };
            let prev = if k > 0 { node(k - 1) } else { 0x9000 };
            heap.extend([next, prev, 0, 0]);
        }
        // The vector's body points to the objects after it, but for every fifth.
        let objects = vector + 8 * NODES;
        heap.extend((0..NODES).map(|k| if k % 5 == 0 { 0 } else { objects + 16 * k }));
        heap.extend((0..NODES).flat_map(|_| [7, 7]));
        let mut memory = MemoryImage::new();
        memory.add(HEAP, words(&heap));
        memory.add(0x9000, words(&[vector, node(0), node(NODES - 1)]));
        let mut blocks: Vec<Block> = (0..NODES)
            .map(|k| Block {
                address: node(k),
                size: 32,
            })
            .collect();
        blocks.push(Block {
            address: vector,
            size: 8 * NODES,
        });
        blocks.extend((0..NODES).map(|k| Block {
            address: objects + 16 * k,
            size: 16,
        }));
        let roots = Roots {
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9018,
                kind: RootKind::Static,
            }],
            ..Roots::default()
        };
        let r = find_leaks(&memory, blocks, &roots);
        let lost = NODES / 5;
        assert_eq!(r.reachable_count, 2 * NODES + 1 - lost);
        assert_eq!((r.direct_count, r.possible_count), (lost, 0));
    }

    #[test]
    fn excluded_ranges_are_not_roots() {
        let mut memory = MemoryImage::new();
        memory.add(0x1000, words(&[0, 0]));
        memory.add(0x9000, words(&[0x1000]));
        let blocks = vec![Block {
            address: 0x1000,
            size: 16,
        }];
        let roots = Roots {
            registers: vec![],
            ranges: vec![RootRange {
                start: 0x9000,
                end: 0x9008,
                kind: RootKind::Static,
            }],
            excluded: vec![(0x8ff0, 0x9008)],
            ..Roots::default()
        };
        let r = find_leaks(&memory, blocks, &roots);
        assert_eq!(r.direct_count, 1);
        assert_eq!(r.root_bytes_scanned, 0);
    }

    #[test]
    fn sampled_blocks_group_by_site() {
        // Four lost 32-byte blocks of one shape: two sampled from site 0, one from site 1,
        // one not sampled.
        let mut memory = MemoryImage::new();
        memory.add(0x1000, words(&[7; 16]));
        let blocks = (0..4)
            .map(|i| Block {
                address: 0x1000 + 0x20 * i,
                size: 0x20,
            })
            .collect();
        let sites = Sites::new(
            1,
            true,
            vec![vec![0x40_0000], vec![0x40_1000]],
            vec![(0x1000, 0), (0x1020, 0), (0x1040, 1)],
            Vec::new(),
        );
        let r = find_leaks_with_sites(
            &memory,
            blocks,
            &Roots::default(),
            Some(&sites),
            None,
            false,
        );
        assert_eq!(r.sample_period, Some(1));
        let mut groups: Vec<_> = r
            .groups
            .iter()
            .map(|g| {
                let site = g.site.as_ref().map(|s| s.addresses[0]);
                (g.count, site, g.sampled, g.estimated_count)
            })
            .collect();
        groups.sort();
        assert_eq!(
            groups,
            vec![
                (1, None, Some(0), None),
                (1, Some(0x40_1000), Some(1), Some(1)),
                (2, Some(0x40_0000), Some(2), Some(2)),
            ]
        );
        // Without sites, one group, and no sampling keys.
        let blocks = (0..4)
            .map(|i| Block {
                address: 0x1000 + 0x20 * i,
                size: 0x20,
            })
            .collect();
        let r = find_leaks(&memory, blocks, &Roots::default());
        assert_eq!(r.groups.len(), 1);
        assert!(r.groups[0].sampled.is_none() && r.sample_period.is_none());
    }
}
