//! Every input the heap-walkers fuzz targets found to crash, hang or run out of memory, kept
//! in tests/fuzz-regressions/<target>/ (scripts/fuzz.sh copies them there), replayed through
//! the same body the target runs, in a debug build (overflow checks on), each within a
//! time bound.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod glibc_body {
    include!("../fuzz/glibc.rs");
}
mod jemalloc_body {
    include!("../fuzz/jemalloc.rs");
}
mod cpp_body {
    include!("../fuzz/cpp.rs");
}
mod tcmalloc_body {
    include!("../fuzz/tcmalloc.rs");
}

/// A hang the fuzzer stopped after its `-timeout` must now finish in well under it, in a
/// debug build on a loaded machine.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn fuzz_regressions_replay() {
    type Body = fn(&[u8]);
    let targets: [(&str, Body); 5] = [
        ("glibc", glibc_body::exercise),
        ("jemalloc", jemalloc_body::exercise),
        ("types", cpp_body::exercise_types),
        ("leaks", cpp_body::exercise_leaks),
        ("tcmalloc", tcmalloc_body::exercise),
    ];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for entry in std::fs::read_dir(&root).expect("tests/fuzz-regressions") {
        let dir = entry.expect("dir entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(&(_, run)) = targets.iter().find(|(t, _)| *t == name) else {
            panic!("{}: no fuzz target of that name", dir.display());
        };
        for input in std::fs::read_dir(&dir).expect("a target's inputs") {
            let path = input.expect("dir entry").path();
            eprintln!("{}", path.display());
            let start = Instant::now();
            run(&std::fs::read(&path).expect("regression input"));
            assert!(
                start.elapsed() < BOUND,
                "{} took {:?}",
                path.display(),
                start.elapsed()
            );
        }
    }
}
