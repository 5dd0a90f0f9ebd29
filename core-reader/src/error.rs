//! Errors of the core reader.

use std::path::PathBuf;

/// Why a core could not be opened at all.
///
/// Problems with *parts* of a core (a truncated segment, a malformed note) are not errors:
/// they are recorded as [`crate::Diagnostic`]s and the reader keeps going.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not an ELF file, or the ELF header itself is unusable.
    #[error("not an ELF file: {0}")]
    NotElf(String),
    /// An ELF file, but not a core (`e_type` is not `ET_CORE`).
    #[error("{0} is an ELF file but not a core dump (e_type = {1})")]
    NotACore(PathBuf, u16),
    /// A core of a kind the reader does not handle (32-bit, big-endian, another machine).
    #[error("unsupported core: {0}")]
    Unsupported(String),
}
