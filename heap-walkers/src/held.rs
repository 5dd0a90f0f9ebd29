//! The allocations a process holds and the roots that can reach them, from whichever
//! allocator it used: what the leak check, `explain` and the types read.

use core_reader::{Diagnostic, Target};

use crate::leaks::{self, Block, Roots};
use crate::scan::push_merged;
use crate::{
    glibc, jemalloc, tcmalloc, Allocation, Allocations, Allocator, Arena, ArenaDetail, Sites,
    WalkedHeap,
};

/// Why there is no heap to check.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// glibc's arenas could not be found.
    #[error(transparent)]
    Glibc(#[from] glibc::Error),
    /// No allocator could be recognised (a stripped static executable names none), and
    /// glibc's arenas were looked for in the core alone, in vain.
    #[error(
        "no allocator could be recognised from the modules (stripped static executable?), \
         and no glibc arena was found in the core: {0}"
    )]
    NoAllocator(glibc::Error),
    /// jemalloc's arenas could not be read.
    #[error(transparent)]
    Jemalloc(#[from] jemalloc::Error),
    /// The heap could not be walked in a truncated core, and the walker's own error does
    /// not name the truncation ([`Error::in_core`]).
    #[error("{0} (the core is truncated: what is missing was cut off)")]
    Truncated(Box<Error>),
    /// jemalloc was found but could not list its allocations (its extent map not found).
    #[error("jemalloc's allocations could not be listed: {0}")]
    NotListed(String),
    /// tcmalloc's statics could not be found or read.
    #[error(transparent)]
    Tcmalloc(#[from] tcmalloc::Error),
}

/// A walked heap reduced to what reachability needs.
pub struct HeldHeap {
    /// The allocator walked.
    pub allocator: Allocator,
    /// Its version, when known.
    pub version: Option<String>,
    /// Every arena's figures, in allocator-neutral terms (what `diff` compares).
    pub arenas: Vec<Arena<Holdings>>,
    /// Every allocation listed, free ones too.
    pub allocations: Allocations,
    /// The registers and memory the program could still reach them through, less the
    /// allocator's own metadata.
    pub roots: Roots,
    /// What the walk could not read or trust.
    pub problems: Vec<Diagnostic>,
    /// A sentence saying what the problems mean for reachability, when there are any.
    pub partial: Option<String>,
    /// Where the sampled allocations were made, when the allocator recorded it (jemalloc
    /// with `prof:true`); unnamed until [`Sites::name`] is given a symbolizer's frames.
    pub sites: Option<Sites>,
}

impl HeldHeap {
    /// Walks the heap of `target` with every allocation listed, and builds its roots.
    pub fn walk(target: &dyn Target, progress: bool) -> Result<HeldHeap, Error> {
        WalkedHeap::walk(target, Allocator::detect(target), true, progress)?
            .into_held(target)
            .map_err(|e| e.in_core(target))
    }

    /// [`HeldHeap::walk`] for a caller that needs the blocks the program holds, not the
    /// allocations (the leak check): they are returned, and [`HeldHeap::allocations`] is
    /// left empty. The glibc walk lists only them, 16 bytes a block where the table takes 24
    /// an allocation (on a heap of a hundred million allocations, 1.6 GB at the peak rather
    /// than 2.4); other walkers' tables are freed as the blocks are made
    /// ([`HeldHeap::take_blocks`]).
    pub fn walk_blocks(
        target: &dyn Target,
        progress: bool,
    ) -> Result<(HeldHeap, Vec<Block>), Error> {
        let allocator = Allocator::detect(target);
        if !matches!(allocator, Allocator::Glibc | Allocator::Unknown) {
            let mut held = HeldHeap::walk(target, progress)?;
            let blocks = held.take_blocks();
            return Ok((held, blocks));
        }
        let (heap, listing) = glibc::walk_held(target, progress)
            .map_err(|e| Error::of_glibc(allocator, e).in_core(target))?;
        let mut held = HeldHeap::from_glibc(target, heap);
        held.roots.excluded.extend(listing.chunks);
        Ok((held, listing.blocks))
    }

    /// The held heap of a glibc walk made with its allocations listed.
    pub fn from_glibc(target: &dyn Target, heap: glibc::GlibcHeap) -> HeldHeap {
        let roots = leaks::glibc_roots(target, &heap);
        let partial = heap.walked_in_part().map(|s| format!("{s}: {MISSED}"));
        HeldHeap {
            allocator: Allocator::Glibc,
            version: heap.version.clone(),
            arenas: Holdings::of(&heap.arenas),
            allocations: heap.allocations.unwrap_or_default(),
            roots,
            problems: heap.problems,
            partial,
            sites: None,
        }
    }

    /// The held heap of a jemalloc walk made with [`jemalloc::Options::allocations`];
    /// fails where the walk could not list them (no extent map found).
    pub fn from_jemalloc(target: &dyn Target, mut heap: jemalloc::Heap) -> Result<HeldHeap, Error> {
        if heap.allocations.is_none() {
            let why = heap
                .problems
                .iter()
                .find(|p| p.kind == "not_listed")
                .map_or_else(|| "no extent map".to_string(), |p| p.message.clone());
            return Err(Error::NotListed(why));
        }
        let mut roots = leaks::jemalloc_roots(target, &heap);
        let summaries: Vec<_> = heap.arenas.iter().map(|a| heap.summary_arena(a)).collect();
        let arenas = Holdings::of(&summaries);
        let mut problems = std::mem::take(&mut heap.problems);
        let n = problems.len();
        let partial = (n > 0).then(|| {
            format!(
                "the heap could be walked only in part ({n} problem{}): {MISSED}",
                if n == 1 { "" } else { "s" },
            )
        });
        // Sites are an addition: the heap and its leaks stand without them.
        let sites = match jemalloc::allocation_sites(target, &heap) {
            Ok(sites) => sites,
            Err(e) => {
                problems.push(Diagnostic::new("sites_unreadable", e.to_string()));
                None
            }
        };
        if sites.is_none() {
            roots.notes.extend(jemalloc::sites_unavailable(target));
        }
        Ok(HeldHeap {
            allocator: Allocator::Jemalloc,
            version: heap.version.clone(),
            arenas,
            allocations: heap.allocations.unwrap_or_default(),
            roots,
            problems,
            partial,
            sites,
        })
    }

    /// The held heap of a tcmalloc walk made with its allocations listed.
    pub fn from_tcmalloc(target: &dyn Target, mut heap: tcmalloc::Heap) -> HeldHeap {
        let roots = leaks::tcmalloc_roots(target, &heap);
        let n = heap.problems.len();
        let partial = (n > 0).then(|| {
            format!(
                "the heap could be walked only in part ({n} problem{}): {MISSED}",
                if n == 1 { "" } else { "s" },
            )
        });
        HeldHeap {
            allocator: Allocator::Tcmalloc,
            version: heap.version.clone(),
            arenas: Holdings::of(&heap.arenas),
            allocations: heap.allocations.take().unwrap_or_default(),
            roots,
            problems: std::mem::take(&mut heap.problems),
            partial,
            sites: None,
        }
    }

    /// The allocations the program holds, as the leak check and the reference graph take
    /// them.
    pub fn blocks(&self) -> Vec<crate::leaks::Block> {
        leaks::blocks(&self.allocations)
    }

    /// [`HeldHeap::blocks`], taking the allocations (left empty) and freeing their table as
    /// the blocks are made ([`leaks::take_blocks`]). For a caller that needs the blocks
    /// only, as the leak check does.
    pub fn take_blocks(&mut self) -> Vec<crate::leaks::Block> {
        leaks::take_blocks(std::mem::take(&mut self.allocations))
    }
}

impl Error {
    /// The error of a glibc walk of a process whose allocator is `allocator`
    /// ([`Allocator::Unknown`]: glibc's was only guessed).
    pub(crate) fn of_glibc(allocator: Allocator, e: glibc::Error) -> Error {
        match allocator {
            Allocator::Unknown => Error::NoAllocator(e),
            _ => Error::Glibc(e),
        }
    }

    /// Whether the error names a truncation of the core: the walker found that the memory
    /// its allocator's state lives in was cut off.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            Error::Glibc(glibc::Error::Truncated(_))
                | Error::NoAllocator(glibc::Error::Truncated(_))
                | Error::Jemalloc(jemalloc::Error::Truncated(_))
                | Error::Truncated(_)
        )
    }

    /// The truncation rule, one for every command that walks a core's heap: a walk that
    /// found its allocator's state, even in part, gives what it found (partial where the
    /// cut or damage took some: exit 1); a walk that found nothing fails, and in a truncated
    /// core its error names the truncation, whatever the walker said — what it lacked may be
    /// what was cut off, and a user must not be sent after a debug package. The CLI exits 1
    /// on that error (the core was read in part), 2 on any other.
    pub fn in_core(self, target: &dyn Target) -> Error {
        match target.is_truncated() && !self.is_truncation() {
            true => Error::Truncated(Box::new(self)),
            false => self,
        }
    }

    /// The allocator whose heap could not be walked, where one was found.
    pub fn allocator(&self) -> Option<Allocator> {
        match self {
            Error::Glibc(_) | Error::NoAllocator(_) => Some(Allocator::Glibc),
            Error::Jemalloc(_) => Some(Allocator::Jemalloc),
            Error::Tcmalloc(_) => Some(Allocator::Tcmalloc),
            Error::Truncated(e) => e.allocator(),
            Error::NotListed(_) => None,
        }
    }
}

/// An arena's figures in terms every allocator shares: the common [`crate::ArenaFigures`]
/// plus what [`ArenaDetail`] can say (None where the allocator has no such figure).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holdings {
    /// How the allocator names the arena (`main_arena`, `arena 3`).
    pub name: String,
    /// Freed pages still resident, waiting to be purged (jemalloc's dirty pages), in bytes.
    pub dirty_bytes: Option<u64>,
    /// Pages purged lazily (jemalloc's muzzy pages), in bytes.
    pub muzzy_bytes: Option<u64>,
    /// Address space kept but not backed (jemalloc's retained), in bytes.
    pub retained_bytes: Option<u64>,
    /// Regions in thread caches, counted in use by the allocator (jemalloc's
    /// `tcache_bytes`), in bytes.
    pub cached_bytes: Option<u64>,
}

impl Holdings {
    /// The neutral holdings of `arenas`.
    pub fn of<A: ArenaDetail>(arenas: &[Arena<A>]) -> Vec<Arena<Holdings>> {
        arenas
            .iter()
            .map(|a| Arena {
                index: a.index,
                address: a.address,
                figures: a.figures,
                detail: Holdings {
                    name: a.detail.name(a.index),
                    dirty_bytes: a.detail.dirty_bytes(),
                    muzzy_bytes: a.detail.muzzy_bytes(),
                    retained_bytes: a.detail.retained_bytes(),
                    cached_bytes: a.detail.cached_bytes(),
                },
            })
            .collect()
    }
}

/// What a partial walk means for reachability.
const MISSED: &str =
    "blocks in the skipped part were not checked, and pointers held there were missed";

/// What a walk lists of the chunks it passes: every allocation, or (for the leak check,
/// [`HeldHeap::walk_blocks`]) only what the leak check reads of them. Lists of one kind are
/// appended to one another ([`Listing::empty_like`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Listing {
    /// Whether only the blocks and chunk spans are kept.
    held_only: bool,
    /// Every allocation, used and free.
    pub(crate) all: Vec<Allocation>,
    /// The blocks the program holds ([`Allocation::is_held`]), in the order listed.
    pub(crate) blocks: Vec<Block>,
    /// The memory of every chunk, used or free ([`leaks::chunk_span`]), merged where the
    /// spans touch: what the roots leave out.
    pub(crate) chunks: Vec<(u64, u64)>,
}

impl Listing {
    /// A list that keeps every allocation.
    pub(crate) fn all() -> Listing {
        Listing::default()
    }

    /// A list that keeps only the held blocks and the chunk spans.
    pub(crate) fn held_only() -> Listing {
        Listing {
            held_only: true,
            ..Listing::default()
        }
    }

    /// An empty list of the same kind.
    pub(crate) fn empty_like(&self) -> Listing {
        Listing {
            held_only: self.held_only,
            ..Listing::default()
        }
    }

    /// Whether only the held blocks and the chunk spans are kept.
    pub(crate) fn is_held_only(&self) -> bool {
        self.held_only
    }

    /// Lists glibc chunk `a`.
    #[inline]
    pub(crate) fn push(&mut self, a: Allocation) {
        if !self.held_only {
            self.all.push(a);
            return;
        }
        let (start, end) = leaks::chunk_span(&a);
        push_merged(&mut self.chunks, start, end);
        if a.is_held() {
            self.blocks.push(Block {
                address: a.address,
                size: a.size,
            });
        }
    }

    /// Moves what `other` listed to the end of this list.
    pub(crate) fn append(&mut self, other: &mut Listing) {
        self.all.append(&mut other.all);
        self.blocks.append(&mut other.blocks);
        for (start, end) in other.chunks.drain(..) {
            push_merged(&mut self.chunks, start, end);
        }
    }
}
