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

Findings name the likely cause and the next step: fragmentation that is not a leak, dirty \
pages an arena never purges, threads whose decay never starts (jemalloc < 5.3), retained \
address space, oversized thread caches, a damaged heap.";

/// `leaks`: the roots, valgrind memcheck's categories, the sizes.
pub const LEAKS_HELP: &str = "Roots are the threads' registers and stacks and every writable \
mapping outside the heap. A block no root reaches is definitely lost when no other lost \
block points at it, indirectly lost when one does; a block reached only through a pointer \
into its middle is possibly lost: valgrind memcheck's categories. Sizes are usable sizes \
(the allocator does not record the size asked for). Groups name the type of their blocks \
(C++ classes by vtable). glibc and jemalloc (5.3) heaps.";

/// `explain`: what an answer holds, and the one-line answers.
pub const EXPLAIN_HELP: &str =
    "ADDRESS may point anywhere inside the allocation (hex, with or without \
0x). The answer gives the allocation's start, size, state and type (a C++ class named by its \
vtable), every allocation holding a pointer into it, and one shortest chain of pointers from a \
root: a register, a thread's stack frame, a global (module!symbol+offset), thread-local \
storage. No chain means nothing the program can still reach holds it: leaked. An address in \
no allocation, in a freed one, or not in the core gets a one-line answer and exit status 1.";
