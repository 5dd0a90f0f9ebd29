//! The globals a walk starts from, and the bounds they set.

/// `MALLOCX_ARENA_LIMIT` (include/jemalloc/internal/jemalloc_internal_types.h, 5.x): the
/// length of the `arenas` array.
pub(crate) const ARENA_LIMIT: u64 = 4095;

/// The globals a walk starts from, found by symbol.
#[derive(Debug, Clone, Default)]
pub(crate) struct Globals {
    pub prefix: String,
    /// `arena_t *arenas[MALLOCX_ARENA_LIMIT]` (jemalloc.c).
    pub arenas: u64,
    /// `static atomic_u_t narenas_total` (jemalloc.c): slots of `arenas` in use.
    pub narenas_total: Option<u64>,
    /// `unsigned narenas_auto` (jemalloc.c).
    pub narenas_auto: Option<u64>,
    /// `bin_info_t bin_infos[SC_NBINS]` (bin_info.c).
    pub bin_infos: u64,
    /// `size_t sz_index2size_tab[SC_NSIZES]` (sz.c).
    pub index2size: u64,
    /// `uint32_t arena_bin_offsets[SC_NBINS]` (arena.c, 5.3).
    pub arena_bin_offsets: Option<u64>,
    /// `unsigned nhbins` (tcache.c): bins a thread cache has.
    pub nhbins: Option<u64>,
    /// `cache_bin_info_t *tcache_bin_info` (tcache.c).
    pub tcache_bin_info: Option<u64>,
    /// `emap_t arena_emap_global` (arena.c): the page → extent map.
    pub emap: Option<u64>,
    /// `rtree_t extents_rtree` (5.1/5.2 extent.c): the page → extent map.
    pub extents_rtree: Option<u64>,
    /// `opt_*` variables (jemalloc.c, arena.c, tcache.c).
    pub opt_dirty_decay_ms: Option<u64>,
    pub opt_muzzy_decay_ms: Option<u64>,
    pub opt_narenas: Option<u64>,
    pub opt_retain: Option<u64>,
    pub opt_background_thread: Option<u64>,
    pub opt_tcache: Option<u64>,
}
