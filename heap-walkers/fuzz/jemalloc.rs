// The body of the `jemalloc` fuzz target and its seed, shared with
// heap-walkers/tests/jemalloc_synthetic.rs (both `include!` this file, so the regression
// tests run exactly what the fuzzer runs).
//
// The seed is a jemalloc 5.3.0 heap built by hand on x86_64 Linux: one arena with one slab
// of 32-byte regions, two large extents, five dirty pages, and the extent map pointing at
// the slab. Its struct layout is given as DWARF would give it (`MemoryImage`'s offsets and
// sizes), written here from jemalloc 5.3.0's headers in `include/jemalloc/internal/`
// (arena_structs.h, arena_stats.h, pa.h, pac.h, ecache.h, eset.h, decay.h, edata_cache.h, rtree.h,
// base.h, bin.h, bin_stats.h, bin_info.h, cache_bin.h, tcache_structs.h; offsets as GCC
// lays them out for a stats, non-debug build) — not from the walker's own tables.

use core_reader::MemoryImage;

/// `struct member=offset …` per line, then `sizeof` lines: jemalloc 5.3.0 x86_64.
const OFFSETS_5_3_0: &str = "
arena_s nthreads=0 stats=24 cache_bin_array_descriptor_ql=10400 dss_prec=10520 pa_shard=10648 ind=78928 base=78936 create_time=78944 bins=78952
arena_stats_s internal=32 pa_shard_stats=88 lstats=952
arena_stats_large_s nmalloc=0 ndalloc=8 nrequests=16 nfills=24 nflushes=32
pa_shard_stats_s pac_stats=8
pac_stats_s decay_dirty=0 decay_muzzy=24 pac_mapped=56 abandoned_vm=64
pac_decay_stats_s npurge=0 nmadvise=8 purged=16
pa_shard_s nactive=8 pac=24 edata_cache=68096 ind=68240 emap=68264
pac_s ecache_dirty=56 ecache_muzzy=19496 ecache_retained=38936 decay_dirty=58648 decay_muzzy=60432 stats=62224
ecache_s eset=112 guarded_eset=9768 state=19424 ind=19428
eset_s bin_stats=6432 npages=9640 state=9648
eset_bin_stats_s nextents=0 nbytes=8
decay_s time_ms=120 epoch=136
edata_cache_s count=16
base_s allocated=3880 resident=3888 mapped=3896 n_thp=3904
bin_s stats=112
bin_stats_s nmalloc=0 ndalloc=8 nrequests=16 curregs=24 nfills=32 nflushes=40 nslabs=48 reslabs=56 curslabs=64 nonfull_slabs=72
bin_info_s reg_size=0 slab_size=8 nregs=16 n_shards=20
cache_bin_array_descriptor_s link=0 bins=16
cache_bin_s stack_head=0 low_bits_full=18 low_bits_empty=20
cache_bin_info_s ncached_max=0
tcache_s bins=8
rtree_s root=120
sizeof arena_stats_large_s=48 eset_bin_stats_s=16 bin_s=224 bin_info_s=40 cache_bin_s=24 cache_bin_info_s=2 tcache_s=1760
";

/// Where the seed puts things.
const ARENAS: u64 = 0x10_0000;
const NARENAS_TOTAL: u64 = 0x10_8000;
const INDEX2SIZE: u64 = 0x11_0000;
const BIN_INFOS: u64 = 0x12_0000;
const BASE: u64 = 0x13_0000;
const EMAP: u64 = 0x80_0000;
const LEAF: u64 = 0x40_0000;
const EDATA: u64 = 0x17_0000;
const SLAB: u64 = 0x20_0000;
const ARENA: u64 = 0x100_0000;

/// jemalloc 5.3's size classes for 4 KiB pages, 16-byte quantum (sc.c `size_classes`):
/// 8, then 16 to 64 by 16, then four classes per doubling up to `2^62 + 3 * 2^60`.
fn size_classes() -> Vec<u64> {
    let mut v = vec![8, 16, 32, 48, 64];
    for lg in 6..63u32 {
        let base = 1u64 << lg;
        for k in 1..=4 {
            let s = base + k * (base / 4);
            v.push(s);
            if s == 0x7000_0000_0000_0000 {
                return v;
            }
        }
    }
    v
}

fn put(bytes: &mut [u8], at: u64, v: u64) {
    bytes[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
}

fn put32(bytes: &mut [u8], at: u64, v: u32) {
    bytes[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
}

/// The seed heap.
fn seed_image() -> MemoryImage {
    seed_heap(Globals::Kept)
}

/// Where jemalloc's globals (its `.data` and `.bss`: the arenas array, the size-class
/// tables, the extent map's root) are in a seed.
#[derive(Clone, Copy, PartialEq)]
enum Globals {
    /// In memory, found by symbol.
    Kept,
    /// Lost with a truncated core's tail: no symbols, and the library's writable mapping
    /// (at [`LIB_DATA`]) not in the core. The arenas, its base and the extent map's leaves
    /// (jemalloc's own mappings) are still there.
    Lost,
}

/// Where the seed of [`Globals::Lost`] maps libjemalloc's writable data.
const LIB_DATA: u64 = 0x7000_0000;

/// The seed heap, with its globals or without.
fn seed_heap(globals: Globals) -> MemoryImage {
    let mut img = MemoryImage::new();
    let off = |s: &str, m: &str| -> u64 {
        OFFSETS_5_3_0
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(s)).then(|| {
                    w.find_map(|kv| kv.strip_prefix(&format!("{m}=")).map(|n| n.parse().unwrap()))
                })?
            })
            .unwrap_or_else(|| panic!("{s}.{m}"))
    };
    for line in OFFSETS_5_3_0.lines().filter(|l| !l.trim().is_empty()) {
        let mut w = line.split_whitespace();
        let s = w.next().unwrap_or_default().to_string();
        for kv in w {
            let (m, n) = kv.split_once('=').expect("member=offset");
            let n: u64 = n.parse().expect("a number");
            if s == "sizeof" {
                img.sizes.insert(m.to_string(), n);
            } else {
                img.offsets.insert((s.clone(), m.to_string()), n);
            }
        }
    }
    let kept = globals == Globals::Kept;
    for (name, at) in [
        ("je_arenas", ARENAS),
        ("je_bin_infos", BIN_INFOS),
        ("je_sz_index2size_tab", INDEX2SIZE),
        ("je_arena_emap_global", EMAP),
        ("narenas_total", NARENAS_TOTAL),
    ]
    .into_iter()
    .filter(|_| kept)
    {
        img.symbols.insert(name.to_string(), at);
    }
    if !kept {
        let path = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2".to_string();
        img.mappings.push(core_reader::Mapping {
            start: LIB_DATA,
            end: LIB_DATA + 0x1000,
            perms: "rw-p".into(),
            offset: 0,
            path: Some(path.clone()),
            build_id: None,
            dumped: 0,
        });
        img.modules.push(core_reader::Module {
            path,
            start: LIB_DATA,
            end: LIB_DATA + 0x1000,
            bias: core_reader::LoadBias(LIB_DATA),
            build_id: None,
            file: None,
            debug_file: None,
            debug_file_source: None,
            is_main: false,
            memory_image: None,
            data_segments: Vec::new(),
        });
        img.truncated = true;
    }

    let classes = size_classes();
    let mut table = vec![0u8; classes.len() * 8];
    for (i, s) in classes.iter().enumerate() {
        put(&mut table, i as u64 * 8, *s);
    }
    if kept {
        img.add(INDEX2SIZE, table);
    }
    // The 36 small classes (up to 14 KiB), each in one shard, slabs of at least a page.
    let nbins = 36;
    let mut infos = vec![0u8; nbins * 40];
    for (i, &size) in classes[..nbins].iter().enumerate() {
        let slab = size.max(4096).next_multiple_of(4096);
        let at = i as u64 * 40;
        put(&mut infos, at, size);
        put(&mut infos, at + 8, slab);
        put32(&mut infos, at + 16, (slab / size) as u32);
        put32(&mut infos, at + 20, 1);
    }
    let mut arenas = vec![0u8; 2 * 8];
    put(&mut arenas, 0, ARENA);
    if kept {
        img.add(BIN_INFOS, infos);
        img.add(ARENAS, arenas);
        img.add(NARENAS_TOTAL, 2u32.to_le_bytes().to_vec());
    }
    let mut base = vec![0u8; 4096];
    put(&mut base, off("base_s", "allocated"), 8192);
    put(&mut base, off("base_s", "resident"), 8192);
    put(&mut base, off("base_s", "mapped"), 65536);
    img.add(BASE, base);

    // The arena: its bins end the struct.
    let bin_size = 224;
    let mut a = vec![0u8; (off("arena_s", "bins") + nbins as u64 * bin_size) as usize];
    let shard = off("arena_s", "pa_shard");
    let pac = shard + off("pa_shard_s", "pac");
    let stats = off("arena_s", "stats");
    let pac_stats = stats + off("arena_stats_s", "pa_shard_stats") + off("pa_shard_stats_s", "pac_stats");
    put32(&mut a, off("arena_s", "nthreads"), 1);
    put32(&mut a, off("arena_s", "ind"), 0);
    put32(&mut a, shard + off("pa_shard_s", "ind"), 0);
    put(&mut a, shard + off("pa_shard_s", "nactive"), 9);
    put(&mut a, shard + off("pa_shard_s", "emap"), EMAP);
    put(&mut a, pac + off("pac_s", "stats"), ARENA + pac_stats);
    put(&mut a, pac_stats + off("pac_stats_s", "pac_mapped"), 1 << 21);
    put(&mut a, off("arena_s", "base"), BASE);
    put(&mut a, pac + off("pac_s", "decay_dirty") + off("decay_s", "time_ms"), 10_000);
    put(&mut a, pac + off("pac_s", "decay_muzzy") + off("decay_s", "time_ms"), 0);
    for (cache, state) in [("ecache_dirty", 1u32), ("ecache_muzzy", 2), ("ecache_retained", 3)] {
        let e = pac + off("pac_s", cache);
        put32(&mut a, e + off("ecache_s", "state"), state);
        put32(&mut a, e + off("ecache_s", "ind"), 0);
        for set in ["eset", "guarded_eset"] {
            put32(&mut a, e + off("ecache_s", set) + off("eset_s", "state"), state);
        }
    }
    // Five dirty pages in one extent: page-size class 4 (4, 8, 12, 16, 20 KiB).
    let dirty = pac + off("pac_s", "ecache_dirty") + off("ecache_s", "eset");
    put(&mut a, dirty + off("eset_s", "npages"), 5);
    let class4 = dirty + off("eset_s", "bin_stats") + 4 * 16;
    put(&mut a, class4 + off("eset_bin_stats_s", "nextents"), 1);
    put(&mut a, class4 + off("eset_bin_stats_s", "nbytes"), 5 * 4096);
    // Bin 2 (32-byte regions): one slab, six regions in use.
    let bin2 = off("arena_s", "bins") + 2 * bin_size + off("bin_s", "stats");
    for (m, v) in [("nmalloc", 10), ("ndalloc", 4), ("curregs", 6), ("nslabs", 1), ("curslabs", 1)] {
        put(&mut a, bin2 + off("bin_stats_s", m), v);
    }
    // Two live extents of the first large class (16 KiB).
    let l0 = stats + off("arena_stats_s", "lstats");
    put(&mut a, l0 + off("arena_stats_large_s", "nmalloc"), 3);
    put(&mut a, l0 + off("arena_stats_large_s", "ndalloc"), 1);
    img.add(ARENA, a);

    // The extent map (rtree.h): the root's first leaf maps the low 1 GiB; the slab's page
    // points at its edata_t (edata.h: e_bits with arena 0, slab, state active, szind 2,
    // nfree 122; e_addr; e_size_esn; the slab bitmap, set bits free).
    // Two levels of 2^18 entries (rtree.h, LG_VADDR 48 and 4 KiB pages), all in memory.
    let mut root = vec![0u8; 120 + (8 << 18)];
    put(&mut root, 120, LEAF);
    if kept {
        img.add(EMAP, root);
    }
    let mut leaf = vec![0u8; 8 << 18];
    put(&mut leaf, (SLAB >> 12) * 8, EDATA);
    img.add(LEAF, leaf);
    let mut edata = vec![0u8; 128];
    let szind_width = 8; // LG_CEIL(SC_NSIZES = 232)
    let e_bits = 1u64 << 12 | 2 << 20 | 122 << (20 + szind_width);
    put(&mut edata, 0, e_bits);
    put(&mut edata, 8, SLAB);
    put(&mut edata, 16, 4096);
    put(&mut edata, 64, !0x3f);
    put(&mut edata, 72, !0);
    img.add(EDATA, edata);
    img
}

include!("patch.rs");

/// The seeds, each built once (the extent map is megabytes).
static SEED: LazyLock<Mutex<MemoryImage>> = LazyLock::new(|| Mutex::new(seed_image()));
static SEED_LOST: LazyLock<Mutex<MemoryImage>> =
    LazyLock::new(|| Mutex::new(seed_heap(Globals::Lost)));

/// Mutates a seed with `data` (8-byte patches: where, as a position in the seed's bytes,
/// then four bytes to write there) and runs every part of the walk: listing allocations,
/// the neutral summary, the "J" document, the text view and the findings. None may panic.
/// An input whose length is a multiple of 8 patches the seed with jemalloc's globals; any
/// other, the seed that lost them (a truncated core's: the arenas found by content).
pub fn exercise(data: &[u8]) {
    let seed = if data.len().is_multiple_of(8) { &SEED } else { &SEED_LOST };
    let mut image = Patched::new(seed);
    let total: usize = image.regions().iter().map(|(_, b)| b.len()).sum();
    for patch in data.chunks_exact(8) {
        let mut pos = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize % total;
        let Some(start) = image.regions().iter().find_map(|(start, b)| {
            let here = pos < b.len();
            if !here {
                pos -= b.len();
            }
            here.then_some(*start)
        }) else {
            continue;
        };
        image.write(start, pos, &patch[4..]);
    }
    let image = &*image;
    let options = heap_walkers::jemalloc::Options { allocations: true };
    if let Ok(heap) = heap_walkers::jemalloc::walk_with(image, &options) {
        let summary = heap.summary();
        let _ = serde_json::to_string(&summary);
        // Building the document runs every serializer of ours; writing the finished
        // `Value` out is serde_json's alone and cost a fifth of each input.
        let _ = heap.to_stats_json();
        let _ = heap.write_text(&mut std::io::sink());
        let _ = heap.findings();
    }
}
