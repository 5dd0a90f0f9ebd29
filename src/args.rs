//! The command line, parsed into plain structs (no I/O here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use core_reader::{hex, Live, Options, Source};
use heap_walkers::diff::Grouping;
use heap_walkers::View;
use profile_import::ValueKind;

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
    Info(CoreArgs),
    /// Every thread's backtrace, the crashing thread first (like gdb's `thread apply all bt`).
    Threads(CoreArgs),
    /// The allocator's state rebuilt from a core: arenas, bins, free and dirty memory.
    #[command(after_help = heap_walkers::HEAP_HELP)]
    Heap(HeapArgs),
    /// Allocations no pointer reaches any more (valgrind's "definitely lost"), from a core.
    #[command(after_help = heap_walkers::LEAKS_HELP)]
    Leaks(CoreArgs),
    /// What the allocation at an address is, who points into it, and what keeps it alive.
    #[command(after_help = heap_walkers::EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// How the heap changed between two cores of one program, and through what it grew.
    #[command(after_help = heap_walkers::DIFF_HELP)]
    Diff(DiffArgs),
    /// Read heap profiles (jeprof .heap, gperftools, pprof) and show where memory was allocated.
    Profile(ProfileArgs),
    /// One self-contained HTML report of cores and profiles.
    Report(ReportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// A core or live process and the output format: `info`, `threads`, `leaks`.
#[derive(Debug, Args)]
pub struct CoreArgs {
    #[command(flatten)]
    pub input: Source,
    #[command(flatten)]
    pub common: Options,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct HeapArgs {
    #[command(flatten)]
    pub input: Source,
    #[command(flatten)]
    pub common: Options,
    #[command(flatten)]
    pub view: View,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "heapmortem explain [OPTIONS] <CORE> <ADDRESS>\n       \
                            heapmortem explain [OPTIONS] --pid <PID> <ADDRESS>"
)]
pub struct ExplainArgs {
    /// The core file (also compressed with zstd, xz, lz4 or gzip); with --pid, the address.
    #[arg(value_name = "CORE")]
    pub first: PathBuf,
    /// An address inside the allocation to explain (hex).
    #[arg(value_parser = hex::parse, required_unless_present = "pid")]
    pub address: Option<u64>,
    #[command(flatten)]
    pub live: Live,
    #[command(flatten)]
    pub common: Options,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

impl ExplainArgs {
    /// What to read and the address: `CORE ADDRESS`, or `--pid PID ADDRESS` (clap cannot
    /// leave out a positional before a required one).
    pub fn input(&self) -> Result<(Source, u64), String> {
        let (core, address) = match (self.address, self.live.pid) {
            (Some(address), None) => (Some(self.first.clone()), address),
            (None, Some(_)) => (None, hex::parse(&self.first.to_string_lossy())?),
            (Some(_), Some(_)) => return Err("--pid PID takes the place of CORE: give one".into()),
            (None, None) => return Err("explain needs CORE ADDRESS, or --pid PID ADDRESS".into()),
        };
        let live = self.live;
        Ok((Source { core, live }, address))
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older core.
    pub old: PathBuf,
    /// The newer core, of the same program.
    pub new: PathBuf,
    #[command(flatten)]
    pub common: Options,
    /// Group the allocations in use.
    #[arg(long, value_enum, default_value_t = Grouping::Type)]
    pub by: Grouping,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
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
    /// Heap profiles (jeprof .heap, gperftools heap, pprof profile.proto, gzipped or not) or
    /// traces (perf script output, folded stacks, DTrace/bpftrace ustack aggregations, bcc
    /// memleak reports); several are merged.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Options,
    /// Subtract this earlier profile (jeprof --base).
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// Which value to show [default: inuse_space; for a trace, the events it counted].
    #[arg(long, value_enum)]
    pub sample_index: Option<ValueKind>,
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
    #[arg(required_unless_present = "pid")]
    pub inputs: Vec<PathBuf>,
    /// A live process to put in the report too, after the files (beside one core, the newer
    /// side of the growth section): its threads are stopped while what a core would hold is
    /// copied, then resumed; the pause is printed on stderr.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    #[command(flatten)]
    pub common: Options,
    /// An earlier profile to subtract.
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// Which value the profile section shows [default: inuse_space; for a trace, the events
    /// it counted].
    #[arg(long, value_enum)]
    pub sample_index: Option<ValueKind>,
    /// The HTML file to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "REPORT.html",
        required = true
    )]
    pub output: PathBuf,
}
