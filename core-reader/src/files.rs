//! Files opened on the side of a core: executables, libraries and debug files, and the
//! images of modules read from a core's memory (the vDSO).
//!
//! Each is mapped (or copied) once and kept for the life of the program: symbol tables,
//! DWARF and CFI borrow from it for as long as heapmortem runs, and a command runs over one
//! core or two.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Mapped files by path, each mapped at most once for the whole program, and compressed
/// sections of them, each inflated at most once.
#[derive(Default)]
pub(crate) struct FileCache {
    /// Files opened, by path (a path that could not be opened is tried again when asked:
    /// a damaged core names any number of them).
    files: Mutex<HashMap<PathBuf, &'static [u8]>>,
    /// Inflated sections by the address and length of their compressed bytes.
    inflated: Mutex<HashMap<(usize, usize), &'static [u8]>>,
    /// Module images copied out of cores, by their bytes.
    images: Mutex<HashSet<&'static [u8]>>,
}

impl FileCache {
    /// The program's one cache: mappings live as long as the program, so every symbolizer
    /// and process shares them instead of mapping a library once each.
    pub fn global() -> &'static FileCache {
        static CACHE: OnceLock<FileCache> = OnceLock::new();
        CACHE.get_or_init(FileCache::default)
    }

    /// A section's bytes, inflated once per program if the file stores it compressed
    /// (`SHF_COMPRESSED`, `.zdebug`): DWARF readers and the unwinder borrow them for the
    /// program's life, and a symbolizer built twice must not inflate (and keep) them twice.
    pub fn section(&self, section: &object::Section<'static, '_>) -> &'static [u8] {
        use object::ObjectSection;
        let Ok(raw) = section.data() else {
            return &[];
        };
        match section.compressed_data() {
            Ok(c) if c.format == object::CompressionFormat::None => return raw,
            Err(_) => return &[],
            Ok(_) => {}
        }
        let key = (raw.as_ptr() as usize, raw.len());
        let mut inflated = self.inflated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&bytes) = inflated.get(&key) {
            return bytes;
        }
        let bytes: &'static [u8] = match section.uncompressed_data() {
            Ok(std::borrow::Cow::Borrowed(b)) => b,
            Ok(std::borrow::Cow::Owned(v)) => Box::leak(v.into_boxed_slice()),
            Err(_) => &[],
        };
        inflated.insert(key, bytes);
        bytes
    }

    /// A module image read from a core (the vDSO), kept once per distinct content: the
    /// cores of one machine share their vDSO, and the core fuzz target's inputs, most of
    /// which leave it as it was, would otherwise keep a copy each.
    pub fn image(&self, bytes: Vec<u8>) -> &'static [u8] {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&kept) = images.get(&bytes[..]) {
            return kept;
        }
        let kept: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        images.insert(kept);
        kept
    }

    /// The bytes of a file, or `None` when it cannot be opened.
    pub fn get(&self, path: &Path) -> Option<&'static [u8]> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&bytes) = files.get(path) {
            return Some(bytes);
        }
        let bytes = map(path)?;
        files.insert(path.to_path_buf(), bytes);
        Some(bytes)
    }
}

fn map(path: &Path) -> Option<&'static [u8]> {
    let file = File::open(path).ok()?;
    // SAFETY: executables, libraries and debug files are not rewritten while heapmortem
    // reads them; if one were, reads could see changed bytes, never unmapped memory.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    // Kept for the program's life: symbolizer and unwinder tables borrow from it.
    let map: &'static memmap2::Mmap = Box::leak(Box::new(map));
    Some(&map[..])
}
