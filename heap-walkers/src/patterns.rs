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

use crate::scan::{self, Block, Directory};

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
/// more blocks than 32-bit indices count has none recognized (it would not fit in memory).
pub(crate) fn recognize(
    target: &dyn Target,
    blocks: &[Block],
    directory: &Directory,
    typed: &mut Typed,
    found: &mut dyn FnMut(usize, Pattern),
) {
    if blocks.is_empty() || u32::try_from(blocks.len()).is_err() || !has_cpp_runtime(target) {
        return;
    }
    let cursor = scan::Cursor::new(target);
    let mut r = Recognizer {
        memory: &cursor,
        blocks,
        directory,
        typed,
        found,
    };
    containers_ranges(target, blocks, |start, end| {
        scan::scan(&cursor, start, end, |at, w| r.at(at, w));
    });
}

/// Calls `f(start, end)` for every range where container objects may be, in address order:
/// every writable mapping, less the C library's own data; in a mapping that holds
/// allocations, only the allocations (what lies between them is free memory or the
/// allocator's). One range a block: never gathered in a list (16 bytes a block).
fn containers_ranges(target: &dyn Target, blocks: &[Block], mut f: impl FnMut(u64, u64)) {
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
        for b in inside {
            any = true;
            f(b.address, b.address.saturating_add(b.size).min(m.end));
        }
        if !any {
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

struct Recognizer<'a> {
    memory: &'a scan::Cursor<'a>,
    blocks: &'a [Block],
    directory: &'a Directory,
    typed: &'a mut Typed,
    found: &'a mut dyn FnMut(usize, Pattern),
}

/// Which blocks have a type, one bit a block (a byte each was a twentieth of a leak check's
/// memory).
pub(crate) struct Typed(Vec<u64>);

impl Typed {
    /// `n` blocks, block `i` typed where `typed(i)`.
    pub(crate) fn new(n: usize, typed: impl Fn(usize) -> bool) -> Typed {
        let mut bits = Typed(vec![0; n.div_ceil(64)]);
        for i in (0..n).filter(|&i| typed(i)) {
            bits.set(i);
        }
        bits
    }

    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
}

impl Recognizer<'_> {
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

    fn claim(&mut self, i: usize, p: Pattern) {
        if !self.typed.get(i) {
            self.typed.set(i);
            (self.found)(i, p);
        }
    }

    /// The word `w` at `at`: when it points at the start of an untyped allocation, is `at`
    /// (or the word before it, for a tree's header) a container owning it?
    fn at(&mut self, at: u64, w: u64) {
        let Some(i) = self.start(w) else { return };
        if self.typed.get(i) {
            return;
        }
        let _ = self.deque(at, i)
            || self.hashtable(at, i)
            || at.checked_sub(8).is_some_and(|h| self.tree(h, i))
            || self.list(at, i)
            || self.vector(at, i)
            || self.string(at, i);
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
            self.claim(i, Pattern::StringData);
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
            self.claim(i, Pattern::VectorData);
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
        // Block indices, in 32 bits (as the leak check's work list): a list may hold a
        // quarter of a heap's blocks.
        let mut nodes: Vec<u32> = Vec::new();
        let (mut prev, mut node) = (header, self.blocks[first].address);
        while node != header {
            match self.start(node) {
                Some(n) if nodes.len() < size as usize && self.word(node + 8) == Some(prev) => {
                    nodes.push(n as u32)
                }
                _ => return false,
            }
            prev = node;
            let Some(next) = self.word(node) else {
                return false;
            };
            node = next;
        }
        if nodes.len() as u64 != size || prev != last {
            return false;
        }
        for n in nodes {
            self.claim(n as usize, Pattern::ListNode);
        }
        true
    }

    fn tree(&mut self, header: u64, root: usize) -> bool {
        let words: Option<Vec<u64>> = (0..5).map(|k| self.word(header + 8 * k)).collect();
        let Some(&[color, _, leftmost, rightmost, count]) = words.as_deref() else {
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
        // Block indices in 32 bits, as a list's.
        let mut nodes: Vec<u32> = vec![root as u32];
        let mut k = 0;
        while k < nodes.len() {
            let at = self.blocks[nodes[k] as usize].address;
            k += 1;
            if self.word(at).is_none_or(|c| c as u32 > 1) {
                return false;
            }
            for child in [self.word(at + 16), self.word(at + 24)] {
                match child {
                    Some(0) => {}
                    Some(c) => match self.start(c) {
                        // Sizes may differ, as a list's nodes may.
                        Some(n) if nodes.len() < count as usize && self.word(c + 8) == Some(at) => {
                            nodes.push(n as u32)
                        }
                        _ => return false,
                    },
                    None => return false,
                }
            }
        }
        if nodes.len() as u64 != count {
            return false;
        }
        for n in nodes {
            self.claim(n as usize, Pattern::MapNode);
        }
        true
    }

    fn hashtable(&mut self, at: u64, buckets: usize) -> bool {
        let words: Option<Vec<u64>> = (1..5).map(|k| self.word(at + 8 * k)).collect();
        let Some(&[bucket_count, first, count, policy]) = words.as_deref() else {
            return false;
        };
        let max_load = f32::from_bits(policy as u32);
        let b = self.blocks[buckets];
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
        self.claim(buckets, Pattern::HashBuckets);
        for n in nodes {
            self.claim(n, Pattern::HashNode);
        }
        true
    }

    fn deque(&mut self, at: u64, map: usize) -> bool {
        let words: Option<Vec<u64>> = (1..10).map(|k| self.word(at + 8 * k)).collect();
        let Some(&[map_size, s_cur, s_first, s_last, s_node, f_cur, f_first, f_last, f_node]) =
            words.as_deref()
        else {
            return false;
        };
        let m = self.blocks[map];
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
        self.claim(map, Pattern::DequeMap);
        for n in parts {
            self.claim(n, Pattern::DequeBlock);
        }
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
        let blocks = BLOCKS.map(|(address, size)| Block { address, size });
        let mut typed = Typed::new(BLOCKS.len(), |_| false);
        let mut found = Vec::new();
        let directory = crate::scan::Directory::new(&blocks);
        recognize(m, &blocks, &directory, &mut typed, &mut |i, p| {
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

    #[test]
    fn a_c_program_has_no_containers() {
        let mut m = image();
        m.symbols.clear();
        assert_eq!(claims(&m), []);
    }
}
