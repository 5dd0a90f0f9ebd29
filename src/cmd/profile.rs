//! `heapmortem profile`: read, merge, subtract, symbolize, render.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::Context;
use profile_import::{View, ViewOptions};

use crate::args::{ProfileArgs, ProfileFormat};
use crate::Outcome;

pub fn run(args: ProfileArgs) -> anyhow::Result<Outcome> {
    let value = args.sample_index.value_kind();
    let options = ViewOptions::new(value, args.focus.as_deref(), args.ignore.as_deref())?;

    let mut outcome = Outcome::Complete;
    let mut profiles = Vec::with_capacity(args.files.len());
    for path in &args.files {
        profiles.push(super::symbols::read_profile(path, &args.common, &mut outcome)?.0);
    }
    let mut profile = profile_import::merge(profiles).context("no profile given")?;
    if let Some(base) = &args.base {
        let (base, _) = super::symbols::read_profile(base, &args.common, &mut outcome)?;
        profile_import::subtract(&mut profile, base);
    }

    let mut symbolizer = super::symbols::CoreSymbolizer::new(&args.common);
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
            let program = args
                .common
                .exe
                .as_ref()
                .or(args.files.first())
                .map(|p| p.display().to_string());
            let mut graph = graph::CallGraph::from_view(&view)
                .with_filters(args.focus.as_deref(), args.ignore.as_deref())
                .with_diff(args.base.is_some());
            if let Some(program) = program {
                graph = graph.with_program(program);
            }
            let pruned = graph.prune(&graph::PruneOptions {
                nodecount: args.nodecount.unwrap_or(80),
                ..Default::default()
            });
            let text = if args.format == ProfileFormat::Dot {
                pruned.to_dot()
            } else {
                pruned.to_svg()
            };
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(outcome)
}
