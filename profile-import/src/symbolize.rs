//! Symbolization: from addresses to functions, through a symbolizer this crate does not own.
//!
//! This crate finds, for each address, the mapping that holds it and so the module file and
//! where it was loaded ([`ModuleRef`]); turning that into functions, files and lines is the job
//! of the project's one symbolizer (core-reader's, DWARF and symbol tables), plugged in
//! through the [`Symbolize`] trait. Names are then shortened like jeprof's
//! `ShortFunctionName` ([`short_function_name`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use core_reader::Placement;
use regex::Regex;

use crate::model::{Function, FunctionTable, Line, Profile};

/// A module to look addresses up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleRef<'a> {
    /// The path the process saw (empty when unmapped); the symbolizer resolves it against a
    /// sysroot or replaces it with `--exe` for the main program.
    pub path: &'a str,
    /// Whether this is the main executable.
    pub is_main: bool,
    /// The GNU build-id in hex, when the profile recorded it.
    pub build_id: Option<&'a str>,
    /// Where it was loaded: [`Placement::Mapped`] as the profile's memory map recorded it
    /// (the load bias follows from the file's program headers: the segment that holds the
    /// file offset), or [`Placement::Unrelocated`] for an address in no recorded mapping —
    /// jeprof then looks it up in the main program at its link-time addresses, and a
    /// symbolizer may do the same with the executable it was given (`--exe`).
    pub placement: Placement,
}

/// One frame at an address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SymbolFrame {
    /// The function, demangled, with its arguments as the symbolizer gives them (`??` or empty
    /// when unknown).
    pub function: String,
    /// Source file, if known.
    pub file: Option<String>,
    /// Source line, if known.
    pub line: Option<u32>,
}

/// Resolves addresses in one module to frames. Implemented over core-reader's symbolizer by
/// [`crate::CoreSymbolizer`]; tests may implement it over a table.
pub trait Symbolize {
    /// For each address (a lookup address: already inside the call instruction for callers),
    /// its frames innermost (most deeply inlined) first and the function that holds the code
    /// last; an empty list when nothing is known.
    fn symbolize(&mut self, module: &ModuleRef<'_>, addresses: &[u64]) -> Vec<Vec<SymbolFrame>>;
}

/// What symbolization achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolizeStats {
    /// Locations that needed symbols.
    pub addresses: usize,
    /// Of those, the ones that got a function name.
    pub resolved: usize,
}

/// Symbolizes every location that has no lines yet (pprof files may come symbolized), one
/// call per module.
pub fn symbolize(profile: &mut Profile, symbolizer: &mut dyn Symbolize) -> SymbolizeStats {
    let mut by_module: BTreeMap<Option<u32>, Vec<u32>> = BTreeMap::new();
    for (i, loc) in profile.locations.iter().enumerate() {
        if loc.lines.is_empty() {
            by_module.entry(loc.mapping).or_default().push(i as u32);
        }
    }
    let mut stats = SymbolizeStats::default();
    let mut functions = FunctionTable::of(profile);
    for (mapping, locs) in by_module {
        let addresses: Vec<u64> = locs
            .iter()
            .map(|&l| profile.locations[l as usize].address)
            .collect();
        stats.addresses += addresses.len();
        let results = {
            let module = match mapping.map(|m| &profile.mappings[m as usize]) {
                Some(m) => ModuleRef {
                    path: &m.path,
                    is_main: m.is_main,
                    build_id: m.build_id.as_deref(),
                    placement: Placement::Mapped {
                        start: core_reader::ProcessAddr(m.start),
                        end: core_reader::ProcessAddr(m.end),
                        file_offset: core_reader::FileOffset(m.offset),
                    },
                },
                None => ModuleRef {
                    path: "",
                    is_main: true,
                    build_id: None,
                    placement: Placement::Unrelocated,
                },
            };
            symbolizer.symbolize(&module, &addresses)
        };
        for (&loc, frames) in locs.iter().zip(results) {
            let mut lines = Vec::with_capacity(frames.len());
            for f in frames {
                if f.function.is_empty() || f.function == "??" {
                    continue;
                }
                let function = functions.intern(
                    profile,
                    Function {
                        name: short_function_name(&f.function),
                        system_name: f.function,
                        filename: f.file.unwrap_or_default(),
                    },
                );
                lines.push(Line {
                    function,
                    line: f.line.unwrap_or(0),
                });
            }
            if !lines.is_empty() {
                stats.resolved += 1;
            }
            profile.locations[loc as usize].lines = lines;
        }
    }
    stats
}

/// Shortens a demangled name the way jeprof 5.3.0's `ShortFunctionName` does: argument lists
/// (with a trailing `const`) and template arguments are removed, innermost first, until none
/// is left, then a leading return type before a `name::` is dropped.
/// `void std::vector<int>::push_back(int const&)` becomes `std::vector::push_back`.
pub fn short_function_name(full: &str) -> String {
    static ARGS: OnceLock<Regex> = OnceLock::new();
    static TEMPLATE: OnceLock<Regex> = OnceLock::new();
    static LEADING: OnceLock<Regex> = OnceLock::new();
    let args = ARGS.get_or_init(|| Regex::new(r"\([^()]*\)(\s*const)?").expect("valid regex"));
    let template = TEMPLATE.get_or_init(|| Regex::new(r"<[^<>]*>").expect("valid regex"));
    let leading = LEADING.get_or_init(|| Regex::new(r"^.*\s+(\w+::)").expect("valid regex"));
    let mut name = rust_impl_path(full);
    // Each pass removes the innermost level; names nest only as deep as they are long.
    while args.is_match(&name) {
        name = args.replace_all(&name, "").into_owned();
    }
    while template.is_match(&name) {
        name = template.replace_all(&name, "").into_owned();
    }
    leading.replace(&name, "$1").into_owned()
}

/// Rust names a trait method `<Type as Trait>::method` (and an inherent one on a generic
/// type `<Type>::method`); removing every `<…>` as jeprof does would leave `::method`.
/// Keep the type: `<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc`
/// becomes `tikv_jemallocator::Jemalloc::alloc`, as pprof shows it.
fn rust_impl_path(full: &str) -> String {
    let Some(rest) = full.strip_prefix('<') else {
        return full.to_string();
    };
    let mut depth = 0usize;
    let mut as_at = None;
    for (i, c) in rest.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => {
                let inner = &rest[..as_at.unwrap_or(i)];
                return format!("{inner}{}", &rest[i + 1..]);
            }
            '>' => depth -= 1,
            ' ' if depth == 0 && as_at.is_none() && rest[i..].starts_with(" as ") => {
                as_at = Some(i);
            }
            _ => {}
        }
    }
    full.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_bytes;

    #[test]
    fn rust_trait_methods_keep_their_type() {
        assert_eq!(
            short_function_name(
                "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc"
            ),
            "tikv_jemallocator::Jemalloc::alloc"
        );
        assert_eq!(
            short_function_name("<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop"),
            "alloc::vec::Vec::drop"
        );
        assert_eq!(short_function_name("<[T]>::to_vec"), "[T]::to_vec");
        assert_eq!(
            short_function_name("alloc::raw_vec::finish_grow"),
            "alloc::raw_vec::finish_grow"
        );
    }

    #[test]
    fn short_names_like_jeprof() {
        assert_eq!(
            short_function_name(
                "void std::vector<int, std::allocator<int> >::push_back(int const&)"
            ),
            "std::vector::push_back"
        );
        assert_eq!(
            short_function_name("operator new(unsigned long)"),
            "operator new"
        );
        assert_eq!(
            short_function_name("operator new[](unsigned long)"),
            "operator new[]"
        );
        assert_eq!(short_function_name("Foo::bar(int) const"), "Foo::bar");
        assert_eq!(short_function_name("main"), "main");
    }

    struct Table;
    impl Symbolize for Table {
        fn symbolize(
            &mut self,
            module: &ModuleRef<'_>,
            addresses: &[u64],
        ) -> Vec<Vec<SymbolFrame>> {
            addresses
                .iter()
                .map(|&a| {
                    if a == 0x1f {
                        // An inlined frame inside its caller.
                        vec![
                            SymbolFrame {
                                function: "inlined(int)".into(),
                                file: Some("a.c".into()),
                                line: Some(3),
                            },
                            SymbolFrame {
                                function: format!("{}:{a:x}", module.path),
                                ..Default::default()
                            },
                        ]
                    } else if a == 0x2f {
                        vec![]
                    } else {
                        vec![SymbolFrame {
                            function: format!("{}:{a:x}", module.path),
                            ..Default::default()
                        }]
                    }
                })
                .collect()
        }
    }

    #[test]
    fn symbolizes_per_module_and_keeps_inlined_frames() {
        let text = "heap_v2/1\n@ 0x10 0x20 0x30 0x5000\n t*: 1: 8 [0: 0]\nMAPPED_LIBRARIES:\n\
                    00000000-00001000 r-xp 00000000 00:00 1 /bin/prog\n";
        let mut p = read_bytes(text.as_bytes()).unwrap().profile;
        let stats = symbolize(&mut p, &mut Table);
        assert_eq!(
            stats,
            SymbolizeStats {
                addresses: 4,
                resolved: 3
            }
        );
        let names = |l: usize| -> Vec<&str> {
            p.locations[l]
                .lines
                .iter()
                .map(|line| p.functions[line.function as usize].name.as_str())
                .collect()
        };
        assert_eq!(names(0), ["/bin/prog:10"]);
        assert_eq!(names(1), ["inlined", "/bin/prog:1f"]);
        assert!(names(2).is_empty());
        assert_eq!(names(3), [":4fff"]);
    }
}
