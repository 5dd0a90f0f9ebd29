//! glibc ptmalloc (being written).
