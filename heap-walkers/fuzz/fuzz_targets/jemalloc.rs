//! Any bytes written over a hand-built jemalloc 5.3 heap: the walk with its allocations
//! listed, the neutral summary, the "J" document, the text view and the findings must not
//! panic. Run with `cargo fuzz run jemalloc` in heap-walkers/.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../jemalloc.rs");

fuzz_target!(|data: &[u8]| exercise(data));
