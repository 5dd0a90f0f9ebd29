//! Inputs of at most 8 KiB through the json renderer:
//! nothing may panic. The body is `TARGETS` in ../exercise.rs; run with
//! `cargo fuzz run json` in profile-import/ (fuzz/README.md).
#![no_main]
// The shared body holds every target's functions; each target uses some.
#![allow(dead_code)]

use libfuzzer_sys::fuzz_target;

include!("../exercise.rs");

fuzz_target!(|data: &[u8]| run("json", data));
