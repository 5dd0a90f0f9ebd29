//! Allocator state rebuilt from a process's memory, in one allocator-neutral model, and what
//! that memory is and what keeps it alive.
//!
//! What every walker produces is a [`Heap`]: arenas with the figures every allocator has
//! ([`ArenaFigures`]) beside the allocator's own, findings, problems (what could not be read,
//! as [`core_reader::Diagnostic`]s) and, when asked, every [`Allocation`] in a compact sorted
//! table ([`Allocations`], 24 bytes an allocation). `heap --format json`, `--list`, the
//! report, the leak check and `explain` read only that model.
//!
//! - [`glibc`]: ptmalloc arenas, chunks, bins, fastbins, tcaches and fragmentation, with
//!   glibc's own `malloc_info` XML as an output.
//! - [`jemalloc`]: arenas, extents, dirty and muzzy pages, decay, bins and tcaches (5.1, 5.2,
//!   5.3), with `malloc_stats_print`'s JSON as an output, and the in-memory profile of a
//!   `prof:true` process.
//! - [`tcmalloc`]: gperftools' page heap, spans, size classes, central and transfer caches
//!   and thread caches (2.10), with `MallocExtension::GetStats()`'s text as an output.
//! - [`Allocator::detect`] says which allocator served `malloc`; [`WalkedHeap::walk`] walks
//!   it and writes the [`View`] `heap` asks for (the one dispatch on the allocator);
//!   [`HeldHeap::walk`] walks it with every allocation listed and builds the roots.
//! - [`leaks`]: which allocations the program can no longer reach (valgrind memcheck's
//!   definitely, indirectly and possibly lost), grouped by type and size.
//! - [`refs`]: the references between held allocations (read from memory when asked) and the
//!   anchors (shortest chains from the roots); [`types`]: C++ objects named by their vtables;
//!   [`explain`]: one allocation, who points into it and what keeps it alive.
//! - [`Sites`]: the call path that made each sampled allocation (jemalloc `prof:true`), for
//!   the leak groups, `explain`, and comparisons of two heaps ([`Sites::site_of`]).
//! - [`diff`]: two cores of one program compared: growth by type or size, the holder it grew
//!   through, the arenas' holdings.
//!
//! Everything reads the process through [`core_reader::Target`] (memory, threads, mappings,
//! modules, symbols, struct layouts), so it runs on a core, on a
//! [`core_reader::MemoryImage`] built by hand in a unit test or a fuzzer (`fuzz/`), and on a
//! live process later. Walkers never open files. Every walk is bounded and returns what it
//! found plus what it had to skip. Not here: reading cores (core-reader), profiles
//! (profile-import), rendering the report (report-templates).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = core_reader::Options::default();
//! // SAFETY: the core is not modified while it is mapped.
//! let process = unsafe { core_reader::Process::open("core".as_ref(), &options)? };
//! let held = heap_walkers::HeldHeap::walk(&process, false)?;
//! let report = heap_walkers::leaks::find_leaks(&process, held.blocks(), &held.roots);
//! println!("{} bytes definitely lost", report.direct_bytes);
//! # Ok(()) }
//! ```
//!
//! The `clap` feature (off by default) derives `clap::Args` for [`View`] (`heap`'s `--list`,
//! `--by` and `--format`, with their help texts) and `clap::ValueEnum` for its values and
//! `diff`'s [`diff::Grouping`].
//!
//! The JSON document every allocator's heap shares is described in `json-schema.md` beside
//! this file:
#![doc = include_str!("json-schema.md")]
#![deny(missing_docs)]

mod allocator;
mod cycle;
pub mod diff;
pub mod explain;
pub mod glibc;
mod held;
mod help;
pub mod jemalloc;
pub mod leaks;
mod model;
mod patterns;
pub mod refs;
mod render;
mod scan;
mod sites;
pub mod tcmalloc;
pub mod types;
mod walked;

pub use allocator::Allocator;
pub use held::{Error as HeldError, HeldHeap, Holdings};
pub use help::{DIFF_HELP, EXPLAIN_HELP, HEAP_HELP, LEAKS_HELP};
pub use model::{
    Allocation, AllocationState, Allocations, Arena, ArenaDetail, ArenaFigures, Finding, Heap,
    ListFilter, Severity, SizeClass,
};
pub use sites::{Site, SiteFrame, Sites};
pub use walked::{Format, GroupBy, View, WalkedHeap};
