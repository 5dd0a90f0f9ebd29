//! `heapmortem report`: cores, a live process and profiles into one self-contained HTML
//! file, assembled and rendered by report-templates.

use report_templates::{Inputs, Report};

use crate::args::ReportArgs;
use crate::Outcome::{self, Complete, Partial};

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let attach = |pid| core_reader::Process::attach(pid, &args.common);
    let live = args.pid.map(attach).transpose()?;
    if let Some((_, pause)) = &live {
        super::say(&pause.to_string());
    }
    let inputs = Inputs {
        paths: &args.inputs,
        live,
        base: args.base.as_deref(),
        value: args.sample_index,
        options: &args.common,
        tool: format!("heapmortem {}", env!("CARGO_PKG_VERSION")),
    };
    // SAFETY: cores are read in place, as `super::open_core` reads them.
    let (report, partial) = unsafe { Report::assemble(inputs, &mut super::say) }?;
    report.write(&args.output)?;
    Ok(if partial { Partial } else { Complete })
}
