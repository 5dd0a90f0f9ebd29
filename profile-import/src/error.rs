//! Errors of this crate: small, cheap to clone, each naming the likely cause.

use std::path::PathBuf;

/// Why a profile could not be read at all. A file that could be read in part is not an error:
/// see [`crate::Skipped`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The first line is none of the heap profile headers this crate knows, and the bytes are
    /// not a profile.proto either.
    #[error(
        "not a heap profile (expected `heap_v2/N`, `heap profile: …` or a profile.proto): {detail}"
    )]
    UnknownFormat {
        /// What was found instead.
        detail: String,
    },
    /// The header was recognised but is malformed; nothing after it can be trusted.
    #[error("line {line}: {message}")]
    BadHeader {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A profile.proto that does not decode (truncated or not a profile).
    #[error("profile.proto does not decode ({message}); truncated file?")]
    BadProto {
        /// prost's or this crate's message.
        message: String,
    },
    /// A profile.proto whose sample types are not heap values.
    #[error("not a heap profile: its sample types are {types}")]
    NotHeap {
        /// The sample types found, `type/unit` each.
        types: String,
    },
    /// A `--focus` or `--ignore` pattern that is not a valid regular expression.
    #[error("bad pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The regex crate's message.
        message: String,
    },
    /// A size limit that protects against hostile input was reached.
    #[error("{what} is larger than {limit} (corrupt or hostile input?)")]
    TooLarge {
        /// What grew too large.
        what: &'static str,
        /// The limit, for the message.
        limit: String,
    },
    /// The file could not be opened to tell a core from a profile.
    #[cfg(feature = "core")]
    #[error("cannot read {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// An ELF core that core-reader could not open.
    #[cfg(feature = "core")]
    #[error("{message}")]
    Core {
        /// core-reader's message.
        message: String,
    },
    /// A core without an in-memory heap profile: another allocator, or a jemalloc that did
    /// not run with `prof:true`.
    #[cfg(feature = "core")]
    #[error("{path} holds no heap profile: {reason}")]
    NoHeapProfile {
        /// The core.
        path: PathBuf,
        /// Why there is none.
        reason: String,
    },
    /// No profile was given to read.
    #[cfg(feature = "core")]
    #[error("no profile given")]
    NoProfile,
}
