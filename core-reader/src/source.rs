//! Where a command reads a process from: a core file, or a live process copied while its
//! threads were stopped ([`Source`], the command line's `CORE` or `--pid PID`).

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Options, Process};

/// A core file or a live process (Linux x86_64: see [`Process::attach`]).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Source {
    /// The core file (also compressed with zstd, xz, lz4 or gzip).
    #[cfg_attr(
        feature = "clap",
        arg(required_unless_present = "pid", conflicts_with = "pid")
    )]
    pub core: Option<PathBuf>,
    /// The live process to read instead.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub live: Live,
}

/// A live process to read in place of a core.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Live {
    /// Read the live process PID instead of a core: its threads are stopped while what a
    /// core would hold is copied, then resumed; the pause is printed on stderr.
    #[cfg_attr(feature = "clap", arg(long, value_name = "PID"))]
    pub pid: Option<u32>,
}

/// What stopping a live process cost it; written as the sentence `heapmortem` prints.
#[derive(Debug, Clone, Copy)]
pub struct Pause {
    /// The process.
    pub pid: u32,
    /// From the first thread stopped to the last one resumed.
    pub duration: Duration,
    /// Threads stopped.
    pub threads: usize,
    /// Bytes of memory copied.
    pub bytes: u64,
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} was paused for {:.1} ms ({} threads, {} of memory copied)",
            self.pid,
            self.duration.as_secs_f64() * 1000.0,
            self.threads,
            crate::human_bytes(self.bytes)
        )
    }
}

impl Source {
    /// Opens the core, or copies the live process; a live process comes with what its pause
    /// cost.
    ///
    /// # Safety
    ///
    /// A core is memory-mapped: see [`Process::open`].
    pub unsafe fn open(&self, options: &Options) -> Result<(Process, Option<Pause>), Error> {
        match (&self.core, self.live.pid) {
            (_, Some(pid)) => {
                Process::attach(pid, options).map(|(process, pause)| (process, Some(pause)))
            }
            // SAFETY: forwarded to the caller.
            (Some(core), None) => unsafe { Process::open(core, options) }.map(|p| (p, None)),
            (None, None) => Err(Error::Unsupported("give a core file or --pid".into())),
        }
    }
}

/// Live processes are read through Linux's ptrace and /proc only.
#[cfg(not(target_os = "linux"))]
impl Process {
    /// Fails: see the Linux version.
    pub fn attach(pid: u32, _options: &Options) -> Result<(Process, Pause), Error> {
        Err(Error::Live {
            pid,
            message: "--pid reads Linux processes only".into(),
        })
    }
}
