//! The report's sections as plain data. Each section is filled by the code that owns its data
//! (the CLI wires them); a section with no data is left out of the page.

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Context worth knowing.
    Info,
    /// Something that may explain the memory use.
    Warning,
    /// The likely cause.
    Problem,
}

impl Severity {
    /// A CSS class and label.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Problem => "problem",
        }
    }
}

/// A sentence with numbers that names a likely cause and a next step (DESIGN.md, Findings).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// How much it matters; findings are listed most severe first.
    pub severity: Severity,
    /// What produced it: `heap`, `leaks`, `profile`, …
    pub source: String,
    /// The sentence.
    pub text: String,
}

/// One allocator arena (glibc: an arena or the main arena; jemalloc: `stats.arenas.<i>`), for
/// the heap section's table and fragmentation chart. Sizes in bytes; figures an allocator
/// does not have are None.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArenaRow {
    /// How the allocator names it: `main_arena`, `arena 3`.
    pub name: String,
    /// The arena's address in the process, where it has one.
    pub address: Option<u64>,
    /// Bytes the arena got from the system.
    pub system_bytes: u64,
    /// Chunks (jemalloc: regions and large extents) in use.
    pub in_use_chunks: u64,
    /// Bytes in use.
    pub in_use_bytes: u64,
    /// Free chunks held by the arena.
    pub free_chunks: u64,
    /// Free bytes held by the arena.
    pub free_bytes: u64,
    /// jemalloc: dirty pages (`pdirty`) in bytes.
    pub dirty_bytes: Option<u64>,
    /// jemalloc: muzzy pages (`pmuzzy`) in bytes.
    pub muzzy_bytes: Option<u64>,
    /// jemalloc: retained virtual memory in bytes.
    pub retained_bytes: Option<u64>,
    /// glibc: what `malloc_trim(0)` could give back.
    pub trimmable_bytes: Option<u64>,
    /// The largest free chunk.
    pub largest_free: Option<u64>,
}

/// One size class of the size-class histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeClassRow {
    /// The usable size of the class (or the low end of a bucket), in bytes.
    pub size: u64,
    /// Allocations of this class in use.
    pub in_use_count: u64,
    /// Bytes of this class in use.
    pub in_use_bytes: u64,
    /// Free chunks of this class held by the allocator.
    pub free_count: u64,
    /// Free bytes of this class.
    pub free_bytes: u64,
}

/// The allocator's state in one core, as the heap walkers rebuilt it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeapSection {
    /// The core it came from (as given on the command line).
    pub input: String,
    /// `glibc` or `jemalloc`.
    pub allocator: String,
    /// The allocator's version, when known.
    pub version: Option<String>,
    /// The arenas.
    pub arenas: Vec<ArenaRow>,
    /// The size-class histogram (may be empty).
    pub size_classes: Vec<SizeClassRow>,
    /// What the walk had to skip (`3 corrupt chunks skipped`), one line each.
    pub notes: Vec<String>,
    /// The allocator's own account of the whole heap, figure by figure and labelled as its
    /// own tool prints it (tcmalloc: the "MALLOC:" block of `MallocExtension::GetStats()`);
    /// empty where the arenas' figures are the allocator's account.
    pub own_account: Vec<OwnFigure>,
}

/// One figure of an allocator's own account, in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnFigure {
    /// The allocator's label (`Bytes in page heap freelist`).
    pub label: String,
    /// Bytes.
    pub bytes: u64,
}

/// The allocations in use of one type, a row of the types section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeCount {
    /// The C++ class, a container pattern's name, or `unknown (N bytes)` for unrecognized
    /// allocations of usable size N.
    pub name: String,
    /// How it was recognized: `vtable`, `pattern`, `unknown`.
    pub kind: String,
    /// Allocations.
    pub count: u64,
    /// Their usable bytes.
    pub bytes: u64,
    /// The lowest one's address.
    pub example: Option<u64>,
    /// For a `prof:true` jemalloc core, the functions of the call path most of the type's
    /// sampled allocations were made at, innermost first (the report links the first one the
    /// call graph has).
    pub site_functions: Vec<String>,
}

/// The allocations in use of one core by type, as `heap --by type` counts them: largest
/// first, unrecognized allocations grouped by usable size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypesSection {
    /// The core it came from.
    pub input: String,
    /// The largest rows (at most [`crate::MAX_TYPE_ROWS`]).
    pub rows: Vec<TypeCount>,
    /// How many types were recognized (rows that are not `unknown`, listed or not).
    pub recognized: u64,
    /// Bytes in use in all the rows, listed or not.
    pub total_bytes: u64,
    /// Rows left out after the first [`crate::MAX_TYPE_ROWS`].
    pub omitted_rows: u64,
    /// Allocations in the rows left out.
    pub omitted_count: u64,
    /// Their bytes.
    pub omitted_bytes: u64,
}

/// A group of leaked blocks of one size and kind of contents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeakGroup {
    /// Blocks in the group.
    pub count: u64,
    /// Usable size of each block.
    pub size: u64,
    /// Bytes in the group.
    pub bytes: u64,
    /// One block's address.
    pub example: Option<u64>,
    /// The object's type where known (a C++ vtable symbol, …).
    pub type_name: Option<String>,
    /// A preview of one block's first bytes (hex and printable text).
    pub contents: Option<String>,
    /// Where the blocks were allocated, when the allocator sampled them (jemalloc
    /// `prof:true`): the function that called the allocator, with its file and line.
    pub site: Option<String>,
    /// The whole call path of the site, innermost first, one frame an entry.
    pub call_path: Vec<String>,
    /// The functions of that call path, innermost first (the report links the first one the
    /// call graph has).
    pub site_functions: Vec<String>,
    /// How many blocks were sampled and what they stand for, when not every allocation was.
    pub sampling: Option<String>,
}

/// Memory no pointer reaches any more, from one core.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaksSection {
    /// The core it came from.
    pub input: String,
    /// Unreachable blocks no other unreachable block points to (valgrind's "definitely lost").
    pub direct_count: u64,
    /// Their bytes.
    pub direct_bytes: u64,
    /// Blocks reachable only from leaked blocks.
    pub indirect_count: u64,
    /// Their bytes.
    pub indirect_bytes: u64,
    /// The leaks grouped by size and contents, largest first.
    pub groups: Vec<LeakGroup>,
    /// Whether any group has a site (the table then has a column for it).
    pub has_sites: bool,
}

/// Two cores of one program compared (`heapmortem diff`), the first core given as the older.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffSection {
    /// The older core.
    pub old: String,
    /// The newer core.
    pub new: String,
    /// False when the cores are of different programs (the rows then compare unrelated
    /// heaps).
    pub same_program: bool,
    /// Every allocation held, as a sentence (`+1,200 allocations (+96.0 KiB): 300 → 1500`).
    pub totals: String,
    /// The changed groups, largest growth first.
    pub rows: Vec<DiffRow>,
    /// The arenas' holdings, NEW less OLD.
    pub arenas: Vec<DiffArenaRow>,
}

/// One changed group of allocations (a type, or a size).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffRow {
    /// The type's name or the size.
    pub key: String,
    /// Allocations added (negative: removed).
    pub count_delta: i64,
    /// The same, for people (`+1,200`).
    pub count_delta_text: String,
    /// Bytes added, for people (`+96.0 KiB`).
    pub bytes_delta_text: String,
    /// Allocations in the older core.
    pub old_count: u64,
    /// In the newer.
    pub new_count: u64,
    /// Its main holder, as a phrase with its count (`held through g_sessions (…) (+1,200)`).
    pub holder: Option<String>,
    /// An allocation of the group new in the newer core, for `heapmortem explain`.
    pub example: Option<u64>,
}

/// One arena's holdings, NEW less OLD, for people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffArenaRow {
    /// The arena's name.
    pub name: String,
    /// From the system.
    pub system: String,
    /// In use.
    pub in_use: String,
    /// Free.
    pub free: String,
    /// Free but trapped between allocations in use.
    pub fragmented: String,
    /// Dirty pages (jemalloc).
    pub dirty: Option<String>,
}

/// A module (executable or library) and the symbols and debug information found for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleRow {
    /// Which input it belongs to.
    pub input: String,
    /// The path the process saw.
    pub path: String,
    /// The build-id the input records, in hex.
    pub build_id: Option<String>,
    /// The file found on disk, if any.
    pub file: Option<String>,
    /// Whether the found file's build-id matches (None when one of them is unknown).
    pub file_matches: Option<bool>,
    /// The separate debug file found, if any.
    pub debug_file: Option<String>,
    /// A short verdict: `debug info`, `symbols only`, `not found`, `wrong build-id`, or for
    /// profiles how many addresses got a name (`412 of 420 addresses named`).
    pub status: String,
    /// Whether the status is a problem (shown highlighted).
    pub missing: bool,
}

/// One input file, for provenance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputFile {
    /// The path as given.
    pub path: String,
    /// `core`, `profile`, `base profile`.
    pub role: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the contents, in hex.
    pub sha256: String,
}

/// Where the report came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The input files.
    pub inputs: Vec<InputFile>,
    /// `heapmortem 0.1.0`.
    pub tool: String,
    /// When the report was made (RFC 3339, UTC).
    pub generated: String,
    /// The command line, if the caller gives it.
    pub command_line: Option<String>,
}
