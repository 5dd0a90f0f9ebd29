//! Heap profiles in, jeprof's figures out.
//!
//! This crate reads the heap profiles programs write — jemalloc's `heap_v2` dumps,
//! gperftools' (and Go's legacy) `heap profile:` text, Java agents' `heapz`, and pprof's
//! profile.proto, gzipped or not — into one [`Profile`], un-sampled exactly as jeprof
//! un-samples them, and shows it the way jeprof and pprof do.
//!
//! - [`read_path`] / [`read_bytes`] detect the format by content and return a [`Parsed`]: the
//!   [`Profile`] and what had to be [`Skipped`] (core-reader's [`Diagnostic`]s with line
//!   numbers and reasons; a damaged file yields what could be read).
//! - What tracers write is read the same way (see [`Format`]): `perf script` output, folded
//!   stacks, DTrace `@[ustack()] = count()` aggregations and bpftrace maps keyed by `ustack`
//!   (counts of the event named by [`Profile::event`]), and bcc `memleak` reports (in-use
//!   bytes and allocations). perf and DTrace output is collapsed by inferno's collapsers.
//! - [`ProfileBuilder`] builds a [`Profile`] from recorded stacks and a memory map, un-sampled
//!   as the readers un-sample (the text readers build through it).
//! - [`Profile`] holds [`Sample`]s (stacks of [`Location`] indices, leaf first, with four
//!   [`Values`]: in-use objects and bytes, allocated objects and bytes), the executable
//!   [`Mapping`]s, and once symbolized the [`Function`]s and [`Line`]s behind each address.
//! - [`merge`] and [`subtract`] combine files (`--base`).
//! - [`symbolize`] resolves addresses through any [`Symbolize`] implementation: this crate
//!   finds the mapping and module ([`ModuleRef`], placed by core-reader's [`Placement`]); the
//!   project's one symbolizer, core-reader's, does the rest through [`CoreSymbolizer`]
//!   (files and debug files found where a [`core_reader::Options`] says).
//! - [`View`] applies the allocator-frame rule ([`ALLOCATOR_FRAMES_HELP`]), `--focus` and
//!   `--ignore`, and renders: [`View::write_text`] (jeprof's `--text --show_bytes`),
//!   [`View::write_json`], [`View::write_pprof`], [`View::write_folded`]; call graphs are the `graph` crate's.
//!
//! ```
//! use profile_import::{read_bytes, View, ViewOptions, ValueKind};
//!
//! let dump = "heap_v2/524288\n  t*: 1: 64 [0: 0]\n@ 0x4005d6 0x400610\n  t*: 1: 64 [0: 0]\n";
//! let parsed = read_bytes(dump.as_bytes()).unwrap();
//! assert!(parsed.skipped.is_empty());
//! let options = ViewOptions { value: ValueKind::InuseSpace, focus: None, ignore: None };
//! let view = View::new(&parsed.profile, &options);
//! let mut text = Vec::new();
//! view.write_text(&mut text, None).unwrap();
//! // One 64-byte object sampled at a 512 KiB period stands for about 8192 of them.
//! assert!(String::from_utf8(text).unwrap().starts_with("Total: 524320 B\n"));
//! ```
//!
//! # Cargo features
//!
//! - `core` (off by default): profiles out of cores. [`read_profile`] takes a path that
//!   names a profile file or an ELF core, [`read_merged`] several, merged, less a base;
//!   [`core_profile`] turns the heap profile
//!   a jemalloc with `prof:true` kept in memory (read by heap-walkers) into a [`Profile`]
//!   directly, the one its `heap_v2` dump would read as; [`name_sites`] names the call paths
//!   of a core's sampled allocations ([`heap_walkers::Sites`]) the same way. Adds the
//!   heap-walkers dependency.
//! - `capture` (off by default): the `capture` module, with which a Rust program that
//!   allocates through tikv-jemallocator writes its own heap profile as a pprof file that
//!   records its modules and build-ids. It builds jemalloc from C with profiling compiled in.
//!
//! Every reader is bounded: lines longer than 1 MiB are skipped, a profile.proto may not
//! decompress to more than 1 GiB, and no input makes a reader panic.
//!
//! # Where jeprof and pprof disagree
//!
//! The rules come from jeprof 5.3.0 (`/usr/bin/jeprof`: `ReadThreadedHeapProfile`,
//! `ReadHeapProfile`, `AdjustSamples`, `FixCallerAddresses`, `ParseLibraries`,
//! `RemoveUninterestingFrames`, `ReduceProfile`, `PrintText`) and google/pprof
//! (`profile/legacy_profile.go`, `legacy_java_profile.go`). Where they differ this crate
//! follows jeprof, the ground truth of `heapmortem profile --format text`:
//!
//! | | jeprof 5.3.0 | google/pprof | here |
//! |---|---|---|---|
//! | `@ heap/N` | uniform sampling, adjustment N/2 | Poisson, period N/2 | jeprof |
//! | period 1 (`lg_prof_sample:0`) | still scales by `1/(1-exp(-size))` | no scaling | jeprof |
//! | un-sampled values | fractions summed, truncated when printed | truncated per sample | jeprof |
//! | leaf address | kept | minus 1, like callers | jeprof |
//! | sampled pair with count 0 | dies dividing by zero (uniform) | rejects the file | left as is |
//! | bare `@` (no stack) | heap_v2: counts go to the previous stack; legacy: line dropped | empty stack | empty stack |
//! | header without `@ type` | uniform, 128 KiB, if both pairs are equal | unrecognised | jeprof |
//! | map lines | `.so` paths and the program named on the command line | every executable mapping | pprof |
//! | `$var` in maps | `$build` only | any `name=value` | pprof |
//! | Java `--- heapz 1 ---` | cannot read | Poisson 512 KiB, per-sample truncation | pprof |
//!
//! Beyond both: frames at the top of a stack inside an allocator library are dropped even when
//! they have no name ([`ALLOCATOR_LIBRARIES`]); jeprof shows inlined frames only for modules
//! whose symbol table has `_fini` (it runs `addr2line -i` only then), this crate always does.
//!
//! # The JSON document
#![doc = include_str!("../json-schema.md")]
#![deny(missing_docs)]

mod builder;
#[cfg(feature = "capture")]
pub mod capture;
mod core_symbolizer;
#[cfg(feature = "core")]
mod cores;
mod error;
mod export;
mod gperftools;
mod java;
mod jemalloc;
mod legacy;
mod lines;
mod maps;
mod merge;
mod model;
mod pprof;
mod proto;
mod render;
pub use render::{percent, Folded};
mod sampling;
mod symbolize;
mod traces;
mod view;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

pub use builder::ProfileBuilder;
pub use core_reader::{Diagnostic, Placement};
pub use core_symbolizer::CoreSymbolizer;
#[cfg(feature = "core")]
pub use cores::{core_profile, name_held_sites, name_sites, read_merged, read_profile};
pub use error::Error;
pub use lines::Skipped;
pub use merge::{merge, subtract};
pub use model::{
    Format, Function, Line, Location, Mapping, Profile, ProfileKind, Sample, Sampling, ThreadTotal,
    ValueKind, Values,
};
pub use sampling::unsample;
pub use symbolize::{
    short_function_name, symbolize, ModuleRef, SymbolFrame, Symbolize, SymbolizeStats,
};
pub use view::{
    FunctionRow, FunctionTable, InlineNames, Names, Stack, View, ViewOptions,
    ALLOCATOR_FRAMES_HELP, ALLOCATOR_FUNCTIONS, ALLOCATOR_LIBRARIES, ALLOCATOR_PATTERN,
};

/// The most a profile.proto may decompress to.
const MAX_PROTO: u64 = 1 << 30;

/// A profile read from one file, with what had to be left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// What could be read.
    pub profile: Profile,
    /// What could not.
    pub skipped: Skipped,
}

impl Parsed {
    /// One line saying that the file at `path` could be read only in part, and what was
    /// skipped; `None` when all of it was read.
    pub fn read_in_part(&self, path: &Path) -> Option<String> {
        (!self.skipped.is_empty()).then(|| {
            format!(
                "{} could be read only in part: {}",
                path.display(),
                self.skipped
            )
        })
    }
}

/// Reads a profile file of any supported format, gzipped or not.
pub fn read_path(path: &Path) -> Result<Parsed, Error> {
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(io)?;
    read_buffered(BufReader::with_capacity(1 << 16, file)).map_err(|e| match e {
        Error::Io { message, .. } => Error::Io {
            path: path.to_path_buf(),
            message,
        },
        e => e,
    })
}

/// Reads a profile held in memory, gzipped or not.
pub fn read_bytes(bytes: &[u8]) -> Result<Parsed, Error> {
    read_buffered(bytes)
}

fn io_error(e: std::io::Error) -> Error {
    Error::Io {
        path: Default::default(),
        message: e.to_string(),
    }
}

fn read_buffered<R: BufRead + Send>(mut r: R) -> Result<Parsed, Error> {
    let head = r.fill_buf().map_err(io_error)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return read_plain(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(r)));
    }
    read_plain(r)
}

fn read_plain<R: BufRead + Send>(mut r: R) -> Result<Parsed, Error> {
    let head = r.fill_buf().map_err(io_error)?;
    let Some(&first) = head.first() else {
        return Err(Error::UnknownFormat {
            detail: "the file is empty".to_string(),
        });
    };
    // Text profiles start with one of a few headers (or jeprof's `%` commands); anything else
    // is taken for a profile.proto, whose first byte is any field key (Go's writer starts with
    // field 11, `Z`).
    let start = &head[head.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    if [&b"heap_v2/"[..], b"heap profile:", b"---", b"%"]
        .iter()
        .any(|p| start.starts_with(p))
    {
        return read_text(lines::LineReader::new(r));
    }
    // What tracers write is text too, recognised by its content.
    if let Some(format) = traces::detect(head) {
        return traces::read(format, r);
    }
    let mut bytes = Vec::new();
    r.take(MAX_PROTO + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::BadProto {
            message: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_PROTO {
        return Err(Error::TooLarge {
            what: "the decompressed profile.proto",
            limit: "1 GiB".to_string(),
        });
    }
    pprof::read(&bytes).map_err(|e| match e {
        Error::BadProto { .. } if (0x20..0x7f).contains(&first) => {
            let line: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            Error::UnknownFormat {
                detail: format!("line 1 is `{line}`"),
            }
        }
        e => e,
    })
}

/// The first meaningful line decides: `%` command lines (jeprof's `%warn`) and blank lines
/// are passed over; a `--- heap…`/`--- growth…` line is a page header that may precede the
/// real one (jeprof skips it) or begin a Java heapz profile.
fn read_text<R: BufRead + Send>(mut lines: lines::LineReader<R>) -> Result<Parsed, Error> {
    let mut page_header = false;
    loop {
        let Some((n, line)) = lines.next_line() else {
            return Err(Error::UnknownFormat {
                detail: match lines.stopped() {
                    Some(e) => format!("reading stopped: {e}"),
                    None => "no header line before the end of the file".to_string(),
                },
            });
        };
        let text = match line {
            lines::Line::Text(t) => t.trim().to_string(),
            lines::Line::Bad(why) => {
                return Err(Error::UnknownFormat {
                    detail: format!("line {n}: {why}"),
                })
            }
        };
        if text.is_empty() || text.starts_with('%') {
            continue;
        }
        if text.starts_with("heap_v2/") {
            return jemalloc::read(lines, &text, n);
        }
        if text.starts_with("heap profile:") {
            return gperftools::read(lines, &text, n);
        }
        if !page_header && text.starts_with("---") {
            if text.starts_with("--- heapz 1 ---") {
                return java_or_gperftools(lines);
            }
            if text.contains("heap") || text.contains("growth") {
                page_header = true;
                continue;
            }
        }
        let shown: String = text.chars().take(60).collect();
        return Err(Error::UnknownFormat {
            detail: format!("line {n} is `{shown}`"),
        });
    }
}

/// After `--- heapz 1 ---`: a `heap profile:` header follows on a server's heap page, Java
/// attributes (`format = java`) in a Java agent's profile.
fn java_or_gperftools<R: BufRead>(mut lines: lines::LineReader<R>) -> Result<Parsed, Error> {
    loop {
        let (n, next) = match lines.next_line() {
            Some((n, lines::Line::Text(t))) => (n, t.trim().to_string()),
            Some((n, lines::Line::Bad(why))) => {
                return Err(Error::UnknownFormat {
                    detail: format!("line {n}: {why}"),
                })
            }
            None => {
                return Err(Error::UnknownFormat {
                    detail: "nothing after `--- heapz 1 ---`".to_string(),
                })
            }
        };
        if next.is_empty() {
            continue;
        }
        if next.starts_with("heap profile:") {
            return gperftools::read(lines, &next, n);
        }
        return java::read(lines, Some(&next), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_empty_inputs_are_errors_not_panics() {
        assert!(matches!(read_bytes(b""), Err(Error::UnknownFormat { .. })));
        assert!(matches!(
            read_bytes(b"hello\n"),
            Err(Error::UnknownFormat { .. })
        ));
        assert!(matches!(
            read_bytes(b"\x0a\x02\x08"),
            Err(Error::BadProto { .. })
        ));
        assert!(read_bytes(b"\x1f\x8b\x08\x00garbage").is_err());
    }

    #[test]
    fn every_prefix_of_a_profile_reads_without_panicking() {
        let text = "%warn x\nheap profile: 2: 64 [3: 96] @ heap_v2/524288\n\
                    1: 32 [1: 32] @ 0x10 0x20\n1: 32 [2: 64] @ 0x30\n\n\
                    MAPPED_LIBRARIES:\n00000000-00001000 r-xp 00000000 00:00 1 /bin/prog\n";
        for end in 0..text.len() {
            let _ = read_bytes(&text.as_bytes()[..end]);
        }
        let p = read_bytes(text.as_bytes()).unwrap();
        assert!(p.skipped.is_empty());
        assert_eq!(p.profile.samples.len(), 2);
        assert_eq!(p.profile.mappings.len(), 1);
    }

    #[test]
    fn gzipped_text_is_read() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"heap_v2/0\n@ 0x1\n t*: 1: 2 [0: 0]\n")
            .unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(read_bytes(&bytes).unwrap().profile.samples.len(), 1);
        // Cut short: what came before the damage is kept and the damage reported.
        let cut = &bytes[..bytes.len() - 6];
        if let Ok(p) = read_bytes(cut) {
            assert!(!p.skipped.is_empty() || p.profile.samples.len() == 1);
        }
    }
}
