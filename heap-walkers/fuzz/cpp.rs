// The body of the `types` and `leaks` fuzz targets, shared with
// heap-walkers/tests/cpp_synthetic.rs (both `include!` this file, so the regression tests run
// exactly what the fuzzer runs).
//
// The seed is a small C++ process put together by hand in a `MemoryImage`, allocator-neutral
// (the passes take the allocations as blocks, whichever walker listed them): an executable
// whose read-only data holds two classes' vtables with their type_info and mangled names
// (Itanium C++ ABI §2.5.2, §2.9.5), libstdc++ mapped, globals in the executable's data holding
// one of each container the pattern pass knows, laid out as libstdc++ (GCC 5 and later, the
// C++11 string ABI) declares them — `std::string`, `std::vector`, `std::list`, `std::map`,
// `std::unordered_map`, `std::deque` — two objects of the classes, each holding a member
// container, and leaks of each kind: a cycle (direct), a chain (direct then indirect) and a
// block reached only through a pointer into its middle (possibly lost). The layouts are
// written out below from libstdc++'s headers, never from the pattern pass's code.

use core_reader::{Arch, MemoryImage, Registers, ThreadNote};
use heap_walkers::explain::Explainer;
use heap_walkers::leaks::{self, RootKind, RootRange, Roots};
use heap_walkers::refs::{Anchors, References, Via};
use heap_walkers::types::{self, TypeIndex, Types};
use heap_walkers::{Allocation, AllocationState, Allocations};

/// Where the seed puts things.
mod cpp_seed {
    /// The executable's read-only data: vtables, type_info objects, their names.
    pub const APP_RO: u64 = 0x40_0000;
    pub const APP_RO_SIZE: u64 = 0x1000;
    /// `app::Session`'s vtable (offset-to-top, type_info, then the address point) and
    /// `app::Cache`'s.
    pub const SESSION_VTABLE: u64 = APP_RO + 0x10;
    pub const CACHE_VTABLE: u64 = APP_RO + 0x50;
    pub const SESSION_TYPEINFO: u64 = APP_RO + 0x100;
    pub const CACHE_TYPEINFO: u64 = APP_RO + 0x120;
    pub const SESSION_NAME: u64 = APP_RO + 0x200;
    pub const CACHE_NAME: u64 = APP_RO + 0x220;
    /// `__cxxabiv1::__class_type_info`'s vtable address point, in libstdc++.
    pub const CLASS_TYPE_INFO_VTABLE: u64 = LIBSTDCXX + 0x10;
    /// libstdc++'s text.
    pub const LIBSTDCXX: u64 = 0x7f10_0000_0000;
    pub const LIBSTDCXX_SIZE: u64 = 0x1000;
    /// The executable's data: the globals.
    pub const APP_DATA: u64 = 0x60_1000;
    pub const APP_DATA_SIZE: u64 = 0x1000;
    pub const G_STRING: u64 = APP_DATA; // 32 bytes
    pub const G_VECTOR: u64 = APP_DATA + 0x20; // 24
    pub const G_LIST: u64 = APP_DATA + 0x40; // 24
    pub const G_MAP: u64 = APP_DATA + 0x60; // 48
    pub const G_HASH: u64 = APP_DATA + 0xa0; // 56
    pub const G_DEQUE: u64 = APP_DATA + 0x100; // 80
    pub const G_SESSION: u64 = APP_DATA + 0x160; // Session*, then Cache*
    /// The heap: blocks 16 bytes apart (room for a chunk header), from here up.
    pub const HEAP: u64 = 0x5555_5556_0000;
    pub const HEAP_SIZE: u64 = 0x2000;
    /// The thread's stack.
    pub const STACK: u64 = 0x7ffd_0000_0000;
    pub const STACK_SIZE: u64 = 0x2000;
    pub const SP: u64 = STACK + 0x1000;
}

include!("bytes.rs");

impl Bytes {
    fn words(&mut self, at: u64, ws: &[u64]) {
        for (k, &w) in ws.iter().enumerate() {
            self.u64(at + 8 * k as u64, w);
        }
    }
}

/// The seed: its image, its blocks (sorted by address) and its roots.
struct CppSeed {
    image: MemoryImage,
    blocks: Vec<leaks::Block>,
}

/// Hands out heap blocks in address order, 16 bytes apart as glibc's chunk headers keep them.
struct Bump {
    next: u64,
    blocks: Vec<leaks::Block>,
}

impl Bump {
    fn alloc(&mut self, size: u64) -> u64 {
        let address = self.next + 16;
        self.blocks.push(leaks::Block { address, size });
        self.next = address + size.div_ceil(16) * 16;
        address
    }
}

fn cpp_seed() -> CppSeed {
    use cpp_seed::*;
    let mut image = MemoryImage::new();
    let mut heap = Bytes::new(HEAP, HEAP_SIZE);
    let mut data = Bytes::new(APP_DATA, APP_DATA_SIZE);
    let mut bump = Bump {
        next: HEAP,
        blocks: Vec::new(),
    };

    // class Session { virtual ~Session(); std::string name; };    48 bytes with its vptr
    // class Cache { virtual ~Cache(); std::vector<long> keys; };  32 bytes
    let session = bump.alloc(40);
    let session_name = bump.alloc(40);
    let cache = bump.alloc(40);
    let cache_keys = bump.alloc(56);
    // std::string: `_M_p`, `_M_string_length`, then `_M_allocated_capacity` (a heap text of
    // 20 characters, capacity 30, NUL-terminated).
    heap.words(session, &[SESSION_VTABLE, session_name, 20, 30]);
    heap.put(session_name, b"a session's own name\0");
    // std::vector: `_M_start`, `_M_finish`, `_M_end_of_storage` (5 of 7 longs used).
    heap.words(cache, &[CACHE_VTABLE, cache_keys, cache_keys + 40, cache_keys + 56]);
    heap.words(cache_keys, &[1, 2, 3, 4, 5]);
    data.words(G_SESSION, &[session, cache]);

    // A global std::string of 24 characters, capacity 31.
    let text = bump.alloc(40);
    heap.put(text, b"a global string of 24 ch\0");
    data.words(G_STRING, &[text, 24, 31]);
    // A global std::vector<int> of 6, capacity 8.
    let ints = bump.alloc(40);
    data.words(G_VECTOR, &[ints, ints + 24, ints + 32]);

    // std::list<long> of three: the header {`_M_next`, `_M_prev`, `_M_size`} in the global,
    // each node {`_M_next`, `_M_prev`, value}.
    let nodes = [bump.alloc(24), bump.alloc(24), bump.alloc(24)];
    data.words(G_LIST, &[nodes[0], nodes[2], 3]);
    for (k, &n) in nodes.iter().enumerate() {
        let next = nodes.get(k + 1).copied().unwrap_or(G_LIST);
        let prev = if k == 0 { G_LIST } else { nodes[k - 1] };
        heap.words(n, &[next, prev, 100 + k as u64]);
    }

    // std::map<long, long> of three: `_M_key_compare` (empty, 8 bytes), then the header
    // {`_M_color` red 0, `_M_parent` the root, `_M_left` leftmost, `_M_right` rightmost},
    // `_M_node_count`; each node {`_M_color`, `_M_parent`, `_M_left`, `_M_right`, key, value}.
    let header = G_MAP + 8;
    let (left, root, right) = (bump.alloc(56), bump.alloc(56), bump.alloc(56));
    data.words(G_MAP, &[0, 0, root, left, right, 3]);
    heap.words(root, &[1, header, left, right, 2, 20]); // black
    heap.words(left, &[0, root, 0, 0, 1, 10]);
    heap.words(right, &[0, root, 0, 0, 3, 30]);

    // std::unordered_map<long, long> of two in 4 buckets: `_M_buckets`,
    // `_M_bucket_count`, `_M_before_begin._M_nxt`, `_M_element_count`, `_M_rehash_policy`
    // {`_M_max_load_factor` 1.0f, `_M_next_resize`}, `_M_single_bucket`. Nodes {`_M_nxt`,
    // key, value}; a bucket points to the node before its first: the list head for the first.
    let buckets = bump.alloc(40);
    let (h1, h2) = (bump.alloc(24), bump.alloc(24));
    data.words(G_HASH, &[buckets, 4, h1, 2, 1.0f32.to_bits() as u64, 4, 0]);
    heap.words(h1, &[h2, 1, 11]);
    heap.words(h2, &[0, 2, 22]);
    heap.words(buckets, &[0, G_HASH + 16, 0, h1]);

    // std::deque<long> over two blocks of 8 longs: `_M_map`, `_M_map_size` (8), then the
    // `_M_start` and `_M_finish` iterators {`_M_cur`, `_M_first`, `_M_last`, `_M_node`}.
    let map = bump.alloc(72);
    let (d1, d2) = (bump.alloc(72), bump.alloc(72));
    heap.words(map + 24, &[d1, d2]);
    data.words(
        G_DEQUE,
        &[map, 8, d1 + 16, d1, d1 + 64, map + 24, d2 + 8, d2, d2 + 64, map + 32],
    );

    // Leaks. A cycle nothing else points to: valgrind calls the first block of the cycle
    // (in address order) definitely lost and the other indirectly lost.
    let (c1, c2) = (bump.alloc(24), bump.alloc(24));
    heap.words(c1, &[c2]);
    heap.words(c2, &[c1]);
    // A chain: the first lost directly, the one it points to indirectly.
    let (l1, l2) = (bump.alloc(40), bump.alloc(88));
    heap.words(l1, &[l2]);
    // A block the stack points into the middle of: possibly lost.
    let inner = bump.alloc(104);

    // The stack: the Session again (a local), and the interior pointer.
    let mut stack = Bytes::new(STACK, STACK_SIZE);
    stack.words(SP + 0x10, &[session, inner + 32]);

    // The executable's vtables: [offset-to-top 0][type_info*] then the address point with
    // one virtual function pointer; each type_info {its own vtable pointer, name pointer}.
    let mut ro = Bytes::new(APP_RO, APP_RO_SIZE);
    ro.words(SESSION_VTABLE - 16, &[0, SESSION_TYPEINFO, APP_RO + 0x800]);
    ro.words(CACHE_VTABLE - 16, &[0, CACHE_TYPEINFO, APP_RO + 0x840]);
    ro.words(SESSION_TYPEINFO, &[CLASS_TYPE_INFO_VTABLE, SESSION_NAME]);
    ro.words(CACHE_TYPEINFO, &[CLASS_TYPE_INFO_VTABLE, CACHE_NAME]);
    ro.put(SESSION_NAME, b"N3app7SessionE\0");
    ro.put(CACHE_NAME, b"N3app5CacheE\0");

    image.add(APP_RO, ro.b);
    image.add(APP_DATA, data.b);
    image.add(HEAP, heap.b);
    image.add(LIBSTDCXX, vec![0xcc; LIBSTDCXX_SIZE as usize]);
    image.add(STACK, stack.b);
    for m in image.mappings.iter_mut() {
        match m.start {
            APP_RO => {
                m.perms = "r--".into();
                m.path = Some("/usr/bin/app".into());
            }
            APP_DATA => m.path = Some("/usr/bin/app".into()),
            LIBSTDCXX => {
                m.perms = "r-x".into();
                m.path = Some("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30".into());
            }
            _ => {}
        }
    }
    image.threads.push(ThreadNote {
        tid: 4242,
        signal: 11,
        registers: Registers::new(
            Arch::X86_64,
            vec![("rsp", SP), ("rip", APP_RO + 0x900), ("rdi", cache)],
        ),
        name: None,
    });
    CppSeed {
        image,
        blocks: bump.blocks,
    }
}

/// The roots of the seed, as `leaks::glibc_roots` would take them: registers, the stack from
/// its stack pointer, the executable's data.
fn cpp_roots(image: &MemoryImage) -> Roots {
    use cpp_seed::*;
    Roots {
        registers: image
            .threads
            .iter()
            .flat_map(|t| t.registers.iter().map(|(_, v)| v))
            .collect(),
        ranges: vec![
            RootRange {
                start: SP,
                end: STACK + STACK_SIZE,
                kind: RootKind::Stack,
            },
            RootRange {
                start: APP_DATA,
                end: APP_DATA + APP_DATA_SIZE,
                kind: RootKind::Static,
            },
        ],
        ..Roots::default()
    }
}

include!("patch.rs");

/// The seed, built once: its image as it is and with libstdc++'s mapping nameless (flag bit
/// 0), and its blocks.
struct CppSeeds {
    images: [Mutex<MemoryImage>; 2],
    blocks: Vec<leaks::Block>,
}

static CPP_SEEDS: LazyLock<CppSeeds> = LazyLock::new(|| {
    let CppSeed { image, blocks } = cpp_seed();
    let mut nameless = image.clone();
    for m in nameless.mappings.iter_mut() {
        m.path = m.path.take().filter(|p| !p.contains("libstdc++"));
    }
    CppSeeds {
        images: [Mutex::new(image), Mutex::new(nameless)],
        blocks,
    }
});

/// Applies the fuzz input to the seed: the first byte is a set of flags (bit 0: drop the
/// libstdc++ mapping's name, so the pattern pass must find the runtime otherwise), the rest
/// a list of patches `[region, offset (4 bytes LE), length, bytes…]`, each writing up to 16
/// bytes into a memory region of the image or (the region after the last) into the block
/// table, 16 bytes a block (address, size; LE): the passes get whatever allocations a
/// damaged walk could list, overlapping, huge or outside memory. Returns the image (the
/// shared seed, patched until it is dropped), its allocations (sorted, distinct starts, as
/// every walker lists them) and the flags byte.
fn cpp_patched(data: &[u8]) -> Option<(Patched<'static>, Allocations, u8)> {
    let (&flags, mut rest) = data.split_first()?;
    let seeds = &*CPP_SEEDS;
    let mut image = Patched::new(&seeds.images[usize::from(flags & 1)]);
    let mut table: Vec<u8> = seeds
        .blocks
        .iter()
        .flat_map(|b| [b.address.to_le_bytes(), b.size.to_le_bytes()])
        .flatten()
        .collect();
    let regions = image.regions().len();
    while let [region, o0, o1, o2, o3, len, tail @ ..] = rest {
        let n = (*len as usize % 16 + 1).min(tail.len());
        let offset = u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize;
        let start = image.regions().get(*region as usize % (regions + 1)).map(|r| r.0);
        match start {
            Some(start) => image.write(start, offset, &tail[..n]),
            None => {
                let at = offset % table.len();
                let end = (at + n).min(table.len());
                table[at..end].copy_from_slice(&tail[..end - at]);
            }
        }
        rest = &tail[n..];
    }
    let mut list: Vec<Allocation> = table
        .chunks_exact(16)
        .map(|b| Allocation {
            address: u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            size: u64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
            arena: 0,
            state: AllocationState::Used,
            flags: 0,
        })
        .collect();
    list.sort_unstable_by_key(|a| a.address);
    list.dedup_by_key(|a| a.address);
    Some((image, Allocations::new(list), flags))
}

/// The type and reference passes: types by vtable and pattern, `heap --by type` rendered,
/// the references both ways, anchors with and without interior pointers and every
/// block's chain, and `explain` of every block, by an address at its start, inside it or
/// past its end. None may panic, whatever the bytes.
pub fn exercise_types(data: &[u8]) {
    let Some((image, allocations, _)) = cpp_patched(data) else {
        return;
    };
    let image = &*image;
    let index = TypeIndex::infer(image, &allocations);
    let rows = index.rows();
    let mut sink = Vec::new();
    types::write_types_text(&mut sink, &rows, 10).expect("types text");
    serde_json::to_writer(&mut sink, &rows).expect("types json");
    let refs = References::new(leaks::blocks(&allocations));
    let n = refs.blocks().len();
    let typed = Types::infer(image, refs.blocks());
    assert!(typed.recognized() <= n);
    let roots = cpp_roots(image);
    // Each block's pointers in, counted once (each count scans every block).
    let counts: Vec<usize> = (0..n)
        .map(|i| {
            let (count, incoming) = refs.incoming(image, i, 4);
            assert!(incoming.len() <= count.min(4), "more pointers listed than counted");
            for e in refs.outgoing(image, i).iter().chain(&incoming) {
                assert!((e.other as usize) < n, "an edge leaves the graph");
            }
            count
        })
        .collect();
    for interior in [false, true] {
        let anchors = Anchors::build(image, &refs, &roots, interior);
        for (i, &count) in counts.iter().enumerate() {
            if let Some(chain) = anchors.chain(image, &refs, i) {
                assert!(chain.links.len() <= n, "a chain longer than the graph");
            }
            if count == 0 {
                let root = Anchors::root_of(image, &refs, &roots, interior, i);
                let via = Some(anchors.via(i)).filter(|&v| v != Via::Unreached);
                assert_eq!(root, via, "the root of an allocation nothing points into");
            }
        }
    }
    // Each block explained once, by its start, its middle or its end in turn: each explain
    // scans every block for the pointers in, and three of the same block cost three scans.
    let explainer = Explainer::new(image, allocations.clone(), &roots);
    for (k, a) in allocations.iter().take(64).enumerate() {
        let at = [a.address, a.address.wrapping_add(a.size / 2), a.end()][k % 3];
        if let Ok(e) = explainer.explain(at) {
            e.write_text(&mut sink).expect("explain text");
            e.write_json(&mut sink).expect("explain json");
        }
    }
}

/// The leak finder over the seed's allocations and roots, with and without the types it
/// names groups by, rendered both ways. Must not panic, whatever the bytes.
pub fn exercise_leaks(data: &[u8]) {
    let Some((image, allocations, flags)) = cpp_patched(data) else {
        return;
    };
    let image = &*image;
    let roots = cpp_roots(image);
    let index = (flags & 2 != 0).then(|| TypeIndex::infer(image, &allocations));
    let report = leaks::find_leaks_with_sites(
        image,
        leaks::blocks(&allocations),
        &roots,
        None,
        index.as_ref(),
        false,
    );
    let mut sink = Vec::new();
    report.write_text(&mut sink, 10).expect("leak text");
    report.write_json(&mut sink, "glibc").expect("leak json");
}
