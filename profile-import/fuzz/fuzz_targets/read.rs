//! Any bytes given as a heap profile (jemalloc heap_v2, gperftools, Java heapz, profile.proto,
//! gzipped or not): reading, symbolizing, every view and renderer, merging and subtracting
//! must not panic, and the pprof this crate writes must read back. Run with
//! `cargo fuzz run read` in profile-import/ (seed it with ../shared/corpus/profiles/).
#![no_main]

use libfuzzer_sys::fuzz_target;
use profile_import::{
    merge, read_bytes, subtract, symbolize, ModuleRef, SymbolFrame, Symbolize, ValueKind, View,
    ViewOptions,
};

/// Names every address, some of them like allocator entry points, with C++-like signatures
/// for the name shortener.
struct Names;

impl Symbolize for Names {
    fn symbolize(&mut self, _module: &ModuleRef<'_>, addresses: &[u64]) -> Vec<Vec<SymbolFrame>> {
        const NAMES: [&str; 5] = [
            "malloc",
            "void std::vector<int>::push_back(int const&)",
            "f",
            "operator new(unsigned long)",
            "",
        ];
        addresses
            .iter()
            .map(|&a| {
                (0..(a % 3))
                    .map(|i| SymbolFrame {
                        function: NAMES[((a >> 4).wrapping_add(i) % 5) as usize].to_string(),
                        file: Some("x.cc".to_string()),
                        line: Some((a % 1000) as u32),
                    })
                    .collect()
            })
            .collect()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = read_bytes(data) else {
        return;
    };
    let mut profile = parsed.profile;
    symbolize(&mut profile, &mut Names);
    for value in ValueKind::ALL {
        let mut sink = Vec::new();
        for (focus, ignore) in [(Some("f|0x"), None), (None, Some("vector"))] {
            let options = ViewOptions::new(value, focus, ignore).expect("valid pattern");
            View::new(&profile, &options)
                .write_text(&mut sink, Some(20))
                .expect("text");
        }
        let options = ViewOptions::new(value, None, None).expect("no pattern");
        let view = View::new(&profile, &options);
        view.write_text(&mut sink, None).expect("text");
        view.write_json(&mut sink, Some(20)).expect("json");
        view.write_folded(&mut sink).expect("folded");
        let mut pprof = Vec::new();
        view.write_pprof(&mut pprof).expect("pprof");
        read_bytes(&pprof).expect("our own pprof reads back");
    }
    let mut merged = merge([profile.clone(), profile.clone()]).expect("two profiles");
    subtract(&mut merged, profile);
});
