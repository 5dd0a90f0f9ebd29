//! What a walk found, in the allocator-neutral [`crate::Heap`]: glibc's own figures beside
//! the common ones — per arena ([`GlibcArena`]: bins, fastbins, tcached chunks, the top,
//! holes, heaps) and for the whole heap ([`GlibcDetail`]: how the state was found, `mp_`,
//! tcaches, mmapped chunks, the size histogram).

use core_reader::hex;
use serde::Serialize;

use super::layout::LayoutSource;
use super::version::VersionSource;

/// glibc malloc's state rebuilt from a core: the neutral heap with glibc's own figures.
pub type GlibcHeap = crate::Heap<GlibcDetail, GlibcArena>;

/// A fastbin as `malloc_info` counts it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FastbinFigures {
    /// `fastbinsY` index.
    pub index: usize,
    /// Chunks in the list.
    pub count: u64,
    /// `chunksize` of the first chunk (`malloc_info` multiplies it by the count).
    pub chunk_size: u64,
}

/// A regular bin as `malloc_info` counts it: sizes are `chunksize_nomask`, flag bits
/// included, exactly as glibc adds them up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BinFigures {
    /// Bin index: 1 unsorted, 2–63 small, 64–126 large.
    pub index: usize,
    /// Chunks in the list.
    pub count: u64,
    /// Sum of sizes.
    pub total: u64,
    /// Smallest size.
    pub from: u64,
    /// Largest size.
    pub to: u64,
}

/// One mmapped heap of a thread arena (`heap_info`).
#[derive(Debug, Clone, Serialize)]
pub struct SubHeap {
    /// Where the heap (its `heap_info`) starts.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// `heap_info.size`: bytes in use by the arena.
    pub size: u64,
    /// `heap_info.mprotect_size`: bytes made read-write.
    pub mprotect_size: u64,
}

/// A run of freed chunks between chunks in use.
#[derive(Debug, Clone, Serialize)]
pub struct Hole {
    /// First chunk of the run.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// Bytes in the run (chunk sizes).
    pub size: u64,
    /// Chunks in the run.
    pub chunks: u64,
    /// The chunk in use right above the hole (its user address): while it lives, the hole
    /// cannot join the top and be trimmed. `None` at the end of an old heap.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub pinned_by: Option<u64>,
    /// Usable size of the pinning chunk.
    pub pinned_size: Option<u64>,
}

/// Chunk counts by size class (powers of two).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Histogram {
    /// Upper bound of each class, bytes (the last class has no bound: `null`).
    pub class_max: Vec<Option<u64>>,
    /// Chunks in use per class.
    pub used_chunks: Vec<u64>,
    /// Bytes in use per class.
    pub used_bytes: Vec<u64>,
    /// Freed chunks (bins, fastbins, tcaches; not the top) per class.
    pub free_chunks: Vec<u64>,
    /// Freed bytes per class.
    pub free_bytes: Vec<u64>,
}

/// Size classes of the histogram: ≤ 32 B, ≤ 64 B, … ≤ 1 MiB, more.
pub(crate) const HIST_CLASSES: usize = 17;

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            class_max: (0..HIST_CLASSES)
                .map(|i| (i + 1 < HIST_CLASSES).then(|| 32u64 << i))
                .collect(),
            used_chunks: vec![0; HIST_CLASSES],
            used_bytes: vec![0; HIST_CLASSES],
            free_chunks: vec![0; HIST_CLASSES],
            free_bytes: vec![0; HIST_CLASSES],
        }
    }

    #[inline]
    pub(crate) fn class(size: u64) -> usize {
        if size <= 32 {
            0
        } else {
            let bits = 64 - (size - 1).leading_zeros() as usize; // ceil(log2)
            (bits - 5).min(HIST_CLASSES - 1)
        }
    }

    pub(crate) fn add(&mut self, other: &Histogram) {
        for i in 0..HIST_CLASSES {
            self.used_chunks[i] += other.used_chunks[i];
            self.used_bytes[i] += other.used_bytes[i];
            self.free_chunks[i] += other.free_chunks[i];
            self.free_bytes[i] += other.free_bytes[i];
        }
    }

    /// The neutral size classes: each non-empty class under its low end (one past the
    /// previous class's bound, 0 for the first).
    pub(crate) fn size_classes(&self) -> Vec<crate::SizeClass> {
        (0..self.class_max.len())
            .filter(|&i| self.used_chunks[i] + self.free_chunks[i] > 0)
            .map(|i| crate::SizeClass {
                size: i
                    .checked_sub(1)
                    .and_then(|p| self.class_max[p])
                    .map_or(0, |m| m + 1),
                in_use_count: self.used_chunks[i],
                in_use_bytes: self.used_bytes[i],
                free_count: self.free_chunks[i],
                free_bytes: self.free_bytes[i],
            })
            .collect()
    }
}

/// glibc's own figures of one arena, beside the common [`crate::ArenaFigures`] (there, in
/// chunk bytes with headers: `in_use_*` are chunks allocated and not in a tcache or
/// fastbin; `free_*` chunks freed into a bin, fastbin or tcache, not the top;
/// `trimmable_bytes` what `malloc_trim (0)` could give back: whole pages inside free chunks
/// after fastbins are consolidated, and for the main arena the top above `MINSIZE`;
/// `largest_free` the largest freed chunk, not the top).
#[derive(Debug, Clone, Serialize)]
pub struct GlibcArena {
    /// Whether this is `main_arena` (the brk heap).
    pub main: bool,
    /// `max_system_mem` (`system_mem` is the common `system_bytes`).
    pub max_system_bytes: u64,
    /// `attached_threads` (2.23 and later).
    pub attached_threads: Option<u64>,
    /// Chunks in regular bins.
    pub bin_chunks: u64,
    /// Their bytes.
    pub bin_bytes: u64,
    /// Chunks in fastbins.
    pub fastbin_chunks: u64,
    /// Their bytes.
    pub fastbin_bytes: u64,
    /// Chunks of this arena held in tcaches.
    pub tcache_chunks: u64,
    /// Their bytes.
    pub tcache_bytes: u64,
    /// The top chunk.
    #[serde(serialize_with = "hex::serialize")]
    pub top: u64,
    /// Its size.
    pub top_size: u64,
    /// Freed bytes right below the top (they join it when consolidated).
    pub free_at_top: u64,
    /// Bytes in holes: freed chunks with a chunk in use above them.
    pub hole_bytes: u64,
    /// Number of holes.
    pub holes_count: u64,
    /// The largest holes, largest first.
    pub holes: Vec<Hole>,
    /// Non-empty fastbins.
    pub fastbins: Vec<FastbinFigures>,
    /// Non-empty regular bins.
    pub bins: Vec<BinFigures>,
    /// Thread arenas' heaps, oldest first.
    pub heaps: Vec<SubHeap>,
    /// Bytes the walk covered.
    pub walked_bytes: u64,
    /// Chunks by size class.
    pub histogram: Histogram,
}

impl crate::ArenaDetail for GlibcArena {
    fn name(&self, index: u32) -> String {
        if self.main {
            "main_arena".into()
        } else {
            format!("arena {index}")
        }
    }
}

/// A thread's cache (`tcache_perthread_struct`).
#[derive(Debug, Clone, Serialize)]
pub struct Tcache {
    /// The struct's address (its chunk's user address).
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// The thread whose TLS points at it, when found.
    pub thread: Option<u64>,
    /// Chunks cached.
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bins holding `tcache_count` chunks (full: the next free of that size goes to the
    /// arena).
    pub full_bins: u64,
    /// `(bin, count)` for each non-empty bin.
    pub counts: Vec<(usize, u64)>,
}

/// `mp_`'s figures.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Where `mp_` is.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// `trim_threshold`.
    pub trim_threshold: u64,
    /// `top_pad`.
    pub top_pad: u64,
    /// `mmap_threshold`.
    pub mmap_threshold: u64,
    /// `arena_max` (0: the default, 8 per core).
    pub arena_max: u64,
    /// `n_mmaps`: mmapped chunks in use.
    pub n_mmaps: u64,
    /// `max_n_mmaps`.
    pub max_n_mmaps: u64,
    /// `mmapped_mem`.
    pub mmapped_mem: u64,
    /// `max_mmapped_mem`.
    pub max_mmapped_mem: u64,
    /// `sbrk_base`.
    #[serde(serialize_with = "hex::serialize")]
    pub sbrk_base: u64,
    /// `tcache_count`.
    pub tcache_count: Option<u64>,
    /// `hp_pagesize` (2.35 and later).
    pub hp_pagesize: Option<u64>,
}

/// glibc's own figures of the whole heap, beside the neutral ones.
#[derive(Debug, Clone, Serialize)]
pub struct GlibcDetail {
    /// How the version was learned.
    pub version_source: Option<VersionSource>,
    /// Where the struct layouts came from.
    pub layout_source: LayoutSource,
    /// `main_arena`'s address.
    #[serde(serialize_with = "hex::serialize")]
    pub main_arena: u64,
    /// How it was found: `symbol` or `scan`.
    pub main_arena_found_by: &'static str,
    /// `mp_`, when found.
    pub params: Option<Params>,
    /// Whether fastbin and tcache links are mangled (safe-linking, 2.32+).
    pub safe_linking: bool,
    /// The page size (auxv `AT_PAGESZ`).
    pub page_size: u64,
    /// Tcaches found.
    pub tcaches: Vec<Tcache>,
    /// mmapped chunks found.
    pub mmapped_chunks: u64,
    /// Their bytes.
    pub mmapped_bytes: u64,
    /// Chunks by size class, all arenas.
    pub histogram: Histogram,
    /// Bytes the walk had to skip (corruption) or could not read.
    pub skipped_bytes: u64,
}
