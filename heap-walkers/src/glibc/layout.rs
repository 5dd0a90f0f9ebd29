//! Where ptmalloc keeps things: struct layouts for glibc 2.26 through 2.40 on 64-bit Linux
//! (x86_64 and aarch64 share them: both are LP64 with `MALLOC_ALIGNMENT` 16), read from
//! DWARF when libc's debug file is at hand, built in otherwise.
//!
//! Every built-in fact names the glibc version and file it comes from (the tags
//! `glibc-2.26` … `glibc-2.40` of the glibc repository). Facts shared by every version:
//!
//! - `INTERNAL_SIZE_T` is `size_t`, so `SIZE_SZ` is 8 (malloc/malloc-internal.h);
//!   `MALLOC_ALIGNMENT` is `2 * SIZE_SZ` = 16 on x86_64 and aarch64, where `long double` is
//!   16-aligned (sysdeps/generic/malloc-alignment.h); `MINSIZE` is 32 (malloc/malloc.c,
//!   `MIN_CHUNK_SIZE` = `offsetof (struct malloc_chunk, fd_nextsize)`).
//! - The low bits of a chunk's size: `PREV_INUSE` 1, `IS_MMAPPED` 2, `NON_MAIN_ARENA` 4
//!   (malloc/malloc.c).
//! - `NFASTBINS` is 10 (`fastbin_index (request2size (80 * SIZE_SZ / 4)) + 1`) and `NBINS`
//!   128, so `bins` holds 254 pointers (malloc/malloc.c).
//! - `HEAP_MAX_SIZE` is `2 * DEFAULT_MMAP_THRESHOLD_MAX` = 64 MiB on 64-bit (malloc/arena.c,
//!   malloc/malloc.c); since 2.35 `heap_max_size ()` is `4 * mp_.hp_pagesize` when huge
//!   pages are configured (malloc/arena.c).

use serde::Serialize;

use super::version::GlibcVersion;

/// Bytes in a `size_t` (`SIZE_SZ`).
pub const SIZE_SZ: u64 = 8;
/// `MALLOC_ALIGNMENT` on x86_64 and aarch64.
pub const ALIGNMENT: u64 = 16;
/// `MINSIZE`: the smallest chunk.
pub const MINSIZE: u64 = 32;
/// `NFASTBINS`.
pub const NFASTBINS: usize = 10;
/// `NBINS`: bin 0 does not exist, bin 1 is the unsorted bin, 2–63 small, 64–126 large.
pub const NBINS: usize = 128;
/// `PREV_INUSE`.
pub const PREV_INUSE: u64 = 1;
/// `IS_MMAPPED`.
pub const IS_MMAPPED: u64 = 2;
/// `NON_MAIN_ARENA`.
pub const NON_MAIN_ARENA: u64 = 4;
/// The three flag bits.
pub const SIZE_BITS: u64 = 7;
/// `HEAP_MAX_SIZE` on 64-bit (malloc/arena.c: `2 * DEFAULT_MMAP_THRESHOLD_MAX`, which is
/// `4 * 1024 * 1024 * sizeof (long)` in malloc/malloc.c).
pub const HEAP_MAX_SIZE: u64 = 64 << 20;
/// `sizeof (struct malloc_chunk)`: prev_size, size, fd, bk, fd_nextsize, bk_nextsize.
pub const MALLOC_CHUNK_SIZE: u64 = 48;
/// `TCACHE_MAX_BINS` (malloc/malloc.c, 2.26–2.40).
pub const TCACHE_MAX_BINS: usize = 64;

/// Where the layout came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutSource {
    /// Offsets read from libc's DWARF (libc6-dbg or a `--debug-dir`).
    Dwarf,
    /// The built-in table for a glibc version read from the library.
    BuiltIn,
    /// Worked out from the shape of the structures in the core (no libc file, or a version
    /// outside the table).
    Inferred,
}

/// `struct malloc_state` (malloc/malloc.c): byte offsets of the members the walker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    /// `int flags`.
    pub flags: u64,
    /// `mfastbinptr fastbinsY[NFASTBINS]`.
    pub fastbins: u64,
    /// `mchunkptr top`.
    pub top: u64,
    /// `mchunkptr bins[NBINS * 2 - 2]`.
    pub bins: u64,
    /// `struct malloc_state *next`.
    pub next: u64,
    /// `struct malloc_state *next_free`.
    pub next_free: u64,
    /// `INTERNAL_SIZE_T attached_threads` (2.23 and later).
    pub attached_threads: Option<u64>,
    /// `INTERNAL_SIZE_T system_mem`.
    pub system_mem: u64,
    /// `INTERNAL_SIZE_T max_system_mem`.
    pub max_system_mem: u64,
    /// `sizeof (struct malloc_state)`.
    pub size: u64,
}

impl StateLayout {
    /// The layout of 2.27 … 2.40: `mutex`, `flags`, `have_fastchunks` (added in 2.27,
    /// malloc/malloc.c), then the fastbins at 16; `sizeof` 2200.
    /// With `have_fastchunks = false` it is 2.23 … 2.26's (fastbins at 8, `sizeof` 2192);
    /// without `attached_threads` (before 2.23) 2184.
    pub fn new(have_fastchunks: bool, attached_threads: bool) -> StateLayout {
        let fastbins = if have_fastchunks { 16 } else { 8 };
        let top = fastbins + NFASTBINS as u64 * 8;
        let bins = top + 16;
        // bins: 254 pointers; binmap: BINMAPSIZE (4) unsigned ints.
        let next = bins + (NBINS as u64 * 2 - 2) * 8 + 16;
        let next_free = next + 8;
        let (attached, system_mem) = if attached_threads {
            (Some(next_free + 8), next_free + 16)
        } else {
            (None, next_free + 8)
        };
        StateLayout {
            flags: 4,
            fastbins,
            top,
            bins,
            next,
            next_free,
            attached_threads: attached,
            system_mem,
            max_system_mem: system_mem + 8,
            size: system_mem + 16,
        }
    }

    /// `bin_at (m, i)`: the fake chunk whose `fd`/`bk` are `bins[2i-2]`/`bins[2i-1]`.
    pub fn bin_at(&self, arena: u64, i: usize) -> u64 {
        arena + self.bins + (i as u64 - 1) * 16 - 16
    }
}

/// `struct malloc_par mp_` (malloc/malloc.c): offsets of the members the walker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParLayout {
    /// `unsigned long trim_threshold`.
    pub trim_threshold: u64,
    /// `INTERNAL_SIZE_T top_pad`.
    pub top_pad: u64,
    /// `INTERNAL_SIZE_T mmap_threshold`.
    pub mmap_threshold: u64,
    /// `INTERNAL_SIZE_T arena_max`.
    pub arena_max: u64,
    /// `INTERNAL_SIZE_T hp_pagesize` (2.35 and later).
    pub hp_pagesize: Option<u64>,
    /// `int n_mmaps`.
    pub n_mmaps: u64,
    /// `int n_mmaps_max`.
    pub n_mmaps_max: u64,
    /// `int max_n_mmaps`.
    pub max_n_mmaps: u64,
    /// `INTERNAL_SIZE_T mmapped_mem`.
    pub mmapped_mem: u64,
    /// `INTERNAL_SIZE_T max_mmapped_mem`.
    pub max_mmapped_mem: u64,
    /// `char *sbrk_base`.
    pub sbrk_base: u64,
    /// `size_t tcache_bins` (2.26 and later, `USE_TCACHE`).
    pub tcache_bins: Option<u64>,
    /// `size_t tcache_max_bytes`.
    pub tcache_max_bytes: Option<u64>,
    /// `size_t tcache_count`.
    pub tcache_count: Option<u64>,
    /// `sizeof (struct malloc_par)`.
    pub size: u64,
}

impl ParLayout {
    /// 2.26 … 2.34: `trim_threshold`, `top_pad`, `mmap_threshold`, `arena_test`,
    /// `arena_max`, four ints (`n_mmaps`, `n_mmaps_max`, `max_n_mmaps`, `no_dyn_threshold`),
    /// `mmapped_mem`, `max_mmapped_mem`, `sbrk_base`, then the four tcache `size_t`s
    /// (malloc/malloc.c at glibc-2.26 … glibc-2.34).
    ///
    /// 2.35 … 2.40 (`huge_pages = true`): `thp_pagesize`, `hp_pagesize` and `int hp_flags`
    /// follow `arena_max` (malloc/malloc.c at glibc-2.35, under `HAVE_TUNABLES`, which
    /// every distribution build has and which is unconditional from 2.39).
    pub fn new(huge_pages: bool) -> ParLayout {
        // After arena_max (32): the optional huge page fields, then the four ints.
        let (hp_pagesize, ints) = if huge_pages {
            (Some(48), 60)
        } else {
            (None, 40)
        };
        // Four ints, then size_t members aligned to 8.
        let mmapped_mem = (ints + 16 + 7) & !7;
        let sbrk_base = mmapped_mem + 16;
        ParLayout {
            trim_threshold: 0,
            top_pad: 8,
            mmap_threshold: 16,
            arena_max: 32,
            hp_pagesize,
            n_mmaps: ints,
            n_mmaps_max: ints + 4,
            max_n_mmaps: ints + 8,
            mmapped_mem,
            max_mmapped_mem: mmapped_mem + 8,
            sbrk_base,
            tcache_bins: Some(sbrk_base + 8),
            tcache_max_bytes: Some(sbrk_base + 16),
            tcache_count: Some(sbrk_base + 24),
            size: sbrk_base + 40,
        }
    }
}

/// `heap_info` (malloc/arena.c): the header of each mmapped heap of a thread arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapInfoLayout {
    /// `mstate ar_ptr`.
    pub ar_ptr: u64,
    /// `struct _heap_info *prev`.
    pub prev: u64,
    /// `size_t size`.
    pub size: u64,
    /// `size_t mprotect_size`.
    pub mprotect_size: u64,
    /// `size_t pagesize` (2.35 and later).
    pub pagesize: Option<u64>,
    /// `sizeof (heap_info)`.
    pub size_of: u64,
}

impl HeapInfoLayout {
    /// Four pointers padded to 32 bytes (`pad[-6 * SIZE_SZ & MALLOC_ALIGN_MASK]`) before
    /// 2.35; 2.35 added `pagesize` and the padding became `pad[-3 * SIZE_SZ & …]`, 48 bytes
    /// in all (malloc/arena.c at glibc-2.34 and glibc-2.35).
    pub fn new(has_pagesize: bool) -> HeapInfoLayout {
        HeapInfoLayout {
            ar_ptr: 0,
            prev: 8,
            size: 16,
            mprotect_size: 24,
            pagesize: has_pagesize.then_some(32),
            size_of: if has_pagesize { 48 } else { 32 },
        }
    }
}

/// `tcache_perthread_struct` (malloc/malloc.c, 2.26 and later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcacheLayout {
    /// Bytes per count: `char counts[64]` in 2.26 … 2.29, `uint16_t counts[64]` from 2.30
    /// (malloc/malloc.c at glibc-2.29 and glibc-2.30).
    pub count_width: u64,
    /// Offset of `tcache_entry *entries[64]`.
    pub entries: u64,
    /// `sizeof (tcache_perthread_struct)`: 576 or 640.
    pub size_of: u64,
}

impl TcacheLayout {
    /// The layout for counts of `count_width` bytes.
    pub fn new(count_width: u64) -> TcacheLayout {
        let entries = count_width * TCACHE_MAX_BINS as u64;
        TcacheLayout {
            count_width,
            entries,
            size_of: entries + 8 * TCACHE_MAX_BINS as u64,
        }
    }

    /// The chunk size `tcache_init` gets for the struct (`request2size (sizeof …)`).
    pub fn chunk_size(&self) -> u64 {
        request2size(self.size_of)
    }
}

/// `request2size`: the chunk size malloc uses for a request (malloc/malloc.c).
pub fn request2size(req: u64) -> u64 {
    if req + SIZE_SZ + ALIGNMENT - 1 < MINSIZE {
        MINSIZE
    } else {
        (req + SIZE_SZ + ALIGNMENT - 1) & !(ALIGNMENT - 1)
    }
}

/// The chunk size held in tcache bin `i`: `tidx2usize (i)` plus the header, i.e.
/// `MINSIZE + i * MALLOC_ALIGNMENT` (malloc/malloc.c, `csize2tidx`).
pub fn tcache_chunk_size(i: usize) -> u64 {
    MINSIZE + i as u64 * ALIGNMENT
}

/// The chunk size held in fastbin `i` (`fastbin_index (sz) = (sz >> 4) - 2` on 64-bit).
pub fn fastbin_chunk_size(i: usize) -> u64 {
    (i as u64 + 2) << 4
}

/// `bin_index (sz)` for 64-bit (malloc/malloc.c: `smallbin_index` below 1024 bytes,
/// `largebin_index_64` above).
pub fn bin_index(sz: u64) -> usize {
    if sz < 1024 {
        (sz >> 4) as usize
    } else if (sz >> 6) <= 48 {
        48 + (sz >> 6) as usize
    } else if (sz >> 9) <= 20 {
        91 + (sz >> 9) as usize
    } else if (sz >> 12) <= 10 {
        110 + (sz >> 12) as usize
    } else if (sz >> 15) <= 4 {
        119 + (sz >> 15) as usize
    } else if (sz >> 18) <= 2 {
        124 + (sz >> 18) as usize
    } else {
        126
    }
}

/// Everything the walker needs to know about one glibc build's malloc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Where these offsets came from.
    pub source: LayoutSource,
    /// `struct malloc_state`.
    pub state: StateLayout,
    /// `struct malloc_par`, when known (before 2.26 the walker does without it).
    pub par: Option<ParLayout>,
    /// `heap_info`.
    pub heap_info: HeapInfoLayout,
    /// `tcache_perthread_struct`, for builds with a tcache (2.26 and later).
    pub tcache: Option<TcacheLayout>,
    /// Whether fastbin and tcache links are mangled (`PROTECT_PTR`, safe-linking, added in
    /// 2.32: malloc/malloc.c at glibc-2.32); `None` when the data must tell.
    pub safe_linking: Option<bool>,
}

impl Layout {
    /// The built-in layout of a glibc release from 2.26 to 2.40, or `None` outside that
    /// range.
    pub fn builtin(v: GlibcVersion) -> Option<Layout> {
        if v.major != 2 || !(26..=40).contains(&v.minor) {
            return None;
        }
        let m = v.minor;
        Some(Layout {
            source: LayoutSource::BuiltIn,
            // have_fastchunks: malloc/malloc.c at glibc-2.27; attached_threads since 2.23.
            state: StateLayout::new(m >= 27, true),
            // thp_pagesize/hp_pagesize/hp_flags: malloc/malloc.c at glibc-2.35.
            par: Some(ParLayout::new(m >= 35)),
            // heap_info.pagesize: malloc/arena.c at glibc-2.35.
            heap_info: HeapInfoLayout::new(m >= 35),
            // uint16_t counts: malloc/malloc.c at glibc-2.30.
            tcache: Some(TcacheLayout::new(if m >= 30 { 2 } else { 1 })),
            // PROTECT_PTR / REVEAL_PTR: malloc/malloc.c at glibc-2.32.
            safe_linking: Some(m >= 32),
        })
    }

    /// The heap size limit (`heap_max_size ()`): 64 MiB, or four huge pages when
    /// `mp_.hp_pagesize` is set (malloc/arena.c at glibc-2.35). A page size no machine has
    /// (over 16 GiB, the largest huge page Linux offers) is a damaged `mp_`: ignored.
    pub fn heap_max_size(&self, hp_pagesize: u64) -> u64 {
        if hp_pagesize.is_power_of_two() && hp_pagesize <= 1 << 34 {
            hp_pagesize * 4
        } else {
            HEAP_MAX_SIZE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `offsetof` / `sizeof` for every release in the table, measured by compiling the
    /// struct definitions of each tag (`struct malloc_state`, `struct malloc_par` in
    /// malloc/malloc.c, `heap_info` in malloc/arena.c, `tcache_perthread_struct`) for x86_64
    /// with `HAVE_TUNABLES` and `USE_TCACHE` on:
    /// (minor, [fastbinsY, top, bins, next, system_mem, sizeof] of malloc_state,
    ///  [n_mmaps, mmapped_mem, sbrk_base, tcache_count, sizeof] of malloc_par,
    ///  [sizeof heap_info, entries, sizeof] of tcache_perthread_struct).
    #[allow(clippy::type_complexity)]
    const MEASURED: &[(u32, [u64; 6], [u64; 5], [u64; 3])] = &[
        (
            26,
            [8, 88, 104, 2152, 2176, 2192],
            [40, 56, 72, 96, 112],
            [32, 64, 576],
        ),
        (
            27,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 64, 576],
        ),
        (
            28,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 64, 576],
        ),
        (
            29,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 64, 576],
        ),
        (
            30,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 128, 640],
        ),
        (
            31,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 128, 640],
        ),
        (
            32,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 128, 640],
        ),
        (
            33,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 128, 640],
        ),
        (
            34,
            [16, 96, 112, 2160, 2184, 2200],
            [40, 56, 72, 96, 112],
            [32, 128, 640],
        ),
        (
            35,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
        (
            36,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
        (
            37,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
        (
            38,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
        (
            39,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
        (
            40,
            [16, 96, 112, 2160, 2184, 2200],
            [60, 80, 96, 120, 136],
            [48, 128, 640],
        ),
    ];

    #[test]
    fn builtin_layouts_match_the_measured_offsets() {
        for &(minor, st, par, rest) in MEASURED {
            let l = Layout::builtin(GlibcVersion::new(2, minor)).expect("in the table");
            let s = &l.state;
            assert_eq!(
                [s.fastbins, s.top, s.bins, s.next, s.system_mem, s.size],
                st,
                "2.{minor} malloc_state"
            );
            let p = l.par.as_ref().expect("malloc_par");
            assert_eq!(
                [
                    p.n_mmaps,
                    p.mmapped_mem,
                    p.sbrk_base,
                    p.tcache_count.unwrap_or(0),
                    p.size
                ],
                par,
                "2.{minor} malloc_par"
            );
            let t = l.tcache.as_ref().expect("tcache");
            assert_eq!(
                [l.heap_info.size_of, t.entries, t.size_of],
                rest,
                "2.{minor} heap_info / tcache"
            );
        }
        assert!(Layout::builtin(GlibcVersion::new(2, 25)).is_none());
        assert!(Layout::builtin(GlibcVersion::new(2, 41)).is_none());
    }

    #[test]
    fn sizes_match_the_glibc_sources() {
        // sizeof (struct malloc_state) = 2200 on 2.27+ (gdb `p sizeof (struct malloc_state)`
        // with libc6-dbg 2.36), 2184 before 2.23 (chap's 2.17 core: first chunk at +0x8b0).
        assert_eq!(StateLayout::new(true, true).size, 2200);
        assert_eq!(StateLayout::new(false, false).size, 2184);
        assert_eq!(StateLayout::new(true, true).next, 0x870);
        assert_eq!(HeapInfoLayout::new(true).size_of, 48);
        assert_eq!(TcacheLayout::new(2).chunk_size(), 0x290);
        assert_eq!(TcacheLayout::new(1).chunk_size(), 0x250);
        assert_eq!(ParLayout::new(true).sbrk_base, 96);
        assert_eq!(ParLayout::new(true).size, 136);
        assert_eq!(ParLayout::new(false).size, 112);
        assert_eq!(bin_index(0x20), 2);
        assert_eq!(bin_index(0x3f0), 63);
        assert_eq!(bin_index(0x400), 64);
    }
}
