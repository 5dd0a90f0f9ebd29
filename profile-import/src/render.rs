//! Rendering a [`View`]: jeprof's text table, JSON, folded stacks and a dot graph.

use std::io::{self, Write};

use serde::Serialize;

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
        for (line, v) in self.folded_stacks() {
            writeln!(out, "{line} {v}")?;
        }
        Ok(())
    }

    /// The lines of [`View::write_folded`] without their ends, each as its stack
    /// (`root;…;leaf`) and value: sorted by stack, identical stacks summed, values truncated,
    /// those that truncate to 0 left out.
    pub fn folded_stacks(&self) -> Vec<(String, i64)> {
        let k = self.value.index();
        // `;` separates frames and a blank ends the stack in this format. Each name is
        // escaped once: a 250k-stack profile has millions of frames but few names.
        let escape = |n: &str| n.replace(';', ":").replace(' ', "\u{a0}");
        let names = self.names(InlineNames::Plain);
        let escaped: Vec<String> = names.names.iter().map(|n| escape(n)).collect();
        let mut lines: Vec<(String, f64)> = Vec::with_capacity(self.stacks.len());
        for s in &self.stacks {
            let mut line = String::new();
            let mut frames = 0;
            for &loc in s.locations.iter().rev() {
                for &id in names.of_location[loc as usize].iter().rev() {
                    if frames > 0 {
                        line.push(';');
                    }
                    line.push_str(&escaped[id as usize]);
                    frames += 1;
                }
            }
            if frames == 0 {
                line = escape("[unknown stack]");
            }
            lines.push((line, s.values[k]));
        }
        // A stable sort: the values of identical lines are summed in stack order, so the
        // sums are the same to the last bit however the lines were ordered before.
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        let mut folded: Vec<(String, i64)> = Vec::with_capacity(lines.len());
        let mut lines = lines.into_iter().peekable();
        while let Some((line, mut v)) = lines.next() {
            while let Some((_, more)) = lines.next_if(|(next, _)| *next == line) {
                v += more;
            }
            let v = unparse(v);
            if v != 0 {
                folded.push((line, v));
            }
        }
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
