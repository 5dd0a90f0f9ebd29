//! A hand-built glibc 2.36 heap (see ../glibc.rs) with the input's patches written over its
//! arena, `mp_`, chunks, mmapped chunk and thread memory: walking it, rendering it and the
//! leak check must not panic. Run with `cargo fuzz run glibc` in heap-walkers/ (README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../glibc.rs");

fuzz_target!(|data: &[u8]| exercise(data));
