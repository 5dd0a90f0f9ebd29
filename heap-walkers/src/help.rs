//! What `--help` says of the walkers: which allocators and versions they read and what their
//! answers mean. Kept beside the code it describes so that the two change together.

/// `heap`: what is walked for each allocator, and what the findings name.
pub const HEAP_HELP: &str = "glibc malloc: every arena, heap and chunk; bins, fastbins, each \
thread's tcache, mmapped chunks; free memory trapped below chunks in use and what \
malloc_trim(0) could return. Found with libc's debug info, with built-in layouts for \
glibc 2.26-2.40 from the libc file alone, or from the core alone. --format malloc-info \
prints what malloc_info() would have printed.

jemalloc (5.1, 5.2, 5.3; static, shared, stripped): per arena active, dirty, muzzy and \
retained pages, decay settings and counters, bins, large extents, thread caches. \
--format jemalloc-json prints what malloc_stats_print(\"J\") would have printed.

tcmalloc (gperftools 2.10; linked, LD_PRELOADed, stripped libtcmalloc and \
libtcmalloc_minimal): the page heap's spans in use, free and returned to the system, the \
central and transfer caches and every thread's cache by size class. --format \
tcmalloc-stats prints what MallocExtension::GetStats() would have printed.

Findings name the likely cause and the next step: fragmentation that is not a leak, dirty \
pages an arena never purges, threads whose decay never starts (jemalloc < 5.3), retained \
address space, oversized thread caches, a tcmalloc page heap that never releases free \
spans, a damaged heap.

A damaged heap (the bug that crashed the process) is walked around the damage: each broken \
chunk, link or list is named once, with its address, and exit status 1. A truncated core (an \
OOM kill, a full disk) gives what survives, exit 1, saying what was lost: glibc's heaps even \
when main_arena went with the core's tail, jemalloc's arenas even when its globals did \
(found by their contents; the size classes computed as jemalloc 5.3 computes them).";

/// `leaks`: the roots, valgrind memcheck's categories, the sizes.
pub const LEAKS_HELP: &str = "Roots are the threads' registers and stacks and every writable \
mapping outside the heap. A block no root reaches is definitely lost when no other lost \
block points at it, indirectly lost when one does; a block reached only through a pointer \
into its middle is possibly lost: valgrind memcheck's categories. Sizes are usable sizes \
(the allocator does not record the size asked for). Groups name the type of their blocks \
(C++ classes by vtable). glibc, jemalloc (5.1, 5.2, 5.3) and tcmalloc (gperftools 2.10) \
heaps.";

/// `explain`: what an answer holds, and the one-line answers.
pub const EXPLAIN_HELP: &str =
    "ADDRESS may point anywhere inside the allocation (hex, with or without \
0x). The answer gives the allocation's start, size, state and type (a C++ class named by its \
vtable), every allocation holding a pointer into it, and one shortest chain of pointers from a \
root: a register, a thread's stack frame, a global (module!symbol+offset), thread-local \
storage. No chain means nothing the program can still reach holds it: leaked. An address in \
no allocation, in a freed one, or not in the core gets a one-line answer and exit status 1.";

/// `diff`: how groups and holders are found, and what two programs' cores get.
pub const DIFF_HELP: &str = "Allocations in use are grouped by type (C++ classes named by their \
vtables, container parts by how they are linked, the rest by usable size), by size, or by \
allocation site (cores of a jemalloc run with prof:true), in both cores, largest growth first. Under each \
changed group, its holders: following each allocation's shortest chain of pointers from a \
root back past every link that changed too (a list's nodes, a reallocated vector buffer), \
the first one that did not: a global (module!symbol), a thread's stack frame, or an object \
present in both cores. The allocator's own holdings are compared arena by arena (from the \
system, in use, free, fragmented, trimmable, dirty). Findings name the largest growth, its \
holder and the next step.

Cores of two builds of one program (other build-id) are compared with a note on stderr; cores \
of two different programs (other executables) with a warning on stderr and no finding of \
growth, exit status 0 all the same (the JSON's program_match says which). Exit status 1 when \
either core could be read only in part.";
