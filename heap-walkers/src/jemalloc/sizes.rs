//! jemalloc's size classes computed the way its own start-up computes them, for a core
//! whose tables (`sz_index2size_tab`, `bin_infos`: filled in at start-up, in jemalloc's
//! `.bss`) were cut off with the core's tail.
//!
//! Facts from jemalloc 5.3.0 src/sc.c (`size_classes`, `size_class`, `slab_size`) and
//! include/jemalloc/internal/sc.h: a class is `2^lg_base + ndelta * 2^lg_delta`; one tiny
//! class (8 bytes: `SC_LG_TINY_MIN` 3 below `LG_QUANTUM` 4, quantum.h on x86_64 and
//! aarch64), then groups of `2^SC_LG_NGROUP` = 4 classes per doubling up to the largest
//! 64-bit class; classes below `page << SC_LG_NGROUP` are small (served by bins) with a slab
//! of the fewest pages that their regions fill exactly.

use super::model::BinClass;

/// `LG_QUANTUM` (quantum.h: 4 on x86_64 and aarch64).
const LG_QUANTUM: u32 = 4;
/// `SC_LG_TINY_MIN` (sc.h).
const LG_TINY_MIN: u32 = 3;
/// `SC_LG_NGROUP` (sc.h): classes per doubling, and the large classes start at
/// `page << SC_LG_NGROUP`.
pub(crate) const LG_NGROUP: u32 = 2;
/// Pointer bits: the classes stop below `2^63`.
const PTR_BITS: u32 = 64;
/// The largest size class on 64-bit targets, `2^62 + 3 * 2^60` (sc.h: the last group has
/// lg_base `SC_PTR_BITS - 2` and a class fewer), which ends `sz_index2size_tab`.
pub(crate) const LARGEST_CLASS: u64 = 0x7000_0000_0000_0000;

/// Every size class (`sz_index2size_tab`) and the small ones' bins (`bin_infos`) of a
/// jemalloc with `2^lg_page`-byte pages and the default options: `opt.slab_sizes` and
/// `opt.bin_shards` change slabs and shards at start-up, and a process run with them has
/// others.
pub(crate) fn default_classes(lg_page: u32) -> (Vec<u64>, Vec<BinClass>) {
    let ngroup = 1u64 << LG_NGROUP;
    // The one tiny class, then a first group of quantum multiples (sc.c writes its first
    // class, 16, as 8 + 8).
    let mut sizes = vec![1u64 << LG_TINY_MIN];
    sizes.extend((1..=ngroup).map(|k| k << LG_QUANTUM));
    // Then each doubling in `ngroup` steps: `2^lg_base + k * 2^(lg_base - SC_LG_NGROUP)`;
    // the last group stops a class short of 2^63.
    for lg_base in LG_QUANTUM + LG_NGROUP..PTR_BITS - 1 {
        let n = if lg_base == PTR_BITS - 2 {
            ngroup - 1
        } else {
            ngroup
        };
        sizes.extend((1..=n).map(|k| (1u64 << lg_base) + (k << (lg_base - LG_NGROUP))));
    }
    let page = 1u64 << lg_page;
    let bins = sizes
        .iter()
        .take_while(|&&size| size < page << LG_NGROUP)
        .map(|&size| {
            // sc.c `slab_size`: the fewest pages that `size`-byte regions fill exactly,
            // `lcm(page, size) / page`, which for a power-of-two page is `size` over the
            // largest power of two dividing both.
            let slab = (size >> size.trailing_zeros().min(lg_page)) * page;
            BinClass {
                size,
                nregs: (slab / size) as u32,
                slab_size: slab,
                nshards: 1,
            }
        })
        .collect();
    (sizes, bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the constants sc.h derives for 4 KiB pages (5.3.0: `SC_NSIZES` 232,
    /// `SC_NBINS` 36, `SC_SMALL_MAXCLASS` 14336, `SC_LARGE_MAXCLASS` 7 << 60) and the slab
    /// of its largest small class (seven pages, sc.c's bound).
    #[test]
    fn classes_of_4_kib_pages() {
        let (sizes, bins) = default_classes(12);
        assert_eq!(sizes.len(), 232);
        assert_eq!(
            sizes[..13],
            [8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256]
        );
        assert_eq!(sizes.last(), Some(&LARGEST_CLASS));
        assert_eq!(bins.len(), 36);
        let last = bins.last().unwrap();
        assert_eq!(
            (last.size, last.slab_size, last.nregs),
            (14336, 7 * 4096, 2)
        );
        assert_eq!((bins[0].nregs, bins[0].slab_size), (512, 4096));
        // 48-byte regions: three pages hold 256 exactly.
        assert_eq!(
            (bins[3].size, bins[3].slab_size, bins[3].nregs),
            (48, 12288, 256)
        );
        assert!(bins.iter().all(|b| b.slab_size % b.size == 0));
    }
}
