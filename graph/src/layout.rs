//! A layered (Sugiyama-style) layout of the call graph, callers above callees.
//!
//! Why not a crate: layout-rs (the one maintained pure-Rust layered layout) was tried first
//! and serves small graphs, but its coordinate placement grows far faster than the graph: on
//! 80 boxes and 250 labelled edges — a size jeprof's pruning allows — it took 24 s (8 s
//! without labels) in a release build, most of it in its Brandes–Köpf scheduler. A report
//! must open in seconds, so the steps are done here, each in near-linear time:
//!
//! 1. Cycles are broken by a depth-first search from the boxes in the order given (heaviest
//!    first): an edge back to a box on the search stack is laid out reversed.
//! 2. Boxes are ranked by longest path from the roots, on even layers; every edge then gets
//!    a dummy point on each layer it crosses, the first of which carries its label (so the
//!    label has room, as in Graphviz).
//! 3. Crossings are reduced by barycentre sweeps, down and up, a fixed number of times.
//! 4. Horizontal positions: each layer moves towards the mean position of its neighbours,
//!    keeping its order and the gaps between boxes exactly (a weighted isotonic regression,
//!    pool-adjacent-violators), alternating down and up sweeps.
//! 5. Edges are drawn through their dummy points as vertical-tangent cubic curves.

/// A point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub(crate) fn new(x: f64, y: f64) -> Point {
        Point { x, y }
    }
}

/// A box to place.
#[derive(Debug, Clone)]
pub(crate) struct BoxSpec {
    pub width: f64,
    pub height: f64,
}

/// An edge to route.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSpec {
    pub from: usize,
    pub to: usize,
    /// Width of its label (room is kept for it).
    pub label_width: f64,
    /// How much the edge matters (its weight): heavier edges pull harder when boxes are
    /// placed, so the heaviest path is straight.
    pub weight: f64,
}

/// Where things went.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placed {
    /// Top-left corner and size of each box, in input order.
    pub boxes: Vec<(Point, Point)>,
    /// Each edge's route, in input order (None for an edge from a box to itself).
    pub edges: Vec<Option<PlacedEdge>>,
}

/// An edge's route.
#[derive(Debug, Clone)]
pub(crate) struct PlacedEdge {
    /// From the caller's box to the callee's box.
    pub points: Vec<Point>,
    /// Where the label's text starts (left end, vertical middle).
    pub label_at: Point,
}

const NODE_GAP: f64 = 24.0;
const LABEL_GAP: f64 = 8.0;
const DUMMY_WIDTH: f64 = 6.0;
/// Room on a label's left for the edge itself: the edge runs down the left side of its label
/// vertex and the text sits to its right, as Graphviz places edge labels.
const LABEL_PAD: f64 = 10.0;
const LAYER_GAP: f64 = 22.0;
const LABEL_LAYER: f64 = 16.0;
const SWEEPS: usize = 8;
const PLACE_ROUNDS: usize = 6;

#[derive(Debug, Clone)]
struct Vertex {
    width: f64,
    height: f64,
    layer: usize,
    /// Position in its layer.
    order: usize,
    /// Centre x.
    x: f64,
    /// Whether it is a box (else a dummy point of an edge).
    real: bool,
    /// How far left of its centre the edge passes (label vertices: near their left side).
    shift: f64,
}

/// Lays out boxes and edges top to bottom.
pub(crate) fn place(boxes: &[BoxSpec], edges: &[EdgeSpec]) -> Placed {
    let n = boxes.len();
    if n == 0 {
        return Placed::default();
    }
    let valid = |e: &EdgeSpec| e.from < n && e.to < n && e.from != e.to;

    // 1. Break cycles: DFS in the given order; edges to a vertex on the stack are reversed.
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if valid(e) {
            out[e.from].push(i);
        }
    }
    let mut reversed = vec![false; edges.len()];
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&ei) = out[v].get(*next) {
                *next += 1;
                let w = edges[ei].to;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => reversed[ei] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    let dir = |i: usize| -> (usize, usize) {
        let e = &edges[i];
        if reversed[i] {
            (e.to, e.from)
        } else {
            (e.from, e.to)
        }
    };

    // 2. Longest-path ranks over the acyclic edges (Kahn's order).
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if valid(e) {
            let (a, b) = dir(i);
            succ[a].push(b);
            indeg[b] += 1;
        }
    }
    let mut rank = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut head = 0;
    while head < queue.len() {
        let v = queue[head];
        head += 1;
        for &w in &succ[v] {
            rank[w] = rank[w].max(rank[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push(w);
            }
        }
    }

    let mut vs: Vec<Vertex> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| Vertex {
            width: b.width,
            height: b.height,
            layer: rank[i] * 2,
            order: 0,
            x: 0.0,
            real: true,
            shift: 0.0,
        })
        .collect();
    // Each edge as a chain of vertices in layout direction, and which of them is the label.
    let mut chains: Vec<Option<(Vec<usize>, usize)>> = vec![None; edges.len()];
    for (i, e) in edges.iter().enumerate() {
        if !valid(e) {
            continue;
        }
        let (a, b) = dir(i);
        let (la, lb) = (vs[a].layer, vs[b].layer);
        let mut chain = vec![a];
        for layer in la + 1..lb {
            let width = if layer == la + 1 {
                e.label_width + LABEL_PAD
            } else {
                DUMMY_WIDTH
            };
            vs.push(Vertex {
                width,
                height: 0.0,
                layer,
                order: 0,
                x: 0.0,
                real: false,
                shift: if layer == la + 1 {
                    width / 2.0 - 2.0
                } else {
                    0.0
                },
            });
            chain.push(vs.len() - 1);
        }
        chain.push(b);
        chains[i] = Some((chain, 1));
    }
    let layers_count = vs.iter().map(|v| v.layer).max().unwrap_or(0) + 1;

    // Adjacency between consecutive layers, with weights.
    let mut up: Vec<Vec<(usize, f64)>> = vec![Vec::new(); vs.len()];
    let mut down: Vec<Vec<(usize, f64)>> = vec![Vec::new(); vs.len()];
    let max_w = edges
        .iter()
        .map(|e| e.weight.abs())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    for (i, c) in chains.iter().enumerate() {
        let Some((chain, _)) = c else { continue };
        let w = 1.0 + 4.0 * edges[i].weight.abs() / max_w;
        for pair in chain.windows(2) {
            down[pair[0]].push((pair[1], w));
            up[pair[1]].push((pair[0], w));
        }
    }

    // 3. Initial order: by a DFS over the chains from the boxes in the given order, so that
    // related vertices start close; then barycentre sweeps.
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layers_count];
    let mut placed_flag = vec![false; vs.len()];
    for root in 0..n {
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            if placed_flag[v] {
                continue;
            }
            placed_flag[v] = true;
            layers[vs[v].layer].push(v);
            for &(w, _) in down[v].iter().rev() {
                if !placed_flag[w] {
                    stack.push(w);
                }
            }
        }
    }
    for (v, flag) in placed_flag.iter().enumerate() {
        if !flag {
            layers[vs[v].layer].push(v);
        }
    }
    let renumber = |layers: &Vec<Vec<usize>>, vs: &mut Vec<Vertex>| {
        for layer in layers {
            for (o, &v) in layer.iter().enumerate() {
                vs[v].order = o;
            }
        }
    };
    renumber(&layers, &mut vs);
    for sweep in 0..SWEEPS {
        let downward = sweep % 2 == 0;
        let range: Vec<usize> = if downward {
            (1..layers_count).collect()
        } else {
            (0..layers_count.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let adj = if downward { &up } else { &down };
            let mut keyed: Vec<(f64, usize, usize)> = layers[l]
                .iter()
                .map(|&v| {
                    let (s, c) = adj[v].iter().fold((0.0, 0.0), |(s, c), &(w, _)| {
                        (s + vs[w].order as f64, c + 1.0)
                    });
                    let key = if c > 0.0 { s / c } else { vs[v].order as f64 };
                    (key, vs[v].order, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            layers[l] = keyed.into_iter().map(|(_, _, v)| v).collect();
            for (o, &v) in layers[l].iter().enumerate() {
                vs[v].order = o;
            }
        }
    }

    // 4. Horizontal placement: pack, then pull each layer towards its neighbours.
    let gap = |a: &Vertex, b: &Vertex| {
        if a.real && b.real {
            NODE_GAP
        } else {
            LABEL_GAP
        }
    };
    for layer in &layers {
        let mut x = 0.0;
        for (k, &v) in layer.iter().enumerate() {
            if k > 0 {
                let p = layer[k - 1];
                x += vs[p].width / 2.0 + gap(&vs[p], &vs[v]) + vs[v].width / 2.0;
            }
            vs[v].x = x;
        }
    }
    for round in 0..PLACE_ROUNDS * 2 {
        let downward = round % 2 == 0;
        let range: Vec<usize> = if downward {
            (1..layers_count).collect()
        } else {
            (0..layers_count.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let adj = if downward { &up } else { &down };
            let layer = &layers[l];
            let mut desired = Vec::with_capacity(layer.len());
            let mut weights = Vec::with_capacity(layer.len());
            for &v in layer {
                let (s, c) = adj[v].iter().fold((0.0, 0.0), |(s, c), &(w, wt)| {
                    (s + (vs[w].x - vs[w].shift) * wt, c + wt)
                });
                if c > 0.0 {
                    desired.push(s / c + vs[v].shift);
                    weights.push(c);
                } else {
                    desired.push(vs[v].x);
                    weights.push(0.05);
                }
            }
            let xs = fit_in_order(layer, &vs, &desired, &weights, &gap);
            for (k, &v) in layer.iter().enumerate() {
                vs[v].x = xs[k];
            }
        }
    }
    let min_x = layers
        .iter()
        .flatten()
        .map(|&v| vs[v].x - vs[v].width / 2.0)
        .fold(f64::INFINITY, f64::min);
    for v in vs.iter_mut() {
        v.x -= min_x;
    }

    // Vertical positions: each layer as tall as its tallest box; label layers are short.
    let mut layer_top = vec![0.0; layers_count];
    let mut layer_h = vec![0.0; layers_count];
    let mut y = 0.0;
    for l in 0..layers_count {
        let h = layers[l]
            .iter()
            .map(|&v| vs[v].height)
            .fold(0.0, f64::max)
            .max(if l % 2 == 1 { LABEL_LAYER } else { 0.0 });
        layer_top[l] = y;
        layer_h[l] = h;
        y += h + LAYER_GAP;
    }

    let mut placed = Placed {
        boxes: Vec::with_capacity(n),
        edges: vec![None; edges.len()],
    };
    for v in vs.iter().take(n) {
        let l = v.layer;
        let top = layer_top[l] + (layer_h[l] - v.height) / 2.0;
        placed.boxes.push((
            Point::new(v.x - v.width / 2.0, top),
            Point::new(v.width, v.height),
        ));
    }
    let mid_y = |l: usize| layer_top[l] + layer_h[l] / 2.0;
    for (i, c) in chains.iter().enumerate() {
        let Some((chain, label)) = c else { continue };
        let first = chain[0];
        let last = chain[chain.len() - 1];
        let (b0, b1) = (placed.boxes[first], placed.boxes[last]);
        let mut points = Vec::with_capacity(chain.len());
        points.push(Point::new(vs[first].x, b0.0.y + b0.1.y));
        let mut label_at = Point::new(vs[first].x, mid_y(vs[first].layer));
        for (k, &d) in chain[1..chain.len() - 1].iter().enumerate() {
            let y = mid_y(vs[d].layer);
            if k + 1 == *label {
                let left = vs[d].x - vs[d].width / 2.0;
                points.push(Point::new(vs[d].x - vs[d].shift, y));
                label_at = Point::new(left + LABEL_PAD, y);
            } else {
                points.push(Point::new(vs[d].x, y));
            }
        }
        points.push(Point::new(vs[last].x, b1.0.y));
        if reversed[i] {
            points.reverse();
        }
        placed.edges[i] = Some(PlacedEdge { points, label_at });
    }
    placed
}

/// Positions for a layer's vertices, in their order, as close as possible (weighted least
/// squares) to `desired`, with each pair of neighbours at least their half-widths and gap
/// apart: subtracting each vertex's minimum offset from the first turns this into an
/// isotonic regression, solved by pool-adjacent-violators.
fn fit_in_order(
    layer: &[usize],
    vs: &[Vertex],
    desired: &[f64],
    weights: &[f64],
    gap: &dyn Fn(&Vertex, &Vertex) -> f64,
) -> Vec<f64> {
    let mut offset = Vec::with_capacity(layer.len());
    let mut acc = 0.0;
    for (k, &v) in layer.iter().enumerate() {
        if k > 0 {
            let p = layer[k - 1];
            acc += vs[p].width / 2.0 + gap(&vs[p], &vs[v]) + vs[v].width / 2.0;
        }
        offset.push(acc);
    }
    // Blocks of (weighted mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(layer.len());
    for k in 0..layer.len() {
        let mut b = (desired[k] - offset[k], weights[k], 1usize);
        while let Some(&(m, w, c)) = blocks.last() {
            if m <= b.0 {
                break;
            }
            blocks.pop();
            let tw = w + b.1;
            b = ((m * w + b.0 * b.1) / tw, tw, c + b.2);
        }
        blocks.push(b);
    }
    let mut xs = Vec::with_capacity(layer.len());
    for (m, _, c) in blocks {
        for _ in 0..c {
            let k = xs.len();
            xs.push(m + offset[k]);
        }
    }
    xs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<BoxSpec> {
        (0..n)
            .map(|i| BoxSpec {
                width: 40.0 + (i % 7) as f64 * 10.0,
                height: 30.0 + (i % 3) as f64 * 12.0,
            })
            .collect()
    }

    fn overlap(a: (Point, Point), b: (Point, Point)) -> bool {
        a.0.x < b.0.x + b.1.x - 0.5
            && b.0.x < a.0.x + a.1.x - 0.5
            && a.0.y < b.0.y + b.1.y - 0.5
            && b.0.y < a.0.y + a.1.y - 0.5
    }

    fn random_graph(n: usize, m: usize, seed: &mut u64) -> Vec<EdgeSpec> {
        let mut rand = |k: usize| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed % k as u64) as usize
        };
        let mut edges: Vec<EdgeSpec> = Vec::new();
        let mut tries = 0;
        while edges.len() < m && tries < m * 20 {
            tries += 1;
            let (from, to) = (rand(n), rand(n));
            if from != to && !edges.iter().any(|e| e.from == from && e.to == to) {
                edges.push(EdgeSpec {
                    from,
                    to,
                    label_width: 40.0,
                    weight: rand(1000) as f64,
                });
            }
        }
        edges
    }

    #[test]
    fn every_box_and_edge_is_placed_without_overlap() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..12 {
            let n = 2 + round * 3;
            let b = boxes(n);
            let edges = random_graph(n, n * 2, &mut seed);
            let p = place(&b, &edges);
            assert_eq!(p.boxes.len(), n);
            assert!(p.edges.iter().all(Option::is_some), "round {round}");
            for i in 0..n {
                for j in i + 1..n {
                    assert!(
                        !overlap(p.boxes[i], p.boxes[j]),
                        "round {round}: {i} and {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_large_pruned_size_graph_is_laid_out() {
        // 80 boxes and 250 edges (layout-rs took 24 s on them). How fast is for a benchmark
        // to say: a timed test fails on a loaded machine.
        let mut seed: u64 = 7;
        let b = boxes(80);
        let edges = random_graph(80, 250, &mut seed);
        let p = place(&b, &edges);
        assert!(p.edges.iter().all(Option::is_some));
    }

    #[test]
    fn callers_are_above_callees_and_edges_join_their_boxes() {
        let b = boxes(4);
        let mut edges: Vec<EdgeSpec> = (0..3)
            .map(|i| EdgeSpec {
                from: i,
                to: i + 1,
                label_width: 30.0,
                weight: 1.0,
            })
            .collect();
        // A back edge (recursion through three functions) and a self edge.
        edges.push(EdgeSpec {
            from: 3,
            to: 1,
            label_width: 30.0,
            weight: 1.0,
        });
        edges.push(EdgeSpec {
            from: 2,
            to: 2,
            label_width: 30.0,
            weight: 1.0,
        });
        let p = place(&b, &edges);
        let ys: Vec<f64> = p.boxes.iter().map(|b| b.0.y).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        for (i, e) in edges.iter().enumerate().take(4) {
            let r = p.edges[i].as_ref().unwrap();
            let (from, to) = (p.boxes[e.from], p.boxes[e.to]);
            let (first, last) = (r.points[0], *r.points.last().unwrap());
            assert!(
                first.x >= from.0.x && first.x <= from.0.x + from.1.x,
                "edge {i}"
            );
            assert!(last.x >= to.0.x && last.x <= to.0.x + to.1.x, "edge {i}");
        }
        assert!(p.edges[4].is_none());
    }
}
