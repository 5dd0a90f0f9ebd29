//! Every allocation of a jemalloc 5.x heap: slab regions and large extents, found through
//! the global extent map, and the regions parked in thread caches.
//!
//! jemalloc keeps no list of full slabs or of large extents for its automatic arenas (5.3
//! `bin_s.slabs_full` and `arena_s.large` are kept for manual arenas only; 5.1/5.2 keep
//! `slabs_full` for manual arenas only too), so the walk goes through the radix tree that
//! maps every page to its extent (5.3 `arena_emap_global`, emap.h / rtree.h; 5.1/5.2
//! `extents_rtree`, extent.c / rtree.h): each active extent is a slab, whose bitmap says
//! which regions are in use, or a large allocation. Regions whose pointers sit in a thread
//! cache's stack are in use for jemalloc but free for the program: they are listed as
//! `tcache`.

use std::collections::{BTreeMap, HashSet};

use core_reader::{Diagnostic, Memory};

use super::layout::{CacheBins, Layout};
use super::walk::{read_u16, Classes, MAX_TCACHES};
use crate::scan::nonzero_words;
use crate::{Allocation, AllocationState as State};

/// `extent_state_t` (5.3 edata.h, 5.1/5.2 extent_structs.h).
const STATE_ACTIVE: u64 = 0;
const STATE_DIRTY: u64 = 1;
const STATE_MUZZY: u64 = 2;

/// Bit positions in the extent header's `e_bits`: arena (12 bits, `MALLOCX_ARENA_BITS`),
/// slab, then flags, the state, szind (`LG_CEIL(SC_NSIZES)` bits), nfree
/// (`SC_LG_SLAB_MAXREGS + 1` bits). 5.3 edata.h `EDATA_BITS_*`: committed, pai, zeroed,
/// guarded, then a 3-bit state at 17; 5.1.0 / 5.2.1 extent_structs.h `EXTENT_BITS_*`:
/// committed, dumpable, zeroed, then a 2-bit state at 16.
struct EdataBits {
    state_shift: u32,
    state_width: u32,
    szind_shift: u32,
    szind_width: u32,
    nfree_shift: u32,
    nfree_width: u32,
}

const ARENA_BITS: u32 = 12;
const SLAB_SHIFT: u32 = 12;

impl EdataBits {
    fn new(o: &EdataOffsets, nsizes: usize, lg_page: u32) -> EdataBits {
        let szind_width = usize::BITS - (nsizes - 1).leading_zeros();
        let szind_shift = o.state_shift + o.state_width;
        // SC_LG_SLAB_MAXREGS = LG_PAGE - SC_LG_TINY_MIN (3).
        EdataBits {
            state_shift: o.state_shift,
            state_width: o.state_width,
            szind_shift,
            szind_width,
            nfree_shift: szind_shift + szind_width,
            nfree_width: lg_page - 3 + 1,
        }
    }
}

fn field(bits: u64, shift: u32, width: u32) -> u64 {
    (bits >> shift) & ((1u64 << width) - 1)
}

/// The extent map's shape (rtree.h, the same in 5.1, 5.2 and 5.3): `LG_VADDR` is 48 on
/// x86_64 Linux (configure.ac asks cpuid; 48 on every machine we read) and on aarch64 LP64
/// (configure.ac: fixed at 48). The `RTREE_NSB = LG_VADDR - LG_PAGE` significant bits make
/// two levels (`RTREE_HEIGHT` 2 up to 36 bits): the root, inline in `rtree_t`, indexed by
/// the high `NSB / 2` bits, and leaves by the other `NSB / 2 + NSB % 2` (`rtree_levels`):
/// 2^18 entries each with 4 KiB pages, 2^16 with 64 KiB pages. Leaves hold packed 64-bit
/// elements (`RTREE_LEAF_COMPACT`, as `RTREE_NHIB` = 16 bits are enough for the size
/// index: the extent header's pointer in bits 0..48, metadata in its low bits, szind above
/// bit 48).
const LG_VADDR: u32 = 48;

/// `(root bits, leaf bits)` of the extent map with pages of `2^lg_page` bytes.
fn rtree_levels(lg_page: u32) -> (u32, u32) {
    let nsb = LG_VADDR.saturating_sub(lg_page);
    (nsb / 2, nsb / 2 + nsb % 2)
}
/// Bound on the extents examined.
const MAX_EXTENTS: usize = 1 << 24;
/// Bound on the leaves walked: each maps 1 GiB of address space, so this covers 16 TiB; a
/// corrupt root whose every slot points at readable memory stops here.
const MAX_LEAVES: usize = 1 << 14;

/// Offsets the allocation walk needs beyond [`Layout`], per version on 64-bit builds without
/// `JEMALLOC_DEBUG` (no mutex inside, so the same on Linux and FreeBSD): the extent header
/// (5.3 edata.h `edata_s`; 5.1.0 / 5.2.1 extent_structs.h `extent_s`), and what the map's
/// leaf elements keep in the pointer's low bits. Where the map's root is, which depends on
/// the platform's mutex, is the layout's ([`Layout::rtree_root`]).
pub(crate) struct EdataOffsets {
    e_bits: u64,
    e_addr: u64,
    e_size_esn: u64,
    slab_bitmap: u64,
    /// The `prof_tctx_t *` of a large extent: 5.3 `e_prof_info.e_prof_tctx` (after the
    /// 8-byte `e_prof_alloc_time` and `e_prof_alloc_size`); 5.2 after `e_alloc_time`; 5.1
    /// first in the union it shares with the slab bitmap.
    pub(crate) prof_tctx: u64,
    /// Low bits of a leaf element that are not the pointer: 5.3 `EDATA_ALIGNMENT` (128;
    /// slab, head and state bits live there); 5.1/5.2 the slab bit alone
    /// (`rtree_leaf_elm_bits_extent_get` masks `~1`).
    ptr_low_bits: u64,
    state_shift: u32,
    state_width: u32,
}

const EDATA_5_3: EdataOffsets = EdataOffsets {
    e_bits: 0,
    e_addr: 8,
    e_size_esn: 16,
    slab_bitmap: 64,
    prof_tctx: 80,
    ptr_low_bits: 127,
    state_shift: 17,
    state_width: 3,
};

/// 5.1.0: `ql_link` and `ph_link` (40 bytes) after `e_size_esn`, then the union of
/// `e_slab_data` and `e_prof_tctx` at 64.
const EXTENT_5_1: EdataOffsets = EdataOffsets {
    e_bits: 0,
    e_addr: 8,
    e_size_esn: 16,
    slab_bitmap: 64,
    prof_tctx: 64,
    ptr_low_bits: 1,
    state_shift: 16,
    state_width: 2,
};

/// 5.2.1: as 5.1.0, with `{ nstime_t e_alloc_time; e_prof_tctx }` in the union.
const EXTENT_5_2: EdataOffsets = EdataOffsets {
    prof_tctx: 72,
    ..EXTENT_5_1
};

impl EdataOffsets {
    /// The offsets of `l`'s family: 5.3's page allocator, else 5.2 (which added the bin
    /// shards and per-size extent counts, [`super::Features::extents`]), else 5.1.
    pub(crate) fn of(l: &Layout) -> &'static EdataOffsets {
        if l.has_page_allocator() {
            &EDATA_5_3
        } else if l.features.extents {
            &EXTENT_5_2
        } else {
            &EXTENT_5_1
        }
    }
}

/// What the walk of the extent map found: every allocation (and free slab region and free
/// extent) of every arena, and where jemalloc's own metadata is.
pub(crate) struct Listing {
    pub(crate) allocations: Vec<Allocation>,
    /// `[start, end)` of jemalloc's metadata: the base blocks that hold the extent headers,
    /// or the headers alone where their block was not recognized.
    pub(crate) metadata: Vec<(u64, u64)>,
    /// `(address, extent header)` of every large allocation in use: where a sampled
    /// allocation's profiling context is found ([`EdataOffsets::prof_tctx`]).
    pub(crate) large: Vec<(u64, u64)>,
}

/// jemalloc's base allocator maps its blocks in multiples of `HUGEPAGE` (2 MiB on x86_64
/// and aarch64 Linux), aligned to it (5.3 base.c `base_map`: "huge page sizes and
/// alignment"; 5.1.0 base.c the same), and each block starts with `base_block_t { size_t
/// size; base_block_t *next; edata_t edata; }` (5.3 base.h; 5.1/5.2 base_structs.h, with
/// `extent_t`). Every extent header comes from a base block (5.3 `base_alloc_edata`,
/// 5.1/5.2 `base_alloc_extent`).
const BASE_BLOCK_ALIGN: u64 = 2 << 20;
/// How far below a header its block's start is looked for (blocks of up to this size).
const MAX_BASE_BLOCK: u64 = 1 << 30;
/// Base blocks followed through their `next` links at most.
const MAX_BASE_BLOCKS: usize = 1 << 16;

/// The base blocks holding `headers`, and the other blocks of their lists; a header whose
/// block is not recognized is its own range.
fn base_blocks(mem: &dyn Memory, headers: &[u64], edata_size: u64) -> Vec<(u64, u64)> {
    let block_at = |start: u64| -> Option<(u64, u64)> {
        let size = mem.read_u64(start)?;
        let next = mem.read_u64(start.wrapping_add(8))?;
        (size != 0
            && size % BASE_BLOCK_ALIGN == 0
            && size <= MAX_BASE_BLOCK
            && next % BASE_BLOCK_ALIGN == 0)
            .then_some((start, start.wrapping_add(size)))
    };
    let mut found: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    let mut loose = Vec::new();
    // The headers come sorted. When one's block was not found, no start from its own down
    // to the bottom of its search holds a block reaching past it, so none reaching past a
    // later (higher) header either, whose search ends no lower: a damaged heap's thousands
    // of loose headers would otherwise each read 512 starts.
    let mut no_block_to: Option<u64> = None;
    for &h in headers {
        if found
            .range(..=h)
            .next_back()
            .is_some_and(|(_, &end)| h < end)
        {
            continue;
        }
        let top = h & !(BASE_BLOCK_ALIGN - 1);
        let mut start = top;
        let block = loop {
            // A base block is one mapping, and a core keeps a prefix of each (a cut core
            // loses its tail): no block starting below a start that is not in the core
            // reaches `h`, which is. Without that, a loose header far from any block read
            // 512 starts.
            if no_block_to.is_some_and(|to| start <= to) || mem.bytes_at(start).is_empty() {
                break None;
            }
            match block_at(start) {
                Some((s, e)) if h < e => break Some((s, e)),
                _ if h - start >= MAX_BASE_BLOCK || start < BASE_BLOCK_ALIGN => break None,
                _ => start -= BASE_BLOCK_ALIGN,
            }
        };
        if block.is_none() {
            no_block_to = Some(top);
        }
        match block {
            Some((s, e)) => {
                found.insert(s, e);
                // The rest of its base's list.
                let mut next = mem.read_u64(s.wrapping_add(8)).unwrap_or(0);
                while next != 0 && found.len() < MAX_BASE_BLOCKS && !found.contains_key(&next) {
                    let Some((s, e)) = block_at(next) else { break };
                    found.insert(s, e);
                    next = mem.read_u64(s.wrapping_add(8)).unwrap_or(0);
                }
            }
            None => loose.push((h, h.saturating_add(edata_size))),
        }
    }
    found.into_iter().chain(loose).collect()
}

/// `sizeof (edata_t)` in jemalloc 5.3 on 64-bit Linux, with pages of `2^lg_page` bytes: its
/// last member, the slab bitmap at offset 64 (edata.h `e_slab_data`), ends it; 5.1/5.2's
/// `extent_t` ends with the same bitmap at 64 (extent_structs.h). The bitmap has a bit per
/// region of the fullest slab (`LG_BITMAP_MAXBITS` = `SC_LG_SLAB_MAXREGS` = `LG_PAGE - 3`,
/// more than the size index's 8 bits), 64 to a group, and above 2^9 bits it is a tree whose
/// upper levels follow (bitmap.h `BITMAP_USE_TREE`, `BITMAP_GROUPS_MAX`): 128 bytes with
/// 4 KiB pages, 1112 with 64 KiB pages (gdb on the aarch64 builds' DWARF).
pub(crate) fn edata_size(lg_page: u32) -> u64 {
    let lg_bits = lg_page.saturating_sub(3).min(20);
    let mut groups = 1u64 << lg_bits.saturating_sub(6);
    let mut total = groups;
    if lg_bits > 6 + 3 {
        while groups > 1 {
            groups = groups.div_ceil(64);
            total += groups;
        }
    }
    64 + 8 * total
}

/// Lists every allocation (and free slab region and free extent) of every arena, from the
/// extent map whose first level is at `root`.
pub(crate) fn allocations(
    mem: &dyn Memory,
    l: &Layout,
    c: &Classes,
    root: u64,
    arenas: &[(u32, u64)],
    problems: &mut Vec<Diagnostic>,
) -> Listing {
    let o = EdataOffsets::of(l);
    let lg_page = c.page.trailing_zeros();
    let bits = EdataBits::new(o, c.index2size.len(), lg_page);
    let (cached, stack_heads) = tcached_pointers(mem, l, c, arenas, problems);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out = Vec::new();
    let mut large = Vec::new();
    let mut bad = 0usize;
    let mut damaged = 0usize;
    let (root_bits, leaf_bits) = rtree_levels(lg_page);
    let leaf_span = 1u64 << (leaf_bits + lg_page);
    let mut leaves = 0usize;
    let (roots, root_cut) = root_entries(mem, root, root_bits);
    for (i, leaf) in roots {
        leaves += 1;
        if leaves > MAX_LEAVES {
            problems.push(Diagnostic::at(
                "extent_map_too_large",
                root,
                format!("the extent map has more than {MAX_LEAVES} leaves (corrupt?): stopped"),
            ));
            break;
        }
        let mut j = 0u64;
        while j < (1 << leaf_bits) {
            let bytes = mem.bytes_at(leaf.wrapping_add(8 * j));
            // Fewer than 8 bytes: the core ends inside this entry (a cut core), which would
            // otherwise be read again and again.
            if bytes.len() < 8 {
                problems.push(Diagnostic::at(
                    "truncated",
                    leaf.wrapping_add(8 * j),
                    format!(
                        "extent map leaf at {:#x} unreadable",
                        leaf.wrapping_add(8 * j)
                    ),
                ));
                break;
            }
            let n = (bytes.len() / 8).min(((1 << leaf_bits) - j) as usize);
            for (k, e) in nonzero_words(&bytes[..n * 8]) {
                let page = i * leaf_span + (j + k as u64) * c.page;
                // Sign-extend from LG_VADDR bits, drop the metadata bits.
                let edata =
                    (((e << (64 - LG_VADDR)) as i64 >> (64 - LG_VADDR)) as u64) & !o.ptr_low_bits;
                if edata == 0 || !seen.insert(edata) {
                    continue;
                }
                if seen.len() > MAX_EXTENTS {
                    problems.push(Diagnostic::new(
                        "extent_map_too_large",
                        format!("more than {MAX_EXTENTS} extents: stopped"),
                    ));
                    return listing(mem, out, large, seen, &stack_heads, edata_size(lg_page));
                }
                match extent(mem, o, &bits, c, edata, page, &cached, &mut large) {
                    Some((mut list, damage)) => {
                        out.append(&mut list);
                        if let Some(d) = damage {
                            damaged += 1;
                            if damaged <= MAX_DAMAGE_REPORTS {
                                problems.push(d);
                            }
                        }
                    }
                    None => bad += 1,
                }
            }
            j += n as u64;
        }
    }
    if root_cut {
        problems.push(Diagnostic::at(
            "truncated",
            root,
            format!("the extent map's root at {root:#x} is not in the core"),
        ));
    }
    if damaged > MAX_DAMAGE_REPORTS {
        problems.push(Diagnostic::new(
            "damaged_extent",
            format!(
                "{} more damaged slabs and extents not listed one by one",
                damaged - MAX_DAMAGE_REPORTS
            ),
        ));
    }
    // Only the first page of an extent is looked at; an edata first met through an interior
    // or last page (or stale) does not match its own address and is skipped, so `bad`
    // counts those too. It matters only if nothing was found.
    if out.is_empty() && bad > 0 {
        problems.push(Diagnostic::at(
            "layout_mismatch",
            root,
            format!(
                "the extent map held {bad} entries that are not extents: this build's rtree \
                 or extent header differs from jemalloc's layout for this version"
            ),
        ));
    }
    listing(mem, out, large, seen, &stack_heads, edata_size(lg_page))
}

/// The extent map root's non-empty entries (index, leaf), up to one past [`MAX_LEAVES`], and
/// whether the root ends early in the core. Read a run of bytes at a time: the root has
/// 2^`root_bits` entries (2^18 with 4K pages), nearly all empty, and one read each cost more than the rest of the walk.
fn root_entries(mem: &dyn Memory, root: u64, root_bits: u32) -> (Vec<(u64, u64)>, bool) {
    let mut entries = Vec::new();
    let mut i = 0u64;
    while i < 1 << root_bits {
        let bytes = mem.bytes_at(root.wrapping_add(8 * i));
        if bytes.len() < 8 {
            return (entries, true);
        }
        let n = (bytes.len() / 8).min(((1 << root_bits) - i) as usize);
        for (k, leaf) in nonzero_words(&bytes[..n * 8]) {
            entries.push((i + k as u64, leaf));
            if entries.len() > MAX_LEAVES {
                return (entries, false);
            }
        }
        i += n as u64;
    }
    (entries, false)
}

/// The listing, sorted, with the allocations that hold thread-cache stacks marked as
/// jemalloc's own ([`Allocation::INTERNAL`]): 5.3 allocates each thread's cache-bin stacks
/// from an arena like any allocation (tcache.c `tsd_tcache_data_init`), and their slots keep
/// the addresses of regions long handed out, which would anchor them.
fn listing(
    mem: &dyn Memory,
    mut allocations: Vec<Allocation>,
    mut large: Vec<(u64, u64)>,
    seen: HashSet<u64>,
    stack_heads: &[u64],
    edata_size: u64,
) -> Listing {
    allocations.sort_by_key(|a| a.address);
    for &head in stack_heads {
        let i = allocations.partition_point(|a| a.address <= head);
        if let Some(a) = i.checked_sub(1).and_then(|i| allocations.get_mut(i)) {
            if head < a.end() && a.state == crate::AllocationState::Used {
                a.flags |= Allocation::INTERNAL;
            }
        }
    }
    let mut headers: Vec<u64> = seen.into_iter().collect();
    headers.sort_unstable();
    large.sort_unstable();
    Listing {
        allocations,
        metadata: base_blocks(mem, &headers, edata_size),
        large,
    }
}

/// Damaged slabs reported one by one at most.
const MAX_DAMAGE_REPORTS: usize = 100;

/// The allocations of one extent, if `page` is its first page and it is active (or free),
/// with what is wrong with it: a slab whose size is not its class's slab size (the class's
/// is used), or whose bitmap and free count disagree (the bitmap, which jemalloc allocates
/// from, is kept); a large extent whose size is not its class's (the class is kept). A
/// large allocation in use is added to `large` with its header.
#[allow(clippy::too_many_arguments)]
fn extent(
    mem: &dyn Memory,
    o: &EdataOffsets,
    bits: &EdataBits,
    c: &Classes,
    edata: u64,
    page: u64,
    cached: &HashSet<u64>,
    large: &mut Vec<(u64, u64)>,
) -> Option<(Vec<Allocation>, Option<Diagnostic>)> {
    let e_bits = mem.read_u64(edata.wrapping_add(o.e_bits))?;
    let addr = mem.read_u64(edata.wrapping_add(o.e_addr))?;
    let size = mem.read_u64(edata.wrapping_add(o.e_size_esn))? & !(c.page - 1);
    if addr & !(c.page - 1) != page {
        return None;
    }
    let arena = field(e_bits, 0, ARENA_BITS) as u32;
    let state = field(e_bits, bits.state_shift, bits.state_width);
    let slab = field(e_bits, SLAB_SHIFT, 1) == 1;
    let szind = field(e_bits, bits.szind_shift, bits.szind_width) as usize;
    match state {
        STATE_DIRTY | STATE_MUZZY => Some((
            vec![Allocation {
                address: addr,
                size,
                state: State::Free,
                arena,
                flags: 0,
            }],
            None,
        )),
        STATE_ACTIVE if slab => {
            let class = c.bins.get(szind)?;
            let nfree = field(e_bits, bits.nfree_shift, bits.nfree_width);
            // read_classes checked nregs * size <= slab_size (a few pages).
            let nregs = u64::from(class.nregs);
            addr.checked_add(class.slab_size)?;
            let mut damage = Vec::new();
            if size != class.slab_size {
                damage.push(format!(
                    "its size says {size:#x} bytes where a slab of {}-byte regions has {:#x}",
                    class.size, class.slab_size
                ));
            }
            let groups = nregs.div_ceil(64);
            let mut out = Vec::with_capacity(nregs as usize);
            let mut free = 0;
            for g in 0..groups {
                let word = mem.read_u64(edata.wrapping_add(o.slab_bitmap + 8 * g))?;
                for b in 0..64.min(nregs - g * 64) {
                    let region = g * 64 + b;
                    let address = addr + region * class.size;
                    // bitmap.h (flat bitmap): a set bit is a free region.
                    let state = if word >> b & 1 == 1 {
                        free += 1;
                        State::Free
                    } else if cached.contains(&address) {
                        State::Tcache
                    } else {
                        State::Used
                    };
                    out.push(Allocation {
                        address,
                        size: class.size,
                        state,
                        arena,
                        flags: 0,
                    });
                }
            }
            if free != nfree {
                damage.push(format!(
                    "its region bitmap marks {free} of {nregs} regions free, its free count \
                     says {nfree}; the bitmap is kept"
                ));
            }
            let damage = (!damage.is_empty()).then(|| {
                Diagnostic::at(
                    "damaged_slab",
                    addr,
                    format!(
                        "slab at {addr:#x} (edata {edata:#x}): {}",
                        damage.join("; ")
                    ),
                )
            });
            Some((out, damage))
        }
        STATE_ACTIVE => {
            let usable = *c.index2size.get(szind)?;
            let state = if cached.contains(&addr) {
                State::Tcache
            } else {
                large.push((addr, edata));
                State::Used
            };
            // A large extent spans its size class, plus a page where jemalloc pads large
            // allocations (`sz_large_pad`, with cache-oblivious placement: 5.3 sz.h, 5.1/5.2
            // sz.h); a sampled small allocation is promoted to the smallest large class
            // (`arena_prof_promote`). Any other size is a lie the walk does not follow: the
            // usable size comes from the size class.
            let class = if szind < c.nbins() {
                c.index2size.get(c.nbins()).copied().unwrap_or(usable)
            } else {
                usable
            };
            let damage = (size != class && size != class.wrapping_add(c.page)).then(|| {
                Diagnostic::at(
                    "extent_size",
                    addr,
                    format!(
                        "large extent at {addr:#x} (edata {edata:#x}): its size says {size:#x} \
                         bytes where its size class ({usable} usable bytes) spans {class:#x} \
                         or {:#x}; the size class is kept",
                        class.wrapping_add(c.page)
                    ),
                )
            });
            Some((
                vec![Allocation {
                    address: addr,
                    size: usable,
                    state,
                    arena,
                    flags: 0,
                }],
                damage,
            ))
        }
        // Retained extents hold no memory.
        _ => Some((Vec::new(), None)),
    }
}

/// Bound on one 5.1/5.2 bin's `ncached` (its `ncached_max` is at most
/// `TCACHE_NSLOTS_SMALL_MAX`, 200, tcache_types.h).
const MAX_NCACHED: u64 = 1 << 12;

/// The pointers sitting in every thread cache's bins, of the caches bound to `arenas`, and
/// a pointer into each bin's stack (the stacks are one allocation per cache, jemalloc's
/// own). 5.3: `cache_bin_t.stack_head[0..n]`, `n` told by the low bits (cache_bin.h); 5.1 /
/// 5.2: `avail[-ncached..-1]` (cache_bin.h), small classes in `bins_small`, the large ones
/// from class `NBINS` on in `bins_large`.
fn tcached_pointers(
    mem: &dyn Memory,
    l: &Layout,
    c: &Classes,
    arenas: &[(u32, u64)],
    problems: &mut Vec<Diagnostic>,
) -> (HashSet<u64>, Vec<u64>) {
    let mut out = HashSet::new();
    let mut heads = Vec::new();
    // By arena, so the diagnostics come in one order from run to run.
    let mut per_arena: BTreeMap<u32, usize> = BTreeMap::new();
    let size = l.cache_bin.size;
    for &(index, a) in arenas {
        let Some(first) = mem.read_u64(a.wrapping_add(l.arena.cache_bin_array_descriptor_ql))
        else {
            continue;
        };
        let mut d = first;
        let mut n = 0;
        while d != 0 && n < MAX_TCACHES {
            n += 1;
            // (first slot, count) of each bin's stack.
            let stacks: Vec<(u64, u64)> = match &l.cache_bin.bins {
                CacheBins::Stack(cb) => {
                    let Some(bins) = mem.read_u64(d.wrapping_add(cb.descriptor_bins)) else {
                        break;
                    };
                    (0..c.nhbins as u64)
                        .filter_map(|i| {
                            let b = bins.wrapping_add(i * size);
                            let head = mem.read_u64(b.wrapping_add(cb.stack_head))?;
                            let empty = read_u16(mem, b.wrapping_add(cb.low_bits_empty))?;
                            heads.push(head);
                            Some((head, u64::from(empty.wrapping_sub(head as u16)) / 8))
                        })
                        .collect()
                }
                CacheBins::Ncached {
                    ncached,
                    avail,
                    bins_small,
                    bins_large,
                } => {
                    let (Some(small), Some(large)) = (
                        mem.read_u64(d.wrapping_add(*bins_small)),
                        mem.read_u64(d.wrapping_add(*bins_large)),
                    ) else {
                        break;
                    };
                    let nbins = c.nbins() as u64;
                    (0..c.nhbins as u64)
                        .filter_map(|i| {
                            let b = if i < nbins {
                                small.wrapping_add(i * size)
                            } else {
                                large.wrapping_add((i - nbins) * size)
                            };
                            // cache_bin_sz_t is int32_t; -1 is an empty bin's low water.
                            let count = mem.read_u32(b.wrapping_add(*ncached))? as i32;
                            let end = mem.read_u64(b.wrapping_add(*avail))?;
                            let count = u64::try_from(count).unwrap_or(0).min(MAX_NCACHED);
                            // One slot below avail is inside the stack even when empty.
                            heads.push(end.wrapping_sub(8));
                            Some((end.wrapping_sub(8 * count), count))
                        })
                        .collect()
                }
            };
            for (head, count) in stacks {
                for k in 0..count {
                    match mem.read_u64(head.wrapping_add(8 * k)) {
                        Some(p) => {
                            out.insert(p);
                        }
                        None => {
                            *per_arena.entry(index).or_default() += 1;
                            break;
                        }
                    }
                }
            }
            match mem.read_u64(d.wrapping_add(l.cache_bin.descriptor_next)) {
                Some(next) if next != first => d = next,
                _ => break,
            }
        }
    }
    for (arena, n) in per_arena {
        problems.push(Diagnostic::new(
            "tcache_unreadable",
            format!(
                "arena {arena}: {n} thread-cache stacks unreadable; their regions show as used"
            ),
        ));
    }
    (out, heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes rtree.h's `rtree_levels` and bitmap.h's `BITMAP_GROUPS_MAX` give, as gdb
    /// reads them from the DWARF of the aarch64 builds (tests/heap_jemalloc.rs): `rtree_s.root`
    /// has 2^18 entries with 4 KiB pages, 2^16 with 64 KiB pages; `sizeof (edata_t)` is 128
    /// and 1112.
    #[test]
    fn extent_map_and_header_follow_the_page_size() {
        assert_eq!(rtree_levels(12), (18, 18));
        assert_eq!(rtree_levels(16), (16, 16));
        assert_eq!(edata_size(12), 128);
        assert_eq!(edata_size(16), 1112);
    }

    /// Headers in no block are their own ranges; one that follows them in a block above is
    /// still found in it (the search that failed below does not hide it), and so is one in a
    /// block that spans several 2 MiB steps under a loose header's.
    #[test]
    fn base_blocks_found_past_loose_headers() {
        const MIB: u64 = 1 << 20;
        let mut image = core_reader::MemoryImage::new();
        // base_block_t { size, next }: a 2 MiB block at 4 MiB and a 6 MiB one at 16 MiB.
        let mut small = vec![0u8; (3 * MIB) as usize];
        small[MIB as usize..MIB as usize + 8].copy_from_slice(&(2 * MIB).to_le_bytes());
        assert!(image.add(3 * MIB, small));
        let mut big = vec![0u8; (7 * MIB) as usize];
        big[MIB as usize..MIB as usize + 8].copy_from_slice(&(6 * MIB).to_le_bytes());
        assert!(image.add(15 * MIB, big));
        let headers = [3 * MIB + 64, 4 * MIB + 64, 15 * MIB + 64, 21 * MIB + 64];
        assert_eq!(
            base_blocks(&image, &headers, 128),
            [
                (4 * MIB, 6 * MIB),
                (16 * MIB, 22 * MIB),
                (3 * MIB + 64, 3 * MIB + 192),
                (15 * MIB + 64, 15 * MIB + 192),
            ]
        );
    }
}
