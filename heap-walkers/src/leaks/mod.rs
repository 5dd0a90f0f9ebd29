//! Leak checking over a dead process's heap: which allocations can the program no longer
//! reach, the way valgrind memcheck's leak check (and chap's anchors) decide it.
//!
//! - [`Block`]s are the allocations the program holds; [`blocks`] takes them from a
//!   glibc walk (chunks in state `used`; tcache and fastbin chunks are free to the program).
//! - [`Roots`] are what the program could still read them through: registers, stacks from
//!   the stack pointer up, writable non-heap mappings; [`glibc_roots`] builds them from any
//!   [`core_reader::Target`] (a core's `Process`) and cuts out the heap and glibc's own
//!   `main_arena` and `mp_`.
//! - [`find_leaks`] marks from the roots through every reachable block (a pointer to a
//!   block's start makes it reachable, one into its middle only "possibly" so) and splits the
//!   rest into direct and indirect leaks, with valgrind's rules.
//! - [`find_leaks_with_sites`] does the same and splits the groups by allocation site where
//!   the allocator recorded one ([`crate::Sites`], jemalloc `prof:true`).
//! - [`LeakReport`] holds the figures (valgrind's "definitely lost", "indirectly lost",
//!   "possibly lost", "still reachable"), [`LeakGroup`]s by size and shape, and every
//!   [`Leak`]; [`LeakReport::write_text`] and [`LeakReport::write_json`] render it.
//!
//! Sizes are the allocator's usable sizes: a core does not record the size the program asked
//! for. valgrind reports requested sizes, so the two agree where the program asked for a
//! chunk-exact size (on 64-bit glibc, 16k + 8 bytes: 24, 40, 56, …).
//!
//! What it cannot see, and which way each errs:
//!
//! - A thread that exited leaves its stack (and TLS) in glibc's stack cache for reuse.
//!   [`glibc_roots`] leaves those stacks out (valgrind never sees them: its exit-time
//!   `__libc_freeres` unmaps the cache) when ld.so's DWARF shows where the cache is
//!   (glibc 2.34 and later, libc6-dbg). Otherwise they are scanned like any writable mapping
//!   and their stale words may call a lost block reachable (a missed leak, never a false
//!   one); a note says so.
//! - Pointers the program hides (XOR-ed, tagged, compressed, or kept only in a file or
//!   another process) are not seen: such blocks are called lost.
//! - Root memory the core lacks is counted in `root_bytes_unreadable`; a block pointed to
//!   only from there is called lost.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let process: core_reader::Process = unimplemented!();
//! use heap_walkers::{glibc, leaks};
//! let options = glibc::WalkOptions { list: true, progress: false };
//! let heap = glibc::walk(&process, &options)?;
//! let roots = leaks::glibc_roots(&process, &heap);
//! let report = leaks::find_leaks(&process, leaks::blocks(heap.allocations.iter().flatten()), &roots);
//! report.write_text(&mut std::io::stdout(), 10)?;
//! # Ok(()) }
//! ```
//!
//! The JSON document is described in `json-schema.md` beside this file:
#![doc = include_str!("json-schema.md")]

mod find;
mod model;
mod render;
mod roots;

pub use crate::scan::Block;
pub use find::{find_leaks, find_leaks_with_sites};
pub use model::{Leak, LeakGroup, LeakKind, LeakReport, RootKind, RootRange, Roots};
pub use roots::{blocks, glibc_roots, jemalloc_roots, tcmalloc_roots};
pub(crate) use roots::{chunk_span, take_blocks};
