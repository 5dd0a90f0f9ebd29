//! The command line, parsed into plain structs (no I/O here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Post-mortem analysis of native memory: ELF core dumps (Linux, FreeBSD) and heap profiles
/// (jemalloc/jeprof, gperftools, pprof).
#[derive(Debug, Parser)]
#[command(name = "heapmortem", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 success; 1 the input could be read only in part \
(truncated core, missing segment, corrupted heap: the output says what was skipped); \
2 bad usage or unreadable input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What the core is: OS, arch, pid, command, signal, threads, mappings with build-ids,
    /// the allocator, and whether the file is complete.
    Info(InfoArgs),
    /// Every thread's backtrace, the crashing thread first (like gdb's `thread apply all bt`).
    Threads(ThreadsArgs),
    /// The allocator's state rebuilt from a core: arenas, bins, free and dirty memory.
    #[command(
        after_help = "glibc malloc: every arena, heap and chunk; bins, fastbins, each \
thread's tcache, mmapped chunks; free memory trapped below chunks in use and what \
malloc_trim(0) could return. Found with libc's debug info, with built-in layouts for \
glibc 2.26-2.40 from the libc file alone, or from the core alone. --format malloc-info \
prints what malloc_info() would have printed.

jemalloc (5.1, 5.2, 5.3; static, shared, stripped): per arena active, dirty, muzzy and \
retained pages, decay settings and counters, bins, large extents, thread caches. \
--format jemalloc-json prints what malloc_stats_print(\"J\") would have printed.

Findings name the likely cause and the next step: fragmentation that is not a leak, dirty \
pages an arena never purges, threads whose decay never starts (jemalloc < 5.3), retained \
address space, oversized thread caches, a damaged heap."
    )]
    Heap(HeapArgs),
    /// Allocations no pointer reaches any more (valgrind's "definitely lost"), from a core.
    #[command(
        after_help = "Roots are the threads' registers and stacks and every writable \
mapping outside the heap. A block no root reaches is definitely lost when no other lost \
block points at it, indirectly lost when one does; a block reached only through a pointer \
into its middle is possibly lost: valgrind memcheck's categories. Sizes are usable sizes \
(the allocator does not record the size asked for). Groups name the type of their blocks \
(C++ classes by vtable). glibc and jemalloc (5.3) heaps."
    )]
    Leaks(LeaksArgs),
    /// What the allocation at an address is, who points into it, and what keeps it alive.
    #[command(
        after_help = "ADDRESS may point anywhere inside the allocation (hex, with or without \
0x). The answer gives the allocation's start, size, state and type (a C++ class named by its \
vtable), every allocation holding a pointer into it, and one shortest chain of pointers from a \
root: a register, a thread's stack frame, a global (module!symbol+offset), thread-local \
storage. No chain means nothing the program can still reach holds it: leaked. An address in \
no allocation, in a freed one, or not in the core gets a one-line answer and exit status 1."
    )]
    Explain(ExplainArgs),
    /// Read heap profiles (jeprof .heap, gperftools, pprof) and show where memory was allocated.
    Profile(ProfileArgs),
    /// One self-contained HTML report of cores and profiles.
    Report(ReportArgs),
}

/// Flags every subcommand that reads a core or profile accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct Common {
    /// The main executable, where it is not at the path the input records.
    #[arg(long, value_name = "PATH", global = true)]
    pub exe: Option<PathBuf>,
    /// Prefix for library paths recorded in the input (a copy of the host's /); with it the
    /// default debug folder is DIR/usr/lib/debug.
    #[arg(long, value_name = "DIR", global = true)]
    pub sysroot: Option<PathBuf>,
    /// A folder searched for debug files by build-id (DIR/.build-id/ab/cdef….debug) and by
    /// .gnu_debuglink name. Repeatable; the default folder (/usr/lib/debug, or
    /// SYSROOT/usr/lib/debug with --sysroot) is always searched too.
    #[arg(long = "debug-dir", value_name = "DIR", global = true)]
    pub debug_dirs: Vec<PathBuf>,
}

/// What a core command reads: a core file, or a live process.
#[derive(Debug, Args)]
pub struct CoreInput {
    /// The core file (also compressed with zstd, xz, lz4 or gzip).
    #[arg(required_unless_present = "pid")]
    pub core: Option<PathBuf>,
    /// Read the live process PID instead of a core: its threads are stopped while what a
    /// core would hold is copied, then resumed; the pause is printed on stderr.
    #[arg(long, value_name = "PID", conflicts_with = "core")]
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub input: CoreInput,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct ThreadsArgs {
    #[command(flatten)]
    pub input: CoreInput,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeapFormat {
    Text,
    Json,
    MallocInfo,
    JemallocJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListKind {
    Used,
    Free,
    All,
}

#[derive(Debug, Args)]
pub struct HeapArgs {
    #[command(flatten)]
    pub input: CoreInput,
    #[command(flatten)]
    pub common: Common,
    /// List allocations too: in use, free, or both.
    #[arg(long, value_enum)]
    pub list: Option<ListKind>,
    /// Group the allocations in use: by arena (the default view), by type (C++ classes
    /// named by their vtables, the rest by size), or by size.
    #[arg(long, value_enum)]
    pub by: Option<GroupBy>,
    /// Output format: text, json, malloc-info (glibc's malloc_info XML) or jemalloc-json
    /// (malloc_stats_print's "J" output).
    #[arg(long, value_enum, default_value_t = HeapFormat::Text)]
    pub format: HeapFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Arena,
    Type,
    Size,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The core file.
    pub core: PathBuf,
    /// An address inside the allocation to explain (hex).
    #[arg(value_parser = parse_address)]
    pub address: u64,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// `0x7f00…` or `7f00…`.
fn parse_address(s: &str) -> Result<u64, String> {
    let digits = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    u64::from_str_radix(digits, 16).map_err(|_| format!("{s:?} is not a hex address"))
}

#[derive(Debug, Args)]
pub struct LeaksArgs {
    #[command(flatten)]
    pub input: CoreInput,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// The contract spells these `inuse_space`, … (pprof's sample type names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum SampleIndex {
    InuseSpace,
    InuseObjects,
    AllocSpace,
    AllocObjects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileFormat {
    Text,
    Json,
    Pprof,
    Folded,
    Dot,
    Svg,
}

#[derive(Debug, Args)]
#[command(after_help = profile_import::ALLOCATOR_FRAMES_HELP)]
pub struct ProfileArgs {
    /// Heap profiles (jeprof .heap, gperftools heap, pprof profile.proto, gzipped or not);
    /// several are merged.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Subtract this earlier profile (jeprof --base).
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// Which value to show.
    #[arg(long, value_enum, default_value_t = SampleIndex::InuseSpace)]
    pub sample_index: SampleIndex,
    /// Keep only stacks with a function matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub focus: Option<String>,
    /// Drop stacks with a function matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub ignore: Option<String>,
    /// Show at most this many functions.
    #[arg(long, value_name = "N")]
    pub nodecount: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ProfileFormat::Text)]
    pub format: ProfileFormat,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Cores and heap profiles to put in the report.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// An earlier profile to subtract.
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// Which value the profile section shows.
    #[arg(long, value_enum, default_value_t = SampleIndex::InuseSpace)]
    pub sample_index: SampleIndex,
    /// The HTML file to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "REPORT.html",
        required = true
    )]
    pub output: PathBuf,
}

impl SampleIndex {
    /// The profile value this index selects.
    pub fn value_kind(self) -> profile_import::ValueKind {
        use profile_import::ValueKind;
        match self {
            SampleIndex::InuseSpace => ValueKind::InuseSpace,
            SampleIndex::InuseObjects => ValueKind::InuseObjects,
            SampleIndex::AllocSpace => ValueKind::AllocSpace,
            SampleIndex::AllocObjects => ValueKind::AllocObjects,
        }
    }
}
