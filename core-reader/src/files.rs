//! Files opened on the side of a core: executables, libraries and debug files.
//!
//! Each is mapped once and kept for the life of the program: symbol tables, DWARF and CFI
//! borrow from the mapping for as long as heapmortem runs, and a command runs over one core.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Mapped files by path, each mapped at most once for the whole program, and compressed
/// sections of them, each inflated at most once.
#[derive(Default)]
pub(crate) struct FileCache {
    files: Mutex<HashMap<PathBuf, Option<&'static [u8]>>>,
    /// Inflated sections by the address and length of their compressed bytes.
    inflated: Mutex<HashMap<(usize, usize), &'static [u8]>>,
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

    /// The bytes of a file, or `None` when it cannot be opened.
    pub fn get(&self, path: &Path) -> Option<&'static [u8]> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        *files.entry(path.to_path_buf()).or_insert_with(|| map(path))
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
