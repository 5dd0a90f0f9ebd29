//! [`Symbolize`] over core-reader's symbolizer: the one way heapmortem turns a profile's
//! addresses into functions, files and lines.

use std::collections::HashMap;

use core_reader::{BuildId, MappedFile, Options, Placement, SearchPaths, Symbolizer};

use crate::symbolize::{ModuleRef, SymbolFrame, Symbolize};

/// The profile's modules, symbolized by core-reader's [`Symbolizer`]: files found under the
/// sysroot (the main program replaced by the executable given), debug files by build-id and
/// debuglink in the debug folders and /usr/lib/debug.
pub struct CoreSymbolizer {
    exe: Option<std::path::PathBuf>,
    search: SearchPaths,
    /// One symbolizer per mapping, kept for files merged from several profiles.
    cache: HashMap<(String, Placement), Symbolizer>,
}

impl CoreSymbolizer {
    /// A symbolizer that looks for files where `options` says (`--exe`, `--sysroot`,
    /// `--debug-dir`).
    pub fn new(options: &Options) -> Self {
        CoreSymbolizer {
            exe: options.exe.clone(),
            search: options.search(),
            cache: HashMap::new(),
        }
    }

    fn symbolizer(&mut self, module: &ModuleRef<'_>) -> Option<&Symbolizer> {
        let exe = self.exe.as_deref();
        let key = (module.path.to_string(), module.placement);
        if !self.cache.contains_key(&key) {
            let unrelocated = module.placement == Placement::Unrelocated;
            // jeprof's rule: an address in no recorded mapping belongs to the main program at
            // its link-time addresses. Only with --exe is there one to ask.
            if unrelocated && exe.is_none() {
                return None;
            }
            let exe_path = exe.map(|e| e.to_string_lossy());
            let path = match (&exe_path, unrelocated) {
                (Some(p), true) => p.as_ref(),
                _ => module.path,
            };
            let m = Symbolizer::module_for_mapping(
                &MappedFile {
                    path,
                    placement: module.placement,
                    build_id: module.build_id.and_then(parse_build_id),
                    is_main: module.is_main || unrelocated,
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

impl Symbolize for CoreSymbolizer {
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
fn parse_build_id(hex: &str) -> Option<BuildId> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(BuildId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_in_hex() {
        assert_eq!(parse_build_id(" 0aff "), Some(BuildId(vec![0x0a, 0xff])));
        assert_eq!(parse_build_id("abc"), None);
        assert_eq!(parse_build_id(""), None);
        assert_eq!(parse_build_id("zz"), None);
    }
}
