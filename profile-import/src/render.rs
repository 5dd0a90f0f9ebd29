//! Rendering a [`View`]: jeprof's text table, JSON, folded stacks and a dot graph.

use std::io::{self, Write};

use serde::Serialize;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::model::{Profile, Sampling, ValueKind};
use crate::view::{InlineNames, View};

/// jeprof's `Unparse` with `--show_bytes` (and for object counts): the value truncated toward
/// zero, as Perl's `%d` truncates a floating-point number.
fn unparse(v: f64) -> i64 {
    v.trunc() as i64
}

/// jeprof's `Percent`: one decimal, or `nan`/`+inf`/`-inf` when the total is zero.
pub fn percent(v: f64, total: f64) -> String {
    if total != 0.0 {
        format!("{:.1}%", v * 100.0 / total)
    } else if v == 0.0 {
        "nan".to_string()
    } else if v > 0.0 {
        "+inf".to_string()
    } else {
        "-inf".to_string()
    }
}

impl View<'_> {
    /// jeprof's `--text --show_bytes` report: `Total: N B` (or `objects`), then one row per
    /// function, `flat flat% sum% cum cum% name`, at most `nodecount` rows.
    pub fn write_text(&self, out: &mut dyn Write, nodecount: Option<usize>) -> io::Result<()> {
        let total = self.total();
        let unit = self.unit_name();
        if total != 0.0 {
            writeln!(out, "Total: {} {unit}", unparse(total))?;
        }
        let table = self.functions(InlineNames::Jeprof);
        let mut running = 0.0;
        for row in table.rows.iter().take(nodecount.unwrap_or(usize::MAX)) {
            running += row.flat;
            if row.flat != 0.0 || row.cum != 0.0 {
                writeln!(
                    out,
                    "{:>8} {:>6} {:>6} {:>8} {:>6} {}",
                    unparse(row.flat),
                    percent(row.flat, table.total),
                    percent(running, table.total),
                    unparse(row.cum),
                    percent(row.cum, table.total),
                    row.name
                )?;
            }
        }
        Ok(())
    }

    /// Folded stacks for flamegraph.pl, inferno and speedscope: `root;…;leaf value`, inlined
    /// functions as frames of their own, identical lines summed, sorted, values truncated.
    pub fn write_folded(&self, out: &mut dyn Write) -> io::Result<()> {
        let folded = self.folded();
        for i in 0..folded.len() {
            let (frames, v) = folded.stack(i);
            for (n, &id) in frames.iter().enumerate() {
                if n > 0 {
                    out.write_all(b";")?;
                }
                out.write_all(folded.names[id as usize].as_bytes())?;
            }
            writeln!(out, " {v}")?;
        }
        Ok(())
    }

    /// The lines of [`View::write_folded`] without their ends, each as its stack
    /// (`root;…;leaf`) and value: sorted by stack, identical stacks summed, values truncated,
    /// those that truncate to 0 left out.
    pub fn folded_stacks(&self) -> Vec<(String, i64)> {
        let folded = self.folded();
        (0..folded.len())
            .map(|i| (folded.line(i), folded.stack(i).1))
            .collect()
    }

    /// [`View::folded_stacks`] as name ids: the same stacks in the same order, without a
    /// string per stack (a 250k-stack profile has millions of frames but few names).
    pub fn folded(&self) -> Folded {
        let k = self.value.index();
        // `;` separates frames and a blank ends the stack in this format. Each name is
        // escaped once; names that escape alike are one name, as their lines are one line.
        let escape = |n: &str| n.replace(';', ":").replace(' ', "\u{a0}");
        let names = self.names(InlineNames::Plain);
        let mut escaped: Vec<String> = Vec::new();
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut intern = |n: String| {
            *ids.entry(n).or_insert_with_key(|n| {
                escaped.push(n.clone());
                (escaped.len() - 1) as u32
            })
        };
        let of_name: Vec<u32> = names.names.iter().map(|n| intern(escape(n))).collect();
        let unknown = intern(escape("[unknown stack]"));
        // A name a frame, but for inlined frames.
        let mut frames: Vec<u32> =
            Vec::with_capacity(self.stacks.iter().map(|s| s.locations.len()).sum());
        let mut stacks: Vec<(u32, u32, f64)> = Vec::with_capacity(self.stacks.len());
        // Per location, its frames' escaped names root first, one after the other: a
        // location's are `by_location[at[loc]..at[loc + 1]]`.
        let mut by_location: Vec<u32> = Vec::new();
        let mut at: Vec<usize> = vec![0];
        for of_location in &names.of_location {
            by_location.extend(of_location.iter().rev().map(|&id| of_name[id as usize]));
            at.push(by_location.len());
        }
        for s in &self.stacks {
            let start = frames.len();
            for &loc in s.locations.iter().rev() {
                let loc = loc as usize;
                match &by_location[at[loc]..at[loc + 1]] {
                    // Most locations are one frame: no copy of a slice (a call) for it.
                    &[one] => frames.push(one),
                    more => frames.extend_from_slice(more),
                }
            }
            if frames.len() == start {
                frames.push(unknown);
            }
            stacks.push((start as u32, frames.len() as u32, s.values[k]));
        }
        let line = |&(a, b, _): &(u32, u32, f64)| &frames[a as usize..b as usize];
        // A stable sort in the lines' text order: the values of identical lines are summed
        // in stack order, so the sums are the same to the last bit however the lines were
        // ordered before.
        let mut order: Vec<u32> = (0..stacks.len() as u32).collect();
        sort_lines(&mut order, &|i| line(&stacks[i as usize]), &escaped);
        // Read in text order, the stacks and their frames are scattered over megabytes: a
        // cache miss or more a line, each waited for where one thread compared and copied
        // them a line at a time. The stacks in text order with whether each line repeats
        // the one before, and the copies of the lines' frames, are made on rayon's threads;
        // only the values are summed on this one, in order.
        let sorted: Vec<((u32, u32, f64), bool)> = (0..order.len())
            .into_par_iter()
            .map(|j| {
                let s = &stacks[order[j] as usize];
                let repeats = j > 0 && line(s) == line(&stacks[order[j - 1] as usize]);
                (*s, repeats)
            })
            .collect();
        // Each line's first stack's frames, and the line's value.
        let mut kept: Vec<(u32, u32, i64)> = Vec::new();
        let mut j = 0;
        while j < sorted.len() {
            let ((a, b, mut v), _) = sorted[j];
            j += 1;
            while let Some(&((_, _, more), true)) = sorted.get(j) {
                v += more;
                j += 1;
            }
            let v = unparse(v);
            if v != 0 {
                kept.push((a, b, v));
            }
        }
        let mut folded = Folded {
            names: escaped,
            frames: Vec::new(),
            stacks: Vec::with_capacity(kept.len()),
        };
        let mut end = 0u32;
        for &(a, b, v) in &kept {
            folded.stacks.push((end, end + (b - a), v));
            end += b - a;
        }
        folded.frames = vec![0; end as usize];
        // The copies in blocks of consecutive lines, each block's frames one slice.
        let mut blocks = Vec::new();
        let mut rest = folded.frames.as_mut_slice();
        for (block, to) in kept
            .chunks(COPY_BLOCK)
            .zip(folded.stacks.chunks(COPY_BLOCK))
        {
            let len = (to[to.len() - 1].1 - to[0].0) as usize;
            let (this, after) = std::mem::take(&mut rest).split_at_mut(len);
            blocks.push((block, this));
            rest = after;
        }
        blocks.into_par_iter().for_each(|(block, mut to)| {
            for &(a, b, _) in block {
                let from = &frames[a as usize..b as usize];
                let (this, after) = std::mem::take(&mut to).split_at_mut(from.len());
                this.copy_from_slice(from);
                to = after;
            }
        });
        folded
    }

    /// The JSON document of `heapmortem profile --format json` (schema in the crate docs).
    pub fn write_json(&self, out: &mut dyn Write, nodecount: Option<usize>) -> io::Result<()> {
        let p = self.profile;
        let table = self.functions(InlineNames::Plain);
        let doc = JsonProfile {
            format: p.format.name(),
            sample_types: p
                .sample_types
                .iter()
                .map(|&k| JsonValueType {
                    r#type: p.value_name(k),
                    unit: k.unit(),
                })
                .collect(),
            sample_index: self.value_name(),
            sampling: sampling_json(p.sampling),
            totals: JsonTotals {
                inuse_objects: unparse(self.totals[ValueKind::InuseObjects.index()]),
                inuse_space: unparse(self.totals[ValueKind::InuseSpace.index()]),
                alloc_objects: unparse(self.totals[ValueKind::AllocObjects.index()]),
                alloc_space: unparse(self.totals[ValueKind::AllocSpace.index()]),
            },
            shown_total: unparse(table.total),
            functions: table
                .rows
                .iter()
                .filter(|r| r.flat != 0.0 || r.cum != 0.0)
                .take(nodecount.unwrap_or(usize::MAX))
                .map(|r| JsonFunction {
                    name: &r.name,
                    flat: unparse(r.flat),
                    cum: unparse(r.cum),
                })
                .collect(),
            samples: self
                .stacks
                .iter()
                .map(|s| JsonSample {
                    values: JsonValues {
                        inuse_objects: s.values[0],
                        inuse_space: s.values[1],
                        alloc_objects: s.values[2],
                        alloc_space: s.values[3],
                    },
                    frames: s
                        .locations
                        .iter()
                        .flat_map(|&l| self.json_frames(p, l))
                        .collect(),
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }

    fn json_frames<'p>(&self, p: &'p Profile, l: u32) -> Vec<JsonFrame<'p>> {
        let loc = &p.locations[l as usize];
        let module = loc
            .mapping
            .map(|m| p.mappings[m as usize].path.as_str())
            .filter(|m| !m.is_empty());
        let address = format!("0x{:x}", loc.address);
        if loc.lines.is_empty() {
            return vec![JsonFrame {
                address,
                function: None,
                module,
                file: None,
                line: None,
                inlined: false,
            }];
        }
        let last = loc.lines.len() - 1;
        loc.lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let f = &p.functions[line.function as usize];
                JsonFrame {
                    address: address.clone(),
                    function: Some(&f.name),
                    module,
                    file: (!f.filename.is_empty()).then_some(f.filename.as_str()),
                    line: (line.line != 0).then_some(line.line),
                    inlined: i < last,
                }
            })
            .collect()
    }
}

/// Folded stacks as ids into a table of escaped names ([`View::folded`]): stacks root
/// first, in the order of their lines' text, identical ones summed, values truncated and
/// none zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// The names as written in folded lines (`;` made `:`, blanks no-break spaces), no two
    /// alike.
    pub names: Vec<String>,
    /// Every stack's frames, one after the other.
    frames: Vec<u32>,
    /// Per stack: its frames' range in `frames`, and its value.
    stacks: Vec<(u32, u32, i64)>,
}

impl Folded {
    /// How many stacks.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Stack `i`: its frames as name ids, root first, and its value.
    pub fn stack(&self, i: usize) -> (&[u32], i64) {
        let (a, b, v) = self.stacks[i];
        (&self.frames[a as usize..b as usize], v)
    }

    /// Stack `i` as folded text, `root;…;leaf`, without its value.
    pub fn line(&self, i: usize) -> String {
        let (frames, _) = self.stack(i);
        let mut line = String::new();
        for (n, &id) in frames.iter().enumerate() {
            if n > 0 {
                line.push(';');
            }
            line.push_str(&self.names[id as usize]);
        }
        line
    }
}

/// How many lines [`View::folded`] copies in one piece of work on rayon's threads.
const COPY_BLOCK: usize = 4096;

/// Groups of at least this many stacks are sorted on other threads ([`sort_lines`]): a
/// 250k-stack profile splits into groups this large a few frames in.
const SORT_ON_THREADS: usize = 8192;

/// The frames of a stack, by its index.
type FramesOf<'a, 'f> = &'a (dyn Fn(u32) -> &'f [u32] + Sync);

/// Sorts `order` (stacks, by index) stably in the text order of their lines ([`text_order`]),
/// a frame at a time: at each depth the stacks are grouped by their frame there (and by
/// whether their line goes on after it; the lines that ended come first), the groups put in
/// order, and each group sorted on from the next frame. Comparing whole lines would compare
/// their long shared beginnings again and again. Groups of a few stacks are compared whole;
/// large ones are sorted on rayon's threads (each group alone, so in the same order).
fn sort_lines<'f>(order: &mut [u32], frames_of: FramesOf<'_, 'f>, names: &[String]) {
    sort_lines_with(order, frames_of, names, SORT_ON_THREADS);
}

/// [`sort_lines`], with groups of at least `on_threads` stacks sorted on other threads.
fn sort_lines_with<'f>(
    order: &mut [u32],
    frames_of: FramesOf<'_, 'f>,
    names: &[String],
    on_threads: usize,
) {
    rayon::scope(|scope| sort_groups(scope, order, 0, frames_of, names, on_threads));
}

/// Sorts the stacks of `order`, all alike before `depth`, from `depth` on ([`sort_lines`]).
fn sort_groups<'s, 'f: 's>(
    scope: &rayon::Scope<'s>,
    order: &'s mut [u32],
    depth: usize,
    frames_of: FramesOf<'s, 'f>,
    names: &'s [String],
    on_threads: usize,
) {
    /// A stack's key at a depth: none when its line ended before it, else its frame there
    /// and whether the line goes on.
    type Key = Option<(u32, bool)>;
    let mut work: Vec<(&'s mut [u32], usize)> = vec![(order, depth)];
    let mut keys: Vec<Key> = Vec::new();
    // Per key, its group in the stacks being grouped (`u32::MAX`: none yet): keys are frame
    // ids, fewer than the names, so a table, not a hash map, finds them.
    let slot_of = |key: Key| key.map_or(0, |(id, more)| 1 + 2 * id as usize + usize::from(more));
    let mut slots: Vec<u32> = vec![u32::MAX; 1 + 2 * names.len()];
    let mut group: Vec<u32> = Vec::new();
    let mut sorted: Vec<u32> = Vec::new();
    while let Some((order, depth)) = work.pop() {
        // The stacks' frames from `depth` on: those before are alike, and decide nothing.
        let from_depth = |i: u32| frames_of(i).get(depth..).unwrap_or_default();
        if order.len() <= 32 {
            order.sort_by(|&a, &b| text_order(names, from_depth(a), from_depth(b)));
            continue;
        }
        // Frames all the group's stacks share decide nothing either: go past them at once.
        // (A line that ends with them is grouped as ended, which sorts first, as it would
        // have at its last frame.)
        let first = from_depth(order[0]);
        let shared = order[1..].iter().fold(first.len(), |shared, &i| {
            let frames = from_depth(i);
            let n = shared.min(frames.len());
            first[..n]
                .iter()
                .zip(&frames[..n])
                .position(|(a, b)| a != b)
                .unwrap_or(n)
        });
        let depth = depth + shared;
        keys.clear();
        group.clear();
        for &i in order.iter() {
            let frames = frames_of(i);
            let key = frames.get(depth).map(|&id| (id, frames.len() > depth + 1));
            let slot = &mut slots[slot_of(key)];
            if *slot == u32::MAX {
                *slot = keys.len() as u32;
                keys.push(key);
            }
            group.push(*slot);
        }
        for &key in &keys {
            slots[slot_of(key)] = u32::MAX;
        }
        // The groups in text order, then the stacks by group, each group in stack order.
        let mut ranked: Vec<u32> = (0..keys.len() as u32).collect();
        ranked.sort_by(|&a, &b| key_order(names, keys[a as usize], keys[b as usize]));
        let mut rank = vec![0u32; keys.len()];
        for (r, &k) in ranked.iter().enumerate() {
            rank[k as usize] = r as u32;
        }
        let mut next = vec![0usize; keys.len() + 1];
        for &g in &group {
            next[rank[g as usize] as usize + 1] += 1;
        }
        for r in 1..next.len() {
            next[r] += next[r - 1];
        }
        let bounds = next.clone();
        sorted.clear();
        sorted.resize(order.len(), 0);
        for (&i, &g) in order.iter().zip(&group) {
            let r = rank[g as usize] as usize;
            sorted[next[r]] = i;
            next[r] += 1;
        }
        order.copy_from_slice(&sorted);
        // Each group that goes on, sorted from the next frame: here, or on another thread.
        let mut rest = order;
        for (r, &k) in ranked.iter().enumerate() {
            let (this, after) = std::mem::take(&mut rest).split_at_mut(bounds[r + 1] - bounds[r]);
            rest = after;
            if let Some((_, true)) = keys[k as usize] {
                if this.len() >= on_threads {
                    scope.spawn(move |scope| {
                        sort_groups(scope, this, depth + 1, frames_of, names, on_threads)
                    });
                } else {
                    work.push((this, depth + 1));
                }
            }
        }
    }
}

/// How two stacks compare at a frame where all before it is the same ([`sort_lines`]' keys):
/// as [`text_order`] decides there.
fn key_order(
    names: &[String],
    a: Option<(u32, bool)>,
    b: Option<(u32, bool)>,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ((x, x_more), (y, y_more)) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    if x == y {
        // The line that ends at this frame first.
        return x_more.cmp(&y_more);
    }
    let (x, y) = (names[x as usize].as_bytes(), names[y as usize].as_bytes());
    let common = x.len().min(y.len());
    match x[..common].cmp(&y[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let after = |more: bool| more.then_some(b';');
    match x.len().cmp(&y.len()) {
        Ordering::Less => after(x_more).cmp(&Some(y[common])),
        Ordering::Greater => Some(x[common]).cmp(&after(y_more)),
        Ordering::Equal => Ordering::Equal,
    }
}

/// How two stacks of name ids compare as their folded text (`a;b;c`), without writing it:
/// the first frames that differ decide by their names' bytes; where one name is the start
/// of the other, by what follows the shorter one in its line (`;` or the line's end). No
/// name holds `;` and no two names are alike, so this is the text's order exactly.
fn text_order(names: &[String], a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let key = |line: &[u32]| Some((line[i], i + 1 < line.len()));
    key_order(names, key(a), key(b))
}

fn sampling_json(s: Sampling) -> JsonSampling {
    match s {
        Sampling::Unsampled => JsonSampling {
            kind: "none",
            period: None,
        },
        Sampling::Poisson { period } => JsonSampling {
            kind: "poisson",
            period: Some(period),
        },
        Sampling::Uniform { adjustment } => JsonSampling {
            kind: "uniform",
            period: Some(adjustment * 2.0),
        },
    }
}

#[derive(Serialize)]
struct JsonProfile<'a> {
    format: &'static str,
    sample_types: Vec<JsonValueType<'a>>,
    sample_index: &'a str,
    sampling: JsonSampling,
    totals: JsonTotals,
    shown_total: i64,
    functions: Vec<JsonFunction<'a>>,
    samples: Vec<JsonSample<'a>>,
}

#[derive(Serialize)]
struct JsonValueType<'a> {
    r#type: &'a str,
    unit: &'static str,
}

#[derive(Serialize)]
struct JsonSampling {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<f64>,
}

#[derive(Serialize)]
struct JsonTotals {
    inuse_space: i64,
    inuse_objects: i64,
    alloc_space: i64,
    alloc_objects: i64,
}

#[derive(Serialize)]
struct JsonFunction<'a> {
    name: &'a str,
    flat: i64,
    cum: i64,
}

#[derive(Serialize)]
struct JsonValues {
    inuse_space: f64,
    inuse_objects: f64,
    alloc_space: f64,
    alloc_objects: f64,
}

#[derive(Serialize)]
struct JsonSample<'a> {
    values: JsonValues,
    frames: Vec<JsonFrame<'a>>,
}

#[derive(Serialize)]
struct JsonFrame<'a> {
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    inlined: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random numbers below `n`, the same ones for a seed (a linear congruential
    /// generator: the tests need variety, not quality).
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        }
    }

    /// Stacks of names that start other names, sorted a frame at a time and as whole lines
    /// of text, in the same order (identical stacks in their first order).
    #[test]
    fn lines_sort_as_their_text() {
        let names: Vec<String> = ["f", "f0", "f-", "g", "f\u{a0}", "ab", "a", "f00"]
            .iter()
            .map(|n| n.to_string())
            .collect();
        let mut next = numbers(12345);
        let stacks: Vec<Vec<u32>> = (0..3000)
            .map(|_| {
                let depth = 1 + next(6) as usize;
                (0..depth)
                    .map(|_| next(names.len() as u64) as u32)
                    .collect()
            })
            .collect();
        let text = |s: &[u32]| {
            let frames: Vec<&str> = s.iter().map(|&i| names[i as usize].as_str()).collect();
            frames.join(";")
        };
        let mut by_text: Vec<u32> = (0..stacks.len() as u32).collect();
        by_text.sort_by(|&a, &b| text(&stacks[a as usize]).cmp(&text(&stacks[b as usize])));
        for on_threads in [2, 100, usize::MAX] {
            let mut by_frames: Vec<u32> = (0..stacks.len() as u32).collect();
            sort_lines_with(&mut by_frames, &|i| &stacks[i as usize], &names, on_threads);
            assert_eq!(by_text, by_frames);
        }
    }

    /// Folded stacks over several blocks of copies, with many stacks of one line (locations
    /// that share a function) and lines whose value truncates to zero: as the lines sorted
    /// as text, identical ones summed in order, none zero.
    #[test]
    fn folded_lines_summed_in_text_order() {
        use crate::{Format, Function, Line, ProfileBuilder, ProfileKind, ViewOptions};
        let mut next = numbers(777);
        let mut b = ProfileBuilder::new(
            Format::JemallocHeapV2,
            ProfileKind::Heap,
            Sampling::Unsampled,
        );
        for _ in 0..30_000 {
            let frames: Vec<u64> = (0..1 + next(7)).map(|_| 0x1000 + next(60)).collect();
            b.stack(&frames, [1.0, next(4) as f64 * 0.5, 0.0, 0.0]);
        }
        let mut profile = b.build();
        let names = ["main", "step", "walk", "run", "grow", "emit", "f", "f0"];
        profile.functions = names
            .iter()
            .map(|&n| Function {
                name: n.to_string(),
                system_name: n.to_string(),
                filename: String::new(),
            })
            .collect();
        for loc in &mut profile.locations {
            let function = (loc.address % names.len() as u64) as u32;
            loc.lines = vec![Line { function, line: 0 }];
        }
        let options = ViewOptions {
            value: ValueKind::InuseSpace,
            focus: None,
            ignore: None,
        };
        let view = View::new(&profile, &options);
        let mut lines: Vec<(String, f64)> = view
            .stacks
            .iter()
            .map(|s| {
                let frames: Vec<&str> = s
                    .locations
                    .iter()
                    .rev()
                    .map(|&l| {
                        let f = profile.locations[l as usize].lines[0].function;
                        names[f as usize]
                    })
                    .collect();
                (frames.join(";"), s.values[ValueKind::InuseSpace.index()])
            })
            .collect();
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected: Vec<(String, i64)> = Vec::new();
        let mut sum = 0.0;
        for (i, (line, v)) in lines.iter().enumerate() {
            sum += v;
            if lines.get(i + 1).is_none_or(|n| &n.0 != line) {
                if sum.trunc() != 0.0 {
                    expected.push((line.clone(), sum.trunc() as i64));
                }
                sum = 0.0;
            }
        }
        assert!(expected.len() > 2 * COPY_BLOCK);
        assert!(expected.len() < view.stacks.len());
        assert_eq!(view.folded_stacks(), expected);
    }
}
