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
use profile_import::{CoreSymbolizer, View, ViewOptions};
use report_templates::{
    core_modules, ArenaRow, Finding, HeapSection, InputFile, ProcessSection, ProfileSection,
    ProfileSource, Provenance, Report, Severity, SizeClassRow,
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

    if let Some(mut current) = profile_import::merge(profiles) {
        let mut symbolizer = CoreSymbolizer::new(&super::core_options(&args.common));
        profile_import::symbolize(&mut current, &mut symbolizer);
        let base = base.map(|mut b| {
            profile_import::symbolize(&mut b, &mut symbolizer);
            b
        });
        let diff = base.as_ref().map(|b| {
            let mut d = current.clone();
            profile_import::subtract(&mut d, b.clone());
            d
        });
        let options = ViewOptions::new(args.sample_index.value_kind(), None, None)?;
        let current_view = View::new(&current, &options);
        let base_view = base.as_ref().map(|b| View::new(b, &options));
        let diff_view = diff.as_ref().map(|d| View::new(d, &options));
        let program = current
            .mappings
            .iter()
            .find(|m| m.is_main)
            .map(|m| m.path.clone())
            .filter(|p| !p.is_empty());
        let source = ProfileSource {
            view: diff_view.as_ref().unwrap_or(&current_view),
            base: base_view.as_ref().map(|b| (b, &current_view)),
            inputs: profile_names,
            base_input: args.base.as_ref().map(|p| p.display().to_string()),
            program,
            focus: None,
            ignore: None,
            prune: graph::PruneOptions::default(),
        };
        report.profile = Some(ProfileSection::build(&source));
    }

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

/// Walks the core's heap when its allocator is one heapmortem reads, and adds the heap
/// section and its findings to the report. Returns whether the walk was partial, or None
/// when there was no heap to show (a note then says why).
fn add_heap(process: &core_reader::Process, name: &str, report: &mut Report) -> Option<bool> {
    use heap_walkers::{glibc, jemalloc};
    match heap_walkers::Allocator::detect(process) {
        heap_walkers::Allocator::Glibc | heap_walkers::Allocator::Unknown => {
            let options = glibc::WalkOptions {
                // The allocations too, for the leak check.
                list: true,
                progress: true,
            };
            match glibc::walk(process, &options) {
                Ok(heap) => {
                    report.heaps.push(glibc_heap_section(name, &heap));
                    report.leaks.push(glibc_leaks_section(process, name, &heap));
                    report
                        .findings
                        .extend(heap.findings.iter().map(|f| Finding {
                            severity: Severity::Problem,
                            source: "heap".into(),
                            text: f.message.clone(),
                        }));
                    Some(heap.is_partial())
                }
                Err(e) => {
                    report
                        .notes
                        .push(format!("{name}: the glibc heap could not be walked: {e}"));
                    None
                }
            }
        }
        heap_walkers::Allocator::Jemalloc => match jemalloc::walk(process) {
            Ok(heap) => {
                report.heaps.push(jemalloc_heap_section(name, &heap));
                report
                    .findings
                    .extend(heap.findings().into_iter().map(|f| Finding {
                        severity: match f.severity {
                            heap_walkers::Severity::Warning => Severity::Problem,
                            _ => Severity::Info,
                        },
                        source: "heap".into(),
                        text: f.message,
                    }));
                Some(!heap.problems.is_empty())
            }
            Err(e) => {
                report.notes.push(format!(
                    "{name}: the jemalloc heap could not be walked: {e}"
                ));
                None
            }
        },
        other => {
            report.notes.push(format!(
                "{name}: the heap of a process using {} is not shown (glibc and jemalloc only)",
                other.name()
            ));
            None
        }
    }
}

/// The report's view of a walked jemalloc heap: per arena the allocator-neutral figures
/// plus dirty, muzzy and retained; size classes are the small bins, summed over arenas.
fn jemalloc_heap_section(name: &str, heap: &heap_walkers::jemalloc::Heap) -> HeapSection {
    let summary = heap.summary();
    // The report shows the in-use side of the small classes only.
    let size_classes = summary
        .size_classes
        .iter()
        .filter(|c| c.in_use_count > 0)
        .map(|c| SizeClassRow {
            size: c.size,
            in_use_count: c.in_use_count,
            in_use_bytes: c.in_use_bytes,
            ..Default::default()
        })
        .collect();
    let mut notes = heap.notes.clone();
    notes.extend(heap.problems.iter().map(|p| p.message.clone()));
    HeapSection {
        input: name.to_string(),
        allocator: "jemalloc".into(),
        version: heap.version.clone(),
        arenas: summary
            .arenas
            .iter()
            .map(|a| ArenaRow {
                name: format!("arena {}", a.index),
                address: Some(a.address),
                system_bytes: a.figures.system_bytes,
                in_use_chunks: a.figures.in_use_chunks,
                in_use_bytes: a.figures.in_use_bytes,
                free_chunks: a.figures.free_chunks,
                free_bytes: a.figures.free_bytes,
                dirty_bytes: Some(a.detail.dirty_bytes),
                muzzy_bytes: Some(a.detail.muzzy_bytes),
                retained_bytes: Some(a.detail.retained),
                largest_free: Some(a.figures.largest_free),
                ..Default::default()
            })
            .collect(),
        size_classes,
        notes,
    }
}

/// The report's view of a walked glibc heap.
fn glibc_heap_section(name: &str, heap: &heap_walkers::glibc::GlibcHeap) -> HeapSection {
    let size_classes = heap
        .size_classes
        .iter()
        .map(|c| SizeClassRow {
            size: c.size,
            in_use_count: c.in_use_count,
            in_use_bytes: c.in_use_bytes,
            free_count: c.free_count,
            free_bytes: c.free_bytes,
        })
        .collect();
    let mut notes: Vec<String> = heap
        .problems
        .iter()
        .map(|p| match p.address {
            Some(a) => format!("{a:#x}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    if heap.detail.skipped_bytes > 0 {
        notes.push(format!(
            "{} bytes could not be walked",
            heap.detail.skipped_bytes
        ));
    }
    HeapSection {
        input: name.to_string(),
        allocator: "glibc".into(),
        version: heap.version.clone(),
        arenas: heap
            .arenas
            .iter()
            .map(|a| ArenaRow {
                name: if a.detail.main {
                    "main_arena".into()
                } else {
                    format!("arena {}", a.index)
                },
                address: Some(a.address),
                system_bytes: a.figures.system_bytes,
                in_use_chunks: a.figures.in_use_chunks,
                in_use_bytes: a.figures.in_use_bytes,
                free_chunks: a.figures.free_chunks,
                free_bytes: a.figures.free_bytes,
                trimmable_bytes: Some(a.figures.trimmable_bytes),
                largest_free: Some(a.figures.largest_free),
                ..Default::default()
            })
            .collect(),
        size_classes,
        notes,
    }
}

/// The report's view of the leak check of a walked glibc heap.
fn glibc_leaks_section(
    process: &core_reader::Process,
    name: &str,
    heap: &heap_walkers::glibc::GlibcHeap,
) -> report_templates::LeaksSection {
    use heap_walkers::leaks;
    let roots = leaks::glibc_roots(process, heap);
    let found = leaks::find_leaks(process, leaks::glibc_blocks(heap), &roots);
    report_templates::LeaksSection {
        input: name.to_string(),
        direct_count: found.direct_count,
        direct_bytes: found.direct_bytes,
        indirect_count: found.indirect_count,
        indirect_bytes: found.indirect_bytes,
        groups: found
            .groups
            .iter()
            .map(|g| report_templates::LeakGroup {
                count: g.count,
                size: g.size,
                bytes: g.bytes,
                example: g.samples.first().copied(),
                type_name: None,
                contents: Some(format!("{}  {}", g.preview_hex, g.preview_ascii)),
            })
            .collect(),
    }
}
