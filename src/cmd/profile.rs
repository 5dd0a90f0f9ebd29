//! `heapmortem profile`: read, merge, subtract, symbolize, render.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use profile_import::{CoreSymbolizer, Input, Profile, View, ViewOptions};

use crate::args::{Common, ProfileArgs, ProfileFormat};
use crate::Outcome;

pub fn run(args: ProfileArgs) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Complete;
    let mut profiles = Vec::with_capacity(args.files.len());
    for path in &args.files {
        profiles.push(read_profile(path, &args.common, &mut outcome)?.0);
    }
    let mut profile = profile_import::merge(profiles).context("no profile given")?;
    if let Some(base) = &args.base {
        let (base, _) = read_profile(base, &args.common, &mut outcome)?;
        profile_import::subtract(&mut profile, base);
    }

    let value = args.sample_index.unwrap_or_else(|| profile.default_value());
    let options = ViewOptions::new(value, args.focus.as_deref(), args.ignore.as_deref())?;

    let mut symbolizer = CoreSymbolizer::new(&args.common);
    profile_import::symbolize(&mut profile, &mut symbolizer);

    let view = View::new(&profile, &options);
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        ProfileFormat::Text => view.write_text(&mut out, args.nodecount)?,
        ProfileFormat::Json => view.write_json(&mut out, args.nodecount)?,
        ProfileFormat::Pprof => view.write_pprof(&mut out)?,
        ProfileFormat::Folded => view.write_folded(&mut out)?,
        ProfileFormat::Dot | ProfileFormat::Svg => {
            // jeprof's call graph: pruned to --nodecount functions (80 by default) by its
            // rules, with its legend; a --base profile makes it a diff graph.
            let program = args.common.exe.as_ref().or(args.files.first());
            let graph = graph::CallGraph::from_view(&view)
                .with_filters(args.focus.as_deref(), args.ignore.as_deref())
                .with_diff(args.base.is_some())
                .with_program(program.map(|p| p.display().to_string()))
                .prune(&graph::PruneOptions {
                    nodecount: args.nodecount.unwrap_or(80),
                    ..Default::default()
                });
            match args.format {
                ProfileFormat::Dot => out.write_all(graph.to_dot().as_bytes())?,
                _ => out.write_all(graph.to_svg().as_bytes())?,
            }
        }
    }
    out.flush()?;
    Ok(outcome)
}

/// Reads one profile file, or the heap profile a core's jemalloc kept in memory when it ran
/// with `prof:true`. A core read only in part makes the outcome partial (said on stderr by
/// [`super::outcome`]); so does a file read only in part, said on stderr in one line and
/// returned for reports to show.
pub(super) fn read_profile(
    path: &Path,
    common: &Common,
    outcome: &mut Outcome,
) -> anyhow::Result<(Profile, Option<String>)> {
    // SAFETY: a core is read in place, as `super::open_core` reads it.
    let parsed = match unsafe { profile_import::read_path_or_core(path, common) }? {
        Input::Profile(parsed) => parsed,
        Input::Core { process, profile } => {
            if super::outcome(&process) == Outcome::Partial {
                *outcome = Outcome::Partial;
            }
            return Ok((profile?, None));
        }
    };
    let note = parsed.read_in_part(path);
    if let Some(note) = &note {
        eprintln!("heapmortem: {note}");
        *outcome = Outcome::Partial;
    }
    Ok((parsed.profile, note))
}
