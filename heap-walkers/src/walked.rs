//! A heap walked by whichever allocator served the process, and the outputs `heap` asks of
//! it: the allocator's own text and figures, the allocator-neutral JSON, types, size
//! classes and the listing. One dispatch on the allocator, here, so that the command line
//! and the report decide nothing about allocators.

use std::io::{self, Write};

use core_reader::Target;

use crate::held::{Error, HeldHeap};
use crate::{glibc, jemalloc, tcmalloc, types, Allocator, ArenaDetail, Heap, ListFilter};

/// Rows of the terminal's type table.
const TYPE_ROWS: usize = 20;

/// How `heap` shows a walked heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// The allocator's figures as text, then the groups and the listing asked for.
    Text,
    /// One JSON document, the same for every allocator.
    Json,
    /// The XML glibc's malloc_info() prints.
    MallocInfo,
    /// The JSON jemalloc's malloc_stats_print("J") prints.
    JemallocJson,
    /// The text gperftools' MallocExtension::GetStats() prints.
    TcmallocStats,
}

/// How the allocations in use are grouped beside the arenas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum GroupBy {
    /// By arena: the allocator's own view (the default).
    Arena,
    /// By type: C++ classes named by their vtables, the rest by size class.
    Type,
    /// By size class.
    Size,
}

/// What `heap` writes: the listing, the grouping and the format asked for (the command
/// line's `--list`, `--by` and `--format`).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct View {
    /// List the allocations too.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub list: Option<ListFilter>,
    /// Group the allocations in use.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub by: Option<GroupBy>,
    /// Output format.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = Format::Text))]
    pub format: Format,
}

impl View {
    /// Whether the walk must list every allocation for this view.
    pub fn lists(&self) -> bool {
        self.list.is_some() || self.by == Some(GroupBy::Type)
    }

    /// Why this view cannot show a heap of `allocator`, checked before walking it.
    pub fn refusal(&self, allocator: Allocator) -> Option<&'static str> {
        match (self.format, allocator) {
            (Format::JemallocJson, Allocator::Glibc | Allocator::Unknown) => Some(
                "--format jemalloc-json is for jemalloc heaps; this process used glibc \
                 malloc (try --format malloc-info or json)",
            ),
            (Format::MallocInfo, Allocator::Jemalloc) => Some(
                "--format malloc-info is glibc's malloc_info XML; this process used \
                 jemalloc: use --format jemalloc-json (malloc_stats_print's JSON) or json",
            ),
            (Format::MallocInfo | Format::JemallocJson, Allocator::Tcmalloc) => Some(
                "this process used gperftools' tcmalloc: use --format tcmalloc-stats \
                 (MallocExtension::GetStats()'s text) or json",
            ),
            (Format::TcmallocStats, Allocator::Glibc | Allocator::Unknown) => Some(
                "--format tcmalloc-stats is for tcmalloc heaps; this process used glibc \
                 malloc (try --format malloc-info or json)",
            ),
            (Format::TcmallocStats, Allocator::Jemalloc) => Some(
                "--format tcmalloc-stats is for tcmalloc heaps; this process used \
                 jemalloc: use --format jemalloc-json or json",
            ),
            _ => None,
        }
    }
}

/// A heap walked by the allocator the process used.
pub enum WalkedHeap {
    /// glibc's ptmalloc (also the guess for a stripped static executable).
    Glibc(glibc::GlibcHeap),
    /// jemalloc.
    Jemalloc(jemalloc::Heap),
    /// gperftools' tcmalloc.
    Tcmalloc(tcmalloc::Heap),
}

impl WalkedHeap {
    /// Walks the heap of `allocator` ([`Allocator::detect`]; glibc's for an unrecognized
    /// one: a stripped static executable names none), with every allocation listed when
    /// `list` is set. Fails by the truncation rule ([`Error::in_core`]).
    pub fn walk(
        target: &dyn Target,
        allocator: Allocator,
        list: bool,
        progress: bool,
    ) -> Result<WalkedHeap, Error> {
        Self::walk_allocator(target, allocator, list, progress).map_err(|e| e.in_core(target))
    }

    fn walk_allocator(
        target: &dyn Target,
        allocator: Allocator,
        list: bool,
        progress: bool,
    ) -> Result<WalkedHeap, Error> {
        match allocator {
            allocator @ (Allocator::Glibc | Allocator::Unknown) => {
                let options = glibc::WalkOptions { list, progress };
                glibc::walk(target, &options)
                    .map(WalkedHeap::Glibc)
                    .map_err(|e| Error::of_glibc(allocator, e))
            }
            Allocator::Jemalloc => {
                let options = jemalloc::Options { allocations: list };
                jemalloc::walk_with(target, &options)
                    .map(WalkedHeap::Jemalloc)
                    .map_err(Error::Jemalloc)
            }
            Allocator::Tcmalloc => {
                let options = tcmalloc::Options { allocations: list };
                tcmalloc::walk(target, &options)
                    .map(WalkedHeap::Tcmalloc)
                    .map_err(Error::Tcmalloc)
            }
        }
    }

    /// The allocator walked.
    pub fn allocator(&self) -> Allocator {
        match self {
            WalkedHeap::Glibc(_) => Allocator::Glibc,
            WalkedHeap::Jemalloc(_) => Allocator::Jemalloc,
            WalkedHeap::Tcmalloc(_) => Allocator::Tcmalloc,
        }
    }

    /// Sentences for standard error: what the walk noticed and what it could not read.
    pub fn remarks(&self) -> Vec<String> {
        match self {
            WalkedHeap::Glibc(heap) => heap.walked_in_part().into_iter().collect(),
            WalkedHeap::Jemalloc(heap) => notes_and_problems(&heap.notes, &heap.problems),
            WalkedHeap::Tcmalloc(heap) => notes_and_problems(&heap.notes, &heap.problems),
        }
    }

    /// Whether part of the heap could not be walked.
    pub fn is_partial(&self) -> bool {
        match self {
            WalkedHeap::Glibc(heap) => heap.is_partial(),
            WalkedHeap::Jemalloc(heap) => !heap.problems.is_empty(),
            WalkedHeap::Tcmalloc(heap) => heap.is_partial(),
        }
    }

    /// Writes the heap as `view` asks (see [`View::refusal`] for the formats an allocator
    /// does not have). A view that groups by type without listing takes the allocations
    /// (see [`Heap::write_view`]): the heap has none after.
    pub fn write(&mut self, target: &dyn Target, w: &mut dyn Write, view: &View) -> io::Result<()> {
        match (&*self, view.format) {
            (WalkedHeap::Glibc(heap), Format::MallocInfo) => heap.write_malloc_info(w)?,
            (WalkedHeap::Glibc(heap), Format::Text) => heap.write_text(w)?,
            (WalkedHeap::Jemalloc(heap), Format::JemallocJson) => {
                serde_json::to_writer_pretty(&mut *w, &heap.to_stats_json())?;
                writeln!(w)?;
            }
            (WalkedHeap::Jemalloc(heap), Format::Text) => heap.write_text(w)?,
            (WalkedHeap::Tcmalloc(heap), Format::TcmallocStats) => heap.write_stats(w)?,
            (WalkedHeap::Tcmalloc(heap), Format::Text) => heap.write_text(w)?,
            _ => {}
        }
        match self {
            WalkedHeap::Glibc(heap) => heap.write_view(target, w, view),
            WalkedHeap::Jemalloc(heap) => heap.summary().write_view(target, w, view),
            WalkedHeap::Tcmalloc(heap) => heap.write_view(target, w, view),
        }
    }

    /// The heap reduced to what reachability needs: allocations and roots. Fails where the
    /// walk could not list the allocations (jemalloc 5.1, 5.2: no extent map).
    pub fn into_held(self, target: &dyn Target) -> Result<HeldHeap, Error> {
        match self {
            WalkedHeap::Glibc(heap) => Ok(HeldHeap::from_glibc(target, heap)),
            WalkedHeap::Jemalloc(heap) => HeldHeap::from_jemalloc(target, heap),
            WalkedHeap::Tcmalloc(heap) => Ok(HeldHeap::from_tcmalloc(target, heap)),
        }
    }
}

/// The remarks of a walk that keeps notes and problems apart.
fn notes_and_problems(notes: &[String], problems: &[core_reader::Diagnostic]) -> Vec<String> {
    notes
        .iter()
        .map(|n| format!("note: {n}"))
        .chain(problems.iter().map(|p| format!("warning: {}", p.message)))
        .collect()
}

impl<D: serde::Serialize, A: ArenaDetail> Heap<D, A> {
    /// The JSON document, the types table, the size classes and the listing `view` asks
    /// for (nothing for the allocators' own formats, which [`WalkedHeap::write`] writes).
    /// Grouping by type without a listing takes the allocations: their table is freed as
    /// the type pass makes its blocks (the rows need nothing else), so the two are never
    /// all held.
    pub fn write_view(
        &mut self,
        target: &dyn Target,
        w: &mut dyn Write,
        view: &View,
    ) -> io::Result<()> {
        // Listed allocations in use carry their type (JSON), so a listing that shows them
        // infers types too; free ones have none, and `--list free` costs no type pass.
        let by_type = view.by == Some(GroupBy::Type);
        let typed_list = view.list.is_some_and(|f| f != ListFilter::Free);
        let index = match &self.allocations {
            Some(_) if by_type && view.list.is_none() => self
                .allocations
                .take()
                .map(|a| types::TypeIndex::infer_taking(target, a)),
            Some(allocations) if by_type || (typed_list && view.format == Format::Json) => {
                Some(types::TypeIndex::infer(target, allocations))
            }
            _ => None,
        };
        let types = index.as_ref().filter(|_| by_type).map(|i| i.rows());
        let by_size = view.by == Some(GroupBy::Size);
        match view.format {
            Format::Json => {
                let listing = view.list.map(|filter| (filter, index.as_ref()));
                self.write_json(w, listing, types.as_deref(), by_size)
            }
            Format::Text => {
                if let Some(rows) = &types {
                    types::write_types_text(w, rows, TYPE_ROWS)?;
                }
                if by_size {
                    self.write_size_classes(w)?;
                }
                match view.list {
                    Some(filter) => self.write_list(w, filter),
                    None => Ok(()),
                }
            }
            Format::MallocInfo | Format::JemallocJson | Format::TcmallocStats => Ok(()),
        }
    }
}
