//! `heapmortem profile`: read, merge, subtract, symbolize, render.

use profile_import::{CoreSymbolizer, View, ViewOptions};

use crate::args::{ProfileArgs, ProfileFormat};
use crate::Outcome::{self, Complete, Partial};

pub fn run(args: ProfileArgs) -> anyhow::Result<Outcome> {
    let (files, base) = (&args.files, args.base.as_deref());
    // SAFETY: cores are read in place, as `super::open_core` reads them.
    let (mut profile, partial) =
        unsafe { profile_import::read_merged(files, base, &args.common, &mut super::say) }?;

    let value = args.sample_index.unwrap_or_else(|| profile.default_value());
    let options = ViewOptions::new(value, args.focus.as_deref(), args.ignore.as_deref())?;

    let mut symbolizer = CoreSymbolizer::new(&args.common);
    profile_import::symbolize(&mut profile, &mut symbolizer);

    let view = View::new(&profile, &options);
    super::write_out(args.output.as_deref(), |out| match args.format {
        ProfileFormat::Text => view.write_text(out, args.nodecount),
        ProfileFormat::Json => view.write_json(out, args.nodecount),
        ProfileFormat::Pprof => view.write_pprof(out),
        ProfileFormat::Folded => view.write_folded(out),
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
                ProfileFormat::Dot => out.write_all(graph.to_dot().as_bytes()),
                _ => out.write_all(graph.to_svg().as_bytes()),
            }
        }
    })?;
    Ok(if partial { Partial } else { Complete })
}
