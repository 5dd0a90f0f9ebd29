//! Call graphs and flame graphs of heap profiles.
//!
//! - [`CallGraph`] is a petgraph graph built from a [`profile_import::View`]
//!   ([`CallGraph::from_view`]): [`Node`]s are functions with jeprof's flat and cumulative
//!   values, [`Edge`]s go from caller to callee weighted by the value that flowed through them.
//!   [`CallGraph::prune`] applies jeprof's rules ([`PruneOptions`]: 80 nodes, node fraction
//!   0.005, edge fraction 0.001, max degree 8) and records them in the [`Legend`].
//!   [`CallGraph::to_dot`] writes Graphviz DOT; [`CallGraph::to_svg`] lays the graph out in
//!   layers (our own layered layout, see the `layout` module) and draws it — no Graphviz needed. A `--base` difference is drawn with
//!   growth and shrinkage in different colours ([`CallGraph::with_diff`]).
//! - [`flame_graph`] draws folded stacks ([`folded_lines`], [`diff_folded_lines`], or
//!   [`flame_lines`]: a view's lines less the frames too narrow to draw) as an
//!   interactive flame graph or icicle ([`FlameOptions`]) with inferno.
//!
//! ```
//! use graph::{CallGraph, PruneOptions};
//! use profile_import::{read_bytes, symbolize, ModuleRef, SymbolFrame, Symbolize, ValueKind,
//!     View, ViewOptions};
//!
//! // Two stacks under `main`: 3/4 of the bytes through `handle` → `grow`.
//! let dump = "heap_v2/0\n  t*: 2: 4096 [0: 0]\n\
//!             @ 0x30 0x20 0x10\n  t*: 1: 3072 [0: 0]\n\
//!             @ 0x40 0x10\n  t*: 1: 1024 [0: 0]\n";
//! let mut profile = read_bytes(dump.as_bytes()).unwrap().profile;
//! struct Names;
//! impl Symbolize for Names {
//!     fn symbolize(&mut self, _: &ModuleRef<'_>, addrs: &[u64]) -> Vec<Vec<SymbolFrame>> {
//!         addrs.iter().map(|a| {
//!             let name = match a { 0x30 => "grow", 0x1f => "handle", 0x40 => "other", _ => "main" };
//!             vec![SymbolFrame { function: name.into(), file: None, line: None }]
//!         }).collect()
//!     }
//! }
//! symbolize(&mut profile, &mut Names);
//! let options = ViewOptions::new(ValueKind::InuseSpace, None, None).unwrap();
//! let view = View::new(&profile, &options);
//! let graph = CallGraph::from_view(&view).prune(&PruneOptions::default());
//! let path: Vec<&str> = graph.heaviest_path().iter().map(|n| n.name.as_str()).collect();
//! assert_eq!(path, ["main", "handle", "grow"]);
//! assert!(graph.to_svg().contains("of 3.0 KiB (75.0%)"));
//! assert!(graph.to_dot().starts_with("digraph"));
//! ```
#![deny(missing_docs)]

mod callgraph;
mod dot;
mod flame;
mod layout;
mod style;
mod svg;

pub use callgraph::{
    exact_value, format_value, percent, CallGraph, Edge, Legend, Node, PruneOptions,
};
pub use flame::{
    diff_folded_lines, flame_graph, flame_lines, folded_lines, FlameError, FlameOptions,
};
