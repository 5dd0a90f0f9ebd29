//! Any bytes given as a core: opening, notes, modules, memory reads and unwinding must not
//! panic. Run with `ASAN_OPTIONS=detect_leaks=0 cargo fuzz run core -- -detect_leaks=0` in
//! core-reader/ (seed it with corpus cores). Leak detection is off because the reader keeps file mappings, inflated
//! debug sections and the vDSO's image for the life of the program on purpose
//! (core-reader/src/files.rs): LeakSanitizer reports those, not bugs.
#![no_main]

use core_reader::{CoreFile, Options, Process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(core) = CoreFile::from_bytes("fuzz.core", data.to_vec()) {
        let process = Process::from_core(core, &Options::default());
        let _ = process.info_report("unknown");
        let _ = process.threads_report();
    }
});
