//! pprof's profile.proto out: the stacks of a [`View`] (allocator frames dropped, `--focus` /
//! `--ignore` applied) with their mappings, locations, functions and lines, gzipped, as
//! `go tool pprof` and google-pprof read it.

use std::collections::HashMap;
use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::model::{Sampling, ValueKind};
use crate::proto;
use crate::view::View;

/// The sample types written, in the order Go's runtime writes heap profiles.
const WRITTEN: [ValueKind; 4] = [
    ValueKind::AllocObjects,
    ValueKind::AllocSpace,
    ValueKind::InuseObjects,
    ValueKind::InuseSpace,
];

#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Strings {
        let mut s = Strings::default();
        // profile.proto: string_table[0] must be "".
        s.intern("");
        s
    }

    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

impl View<'_> {
    /// Writes the view as a gzipped profile.proto.
    ///
    /// Values are integers in profile.proto. Each sample's value is the difference of the
    /// truncated running sums, so every sample is within 1 of its estimate and the file's total
    /// is exactly the truncated total this crate prints.
    pub fn write_pprof(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut gz = GzEncoder::new(out, Compression::default());
        gz.write_all(&self.to_proto().encode_to_vec())?;
        gz.finish()?;
        Ok(())
    }

    fn to_proto(&self) -> proto::Profile {
        let p = self.profile;
        let mut strings = Strings::new();
        // A trace carries one value, its event counts.
        let kinds: &[ValueKind] = if p.event.is_some() {
            &[ValueKind::InuseObjects]
        } else {
            &WRITTEN
        };
        let sample_type = kinds
            .iter()
            .map(|&k| proto::ValueType {
                r#type: strings.intern(p.value_name(k)),
                unit: strings.intern(k.unit()),
            })
            .collect();

        let mut location_ids: HashMap<u32, u64> = HashMap::new();
        let mut mapping_ids: HashMap<u32, u64> = HashMap::new();
        let mut function_ids: HashMap<u32, u64> = HashMap::new();
        let mut out = proto::Profile {
            sample_type,
            ..Default::default()
        };
        let mut running = [0.0f64; 4];
        let mut written = [0i64; 4];
        for s in &self.stacks {
            let mut location_id = Vec::with_capacity(s.locations.len());
            for &l in &s.locations {
                let id = match location_ids.get(&l) {
                    Some(&id) => id,
                    None => {
                        let loc = &p.locations[l as usize];
                        let mapping_id = match loc.mapping {
                            Some(m) => *mapping_ids.entry(m).or_insert_with(|| {
                                let mapping = &p.mappings[m as usize];
                                let id = out.mapping.len() as u64 + 1;
                                out.mapping.push(proto::Mapping {
                                    id,
                                    memory_start: mapping.start,
                                    memory_limit: mapping.end,
                                    file_offset: mapping.offset,
                                    filename: strings.intern(&mapping.path),
                                    build_id: strings
                                        .intern(mapping.build_id.as_deref().unwrap_or("")),
                                    has_functions: !p.functions.is_empty(),
                                    has_filenames: !p.functions.is_empty(),
                                    has_line_numbers: !p.functions.is_empty(),
                                    has_inline_frames: !p.functions.is_empty(),
                                });
                                id
                            }),
                            None => 0,
                        };
                        let mut lines = Vec::with_capacity(loc.lines.len());
                        for line in &loc.lines {
                            let function_id =
                                *function_ids.entry(line.function).or_insert_with(|| {
                                    let f = &p.functions[line.function as usize];
                                    let id = out.function.len() as u64 + 1;
                                    out.function.push(proto::Function {
                                        id,
                                        name: strings.intern(&f.name),
                                        system_name: strings.intern(&f.system_name),
                                        filename: strings.intern(&f.filename),
                                        start_line: 0,
                                    });
                                    id
                                });
                            lines.push(proto::Line {
                                function_id,
                                line: i64::from(line.line),
                            });
                        }
                        let id = out.location.len() as u64 + 1;
                        out.location.push(proto::Location {
                            id,
                            mapping_id,
                            address: loc.address,
                            line: lines,
                            is_folded: false,
                        });
                        location_ids.insert(l, id);
                        id
                    }
                };
                location_id.push(id);
            }
            let value = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    running[i] += s.values[k.index()];
                    // `as` saturates at i64's bounds; a running sum that swings from one
                    // bound towards the other (only hostile input: a sample of ±1.8e19 bytes)
                    // saturates the difference too rather than overflowing.
                    let now = running[i].trunc() as i64;
                    let v = now.saturating_sub(written[i]);
                    written[i] = now;
                    v
                })
                .collect();
            out.sample.push(proto::Sample {
                location_id,
                value,
                label: Vec::new(),
            });
        }
        out.period_type = Some(proto::ValueType {
            r#type: strings.intern("space"),
            unit: strings.intern("bytes"),
        });
        out.period = match p.sampling {
            Sampling::Unsampled => 0,
            Sampling::Poisson { period } => period as i64,
            Sampling::Uniform { adjustment } => (adjustment * 2.0) as i64,
        };
        out.default_sample_type = strings.intern(self.value_name());
        out.string_table = strings.table;
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{read_bytes, ValueKind, View, ViewOptions};

    #[test]
    fn round_trips_through_the_reader() {
        let text =
            "heap_v2/524288\n@ 0x10 0x20\n t*: 1: 8 [0: 0]\n@ 0x10 0x30\n t*: 3: 24 [0: 0]\n";
        let p = read_bytes(text.as_bytes()).unwrap().profile;
        let options = ViewOptions {
            value: ValueKind::InuseSpace,
            focus: None,
            ignore: None,
        };
        let view = View::new(&p, &options);
        let mut bytes = Vec::new();
        view.write_pprof(&mut bytes).unwrap();
        let back = read_bytes(&bytes).unwrap();
        assert!(back.skipped.is_empty());
        let total = |p: &crate::Profile, k: ValueKind| p.total(k);
        // Totals survive as the truncated estimate.
        assert_eq!(
            total(&back.profile, ValueKind::InuseSpace),
            total(&p, ValueKind::InuseSpace).trunc()
        );
        assert_eq!(back.profile.samples.len(), 2);
        assert_eq!(back.profile.locations.len(), 3);
    }

    /// A trace written out reads back as the same trace: its event, its counts, its text
    /// view. (The `pprof_out` fuzz target's input: folded stacks, whose `samples/count` the
    /// reader refused as "not a heap profile"; perf's and DTrace's events the same.)
    #[test]
    fn traces_round_trip_through_the_reader() {
        let folded =
            include_bytes!("../tests/fuzz-regressions/pprof_out/folded-stacks-read-back.bin");
        let perf =
            b"prog 1 [000] 1.0: 1 page-faults:\n\t10 f (/bin/prog)\n\t20 main (/bin/prog)\n\n";
        let dtrace = b"\n  prog`f+0x1\n  prog`main+0x2\n  7\n";
        for (text, event, total) in [
            (&folded[..], "samples", 15953.0),
            (&perf[..], "page-faults", 1.0),
            (&dtrace[..], "count", 7.0),
        ] {
            let p = read_bytes(text).unwrap().profile;
            assert_eq!(p.event.as_deref(), Some(event));
            let options = ViewOptions::new(p.default_value(), None, None).unwrap();
            let (mut pprof, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
            let view = View::new(&p, &options);
            view.write_pprof(&mut pprof).unwrap();
            view.write_text(&mut before, None).unwrap();
            let back = read_bytes(&pprof).unwrap().profile;
            assert_eq!(back.event.as_deref(), Some(event), "{event}");
            assert!(back.is_trace());
            assert_eq!(back.total(ValueKind::InuseObjects), total, "{event}");
            View::new(&back, &options)
                .write_text(&mut after, None)
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&after),
                String::from_utf8_lossy(&before),
                "{event}"
            );
        }
    }

    /// A CPU profile is still no heap profile.
    #[test]
    fn a_cpu_profile_is_refused() {
        use crate::proto;
        use prost::Message;
        let profile = proto::Profile {
            sample_type: vec![
                proto::ValueType { r#type: 1, unit: 2 },
                proto::ValueType { r#type: 3, unit: 4 },
            ],
            string_table: ["", "samples", "count", "cpu", "nanoseconds"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        let err = read_bytes(&profile.encode_to_vec()).unwrap_err();
        assert!(err.to_string().contains("not a heap profile"), "{err}");
    }
}
