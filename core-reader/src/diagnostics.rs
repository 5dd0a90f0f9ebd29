//! What the reader skipped, and why.

use std::fmt;
use std::io::{self, Write};

/// One thing the reader could not read or trust, with where it was.
///
/// Diagnostics are collected rather than returned as errors so that a damaged core still
/// yields everything else it holds; the CLI prints them and exits 1 when there are any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// A short machine-readable kind, such as `truncated_segment` or `bad_note`.
    pub kind: &'static str,
    /// Where in the process it is, when it is about one place (a chunk, a list link).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::hex::serialize_opt"
    )]
    pub address: Option<u64>,
    /// A sentence for a person, naming addresses and offsets.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about no one place.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            kind,
            address: None,
            message: message.into(),
        }
    }

    /// A diagnostic about the thing at `address`.
    pub fn at(kind: &'static str, address: u64, message: impl Into<String>) -> Self {
        Diagnostic {
            kind,
            address: Some(address),
            message: message.into(),
        }
    }
}

impl Diagnostic {
    /// Whether this means part of the core itself could not be read (exit status 1), as
    /// opposed to a remark about files beside it (a library whose build-id differs, a
    /// missing dynamic-linker list, a debuginfod server that could not be reached).
    pub fn is_partial(&self) -> bool {
        !matches!(
            self.kind,
            "build_id_mismatch" | "no_link_map" | "debuginfod_unreachable"
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The closing list of the `info` and `threads` texts: what could not be read.
pub(crate) fn write_diagnostics(w: &mut dyn Write, diags: &[Diagnostic]) -> io::Result<()> {
    if diags.is_empty() {
        return Ok(());
    }
    writeln!(w, "\nnot read ({}):", diags.len())?;
    for d in diags {
        writeln!(w, "  {d}")?;
    }
    Ok(())
}
