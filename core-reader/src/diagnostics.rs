//! What the reader skipped, and why.

use std::fmt;

/// One thing the reader could not read or trust, with where it was.
///
/// Diagnostics are collected rather than returned as errors so that a damaged core still
/// yields everything else it holds; the CLI prints them and exits 1 when there are any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// A short machine-readable kind, such as `truncated_segment` or `bad_note`.
    pub kind: &'static str,
    /// A sentence for a person, naming addresses and offsets.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}
