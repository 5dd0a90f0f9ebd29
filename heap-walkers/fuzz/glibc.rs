// The body of the `glibc` fuzz target, shared with heap-walkers/tests/glibc_synthetic.rs
// (both `include!` this file, so the regression tests run exactly what the fuzzer runs).
//
// The seed is a small glibc 2.36 heap on x86_64 put together by hand in a `MemoryImage`:
// `main_arena` and `mp_` in libc's data, a brk heap with a tcache, chunks in use, one in a
// small bin, one in a fastbin, one in the tcache and the top, an mmapped chunk, and a thread
// whose stack and TLS point into the heap. Its bytes come from the struct declarations of
// glibc 2.36 (malloc/malloc.c, written out below with their offsets), never from the
// walker's own layout table, so the two cannot agree on a mistake.

use core_reader::{Arch, MemoryImage, Registers, ThreadNote};
use heap_walkers::{glibc, leaks};

/// glibc 2.36, x86_64 (LP64, `SIZE_SZ` 8, `MALLOC_ALIGNMENT` 16), malloc/malloc.c.
mod glibc_2_36 {
    // struct malloc_state {
    //   __libc_lock_define (, mutex);          int                        at 0
    //   int flags;                                                         at 4
    //   int have_fastchunks;                                               at 8
    //   mfastbinptr fastbinsY[NFASTBINS];      NFASTBINS = 10, 8 bytes each at 16
    //   mchunkptr top;                                                     at 96
    //   mchunkptr last_remainder;                                          at 104
    //   mchunkptr bins[NBINS * 2 - 2];         NBINS = 128: 254 pointers   at 112
    //   unsigned int binmap[BINMAPSIZE];       BINMAPSIZE = 4              at 2144
    //   struct malloc_state *next;                                         at 2160
    //   struct malloc_state *next_free;                                    at 2168
    //   INTERNAL_SIZE_T attached_threads;                                  at 2176
    //   INTERNAL_SIZE_T system_mem;                                        at 2184
    //   INTERNAL_SIZE_T max_system_mem;                                    at 2192
    // };                                                                   sizeof 2200
    pub const MS_FLAGS: u64 = 4;
    pub const MS_HAVE_FASTCHUNKS: u64 = 8;
    pub const MS_FASTBINS_Y: u64 = 16;
    pub const MS_TOP: u64 = 96;
    pub const MS_BINS: u64 = 112;
    pub const MS_NEXT: u64 = 2160;
    pub const MS_NEXT_FREE: u64 = 2168;
    pub const MS_ATTACHED_THREADS: u64 = 2176;
    pub const MS_SYSTEM_MEM: u64 = 2184;
    pub const MS_MAX_SYSTEM_MEM: u64 = 2192;
    pub const MS_SIZEOF: u64 = 2200;
    pub const NBINS: u64 = 128;

    // struct malloc_par (with HAVE_TUNABLES and USE_TCACHE, as distributions build it) {
    //   unsigned long trim_threshold;          at 0
    //   INTERNAL_SIZE_T top_pad;               at 8
    //   INTERNAL_SIZE_T mmap_threshold;        at 16
    //   INTERNAL_SIZE_T arena_test;            at 24
    //   INTERNAL_SIZE_T arena_max;             at 32
    //   size_t thp_pagesize;                   at 40
    //   INTERNAL_SIZE_T hp_pagesize;           at 48
    //   int hp_flags;                          at 56
    //   int n_mmaps;                           at 60
    //   int n_mmaps_max;                       at 64
    //   int max_n_mmaps;                       at 68
    //   int no_dyn_threshold;                  at 72
    //   INTERNAL_SIZE_T mmapped_mem;           at 80
    //   INTERNAL_SIZE_T max_mmapped_mem;       at 88
    //   char *sbrk_base;                       at 96
    //   size_t tcache_bins;                    at 104
    //   size_t tcache_max_bytes;               at 112
    //   size_t tcache_count;                   at 120
    //   size_t tcache_unsorted_limit;          at 128
    // };                                       sizeof 136
    pub const MP_TRIM_THRESHOLD: u64 = 0;
    pub const MP_TOP_PAD: u64 = 8;
    pub const MP_MMAP_THRESHOLD: u64 = 16;
    pub const MP_ARENA_TEST: u64 = 24;
    pub const MP_ARENA_MAX: u64 = 32;
    pub const MP_HP_PAGESIZE: u64 = 48;
    pub const MP_N_MMAPS: u64 = 60;
    pub const MP_N_MMAPS_MAX: u64 = 64;
    pub const MP_MAX_N_MMAPS: u64 = 68;
    pub const MP_MMAPPED_MEM: u64 = 80;
    pub const MP_MAX_MMAPPED_MEM: u64 = 88;
    pub const MP_SBRK_BASE: u64 = 96;
    pub const MP_TCACHE_BINS: u64 = 104;
    pub const MP_TCACHE_MAX_BYTES: u64 = 112;
    pub const MP_TCACHE_COUNT: u64 = 120;
    pub const MP_SIZEOF: u64 = 136;

    // typedef struct tcache_perthread_struct {
    //   uint16_t counts[TCACHE_MAX_BINS];      TCACHE_MAX_BINS = 64        at 0
    //   tcache_entry *entries[TCACHE_MAX_BINS];                            at 128
    // } tcache_perthread_struct;                                           sizeof 640
    pub const TC_COUNTS: u64 = 0;
    pub const TC_ENTRIES: u64 = 128;
    pub const TC_SIZEOF: u64 = 640;

    // struct malloc_chunk: prev_size at 0, size at 8, fd at 16, bk at 24; a chunk's user
    // pointer is the chunk plus 16 (`chunk2mem`). The size's low bits: PREV_INUSE 1,
    // IS_MMAPPED 2, NON_MAIN_ARENA 4.
    pub const PREV_INUSE: u64 = 1;
    pub const IS_MMAPPED: u64 = 2;
    // `bin_at (m, i)`: `(mbinptr) ((char *) &((m)->bins[((i) - 1) * 2]) - offsetof (struct
    // malloc_chunk, fd))`.
    pub fn bin_at(arena: u64, i: u64) -> u64 {
        arena + MS_BINS + (i - 1) * 16 - 16
    }
    // `PROTECT_PTR (pos, ptr)`: `((size_t) pos >> 12) ^ (size_t) ptr` (safe-linking, 2.32+).
    pub fn protect(pos: u64, ptr: u64) -> u64 {
        (pos >> 12) ^ ptr
    }
}

/// Where the seed puts things.
mod seed {
    /// libc's .data: `mp_`, `main_arena` and a global the program keeps a pointer in.
    pub const LIBC_DATA: u64 = 0x7f00_0000_0000;
    pub const MP: u64 = LIBC_DATA + 0x100;
    pub const MAIN_ARENA: u64 = LIBC_DATA + 0x200;
    pub const GLOBAL: u64 = LIBC_DATA + 0x1000;
    pub const LIBC_DATA_SIZE: u64 = 0x2000;
    /// The brk heap (132 KiB, as the first `sbrk` makes it).
    pub const HEAP: u64 = 0x5555_5555_9000;
    pub const HEAP_SIZE: u64 = 0x21000;
    /// Its chunks: (address, chunk size).
    pub const TCACHE_STRUCT: (u64, u64) = (HEAP, 0x290);
    pub const USED_1: (u64, u64) = (HEAP + 0x290, 0x30);
    pub const FASTBIN: (u64, u64) = (HEAP + 0x2c0, 0x20);
    pub const USED_2: (u64, u64) = (HEAP + 0x2e0, 0x40);
    pub const TCACHED: (u64, u64) = (HEAP + 0x320, 0x30);
    pub const USED_3: (u64, u64) = (HEAP + 0x350, 0x50);
    /// In small bin 16 (chunks of 0x100 bytes).
    pub const BINNED: (u64, u64) = (HEAP + 0x3a0, 0x100);
    pub const USED_4: (u64, u64) = (HEAP + 0x4a0, 0x30);
    pub const TOP: u64 = HEAP + 0x4d0;
    pub const TOP_SIZE: u64 = HEAP + HEAP_SIZE - TOP;
    /// A chunk of its own mmap.
    pub const MMAPPED: u64 = 0x7f00_0010_0000;
    pub const MMAPPED_SIZE: u64 = 0x2000;
    /// The thread's stack and, above it, its TCB (`fs_base`) with the static TLS below.
    pub const STACK: u64 = 0x7ffd_0000_0000;
    pub const STACK_SIZE: u64 = 0x2000;
    pub const SP: u64 = STACK + 0x1000;
    pub const FS_BASE: u64 = STACK + 0x1800;
    /// glibc's `tcache` TLS variable.
    pub const TLS_TCACHE: u64 = FS_BASE - 0x40;
    /// A read-only mapping holding libc's banner, in the banner variant.
    pub const BANNER: u64 = 0x7f00_0100_0000;
}

/// How the walker is to learn the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// libc's banner gives the version, whose built-in layout applies.
    Banner,
    /// "DWARF": struct offsets given with the image.
    Dwarf,
    /// Neither: the layout is inferred from the data.
    Bare,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Banner, Variant::Dwarf, Variant::Bare];
}

include!("bytes.rs");

impl Bytes {
    fn u32(&mut self, at: u64, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
    fn u16(&mut self, at: u64, v: u16) {
        self.put(at, &v.to_le_bytes());
    }
    /// A chunk header: its size with flags (`prev_size` is left as it is).
    fn chunk(&mut self, (c, size): (u64, u64), flags: u64) {
        self.u64(c + 8, size | flags);
    }
}

/// The seed heap, with the layout told the walker the `variant`'s way.
fn seed_image(variant: Variant) -> MemoryImage {
    use glibc_2_36::*;
    use seed::*;
    let mut image = MemoryImage::new();

    // The heap, chunk by chunk. Every chunk but the one after BINNED has PREV_INUSE: the
    // first chunk of a heap always has it, and fastbin and tcache chunks stay "in use" to
    // their neighbours.
    let mut heap = Bytes::new(HEAP, HEAP_SIZE);
    heap.chunk(TCACHE_STRUCT, PREV_INUSE);
    heap.chunk(USED_1, PREV_INUSE);
    heap.chunk(FASTBIN, PREV_INUSE);
    // The last (only) chunk of fastbin 0: a protected NULL.
    heap.u64(FASTBIN.0 + 16, protect(FASTBIN.0 + 16, 0));
    heap.chunk(USED_2, PREV_INUSE);
    heap.chunk(TCACHED, PREV_INUSE);
    // tcache entries point at the user pointer; the entry's `next` is a protected NULL.
    heap.u64(TCACHED.0 + 16, protect(TCACHED.0 + 16, 0));
    heap.u64(TCACHED.0 + 24, 0x1234_5678_9abc_def0); // the tcache `key`
    heap.chunk(USED_3, PREV_INUSE);
    // USED_3 holds the only pointer to USED_4: when USED_3 leaks, USED_4 leaks indirectly.
    heap.u64(USED_3.0 + 16, USED_4.0 + 16);
    heap.chunk(BINNED, PREV_INUSE);
    heap.u64(BINNED.0 + 16, bin_at(MAIN_ARENA, 16));
    heap.u64(BINNED.0 + 24, bin_at(MAIN_ARENA, 16));
    // The next chunk repeats a free chunk's size in its prev_size and clears PREV_INUSE.
    heap.u64(USED_4.0, BINNED.1);
    heap.chunk(USED_4, 0);
    heap.chunk((TOP, TOP_SIZE), PREV_INUSE);
    // The tcache: bin 1 holds chunks of 0x30 bytes (`csize2tidx`: (0x30 - 0x11) / 16).
    let tcache = TCACHE_STRUCT.0 + 16;
    heap.u16(tcache + TC_COUNTS + 2, 1);
    heap.u64(tcache + TC_ENTRIES + 8, TCACHED.0 + 16);
    image.add(HEAP, heap.b);

    // libc's data: mp_ and main_arena.
    let mut data = Bytes::new(LIBC_DATA, LIBC_DATA_SIZE);
    data.u64(MP + MP_TRIM_THRESHOLD, 128 * 1024);
    data.u64(MP + MP_TOP_PAD, 128 * 1024);
    data.u64(MP + MP_MMAP_THRESHOLD, 128 * 1024);
    data.u64(MP + MP_ARENA_TEST, 8);
    data.u64(MP + MP_ARENA_MAX, 0);
    data.u32(MP + MP_N_MMAPS, 1);
    data.u32(MP + MP_N_MMAPS_MAX, 65536);
    data.u32(MP + MP_MAX_N_MMAPS, 1);
    data.u64(MP + MP_MMAPPED_MEM, MMAPPED_SIZE);
    data.u64(MP + MP_MAX_MMAPPED_MEM, MMAPPED_SIZE);
    data.u64(MP + MP_SBRK_BASE, HEAP);
    data.u64(MP + MP_TCACHE_BINS, 64);
    data.u64(MP + MP_TCACHE_MAX_BYTES, 1032);
    data.u64(MP + MP_TCACHE_COUNT, 7);
    let a = MAIN_ARENA;
    data.u32(a + MS_HAVE_FASTCHUNKS, 1);
    data.u64(a + MS_FASTBINS_Y, FASTBIN.0);
    data.u64(a + MS_TOP, TOP);
    for i in 1..NBINS {
        // An empty bin points at itself (`malloc_init_state`).
        let link = if i == 16 { BINNED.0 } else { bin_at(a, i) };
        data.u64(a + MS_BINS + (i - 1) * 16, link);
        data.u64(a + MS_BINS + (i - 1) * 16 + 8, link);
    }
    data.u64(a + MS_NEXT, a); // the ring of one arena
    data.u64(a + MS_ATTACHED_THREADS, 1);
    data.u64(a + MS_SYSTEM_MEM, HEAP_SIZE);
    data.u64(a + MS_MAX_SYSTEM_MEM, HEAP_SIZE);
    // A global holding USED_1.
    data.u64(GLOBAL, USED_1.0 + 16);
    image.add(LIBC_DATA, data.b);

    // An mmapped chunk: prev_size 0, IS_MMAPPED, at the start of its own mapping.
    let mut mapped = Bytes::new(MMAPPED, MMAPPED_SIZE);
    mapped.u64(MMAPPED + 8, MMAPPED_SIZE | IS_MMAPPED);
    image.add(MMAPPED, mapped.b);

    // One thread: its stack holds USED_2, its TLS the tcache.
    let mut stack = Bytes::new(STACK, STACK_SIZE);
    stack.u64(SP + 0x10, USED_2.0 + 16);
    stack.u64(TLS_TCACHE, tcache);
    stack.u64(FS_BASE, FS_BASE); // tcbhead_t.tcb points at itself
    image.add(STACK, stack.b);
    image.threads.push(ThreadNote {
        tid: 4242,
        signal: 6,
        registers: Registers::new(
            Arch::X86_64,
            vec![("rsp", SP), ("rip", 0x5555_5555_5000), ("fs_base", FS_BASE)],
        ),
        name: None,
    });

    image.symbols.insert("main_arena".into(), MAIN_ARENA);
    image.symbols.insert("mp_".into(), MP);
    image.auxv.push((6, 4096)); // AT_PAGESZ
    match variant {
        Variant::Banner => {
            let text = b"GNU C Library (GNU libc) stable release version 2.36.\n".to_vec();
            image.add(BANNER, text);
            for m in image.mappings.iter_mut().filter(|m| m.start == BANNER) {
                m.perms = "r--".into();
            }
        }
        Variant::Dwarf => {
            let mut offset = |s: &str, m: &str, v: u64| {
                image.offsets.insert((s.into(), m.into()), v);
            };
            for (m, v) in [
                ("flags", MS_FLAGS),
                ("fastbinsY", MS_FASTBINS_Y),
                ("top", MS_TOP),
                ("bins", MS_BINS),
                ("next", MS_NEXT),
                ("next_free", MS_NEXT_FREE),
                ("attached_threads", MS_ATTACHED_THREADS),
                ("system_mem", MS_SYSTEM_MEM),
                ("max_system_mem", MS_MAX_SYSTEM_MEM),
            ] {
                offset("malloc_state", m, v);
            }
            for (m, v) in [
                ("trim_threshold", MP_TRIM_THRESHOLD),
                ("top_pad", MP_TOP_PAD),
                ("mmap_threshold", MP_MMAP_THRESHOLD),
                ("arena_max", MP_ARENA_MAX),
                ("hp_pagesize", MP_HP_PAGESIZE),
                ("n_mmaps", MP_N_MMAPS),
                ("n_mmaps_max", MP_N_MMAPS_MAX),
                ("max_n_mmaps", MP_MAX_N_MMAPS),
                ("mmapped_mem", MP_MMAPPED_MEM),
                ("max_mmapped_mem", MP_MAX_MMAPPED_MEM),
                ("sbrk_base", MP_SBRK_BASE),
                ("tcache_bins", MP_TCACHE_BINS),
                ("tcache_max_bytes", MP_TCACHE_MAX_BYTES),
                ("tcache_count", MP_TCACHE_COUNT),
            ] {
                offset("malloc_par", m, v);
            }
            offset("tcache_perthread_struct", "entries", TC_ENTRIES);
            image.sizes.insert("malloc_state".into(), MS_SIZEOF);
            image.sizes.insert("malloc_par".into(), MP_SIZEOF);
            image.sizes.insert("tcache_perthread_struct".into(), TC_SIZEOF);
        }
        Variant::Bare => {}
    }
    image
}

include!("patch.rs");

/// The seed of each variant, built once.
static SEEDS: LazyLock<[Mutex<MemoryImage>; 3]> =
    LazyLock::new(|| Variant::ALL.map(|v| Mutex::new(seed_image(v))));

/// Applies the fuzz input to a seed image and walks it: the first byte picks the variant,
/// the rest is a list of patches `[region, offset (4 bytes LE), length, bytes…]`, each
/// writing up to 16 bytes into a region of the image. Walking, rendering and the leak check
/// must not panic, whatever the bytes.
pub fn exercise(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut image = Patched::new(&SEEDS[pick as usize % Variant::ALL.len()]);
    image.apply(rest);
    let image = &*image;
    let options = glibc::WalkOptions {
        list: true,
        progress: false,
    };
    let Ok(heap) = glibc::walk(image, &options) else {
        return;
    };
    let mut sink = Vec::new();
    heap.write_text(&mut sink).expect("text");
    heap.write_malloc_info(&mut sink).expect("malloc_info");
    serde_json::to_writer(&mut sink, &heap).expect("json");
    for a in heap.allocations.iter().flatten() {
        assert!(
            a.arena == heap_walkers::Allocation::NO_ARENA || heap.arena_of(a).is_some(),
            "an allocation names arena {} of {}",
            a.arena,
            heap.arenas.len()
        );
    }
    let roots = leaks::glibc_roots(image, &heap);
    let report = leaks::find_leaks(image, leaks::blocks(heap.allocations.iter().flatten()), &roots);
    report.write_text(&mut sink, 10).expect("leak text");
    report.write_json(&mut sink, "glibc").expect("leak json");
}
