//! `heapmortem report`: cores and profiles into one self-contained HTML file.
//!
//! Each input is a core (an ELF file of type ET_CORE) or a heap profile; both kinds may be
//! mixed. Cores give the process section (and, as the heap walkers land, heap and leaks);
//! profiles are merged into one profile section, less `--base` if given. The rendering lives
//! in report-templates; this is glue.

use std::path::Path;

use anyhow::Context;
use profile_import::CoreSymbolizer;
use report_templates::{InputFile, ProfileSection, Provenance, Report};

use crate::args::{Common, ReportArgs};
use crate::Outcome;

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Complete;
    let mut report = Report::of_inputs(&args.inputs);
    let mut inputs = Vec::new();
    let mut profiles = Vec::new();
    let mut profile_names = Vec::new();
    // Cores whose heap was walked, kept for the growth section when there are two.
    let mut walked = Vec::new();

    for path in &args.inputs {
        if is_core(path)? {
            let name = path.display().to_string();
            let process = super::open_core(path, &args.common)
                .with_context(|| format!("cannot read the core {name}"))?;
            if super::outcome(&process) == Outcome::Partial {
                outcome = Outcome::Partial;
                report.notes.push(format!(
                    "{name} could be read only in part; see its diagnostics below."
                ));
            }
            let (partial, held) = report.add_core(&name, &process, &args.common);
            if partial {
                outcome = Outcome::Partial;
            }
            // A jemalloc that ran with prof:true kept a heap profile in memory.
            if let Ok(profile) = profile_import::core_profile(&process) {
                profiles.push(profile);
                profile_names.push(format!("{name} (jemalloc's in-memory profile)"));
            }
            inputs.push(hash(path, "core")?);
            if let Some(held) = held {
                walked.push((name, process, held));
            }
        } else {
            profiles.push(read_profile(path, &args.common, &mut outcome, &mut report)?);
            profile_names.push(path.display().to_string());
            inputs.push(hash(path, "profile")?);
        }
    }

    report.add_growth(&walked);

    let base = match &args.base {
        Some(path) => {
            if is_core(path)? {
                anyhow::bail!(
                    "--base {} is a core; --base takes a heap profile",
                    path.display()
                );
            }
            inputs.push(hash(path, "base profile")?);
            Some(read_profile(path, &args.common, &mut outcome, &mut report)?)
        }
        None => None,
    };
    if base.is_some() && profiles.is_empty() {
        anyhow::bail!("--base needs a profile among the inputs to subtract it from");
    }

    let mut symbolizer = CoreSymbolizer::new(&args.common);
    let base = base.zip(args.base.as_ref().map(|p| p.display().to_string()));
    report.profile = ProfileSection::of_profiles(
        profiles,
        profile_names,
        base,
        &mut symbolizer,
        args.sample_index,
    );

    let tool = format!("heapmortem {}", env!("CARGO_PKG_VERSION"));
    report.provenance = Provenance::of_this_run(tool, inputs);
    report.write(&args.output)?;
    Ok(outcome)
}

/// Whether the file is an ELF core (as opposed to a profile), with the path in the error.
fn is_core(path: &Path) -> anyhow::Result<bool> {
    core_reader::is_core_file(path).with_context(|| format!("cannot read {}", path.display()))
}

fn hash(path: &Path, role: &str) -> anyhow::Result<InputFile> {
    InputFile::of_path(path, role).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads one profile; a file read only in part is noted in the report and on stderr.
fn read_profile(
    path: &Path,
    common: &Common,
    outcome: &mut Outcome,
    report: &mut Report,
) -> anyhow::Result<profile_import::Profile> {
    let (profile, note) = super::profile::read_profile(path, common, outcome)?;
    report.notes.extend(note);
    Ok(profile)
}
