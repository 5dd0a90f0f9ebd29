//! Bad bytes never panic the readers: the inputs `cargo fuzz run read` (profile-import/fuzz)
//! found to break them, kept in tests/fuzz-regressions/, and corpus profiles cut and scribbled
//! over in many deterministic ways, go through the same code as the fuzz target — read,
//! symbolize, every view and renderer, merge and subtract — in a debug build (overflow checks
//! on).

use std::path::PathBuf;

include!("../fuzz/exercise.rs");

fn corpus(rel: &str) -> Vec<u8> {
    let dir = std::env::var_os("HEAPMORTEM_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let path = dir.join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is ../shared beside the checkout, or HEAPMORTEM_CORPUS set?)",
            path.display()
        )
    })
}

/// Every input the fuzzers found to break a reader: `*.bin` (found by `read`) through
/// everything, `<target>/*` through that target, each well within the fuzzers' timeout.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    let mut replay = |path: &std::path::Path, body: fn(&[u8])| {
        eprintln!("{}", path.display());
        let start = std::time::Instant::now();
        body(&std::fs::read(path).expect("regression input"));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{} took {:?}",
            path.display(),
            start.elapsed()
        );
        n += 1;
    };
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "bin") {
            replay(&path, exercise);
        } else if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(&(_, body)) = TARGETS.iter().find(|(t, _)| *t == name) else {
                panic!("{}: no fuzz target of that name", path.display());
            };
            for input in std::fs::read_dir(&path).expect("a target's inputs") {
                replay(&input.expect("dir entry").path(), body);
            }
        }
    }
    assert!(
        n >= 1,
        "expected the fuzz regression inputs in {}",
        dir.display()
    );
}

/// Each one-part target (on the start of every corpus profile) and `read`'s body (on all of it).
#[test]
fn split_targets_read_corpus_profiles() {
    for name in [
        "cppbench.heap",
        "gobench.heap",
        "java.heap",
        "jemalloc.heap",
    ] {
        let bytes = corpus(&format!("profiles/google-pprof/{name}"));
        for (_, body) in TARGETS {
            body(&bytes);
        }
        exercise_one(&bytes);
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Cuts at a few points and scribbles over 1–8 bytes (digits, separators, extremes) `rounds`
/// times.
fn mutate_many(original: &[u8], seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    for i in 0..8 {
        exercise(&original[..original.len() * i / 8]);
    }
    const BYTES: &[u8] = b"0123456789abcdefx-:[]@ \n$=/\x00\xff";
    for _ in 0..rounds {
        let mut bytes = original.to_vec();
        for _ in 0..(1 + rng.next() % 8) {
            let at = (rng.next() as usize) % bytes.len().max(1);
            if let Some(b) = bytes.get_mut(at) {
                *b = BYTES[(rng.next() as usize) % BYTES.len()];
            }
        }
        exercise(&bytes);
    }
}

#[test]
fn corpus_profiles_survive_mutation() {
    for (i, name) in [
        "cppbench.heap",
        "cppbench.growth",
        "gobench.heap",
        "java.heap",
    ]
    .iter()
    .enumerate()
    {
        let bytes = corpus(&format!("profiles/google-pprof/{name}"));
        mutate_many(&bytes, i as u64 + 1, 40);
    }
}
