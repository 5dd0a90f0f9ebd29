//! `heapmortem profile`: read, merge, subtract, symbolize, render.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::Context;
use profile_import::{ValueKind, View, ViewOptions};

use crate::args::{ProfileArgs, ProfileFormat, SampleIndex};
use crate::Outcome;

pub fn run(args: ProfileArgs) -> anyhow::Result<Outcome> {
    if args.format == ProfileFormat::Svg {
        anyhow::bail!(
            "`heapmortem profile --format svg` is not built yet in this version; \
             use `--format dot` and Graphviz (`dot -Tsvg`)"
        );
    }
    let value = match args.sample_index {
        SampleIndex::InuseSpace => ValueKind::InuseSpace,
        SampleIndex::InuseObjects => ValueKind::InuseObjects,
        SampleIndex::AllocSpace => ValueKind::AllocSpace,
        SampleIndex::AllocObjects => ValueKind::AllocObjects,
    };
    let options = ViewOptions::new(value, args.focus.as_deref(), args.ignore.as_deref())?;

    let mut outcome = Outcome::Complete;
    let mut profiles = Vec::with_capacity(args.files.len());
    for path in &args.files {
        profiles.push(super::symbols::read_profile(path, &mut outcome)?.0);
    }
    let mut profile = profile_import::merge(profiles).context("no profile given")?;
    if let Some(base) = &args.base {
        let (base, _) = super::symbols::read_profile(base, &mut outcome)?;
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
        ProfileFormat::Dot => view.write_dot(&mut out, args.nodecount)?,
        ProfileFormat::Svg => unreachable!("refused above"),
    }
    out.flush()?;
    Ok(outcome)
}
