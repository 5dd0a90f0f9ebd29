//! A report assembled from what `heapmortem report` names: cores and heap profiles in
//! command-line order, a live process after them, a base profile last.

use std::path::{Path, PathBuf};

use core_reader::{Options, Pause, Process};
use heap_walkers::HeldHeap;
use profile_import::{CoreSymbolizer, Profile, ValueKind};

use crate::{Error, InputFile, ProfileSection, Provenance, Report};

/// What a report is made of.
pub struct Inputs<'a> {
    /// Cores and heap profiles, in command-line order (a file is a core when it is an ELF
    /// core, compressed or not).
    pub paths: &'a [PathBuf],
    /// A live process, copied already, with what its pause cost. It comes after the files:
    /// it is the latest state, the newer side of the growth section beside one core.
    pub live: Option<(Process, Pause)>,
    /// A profile to subtract from the merged profiles.
    pub base: Option<&'a Path>,
    /// The value the profile section shows (none: the profile's own default, the counts of a
    /// trace's event or in-use bytes).
    pub value: Option<ValueKind>,
    /// Where the modules' files are.
    pub options: &'a Options,
    /// What makes the report, for its provenance (`heapmortem 0.1.0`).
    pub tool: String,
}

impl Report {
    /// The report of `inputs`, and whether some input could be read only in part. Each part
    /// not read is said once, in input order, through `say` (a line for standard error), and
    /// noted in the report.
    ///
    /// # Safety
    ///
    /// Cores are memory-mapped: see [`core_reader::Process::open`].
    pub unsafe fn assemble<'a>(
        inputs: Inputs<'a>,
        say: &mut dyn FnMut(&str),
    ) -> Result<(Report, bool), Error> {
        let mut names: Vec<String> = inputs.paths.iter().map(|p| file_name(p)).collect();
        names.extend(inputs.live.as_ref().map(|(p, _)| display(p.core().path())));
        let mut a = Assembly {
            report: Report::new(format!("heapmortem report: {}", names.join(", "))),
            partial: false,
            profiles: Vec::new(),
            profile_names: Vec::new(),
            walked: Vec::new(),
            options: inputs.options,
            say,
        };
        // Each input is hashed (SHA-256, its provenance) on a thread of its own, started
        // once the input is read: a 250k-stack dump is 90 MB to hash, which would compete
        // with the dump's parse for the cores, while symbolization and the view that follow
        // leave one idle. The hashes are joined last, in input order.
        std::thread::scope(|s| {
            let mut hashing = Vec::new();
            let mut hash_later = |path: &'a Path, role: &'static str| {
                hashing.push(s.spawn(move || hash(path, role)));
            };
            for path in inputs.paths {
                if is_core(path)? {
                    // SAFETY: forwarded to the caller.
                    let process =
                        unsafe { Process::open(path, inputs.options) }.map_err(|source| {
                            Error::Core {
                                name: display(path),
                                source,
                            }
                        })?;
                    a.core(display(path), process);
                    hash_later(path, "core");
                } else {
                    let profile = a.profile(path)?;
                    a.profiles.push(profile);
                    a.profile_names.push(display(path));
                    hash_later(path, "profile");
                }
            }
            if let Some((process, pause)) = inputs.live {
                a.report.notes.push(pause.to_string());
                a.core(display(process.core().path()), process);
            }
            a.report.add_growth(&a.walked);

            let base = match inputs.base {
                Some(path) => {
                    if is_core(path)? {
                        return Err(Error::Input(format!(
                            "--base {} is a core; --base takes a heap profile",
                            path.display()
                        )));
                    }
                    let base = a.profile(path)?;
                    hash_later(path, "base profile");
                    Some((base, display(path)))
                }
                None => None,
            };
            if base.is_some() && a.profiles.is_empty() {
                return Err(Error::Input(
                    "--base needs a profile among the inputs to subtract it from".into(),
                ));
            }
            let mut symbolizer = CoreSymbolizer::new(inputs.options);
            let mut report = a.report;
            report.profile = ProfileSection::of_profiles(
                a.profiles,
                a.profile_names,
                base,
                &mut symbolizer,
                inputs.value,
            );
            let hashed = hashing
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>, _>>()?;
            report.provenance = Provenance::of_this_run(inputs.tool, hashed);
            Ok((report, a.partial))
        })
    }
}

/// A report being assembled, with what its profile section and growth section are built of.
struct Assembly<'a, 's> {
    report: Report,
    /// Whether some input could be read only in part.
    partial: bool,
    profiles: Vec<Profile>,
    profile_names: Vec<String>,
    /// Cores whose heap was walked, kept for the growth section when there are two.
    walked: Vec<(String, Process, HeldHeap)>,
    options: &'a Options,
    say: &'s mut dyn FnMut(&str),
}

impl Assembly<'_, '_> {
    /// Adds a core or a live process's copy.
    fn core(&mut self, name: String, process: Process) {
        if let Some(line) = process.read_in_part() {
            (self.say)(&line);
            self.partial = true;
            self.report.notes.push(format!(
                "{name} could be read only in part; see its diagnostics below."
            ));
        }
        let (partial, held) = self.report.add_core(&name, &process, self.options);
        self.partial |= partial;
        // A jemalloc that ran with prof:true kept a heap profile in memory.
        if let Ok(profile) = profile_import::core_profile(&process) {
            self.profiles.push(profile);
            self.profile_names
                .push(format!("{name} (jemalloc's in-memory profile)"));
        }
        if let Some(held) = held {
            self.walked.push((name, process, held));
        }
    }

    /// Reads a profile file; one read only in part is noted.
    fn profile(&mut self, path: &Path) -> Result<Profile, Error> {
        // SAFETY: `path` is not a core (the callers checked), so nothing is mapped.
        let (profile, note) = unsafe { profile_import::read_profile(path, self.options) }?;
        if let Some(note) = note {
            (self.say)(&note);
            self.partial = true;
            self.report.notes.push(note);
        }
        Ok(profile)
    }
}

/// The path as given.
fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The file's name, for the title.
fn file_name(path: &Path) -> String {
    match path.file_name() {
        Some(n) => n.to_string_lossy().into_owned(),
        None => display(path),
    }
}

/// Whether the file is an ELF core (as opposed to a profile).
fn is_core(path: &Path) -> Result<bool, Error> {
    core_reader::is_core_file(path).map_err(|source| Error::Read(display(path), source))
}

fn hash(path: &Path, role: &str) -> Result<InputFile, Error> {
    InputFile::of_path(path, role).map_err(|source| Error::Read(display(path), source))
}
