//! The ground-truth harness shared by the end-to-end tests.
//!
//! heapmortem's readings of a core are checked against other tools' readings of the *same*
//! core, never against its own earlier output. The pieces:
//!
//! - [`process`]: run any child with a time limit and capture its output ([`process::run`]).
//! - [`fixture`]: compile a C workload from `tests/fixtures/` in one of several build
//!   variants ([`fixture::Variant`]) and run it until it dumps a real core
//!   ([`fixture::core`]): the kernel's own dump when `core_pattern` writes one into the working
//!   directory, gdb's `gcore` otherwise, and qemu-user's guest core for aarch64.
//! - [`gdb`]: `gdb -batch … thread apply all bt EXE CORE`, parsed into threads and frames.
//! - [`readelf`]: `eu-readelf -n` / `-l` of a core or an executable, parsed (notes, NT_FILE,
//!   build-ids, program headers).
//! - [`cli`]: run the built `heapmortem` and read its JSON with the tests' *own* serde types,
//!   written from the contract in DESIGN.md, so a schema change fails a test.
//! - [`compare`]: heapmortem's backtraces against gdb's, with a readable diff on mismatch.
//! - [`corpus`]: files of `../shared/corpus/`, decompressed at test time into the target's
//!   temporary directory (never into the repository).
//!
//! Everything the harness writes goes under `CARGO_TARGET_TMPDIR/heapmortem-tests/`.
//! Environment knobs: `HEAPMORTEM_TEST_TIMEOUT_SCALE` (multiply every time limit),
//! `HEAPMORTEM_TEST_CORES=gcore` (take cores with gdb's gcore even where the kernel could),
//! `HEAPMORTEM_CORPUS` (where the corpus is), `HEAPMORTEM_TEST_ALLOW_MISSING_TOOLS=1` (skip
//! instead of failing when an external tool is missing).

// Not every test module uses every helper.
#![allow(dead_code)]

pub mod cli;
pub mod compare;
pub mod corpus;
pub mod fixture;
pub mod gdb;
pub mod process;
pub mod readelf;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The repository root (the `heapmortem` package).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where everything the tests write goes; created on first use.
pub fn tmp_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("heapmortem-tests");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A fresh, empty directory under [`tmp_root`], unique to this process and call.
pub fn unique_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = tmp_root().join(format!("{prefix}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Moves the finished directory `tmp` to `dest` in one step, so concurrent test processes
/// never see a half-built result. If another process got there first, its copy is kept.
pub fn publish_dir(tmp: &Path, dest: &Path) {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    if std::fs::rename(tmp, dest).is_err() {
        assert!(
            dest.exists(),
            "cannot move {} to {}",
            tmp.display(),
            dest.display()
        );
        let _ = std::fs::remove_dir_all(tmp);
    }
}

/// A per-process cache whose values are computed once per key, with different keys computed
/// in parallel (the test harness runs tests on several threads).
pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceLock<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    /// An empty cache (usable in a `static`).
    pub fn new() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, computing it with `make` the first time. If `make` panics, the
    /// next caller tries again (and most likely fails the same way, with the same message).
    pub fn get(&self, key: &K, make: impl FnOnce() -> V) -> V {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key.clone()).or_default().clone()
        };
        cell.get_or_init(make).clone()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Memo<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// A stable 64-bit FNV-1a hash (for cache keys that must survive between test runs).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Parses `0x1f`, `1f` (as hex) — for tool output.
pub fn parse_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(s, 16).ok()
}
