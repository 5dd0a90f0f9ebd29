//! Any bytes written over a hand-built gperftools 2.10 heap: the walk with its allocations
//! listed, GetStats' text, the text and JSON views and the leak check must not panic. Run
//! with `cargo fuzz run tcmalloc` in heap-walkers/.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../tcmalloc.rs");

fuzz_target!(|data: &[u8]| exercise(data));
