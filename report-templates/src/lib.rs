//! heapmortem's shareable report: one self-contained HTML file.
//!
//! A [`Report`] is plain data, one field per section, each filled by the code that owns the
//! data and left empty when there is none (an empty section is not shown):
//!
//! - [`Finding`]s first: sentences with numbers from the heap walkers and profile analysis.
//! - [`ProcessSection`]: a core's command, signal and threads with backtraces, the crashing
//!   thread first, from core-reader's `InfoReport` and `ThreadsReport`.
//! - [`HeapSection`] ([`HeapSection::of`] a walked heap of any allocator): the allocator's arenas ([`ArenaRow`]: in use, free, dirty, muzzy,
//!   retained), drawn as a fragmentation chart, a size-class histogram ([`SizeClassRow`]),
//!   and where the allocator keeps an account of its own beside the arenas (tcmalloc's
//!   `GetStats()` "MALLOC:" block), that account figure by figure ([`OwnFigure`]).
//! - [`TypesSection`] ([`TypesSection::of`] `heap --by type`'s rows): the allocations in use
//!   by type ([`TypeCount`]: C++ classes from vtables, container patterns, the rest by size),
//!   largest first, at most [`MAX_TYPE_ROWS`] rows.
//! - [`LeaksSection`] ([`LeaksSection::of`] a leak check): unreachable memory, grouped
//!   ([`LeakGroup`]).
//! - [`DiffSection`] ([`DiffSection::of`] a `heapmortem diff` of two cores): the groups that
//!   changed ([`DiffRow`]) with their main holders, and the arenas' holdings
//!   ([`DiffArenaRow`]).
//! - [`ProfileSection`]: jeprof's top table (sortable, searchable, at most
//!   [`MAX_TABLE_ROWS`] rows), the pruned call graph, flame graph and icicle — built from a
//!   profile view by [`ProfileSection::build`].
//! - [`ModuleRow`]s: modules and whether their files and debug information were found.
//! - [`Provenance`]: input files with sizes and SHA-256 ([`InputFile::of_path`]), tool
//!   version, time.
//!
//! [`Report::assemble`] builds the whole report from what the command line names ([`Inputs`]:
//! cores, a live process, profiles, a base profile). [`Report::render`] fills the askama
//! template. The page needs nothing from the network:
//! its CSS, scripts and SVG are inline, and the flame graphs (inferno's SVG with its own
//! scripts) are put into sandboxed `srcdoc` frames when their tab is first opened. Every
//! string from an input is escaped by the template (or by the graph crate inside its SVG).
//!
//! ```
//! use report_templates::{Finding, Report, Severity};
//!
//! let mut report = Report::new("heapmortem report");
//! report.findings.push(Finding {
//!     severity: Severity::Problem,
//!     source: "heap".into(),
//!     text: "arena 0 holds 412 MiB of dirty pages <see dirty_decay_ms>".into(),
//! });
//! let html = report.render().unwrap();
//! // Escaped: the text shows, no element is made.
//! assert!(html.contains("see dirty_decay_ms") && !html.contains("<see"));
//! assert!(!html.contains("http://") && !html.contains("https://"));
//! ```
#![deny(missing_docs)]

mod assemble;
mod diff;
mod heap;
mod model;
mod process;
mod profile;
mod provenance;

use askama::Template;
// Bytes for people: core-reader's one formatter.
use core_reader::human_bytes as human;

pub use assemble::Inputs;
pub use diff::MAX_DIFF_ROWS;
pub use model::{
    ArenaRow, DiffArenaRow, DiffRow, DiffSection, Finding, HeapSection, InputFile, LeakGroup,
    LeaksSection, ModuleRow, OwnFigure, Provenance, Severity, SizeClassRow, TypeCount,
    TypesSection,
};
pub use process::{core_modules, FrameView, ProcessSection, ThreadView};
pub use profile::{ProfileRow, ProfileSection, ProfileSource, MAX_TABLE_ROWS};

/// Rows of a types section at most: a core holds a row per class and per unrecognized size,
/// thousands in a big program; the first hold most of the bytes, the rest are summed.
pub const MAX_TYPE_ROWS: usize = 200;

/// Why a report could not be assembled or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template failed.
    #[error("cannot render the report: {0}")]
    Render(String),
    /// The page could not be written.
    #[error("cannot write {0}: {1}")]
    Write(String, #[source] std::io::Error),
    /// A core given could not be read.
    #[error("cannot read the core {name}")]
    Core {
        /// The path as given.
        name: String,
        /// Why.
        #[source]
        source: core_reader::Error,
    },
    /// An input file could not be read (to tell what it is, or to hash it).
    #[error("cannot read {0}")]
    Read(String, #[source] std::io::Error),
    /// A profile given could not be read.
    #[error(transparent)]
    Profile(#[from] profile_import::Error),
    /// The inputs do not go together.
    #[error("{0}")]
    Input(String),
}

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The page title.
    pub title: String,
    /// Findings from every source (shown most severe first).
    pub findings: Vec<Finding>,
    /// One per core.
    pub processes: Vec<ProcessSection>,
    /// One per core whose heap was walked.
    pub heaps: Vec<HeapSection>,
    /// One per core whose heap was walked with its allocations listed.
    pub types: Vec<TypesSection>,
    /// One per core whose leaks were searched.
    pub leaks: Vec<LeaksSection>,
    /// With two cores: how the heap changed from the first to the second.
    pub diff: Option<DiffSection>,
    /// The (merged) profile.
    pub profile: Option<ProfileSection>,
    /// Modules of every input.
    pub modules: Vec<ModuleRow>,
    /// Notes about the inputs (`core.1234 could be read only in part: …`).
    pub notes: Vec<String>,
    /// Where it came from.
    pub provenance: Provenance,
}

impl Report {
    /// An empty report.
    pub fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            ..Report::default()
        }
    }

    /// Renders the page into the file at `path`.
    pub fn write(&self, path: &std::path::Path) -> Result<(), Error> {
        let html = self.render()?;
        let failed = |e: std::io::Error| Error::Write(path.display().to_string(), e);
        let mut out = std::fs::File::create(path).map_err(failed)?;
        std::io::Write::write_all(&mut out, html.as_bytes()).map_err(failed)
    }

    /// The HTML page.
    pub fn render(&self) -> Result<String, Error> {
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        if let Some(p) = &self.profile {
            findings.extend(p.findings.iter());
        }
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mut modules: Vec<&ModuleRow> = self.modules.iter().collect();
        if let Some(p) = &self.profile {
            modules.extend(p.modules.iter());
        }
        let page = Page {
            r: self,
            findings,
            modules,
            css: include_str!("../templates/report.css"),
            js: include_str!("../templates/report.js"),
        };
        page.render().map_err(|e| Error::Render(e.to_string()))
    }
}

/// A segment of an arena's bar in the fragmentation chart.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSegment {
    /// CSS class: `inuse`, `free`, `dirty`, `muzzy`, `retained`.
    pub class: &'static str,
    /// Width in percent of the widest bar.
    pub percent: f64,
    /// `in use 12.0 MiB`.
    pub label: String,
}

impl HeapSection {
    /// The fragmentation chart: per arena, in use / free / dirty / muzzy / retained bytes as
    /// segments scaled to the largest arena.
    pub fn bars(&self) -> Vec<(String, Vec<BarSegment>, String)> {
        let parts = |a: &ArenaRow| {
            [
                ("inuse", "in use", a.in_use_bytes),
                ("free", "free", a.free_bytes),
                ("dirty", "dirty", a.dirty_bytes.unwrap_or(0)),
                ("muzzy", "muzzy", a.muzzy_bytes.unwrap_or(0)),
                ("retained", "retained", a.retained_bytes.unwrap_or(0)),
            ]
        };
        let max = self
            .arenas
            .iter()
            .map(|a| {
                parts(a)
                    .iter()
                    .map(|p| p.2)
                    .sum::<u64>()
                    .max(a.system_bytes)
            })
            .max()
            .unwrap_or(0)
            .max(1);
        self.arenas
            .iter()
            .map(|a| {
                let segs = parts(a)
                    .iter()
                    .filter(|p| p.2 > 0)
                    .map(|&(class, name, v)| BarSegment {
                        class,
                        percent: v as f64 * 100.0 / max as f64,
                        label: format!("{name} {}", human(v)),
                    })
                    .collect();
                let used = a.in_use_bytes as f64;
                let held = (a.in_use_bytes + a.free_bytes) as f64;
                let frag = if held > 0.0 {
                    format!("{:.1}% free", (held - used) * 100.0 / held)
                } else {
                    String::new()
                };
                (a.name.clone(), segs, frag)
            })
            .collect()
    }

    /// The size-class histogram: per class, in-use and free bytes as percentages of the
    /// largest class.
    pub fn histogram(&self) -> Vec<(String, f64, f64, String)> {
        let max = self
            .size_classes
            .iter()
            .map(|c| c.in_use_bytes + c.free_bytes)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        self.size_classes
            .iter()
            .map(|c| {
                (
                    human(c.size),
                    c.in_use_bytes as f64 * 100.0 / max,
                    c.free_bytes as f64 * 100.0 / max,
                    format!(
                        "{} in use ({} B), {} free ({} B)",
                        c.in_use_count, c.in_use_bytes, c.free_count, c.free_bytes
                    ),
                )
            })
            .collect()
    }
}

impl TypesSection {
    /// A row's share of the bytes in use, `12.3%`.
    pub fn percent(&self, bytes: &u64) -> String {
        if self.total_bytes == 0 {
            return "–".to_string();
        }
        format!("{:.1}%", *bytes as f64 * 100.0 / self.total_bytes as f64)
    }
}

/// [`human`] for templates, which pass references.
fn h(v: &u64) -> String {
    human(*v)
}

/// An optional address as `0x…`, or empty.
fn hex(a: &Option<u64>) -> String {
    a.map(|a| format!("{a:#x}")).unwrap_or_default()
}

/// An optional size for people, or `–`.
fn opt_human(v: &Option<u64>) -> String {
    v.map(human).unwrap_or_else(|| "–".to_string())
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a Report,
    findings: Vec<&'a Finding>,
    modules: Vec<&'a ModuleRow>,
    css: &'static str,
    js: &'static str,
}

impl Page<'_> {
    /// The id of the call graph's node for the first of `functions` (a call path, innermost
    /// first) the graph shows: where a leak or a type links to. The graph is pruned as jeprof
    /// prunes, so the allocating function may be gone while its callers stay.
    fn graph_link(&self, functions: &[String]) -> Option<String> {
        let ids = &self.r.profile.as_ref()?.node_ids;
        functions.iter().find_map(|f| ids.get(f).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heap and leaks sections render from their structs alone (the walkers fill them).
    #[test]
    fn heap_and_leak_sections_render_with_escaping() {
        let mut r = Report::new("t");
        r.heaps.push(HeapSection {
            input: "core.1".into(),
            allocator: "jemalloc".into(),
            version: Some("5.3.0".into()),
            arenas: vec![
                ArenaRow {
                    name: "arena 0".into(),
                    address: Some(0x7f00_0000_0000),
                    system_bytes: 600 << 20,
                    in_use_bytes: 100 << 20,
                    free_bytes: 50 << 20,
                    dirty_bytes: Some(412 << 20),
                    muzzy_bytes: Some(0),
                    retained_bytes: Some(38 << 20),
                    ..ArenaRow::default()
                },
                ArenaRow {
                    name: "arena <1>".into(),
                    system_bytes: 10 << 20,
                    in_use_bytes: 9 << 20,
                    ..ArenaRow::default()
                },
            ],
            size_classes: vec![SizeClassRow {
                size: 48,
                in_use_count: 1000,
                in_use_bytes: 48000,
                free_count: 10,
                free_bytes: 480,
            }],
            notes: vec!["3 corrupt chunks skipped".into()],
            own_account: Vec::new(),
        });
        r.leaks.push(LeaksSection {
            input: "core.1".into(),
            direct_count: 2,
            direct_bytes: 96,
            groups: vec![LeakGroup {
                count: 2,
                size: 48,
                bytes: 96,
                contents: Some("<hi>".into()),
                ..LeakGroup::default()
            }],
            ..LeaksSection::default()
        });
        let html = r.render().unwrap();
        for id in [
            "id=\"heap\"",
            "id=\"leaks\"",
            "412.0 MiB",
            "0x7f0000000000",
            "3 corrupt",
        ] {
            assert!(html.contains(id), "{id} missing");
        }
        assert!(!html.contains("arena <1>") && !html.contains("<hi>"));
        // The widest arena sets the scale: in use 100 of 600 MiB.
        let bars = r.heaps[0].bars();
        assert_eq!(bars[0].1[0].class, "inuse");
        assert!((bars[0].1[0].percent - 100.0 * 100.0 / 600.0).abs() < 1e-9);
        assert_eq!(bars[0].2, "33.3% free");
        assert!(
            !html.contains("id=\"profile\""),
            "no profile, no profile section"
        );
        assert!(!html.contains("id=\"types\""), "no types, no types section");
    }

    /// The types section keeps the first rows in `heap --by type`'s order and sums the rest.
    #[test]
    fn types_section_lists_the_largest_rows_and_sums_the_rest() {
        use heap_walkers::types::{TypeKind, TypeRow};
        let rows: Vec<TypeRow> = (0..MAX_TYPE_ROWS as u64 + 3)
            .map(|i| TypeRow {
                name: if i == 0 {
                    "Map<int, <b>>".into()
                } else {
                    format!("unknown ({} bytes)", 1000 - i)
                },
                kind: if i == 0 {
                    TypeKind::Vtable
                } else {
                    TypeKind::Unknown
                },
                count: 2,
                bytes: 2 * (1000 - i),
                example: 0x1000 + i,
            })
            .collect();
        let section = TypesSection::of("core.1", &rows);
        assert_eq!(section.rows.len(), MAX_TYPE_ROWS);
        assert_eq!(section.recognized, 1);
        assert_eq!(section.omitted_rows, 3);
        assert_eq!(section.omitted_count, 6);
        let last = 1000 - MAX_TYPE_ROWS as u64;
        assert_eq!(section.omitted_bytes, 2 * (last + last - 1 + last - 2));
        assert_eq!(
            section.total_bytes,
            rows.iter().map(|r| r.bytes).sum::<u64>()
        );
        let mut r = Report::new("t");
        r.types.push(section);
        let html = r.render().unwrap();
        assert!(html.contains("id=\"types\"") && html.contains("3 more rows"));
        assert!(html.contains("Map&#60;int, &#60;b&#62;&#62;") && !html.contains("<b>"));
    }
}
