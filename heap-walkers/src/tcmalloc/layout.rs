//! gperftools 2.10's structs on Linux x86_64 (LP64, the default `kPageShift` 13, 128 size
//! classes at most, 48 address bits, not `TCMALLOC_SMALL_BUT_SLOW`): offsets and constants
//! read from the sources of tag `gperftools-2.10`, file by file. Both of Debian's libraries
//! (`libtcmalloc.so.4`, `libtcmalloc_minimal.so.4`, package 2.10-1) are built this way;
//! they are stripped, so these tables stand in for their DWARF. The discovery
//! ([`super::discover`]) checks every table against the contents before it is used.

/// src/common.h: `kPageShift` (default 13: 8 KiB pages).
pub const PAGE_SHIFT: u32 = 13;
/// src/common.h: `kPageSize`.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// src/common.h: `kClassSizesMax`.
pub const CLASS_SIZES_MAX: u64 = 128;
/// src/common.h: `kMaxPages` = 1 << (20 - kPageShift): spans up to this length sit on
/// exact-length free lists, longer ones in the large sets.
pub const MAX_PAGES: u64 = 1 << (20 - PAGE_SHIFT);
/// src/common.h: `kMaxSize`, the largest size with a size class.
pub const MAX_SIZE: u64 = 256 * 1024;
/// src/common.h: `kAddressBits` (48 on x86_64); page numbers have 48 - 13 bits.
pub const PAGE_NUMBER_BITS: u32 = 48 - PAGE_SHIFT;

/// `class SizeMap` (src/common.h).
pub mod size_map {
    /// `unsigned char class_array_[kClassArraySize]`: ((kMaxSize + 127 + (120 << 7)) >> 7)
    /// + 1 = 2169 bytes, then `int num_objects_to_move_[128]` (aligned to 4).
    pub const NUM_OBJECTS_TO_MOVE: u64 = 2172;
    /// `int32 class_to_size_[128]`.
    pub const CLASS_TO_SIZE: u64 = NUM_OBJECTS_TO_MOVE + 4 * 128;
    /// `size_t class_to_pages_[128]` (aligned to 8).
    pub const CLASS_TO_PAGES: u64 = 3200;
    /// `size_t num_size_classes`.
    pub const NUM_SIZE_CLASSES: u64 = CLASS_TO_PAGES + 8 * 128;
}

/// `struct Span` (src/span.h), 48 bytes.
pub mod span {
    /// `PageID start`.
    pub const START: u64 = 0;
    /// `Length length` (pages).
    pub const LENGTH: u64 = 8;
    /// `Span* next` (doubly linked lists).
    pub const NEXT: u64 = 16;
    /// `Span* prev`.
    pub const PREV: u64 = 24;
    /// `void* objects`: the span's free objects, linked through their first word.
    pub const OBJECTS: u64 = 32;
    /// The bit fields `refcount : 16, sizeclass : 8, location : 2, sample : 1`, in one
    /// 32-bit unit.
    pub const BITS: u64 = 40;
    /// `sizeof(Span)`.
    pub const SIZE: u64 = 48;
    /// `location`: `IN_USE`, `ON_NORMAL_FREELIST`, `ON_RETURNED_FREELIST`.
    pub const IN_USE: u32 = 0;
    /// On a free list, its pages resident.
    pub const ON_NORMAL_FREELIST: u32 = 1;
    /// On a free list, its pages given back to the system (madvise).
    pub const ON_RETURNED_FREELIST: u32 = 2;
}

/// `class CentralFreeList` (src/central_freelist.h), padded to a multiple of 64 bytes by
/// `CentralFreeListPadded`: 1168 bytes of members, 1216 with the pad.
pub mod central {
    /// `size_t size_class_` (after `SpinLock lock_`).
    pub const SIZE_CLASS: u64 = 8;
    /// `Span empty_`: spans with no free object.
    pub const EMPTY: u64 = 16;
    /// `Span nonempty_`: spans with free objects.
    pub const NONEMPTY: u64 = 64;
    /// `size_t num_spans_`.
    pub const NUM_SPANS: u64 = 112;
    /// `size_t counter_`: free objects on the spans.
    pub const COUNTER: u64 = 120;
    /// `TCEntry tc_slots_[kMaxNumTransferEntries]` (64 of `{void* head; void* tail;}`):
    /// the transfer cache.
    pub const TC_SLOTS: u64 = 128;
    /// `kMaxNumTransferEntries`.
    pub const TC_SLOTS_MAX: u64 = 64;
    /// `int32_t used_slots_`.
    pub const USED_SLOTS: u64 = TC_SLOTS + 16 * TC_SLOTS_MAX;
    /// `sizeof(CentralFreeListPadded)`: the stride of `Static::central_cache_`.
    pub const STRIDE: u64 = 1216;
}

/// `template <class T> class PageHeapAllocator` (src/page_heap_allocator.h).
pub mod page_heap_allocator {
    /// `char* free_area_`.
    pub const FREE_AREA: u64 = 0;
    /// `size_t free_avail_`.
    pub const FREE_AVAIL: u64 = 8;
    /// `int inuse_`.
    pub const INUSE: u64 = 24;
    /// `kAllocIncrement`: 128 KiB taken from the metadata allocator at a time.
    pub const ALLOC_INCREMENT: u64 = 128 << 10;
}

/// `class PageHeap` (src/page_heap.h), with its members' types from src/pagemap.h
/// (`TCMalloc_PageMap2<35>`) and src/packed-cache-inl.h (`PackedCache<35>`).
pub mod page_heap {
    /// `PageMapCache pagemap_cache_`: `uintptr_t array_[1 << 16]`, then `PageMap pagemap_`:
    /// `Leaf* root_[1 << 17]; void* (*allocator_)(size_t)`.
    pub const PAGEMAP_ROOT: u64 = 8 << 16;
    /// `TCMalloc_PageMap2<35>`: LEAF_BITS = 18 (2 MiB leaves of 2^18 pointers).
    pub const LEAF_BITS: u32 = 18;
    /// ROOT_LENGTH = 1 << (35 - 18).
    pub const ROOT_LENGTH: u64 = 1 << (super::PAGE_NUMBER_BITS - LEAF_BITS);
    /// `SpanSet large_normal_` (a `std::set`, 48 bytes), after the root array and
    /// `allocator_`.
    pub const LARGE_NORMAL: u64 = PAGEMAP_ROOT + 8 * ROOT_LENGTH + 8;
    /// `SpanList free_[kMaxPages]`: `{Span normal; Span returned;}`, 96 bytes each, after
    /// `large_normal_` and `large_returned_`.
    pub const FREE: u64 = LARGE_NORMAL + 2 * 48;
    /// `Stats stats_`: eleven 64-bit counters, `system_bytes`, `free_bytes`,
    /// `unmapped_bytes`, `committed_bytes`, `scavenge_count`, `commit_count`,
    /// `total_commit_bytes`, `decommit_count`, `total_decommit_bytes`, `reserve_count`,
    /// `total_reserve_bytes`.
    pub const STATS: u64 = FREE + 96 * super::MAX_PAGES;
    /// `bool aggressive_decommit_` (after `int64_t scavenge_counter_; int release_index_`).
    pub const AGGRESSIVE_DECOMMIT: u64 = STATS + 88 + 8 + 4;
}

/// `class ThreadCache` (src/thread_cache.h), cache-line aligned.
pub mod thread_cache {
    /// `FreeList list_[kClassSizesMax]`: `{void* list_; uint32_t length_, lowater_,
    /// max_length_, length_overages_; int32_t size_;}`, 32 bytes each on LP64.
    pub const LIST_STRIDE: u64 = 32;
    /// `FreeList::length_`.
    pub const LIST_LENGTH: u64 = 8;
    /// `int32 size_`: bytes on the cache's lists.
    pub const SIZE: u64 = LIST_STRIDE * super::CLASS_SIZES_MAX;
    /// `int32 max_size_`.
    pub const MAX_SIZE: u64 = SIZE + 4;
    /// `pthread_t tid_` (after `Sampler sampler_`, 24 bytes, src/sampler.h).
    pub const TID: u64 = MAX_SIZE + 4 + 24;
    /// `ThreadCache* next_` (after `bool in_setspecific_`).
    pub const NEXT: u64 = TID + 16;
}

/// The exported symbols both of Debian's libraries keep in `.dynsym` (mangled).
pub mod symbols {
    /// `tcmalloc::ThreadCache::thread_heaps_`: the list of every thread's cache.
    pub const THREAD_HEAPS: &str = "_ZN8tcmalloc11ThreadCache13thread_heaps_E";
    /// `tcmalloc::ThreadCache::thread_heap_count_`.
    pub const THREAD_HEAP_COUNT: &str = "_ZN8tcmalloc11ThreadCache18thread_heap_count_E";
    /// `tcmalloc::ThreadCache::overall_thread_cache_size_`
    /// (TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES).
    pub const OVERALL_THREAD_CACHE_SIZE: &str =
        "_ZN8tcmalloc11ThreadCache26overall_thread_cache_size_E";
    /// `FLAGS_tcmalloc_release_rate` (TCMALLOC_RELEASE_RATE), a double.
    pub const RELEASE_RATE: &str =
        "_ZN62FLAG__namespace_do_not_use_directly_use_DECLARE_double_instead27FLAGS_tcmalloc_release_rateE";
    /// `tc_malloc`: gperftools' own entry point, in every build.
    pub const TC_MALLOC: &str = "tc_malloc";
    /// Hidden statics, in the symbol table of builds that keep it (a static
    /// `libtcmalloc.a`, an unstripped library): `tcmalloc::Static::sizemap_`, ...
    pub const SIZEMAP: &str = "_ZN8tcmalloc6Static8sizemap_E";
    /// `tcmalloc::Static::central_cache_`.
    pub const CENTRAL_CACHE: &str = "_ZN8tcmalloc6Static14central_cache_E";
    /// `tcmalloc::Static::pageheap_`.
    pub const PAGEHEAP: &str = "_ZN8tcmalloc6Static9pageheap_E";
    /// `tcmalloc::Static::span_allocator_`.
    pub const SPAN_ALLOCATOR: &str = "_ZN8tcmalloc6Static15span_allocator_E";
    /// `tcmalloc::metadata_system_bytes_` (file-local in src/common.cc).
    pub const METADATA_SYSTEM_BYTES: &str = "_ZN8tcmallocL22metadata_system_bytes_E";
}
