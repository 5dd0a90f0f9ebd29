//! jemalloc: arenas, dirty and muzzy pages, decay, bins and thread caches, rebuilt from a
//! core and shown the way jemalloc's own `malloc_stats_print()` shows them.
//!
//! - [`walk`] finds jemalloc in a [`Target`] (a core's [`core_reader::Process`], or memory
//!   built by hand) (by its symbols, under any of the prefixes
//!   builds use), picks the struct layouts (DWARF when the binary has it, a built-in table
//!   per version otherwise, see [`layout`]), and reads every arena into a [`Heap`].
//! - [`Heap::to_stats_json`] renders `malloc_stats_print`'s "J" document for the figures
//!   heapmortem rebuilds (`{"jemalloc": {"version": …, "stats.arenas": {"0": {…}}}}`),
//!   key for key; [`Heap::summary`] the allocator-neutral [`crate::Heap`] of `heapmortem heap
//!   --format json`, `--list` and the report; [`Heap::write_text`] the terminal view.
//! - [`profile`] rebuilds the heap profile a jemalloc running with `prof:true` keeps in
//!   memory ([`HeapProfile`], written out as jemalloc's `heap_v2` text by
//!   [`HeapProfile::to_heap_v2`]): a `prof.dump` for a process that died before dumping;
//!   [`allocation_sites`] the call path of every sampled live allocation ([`crate::Sites`]).
//! - [`Heap::findings`] runs the detectors: dirty pages that are never purged (the BIND 9
//!   story), threads whose decay ticker never started (its cause on 5.1/5.2), retained
//!   address space far above resident memory, thread caches holding a large share of the
//!   heap.
//!
//! Supported without DWARF (built-in layouts): on Linux x86_64, jemalloc 5.3.x (Debian's
//! libjemalloc.a and its stripped libjemalloc.so.2, whose globals are recognized by their
//! contents), 5.2.x and 5.1.x (`tikv-jemalloc-sys` 0.4, `jemalloc-sys` 0.3); on Linux
//! aarch64, 5.3.x with 64 KiB pages (`--with-lg-page=16`, what distributions and most
//! projects configure for arm64 so that one build runs under 4, 16 and 64 KiB kernels) and
//! with 4 KiB pages (configure's default, `tikv-jemalloc-sys` 0.5/0.6 on aarch64), 5.2.x and
//! 5.1.x with 64 KiB pages. With DWARF,
//! any build whose structs have the members of one of those families — FreeBSD's libc
//! (5.1 on FreeBSD 12, 5.2 on 13) needs its debug file, since its `pthread_mutex_t` is a
//! pointer and every offset after the first mutex differs from Linux's. `--list`
//! ([`Options::allocations`], and so leaks and allocation sites) walks the extent map of
//! 5.3 (`arena_emap_global`) and of 5.1/5.2 (`extents_rtree`), on x86_64 and aarch64 (the
//! map's levels and the extent header's bitmap follow the page size). On
//! 5.1/5.2, [`ThreadCache::decay_ticker`]
//! names the threads that will never trigger decay (the BIND 9 bug).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = core_reader::Options::default();
//! // SAFETY: the core is not modified while it is mapped.
//! let process = unsafe { core_reader::Process::open("core".as_ref(), &options)? };
//! let heap = heap_walkers::jemalloc::walk(&process)?;
//! for arena in &heap.arenas {
//!     println!("arena {}: {} dirty pages", arena.index, arena.pdirty);
//! }
//! for finding in heap.findings() {
//!     println!("{}", finding.message);
//! }
//! # Ok(()) }
//! ```
#![doc = include_str!("json-schema.md")]

mod discover;
mod extents;
mod findings;
mod globals;
pub mod layout;
mod model;
mod prof;
pub(crate) use prof::{sites_unavailable, unbiased_printed};
mod render;
mod sizes;
mod tables;
mod threads;
mod walk;

use core_reader::{Diagnostic, Memory, Target};

use globals::{Globals, ARENA_LIMIT};
use layout::Layout;
use walk::Classes;

pub use model::{
    Arena, BinClass, BinStats, ClassTotals, DecayCounters, ExtentStats, Features, Heap,
    LextentStats, Opts,
};
pub use prof::{
    allocation_sites, profile, HeapProfile, ProfCounts, ProfStack, PROF_5_1_0_X86_64,
    PROF_5_3_0_X86_64,
};
pub use render::{JemallocArena, JemallocDetail};
pub use threads::{ThreadCache, Ticker};

/// Why a jemalloc heap could not be walked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// jemalloc's internal symbols are not available.
    #[error("{0}")]
    NoSymbols(String),
    /// The version has no built-in layout and the binary has no DWARF for jemalloc.
    #[error(
        "jemalloc {version} has no built-in layout in this heapmortem (built in: 5.1.x, \
         5.2.x, 5.3.x on Linux x86_64 and aarch64) and the binary has no DWARF for its structs \
         ({missing} missing): give its debug file with --debug-dir (FreeBSD: libc's, \
         /usr/lib/debug/lib/libc.so.7.debug, under --sysroot) or build jemalloc with -g"
    )]
    UnsupportedVersion {
        /// The version found, or "of unknown version".
        version: String,
        /// The first struct member that could not be found.
        missing: String,
    },
    /// The size-class tables or the arenas do not look the way the layout says.
    #[error("{0}")]
    LayoutMismatch(String),
    /// A truncated core lost jemalloc's data segment (its globals) with its tail.
    #[error(
        "the core is truncated: the data of {0} (jemalloc's arenas array and size-class \
         tables) was cut off with the core's tail, so its arenas cannot be found"
    )]
    Truncated(String),
}

/// What a walk does beyond the arenas' figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also list every allocation (slab regions from the slab bitmaps, large extents, the
    /// regions in thread caches) and every free region and free extent: a walk of the
    /// whole extent map, which needs jemalloc's symbols.
    pub allocations: bool,
}

/// Finds jemalloc in `target` and reads all of its arenas ([`walk_with`] with default
/// [`Options`]).
pub fn walk(target: &dyn Target) -> Result<Heap, Error> {
    walk_with(target, &Options::default())
}

/// Finds jemalloc in `target` and reads all of its arenas.
///
/// Arenas that cannot be read or that fail the layout self-checks are left out and named in
/// [`Heap::problems`]; the walk fails only when nothing can be said (no symbols, no layout,
/// size-class tables unreadable, or no arena passed the checks). A truncated core that
/// lost jemalloc's data (its globals) is walked from what survives: the arenas recognized
/// by their contents, the size classes computed (jemalloc 5.3 on x86_64), what was lost
/// said in [`Heap::notes`] and [`Heap::problems`]; [`Error::Truncated`] when even that
/// finds nothing.
pub fn walk_with(target: &dyn Target, options: &Options) -> Result<Heap, Error> {
    walk_found(target, options).or_else(|e| match lost_data(target) {
        Some(module) => {
            recognize_arenas(target, &module, options).ok_or(Error::Truncated(module.path))
        }
        None => Err(e),
    })
}

/// The module holding jemalloc (its library, FreeBSD's libc, else the executable), when the core is
/// truncated and lacks part of its writable data (its own mappings or the anonymous one
/// after them, its `.bss`): the kernel dumps writable mappings whole, so what is missing
/// was cut off.
fn lost_data(target: &dyn Target) -> Option<core_reader::Module> {
    if !target.is_truncated() {
        return None;
    }
    let modules = target.modules();
    let module = modules
        .iter()
        .find(|m| m.name().starts_with("libjemalloc"))
        // FreeBSD's libc malloc is jemalloc (lib/libc/stdlib/malloc/jemalloc).
        .or_else(|| {
            modules.iter().find(|m| {
                target.os() == core_reader::Os::FreeBsd && m.name().starts_with("libc.so")
            })
        })
        .or_else(|| modules.iter().find(|m| m.is_main))?;
    let maps = target.mappings();
    let ours = |i: usize| maps[i].path.as_deref() == Some(module.path.as_str());
    let lost = (0..maps.len()).any(|i| {
        let m = &maps[i];
        m.perms.contains('w')
            && (ours(i) || (m.path.is_none() && i > 0 && ours(i - 1)))
            && m.dumped < m.end - m.start
    });
    lost.then(|| core_reader::Module::clone(module))
}

fn walk_found(target: &dyn Target, options: &Options) -> Result<Heap, Error> {
    if let Some(globals) = discover::find_globals(target) {
        let near: Vec<u64> = ["mallctl", "je_mallctl", "_rjem_mallctl", "__je_mallctl"]
            .iter()
            .filter_map(|s| target.find_symbol(s))
            .chain([globals.bin_infos, globals.index2size])
            .collect();
        let version = discover::find_version(target, &near);
        let arena0 = target.read_u64(globals.arenas).filter(|&a| a != 0);
        let layout = choose_layout(target, version.as_deref(), arena0)?;
        return walk_arenas(
            target,
            read_globals(target, globals, layout, version, Vec::new())?,
            options,
        );
    }
    // No symbols: a stripped shared library. Its version string is still in its
    // read-only data, and with a layout for that version its globals can be recognized
    // by what they hold.
    let explain = || Error::NoSymbols(discover::explain_missing_symbols(target));
    let lib = target
        .modules()
        .into_iter()
        .find(|m| m.name().starts_with("libjemalloc"))
        .ok_or_else(explain)?;
    let version = discover::find_version(target, &[lib.start]);
    // Recognizing globals by content is built for 5.3 (Debian's libjemalloc2); of several
    // tables (page sizes), the one under which the globals are found.
    let (layout, globals) = layouts(target, version.as_deref())
        .unwrap_or_default()
        .into_iter()
        .filter(Layout::has_page_allocator)
        .find_map(|l| discover::scan_globals(target, &l).map(|g| (l, g)))
        .ok_or_else(explain)?;
    let note = format!(
        "{} has no symbols: its arenas and size-class tables were recognized by their \
         contents; opt.* and the thread caches' stashed bytes stay unknown (with the \
         library's debug file, e.g. Debian's libjemalloc2-dbgsym or --debug-dir, they are \
         read by name)",
        lib.path
    );
    walk_arenas(
        target,
        read_globals(target, globals, layout, version, vec![note])?,
        options,
    )
}

/// For a truncated core that lost jemalloc's data: what survives, walked without its
/// globals. Built for jemalloc 5.3 on x86_64 (4 KiB pages; on aarch64 the page size a build
/// chose is among what was lost): its arenas recognized by their contents
/// ([`discover::scan_arenas`]), the size classes computed as its start-up computes them
/// ([`sizes::default_classes`]). `None` when no arena is found.
fn recognize_arenas(
    target: &dyn Target,
    module: &core_reader::Module,
    options: &Options,
) -> Option<Heap> {
    if target.arch() != core_reader::Arch::X86_64 {
        return None;
    }
    const LG_PAGE: u32 = 12;
    let version = discover::find_version(target, &[module.start]);
    let (layout, (arenas, mut problems)) = layouts(target, version.as_deref())
        .ok()?
        .into_iter()
        .filter(Layout::has_page_allocator)
        .map(|l| {
            let found = discover::scan_arenas(target, &l);
            (l, found)
        })
        .find(|(_, (arenas, _))| !arenas.is_empty())?;
    let globals = Globals::default();
    let (index2size, bins) = sizes::default_classes(LG_PAGE);
    let classes = walk::complete_classes(
        target,
        &globals,
        &layout,
        (1 << LG_PAGE, index2size, bins),
        &mut problems,
    )
    .ok()?;
    problems.push(Diagnostic::new(
        "truncated",
        format!(
            "the core is truncated: the data of {} (jemalloc's globals) was cut off with its \
             tail: opt.*, the number of arena slots, and the extent map that lists the \
             allocations are lost",
            module.path
        ),
    ));
    let note = format!(
        "the core is truncated and lost jemalloc's data: {} recognized by content in \
         the memory that survives, and the size classes computed as \
         jemalloc {} computes them at start-up for 4 KiB pages with the default slab sizes \
         and one shard per bin (a process run with opt.slab_sizes or opt.bin_shards had \
         others)",
        match arenas.len() {
            1 => "its arena was".to_string(),
            n => format!("its {n} arenas were"),
        },
        version
            .as_deref()
            .and_then(|v| v.split('-').next())
            .unwrap_or("5.3")
    );
    let found = Found {
        globals,
        layout,
        version,
        notes: vec![note],
        classes,
        arenas,
        narenas: None,
        problems,
        unlisted: Some(format!(
            "allocations not listed: the core is truncated, and the extent map \
             (arena_emap_global, in the data of {}) was cut off with its tail",
            module.path
        )),
    };
    walk_arenas(target, found, options).ok()
}

/// What a walk starts from: jemalloc's globals (or, for a truncated core, what stands in
/// for them), the layout, and the arenas and size classes found through them.
struct Found {
    globals: Globals,
    layout: Layout,
    version: Option<String>,
    notes: Vec<String>,
    classes: Classes,
    /// `(index, arena_t address)` of every arena found.
    arenas: Vec<(u32, u64)>,
    /// Arena slots in use (`narenas_total`), when known.
    narenas: Option<u32>,
    problems: Vec<Diagnostic>,
    /// Why allocations cannot be listed, when that is known before the walk.
    unlisted: Option<String>,
}

/// The size classes and the arenas of the `arenas` array, read through jemalloc's globals.
fn read_globals(
    target: &dyn Target,
    globals: Globals,
    layout: Layout,
    version: Option<String>,
    notes: Vec<String>,
) -> Result<Found, Error> {
    let mem: &dyn Memory = target;
    let mut problems = Vec::new();
    let classes =
        walk::read_classes(mem, &globals, &layout, &mut problems).map_err(Error::LayoutMismatch)?;
    let narenas_total = globals.narenas_total.and_then(|a| mem.read_u32(a));
    let slots = narenas_total.map_or(ARENA_LIMIT, |n| u64::from(n).min(ARENA_LIMIT));
    let mut arenas = Vec::new();
    for i in 0..slots {
        let slot = globals.arenas + 8 * i;
        let Some(a) = mem.read_u64(slot) else {
            problems.push(Diagnostic::at(
                "truncated",
                slot,
                format!(
                    "the arenas array at {:#x} is not in the core past slot {i}",
                    globals.arenas
                ),
            ));
            break;
        };
        if a != 0 {
            arenas.push((i as u32, a));
        }
    }
    Ok(Found {
        globals,
        layout,
        version,
        notes,
        classes,
        arenas,
        narenas: narenas_total,
        problems,
        unlisted: None,
    })
}

/// The layouts that may describe this jemalloc, best first: DWARF alone where it has
/// jemalloc's structs (it describes this very build); else the built-in tables for the
/// target and the version's release (every table of the target when the version string is
/// missing or says nothing, `0.0.0`: jemalloc configured outside a git checkout without its
/// VERSION file, as the `jemalloc-sys` crate builds it).
fn layouts(target: &dyn Target, version: Option<&str>) -> Result<Vec<Layout>, Error> {
    let missing = match Layout::resolve(&layout::Dwarf { target }) {
        Ok(l) => return Ok(vec![l]),
        Err(m) => m.0,
    };
    let unsupported = |missing: String| Error::UnsupportedVersion {
        version: version.unwrap_or("of unknown version").to_string(),
        missing,
    };
    let tables = tables::builtin(
        target.os(),
        target.arch(),
        version.and_then(discover::release),
    );
    if tables.is_empty() {
        return Err(unsupported(missing));
    }
    tables
        .into_iter()
        .map(|t| Layout::resolve(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| unsupported(m.0))
}

/// Of [`layouts`], the first under which the first arena (`arena0`: its slot in `arenas`,
/// if known) passes the self-checks: one release has a table per page size on aarch64, and
/// an unknown version leaves every release. If none fits, the first, whose self-checks will
/// say what is wrong.
fn choose_layout(
    target: &dyn Target,
    version: Option<&str>,
    arena0: Option<u64>,
) -> Result<Layout, Error> {
    let mut candidates = layouts(target, version)?;
    let fits = |l: &Layout| arena0.is_some_and(|a| walk::arena_fits(target, l, 0, a));
    let chosen = candidates.iter().position(fits).unwrap_or(0);
    Ok(candidates.swap_remove(chosen))
}

/// What to say when the version string does not name the layout used.
fn version_note(version: Option<&str>, layout: &str) -> Option<String> {
    match version.map(|v| (v, discover::release(v))) {
        None => Some(format!(
            "jemalloc's version string was not found; layout used: {layout}"
        )),
        Some((v, Some((0, 0, 0)))) => Some(format!(
            "jemalloc calls itself {v} (configured without its VERSION file, as the \
             jemalloc-sys crates build it); layout used: {layout}"
        )),
        _ => None,
    }
}

/// Every arena found, their thread caches, and (when asked and the version allows) every
/// allocation.
fn walk_arenas(target: &dyn Target, found: Found, options: &Options) -> Result<Heap, Error> {
    let Found {
        globals,
        layout,
        version,
        mut notes,
        classes,
        arenas: slots,
        narenas: narenas_total,
        mut problems,
        unlisted,
    } = found;
    let (globals, layout) = (&globals, &layout);
    let mem: &dyn Memory = target;
    notes.extend(version_note(version.as_deref(), &layout.source));
    let opts = walk::read_opts(mem, globals);
    let mut arenas = Vec::new();
    let mut caches = Vec::new();
    let mut rejected: Vec<Diagnostic> = Vec::new();
    for (i, a) in slots {
        match walk::read_arena(mem, layout, &classes, i, a, &mut problems) {
            Ok((arena, seen)) => {
                caches.extend(seen.into_iter().map(|c| (arena.index, c)));
                arenas.push(arena);
            }
            Err(e) => rejected.push(e),
        }
    }
    if arenas.is_empty() {
        if let Some(first) = rejected.into_iter().next() {
            return Err(Error::LayoutMismatch(first.message));
        }
    } else {
        problems.extend(rejected);
    }
    let mut metadata = Vec::new();
    let mut large_tctx = Vec::new();
    let allocations = if !options.allocations {
        None
    } else if let Some(why) = unlisted {
        problems.push(Diagnostic::new("not_listed", why));
        None
    } else {
        // The extent map: 5.3's by symbol, or through any arena's pa_shard.emap (stripped
        // builds); 5.1/5.2's `extents_rtree` by symbol.
        let rtree = match layout.arena.emap_ptr {
            Some(emap_ptr) => globals.emap.or_else(|| {
                arenas
                    .first()
                    .and_then(|a| mem.read_u64(a.address.wrapping_add(emap_ptr)))
            }),
            None => globals.extents_rtree,
        };
        match rtree.zip(layout.rtree_root) {
            Some((rtree, root)) => {
                let list: Vec<(u32, u64)> = arenas.iter().map(|a| (a.index, a.address)).collect();
                let listing = extents::allocations(
                    mem,
                    layout,
                    &classes,
                    rtree.wrapping_add(root),
                    &list,
                    &mut problems,
                );
                metadata = listing.metadata;
                let tctx = extents::EdataOffsets::of(layout).prof_tctx;
                large_tctx = listing
                    .large
                    .into_iter()
                    .map(|(a, e)| (a, e.wrapping_add(tctx)))
                    .collect();
                Some(crate::Allocations::new(listing.allocations))
            }
            None => {
                problems.push(Diagnostic::new(
                    "not_listed",
                    "allocations not listed: the extent map was not found (or its layout, \
                     rtree_s, is unknown)",
                ));
                None
            }
        }
    };
    let threads = threads::thread_caches(
        mem,
        layout,
        &caches,
        &crate::allocator::thread_pointers(target),
        target.arch(),
    );
    Ok(Heap {
        version,
        symbol_prefix: globals.prefix.clone(),
        layout: layout.source.clone(),
        page: classes.page,
        lextent_sizes: classes.lextent_sizes().to_vec(),
        bin_classes: classes.bins.clone(),
        npsizes: classes.npsizes,
        narenas: narenas_total,
        narenas_auto: globals.narenas_auto.and_then(|a| mem.read_u32(a)),
        opts,
        arenas,
        threads,
        allocations,
        metadata,
        large_tctx,
        notes,
        features: layout.features,
        problems,
    })
}
