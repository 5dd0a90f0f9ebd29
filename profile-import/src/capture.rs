//! A Rust program's own heap profile, taken from inside it (cargo feature `capture`).
//!
//! A service that allocates through [tikv-jemallocator] with profiling on calls
//! [`write_heap_profile`] (from an admin endpoint, on a timer, before exiting…) and gets its
//! live heap as a pprof file: gzipped profile.proto, un-sampled as jeprof un-samples,
//! unsymbolized, and carrying every module the process has loaded — path, the addresses its
//! code was mapped at, the file offset of each mapping, and its GNU build-id — so the file can
//! be symbolized later on any machine that has the binaries or their debug files: `heapmortem profile FILE`, `go tool pprof`, google-pprof, with `--debug-dir` or
//! `--sysroot` where the files are not at the recorded paths.
//!
//! How: jemalloc's `prof.dump` (through `tikv-jemalloc-ctl`) writes a `heap_v2` dump to a
//! temporary file; this crate's jemalloc reader reads it into a [`Profile`]; the mappings the
//! dump recorded (a copy of `/proc/self/maps`) are replaced by the modules `findshlibs` lists
//! (`dl_iterate_phdr`), each executable segment a [`Mapping`] with its build-id; the profile is
//! written by the same pprof writer as `heapmortem profile --format pprof`
//! ([`View::write_pprof`]), with the modules no stack passes through added and the main
//! program first, as profile.proto asks.
//!
//! It allocates and writes a file, so it is not for a signal handler; call it from any thread,
//! as often as needed (each call dumps to its own temporary file).
//!
//! # What the program needs
//!
//! - tikv-jemallocator 0.7 as its global allocator. This feature depends on
//!   `tikv-jemalloc-ctl` 0.7 with `profiling`, which turns on jemalloc's `--enable-prof` in the
//!   one `tikv-jemalloc-sys` of the build (it is a `links = "jemalloc"` crate: another major
//!   version of tikv-jemallocator does not build alongside).
//! - Profiling switched on when the process starts: `_RJEM_MALLOC_CONF=prof:true` in its
//!   environment (tikv-jemalloc-sys prefixes jemalloc's symbols and environment variable with
//!   `_rjem_` / `_RJEM_` on Linux), or the same string compiled in through the
//!   `_rjem_malloc_conf` symbol (see the example). `lg_prof_sample:N` sets the mean sampling
//!   interval to 2^N bytes (default 19, 512 KiB); the values written are estimates scaled back
//!   up like jeprof's, exact for `lg_prof_sample:0`.
//! - Linux (or another system whose `dl_iterate_phdr` and `/proc/self/maps` findshlibs and
//!   jemalloc read). The file offsets come from the kernel's map that jemalloc appends to the
//!   dump: findshlibs gives each segment's addresses but not its offset in the file.
//!
//! # Example
//!
//! ```rust,ignore
//! // Cargo.toml:
//! //   tikv-jemallocator = { version = "0.7", features = ["profiling"] }
//! //   profile-import = { version = "0.1", features = ["capture"] }
//! #[global_allocator]
//! static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
//!
//! // Profiling on without touching the environment (or run with `_RJEM_MALLOC_CONF=prof:true`).
//! #[allow(non_upper_case_globals)]
//! #[export_name = "_rjem_malloc_conf"]
//! pub static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:19\0";
//!
//! fn dump_heap() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut file = std::fs::File::create("/tmp/service.heap.pb.gz")?;
//!     let skipped = profile_import::capture::write_heap_profile(&mut file)?;
//!     assert!(skipped.is_empty());
//!     Ok(())
//! }
//! ```
//!
//! (Not compiled here, since it needs tikv-jemallocator; `tests/fixtures/capture/` is the same
//! program, built and checked against `go tool pprof` and `readelf` by the test suite.)
//!
//! Then, anywhere: `heapmortem profile /tmp/service.heap.pb.gz` or
//! `go tool pprof -top /tmp/service.heap.pb.gz`.
//!
//! The frames at the top of each stack are jemalloc's own (`prof_backtrace`, `_rjem_malloc`,
//! …) and Rust's allocation shims (`__rust_alloc`, `alloc::alloc::…`): the writer leaves
//! every frame in, as jemalloc recorded it, so the allocation sites are found by their
//! cumulative figures (and the flat ones land on the allocator).
//!
//! [tikv-jemallocator]: https://crates.io/crates/tikv-jemallocator

use std::collections::HashSet;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use findshlibs::{Segment as _, SharedLibrary as _, SharedLibraryId, TargetSharedLibrary};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::model::{assign_mappings, Mapping, Profile, ValueKind};
use crate::{proto, Parsed, Skipped, View, ViewOptions};

/// Why no profile could be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// jemalloc does not answer `opt.prof`: it was built without profiling (the
    /// `tikv-jemalloc-sys` of this build lacks its `profiling` feature).
    #[error(
        "jemalloc was built without profiling (`opt.prof`: {message}); enable tikv-jemallocator's \
         `profiling` feature"
    )]
    NotBuiltWithProfiling {
        /// jemalloc's answer.
        message: String,
    },
    /// Profiling is compiled in but was not switched on when the process started.
    #[error(
        "jemalloc profiling is off: start the program with `_RJEM_MALLOC_CONF=prof:true` \
         (or compile in `_rjem_malloc_conf`)"
    )]
    ProfilingOff,
    /// `prof.dump` failed (jemalloc could not write the temporary file, or ran out of memory).
    #[error("jemalloc's prof.dump to {path} failed: {message}")]
    Dump {
        /// The file jemalloc was asked to write.
        path: PathBuf,
        /// jemalloc's error.
        message: String,
    },
    /// The temporary file could not be created or read back, or the output not written.
    #[error("{path}: {message}")]
    Io {
        /// The file (empty for the output).
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The dump jemalloc wrote could not be read: a bug of this crate (please report it with
    /// the message).
    #[error("cannot read jemalloc's own dump: {0}")]
    Read(crate::Error),
}

/// Writes the heap profile of this process to `out` as a gzipped profile.proto (see the
/// module docs). Returns what the jemalloc reader had to skip in jemalloc's dump: nothing,
/// unless this crate has a bug.
pub fn write_heap_profile(out: &mut dyn Write) -> Result<Skipped, CaptureError> {
    write_heap_profile_in(&std::env::temp_dir(), out)
}

/// [`write_heap_profile`], with jemalloc's temporary dump written in `dir` rather than the
/// system's temporary folder.
pub fn write_heap_profile_in(dir: &Path, out: &mut dyn Write) -> Result<Skipped, CaptureError> {
    let parsed = heap_profile_in(dir)?;
    write_profile(&parsed.profile, out).map_err(|e| CaptureError::Io {
        path: PathBuf::new(),
        message: e.to_string(),
    })?;
    Ok(parsed.skipped)
}

/// The heap profile of this process as a [`Profile`] (un-sampled, unsymbolized), its mappings
/// the code segments of every loaded module ([`loaded_modules`]), the main program's first.
pub fn heap_profile() -> Result<Parsed, CaptureError> {
    heap_profile_in(&std::env::temp_dir())
}

/// [`heap_profile`], with jemalloc's temporary dump written in `dir`.
pub fn heap_profile_in(dir: &Path) -> Result<Parsed, CaptureError> {
    check_profiling()?;
    let io = |path: &Path, e: io::Error| CaptureError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Created (O_EXCL, mode 0600) before jemalloc opens it for writing, so the name cannot be
    // taken over in between; removed when `dump` is dropped.
    let dump = tempfile::Builder::new()
        .prefix("heapmortem-capture-")
        .suffix(".heap")
        .tempfile_in(dir)
        .map_err(|e| io(dir, e))?;
    let path = dump.path().to_path_buf();
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| CaptureError::Io {
        path: path.clone(),
        message: "the path holds a NUL byte".to_string(),
    })?;
    // SAFETY: `prof.dump` takes a `const char *` (jemalloc's manual: "prof.dump (const char *)
    // -w-"); the string outlives the call, and jemalloc does not keep the pointer.
    unsafe { tikv_jemalloc_ctl::raw::write(b"prof.dump\0", c_path.as_ptr()) }.map_err(|e| {
        CaptureError::Dump {
            path: path.clone(),
            message: e.to_string(),
        }
    })?;
    // Listed right after the dump: modules loaded or unloaded in between would be missing or
    // extra, as in any snapshot.
    let modules = loaded_modules();
    let mut parsed = crate::read_path(&path).map_err(CaptureError::Read)?;
    replace_mappings(&mut parsed.profile, modules);
    Ok(parsed)
}

fn check_profiling() -> Result<(), CaptureError> {
    match tikv_jemalloc_ctl::profiling::prof::read() {
        Ok(true) => Ok(()),
        Ok(false) => Err(CaptureError::ProfilingOff),
        Err(e) => Err(CaptureError::NotBuiltWithProfiling {
            message: e.to_string(),
        }),
    }
}

/// The code (executable `PT_LOAD`) segments of every module loaded in this process, as
/// findshlibs lists them: path (the executable's from `/proc/self/exe`), the segment's
/// addresses exactly (load bias + `p_vaddr`, for `p_memsz` bytes), and the GNU build-id in
/// hex. The main program comes first, marked [`Mapping::is_main`]. File offsets are not known
/// here (0); [`heap_profile`] takes them from the kernel's map.
///
/// Exact segment bounds rather than the page-aligned ones of `/proc/self/maps`: `go tool
/// pprof` takes a mapping's start for the load address of the file's first executable
/// segment (`start - p_vaddr` is its load bias, whatever the offset says), which holds only
/// for exact bounds once a linker places code at an address that is not page-aligned (lld
/// does: `p_vaddr` 0x1c3bc0, `p_offset` 0x1c2bc0). google-pprof and heapmortem derive the bias
/// from the offset and read exact bounds as well.
pub fn loaded_modules() -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut first = true;
    TargetSharedLibrary::each(|lib| {
        let is_main = std::mem::take(&mut first);
        let build_id = match lib.id() {
            Some(SharedLibraryId::GnuBuildId(bytes)) => Some(hex(&bytes)),
            _ => None,
        };
        let path = lib.name().to_string_lossy().into_owned();
        for segment in lib.segments().filter(|s| s.is_code()) {
            let start = segment.actual_virtual_memory_address(lib).0 as u64;
            let Some(end) = start.checked_add(segment.len() as u64) else {
                continue;
            };
            if end <= start {
                continue;
            }
            out.push(Mapping {
                start,
                end,
                offset: 0,
                path: path.clone(),
                build_id: build_id.clone(),
                is_main,
            });
        }
    });
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts `modules` in place of the mappings the dump recorded, each with the file offset of its
/// start as the kernel's map gives it (the offset of the map entry holding it, plus the
/// distance from that entry's start: `p_offset` for a segment start), and assigns the
/// locations to them again. A module the map does not show keeps offset 0.
fn replace_mappings(profile: &mut Profile, mut modules: Vec<Mapping>) {
    for m in &mut modules {
        let holder = profile
            .mappings
            .iter()
            .find(|d| d.start <= m.start && m.start < d.end);
        if let Some(d) = holder {
            m.offset = d.offset.saturating_add(m.start - d.start);
        }
    }
    profile.mappings = modules;
    for loc in &mut profile.locations {
        loc.mapping = None;
    }
    assign_mappings(profile);
}

/// Writes `profile` as a gzipped profile.proto: the pprof writer's output
/// ([`View::write_pprof`], in-use space as the default sample type) with every mapping of the
/// profile in it, used by a stack or not, and the main program's first.
pub fn write_profile(profile: &Profile, out: &mut dyn Write) -> io::Result<()> {
    let options = ViewOptions {
        value: ValueKind::InuseSpace,
        focus: None,
        ignore: None,
    };
    let mut gz = Vec::new();
    View::new(profile, &options).write_pprof(&mut gz)?;
    let mut raw = Vec::new();
    GzDecoder::new(gz.as_slice()).read_to_end(&mut raw)?;
    let mut p = proto::Profile::decode(raw.as_slice())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    add_mappings(&mut p, profile);
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&p.encode_to_vec())?;
    gz.finish()?;
    Ok(())
}

/// Adds the profile's mappings that `p` lacks and moves the main program's to the front.
fn add_mappings(p: &mut proto::Profile, profile: &Profile) {
    let mut strings: std::collections::HashMap<String, i64> = p
        .string_table
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as i64))
        .collect();
    let mut intern = |table: &mut Vec<String>, s: &str| -> i64 {
        *strings.entry(s.to_string()).or_insert_with(|| {
            table.push(s.to_string());
            (table.len() - 1) as i64
        })
    };
    let key = |m: &proto::Mapping, table: &[String]| {
        let path = usize::try_from(m.filename)
            .ok()
            .and_then(|i| table.get(i))
            .cloned()
            .unwrap_or_default();
        (m.memory_start, m.memory_limit, m.file_offset, path)
    };
    let present: HashSet<(u64, u64, u64, String)> =
        p.mapping.iter().map(|m| key(m, &p.string_table)).collect();
    let mut next_id = p.mapping.iter().map(|m| m.id).max().unwrap_or(0) + 1;
    let symbolized = !profile.functions.is_empty();
    let mut main = None;
    for m in &profile.mappings {
        let k = (m.start, m.end, m.offset, m.path.clone());
        if !present.contains(&k) {
            let filename = intern(&mut p.string_table, &m.path);
            let build_id = intern(&mut p.string_table, m.build_id.as_deref().unwrap_or(""));
            p.mapping.push(proto::Mapping {
                id: next_id,
                memory_start: m.start,
                memory_limit: m.end,
                file_offset: m.offset,
                filename,
                build_id,
                has_functions: symbolized,
                has_filenames: symbolized,
                has_line_numbers: symbolized,
                has_inline_frames: symbolized,
            });
            next_id += 1;
        }
        if m.is_main && main.is_none() {
            main = Some(k);
        }
    }
    if let Some(main) = main {
        if let Some(i) = p
            .mapping
            .iter()
            .position(|m| key(m, &p.string_table) == main)
        {
            let m = p.mapping.remove(i);
            p.mapping.insert(0, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_bytes;

    #[test]
    fn this_test_binary_lists_itself_first_with_its_build_id() {
        let modules = loaded_modules();
        let main = &modules[0];
        assert!(main.is_main, "{modules:?}");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(Path::new(&main.path), exe);
        // Rust's linker invocation asks for a GNU build-id on Linux.
        assert!(main.build_id.as_ref().is_some_and(|b| b.len() >= 16));
        assert!(modules.iter().all(|m| m.start < m.end));
        // This very function is in one of the main program's code segments.
        let here =
            this_test_binary_lists_itself_first_with_its_build_id as *const () as usize as u64;
        assert!(modules
            .iter()
            .any(|m| m.is_main && m.start <= here && here < m.end));
    }

    #[test]
    fn mappings_replaced_with_offsets_from_the_map_and_all_written() {
        let dump = "heap_v2/1\n t*: 2: 128 [0: 0]\n@ 0x1c10 0x5020\n t*: 2: 128 [0: 0]\n\n\
                    MAPPED_LIBRARIES:\n\
                    00001000-00003000 r-xp 00001000 08:01 1 /bin/prog\n\
                    00005000-00006000 r-xp 00004000 08:01 2 /lib/libc.so.6\n";
        let mut profile = read_bytes(dump.as_bytes()).unwrap().profile;
        let modules = vec![
            Mapping {
                start: 0x1bc0,
                end: 0x2800,
                offset: 0,
                path: "/bin/prog".into(),
                build_id: Some("aa01".into()),
                is_main: true,
            },
            Mapping {
                start: 0x2800,
                end: 0x3000,
                offset: 0,
                path: "/bin/prog".into(),
                build_id: Some("aa01".into()),
                is_main: true,
            },
            Mapping {
                start: 0x5000,
                end: 0x6000,
                offset: 0,
                path: "/lib/libc.so.6".into(),
                build_id: Some("bb02".into()),
                is_main: false,
            },
            Mapping {
                start: 0x9000,
                end: 0xa000,
                offset: 0,
                path: "/lib/unused.so".into(),
                build_id: None,
                is_main: false,
            },
        ];
        replace_mappings(&mut profile, modules);
        let offsets: Vec<u64> = profile.mappings.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [0x1bc0, 0x2800, 0x4000, 0]);
        let mapped: Vec<Option<u32>> = profile.locations.iter().map(|l| l.mapping).collect();
        // The leaf 0x1c10 in prog; the caller 0x5020 looked up at 0x501f, in libc.
        assert_eq!(mapped, [Some(0), Some(2)]);

        let mut bytes = Vec::new();
        write_profile(&profile, &mut bytes).unwrap();
        let back = read_bytes(&bytes).unwrap();
        assert!(back.skipped.is_empty());
        let m = &back.profile.mappings;
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].is_main && m[0].path == "/bin/prog" && m[0].start == 0x1bc0);
        assert_eq!(m[0].build_id.as_deref(), Some("aa01"));
        let libc = m.iter().find(|m| m.path == "/lib/libc.so.6").unwrap();
        assert_eq!(
            (libc.offset, libc.build_id.as_deref()),
            (0x4000, Some("bb02"))
        );
        assert!(m
            .iter()
            .any(|m| m.path == "/lib/unused.so" && m.build_id.is_none()));
        assert_eq!(back.profile.total(ValueKind::InuseSpace), 128.0);
    }
}
