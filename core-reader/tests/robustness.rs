//! Bad bytes never panic the reader: real cores from the corpus, cut and scribbled over in
//! many deterministic ways, still open (or fail with an error), and every view of them
//! (notes, modules, mappings, backtraces, the info report) completes.
//!
//! The same property is fuzzed without bounds by `core-reader/fuzz` (cargo fuzz); this test
//! keeps a fixed, fast sample of it in the ordinary suite.

use std::path::PathBuf;

use core_reader::{CoreFile, Memory, Options, Process};

fn corpus(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is ../shared beside the checkout?)",
            path.display()
        )
    })
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

fn exercise(bytes: Vec<u8>) {
    let Ok(core) = CoreFile::from_bytes("mutated.core", bytes) else {
        return;
    };
    let process = Process::from_core(core, &Options::default());
    let _ = process.info_report("unknown");
    let report = process.threads_report();
    assert!(report
        .threads
        .iter()
        .all(|t| t.frames.len() <= core_reader::MAX_FRAMES * 2));
    for m in process.mappings().iter().take(64) {
        let mut buf = [0u8; 64];
        let _ = process.read(m.start, &mut buf);
        let _ = process.read(m.end.wrapping_sub(8), &mut buf);
    }
}

fn mutate_many(original: &[u8], seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    // Truncation at every 97th byte of the first 16 KiB (headers and notes) and a few
    // points further on.
    for cut in (0..original.len().min(16 << 10)).step_by(97) {
        exercise(original[..cut].to_vec());
    }
    for i in 1..8 {
        exercise(original[..original.len() * i / 8].to_vec());
    }
    // Scribbles: overwrite 1–8 bytes, mostly in the headers and notes where structure is.
    for _ in 0..rounds {
        let mut bytes = original.to_vec();
        for _ in 0..(1 + rng.next() % 8) {
            let span = if rng.next().is_multiple_of(4) {
                bytes.len()
            } else {
                bytes.len().min(8 << 10)
            };
            let at = (rng.next() as usize) % span;
            bytes[at] = match rng.next() % 4 {
                0 => 0,
                1 => 0xff,
                2 => bytes[at] ^ (1 << (rng.next() % 8)),
                _ => rng.next() as u8,
            };
        }
        exercise(bytes);
    }
}

#[test]
fn lldb_x86_64_core_survives_mutation() {
    mutate_many(&corpus("cores/lldb/elf-core/linux-x86_64.core"), 1, 600);
}

#[test]
fn lldb_gcore_survives_mutation() {
    mutate_many(&corpus("cores/lldb/gcore/linux-x86_64.core"), 2, 300);
}

#[test]
fn pyelftools_core_survives_mutation() {
    mutate_many(&corpus("cores/pyelftools/core_linux64.elf"), 3, 300);
}

#[test]
fn empty_and_tiny_inputs_are_errors_not_panics() {
    for bytes in [
        vec![],
        b"\x7fELF".to_vec(),
        vec![0u8; 63],
        vec![0xffu8; 200],
    ] {
        assert!(CoreFile::from_bytes("tiny", bytes).is_err());
    }
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "bin") {
            exercise(std::fs::read(&path).expect("regression input"));
            n += 1;
        }
    }
    assert!(
        n >= 2,
        "expected the fuzz regression inputs in {}",
        dir.display()
    );
}
