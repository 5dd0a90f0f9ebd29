//! The call graph of a profile view, and its pruning by jeprof's rules.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use profile_import::{FunctionTable, InlineNames, Names, View};
use rustc_hash::FxHashMap;

/// A function in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The function's name as jeprof's text shows it (`name (inline)` for an inlined frame,
    /// `0x…` for an address without a symbol).
    pub name: String,
    /// The value of the stacks whose leaf is this function.
    pub flat: f64,
    /// The value of the stacks this function is on, once per stack.
    pub cum: f64,
    /// Whether the node lies on the heaviest path ([`CallGraph::heaviest_path`]).
    pub hot: bool,
}

/// A call from one function to another, with the value that flowed through it.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The value of the stacks in which the caller called the callee directly.
    pub weight: f64,
    /// Whether the callee was inlined into the caller (jeprof draws these dashed).
    pub inline: bool,
    /// Whether the edge lies on the heaviest path.
    pub hot: bool,
}

/// How a graph is pruned: jeprof's options, with jeprof's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneOptions {
    /// Show at most this many functions (`--nodecount`, 80).
    pub nodecount: usize,
    /// Drop functions whose |cum| is at most this fraction of the total (`--nodefraction`,
    /// 0.005).
    pub nodefraction: f64,
    /// Drop edges whose |weight| is at most this fraction of the total (`--edgefraction`,
    /// 0.001) — except the heaviest edge into each function, kept so that it stays reachable.
    pub edgefraction: f64,
    /// Keep at most this many edges into and out of each function (`--maxdegree`, 8).
    pub maxdegree: usize,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            nodecount: 80,
            nodefraction: 0.005,
            edgefraction: 0.001,
            maxdegree: 8,
        }
    }
}

/// What the graph shows and what pruning left out: jeprof's legend, and a little more.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Legend {
    /// The program, where known (jeprof's first legend line).
    pub program: Option<String>,
    /// The shown value: `inuse_space`, `alloc_objects`, …
    pub value: String,
    /// Whether values are bytes (else objects, or a trace's events).
    pub bytes: bool,
    /// The unit values are counted in: `B`, `objects`, or a trace's event (`page-faults`).
    pub unit: String,
    /// The total of every sample before frames were dropped and stacks filtered (jeprof's
    /// `Total`).
    pub total: f64,
    /// The total of the stacks shown (jeprof's `Focusing on`): what percentages are of.
    pub shown_total: f64,
    /// `--focus`, when given.
    pub focus: Option<String>,
    /// `--ignore`, when given.
    pub ignore: Option<String>,
    /// Whether this is a `--base` difference: positive values grew, negative ones shrank.
    pub diff: bool,
    /// Functions were dropped when |cum| was at most this (jeprof's `Dropped nodes with <=`).
    pub node_limit: f64,
    /// Edges were dropped when |weight| was at most this.
    pub edge_limit: f64,
    /// Functions before pruning.
    pub all_nodes: usize,
    /// Edges before pruning.
    pub all_edges: usize,
    /// Whether the graph has been pruned.
    pub pruned: bool,
}

impl Legend {
    /// The legend's lines, as jeprof prints them (exact values, bytes also in the short form
    /// of [`format_value`]), then what this graph adds: focus, ignore, counts shown.
    pub fn lines(&self, shown_nodes: usize, shown_edges: usize) -> Vec<String> {
        let unit = &self.unit;
        let mut lines = Vec::new();
        if let Some(p) = &self.program {
            lines.push(p.clone());
        }
        let both = |v: f64| {
            if self.bytes {
                format!("{} ({})", exact_value(v), format_value(v, true))
            } else {
                exact_value(v)
            }
        };
        lines.push(format!("Total {unit}: {} {}", both(self.total), self.value));
        lines.push(format!("Focusing on: {}", both(self.shown_total)));
        if let Some(f) = &self.focus {
            lines.push(format!("Focus: {f}"));
        }
        if let Some(i) = &self.ignore {
            lines.push(format!("Ignore: {i}"));
        }
        if self.pruned {
            lines.push(format!(
                "Dropped nodes with <= {} abs({unit})",
                format_value(self.node_limit, self.bytes)
            ));
            lines.push(format!(
                "Dropped edges with <= {} {unit}",
                format_value(self.edge_limit, self.bytes)
            ));
            lines.push(format!(
                "Showing {shown_nodes} of {} functions, {shown_edges} of {} calls",
                self.all_nodes, self.all_edges
            ));
        }
        if self.diff {
            lines.push("Difference from --base: red grew, green shrank".to_string());
        }
        lines
    }
}

/// A call graph: functions with flat and cumulative values, calls weighted by the value that
/// flowed through them. Built from every stack of a [`View`] ([`CallGraph::from_view`]), then
/// usually [pruned](CallGraph::prune) and drawn ([`CallGraph::to_svg`], [`CallGraph::to_dot`]).
#[derive(Debug, Clone)]
pub struct CallGraph {
    graph: DiGraph<Node, Edge>,
    legend: Legend,
}

impl CallGraph {
    /// The whole graph of a view: every function of jeprof's text table (inlined frames as
    /// `name (inline)` nodes of their own, as jeprof shows them) with the same flat and cum
    /// values, and an edge for every pair of adjacent frames in a stack.
    ///
    /// Recursion is folded: a stack adds its value to a caller→callee edge once however often
    /// the pair recurs in it, and a function calling itself adds no edge. (jeprof draws such
    /// self-edges and counts each repetition; the values of its nodes are folded the same way
    /// as here.)
    pub fn from_view(view: &View<'_>) -> CallGraph {
        // Frame names as ids, computed once: a 250k-stack profile has millions of frames
        // but only thousands of names.
        let names = view.names(InlineNames::Jeprof);
        let table = view.functions_named(&names);
        CallGraph::from_table(view, &names, &table)
    }

    /// [`CallGraph::from_view`] from the view's names ([`View::names`] in
    /// [`InlineNames::Jeprof`] style) and its function table made from them
    /// ([`View::functions_named`]), where the caller has them already.
    pub fn from_table(view: &View<'_>, names: &Names, table: &FunctionTable) -> CallGraph {
        let k = view.value.index();
        let mut graph: DiGraph<Node, Edge> = DiGraph::new();
        let mut index: HashMap<&str, NodeIndex> = HashMap::with_capacity(table.rows.len());
        for row in &table.rows {
            let i = graph.add_node(Node {
                name: row.name.clone(),
                flat: row.flat,
                cum: row.cum,
                hot: false,
            });
            index.insert(&row.name, i);
        }
        let node_of: Vec<Option<NodeIndex>> = names
            .names
            .iter()
            .map(|n| index.get(n.as_str()).copied())
            .collect();
        // Per pair of adjacent frames' names (callee, caller): their edge, or none (a name
        // without a node, or a call to itself). A 250k-stack profile has millions of frames
        // but few such pairs: one look-up a pair of frames.
        let mut edge_of: FxHashMap<(u32, u32), Option<EdgeIndex>> = FxHashMap::default();
        // Per edge: the last stack that added its value (a stack adds to an edge once).
        let mut counted: Vec<usize> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (i, stack) in view.stacks.iter().enumerate() {
            let v = stack.values[k];
            ids.clear();
            for &loc in &stack.locations {
                ids.extend(&names.of_location[loc as usize]);
            }
            // Leaf first: frame i is called by frame i + 1.
            for w in ids.windows(2) {
                let edge = match edge_of.entry((w[0], w[1])) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(slot) => {
                        let (callee, caller) = (node_of[w[0] as usize], node_of[w[1] as usize]);
                        let edge = match (callee, caller) {
                            (Some(callee), Some(caller)) if callee != caller => {
                                counted.push(i);
                                Some(graph.add_edge(
                                    caller,
                                    callee,
                                    Edge {
                                        weight: v,
                                        inline: names.names[w[0] as usize].ends_with(" (inline)"),
                                        hot: false,
                                    },
                                ))
                            }
                            _ => None,
                        };
                        slot.insert(edge);
                        continue;
                    }
                };
                let Some(e) = edge else {
                    continue;
                };
                if counted[e.index()] != i {
                    counted[e.index()] = i;
                    graph[e].weight += v;
                }
            }
        }
        let legend = Legend {
            program: None,
            value: view.value_name().to_string(),
            bytes: view.value.is_space(),
            unit: view.unit_name().to_string(),
            total: view.total(),
            shown_total: table.total,
            all_nodes: graph.node_count(),
            all_edges: graph.edge_count(),
            ..Legend::default()
        };
        let mut g = CallGraph { graph, legend };
        g.mark_heaviest_path();
        g
    }

    /// Names the program in the legend, when it is known.
    pub fn with_program(mut self, program: Option<String>) -> Self {
        self.legend.program = program;
        self
    }

    /// Records the `--focus` and `--ignore` patterns the view was made with, for the legend.
    pub fn with_filters(mut self, focus: Option<&str>, ignore: Option<&str>) -> Self {
        self.legend.focus = focus.map(str::to_string);
        self.legend.ignore = ignore.map(str::to_string);
        self
    }

    /// Marks the graph as a `--base` difference: drawn with growth and shrinkage in
    /// different colours.
    pub fn with_diff(mut self, diff: bool) -> Self {
        self.legend.diff = diff;
        self
    }

    /// The graph pruned as jeprof's `PrintDot` prunes it:
    ///
    /// 1. Functions are ranked by |cum| (then name); the first `nodecount` are kept, less
    ///    those whose |cum| is at most `int(nodefraction × shown total)`.
    /// 2. Edges between kept functions are taken heaviest first (by signed weight, as jeprof
    ///    sorts them). An edge is kept if its callee has no kept incoming edge yet (so every
    ///    function stays reachable); otherwise it is dropped if |weight| is at most
    ///    `int(edgefraction × shown total)`, or if its caller already has `maxdegree`
    ///    outgoing or its callee `maxdegree` incoming edges.
    ///
    /// Edges join only functions adjacent in some stack: a call through a dropped function
    /// is not bridged, as in jeprof.
    pub fn prune(&self, options: &PruneOptions) -> CallGraph {
        let shown = self.legend.shown_total;
        // Perl's int(): toward zero.
        let node_limit = (options.nodefraction * shown).trunc();
        let edge_limit = (options.edgefraction * shown).trunc();

        let mut order: Vec<NodeIndex> = self.graph.node_indices().collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.graph[a], &self.graph[b]);
            b.cum
                .abs()
                .total_cmp(&a.cum.abs())
                .then_with(|| a.name.cmp(&b.name))
        });
        order.truncate(options.nodecount);
        while order
            .last()
            .is_some_and(|&n| self.graph[n].cum.abs() <= node_limit)
        {
            order.pop();
        }

        let mut graph: DiGraph<Node, Edge> = DiGraph::with_capacity(order.len(), 0);
        let mut map: HashMap<NodeIndex, NodeIndex> = HashMap::with_capacity(order.len());
        for &old in &order {
            let mut node = self.graph[old].clone();
            node.hot = false;
            map.insert(old, graph.add_node(node));
        }

        let mut candidates: Vec<EdgeIndex> = self
            .graph
            .edge_indices()
            .filter(|&e| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
                map.contains_key(&a) && map.contains_key(&b)
            })
            .collect();
        candidates.sort_by(|&x, &y| {
            let (wx, wy) = (self.graph[x].weight, self.graph[y].weight);
            wy.total_cmp(&wx)
                .then_with(|| self.edge_names(x).cmp(&self.edge_names(y)))
        });
        let mut indegree: HashMap<NodeIndex, usize> = HashMap::new();
        let mut outdegree: HashMap<NodeIndex, usize> = HashMap::new();
        for e in candidates {
            let (src, dst) = self.graph.edge_endpoints(e).expect("edge exists");
            let edge = &self.graph[e];
            let inn = indegree.get(&dst).copied().unwrap_or(0);
            let out = outdegree.get(&src).copied().unwrap_or(0);
            let keep = if inn == 0 {
                true
            } else if edge.weight.abs() <= edge_limit {
                false
            } else {
                out < options.maxdegree && inn < options.maxdegree
            };
            if keep {
                *indegree.entry(dst).or_default() += 1;
                *outdegree.entry(src).or_default() += 1;
                let mut edge = edge.clone();
                edge.hot = false;
                graph.add_edge(map[&src], map[&dst], edge);
            }
        }

        let mut legend = self.legend.clone();
        legend.node_limit = node_limit;
        legend.edge_limit = edge_limit;
        legend.pruned = true;
        let mut g = CallGraph { graph, legend };
        g.mark_heaviest_path();
        g
    }

    fn edge_names(&self, e: EdgeIndex) -> (&str, &str) {
        let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
        (&self.graph[a].name, &self.graph[b].name)
    }

    /// The legend.
    pub fn legend(&self) -> &Legend {
        &self.legend
    }

    /// The underlying petgraph graph: nodes are functions, edges go from caller to callee.
    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    /// The functions.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.graph.node_weights()
    }

    /// The calls, as (caller, callee, edge).
    pub fn edges(&self) -> impl Iterator<Item = (&Node, &Node, &Edge)> + '_ {
        self.graph
            .edge_references()
            .map(|e| (&self.graph[e.source()], &self.graph[e.target()], e.weight()))
    }

    /// The function of this name, if the graph has it.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.graph.node_weights().find(|n| n.name == name)
    }

    /// Every function with the `id` its node has in [`CallGraph::to_svg`] (`cg-node-N`), for
    /// links into the drawing.
    pub fn node_ids(&self) -> Vec<(String, String)> {
        self.graph
            .node_indices()
            .map(|n| (self.graph[n].name.clone(), node_id(n.index())))
            .collect()
    }

    /// The heaviest path, callers first: from the root with the largest |cum| (a function no
    /// edge enters; failing that, the function with the largest |cum|), down the heaviest
    /// outgoing edge at each step, until a function calls nothing new.
    pub fn heaviest_path(&self) -> Vec<&Node> {
        self.heaviest_path_indices()
            .0
            .into_iter()
            .map(|n| &self.graph[n])
            .collect()
    }

    fn heaviest_path_indices(&self) -> (Vec<NodeIndex>, Vec<EdgeIndex>) {
        let by_cum = |a: &NodeIndex, b: &NodeIndex| {
            let (x, y) = (&self.graph[*a], &self.graph[*b]);
            x.cum
                .abs()
                .total_cmp(&y.cum.abs())
                .then_with(|| y.name.cmp(&x.name))
        };
        let roots = self.graph.node_indices().filter(|&n| {
            self.graph
                .edges_directed(n, Direction::Incoming)
                .next()
                .is_none()
        });
        let Some(mut at) = roots
            .max_by(by_cum)
            .or_else(|| self.graph.node_indices().max_by(by_cum))
        else {
            return (Vec::new(), Vec::new());
        };
        let mut nodes = vec![at];
        let mut edges = Vec::new();
        let mut visited: HashSet<NodeIndex> = HashSet::from([at]);
        loop {
            let next = self
                .graph
                .edges_directed(at, Direction::Outgoing)
                .filter(|e| !visited.contains(&e.target()))
                .max_by(|a, b| {
                    a.weight()
                        .weight
                        .abs()
                        .total_cmp(&b.weight().weight.abs())
                        .then_with(|| {
                            self.graph[b.target()]
                                .name
                                .cmp(&self.graph[a.target()].name)
                        })
                });
            let Some(e) = next else { break };
            if e.weight().weight == 0.0 {
                break;
            }
            edges.push(e.id());
            at = e.target();
            visited.insert(at);
            nodes.push(at);
        }
        (nodes, edges)
    }

    fn mark_heaviest_path(&mut self) {
        let (nodes, edges) = self.heaviest_path_indices();
        for n in nodes {
            self.graph[n].hot = true;
        }
        for e in edges {
            self.graph[e].hot = true;
        }
    }

    /// A percentage of the shown total, as jeprof's `Percent` writes it (`12.5%`, `nan`,
    /// `+inf`, `-inf`).
    pub fn percent(&self, v: f64) -> String {
        percent(v, self.legend.shown_total)
    }
}

/// jeprof's `Percent` (one implementation, profile-import's).
pub use profile_import::percent;

/// A value for people: bytes as core-reader's [`human_bytes_f64`](core_reader::human_bytes_f64)
/// writes them (binary units, as jeprof's `MB` are), objects as a whole number. Truncated
/// toward zero first, as jeprof's `Unparse` truncates.
pub fn format_value(v: f64, bytes: bool) -> String {
    let v = v.trunc();
    if bytes {
        core_reader::human_bytes_f64(v)
    } else {
        format!("{v:.0}")
    }
}

/// A value as jeprof's `--show_bytes` prints it: truncated to an integer.
pub fn exact_value(v: f64) -> String {
    format!("{}", v.trunc() as i64)
}

/// The SVG `id` of the node at `index`.
pub(crate) fn node_id(index: usize) -> String {
    format!("cg-node-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use profile_import::{
        read_bytes, symbolize, ModuleRef, Profile, SymbolFrame, Symbolize, ValueKind, ViewOptions,
    };
    use std::collections::HashMap;

    /// A profile of named stacks (leaf first) with byte values, unsampled.
    fn profile(stacks: &[(&[&str], u64)]) -> Profile {
        let mut names: HashMap<String, u64> = HashMap::new();
        let mut text = String::from("heap_v2/0\n  t*: 0: 0 [0: 0]\n");
        for (stack, bytes) in stacks {
            text.push('@');
            for n in *stack {
                let next = 0x1000 + 0x100 * names.len() as u64;
                let a = *names.entry(n.to_string()).or_insert(next);
                text.push_str(&format!(" {a:#x}"));
            }
            text.push_str(&format!("\n  t*: 1: {bytes} [0: 0]\n"));
        }
        let mut p = read_bytes(text.as_bytes()).unwrap().profile;
        struct Names(HashMap<u64, String>);
        impl Symbolize for Names {
            fn symbolize(&mut self, _: &ModuleRef<'_>, a: &[u64]) -> Vec<Vec<SymbolFrame>> {
                a.iter()
                    .map(|a| {
                        // Callers are looked up one byte early.
                        let name = self.0.get(a).or_else(|| self.0.get(&(a + 1)));
                        name.map(|n| SymbolFrame {
                            function: n.clone(),
                            file: None,
                            line: None,
                        })
                        .into_iter()
                        .collect()
                    })
                    .collect()
            }
        }
        let by_addr = names.into_iter().map(|(n, a)| (a, n)).collect();
        symbolize(&mut p, &mut Names(by_addr));
        p
    }

    fn graph_of(p: &Profile) -> CallGraph {
        let options = ViewOptions::new(ValueKind::InuseSpace, None, None).unwrap();
        CallGraph::from_view(&View::new(p, &options))
    }

    fn edge(g: &CallGraph, from: &str, to: &str) -> Option<f64> {
        g.edges()
            .find(|(a, b, _)| a.name == from && b.name == to)
            .map(|(_, _, e)| e.weight)
    }

    #[test]
    fn nodes_and_edges_carry_jeprofs_values() {
        let p = profile(&[(&["leaf", "mid", "main"], 300), (&["mid", "main"], 100)]);
        let g = graph_of(&p);
        let mid = g.node("mid").unwrap();
        assert_eq!((mid.flat, mid.cum), (100.0, 400.0));
        assert_eq!(edge(&g, "main", "mid"), Some(400.0));
        assert_eq!(edge(&g, "mid", "leaf"), Some(300.0));
        assert_eq!(g.legend().shown_total, 400.0);
        assert_eq!(g.percent(300.0), "75.0%");
    }

    #[test]
    fn recursion_is_folded() {
        let p = profile(&[(&["leaf", "rec", "rec", "rec", "main"], 100)]);
        let g = graph_of(&p);
        assert_eq!(g.node("rec").unwrap().cum, 100.0);
        assert_eq!(edge(&g, "rec", "rec"), None);
        assert_eq!(edge(&g, "main", "rec"), Some(100.0));
        assert_eq!(edge(&g, "rec", "leaf"), Some(100.0));
    }

    #[test]
    fn nodecount_and_nodefraction_drop_the_lightest_functions() {
        let names: Vec<String> = (0..100).map(|i| format!("f{i:03}")).collect();
        let stacks: Vec<(Vec<&str>, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (vec![n.as_str(), "main"], 1000 + i as u64 * 10))
            .collect();
        let refs: Vec<(&[&str], u64)> = stacks.iter().map(|(s, v)| (&s[..], *v)).collect();
        let g = graph_of(&profile(&refs));
        let pruned = g.prune(&PruneOptions::default());
        // main plus the 79 heaviest leaves.
        assert_eq!(pruned.graph().node_count(), 80);
        assert!(pruned.node("main").is_some());
        assert!(pruned.node("f099").is_some() && pruned.node("f020").is_none());
        // A node fraction of 1% of 149500 drops functions of at most int(1495.0).
        let pruned = g.prune(&PruneOptions {
            nodefraction: 0.01,
            ..PruneOptions::default()
        });
        assert_eq!(pruned.legend().node_limit, 1495.0);
        assert!(pruned.nodes().all(|n| n.cum > 1495.0));
        assert!(pruned.node("f050").is_some() && pruned.node("f049").is_none());
    }

    #[test]
    fn edges_keep_reachability_then_obey_fraction_and_degree() {
        // `hub` has ten callers; each caller also calls a private leaf with a tiny value.
        let callers: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let leaves: Vec<String> = (0..10).map(|i| format!("leaf{i}")).collect();
        let mut stacks: Vec<(Vec<&str>, u64)> = Vec::new();
        for (i, c) in callers.iter().enumerate() {
            stacks.push((vec!["hub", c.as_str(), "main"], 10_000 + i as u64 * 100));
            stacks.push((vec![leaves[i].as_str(), c.as_str(), "main"], 60));
        }
        let refs: Vec<(&[&str], u64)> = stacks.iter().map(|(s, v)| (&s[..], *v)).collect();
        let g = graph_of(&profile(&refs));
        assert_eq!(
            g.graph()
                .edges_directed(g_index(&g, "hub"), Direction::Incoming)
                .count(),
            10
        );
        let pruned = g.prune(&PruneOptions {
            nodefraction: 0.0,
            edgefraction: 0.001,
            ..PruneOptions::default()
        });
        // Ten callers into hub, but at most eight edges kept.
        let hub = g_index(&pruned, "hub");
        assert_eq!(
            pruned
                .graph()
                .edges_directed(hub, Direction::Incoming)
                .count(),
            8
        );
        // The heaviest callers win.
        assert!(edge(&pruned, "c9", "hub").is_some() && edge(&pruned, "c0", "hub").is_none());
        // Leaf edges are below the edge limit (int(0.001 × 105 100) = 105) but each is its
        // leaf's only way in, so each is kept.
        assert_eq!(pruned.legend().edge_limit, 105.0);
        for i in 0..10 {
            assert_eq!(
                edge(&pruned, &format!("c{i}"), &format!("leaf{i}")),
                Some(60.0)
            );
        }
    }

    #[test]
    fn the_heaviest_path_goes_down_the_heaviest_edges() {
        let p = profile(&[(&["big", "a", "main"], 700), (&["small", "b", "main"], 300)]);
        let g = graph_of(&p).prune(&PruneOptions::default());
        let path: Vec<&str> = g.heaviest_path().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(path, ["main", "a", "big"]);
        let svg = g.to_svg();
        assert_eq!(svg.matches("class=\"node hot\"").count(), 3);
        assert_eq!(svg.matches("class=\"edge hot\"").count(), 2);
    }

    #[test]
    fn dot_and_svg_escape_names() {
        // (Template arguments `<…>` are cut from names before they get here.)
        let p = profile(&[(&["q\"u'o&te", "operator<"], 10)]);
        let g = graph_of(&p).prune(&PruneOptions::default());
        let svg = g.to_svg();
        assert!(svg.contains("data-name=\"q&quot;u&#39;o&amp;te\""), "{svg}");
        assert!(svg.contains(">operator&lt;</tspan>"), "{svg}");
        assert!(!svg.contains("operator<<"));
        let dot = g.to_dot();
        assert!(dot.contains(r#"label="q\"u'o&te\n"#), "{dot}");
    }

    fn g_index(g: &CallGraph, name: &str) -> petgraph::graph::NodeIndex {
        g.graph()
            .node_indices()
            .find(|&i| g.graph()[i].name == name)
            .unwrap()
    }
}
