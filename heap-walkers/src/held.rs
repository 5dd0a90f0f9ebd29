//! The allocations a process holds and the roots that can reach them, from whichever
//! allocator it used: what the leak check, `explain` and the types read.

use core_reader::{Diagnostic, Target};

use crate::leaks::{self, Roots};
use crate::{glibc, jemalloc, Allocations, Allocator};

/// Why there is no heap to check.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// glibc's arenas could not be found.
    #[error(transparent)]
    Glibc(#[from] glibc::Error),
    /// jemalloc's arenas could not be read.
    #[error(transparent)]
    Jemalloc(#[from] jemalloc::Error),
    /// jemalloc was found but could not list its allocations (5.1, 5.2).
    #[error("jemalloc's allocations could not be listed: {0}")]
    NotListed(String),
    /// An allocator heapmortem does not walk.
    #[error("the process used the {} allocator, whose heap heapmortem cannot walk yet (glibc and jemalloc)", .0.name())]
    Unsupported(Allocator),
}

/// A walked heap reduced to what reachability needs.
pub struct HeldHeap {
    /// The allocator walked.
    pub allocator: Allocator,
    /// Every allocation listed, free ones too.
    pub allocations: Allocations,
    /// The registers and memory the program could still reach them through, less the
    /// allocator's own metadata.
    pub roots: Roots,
    /// What the walk could not read or trust.
    pub problems: Vec<Diagnostic>,
    /// A sentence saying what the problems mean for reachability, when there are any.
    pub partial: Option<String>,
}

impl HeldHeap {
    /// Walks the heap of `target` (glibc's for an unrecognized allocator: a stripped static
    /// executable names none) with every allocation listed, and builds its roots.
    pub fn walk(target: &dyn Target, progress: bool) -> Result<HeldHeap, Error> {
        match Allocator::detect(target) {
            Allocator::Glibc | Allocator::Unknown => {
                let options = glibc::WalkOptions {
                    list: true,
                    progress,
                };
                let heap = glibc::walk(target, &options)?;
                let roots = leaks::glibc_roots(target, &heap);
                let partial = heap.is_partial().then(|| {
                    format!(
                        "the heap could be walked only in part ({} problem{}; {} bytes \
                         skipped): blocks in the skipped part were not checked, and pointers \
                         held there were missed",
                        heap.problems.len(),
                        if heap.problems.len() == 1 { "" } else { "s" },
                        heap.detail.skipped_bytes
                    )
                });
                Ok(HeldHeap {
                    allocator: Allocator::Glibc,
                    allocations: heap.allocations.unwrap_or_default(),
                    roots,
                    problems: heap.problems,
                    partial,
                })
            }
            Allocator::Jemalloc => {
                let options = jemalloc::Options { allocations: true };
                let mut heap = jemalloc::walk_with(target, &options)?;
                let Some(allocations) = heap.allocations.take() else {
                    let why = heap
                        .problems
                        .iter()
                        .find(|p| p.kind == "not_listed")
                        .map_or_else(|| "no extent map".to_string(), |p| p.message.clone());
                    return Err(Error::NotListed(why));
                };
                heap.allocations = Some(allocations);
                let roots = leaks::jemalloc_roots(target, &heap);
                let partial = (!heap.problems.is_empty()).then(|| {
                    format!(
                        "the heap could be walked only in part ({} problem{}): blocks in the \
                         skipped part were not checked, and pointers held there were missed",
                        heap.problems.len(),
                        if heap.problems.len() == 1 { "" } else { "s" },
                    )
                });
                Ok(HeldHeap {
                    allocator: Allocator::Jemalloc,
                    allocations: heap.allocations.take().unwrap_or_default(),
                    roots,
                    problems: heap.problems,
                    partial,
                })
            }
            other => Err(Error::Unsupported(other)),
        }
    }

    /// The allocations the program holds, as the leak check and the reference graph take
    /// them.
    pub fn blocks(&self) -> Vec<crate::leaks::Block> {
        leaks::blocks(&self.allocations)
    }
}
