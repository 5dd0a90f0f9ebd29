//! glibc malloc (ptmalloc) rebuilt from a core: arenas, heaps, bins, fastbins, tcaches,
//! mmapped chunks, fragmentation — with glibc's own `malloc_info` XML as an output.
//!
//! - [`walk`] finds `main_arena` and `mp_` (by symbol and DWARF when libc's debug file is
//!   there; else from the shape of the data, with built-in layouts for glibc 2.26–2.40 and
//!   the older shapes chap's cores show), reads every arena of the ring, walks every free
//!   list with bounds, finds each thread's tcache, then walks every chunk in address order.
//! - [`GlibcHeap`] is the result, the allocator-neutral [`crate::Heap`]: per arena the
//!   common [`crate::ArenaFigures`] plus glibc's own ([`GlibcArena`]: what `malloc_info`
//!   prints, holes and what pins them), for the heap [`GlibcDetail`] (`mp_`, [`Tcache`]s,
//!   mmapped chunks, the size histogram); every chunk as a [`crate::Allocation`] when asked
//!   for; damage as [`core_reader::Diagnostic`]s and conclusions as [`crate::Finding`]s.
//! - [`GlibcHeap::write_malloc_info`] and [`GlibcHeap::write_text`] render it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let process: core_reader::Process = unimplemented!();
//! use heap_walkers::glibc;
//! // Any `core_reader::Target`: a core's `Process`, or a hand-built `MemoryImage`.
//! let heap = glibc::walk(&process, &glibc::WalkOptions::default())?;
//! heap.write_malloc_info(&mut std::io::stdout())?;
//! # Ok(()) }
//! ```
//!
//! The JSON document is described in `json-schema.md` beside this file:
#![doc = include_str!("json-schema.md")]

mod findings;
mod layout;
mod locate;
mod mem;
mod model;
mod render;
mod version;
mod walk;

pub use layout::{Layout, LayoutSource};
pub use model::{
    BinFigures, FastbinFigures, GlibcArena, GlibcDetail, GlibcHeap, Histogram, Hole, Params,
    SubHeap, Tcache,
};
pub use version::{GlibcVersion, VersionSource};
pub(crate) use walk::walk_held;
pub use walk::{walk, WalkOptions};

/// Why glibc's heap could not be walked at all.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `main_arena` could not be found.
    #[error("{0}")]
    NotFound(String),
    /// `main_arena` was cut off with a truncated core's tail, and no heap was found without
    /// it.
    #[error("{0}")]
    Truncated(String),
}
