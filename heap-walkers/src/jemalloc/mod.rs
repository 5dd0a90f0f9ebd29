//! jemalloc (being written).
