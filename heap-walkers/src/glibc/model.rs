//! What a walk found: arenas with glibc's own figures and the walk's, tcaches, mmapped
//! chunks, fragmentation, problems and findings.

use serde::Serialize;

use super::layout::LayoutSource;
use super::version::{GlibcVersion, VersionSource};

/// Serializes an address as `"0x…"`.
pub(crate) fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#x}"))
}

fn hex_opt<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex(v, s),
        None => s.serialize_none(),
    }
}

/// What a chunk is to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    /// Allocated and not freed.
    Used,
    /// Freed into a regular bin (unsorted, small or large), or the top chunk.
    Free,
    /// Freed into a thread's tcache: the arena still counts it as in use.
    Tcache,
    /// Freed into a fastbin: the arena's neighbours still see it as in use.
    Fastbin,
}

impl ChunkState {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            ChunkState::Used => "used",
            ChunkState::Free => "free",
            ChunkState::Tcache => "tcache",
            ChunkState::Fastbin => "fastbin",
        }
    }
}

/// One allocation as the program sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Allocation {
    /// The pointer `malloc` returned (the chunk address plus 16).
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// Usable bytes (`malloc_usable_size`): the chunk size less 8, less 16 for the top chunk
    /// and mmapped chunks, which have no next chunk to lend its `prev_size`.
    pub size: u64,
    /// Its state.
    pub state: ChunkState,
    /// The arena's address; `null` for mmapped chunks.
    #[serde(serialize_with = "hex_opt")]
    pub arena: Option<u64>,
    /// Present and true for the top chunk.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub top: bool,
    /// Present and true for a chunk of its own mmap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mmapped: bool,
}

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
    #[serde(serialize_with = "hex")]
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
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// Bytes in the run (chunk sizes).
    pub size: u64,
    /// Chunks in the run.
    pub chunks: u64,
    /// The chunk in use right above the hole (its user address): while it lives, the hole
    /// cannot join the top and be trimmed. `None` at the end of an old heap.
    #[serde(serialize_with = "hex_opt")]
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
}

/// One arena: glibc's own figures (from `malloc_state` and its lists, as `malloc_info`
/// reads them) and the walk's (from every chunk in order).
#[derive(Debug, Clone, Serialize)]
pub struct Arena {
    /// Position in the `next` ring, 0 for `main_arena` (`malloc_info`'s `heap nr`).
    pub index: usize,
    /// The `malloc_state`'s address.
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// Whether this is `main_arena` (the brk heap).
    pub main: bool,
    /// `system_mem`.
    pub system_bytes: u64,
    /// `max_system_mem`.
    pub max_system_bytes: u64,
    /// `attached_threads` (2.23 and later).
    pub attached_threads: Option<u64>,
    /// Chunks in use (allocated, not in a tcache or fastbin).
    pub in_use_chunks: u64,
    /// Their bytes (chunk sizes, headers included).
    pub in_use_bytes: u64,
    /// Freed chunks inside the heap: in regular bins, fastbins and tcaches (not the top).
    pub free_chunks: u64,
    /// Their bytes.
    pub free_bytes: u64,
    /// What `malloc_trim (0)` could give back: whole pages inside free chunks (after
    /// fastbins are consolidated), and for the main arena the top above `MINSIZE`.
    pub trimmable_bytes: u64,
    /// The largest freed chunk inside the heap (not the top).
    pub largest_free: u64,
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
    #[serde(serialize_with = "hex")]
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

/// A thread's cache (`tcache_perthread_struct`).
#[derive(Debug, Clone, Serialize)]
pub struct Tcache {
    /// The struct's address (its chunk's user address).
    #[serde(serialize_with = "hex")]
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
    #[serde(serialize_with = "hex")]
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
    #[serde(serialize_with = "hex")]
    pub sbrk_base: u64,
    /// `tcache_count`.
    pub tcache_count: Option<u64>,
    /// `hp_pagesize` (2.35 and later).
    pub hp_pagesize: Option<u64>,
}

/// Something in the heap that cannot be right, with where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A short kind: `bad_size`, `bad_link`, `loop`, `not_in_bin`, `bad_footer`, …
    pub kind: &'static str,
    /// The chunk or link concerned.
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// A sentence naming what is wrong and what was skipped.
    pub message: String,
}

/// A conclusion with numbers and a next step.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `fragmentation`, `corruption`, …
    pub kind: &'static str,
    /// The sentence.
    pub message: String,
}

/// glibc malloc's state rebuilt from a core.
#[derive(Debug, Clone, Serialize)]
pub struct GlibcHeap {
    /// The glibc release, when known.
    pub version: Option<GlibcVersion>,
    /// How the version was learned.
    pub version_source: Option<VersionSource>,
    /// Where the struct layouts came from.
    pub layout_source: LayoutSource,
    /// `main_arena`'s address.
    #[serde(serialize_with = "hex")]
    pub main_arena: u64,
    /// How it was found: `symbol` or `scan`.
    pub main_arena_found_by: &'static str,
    /// `mp_`, when found.
    pub params: Option<Params>,
    /// Whether fastbin and tcache links are mangled (safe-linking, 2.32+).
    pub safe_linking: bool,
    /// The page size (auxv `AT_PAGESZ`).
    pub page_size: u64,
    /// Every arena, `main_arena` first.
    pub arenas: Vec<Arena>,
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
    /// What is wrong in the heap.
    pub problems: Vec<Problem>,
    /// Conclusions.
    pub findings: Vec<Finding>,
    /// Remarks on how things were found.
    pub notes: Vec<String>,
    /// Every allocation, when asked for.
    #[serde(skip)]
    pub allocations: Option<Vec<Allocation>>,
}

impl GlibcHeap {
    /// Whether the walk could read only part of the heap (exit status 1).
    pub fn is_partial(&self) -> bool {
        !self.problems.is_empty() || self.skipped_bytes > 0
    }
}
