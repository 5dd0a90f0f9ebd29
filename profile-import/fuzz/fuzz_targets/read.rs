//! Any bytes given as a heap profile (jemalloc heap_v2, gperftools, Java heapz, profile.proto,
//! gzipped or not): reading, symbolizing, a view or renderer, merging and subtracting must
//! not panic, and the pprof this crate writes must read back (one stage per input:
//! `exercise_one`; the tests replay its findings through every stage). Run with
//! `cargo fuzz run read` in profile-import/ (seed it with ../shared/corpus/profiles/).
#![no_main]
// The shared body holds every target's functions; each target uses some.
#![allow(dead_code)]

use libfuzzer_sys::fuzz_target;

include!("../exercise.rs");

fuzz_target!(|data: &[u8]| exercise_one(data));
