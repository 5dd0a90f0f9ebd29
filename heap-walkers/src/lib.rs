//! Allocator state rebuilt from a dead process's memory.
//!
//! - [`glibc`]: ptmalloc arenas, chunks, bins, fastbins, tcaches and fragmentation, with
//!   glibc's own `malloc_info` XML as an output.
//! - [`jemalloc`]: arenas, extents, dirty and muzzy pages, decay, bins and tcaches, with
//!   `malloc_stats_print`'s JSON as an output.
//! - [`leaks`]: which allocations the program can no longer reach (valgrind memcheck's
//!   definitely, indirectly and possibly lost), from the roots of a core.
//!
//! Walkers read memory only through [`core_reader::Memory`] and find symbols and struct
//! layouts through [`core_reader::Process`]; they never open files themselves. Every walk is
//! bounded and returns what it found plus what it had to skip.
#![deny(missing_docs)]

mod allocator;
pub mod explain;
pub mod glibc;
mod held;
pub mod jemalloc;
pub mod leaks;
mod model;
pub mod refs;
mod render;
mod scan;
pub mod types;

pub use allocator::Allocator;
pub use held::{Error as HeldError, HeldHeap};
pub use model::{
    Allocation, AllocationState, Allocations, Arena, ArenaDetail, ArenaFigures, Finding, Heap,
    ListFilter, Severity, SizeClass,
};
