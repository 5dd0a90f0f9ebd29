//! A hand-built C++ process (see ../cpp.rs: vtables, libstdc++ containers, leaks) with the
//! input's patches written over its memory and its list of allocations: the type and
//! reference passes, `heap --by type` and `explain` must not panic. Run with
//! `cargo fuzz run types` in heap-walkers/ (README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../cpp.rs");

fuzz_target!(|data: &[u8]| exercise_types(data));
