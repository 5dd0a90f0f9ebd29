//! Reading ELF core dumps of dead processes.
//!
//! The main type is [`Process`]: everything heapmortem knows about one core — its memory,
//! threads with registers, mapped files and modules, and a symbolizer and unwinder over those
//! modules. The allocator walkers and the leak finder only need the [`Target`] trait; the CLI uses
//! the rest.
//!
//! - [`CoreFile`] is the raw ELF core, memory-mapped and never copied: program headers,
//!   notes, and which parts of each segment the file actually holds (a core cut short by an
//!   OOM kill or a full disk still opens; the missing bytes are reported). A core compressed
//!   with zstd, xz, lz4 or gzip (recognized by its magic bytes) is decompressed once into a
//!   sparse temporary file, which is mapped in its place.
//! - [`Process::attach`] reads a live Linux process the same way: its threads are stopped
//!   with ptrace, what a core would hold is copied into a sparse temporary file, the threads
//!   are resumed, and the copy is a `Process` like any core's ([`Pause`] says what it cost).
//!   [`Source`] is either, as the command line names it (`CORE` or `--pid PID`).
//! - [`Target`] is what analyses read a process through (memory, threads, mappings, modules,
//!   symbols, struct layouts): [`Process`] implements it, and so does [`MemoryImage`], a
//!   process built by hand for unit tests and fuzzers.
//! - [`Memory`] reads the process's address space: bytes from the core, and for read-only
//!   file-backed text that Linux does not dump, bytes from the mapped file on disk.
//! - [`ProcessNotes`] is what the notes say: pid, command, signal, threads and their
//!   [`Registers`], auxv, file mappings — from Linux or FreeBSD notes alike.
//! - [`Module`]s are the executable and shared libraries, each with its load bias, build-id
//!   and the file (and debug file) found for it — on this machine, or fetched by build-id
//!   from the servers of `DEBUGINFOD_URLS` into elfutils' cache ([`Debuginfod`],
//!   [`FileSource`]).
//! - [`Symbolizer`] turns addresses into functions, files and lines (DWARF through addr2line,
//!   falling back to ELF symbol tables), with inlined frames.
//! - [`unwind`](Process::backtrace) walks each thread's stack with CFI, falling back to frame
//!   pointers.
//! - [`ProcessAddr`], [`ModuleAddr`] and [`FileOffset`] keep the three kinds of address apart
//!   where they meet (symbol and CFI lookups, load biases, segments, [`Placement`]);
//!   [`LoadBias`] converts between process and module addresses.
//! - [`InfoReport`] and [`ThreadsReport`] are the `info` and `threads` views, serializable
//!   and written as text; [`human_bytes`] is the one way sizes are written for people;
//!   [`Progress`] is the one progress bar of long work (decompressing, walking a heap).
//!
//! ```no_run
//! # fn main() -> Result<(), core_reader::Error> {
//! let options = core_reader::Options::default();
//! // SAFETY: the core is not modified while it is mapped (see `CoreFile::open`).
//! let process = unsafe { core_reader::Process::open("core.1234".as_ref(), &options)? };
//! for thread in process.threads() {
//!     let frames = process.backtrace(thread);
//!     println!("thread {} has {} frames", thread.tid, frames.frames.len());
//! }
//! # Ok(()) }
//! ```
//!
//! The `clap` feature (off by default) derives `clap::Args` for [`Options`] and [`Source`]:
//! the command line's common flags and its `CORE` or `--pid PID`, with their help texts.
//!
//! The JSON these reports serialize to is documented below.
#![doc = include_str!("../json-schema.md")]
#![deny(missing_docs)]

mod address;
mod cfi;
mod compressed;
mod debuginfod;
mod diagnostics;
mod elf;
mod error;
mod files;
mod freebsd;
pub mod hex;
mod human;
mod info_report;
mod linux;
#[cfg(target_os = "linux")]
mod live;
mod locals;
mod memory;
mod modules;
mod note_fields;
mod notes;
mod process;
mod process_notes;
mod progress;
mod registers;
mod signals;
mod source;
mod symbolize;
mod tailcall;
mod target;
mod threads_report;
mod types;
mod unwind;

pub use address::{FileOffset, LoadBias, ModuleAddr, ProcessAddr};
pub use debuginfod::{Debuginfod, FileSource};
pub use diagnostics::Diagnostic;
pub use elf::{is_core_file, Arch, CoreFile, Os, Segment};
pub use error::Error;
pub use hex::Hex;
pub use human::{human_bytes, human_bytes_f64};
pub use info_report::{FileOrigin, InfoMapping, InfoModule, InfoReport, InfoThread};
pub use memory::Memory;
pub use modules::{BuildId, Module, ModuleFile};
pub use process::{Options, Process};
pub use process_notes::{FileMapping, ProcessNotes, SignalInfo, ThreadNote};
pub use progress::Progress;
pub use registers::Registers;
pub use signals::signal_name;
pub use source::{Live, Pause, Source};
pub use symbolize::{Frame as SymbolFrame, MappedFile, Placement, SearchPaths, Symbolizer};
pub use target::{Mapping, MemoryImage, StackSlot, Target};
pub use threads_report::{ReportThread, ThreadFrame, ThreadsReport};
pub use unwind::{Backtrace, Frame, FrameTrust, MAX_FRAMES};
