//! glibc malloc (ptmalloc) rebuilt from a core: arenas, heaps, bins, fastbins, tcaches,
//! mmapped chunks, fragmentation — with glibc's own `malloc_info` XML as an output.
//!
//! - [`walk`] finds `main_arena` and `mp_` (by symbol and DWARF when libc's debug file is
//!   there; else from the shape of the data, with built-in layouts for glibc 2.26–2.40 and
//!   the older shapes chap's cores show), reads every arena of the ring, walks every free
//!   list with bounds, finds each thread's tcache, then walks every chunk in address order.
//! - [`GlibcHeap`] is the result: per [`Arena`] glibc's own figures (what `malloc_info`
//!   prints) and the walk's (chunks in use and freed, holes and what pins them, what
//!   `malloc_trim (0)` could return), [`Tcache`]s, [`Problem`]s and [`Finding`]s.
//! - [`GlibcHeap::write_malloc_info`], [`GlibcHeap::write_json`] and
//!   [`GlibcHeap::write_text`] render it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let process: core_reader::Process = unimplemented!();
//! use heap_walkers::glibc;
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
mod progress;
mod render;
mod version;
mod walk;

pub use layout::{Layout, LayoutSource};
pub use model::{
    Allocation, Arena, BinFigures, ChunkState, FastbinFigures, Finding, GlibcHeap, Histogram, Hole,
    Params, Problem, SubHeap, Tcache,
};
pub use render::ListFilter;
pub use version::{GlibcVersion, VersionSource};
pub use walk::{walk, WalkOptions};

/// Why glibc's heap could not be walked at all.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `main_arena` could not be found.
    #[error("{0}")]
    NotFound(String),
}
