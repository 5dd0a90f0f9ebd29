// The body of the `read` fuzz target, shared with tests/robustness.rs (both `include!` this
// file, so the regression tests run exactly what the fuzzer runs).

use profile_import::{
    merge, read_bytes, subtract, symbolize, ModuleRef, SymbolFrame, Symbolize, ValueKind, View,
    ViewOptions,
};

/// Names every address, some of
/// them like allocator entry points, with C++-like signatures for the name shortener.
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

/// Reads `data` as a profile and runs everything on it: symbolize, every view and renderer,
/// the pprof read-back, merge and subtract.
fn exercise(data: &[u8]) {
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
}
