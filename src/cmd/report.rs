//! `heapmortem report`: cores and profiles into one self-contained HTML file.
//!
//! Each input is a core (an ELF file of type ET_CORE) or a heap profile; both kinds may be
//! mixed. Cores give the process section (and, as the heap walkers land, heap and leaks);
//! profiles are merged into one profile section, less `--base` if given. The rendering lives
//! in report-templates; this is glue.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use profile_import::CoreSymbolizer;
use report_templates::{
    core_modules, Finding, HeapSection, InputFile, LeaksSection, ProcessSection, ProfileSection,
    Provenance, Report, TypesSection,
};

use crate::args::{Common, ReportArgs};
use crate::Outcome;

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Complete;
    let mut report = Report::new(format!(
        "heapmortem report: {}",
        args.inputs
            .iter()
            .map(|p| file_name(p))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut inputs = Vec::new();
    let mut profiles = Vec::new();
    let mut profile_names = Vec::new();

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
            let info = process.info_report(heap_walkers::Allocator::detect(&process).name());
            let threads = process.threads_report();
            report
                .processes
                .push(ProcessSection::new(&name, &info, &threads));
            report.modules.extend(core_modules(&name, &info));
            if let Some(partial) = add_heap(&process, &name, &mut report) {
                if partial {
                    outcome = Outcome::Partial;
                }
            }
            // A jemalloc that ran with prof:true kept a heap profile in memory.
            if let Ok(profile) = profile_import::core_profile(&process) {
                profiles.push(profile);
                profile_names.push(format!("{name} (jemalloc's in-memory profile)"));
            }
            inputs.push(hash(path, "core")?);
        } else {
            profiles.push(read_profile(path, &args.common, &mut outcome, &mut report)?);
            profile_names.push(path.display().to_string());
            inputs.push(hash(path, "profile")?);
        }
    }

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

    let mut symbolizer = CoreSymbolizer::new(&super::core_options(&args.common));
    let base = base.zip(args.base.as_ref().map(|p| p.display().to_string()));
    report.profile = ProfileSection::of_profiles(
        profiles,
        profile_names,
        base,
        &mut symbolizer,
        args.sample_index.value_kind(),
    );

    let mut provenance =
        Provenance::now(format!("heapmortem {}", env!("CARGO_PKG_VERSION")), inputs);
    provenance.command_line = Some(
        std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    );
    report.provenance = provenance;

    let html = report.render()?;
    let mut out = File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    out.write_all(html.as_bytes())
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(outcome)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
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

/// Walks the core's heap when its allocator is one heapmortem reads, and adds the heap and
/// leaks sections and the findings to the report. Returns whether the walk was partial, or
/// None when there was no heap to show (a note then says why).
fn add_heap(process: &core_reader::Process, name: &str, report: &mut Report) -> Option<bool> {
    use heap_walkers::{glibc, jemalloc, leaks, Allocator, HeldHeap};
    // The allocations are listed too, for the leak check.
    let walked = match Allocator::detect(process) {
        Allocator::Glibc | Allocator::Unknown => {
            let options = glibc::WalkOptions {
                list: true,
                progress: true,
            };
            glibc::walk(process, &options)
                .map(|heap| {
                    let partial = add_heap_section(report, name, &heap);
                    (partial, Some(HeldHeap::from_glibc(process, heap)))
                })
                .map_err(|e| format!("the glibc heap could not be walked: {e}"))
        }
        Allocator::Jemalloc => {
            let options = jemalloc::Options { allocations: true };
            jemalloc::walk_with(process, &options)
                .map(|mut heap| {
                    // jemalloc 5.1 and 5.2 keep no extent map to list from: that costs the
                    // report its leaks section, and reads nothing less of the core.
                    let (unlisted, problems) = std::mem::take(&mut heap.problems)
                        .into_iter()
                        .partition(|p| p.kind == "not_listed");
                    heap.problems = problems;
                    report.notes.extend(
                        unlisted
                            .iter()
                            .map(|p: &core_reader::Diagnostic| format!("{name}: {}", p.message)),
                    );
                    let partial = add_heap_section(report, name, &heap.summary());
                    (partial, HeldHeap::from_jemalloc(process, heap).ok())
                })
                .map_err(|e| format!("the jemalloc heap could not be walked: {e}"))
        }
        other => Err(format!(
            "the heap of a process using {} is not shown (glibc and jemalloc only)",
            other.name()
        )),
    };
    match walked {
        Ok((partial, held)) => {
            if let Some(held) = held {
                let types = heap_walkers::types::by_type(process, &held.allocations);
                report.types.push(TypesSection::of(name, &types));
                let found = leaks::find_leaks(process, held.blocks(), &held.roots);
                report.leaks.push(LeaksSection::of(name, &found));
            }
            Some(partial)
        }
        Err(e) => {
            report.notes.push(format!("{name}: {e}"));
            None
        }
    }
}

/// Adds a walked heap's section and findings; returns whether the walk was partial.
fn add_heap_section<D: serde::Serialize, A: heap_walkers::ArenaDetail>(
    report: &mut Report,
    name: &str,
    heap: &heap_walkers::Heap<D, A>,
) -> bool {
    report.heaps.push(HeapSection::of(name, heap));
    report
        .findings
        .extend(heap.findings.iter().map(Finding::from_heap));
    heap.is_partial()
}
