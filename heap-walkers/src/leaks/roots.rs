//! The blocks and roots of a glibc process, from its core and its walked heap.

use core_reader::{Arch, Target};

use super::model::{RootKind, RootRange, Roots};
use crate::glibc::GlibcHeap;
use crate::scan::{merge_ranges, push_merged, Block};
use crate::{Allocation, Allocations};

/// `sizeof (struct malloc_state)` on x86_64 and AArch64, glibc 2.26 and later (2200), used
/// when libc's DWARF is not there; a little extra only excludes a few more bytes of libc's
/// data from the roots, which hold no program pointers.
const MALLOC_STATE_SIZE: u64 = 2200;
/// `sizeof (struct malloc_par)`, rounded up (glibc 2.26–2.40: 80–104 bytes).
const MALLOC_PAR_SIZE: u64 = 128;

/// Threads followed in glibc's stack cache at most (it holds 40 MiB of stacks by default).
const MAX_CACHED_STACKS: usize = 4096;

/// The allocations a program holds, as the leak check takes them ([`Allocation::is_held`]):
/// state `used`, neither glibc's top chunk nor the allocator's own. Chunks in a tcache or a
/// fastbin are free to the program (the allocator still counts them in use) and are left
/// out. Needs a walk that listed its allocations.
pub fn blocks<'a>(allocations: impl IntoIterator<Item = &'a Allocation>) -> Vec<Block> {
    allocations
        .into_iter()
        .filter(|a| a.is_held())
        .map(|a| Block {
            address: a.address,
            size: a.size,
        })
        .collect()
}

/// [`blocks`] of a table that is freed from its end as the blocks are made: its 24 bytes an
/// allocation and the blocks' 16 are never all held at once (a heap of a hundred million
/// allocations: 2.4 GB at most, not 4).
pub(crate) fn take_blocks(allocations: Allocations) -> Vec<Block> {
    const STEP: usize = 1 << 16;
    let mut list = allocations.into_vec();
    let mut reversed = Vec::new();
    while !list.is_empty() {
        let from = list.len().saturating_sub(STEP);
        reversed.extend(blocks(list[from..].iter().rev()));
        list.truncate(from);
        list.shrink_to_fit();
    }
    reversed.reverse();
    reversed
}

/// The roots of a glibc process, the way valgrind memcheck chooses them:
///
/// - every thread's registers;
/// - every thread's stack, from its stack pointer to the end of the mapping holding it
///   (below the stack pointer is dead);
/// - every other writable mapping (data and bss of the executable and libraries, TLS,
///   anonymous memory), and every segment a module's program headers say is written at
///   run time (writable `PT_LOAD`s, `PT_GNU_RELRO`) whatever its protection now, less the
///   heap: every chunk of the walk (used or free), each thread
///   arena's heap, the main arena from `sbrk_base` to the end of its top chunk, and the
///   allocator's own `main_arena` and `mp_` (their lists point at chunks but keep nothing
///   alive for the program);
/// - less the stacks of exited threads that glibc keeps in its stack cache for reuse (their
///   frames and TLS are dead; valgrind never sees them, its exit-time `__libc_freeres`
///   unmaps the cache), whose dtv blocks, still owned by glibc, count as reachable. This
///   needs ld.so's and libc's DWARF (libc6-dbg); without it the cached stacks are scanned
///   like any writable mapping, which can hide leaks, and a note says so.
pub fn glibc_roots(process: &dyn Target, heap: &GlibcHeap) -> Roots {
    let mut roots = process_roots(process);
    // The heap: every chunk (header to the next chunk's header; a walk for the leak check
    // lists these spans itself, [`crate::held::Listing`]) …
    for a in heap.allocations.iter().flatten() {
        let (start, end) = chunk_span(a);
        push_merged(&mut roots.excluded, start, end);
    }
    // … thread arenas' heaps (heap_info and the arena's own malloc_state live there) …
    for arena in &heap.arenas {
        for h in &arena.detail.heaps {
            roots
                .excluded
                .push((h.address, h.address.saturating_add(h.size)));
        }
        if arena.detail.main {
            if let Some(p) = &heap.detail.params {
                let (top, top_size) = (arena.detail.top, arena.detail.top_size);
                if p.sbrk_base != 0 && p.sbrk_base <= top {
                    roots
                        .excluded
                        .push((p.sbrk_base, top.saturating_add(top_size)));
                }
            }
        }
    }
    // … and the allocator's own state in libc's data.
    let state = process.size_of("malloc_state").unwrap_or(MALLOC_STATE_SIZE);
    let main_arena = heap.detail.main_arena;
    roots
        .excluded
        .push((main_arena, main_arena.saturating_add(state)));
    if let Some(p) = &heap.detail.params {
        let size = process.size_of("malloc_par").unwrap_or(MALLOC_PAR_SIZE);
        roots
            .excluded
            .push((p.address, p.address.saturating_add(size)));
    }
    roots
}

/// The memory of glibc chunk `a` the roots leave out: from its header to the next chunk's
/// header (where its last usable word ends).
pub(crate) fn chunk_span(a: &Allocation) -> (u64, u64) {
    (
        a.address.saturating_sub(16),
        a.address.saturating_add(a.size).saturating_add(8),
    )
}

/// The roots of a jemalloc process: those of any process (see [`glibc_roots`]: registers,
/// stacks, writable mappings, less the stacks of glibc's stack cache), less jemalloc's heap —
/// every region and extent the walk listed, used or free — and jemalloc's own metadata (the
/// base blocks holding its extent headers, `edata_t`, live or recycled, each of which holds an
/// extent's address — a slab's first region, a large allocation's start — without keeping it
/// alive for the program). Needs a walk made with [`crate::jemalloc::Options::allocations`].
pub fn jemalloc_roots(process: &dyn Target, heap: &crate::jemalloc::Heap) -> Roots {
    let mut roots = process_roots(process);
    for a in heap.allocations.iter().flatten() {
        push_merged(&mut roots.excluded, a.address, a.end());
    }
    roots.excluded.extend(heap.metadata.iter().copied());
    roots
}

/// The roots of a process using tcmalloc: the process's, less its heap. tcmalloc's own
/// metadata (spans, page map leaves, thread caches) points only at spans and free objects,
/// never at the start of an allocation in use, so it needs no exclusion.
pub fn tcmalloc_roots(process: &dyn Target, heap: &crate::tcmalloc::Heap) -> Roots {
    let mut roots = process_roots(process);
    for a in heap.allocations.iter().flatten() {
        roots.excluded.push((a.address, a.end()));
    }
    roots
}

/// What any process can still reach its memory through: every thread's registers, every
/// thread's stack from its stack pointer up, every other writable mapping; less the stacks
/// of exited threads in glibc's stack cache ([`stack_cache`]).
fn process_roots(process: &dyn Target) -> Roots {
    let mut roots = Roots::default();
    let mut sps = Vec::new();
    for t in process.threads() {
        roots.registers.extend(t.registers.iter().map(|(_, v)| v));
        if let Some(sp) = t.registers.sp() {
            sps.push(sp);
        }
    }
    for m in process.mappings() {
        if !m.perms.contains('w') {
            continue;
        }
        let sp = sps
            .iter()
            .copied()
            .filter(|&sp| sp >= m.start && sp < m.end)
            .min();
        roots.ranges.push(match sp {
            Some(sp) => RootRange {
                start: sp,
                end: m.end,
                kind: RootKind::Stack,
            },
            None => RootRange {
                start: m.start,
                end: m.end,
                kind: RootKind::Static,
            },
        });
    }
    // Data an ELF file says is written at run time, in a mapping that is read-only now:
    // the RELRO range (`attribute_relro` variables such as ld.so's `rtld_search_dirs`,
    // which `_dl_init_paths` points at a heap block; a static program makes its RELRO
    // read-only after start-up too), or any writable segment mprotected since. Only the
    // parts no writable mapping covers, once (RELRO lies inside a writable PT_LOAD).
    let mappings = process.mappings();
    let mut read_only: Vec<(u64, u64)> = Vec::new();
    for module in process.modules() {
        for &(start, end) in &module.data_segments {
            read_only.extend(
                mappings
                    .iter()
                    .filter(|m| !m.perms.contains('w') && m.start < end && start < m.end)
                    .map(|m| (start.max(m.start), end.min(m.end))),
            );
        }
    }
    roots.ranges.extend(
        merge_ranges(read_only)
            .into_iter()
            .map(|(start, end)| RootRange {
                start,
                end,
                kind: RootKind::Static,
            }),
    );
    stack_cache(process, &mut roots);
    roots
}

/// Cuts the stacks of glibc's stack cache (exited threads) out of the roots, keeping each
/// one's dtv reachable. glibc 2.34 and later: `_rtld_global._dl_stack_cache`, a `list_t`
/// ring of `struct pthread`s linked through their `list` member.
fn stack_cache(process: &dyn Target, roots: &mut Roots) {
    let layout = (|| {
        let head = process.find_symbol("_rtld_global")?
            + process.offset_of("rtld_global", "_dl_stack_cache")?;
        Some((
            head,
            process.offset_of("pthread", "list")?,
            process.offset_of("pthread", "stackblock")?,
            process.offset_of("pthread", "stackblock_size")?,
            process.size_of("pthread")?,
            process.offset_of("tcbhead_t", "dtv")?,
        ))
    })();
    let Some((head, list, block, block_size, pthread_size, dtv)) = layout else {
        roots.notes.push(
            "glibc's stack cache could not be found (it needs the DWARF of ld.so and libc, \
             libc6-dbg): stacks of exited threads, if any, were scanned as roots, which can \
             hide leaks"
                .into(),
        );
        return;
    };
    // Where the thread pointer's `tcbhead_t` sits: at the start of `struct pthread` on
    // x86_64 (TLS below it), right after it on AArch64 (TLS above it).
    let tcb = match process.arch() {
        Arch::X86_64 => 0,
        Arch::Aarch64 => pthread_size,
    };
    // Followed to the end before anything is cut: a ring that does not close back at its
    // head means the layout is not this glibc's (another build's DWARF), and nothing is cut.
    let mut found: Vec<(u64, u64, Option<u64>)> = Vec::new();
    let mut at = process.read_u64(head);
    let closed = loop {
        let Some(e) = at else { break false };
        if e == head {
            break true;
        }
        if e == 0 || found.len() >= MAX_CACHED_STACKS {
            break false;
        }
        let pd = e.wrapping_sub(list);
        let (Some(start), Some(size)) = (
            process.read_u64(pd.wrapping_add(block)),
            process.read_u64(pd.wrapping_add(block_size)),
        ) else {
            break false;
        };
        // The descriptor lies inside its own stack block.
        if size == 0 || pd < start || pd >= start.saturating_add(size) {
            break false;
        }
        let d = process
            .read_u64(pd.wrapping_add(tcb).wrapping_add(dtv))
            .filter(|&d| d != 0);
        found.push((start, size, d));
        at = process.read_u64(e);
    };
    if !closed {
        let why = if process.is_truncated() {
            "the core is truncated: part of it may be lost"
        } else {
            "libc's debug info from another build?"
        };
        roots.notes.push(format!(
            "glibc's stack cache at {head:#x} could not be followed ({why}): stacks of \
             exited threads, if any, were scanned as roots, which can hide leaks"
        ));
        return;
    }
    let stacks = found.len() as u64;
    let mut bytes = 0u64;
    for (start, size, d) in found {
        roots.excluded.push((start, start.saturating_add(size)));
        roots.owned.extend(d);
        bytes = bytes.saturating_add(size);
    }
    if stacks > 0 {
        let what = if stacks == 1 {
            "1 exited thread's stack".to_string()
        } else {
            format!("{stacks} exited threads' stacks")
        };
        roots.notes.push(format!(
            "{what} in glibc's stack cache ({bytes} bytes) not scanned: dead frames and TLS"
        ));
    }
}
