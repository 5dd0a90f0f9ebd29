// A seed image built once per process and patched in place, shared by the fuzz bodies beside
// this file (each `include!`s it). Building the seed for every input cost more than walking
// it (the jemalloc seed's extent map alone is megabytes): now each input's patches are
// written over the one seed and undone when its run ends, so an input costs its patches and
// its walk.

use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// The seed as one input patched it; dropping it writes the seed's own bytes back. It holds
/// the seed's lock: threads (the test harness's) take turns, and a thread must drop one
/// before it patches the same seed again.
struct Patched<'a> {
    image: MutexGuard<'a, MemoryImage>,
    /// Per patch: the region's start, the offset in it and how many bytes it replaced, whose
    /// old values follow those of the patches before it in `saved`.
    undo: Vec<(u64, usize, usize)>,
    saved: Vec<u8>,
}

impl<'a> Patched<'a> {
    fn new(seed: &'a Mutex<MemoryImage>) -> Patched<'a> {
        Patched {
            // A test that panicked while holding the seed had it restored by `drop`.
            image: seed.lock().unwrap_or_else(PoisonError::into_inner),
            undo: Vec::new(),
            saved: Vec::new(),
        }
    }

    /// Writes `bytes` at `offset` (modulo the region's size) into the region that starts at
    /// `start`, cut at the region's end.
    fn write(&mut self, start: u64, offset: usize, bytes: &[u8]) {
        let Some(region) = self.image.region_mut(start) else {
            return;
        };
        let at = offset % region.len();
        let n = bytes.len().min(region.len() - at);
        self.saved.extend_from_slice(&region[at..at + n]);
        region[at..at + n].copy_from_slice(&bytes[..n]);
        self.undo.push((start, at, n));
    }
}

impl Patched<'_> {
    /// Writes each patch of `data`, `[region, offset: u32 LE, length, bytes…]` over and over:
    /// `region` (modulo the number of regions) picks a region by address order, `offset` is
    /// taken modulo its size, and `length % 16 + 1` bytes (fewer where the input or the
    /// region ends) are written there.
    #[allow(
        dead_code,
        reason = "the glibc and tcmalloc bodies read this format; the jemalloc and C++ ones, which include this file too, read their own"
    )]
    fn apply(&mut self, data: &[u8]) {
        let regions = self.image.regions().len();
        if regions == 0 {
            return;
        }
        let mut rest = data;
        while let [region, o0, o1, o2, o3, len, tail @ ..] = rest {
            let start = self.image.regions()[*region as usize % regions].0;
            let n = (*len as usize % 16 + 1).min(tail.len());
            self.write(start, u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize, &tail[..n]);
            rest = &tail[n..];
        }
    }
}

impl std::ops::Deref for Patched<'_> {
    type Target = MemoryImage;
    fn deref(&self) -> &MemoryImage {
        &self.image
    }
}

impl Drop for Patched<'_> {
    fn drop(&mut self) {
        // Last patch first: where patches overlap, the first one saved the seed's bytes.
        while let Some((start, at, n)) = self.undo.pop() {
            let from = self.saved.len() - n;
            if let Some(region) = self.image.region_mut(start) {
                region[at..at + n].copy_from_slice(&self.saved[from..]);
            }
            self.saved.truncate(from);
        }
    }
}
