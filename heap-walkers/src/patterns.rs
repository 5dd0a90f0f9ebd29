//! Container parts recognized from how they are referenced and linked (chap's "patterns"):
//! the heap buffer of a `std::string`, the body of a `std::vector`, the nodes of a
//! `std::list`, a `std::map`/`std::set`, a `std::unordered_map`/`set` and its bucket array,
//! the map and blocks of a `std::deque`.
//!
//! Never from size alone: each is recognized from the container object that owns it (found
//! anywhere the program keeps data: a global, a stack, another allocation) and from the links
//! between its parts, checked both ways. The layouts are libstdc++'s (GCC 5 and later,
//! the C++11 ABI for strings; clang on Linux uses the same library):
//! - `basic_string` (bits/basic_string.h): `_M_p`, `_M_string_length`, then 16 bytes of
//!   local buffer whose first word is `_M_allocated_capacity` when the text is on the heap
//!   (more than 15 characters, so capacity ≥ 16), NUL-terminated.
//! - `_Vector_impl_data` (bits/stl_vector.h): `_M_start`, `_M_finish`, `_M_end_of_storage`.
//! - `_List_node_header` (bits/stl_list.h): `_M_next`, `_M_prev`, `_M_size`; each node starts
//!   with `_M_next`, `_M_prev`.
//! - `_Rb_tree_header` (bits/stl_tree.h): `_M_header` {`_M_color` (red, 0), `_M_parent` (the
//!   root), `_M_left` (leftmost), `_M_right` (rightmost)}, `_M_node_count`; each node starts
//!   with `_M_color`, `_M_parent`, `_M_left`, `_M_right`.
//! - `_Hashtable` (bits/hashtable.h): `_M_buckets`, `_M_bucket_count`, `_M_before_begin`
//!   (the list head), `_M_element_count`, `_M_rehash_policy` (a float max load factor first),
//!   `_M_single_bucket`; nodes form one singly linked list from `_M_before_begin`, and each
//!   bucket is null or points to the node before its first one (`_M_before_begin` itself for
//!   the first bucket used).
//! - `_Deque_impl_data` (bits/stl_deque.h): `_M_map`, `_M_map_size`, then the `_M_start` and
//!   `_M_finish` iterators {`_M_cur`, `_M_first`, `_M_last`, `_M_node`}; the map's entries
//!   from `_M_start._M_node` to `_M_finish._M_node` point to blocks of equal size.
//!
//! Only in a process that has a C++ runtime: a C program's structures that happen to look
//! like a vector (a FILE's buffer pointers) are not called C++ containers.

use core_reader::Target;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use rayon::prelude::*;

use crate::scan::{self, Bits, Block, Directory};

/// A container part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pattern {
    StringData,
    VectorData,
    ListNode,
    MapNode,
    HashNode,
    HashBuckets,
    DequeMap,
    DequeBlock,
}

impl Pattern {
    /// Every pattern, by its [`Pattern::index`].
    pub(crate) const ALL: [Pattern; 8] = [
        Pattern::StringData,
        Pattern::VectorData,
        Pattern::ListNode,
        Pattern::MapNode,
        Pattern::HashNode,
        Pattern::HashBuckets,
        Pattern::DequeMap,
        Pattern::DequeBlock,
    ];

    /// Its index in [`Pattern::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The name `heap --by type` shows (DESIGN.md's list).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pattern::StringData => "std::string data",
            Pattern::VectorData => "std::vector data",
            Pattern::ListNode => "std::list node",
            Pattern::MapNode => "std::map/set node",
            Pattern::HashNode => "std::unordered_map/set node",
            Pattern::HashBuckets => "std::unordered_map/set buckets",
            Pattern::DequeMap => "std::deque map",
            Pattern::DequeBlock => "std::deque block",
        }
    }
}

/// Whether a process has a C++ runtime: libstdc++ or libc++ mapped, the main executable
/// asking for one (its `DT_NEEDED` names, read from its read-only pages in the core: a core
/// without NT_FILE names no mapping), or (static) the `operator new(unsigned long)` symbol.
pub(crate) fn has_cpp_runtime(target: &dyn Target) -> bool {
    const RUNTIMES: [&str; 2] = ["libstdc++.so", "libc++.so"];
    let mappings = target.mappings();
    let named = mappings.iter().any(|m| {
        m.path
            .as_deref()
            .is_some_and(|p| RUNTIMES.iter().any(|r| p.contains(r)))
    });
    if named || target.find_symbol("_Znwm").is_some() {
        return true;
    }
    let Some(main) = target.modules().into_iter().find(|m| m.is_main) else {
        return false;
    };
    let (start, end) = (main.start, main.end);
    mappings
        .iter()
        .filter(|m| start <= m.start && m.start < end && !m.perms.contains('w'))
        .any(|m| {
            let mut a = m.start;
            while a < m.end {
                let piece = target.bytes_at(a);
                if piece.is_empty() {
                    return false;
                }
                if RUNTIMES
                    .iter()
                    .any(|r| memchr::memmem::find(piece, r.as_bytes()).is_some())
                {
                    return true;
                }
                a += piece.len() as u64;
            }
            false
        })
}

/// Recognizes container parts among `blocks` (sorted, the program's allocations; `directory`
/// made of them); `typed` says which blocks already have a type (a vtable), and is set for
/// every block a pattern claims. Calls `found(i, pattern)` once per claimed block. A heap of
/// more blocks than 32-bit indices count (less [`Claim`]'s markers) has none recognized (it
/// would not fit in memory). With `only`, the words read are those of the blocks it names
/// (see [`Types::infer_some`](crate::types::Types) for when that finds the same parts).
///
/// The words are read in address order, and a block claimed is not claimed again, so the
/// first container met owns a part. The reading is split between threads in batches: each
/// batch's words are tried in parallel against the blocks typed before the batch (whether a
/// container is recognized depends on memory only, never on what is typed), and the claims
/// found are then applied in address order, each container's only when its first part is
/// still untyped — what reading every word in turn would have claimed.
pub(crate) fn recognize(
    target: &dyn Target,
    blocks: &[Block],
    directory: &Directory,
    only: Option<&dyn Fn(usize) -> bool>,
    typed: &mut Bits,
    found: &mut dyn FnMut(usize, Pattern),
) {
    if blocks.is_empty() || blocks.len() > Claim::PATTERN as usize || !has_cpp_runtime(target) {
        return;
    }
    let mut batch = Batch::default();
    containers_ranges(target, blocks, only, |start, end| {
        let mut s = start;
        while s < end {
            // Pieces end on word boundaries: every word is read in the piece holding it.
            let e = (s.saturating_add(Batch::PIECE) & !7).min(end).max(s + 1);
            batch.pieces.push((s, e));
            batch.bytes += e - s;
            s = e;
            if batch.bytes >= Batch::BYTES {
                batch.run(target, blocks, directory, typed, found);
            }
        }
    });
    batch.run(target, blocks, directory, typed, found);
}

/// Ranges of words to read, in address order, and how many bytes they span.
#[derive(Default)]
struct Batch {
    pieces: Vec<(u64, u64)>,
    bytes: u64,
}

impl Batch {
    /// Bytes read between two applications of the claims: large enough to keep the threads
    /// busy, small enough that few parts are claimed twice within one batch.
    const BYTES: u64 = 1 << 20;
    /// Longest range one thread reads (a vector's body may take most of a heap).
    const PIECE: u64 = 1 << 16;
    /// Parts a batch is split in: several a thread (parts differ in how much they find),
    /// and as many on every machine (each part reads through a cursor of its own, and a
    /// damaged core's overlapping pieces read as the cursor last found them).
    const PARTS: u64 = 8;
    /// Claims a batch may hold whatever the heap's size.
    const LEAST_HELD: usize = 1 << 16;

    /// Reads the batch's words, applies their claims in order, and empties the batch.
    fn run(
        &mut self,
        target: &dyn Target,
        blocks: &[Block],
        directory: &Directory,
        typed: &mut Bits,
        found: &mut dyn FnMut(usize, Pattern),
    ) {
        let share = self.bytes.div_ceil(Self::PARTS).max(1);
        let mut split: Vec<&[(u64, u64)]> = Vec::new();
        let (mut first, mut bytes) = (0, 0);
        for (k, &(s, e)) in self.pieces.iter().enumerate() {
            bytes += e - s;
            if bytes >= share || k + 1 == self.pieces.len() {
                split.push(&self.pieces[first..=k]);
                (first, bytes) = (k + 1, 0);
            }
        }
        let snapshot: &Bits = typed;
        // Claims held by the batch, at most one a block (or a few thousand): past that
        // (containers sharing their parts, which one pass would claim once and then skip),
        // the batch is read again one word at a time.
        let most = blocks.len().max(Self::LEAST_HELD);
        let (held, over) = (AtomicUsize::new(0), AtomicBool::new(false));
        let claimed: Vec<Vec<u32>> = split
            .into_par_iter()
            .map(|pieces| {
                let cursor = scan::Cursor::new(target);
                let mut r = Recognizer {
                    memory: &cursor,
                    blocks,
                    directory,
                    typed: snapshot,
                    claims: Vec::new(),
                };
                for &(s, e) in pieces {
                    scan::scan(&cursor, s, e, |at, w| {
                        let before = r.claims.len();
                        if !over.load(Relaxed) {
                            r.at(at, w);
                        }
                        let added = r.claims.len() - before;
                        if added > 0 && held.fetch_add(added, Relaxed) + added > most {
                            over.store(true, Relaxed);
                        }
                    });
                }
                r.claims
            })
            .collect();
        if over.load(Relaxed) {
            drop(claimed);
            self.run_in_order(target, blocks, directory, typed, found);
        } else {
            apply(claimed.iter().flatten(), typed, found);
        }
        self.pieces.clear();
        self.bytes = 0;
    }

    /// [`Batch::run`] one word at a time, each word's claims applied before the next is
    /// read.
    fn run_in_order(
        &self,
        target: &dyn Target,
        blocks: &[Block],
        directory: &Directory,
        typed: &mut Bits,
        found: &mut dyn FnMut(usize, Pattern),
    ) {
        let cursor = scan::Cursor::new(target);
        let mut claims = Vec::new();
        for &(s, e) in &self.pieces {
            scan::scan(&cursor, s, e, |at, w| {
                let mut r = Recognizer {
                    memory: &cursor,
                    blocks,
                    directory,
                    typed,
                    claims: std::mem::take(&mut claims),
                };
                r.at(at, w);
                claims = r.claims;
                apply(claims.iter(), typed, found);
                claims.clear();
            });
        }
    }
}

/// Applies a stream of claims ([`Claim`]) in order: each container's parts, where its first
/// part and they are untyped.
fn apply<'c>(
    claims: impl Iterator<Item = &'c u32>,
    typed: &mut Bits,
    found: &mut dyn FnMut(usize, Pattern),
) {
    let (mut skip, mut pattern) = (false, Pattern::StringData);
    let mut stream = claims.map(|&c| c as usize);
    while let Some(c) = stream.next() {
        if c == Claim::OWNER as usize {
            skip = stream.next().is_none_or(|owner| typed.get(owner));
        } else if c >= Claim::PATTERN as usize {
            pattern = Pattern::ALL[c - Claim::PATTERN as usize];
        } else if !skip && !typed.get(c) {
            typed.set(c);
            found(c, pattern);
        }
    }
}

/// What reading the words found, as a stream of `u32`s (4 bytes a part: a list may hold a
/// quarter of a heap's blocks): for each container, [`Claim::OWNER`] and its first part (the
/// block the word pointed to: its claims apply only while it is untyped), then for each
/// pattern its marker (`Claim::PATTERN` + its index in [`Pattern::ALL`]) and the blocks it
/// claims. Block indices stay below the markers.
struct Claim;

impl Claim {
    const OWNER: u32 = u32::MAX;
    const PATTERN: u32 = u32::MAX - Pattern::ALL.len() as u32;
}

/// Calls `f(start, end)` for every range where container objects may be, in address order:
/// every writable mapping, less the C library's own data; in a mapping that holds
/// allocations, only the allocations (what lies between them is free memory or the
/// allocator's). One range a block: never gathered in a list (16 bytes a block). With
/// `only`, the blocks it names and nothing else.
fn containers_ranges(
    target: &dyn Target,
    blocks: &[Block],
    only: Option<&dyn Fn(usize) -> bool>,
    mut f: impl FnMut(u64, u64),
) {
    for m in target.mappings() {
        let libc = m
            .path
            .as_deref()
            .is_some_and(|p| p.contains("/libc.so") || p.contains("/libc-"));
        if !m.perms.contains('w') || libc {
            continue;
        }
        let first = blocks.partition_point(|b| b.address < m.start);
        let inside = blocks[first..].iter().take_while(|b| b.address < m.end);
        let mut any = false;
        for (i, b) in inside.enumerate() {
            any = true;
            if only.is_none_or(|keep| keep(first + i)) {
                f(b.address, b.address.saturating_add(b.size).min(m.end));
            }
        }
        if !any && only.is_none() {
            f(m.start, m.end);
        }
    }
}

/// Whether `used` bytes asked of the allocator come back as a block of `size` usable bytes:
/// glibc rounds a request up by at most 24 bytes, jemalloc to its size classes (at most a
/// quarter more, plus the smallest classes' steps).
fn fits(size: u64, used: u64) -> bool {
    used <= size && size - used < 24u64.max(size / 4 + 8)
}

/// Finds containers from the words of one part of a batch.
struct Recognizer<'a, 'm> {
    memory: &'a scan::Cursor<'m>,
    blocks: &'a [Block],
    directory: &'a Directory,
    /// The blocks typed before the batch.
    typed: &'a Bits,
    /// What was found, in address order ([`Claim`]).
    claims: Vec<u32>,
}

impl Recognizer<'_, '_> {
    /// How far on in a tree's queue of nodes the walk asks for the nodes to read.
    const AHEAD: usize = 8;

    /// The block that starts exactly at `w`.
    fn start(&self, w: u64) -> Option<usize> {
        if w == 0 || !w.is_multiple_of(8) {
            return None;
        }
        self.directory.starting_at(self.blocks, w)
    }

    fn word(&self, a: u64) -> Option<u64> {
        self.memory.u64(a)
    }

    fn byte(&self, a: u64) -> Option<u8> {
        self.memory.bytes_at(a).first().copied()
    }

    /// `n` words from `a`, where all are readable.
    fn words<const N: usize>(&self, a: u64) -> Option<[u64; N]> {
        let mut words = [0; N];
        for (k, w) in words.iter_mut().enumerate() {
            *w = self.word(a + 8 * k as u64)?;
        }
        Some(words)
    }

    /// Claims of pattern `p` follow.
    fn as_pattern(&mut self, p: Pattern) {
        self.claims.push(Claim::PATTERN + p.index() as u32);
    }

    /// Claims `parts` as `p` (those typed already are left as they are when the claims are
    /// applied).
    fn claim(&mut self, p: Pattern, parts: impl IntoIterator<Item = usize>) {
        self.as_pattern(p);
        self.claims.extend(parts.into_iter().map(|i| i as u32));
    }

    /// The word `w` at `at`: when it points at the start of an untyped allocation, is `at`
    /// (or the word before it, for a tree's header) a container owning it?
    fn at(&mut self, at: u64, w: u64) {
        let Some(i) = self.start(w) else { return };
        if self.typed.get(i) {
            return;
        }
        let before = self.claims.len();
        self.claims.extend([Claim::OWNER, i as u32]);
        let owned = self.deque(at, i)
            || self.hashtable(at, i)
            || at.checked_sub(8).is_some_and(|h| self.tree(h, i))
            || self.list(at, i)
            || self.vector(at, i)
            || self.string(at, i);
        if !owned {
            self.claims.truncate(before);
        }
    }

    fn string(&mut self, at: u64, i: usize) -> bool {
        let b = self.blocks[i];
        let (Some(len), Some(cap)) = (self.word(at + 8), self.word(at + 16)) else {
            return false;
        };
        let ok = cap >= 16
            && len <= cap
            && fits(b.size, cap.saturating_add(1))
            && self.byte(b.address + len) == Some(0);
        if ok {
            self.claim(Pattern::StringData, [i]);
        }
        ok
    }

    fn vector(&mut self, at: u64, i: usize) -> bool {
        let b = self.blocks[i];
        let (Some(end), Some(cap)) = (self.word(at + 8), self.word(at + 16)) else {
            return false;
        };
        let ok = b.address <= end && end <= cap && cap > b.address && fits(b.size, cap - b.address);
        if ok {
            self.claim(Pattern::VectorData, [i]);
        }
        ok
    }

    fn list(&mut self, header: u64, first: usize) -> bool {
        let (Some(last), Some(size)) = (self.word(header + 8), self.word(header + 16)) else {
            return false;
        };
        // Nodes may differ in size (glibc hands a chunk out whole when what would be left
        // of it is too small), so a node is known by its links alone; the header is no
        // allocation's start.
        if size == 0
            || size > self.blocks.len() as u64
            || self.word(self.blocks[first].address + 8) != Some(header)
            || self.word(last) != Some(header)
            || self.start(header).is_some()
        {
            return false;
        }
        // The list is walked from both ends at once, forward from the first node and
        // backward from the last, to its middle: each step waits on memory, and the two
        // walks wait side by side. It is whole when every node links back to the one before
        // it and the two halves link to each other where they meet — what a walk from the
        // first node to the header finds. The nodes are claimed in the list's order, and the
        // claims taken back if it breaks.
        let size = size as usize;
        let (half, rest) = (size.div_ceil(2), size / 2);
        let before = self.claims.len();
        self.as_pattern(Pattern::ListNode);
        let mut back: Vec<u32> = Vec::new();
        let (mut prev, mut node) = (header, self.blocks[first].address);
        let (mut next, mut back_node) = (header, last);
        let walked = (0..half).all(|k| {
            match self.start(node) {
                Some(n) if node != header && self.word(node.saturating_add(8)) == Some(prev) => {
                    self.claims.push(n as u32)
                }
                _ => return false,
            }
            let Some(after) = self.word(node) else {
                return false;
            };
            (prev, node) = (node, after);
            if k >= rest {
                return true;
            }
            match self.start(back_node) {
                Some(n) if back_node != header && self.word(back_node) == Some(next) => {
                    back.push(n as u32)
                }
                _ => return false,
            }
            let Some(before) = self.word(back_node.saturating_add(8)) else {
                return false;
            };
            (next, back_node) = (back_node, before);
            true
        });
        // Where the halves meet: the forward walk's next node is the backward walk's last,
        // and that node's previous one the forward walk's last.
        let complete = walked && node == next && back_node == prev;
        if complete {
            self.claims.extend(back.iter().rev());
        } else {
            self.claims.truncate(before);
        }
        complete
    }

    fn tree(&mut self, header: u64, root: usize) -> bool {
        // The colour first: most words are no tree's header, and most fail there.
        if self.word(header).is_none_or(|color| color as u32 != 0) {
            return false;
        }
        let Some([color, _, leftmost, rightmost, count]) = self.words::<5>(header) else {
            return false;
        };
        let root_at = self.blocks[root].address;
        if color as u32 != 0
            || count == 0
            || count > self.blocks.len() as u64
            || self.word(root_at + 8) != Some(header)
            || self.start(leftmost).is_none()
            || self.start(rightmost).is_none()
        {
            return false;
        }
        // The nodes are claimed as they are found (the claims are the walk's queue), and the
        // claims taken back if the tree breaks.
        let before = self.claims.len();
        self.as_pattern(Pattern::MapNode);
        let nodes = self.claims.len();
        self.claims.push(root as u32);
        let complete = 'walk: {
            let mut k = nodes;
            while k < self.claims.len() {
                let at = self.blocks[self.claims[k] as usize].address;
                // The nodes are read breadth first, each a wait on memory: the one a few
                // places on in the queue is asked for meanwhile.
                if let Some(&ahead) = self.claims.get(k + Self::AHEAD) {
                    scan::prefetch(self.memory.bytes_at(self.blocks[ahead as usize].address));
                }
                k += 1;
                if self.word(at).is_none_or(|c| c as u32 > 1) {
                    break 'walk false;
                }
                for child in [self.word(at + 16), self.word(at + 24)] {
                    match child {
                        Some(0) => {}
                        Some(c) => match self.start(c) {
                            // Sizes may differ, as a list's nodes may.
                            Some(n)
                                if self.claims.len() - nodes < count as usize
                                    && self.word(c + 8) == Some(at) =>
                            {
                                self.claims.push(n as u32)
                            }
                            _ => break 'walk false,
                        },
                        None => break 'walk false,
                    }
                }
            }
            self.claims.len() - nodes == count as usize
        };
        if !complete {
            self.claims.truncate(before);
        }
        complete
    }

    fn hashtable(&mut self, at: u64, buckets: usize) -> bool {
        let b = self.blocks[buckets];
        // The bucket count first: most words are no hashtable, and most fail there.
        if self
            .word(at + 8)
            .is_none_or(|n| n < 2 || !fits(b.size, n.saturating_mul(8)))
        {
            return false;
        }
        let Some([bucket_count, first, count, policy]) = self.words::<4>(at + 8) else {
            return false;
        };
        let max_load = f32::from_bits(policy as u32);
        if bucket_count < 2
            || !fits(b.size, bucket_count.saturating_mul(8))
            || !(max_load > 0.0 && max_load <= 1e6)
            || count > self.blocks.len() as u64
        {
            return false;
        }
        let mut nodes = Vec::new();
        let mut node = first;
        while node != 0 {
            match self.start(node) {
                Some(n) if nodes.len() < count as usize => nodes.push(n),
                _ => return false,
            }
            let Some(next) = self.word(node) else {
                return false;
            };
            node = next;
        }
        if nodes.len() as u64 != count {
            return false;
        }
        // Every bucket is empty, the list head, or a node.
        let mut sorted = nodes.clone();
        sorted.sort_unstable();
        for k in 0..bucket_count {
            match self.word(b.address + 8 * k) {
                Some(0) => {}
                Some(p)
                    if p == at + 16
                        || self
                            .start(p)
                            .is_some_and(|n| sorted.binary_search(&n).is_ok()) => {}
                _ => return false,
            }
        }
        self.claim(Pattern::HashBuckets, [buckets]);
        self.claim(Pattern::HashNode, nodes);
        true
    }

    fn deque(&mut self, at: u64, map: usize) -> bool {
        let m = self.blocks[map];
        // The map's size first: most words are no deque, and most fail there.
        if self.word(at + 8).is_none_or(|n| {
            n < 8
                || m.address.saturating_add(n.saturating_mul(8)) > m.address.saturating_add(m.size)
        }) {
            return false;
        }
        let Some([map_size, s_cur, s_first, s_last, s_node, f_cur, f_first, f_last, f_node]) =
            self.words::<9>(at + 8)
        else {
            return false;
        };
        let map_end = m.address.saturating_add(map_size.saturating_mul(8));
        let block = s_last.wrapping_sub(s_first);
        if map_size < 8
            || map_end > m.address.saturating_add(m.size)
            || !(m.address <= s_node && s_node <= f_node && f_node < map_end)
            || !s_node.is_multiple_of(8)
            || !f_node.is_multiple_of(8)
            || block == 0
            || block > 1 << 20
            || f_last.wrapping_sub(f_first) != block
            || !(s_first <= s_cur && s_cur < s_last)
            || !(f_first <= f_cur && f_cur < f_last)
            || self.word(s_node) != Some(s_first)
            || self.word(f_node) != Some(f_first)
        {
            return false;
        }
        let mut parts = Vec::new();
        for node in (s_node..=f_node).step_by(8) {
            match self.word(node).and_then(|p| self.start(p)) {
                Some(n) if fits(self.blocks[n].size, block) => parts.push(n),
                _ => return false,
            }
        }
        self.claim(Pattern::DequeMap, [map]);
        self.claim(Pattern::DequeBlock, parts);
        true
    }
}

#[cfg(test)]
mod tests {
    use core_reader::MemoryImage;

    use super::*;

    const HEAP: u64 = 0x10000;
    const GLOBALS: u64 = 0x600000;
    /// The blocks: a string's text, two list nodes, a tree's root and its left child.
    const TEXT: u64 = HEAP;
    const N1: u64 = HEAP + 0x40;
    const N2: u64 = HEAP + 0x60;
    const ROOT: u64 = HEAP + 0x80;
    const LEFT: u64 = HEAP + 0xc0;
    const BLOCKS: [(u64, u64); 5] = [(TEXT, 40), (N1, 24), (N2, 24), (ROOT, 40), (LEFT, 40)];
    /// The container objects, in globals.
    const STRING: u64 = GLOBALS + 0x10;
    const LIST: u64 = GLOBALS + 0x100;
    const MAP_HEADER: u64 = GLOBALS + 0x200;

    fn set(m: &mut MemoryImage, at: u64, words: &[u64]) {
        let region = if at >= GLOBALS { GLOBALS } else { HEAP };
        let bytes = m.region_mut(at).expect("in a region");
        for (k, w) in words.iter().enumerate() {
            let o = (at - region) as usize + 8 * k;
            bytes[o..o + 8].copy_from_slice(&w.to_le_bytes());
        }
    }

    /// A C++ process (it has `operator new`) whose globals hold, as libstdc++ lays them out, a
    /// `std::string` of 20 characters, a `std::list` of two nodes and the `_Rb_tree_header`
    /// of a `std::map` of two nodes (a black root and its red left child).
    fn image() -> MemoryImage {
        let mut m = MemoryImage::new();
        let mut heap = vec![0u8; 0x100];
        heap[..20].fill(b'a');
        m.add(HEAP, heap);
        m.add(GLOBALS, vec![0u8; 0x300]);
        m.symbols.insert("_Znwm".into(), 0x401000);
        // _M_p, _M_string_length, _M_allocated_capacity.
        set(&mut m, STRING, &[TEXT, 20, 30]);
        // _M_next, _M_prev, _M_size; each node _M_next, _M_prev, then its value.
        set(&mut m, LIST, &[N1, N2, 2]);
        set(&mut m, N1, &[N2, LIST, 0]);
        set(&mut m, N2, &[LIST, N1, 0]);
        // _M_color, _M_parent (the root), _M_left, _M_right, _M_node_count; each node
        // _M_color, _M_parent, _M_left, _M_right, then its key.
        set(&mut m, MAP_HEADER, &[0, ROOT, LEFT, ROOT, 2]);
        set(&mut m, ROOT, &[0, MAP_HEADER, LEFT, 0, 5]);
        set(&mut m, LEFT, &[1, ROOT, 0, 0, 7]);
        m
    }

    /// The blocks claimed and as what, by address.
    fn claims(m: &MemoryImage) -> Vec<(u64, Pattern)> {
        claims_reading(m, None)
    }

    /// [`claims`], reading the words of the blocks `only` names where it is given.
    fn claims_reading(m: &MemoryImage, only: Option<&dyn Fn(u64) -> bool>) -> Vec<(u64, Pattern)> {
        let blocks = BLOCKS.map(|(address, size)| Block { address, size });
        let mut typed = Bits::new(BLOCKS.len());
        let mut found = Vec::new();
        let directory = crate::scan::Directory::new(&blocks);
        let only = only.map(|only| move |i: usize| only(blocks[i].address));
        let only = only.as_ref().map(|f| f as &dyn Fn(usize) -> bool);
        recognize(m, &blocks, &directory, only, &mut typed, &mut |i, p| {
            found.push((blocks[i].address, p))
        });
        found.sort_by_key(|&(a, _)| a);
        found
    }

    #[test]
    fn a_string_a_list_and_a_map_are_recognized_from_their_owners() {
        assert_eq!(
            claims(&image()),
            [
                (TEXT, Pattern::StringData),
                (N1, Pattern::ListNode),
                (N2, Pattern::ListNode),
                (ROOT, Pattern::MapNode),
                (LEFT, Pattern::MapNode),
            ]
        );
    }

    #[test]
    fn broken_links_claim_nothing() {
        let others = |m: &MemoryImage, gone: &[u64]| {
            let c = claims(m);
            assert!(c.iter().all(|(a, _)| !gone.contains(a)), "{c:?}");
            assert_eq!(c.len(), BLOCKS.len() - gone.len(), "{c:?}");
        };
        // The text is not NUL-terminated at its length.
        let mut m = image();
        m.region_mut(TEXT).unwrap()[20] = b'a';
        others(&m, &[TEXT]);
        // The second node does not link back to the first.
        let mut m = image();
        set(&mut m, N2 + 8, &[0]);
        others(&m, &[N1, N2]);
        // The header counts a node the tree does not have.
        let mut m = image();
        set(&mut m, MAP_HEADER + 32, &[3]);
        others(&m, &[ROOT, LEFT]);
        // The header's colour is not red (0): no `_Rb_tree_header`.
        let mut m = image();
        set(&mut m, MAP_HEADER, &[2]);
        others(&m, &[ROOT, LEFT]);
    }

    /// Lists of one to seven nodes, walked from both ends: whole, each node claimed; with any
    /// one link broken (a node's next or previous, or the header's count or last node), no
    /// node claimed — a `std::list` as libstdc++ lays it out links both ways throughout.
    #[test]
    fn lists_of_every_length_and_every_broken_link() {
        let claimed = |n: u64, damage: &dyn Fn(&mut MemoryImage)| {
            let node = |k: u64| HEAP + 0x20 * k;
            let mut m = MemoryImage::new();
            m.add(HEAP, vec![0u8; 0x20 * n as usize]);
            m.add(GLOBALS, vec![0u8; 0x300]);
            m.symbols.insert("_Znwm".into(), 0x401000);
            set(&mut m, LIST, &[node(0), node(n - 1), n]);
            for k in 0..n {
                let next = if k + 1 < n { node(k + 1) } else { LIST };
                let prev = if k > 0 { node(k - 1) } else { LIST };
                set(&mut m, node(k), &[next, prev]);
            }
            damage(&mut m);
            let blocks: Vec<Block> = (0..n)
                .map(|k| Block {
                    address: node(k),
                    size: 0x20,
                })
                .collect();
            let directory = crate::scan::Directory::new(&blocks);
            let mut typed = Bits::new(blocks.len());
            let mut found = Vec::new();
            recognize(&m, &blocks, &directory, None, &mut typed, &mut |i, p| {
                found.push((i, p))
            });
            found.sort_by_key(|&(i, _)| i);
            found
        };
        for n in 1..=7u64 {
            let whole: Vec<(usize, Pattern)> =
                (0..n as usize).map(|i| (i, Pattern::ListNode)).collect();
            assert_eq!(claimed(n, &|_| {}), whole, "{n} nodes");
            for k in 0..n {
                let at = HEAP + 0x20 * k;
                for (word, what) in [(0, "next"), (8, "previous")] {
                    let broken = |m: &mut MemoryImage| set(m, at + word, &[0]);
                    assert_eq!(claimed(n, &broken), [], "{n} nodes, node {k}'s {what}");
                }
            }
            for (word, value) in [(8, HEAP), (16, n + 1), (16, n.saturating_sub(1))] {
                let broken = |m: &mut MemoryImage| set(m, LIST + word, &[value]);
                let whole_again = word == 8 && n == 1;
                let expected = if whole_again { whole.clone() } else { vec![] };
                assert_eq!(claimed(n, &broken), expected, "{n} nodes, header +{word}");
            }
        }
    }

    /// With `only`, the words of the blocks it names are read and no others: a string whose
    /// object is in a block is found from it, the containers in the globals are not.
    #[test]
    fn only_the_blocks_named_are_read() {
        let mut m = image();
        set(&mut m, N1, &[TEXT, 20, 30]);
        let in_n1 = |a: u64| a == N1;
        assert_eq!(
            claims_reading(&m, Some(&in_n1)),
            [(TEXT, Pattern::StringData)]
        );
        let others = |a: u64| a != N1;
        assert_eq!(claims_reading(&m, Some(&others)), []);
        // The whole pass finds the string and the map (the list is broken).
        assert_eq!(
            claims(&m),
            [
                (TEXT, Pattern::StringData),
                (ROOT, Pattern::MapNode),
                (LEFT, Pattern::MapNode)
            ]
        );
    }

    /// Read one word at a time (a batch's claims past its bound), the same claims.
    #[test]
    fn read_in_order_the_claims_are_the_same() {
        let m = image();
        let blocks = BLOCKS.map(|(address, size)| Block { address, size });
        let directory = crate::scan::Directory::new(&blocks);
        let mut typed = Bits::new(BLOCKS.len());
        let mut batch = Batch::default();
        containers_ranges(&m, &blocks, None, |s, e| batch.pieces.push((s, e)));
        let mut found = Vec::new();
        batch.run_in_order(&m, &blocks, &directory, &mut typed, &mut |i, p| {
            found.push((blocks[i].address, p))
        });
        found.sort_by_key(|&(a, _)| a);
        assert_eq!(found, claims(&m));
        assert_eq!(found.len(), BLOCKS.len());
    }

    #[test]
    fn patterns_are_indexed_in_order() {
        for (k, p) in Pattern::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), k, "{p:?}");
        }
    }

    #[test]
    fn a_c_program_has_no_containers() {
        let mut m = image();
        m.symbols.clear();
        assert_eq!(claims(&m), []);
    }
}
