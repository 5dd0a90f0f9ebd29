//! Reading and symbolizing profiles, shared by `profile` and `report`.

use std::collections::HashMap;
use std::path::Path;

use core_reader::{MappedFile, SearchPaths, Symbolizer};
use profile_import::{ModuleRef, Placement, SymbolFrame, Symbolize};

use anyhow::Context;

use crate::args::Common;
use crate::Outcome;

/// Reads one profile file, or the heap profile a core's jemalloc kept in memory when it ran
/// with `prof:true` (rebuilt by the jemalloc walker as the `heap_v2` text a `prof.dump` at
/// that moment would have written). A file read only in part is said on stderr in one line,
/// makes the outcome partial, and the sentence is returned for reports to show.
pub(super) fn read_profile(
    path: &Path,
    common: &Common,
    outcome: &mut Outcome,
) -> anyhow::Result<(profile_import::Profile, Option<String>)> {
    let parsed = if is_core(path)? {
        let process = super::open_core(path, common)?;
        let heap_v2 = core_profile(&process)
            .with_context(|| format!("{} holds no heap profile", path.display()))?;
        if super::outcome(&process) == Outcome::Partial {
            *outcome = Outcome::Partial;
        }
        profile_import::read_bytes(heap_v2.as_bytes())?
    } else {
        profile_import::read_path(path)?
    };
    if parsed.skipped.is_empty() {
        return Ok((parsed.profile, None));
    }
    let first = parsed
        .skipped
        .problems
        .first()
        .map(|p| {
            if p.line > 0 {
                format!(" (first: line {}: {})", p.line, p.message)
            } else {
                format!(" (first: {})", p.message)
            }
        })
        .unwrap_or_default();
    let note = format!(
        "{} could be read only in part: {} line{} skipped{first}",
        path.display(),
        parsed.skipped.lines,
        if parsed.skipped.lines == 1 { "" } else { "s" }
    );
    eprintln!("heapmortem: {note}");
    *outcome = Outcome::Partial;
    Ok((parsed.profile, Some(note)))
}

/// The profile's modules, symbolized by core-reader's symbolizer: files found under
/// `--sysroot` (the main program replaced by `--exe`), debug files by build-id and
/// debuglink in `--debug-dir` and /usr/lib/debug.
pub(super) struct CoreSymbolizer<'a> {
    common: &'a Common,
    search: SearchPaths,
    /// One symbolizer per mapping, kept for files merged from several profiles.
    cache: HashMap<(String, Placement), Symbolizer>,
}

impl<'a> CoreSymbolizer<'a> {
    pub(super) fn new(common: &'a Common) -> Self {
        CoreSymbolizer {
            common,
            search: SearchPaths {
                sysroot: common.sysroot.clone(),
                debug_dirs: common.debug_dirs.clone(),
            },
            cache: HashMap::new(),
        }
    }

    fn symbolizer(&mut self, module: &ModuleRef<'_>) -> Option<&Symbolizer> {
        let exe = self.common.exe.as_deref();
        let key = (module.path.to_string(), module.placement);
        if !self.cache.contains_key(&key) {
            let placement = match module.placement {
                Placement::Mapped {
                    start,
                    end,
                    file_offset,
                } => core_reader::Placement::Mapped {
                    start: core_reader::ProcessAddr(start),
                    end: core_reader::ProcessAddr(end),
                    file_offset: core_reader::FileOffset(file_offset),
                },
                // jeprof's rule: an address in no recorded mapping belongs to the main
                // program at its link-time addresses. Only with --exe is there one to ask.
                Placement::Unmapped => {
                    exe?;
                    core_reader::Placement::Unrelocated
                }
            };
            let exe_path = exe.map(|e| e.to_string_lossy());
            let path = match (module.placement, &exe_path) {
                (Placement::Unmapped, Some(p)) => p.as_ref(),
                _ => module.path,
            };
            let build_id = module.build_id.and_then(parse_build_id);
            let m = Symbolizer::module_for_mapping(
                &MappedFile {
                    path,
                    placement,
                    build_id,
                    is_main: module.is_main || matches!(module.placement, Placement::Unmapped),
                },
                exe,
                &self.search,
            );
            self.cache
                .insert(key.clone(), Symbolizer::new(vec![m], &self.search));
        }
        self.cache.get(&key)
    }
}

impl Symbolize for CoreSymbolizer<'_> {
    fn symbolize(&mut self, module: &ModuleRef<'_>, addresses: &[u64]) -> Vec<Vec<SymbolFrame>> {
        let Some(symbolizer) = self.symbolizer(module) else {
            return vec![Vec::new(); addresses.len()];
        };
        addresses
            .iter()
            .map(|&a| {
                symbolizer
                    .symbolize(a)
                    .into_iter()
                    .map(|f| SymbolFrame {
                        function: f.function.unwrap_or_default(),
                        file: f.file,
                        line: f.line,
                    })
                    .collect()
            })
            .collect()
    }
}

/// A build-id as hex text (as profiles record it) to bytes.
fn parse_build_id(hex: &str) -> Option<core_reader::BuildId> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(core_reader::BuildId)
}

/// The in-memory heap profile of a process whose jemalloc ran with `prof:true`, as
/// `heap_v2` text with the process's mappings.
pub(super) fn core_profile(process: &core_reader::Process) -> anyhow::Result<String> {
    use heap_walkers::jemalloc;
    if heap_walkers::Allocator::detect(process) != heap_walkers::Allocator::Jemalloc {
        anyhow::bail!(
            "the process used {} malloc; only jemalloc (with prof:true) keeps a heap profile \
             in memory",
            heap_walkers::Allocator::detect(process).name()
        );
    }
    let profile = jemalloc::profile(process)?;
    Ok(profile.to_heap_v2(&jemalloc::HeapProfile::maps_of(process)))
}

/// Whether the file is an ELF core (as opposed to a profile), with the path in the error.
pub(super) fn is_core(path: &Path) -> anyhow::Result<bool> {
    core_reader::is_core_file(path).with_context(|| format!("cannot read {}", path.display()))
}
