//! A hand-built C++ process (see ../cpp.rs: vtables, libstdc++ containers, leaks) with the
//! input's patches written over its memory and its list of allocations: the leak finder and
//! its renderers must not panic. Run with `cargo fuzz run leaks` in heap-walkers/ (README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../cpp.rs");

fuzz_target!(|data: &[u8]| exercise_leaks(data));
