//! A view of a profile: one value, the allocator's own frames dropped, `--focus`/`--ignore`
//! applied — and the per-function table jeprof prints from it.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

use rayon::prelude::*;
use regex::Regex;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::model::{Profile, ValueKind, Values};

/// The functions whose frames, with everything leafward of them, are dropped from the top of
/// each stack: jeprof 5.3.0's list for heap profiles (`RemoveUninterestingFrames`), each also
/// with the `_` prefix macOS adds, plus names matching [`ALLOCATOR_PATTERN`].
pub const ALLOCATOR_FUNCTIONS: &[&str] = &[
    "calloc",
    "cfree",
    "malloc",
    "newImpl",
    "void* newImpl",
    "free",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "pvalloc",
    "valloc",
    "realloc",
    "mallocx",
    "rallocx",
    "xallocx",
    "dallocx",
    "sdallocx",
    "sdallocx_noflags",
    "tc_calloc",
    "tc_cfree",
    "tc_malloc",
    "tc_free",
    "tc_memalign",
    "tc_posix_memalign",
    "tc_pvalloc",
    "tc_valloc",
    "tc_realloc",
    "tc_new",
    "tc_delete",
    "tc_newarray",
    "tc_deletearray",
    "tc_new_nothrow",
    "tc_newarray_nothrow",
    "do_malloc",
    "::do_malloc",
    "::do_malloc_or_cpp_alloc",
    "DoSampledAllocation",
    "simple_alloc::allocate",
    "__malloc_alloc_template::allocate",
    "__builtin_delete",
    "__builtin_new",
    "__builtin_vec_delete",
    "__builtin_vec_new",
    "operator new",
    "operator new[]",
    "malloc_zone_malloc",
    "malloc_zone_calloc",
    "malloc_zone_valloc",
    "malloc_zone_realloc",
    "malloc_zone_memalign",
    "malloc_zone_free",
    "__start_google_malloc",
    "__stop_google_malloc",
    "__start_malloc_hook",
    "__stop_malloc_hook",
];

/// Names matching this are allocator frames too: jeprof's `TCMalloc|^tcmalloc::`, and (beyond
/// jeprof, for jemalloc entry points jeprof's list lacks) jemalloc's own `prof_backtrace*` and
/// `imalloc*`, which only ever sit leafward of an allocation call, and every function of a
/// jemalloc linked in statically, whose internal names carry the build's prefix (`je_` in
/// Debian's libjemalloc.a, `_rjem_je_` in tikv-jemalloc-sys, `__je_` in FreeBSD's libc:
/// `je_prof_backtrace`, `je_malloc_default`, `je_prof_tctx_create`). jeprof keeps those, so
/// for a program with jemalloc linked in it blames jemalloc for every allocation.
///
/// Rust programs allocate through the global allocator's shims and the allocator crate:
/// `__rust_alloc`, `__rdl_alloc`/`__rg_alloc`, `alloc::alloc::*` (`Global::allocate`), and
/// tikv-jemallocator's `Jemalloc::alloc` over `_rjem_malloc`; those are allocator frames too.
pub const ALLOCATOR_PATTERN: &str = r"TCMalloc|^tcmalloc::|^prof_backtrace|^imalloc|^(_rjem_je_|__je_|je_)[a-z_]|^_rjem_|^(__rustc::)?__rust_(alloc|alloc_zeroed|realloc)$|^(__rustc::)?__r[dg]_(alloc|alloc_zeroed|realloc)$|^alloc::alloc::|^(tikv_)?jemallocator::Jemalloc::";

/// Libraries that are allocators, by file name: frames in them at the top of a stack are
/// dropped whatever their names. Beyond jeprof, which needs a name: Debian's libjemalloc.so.2 is
/// stripped, and its `malloc` tail-calls an internal function, so no frame of a plain
/// `malloc()` call is named `malloc` by a symbolizer that only trusts symbol sizes. (jeprof
/// still drops those frames, by accident: it names every address below `malloc`'s end
/// `malloc`.)
pub const ALLOCATOR_LIBRARIES: &str = r"^lib(jemalloc|tcmalloc[a-z_]*|mimalloc)\b";

/// The rule, for `--help`.
pub const ALLOCATOR_FRAMES_HELP: &str = "Allocator frames: each stack is read from its leaf \
(the allocation) towards main; at every frame whose function is an allocator entry point \
(malloc, calloc, realloc, free, memalign, posix_memalign, aligned_alloc, valloc, pvalloc, \
mallocx, rallocx, xallocx, dallocx, sdallocx, operator new, operator new[], tc_* and \
malloc_zone_* functions, do_malloc, newImpl, …, any name matching TCMalloc or ^tcmalloc::, \
and jemalloc's prof_backtrace*, imalloc* and, for a jemalloc linked in statically, its \
je_*/_rjem_je_*/__je_* internals), that frame and all frames before it are \
dropped — jeprof's RemoveUninterestingFrames. Frames at the top of a stack that lie in an \
allocator library (libjemalloc*, libtcmalloc*, libmimalloc*) are dropped too, named or not.";

/// What to show.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// The value shown.
    pub value: ValueKind,
    /// Keep only stacks with a frame matching this (function name, `file:line`, or the address
    /// as 16 hex digits, as jeprof matches `--focus`).
    pub focus: Option<Regex>,
    /// Drop stacks with a frame matching this (matched like `focus`).
    pub ignore: Option<Regex>,
}

impl ViewOptions {
    /// Options with `focus` and `ignore` given as regular expressions (Rust `regex` syntax,
    /// which for jeprof's usual patterns — alternations, anchors, classes — is Perl's).
    pub fn new(
        value: ValueKind,
        focus: Option<&str>,
        ignore: Option<&str>,
    ) -> Result<ViewOptions, crate::Error> {
        let compile = |p: Option<&str>| -> Result<Option<Regex>, crate::Error> {
            p.map(|p| {
                Regex::new(p).map_err(|e| crate::Error::BadPattern {
                    pattern: p.to_string(),
                    // The regex crate draws the error over several lines; its last says what.
                    message: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                })
            })
            .transpose()
        };
        Ok(ViewOptions {
            value,
            focus: compile(focus)?,
            ignore: compile(ignore)?,
        })
    }
}

/// One stack of the view.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Indices into the profile's locations, leaf first, allocator frames removed.
    pub locations: Vec<u32>,
    /// The four values (identical stacks summed).
    pub values: Values,
}

/// A profile seen through [`ViewOptions`].
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// The profile.
    pub profile: &'a Profile,
    /// The value shown.
    pub value: ValueKind,
    /// Totals over every sample, before frames were dropped and stacks filtered: jeprof's
    /// `Total:` line.
    pub totals: Values,
    /// The stacks after frames were dropped and `--focus`/`--ignore` applied, identical stacks
    /// merged, in first-seen order.
    pub stacks: Vec<Stack>,
}

/// How inlined frames are named in the function table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineNames {
    /// As jeprof's text: an inlined function is its own row, `name (inline)`.
    Jeprof,
    /// As pprof: an inlined function counts as the function itself.
    Plain,
}

/// One row of the function table.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRow {
    /// The function (or `0x…` address where there is no symbol).
    pub name: String,
    /// The value of stacks whose leaf is this function.
    pub flat: f64,
    /// The value of stacks this function is on (once per stack, recursion or not).
    pub cum: f64,
}

/// The function table: rows sorted as jeprof sorts them (flat descending, then name).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTable {
    /// The rows.
    pub rows: Vec<FunctionRow>,
    /// The sum of the flat column: what the percentages are of. It leaves out stacks that were
    /// all allocator frames (or empty), and, with `--focus`/`--ignore`, the stacks filtered out.
    pub total: f64,
}

impl<'a> View<'a> {
    /// Builds the view.
    pub fn new(profile: &'a Profile, options: &ViewOptions) -> View<'a> {
        let mut totals = [0.0; 4];
        for s in &profile.samples {
            for (t, v) in totals.iter_mut().zip(s.values) {
                *t += v;
            }
        }
        // A trace is shown as the tracer recorded it ([`crate::Format::is_trace`]).
        let allocator_frames = (!profile.is_trace()).then(|| AllocatorFrames::new(profile));
        let matches = |re: &Regex, loc: u32| -> bool {
            let loc = &profile.locations[loc as usize];
            re.is_match(&format!("{:016x}", loc.address))
                || loc.lines.iter().any(|line| {
                    let f = &profile.functions[line.function as usize];
                    re.is_match(&f.name) || re.is_match(&format!("{}:{}", f.filename, line.line))
                })
        };
        // Each sample's frames, less the allocator's, or none where the filters drop it; with
        // their hash. Computed on rayon's threads: a 250k-stack profile has millions of frames.
        let paths: Vec<Option<Path>> = profile
            .samples
            .par_iter()
            .with_min_len(SAMPLES_PER_TASK)
            .map(|s| {
                let first = allocator_frames
                    .as_ref()
                    .map_or(0, |a| a.first_kept(&s.locations));
                let path = &s.locations[first..];
                if let Some(re) = &options.focus {
                    if !path.iter().any(|&l| matches(re, l)) {
                        return None;
                    }
                }
                if let Some(re) = &options.ignore {
                    if path.iter().any(|&l| matches(re, l)) {
                        return None;
                    }
                }
                Some(Path::new(path))
            })
            .collect();
        // Identical paths are merged into the first: each sample's first alike, found by
        // groups of hashes on rayon's threads (identical paths are in one group), for the
        // samples that have one.
        let groups = if paths.len() < SAMPLES_PER_TASK {
            1
        } else {
            rayon::current_num_threads().max(1) as u64
        };
        let alike: Vec<Vec<(u32, u32)>> = (0..groups)
            .into_par_iter()
            .map(|group| {
                let mut first: FxHashMap<Path, u32> = FxHashMap::default();
                let mut alike = Vec::new();
                for (i, path) in paths.iter().enumerate() {
                    let Some(path) = path.filter(|p| p.hash % groups == group) else {
                        continue;
                    };
                    let f = *first.entry(path).or_insert(i as u32);
                    if f != i as u32 {
                        alike.push((i as u32, f));
                    }
                }
                alike
            })
            .collect();
        let mut first_alike: Vec<u32> = (0..paths.len() as u32).collect();
        for (i, f) in alike.into_iter().flatten() {
            first_alike[i as usize] = f;
        }
        // The stacks in first-seen order, each the sum of its samples' values in sample order.
        let mut stacks: Vec<Stack> = paths
            .par_iter()
            .with_min_len(SAMPLES_PER_TASK)
            .zip(&profile.samples)
            .enumerate()
            .filter(|&(i, (path, _))| path.is_some() && first_alike[i] == i as u32)
            .map(|(_, (path, s))| Stack {
                locations: path.map_or_else(Vec::new, |p| p.frames.to_vec()),
                values: s.values,
            })
            .collect();
        let mut stack_of = vec![u32::MAX; paths.len()];
        let mut next = 0;
        for (i, (path, s)) in paths.iter().zip(&profile.samples).enumerate() {
            if path.is_none() {
                continue;
            }
            let f = first_alike[i] as usize;
            if f == i {
                stack_of[i] = next;
                next += 1;
            } else if let Some(stack) = stacks.get_mut(stack_of[f] as usize) {
                for (t, v) in stack.values.iter_mut().zip(s.values) {
                    *t += v;
                }
            }
        }
        View {
            profile,
            value: options.value,
            totals,
            stacks,
        }
    }

    /// The name of the shown value: the event a trace counted, or the sample type's name.
    pub fn value_name(&self) -> &str {
        self.profile.value_name(self.value)
    }

    /// The unit of the shown value in tables: `B`, `objects`, or a trace's event.
    pub fn unit_name(&self) -> &str {
        if self.value.is_space() {
            "B"
        } else if self.profile.event.is_some() {
            self.value_name()
        } else {
            "objects"
        }
    }

    /// The total of the shown value over every sample (jeprof's `Total:`).
    pub fn total(&self) -> f64 {
        self.totals[self.value.index()]
    }

    /// The names of the frames at a location, innermost first: one per line (inlined ones
    /// marked ` (inline)` in [`InlineNames::Jeprof`] style), or the address as `0x` and 16 hex
    /// digits where there is no symbol. Addresses above 0x7fffffffffffffff have no name:
    /// jeprof's `TranslateStack` skips them as fake entries.
    pub fn frame_names(&self, loc: u32, style: InlineNames) -> Vec<String> {
        let loc = &self.profile.locations[loc as usize];
        if loc.address > 0x7fff_ffff_ffff_ffff {
            return Vec::new();
        }
        if loc.lines.is_empty() {
            return vec![format!("0x{:016x}", loc.address)];
        }
        let last = loc.lines.len() - 1;
        loc.lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let name = &self.profile.functions[line.function as usize].name;
                if i < last && style == InlineNames::Jeprof {
                    format!("{name} (inline)")
                } else {
                    name.clone()
                }
            })
            .collect()
    }

    /// Every location's frame names as ids into one name table, computed once per report:
    /// a 250k-stack profile has millions of frames but only thousands of distinct names.
    pub fn names(&self, style: InlineNames) -> Names {
        let mut names = Names {
            names: Vec::new(),
            of_location: Vec::with_capacity(self.profile.locations.len()),
        };
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        for loc in 0..self.profile.locations.len() as u32 {
            let frame_ids = self
                .frame_names(loc, style)
                .into_iter()
                .map(|n| {
                    *ids.entry(n).or_insert_with_key(|n| {
                        names.names.push(n.clone());
                        (names.names.len() - 1) as u32
                    })
                })
                .collect();
            names.of_location.push(frame_ids);
        }
        names
    }

    /// The function table for the shown value. Each stack is reduced to function names, leaf
    /// first, each function once (the first time it appears, so recursion does not count
    /// twice): jeprof's `ReduceProfile`. The leaf gets the flat value, every name the cum.
    pub fn functions(&self, style: InlineNames) -> FunctionTable {
        self.functions_named(&self.names(style))
    }

    /// [`View::functions`] from names already computed by [`View::names`].
    pub fn functions_named(&self, names: &Names) -> FunctionTable {
        let k = self.value.index();
        let mut flat = vec![0.0f64; names.names.len()];
        let mut cum = vec![0.0f64; names.names.len()];
        let mut seen = vec![usize::MAX; names.names.len()];
        let mut total = 0.0;
        for (i, s) in self.stacks.iter().enumerate() {
            let v = s.values[k];
            let mut leaf = true;
            for &loc in &s.locations {
                for &id in &names.of_location[loc as usize] {
                    if seen[id as usize] == i {
                        continue;
                    }
                    seen[id as usize] = i;
                    if leaf {
                        flat[id as usize] += v;
                        total += v;
                        leaf = false;
                    }
                    cum[id as usize] += v;
                }
            }
        }
        let mut rows: Vec<FunctionRow> = names
            .names
            .iter()
            .enumerate()
            .filter(|&(i, _)| seen[i] != usize::MAX)
            .map(|(i, name)| FunctionRow {
                name: name.clone(),
                flat: flat[i],
                cum: cum[i],
            })
            .collect();
        rows.sort_by(|a, b| descending(a.flat, b.flat).then_with(|| a.name.cmp(&b.name)));
        FunctionTable { rows, total }
    }
}

/// Larger values first, NaN after every number: a total order, which `sort_by` requires (it
/// panics on an inconsistent one; cargo fuzz found a Java profile whose NaN flat did that).
/// Un-sampling no longer makes NaN (sampling.rs), but hostile values still can: `inf - inf`
/// once huge values are merged and subtracted. Unlike `f64::total_cmp`, -0.0 and
/// 0.0 stay equal (a `--base` subtraction makes -0.0), so such rows are ordered by name as
/// jeprof orders them.
fn descending(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
    }
}

/// A view's stack before identical ones are merged: a sample's frames, with their hash
/// computed once, so that the merge's tables hash a word.
#[derive(Clone, Copy)]
struct Path<'a> {
    hash: u64,
    frames: &'a [u32],
}

impl<'a> Path<'a> {
    fn new(frames: &'a [u32]) -> Path<'a> {
        Path {
            hash: FxBuildHasher.hash_one(frames),
            frames,
        }
    }
}

impl PartialEq for Path<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.frames == other.frames
    }
}

impl Eq for Path<'_> {}

impl Hash for Path<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Frame names as ids (see [`View::names`]).
#[derive(Debug, Clone)]
pub struct Names {
    /// The distinct names.
    pub names: Vec<String>,
    /// Per location, its frames' name ids, innermost first.
    pub of_location: Vec<Vec<u32>>,
}

/// The allocator-frame rule ([`ALLOCATOR_FRAMES_HELP`]) over one profile's locations.
pub(crate) struct AllocatorFrames {
    /// Per location: in an allocator library.
    in_allocator: Vec<bool>,
    /// Per location: its function is an allocator entry point.
    dropped: Vec<bool>,
}

/// Samples a piece of work on rayon's threads takes at least: a small profile is viewed on
/// the calling thread (handing a few samples to other threads costs more than it saves).
const SAMPLES_PER_TASK: usize = 4096;

/// The allocator-frame rule's patterns, compiled once: a view is made per value shown (and
/// a report makes several), and compiling them cost more than viewing a small profile.
static ALLOCATOR: LazyLock<Allocator> = LazyLock::new(Allocator::new);
static ALLOCATOR_LIBRARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(ALLOCATOR_LIBRARIES).expect("valid regex"));

impl AllocatorFrames {
    pub(crate) fn new(profile: &Profile) -> AllocatorFrames {
        let (allocator, allocator_library) = (&*ALLOCATOR, &*ALLOCATOR_LIBRARY);
        let in_allocator = profile
            .locations
            .iter()
            .map(|loc| {
                loc.mapping.is_some_and(|m| {
                    let path = &profile.mappings[m as usize].path;
                    allocator_library.is_match(path.rsplit('/').next().unwrap_or(path))
                })
            })
            .collect();
        let dropped = profile
            .locations
            .iter()
            .map(|loc| {
                // The function the address is in (not what was inlined into it: a Rust
                // function that inlined `Box::new` is still the caller, not the allocator).
                loc.lines.last().is_some_and(|line| {
                    allocator.matches(&profile.functions[line.function as usize].name)
                })
            })
            .collect();
        AllocatorFrames {
            in_allocator,
            dropped,
        }
    }

    /// Where the program's own frames start in a stack of locations (leaf first): past the
    /// leading frames in an allocator library, and past the last allocator entry point.
    pub(crate) fn first_kept(&self, locations: &[u32]) -> usize {
        let leading = locations
            .iter()
            .take_while(|&&l| self.in_allocator[l as usize])
            .count();
        locations
            .iter()
            .rposition(|&l| self.dropped[l as usize])
            .map_or(leading, |last| leading.max(last + 1))
    }
}

struct Allocator {
    names: HashSet<String>,
    pattern: Regex,
}

impl Allocator {
    fn new() -> Allocator {
        let mut names = HashSet::new();
        for n in ALLOCATOR_FUNCTIONS {
            names.insert(n.to_string());
            names.insert(format!("_{n}"));
        }
        Allocator {
            names,
            pattern: Regex::new(ALLOCATOR_PATTERN).expect("valid regex"),
        }
    }

    fn matches(&self, name: &str) -> bool {
        self.names.contains(name) || self.pattern.is_match(name)
    }
}
