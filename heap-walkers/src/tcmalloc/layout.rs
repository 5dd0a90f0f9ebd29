//! gperftools 2.10's structs on Linux x86_64 (LP64, the default `kPageShift` 13, 128 size
//! classes at most, 48 address bits, not `TCMALLOC_SMALL_BUT_SLOW`): offsets and constants
//! read from the sources of tag `gperftools-2.10`, file by file. Both of Debian's libraries
//! (`libtcmalloc.so.4`, `libtcmalloc_minimal.so.4`, package 2.10-1) are built this way;
//! they are stripped, so these tables stand in for their DWARF. Linux aarch64 builds have
//! the same layouts: LP64 too, `kAddressBits` 48 (src/common.h: `#if __aarch64__ ||
//! __x86_64__ …`, so src/page_heap.h's `MapSelector<48>` picks the same two-level
//! `TCMalloc_PageMap2`), and `CACHELINE_ALIGNED` 64 bytes on both (src/base/basictypes.h). The discovery
//! ([`super::discover`]) checks every table against the contents before it is used.
//!
//! A walk reads through a `Layout`: this table (`Layout::built_in`; for another
//! `kPageShift`, `Layout::built_in_with_page_shift`, whose page heap the discovery tries
//! until one fits), or the same offsets and constants taken from the library's DWARF
//! (`Layout::from_dwarf`), which also describes builds this table does not (other
//! options).

use core_reader::{Module, Target};

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
/// src/common.h: `kAddressBits` (48 on x86_64 and aarch64); page numbers have 48 - 13 bits.
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

/// Where the walk finds what it reads: the built-in table above or the library's DWARF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Whether the offsets came from DWARF.
    pub dwarf: bool,
    /// `kPageShift`.
    pub page_shift: u32,
    /// `kClassSizesMax`: the length of the size map's and the thread cache's arrays.
    pub class_sizes_max: u64,
    /// `kMaxPages`.
    pub max_pages: u64,
    /// `kAddressBits - kPageShift`.
    pub page_number_bits: u32,
    pub size_map: SizeMapOffsets,
    pub span: SpanOffsets,
    pub central: CentralOffsets,
    pub span_allocator: AllocatorOffsets,
    pub page_heap: PageHeapOffsets,
    pub thread_cache: ThreadCacheOffsets,
}

/// `SizeMap`'s arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SizeMapOffsets {
    pub num_objects_to_move: u64,
    pub class_to_size: u64,
    pub class_to_pages: u64,
    pub num_size_classes: u64,
}

/// `Span`'s members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanOffsets {
    pub start: u64,
    pub length: u64,
    pub next: u64,
    pub prev: u64,
    pub objects: u64,
    /// The 32-bit unit of the bit fields.
    pub bits: u64,
    pub size: u64,
}

/// `CentralFreeList`'s members and `CentralFreeListPadded`'s size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CentralOffsets {
    pub size_class: u64,
    pub num_spans: u64,
    pub counter: u64,
    pub tc_slots: u64,
    /// `kMaxNumTransferEntries`.
    pub tc_slots_max: u64,
    pub used_slots: u64,
    pub stride: u64,
}

/// `PageHeapAllocator<Span>`'s members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllocatorOffsets {
    pub free_area: u64,
    pub free_avail: u64,
    pub inuse: u64,
}

/// `PageHeap`'s members, with its page map's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageHeapOffsets {
    /// `pagemap_.root_`.
    pub pagemap_root: u64,
    /// The page map's `LEAF_BITS`.
    pub leaf_bits: u32,
    /// The page map's `ROOT_LENGTH`.
    pub root_length: u64,
    /// `free_`: 2 × kMaxPages span-list heads, a `Span` apart.
    pub free: u64,
    /// `stats_.system_bytes`, followed by `free_bytes`, `unmapped_bytes` and
    /// `committed_bytes`.
    pub stats: u64,
}

/// `ThreadCache`'s members and its `FreeList`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThreadCacheOffsets {
    /// `list_[kClassSizesMax]`.
    pub list: u64,
    /// `sizeof(FreeList)`.
    pub list_stride: u64,
    /// `FreeList::length_`.
    pub list_length: u64,
    pub size: u64,
    pub max_size: u64,
    pub tid: u64,
    pub next: u64,
}

/// x86_64's and aarch64's `kAddressBits` (src/common.h): the page map covers page numbers
/// of 48 - kPageShift bits.
const ADDRESS_BITS: u32 = 48;

impl Layout {
    /// The table above: gperftools 2.10's default build on Linux x86_64 or aarch64.
    pub fn built_in() -> Layout {
        Layout {
            dwarf: false,
            page_shift: PAGE_SHIFT,
            class_sizes_max: CLASS_SIZES_MAX,
            max_pages: MAX_PAGES,
            page_number_bits: PAGE_NUMBER_BITS,
            size_map: SizeMapOffsets {
                num_objects_to_move: size_map::NUM_OBJECTS_TO_MOVE,
                class_to_size: size_map::CLASS_TO_SIZE,
                class_to_pages: size_map::CLASS_TO_PAGES,
                num_size_classes: size_map::NUM_SIZE_CLASSES,
            },
            span: SpanOffsets {
                start: span::START,
                length: span::LENGTH,
                next: span::NEXT,
                prev: span::PREV,
                objects: span::OBJECTS,
                bits: span::BITS,
                size: span::SIZE,
            },
            central: CentralOffsets {
                size_class: central::SIZE_CLASS,
                num_spans: central::NUM_SPANS,
                counter: central::COUNTER,
                tc_slots: central::TC_SLOTS,
                tc_slots_max: central::TC_SLOTS_MAX,
                used_slots: central::USED_SLOTS,
                stride: central::STRIDE,
            },
            span_allocator: AllocatorOffsets {
                free_area: page_heap_allocator::FREE_AREA,
                free_avail: page_heap_allocator::FREE_AVAIL,
                inuse: page_heap_allocator::INUSE,
            },
            page_heap: PageHeapOffsets {
                pagemap_root: page_heap::PAGEMAP_ROOT,
                leaf_bits: page_heap::LEAF_BITS,
                root_length: page_heap::ROOT_LENGTH,
                free: page_heap::FREE,
                stats: page_heap::STATS,
            },
            thread_cache: ThreadCacheOffsets {
                list: 0,
                list_stride: thread_cache::LIST_STRIDE,
                list_length: thread_cache::LIST_LENGTH,
                size: thread_cache::SIZE,
                max_size: thread_cache::MAX_SIZE,
                tid: thread_cache::TID,
                next: thread_cache::NEXT,
            },
        }
    }

    /// The built-in table for a build configured with another `kPageShift`
    /// (`--with-tcmalloc-pagesize`, 4 to 256 KiB: shifts 12 to 18; Debian's is 13). Only the
    /// page heap moves: its page map is `TCMalloc_PageMap2<48 - kPageShift>` (src/pagemap.h:
    /// LEAF_BITS = (BITS + 1) / 2, a root of 1 << (BITS - LEAF_BITS) leaves) after the
    /// `PackedCache`'s fixed 2^16 entries, and `free_` has kMaxPages = 1 << (20 - kPageShift)
    /// lists (src/common.h); no other class has a member sized by kPageShift.
    pub fn built_in_with_page_shift(shift: u32) -> Layout {
        let bits = ADDRESS_BITS - shift;
        let leaf_bits = bits.div_ceil(2);
        let root_length = 1u64 << (bits - leaf_bits);
        let max_pages = 1u64 << (20 - shift);
        // `allocator_`, then `large_normal_` and `large_returned_` (std::set, 48 bytes each).
        let free = page_heap::PAGEMAP_ROOT + 8 * root_length + 8 + 2 * 48;
        Layout {
            page_shift: shift,
            max_pages,
            page_number_bits: bits,
            page_heap: PageHeapOffsets {
                pagemap_root: page_heap::PAGEMAP_ROOT,
                leaf_bits,
                root_length,
                free,
                stats: free + 2 * span::SIZE * max_pages,
            },
            ..Layout::built_in()
        }
    }

    /// The layout of the process's gperftools from DWARF (a library or executable built
    /// with `-g`), None when no module describes gperftools' classes or what it says does
    /// not hold together. Classes are asked for by the names gperftools 2.10's headers give
    /// them (in namespace `tcmalloc`, which the DWARF names leave out). The constants that
    /// depend on the build are derived from the classes' shapes, each two ways that must
    /// agree: `kPageShift` from the page map (`TCMalloc_PageMap2<48 - kPageShift>`: a root
    /// of `ROOT_LENGTH` leaves of `sizeof(Leaf) / 8` pages, src/pagemap.h) and from the
    /// length of `PageHeap::free_[kMaxPages]` (kMaxPages = 1 << (20 - kPageShift),
    /// src/common.h); `kClassSizesMax` from the distance between the size map's arrays of
    /// `int`; `kMaxNumTransferEntries` from `tc_slots_` to `used_slots_`. What DWARF cannot
    /// name is placed as span.h declares it: `Span::objects`, in an anonymous union of one
    /// pointer right after `prev`, then the 32-bit unit of the bit fields.
    ///
    /// Asked of `module`'s DWARF alone (tcmalloc's module), or of every module's when there
    /// is none (memory put together by hand).
    pub fn from_dwarf(target: &dyn Target, module: Option<&Module>) -> Option<Layout> {
        // Offsets and sizes past 16 MiB are no gperftools class's (its largest, `PageHeap`,
        // is about 1.5 MiB): a hostile file's numbers stop here, before any arithmetic.
        const BOUND: u64 = 1 << 24;
        let off = |s: &str, m: &str| {
            match module {
                Some(module) => target.module_offset_of(module, s, m),
                None => target.offset_of(s, m),
            }
            .filter(|&o| o < BOUND)
        };
        let size = |s: &str| {
            match module {
                Some(module) => target.module_size_of(module, s),
                None => target.size_of(s),
            }
            .filter(|&n| n < BOUND)
        };
        // First the class a build without gperftools' DWARF lacks: one search for it.
        let heap_size = size("PageHeap")?;

        let prev = off("Span", "prev")?;
        let span = SpanOffsets {
            start: off("Span", "start")?,
            length: off("Span", "length")?,
            next: off("Span", "next")?,
            prev,
            objects: prev + 8,
            bits: prev + 16,
            size: size("Span")?,
        };
        if span.bits + 4 > span.size {
            return None;
        }

        let size_map = SizeMapOffsets {
            num_objects_to_move: off("SizeMap", "num_objects_to_move_")?,
            class_to_size: off("SizeMap", "class_to_size_")?,
            class_to_pages: off("SizeMap", "class_to_pages_")?,
            num_size_classes: off("SizeMap", "num_size_classes")?,
        };
        let class_sizes_max = size_map
            .class_to_size
            .checked_sub(size_map.num_objects_to_move)?
            / 4;
        if !(2..=256).contains(&class_sizes_max)
            || size_map.class_to_pages < size_map.class_to_size + 4 * class_sizes_max
            || size_map.num_size_classes < size_map.class_to_pages + 8 * class_sizes_max
        {
            return None;
        }

        let tc_slots = off("CentralFreeList", "tc_slots_")?;
        let used_slots = off("CentralFreeList", "used_slots_")?;
        let central = CentralOffsets {
            size_class: off("CentralFreeList", "size_class_")?,
            num_spans: off("CentralFreeList", "num_spans_")?,
            counter: off("CentralFreeList", "counter_")?,
            tc_slots,
            // `TCEntry { void* head; void* tail; }`.
            tc_slots_max: used_slots.checked_sub(tc_slots)?
                / size("TCEntry").filter(|&n| n == 16)?,
            used_slots,
            stride: size("CentralFreeListPadded")?,
        };

        // 64 in 2.10 (src/central_freelist.h); a few more are believed, not thousands.
        if central.tc_slots_max > 1024 {
            return None;
        }

        let allocator = "PageHeapAllocator<tcmalloc::Span>";
        let span_allocator = AllocatorOffsets {
            free_area: off(allocator, "free_area_")?,
            free_avail: off(allocator, "free_avail_")?,
            inuse: off(allocator, "inuse_")?,
        };

        // The page map: `Leaf* root_[ROOT_LENGTH]` followed by `allocator_`.
        let root = off("PageMap", "root_")?;
        let root_length = off("PageMap", "allocator_")?.checked_sub(root)? / 8;
        let leaf_length = size("Leaf")? / 8;
        if !root_length.is_power_of_two() || !leaf_length.is_power_of_two() {
            return None;
        }
        let leaf_bits = leaf_length.trailing_zeros();
        let page_number_bits = root_length.trailing_zeros() + leaf_bits;
        // src/pagemap.h `TCMalloc_PageMap2`: LEAF_BITS = (BITS + 1) / 2.
        if leaf_bits != page_number_bits.div_ceil(2) {
            return None;
        }
        let page_shift = ADDRESS_BITS.checked_sub(page_number_bits)?;
        let free = off("PageHeap", "free_")?;
        let stats_ = off("PageHeap", "stats_")?;
        let max_pages =
            stats_.checked_sub(free)? / size("SpanList").filter(|&n| n == 2 * span.size)?;
        if !(12..=18).contains(&page_shift) || max_pages != 1 << (20 - page_shift) {
            return None;
        }
        let stat = |m: &str| off("Stats", m);
        let system = stat("system_bytes")?;
        if [
            stat("free_bytes"),
            stat("unmapped_bytes"),
            stat("committed_bytes"),
        ] != [Some(system + 8), Some(system + 16), Some(system + 24)]
        {
            return None;
        }
        let page_heap = PageHeapOffsets {
            pagemap_root: off("PageHeap", "pagemap_")? + root,
            leaf_bits,
            root_length,
            free,
            stats: stats_ + system,
        };
        if page_heap.stats + 32 > heap_size {
            return None;
        }

        let thread_cache = ThreadCacheOffsets {
            list: off("ThreadCache", "list_")?,
            list_stride: size("FreeList")?,
            list_length: off("FreeList", "length_")?,
            size: off("ThreadCache", "size_")?,
            max_size: off("ThreadCache", "max_size_")?,
            tid: off("ThreadCache", "tid_")?,
            next: off("ThreadCache", "next_")?,
        };
        Some(Layout {
            dwarf: true,
            page_shift,
            class_sizes_max,
            max_pages,
            page_number_bits,
            size_map,
            span,
            central,
            span_allocator,
            page_heap,
            thread_cache,
        })
    }

    /// `kPageSize`.
    pub fn page_size(&self) -> u64 {
        1 << self.page_shift
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use core_reader::MemoryImage;

    /// What the DWARF of gperftools 2.10's default build says, by the names it gives the
    /// classes and members (the built-in table's numbers, from the headers).
    fn default_build() -> MemoryImage {
        let mut img = MemoryImage::new();
        let members: &[(&str, &[(&str, u64)])] = &[
            (
                "Span",
                &[("start", 0), ("length", 8), ("next", 16), ("prev", 24)],
            ),
            (
                "SizeMap",
                &[
                    ("num_objects_to_move_", 2172),
                    ("class_to_size_", 2684),
                    ("class_to_pages_", 3200),
                    ("num_size_classes", 4224),
                ],
            ),
            (
                "CentralFreeList",
                &[
                    ("size_class_", 8),
                    ("num_spans_", 112),
                    ("counter_", 120),
                    ("tc_slots_", 128),
                    ("used_slots_", 1152),
                ],
            ),
            (
                "PageHeapAllocator<tcmalloc::Span>",
                &[("free_area_", 0), ("free_avail_", 8), ("inuse_", 24)],
            ),
            ("PageMap", &[("root_", 0), ("allocator_", 8 << 17)]),
            (
                "PageHeap",
                &[
                    ("pagemap_", 8 << 16),
                    ("free_", 0x18_0068),
                    ("stats_", 0x18_3068),
                ],
            ),
            (
                "Stats",
                &[
                    ("system_bytes", 0),
                    ("free_bytes", 8),
                    ("unmapped_bytes", 16),
                    ("committed_bytes", 24),
                ],
            ),
            (
                "ThreadCache",
                &[
                    ("list_", 0),
                    ("size_", 4096),
                    ("max_size_", 4100),
                    ("tid_", 4128),
                    ("next_", 4144),
                ],
            ),
            ("FreeList", &[("list_", 0), ("length_", 8)]),
        ];
        for (class, list) in members {
            for (member, at) in *list {
                img.offsets
                    .insert((class.to_string(), member.to_string()), *at);
            }
        }
        for (class, size) in [
            ("PageHeap", 0x18_30d0),
            ("Span", 48),
            ("TCEntry", 16),
            ("CentralFreeListPadded", 1216),
            ("Leaf", 8 << 18),
            ("SpanList", 96),
            ("FreeList", 32),
        ] {
            img.sizes.insert(class.to_string(), size);
        }
        img
    }

    /// The page heap of `--with-tcmalloc-pagesize=32` as that build's DWARF places it
    /// (`free_` at 0x100068, `stats_` at 0x100c68); the default build's is the table's.
    #[test]
    fn the_built_in_table_follows_the_page_size() {
        assert_eq!(Layout::built_in_with_page_shift(13), Layout::built_in());
        let l = Layout::built_in_with_page_shift(15);
        assert_eq!(
            (l.page_heap.free, l.page_heap.stats),
            (0x10_0068, 0x10_0c68)
        );
        assert_eq!(
            (l.page_heap.leaf_bits, l.page_heap.root_length),
            (17, 1 << 16)
        );
        assert_eq!((l.max_pages, l.page_number_bits), (32, 33));
    }

    #[test]
    fn the_default_builds_dwarf_gives_the_built_in_table() {
        let l = Layout::from_dwarf(&default_build(), None).expect("a layout");
        assert!(l.dwarf);
        assert_eq!(Layout { dwarf: false, ..l }, Layout::built_in());
    }

    /// `--with-tcmalloc-pagesize=32`: `TCMalloc_PageMap2<33>` (2^16 leaves of 2^17 pages)
    /// and 32 free lists; kPageShift 15 follows from either.
    #[test]
    fn a_32k_page_build_gives_kpageshift_15() {
        let mut img = default_build();
        img.offsets
            .insert(("PageMap".into(), "allocator_".into()), 8 << 16);
        img.sizes.insert("Leaf".into(), 8 << 17);
        img.offsets
            .insert(("PageHeap".into(), "stats_".into()), 0x18_0068 + 96 * 32);
        let l = Layout::from_dwarf(&img, None).expect("a layout");
        assert_eq!((l.page_shift, l.max_pages, l.page_size()), (15, 32, 32768));
        assert_eq!(
            (l.page_heap.leaf_bits, l.page_heap.root_length),
            (17, 1 << 16)
        );
    }

    /// A page map and free lists that disagree on kPageShift, or no gperftools class at
    /// all: no layout (the built-in table is used, and checked).
    #[test]
    fn dwarf_that_does_not_hold_together_is_no_layout() {
        let mut img = default_build();
        img.offsets
            .insert(("PageHeap".into(), "stats_".into()), 0x18_0068 + 96 * 32);
        assert_eq!(Layout::from_dwarf(&img, None), None);
        let mut img = default_build();
        img.sizes.insert("Leaf".into(), 8 << 40);
        assert_eq!(Layout::from_dwarf(&img, None), None);
        assert_eq!(Layout::from_dwarf(&MemoryImage::new(), None), None);
    }
}
