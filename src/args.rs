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
(glibc does not record the size asked for). glibc heaps only so far."
    )]
    Leaks(LeaksArgs),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The core file.
    pub core: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct ThreadsArgs {
    /// The core file.
    pub core: PathBuf,
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
    /// The core file.
    pub core: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// List allocations too: in use, free, or both.
    #[arg(long, value_enum)]
    pub list: Option<ListKind>,
    /// Output format: text, json, malloc-info (glibc's malloc_info XML) or jemalloc-json
    /// (malloc_stats_print's "J" output).
    #[arg(long, value_enum, default_value_t = HeapFormat::Text)]
    pub format: HeapFormat,
}

#[derive(Debug, Args)]
pub struct LeaksArgs {
    /// The core file.
    pub core: PathBuf,
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
