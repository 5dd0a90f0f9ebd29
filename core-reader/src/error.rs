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
    /// The path names something that cannot hold a core: a directory, an empty file, a
    /// device.
    #[error("{} is {what}, not a core file", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead ("a directory", "an empty file", "a character device").
        what: &'static str,
    },
    /// A compressed core could not be decompressed, or a live process's memory copied, into
    /// a temporary file (`$TMPDIR` full or not writable).
    #[error("cannot {what} {} into a temporary file: {source}", path.display())]
    TempFile {
        /// What was being done: "decompress", "copy".
        what: &'static str,
        /// The compressed core, or the live process's memory file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A compressed core whose stream broke off before the ELF header was whole.
    #[error("{}: {message}; too little to read as a core", path.display())]
    BrokenStream {
        /// The compressed core.
        path: PathBuf,
        /// Where the stream stopped, and why.
        message: String,
    },
    /// A live process could not be read (`--pid`); its threads run on as before.
    #[error("cannot read process {pid}: {message}")]
    Live {
        /// The process id given.
        pid: u32,
        /// Why, with the likely cause.
        message: String,
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
