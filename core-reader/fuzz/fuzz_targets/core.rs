//! Any bytes given as a core: opening, notes, modules, memory reads and unwinding must not
//! panic. Run with `cargo fuzz run core` in core-reader/ (seed it with corpus cores).
#![no_main]

use core_reader::{CoreFile, Options, Process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(core) = CoreFile::from_bytes("fuzz.core", data.to_vec()) {
        let process = Process::from_core(core, &Options::default());
        let _ = process.info_report();
        let _ = process.threads_report();
    }
});
