//! The profile section: jeprof's top table, the pruned call graph, flame graph and icicle.

use graph::{
    diff_folded_lines, flame_graph, flame_lines, format_value, percent, CallGraph, FlameOptions,
    PruneOptions,
};
use profile_import::{InlineNames, Profile, View};

use crate::model::{Finding, ModuleRow, Severity};

/// The most rows the top table holds; the rest are summed up in a note. A 250k-stack profile
/// can have tens of thousands of functions, and a table that long makes the page slow.
pub const MAX_TABLE_ROWS: usize = 1000;

/// One row of the top table, as jeprof's `--text --show_bytes` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// Function name (or `0x…` address).
    pub name: String,
    /// Flat value, truncated as jeprof prints it.
    pub flat: i64,
    /// `12.5%`.
    pub flat_pct: String,
    /// Running sum of the flat percentages.
    pub sum_pct: String,
    /// Cumulative value.
    pub cum: i64,
    /// `40.0%`.
    pub cum_pct: String,
    /// The flat value for people (`1.5 MiB`).
    pub flat_human: String,
    /// The cumulative value for people.
    pub cum_human: String,
}

/// What the profile section is built from.
#[derive(Debug, Clone)]
pub struct ProfileSource<'a> {
    /// The profile (merged, symbolized) as shown: with `--base`, the difference.
    pub view: &'a View<'a>,
    /// With `--base`: the base and the current profile, each on its own, for the differential
    /// flame graph.
    pub base: Option<(&'a View<'a>, &'a View<'a>)>,
    /// The input files, as given.
    pub inputs: Vec<String>,
    /// The base file, as given.
    pub base_input: Option<String>,
    /// The program, for the call graph's legend.
    pub program: Option<String>,
    /// `--focus` and `--ignore`, for the legend.
    pub focus: Option<String>,
    /// See `focus`.
    pub ignore: Option<String>,
    /// How the call graph is pruned.
    pub prune: PruneOptions,
}

/// The profile section.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSection {
    /// The input files.
    pub inputs: Vec<String>,
    /// The base file, with `--base`.
    pub base_input: Option<String>,
    /// The file format.
    pub format: String,
    /// The value shown (`inuse_space`).
    pub value: String,
    /// `B` or `objects`.
    pub unit: String,
    /// jeprof's `Total:` (every sample), exact.
    pub total: i64,
    /// The total for people.
    pub total_human: String,
    /// What the percentages are of (jeprof's `Focusing on`).
    pub shown_total: i64,
    /// The top table, at most [`MAX_TABLE_ROWS`] rows.
    pub rows: Vec<ProfileRow>,
    /// Functions left out of the table.
    pub rows_omitted: usize,
    /// Their flat value, for people.
    pub omitted_flat: String,
    /// The pruned call graph, as SVG.
    pub callgraph_svg: String,
    /// Each function the call graph shows, with its node's id in the SVG.
    pub node_ids: std::collections::BTreeMap<String, String>,
    /// The flame graph (differential with `--base`), an SVG document with its own scripts.
    pub flame_svg: Option<String>,
    /// The icicle, likewise.
    pub icicle_svg: Option<String>,
    /// Why there is no flame graph, when there is none.
    pub flame_note: Option<String>,
    /// The profile's modules and how many of their addresses got a name.
    pub modules: Vec<ModuleRow>,
    /// What the profile says, in sentences.
    pub findings: Vec<Finding>,
}

impl ProfileSection {
    /// The section of `profiles` merged (named `inputs`), less `base` (a profile and its
    /// name) when given: symbolized, shown by `value` (by default the profile's own,
    /// [`profile_import::Profile::default_value`]), pruned by jeprof's defaults. None when
    /// there is no profile.
    pub fn of_profiles(
        profiles: Vec<profile_import::Profile>,
        inputs: Vec<String>,
        base: Option<(profile_import::Profile, String)>,
        symbolizer: &mut dyn profile_import::Symbolize,
        value: Option<profile_import::ValueKind>,
    ) -> Option<ProfileSection> {
        let mut current = profile_import::merge(profiles)?;
        let value = value.unwrap_or_else(|| current.default_value());
        profile_import::symbolize(&mut current, symbolizer);
        let (base, base_input) = match base {
            Some((mut b, name)) => {
                profile_import::symbolize(&mut b, symbolizer);
                (Some(b), Some(name))
            }
            None => (None, None),
        };
        let diff = base.as_ref().map(|b| {
            let mut d = current.clone();
            profile_import::subtract(&mut d, b.clone());
            d
        });
        let options = profile_import::ViewOptions {
            value,
            focus: None,
            ignore: None,
        };
        let current_view = View::new(&current, &options);
        let base_view = base.as_ref().map(|b| View::new(b, &options));
        let diff_view = diff.as_ref().map(|d| View::new(d, &options));
        let program = current
            .mappings
            .iter()
            .find(|m| m.is_main)
            .map(|m| m.path.clone())
            .filter(|p| !p.is_empty());
        Some(ProfileSection::build(&ProfileSource {
            view: diff_view.as_ref().unwrap_or(&current_view),
            base: base_view.as_ref().map(|b| (b, &current_view)),
            inputs,
            base_input,
            program,
            focus: None,
            ignore: None,
            prune: PruneOptions::default(),
        }))
    }

    /// Builds the section.
    pub fn build(src: &ProfileSource<'_>) -> ProfileSection {
        let view = src.view;
        let bytes = view.value.is_space();
        let diff = src.base.is_some();
        // The table and call graph on one core, the flame graph and icicle (inferno draws
        // each from its own merge of the folded lines) on others: each is a few tenths of a
        // second for a 250k-stack profile, and none needs another.
        let ((table, pruned, callgraph_svg), (flame_svg, icicle_svg, flame_note)) =
            std::thread::scope(|s| {
                let graphs = s.spawn(|| {
                    let names = view.names(InlineNames::Jeprof);
                    let table = view.functions_named(&names);
                    let pruned = CallGraph::from_table(view, &names, &table)
                        .with_filters(src.focus.as_deref(), src.ignore.as_deref())
                        .with_diff(diff)
                        .with_program(src.program.clone())
                        .prune(&src.prune);
                    let svg = pruned.to_svg();
                    (table, pruned, svg)
                });
                let flames = flame_graphs(src);
                (joined(graphs.join()), flames)
            });
        let shown = table.total;
        let nonzero: Vec<_> = table
            .rows
            .iter()
            .filter(|r| r.flat != 0.0 || r.cum != 0.0)
            .collect();
        let mut running = 0.0;
        let mut rows = Vec::with_capacity(nonzero.len().min(MAX_TABLE_ROWS));
        for r in nonzero.iter().take(MAX_TABLE_ROWS) {
            running += r.flat;
            rows.push(ProfileRow {
                name: r.name.clone(),
                flat: r.flat.trunc() as i64,
                flat_pct: percent(r.flat, shown),
                sum_pct: percent(running, shown),
                cum: r.cum.trunc() as i64,
                cum_pct: percent(r.cum, shown),
                flat_human: format_value(r.flat, bytes),
                cum_human: format_value(r.cum, bytes),
            });
        }
        let omitted: f64 = nonzero.iter().skip(MAX_TABLE_ROWS).map(|r| r.flat).sum();

        let mut findings = Vec::new();
        if let Some(f) = path_finding(&pruned, diff) {
            findings.push(f);
        }

        ProfileSection {
            inputs: src.inputs.clone(),
            base_input: src.base_input.clone(),
            format: view.profile.format.name().to_string(),
            value: view.value_name().to_string(),
            unit: view.unit_name().to_string(),
            total: view.total().trunc() as i64,
            total_human: format_value(view.total(), bytes),
            shown_total: shown.trunc() as i64,
            rows,
            rows_omitted: nonzero.len().saturating_sub(MAX_TABLE_ROWS),
            omitted_flat: format_value(omitted, bytes),
            callgraph_svg,
            node_ids: pruned.node_ids().into_iter().collect(),
            flame_svg,
            icicle_svg,
            flame_note,
            modules: profile_modules(view.profile, &src.inputs.join(", ")),
            findings,
        }
    }
}

/// The flame graph and the icicle of the section's view (differential with a base), or why
/// there are none. Drawn side by side: one merge of the folded lines cannot be shared, as
/// inferno merges inside `from_lines`.
fn flame_graphs(src: &ProfileSource<'_>) -> (Option<String>, Option<String>, Option<String>) {
    let view = src.view;
    let (lines, title) = match src.base {
        Some((base, current)) => (
            diff_folded_lines(base, current),
            format!(
                "{} since the base (red grew, blue shrank)",
                view.value_name()
            ),
        ),
        // Both drawings leave out the same narrow frames (the default width).
        None => (
            flame_lines(view, FlameOptions::default().min_width),
            view.value_name().to_string(),
        ),
    };
    // inferno's tooltips say "N bytes", "N objects" or "N page-faults".
    let count_name = if view.value.is_space() {
        "bytes"
    } else {
        view.unit_name()
    };
    let flame = |icicle: bool| {
        flame_graph(
            &lines,
            count_name,
            &FlameOptions {
                title: if icicle {
                    format!("Icicle: {title}")
                } else {
                    format!("Flame graph: {title}")
                },
                icicle,
                ..FlameOptions::default()
            },
        )
    };
    let (flame, icicle) = std::thread::scope(|s| {
        let icicle = s.spawn(|| flame(true));
        (flame(false), joined(icicle.join()))
    });
    match (flame, icicle) {
        (Ok(f), Ok(i)) => (Some(f), Some(i), None),
        (Err(e), _) | (_, Err(e)) => (None, None, Some(e.to_string())),
    }
}

/// What a thread returned; a panic in it goes on in this one.
fn joined<T>(result: std::thread::Result<T>) -> T {
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// "The heaviest call path carries N% …": where to look first.
fn path_finding(graph: &CallGraph, diff: bool) -> Option<Finding> {
    let legend = graph.legend();
    let path = graph.heaviest_path();
    let last = *path.last()?;
    if legend.shown_total == 0.0 {
        return None;
    }
    // The allocating end of the path is what matters: show its last few callers.
    let start = path.len().saturating_sub(5);
    let names: Vec<&str> = path[start..].iter().map(|n| n.name.as_str()).collect();
    let prefix = if start > 0 { "… → " } else { "" };
    let into = path
        .iter()
        .rev()
        .find(|n| n.cum != 0.0)
        .map(|n| n.cum)
        .unwrap_or(0.0);
    let what = if diff {
        "of the change since the base"
    } else {
        "of the profile"
    };
    let text = format!(
        "The heaviest call path, {prefix}{}, carries {} ({}) {what} ({} {}); {} allocated {} \
         ({}) itself. Start there: look at who keeps these allocations alive.",
        names.join(" → "),
        format_value(into, legend.bytes),
        percent(into, legend.shown_total),
        format_value(legend.shown_total, legend.bytes),
        legend.value,
        last.name,
        format_value(last.flat, legend.bytes),
        percent(last.flat, legend.shown_total),
    );
    Some(Finding {
        severity: if percent_of(last.flat, legend.shown_total) >= 50.0 {
            Severity::Warning
        } else {
            Severity::Info
        },
        source: "profile".to_string(),
        text,
    })
}

fn percent_of(v: f64, total: f64) -> f64 {
    if total == 0.0 {
        0.0
    } else {
        (v / total * 100.0).abs()
    }
}

/// The profile's mappings, each with how many of its addresses got a name.
fn profile_modules(profile: &Profile, input: &str) -> Vec<ModuleRow> {
    let mut counts = vec![(0usize, 0usize); profile.mappings.len()];
    for loc in &profile.locations {
        if let Some(m) = loc.mapping {
            if let Some(c) = counts.get_mut(m as usize) {
                c.0 += 1;
                if !loc.lines.is_empty() {
                    c.1 += 1;
                }
            }
        }
    }
    profile
        .mappings
        .iter()
        .zip(counts)
        .filter(|(_, (all, _))| *all > 0)
        .map(|(m, (all, named))| ModuleRow {
            input: input.to_string(),
            path: m.path.clone(),
            build_id: m.build_id.clone(),
            file: None,
            file_matches: None,
            debug_file: None,
            status: format!("{named} of {all} addresses named"),
            missing: named < all,
        })
        .collect()
}
