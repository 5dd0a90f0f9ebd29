//! pprof's profile.proto in: decoded with prost into [`crate::Profile`]. (Out is
//! [`crate::View::to_pprof`].)
//!
//! What is taken from the file: the four heap sample types by name (`inuse_objects`,
//! `inuse_space`, `alloc_objects`, `alloc_space`, and the legacy `objects`/`space`) — or, in
//! a file with no heap type, one counted sample type (`samples/count`: what
//! [`crate::View::to_pprof`] writes for a trace, and other tools for stack counts), read as a
//! trace of that event — mappings,
//! locations with their addresses and (if symbolized) lines, and functions. Values are taken
//! as they are: pprof writers (Go's runtime, pprof's own converters) un-sample before they
//! write. Location addresses are taken as lookup addresses, as pprof takes them.

use std::collections::HashMap;

use prost::Message;

use crate::lines::Skipped;
use crate::model::{
    Format, Function, Line, Location, Mapping, Profile, ProfileKind, Sample, Sampling, ValueKind,
};
use crate::proto;
use crate::{Error, Parsed};

/// The deepest stack kept; deeper ones are skipped (jeprof's limit for CPU profiles, 2^16).
const MAX_DEPTH: usize = 1 << 16;

/// Decodes a (decompressed) profile.proto.
pub(crate) fn read(bytes: &[u8]) -> Result<Parsed, Error> {
    let p = proto::Profile::decode(bytes).map_err(|e| Error::BadProto {
        message: e.to_string(),
    })?;
    let mut skipped = Skipped::default();
    let strings = &p.string_table;
    let string = |i: i64| -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| strings.get(i))
            .map_or("", String::as_str)
    };

    let mut kinds: Vec<Option<ValueKind>> = p
        .sample_type
        .iter()
        .map(|t| ValueKind::from_name(string(t.r#type)))
        .collect();
    // A trace (perf, DTrace, folded stacks) written out carries one type, its event counted
    // (export.rs): read back as that trace. A CPU profile (`samples/count` and
    // `cpu/nanoseconds`) is no heap profile and no such trace.
    let event = match &p.sample_type[..] {
        [only] if kinds == [None] && string(only.unit) == "count" => {
            kinds = vec![Some(ValueKind::InuseObjects)];
            Some(string(only.r#type).to_string())
        }
        _ => None,
    };
    if kinds.iter().all(Option::is_none) {
        let types: Vec<String> = p
            .sample_type
            .iter()
            .map(|t| format!("{}/{}", string(t.r#type), string(t.unit)))
            .collect();
        return Err(Error::NotHeap {
            types: if types.is_empty() {
                "none".to_string()
            } else {
                types.join(", ")
            },
        });
    }

    let mut profile = Profile::new(Format::Pprof, ProfileKind::Heap, Sampling::Unsampled);
    profile.event = event;
    profile.sample_types = {
        let mut k: Vec<ValueKind> = kinds.iter().flatten().copied().collect();
        k.sort();
        k.dedup();
        k
    };

    let mut mapping_ids = HashMap::new();
    for (i, m) in p.mapping.iter().enumerate() {
        let build_id = string(m.build_id);
        mapping_ids.insert(m.id, profile.mappings.len() as u32);
        profile.mappings.push(Mapping {
            start: m.memory_start,
            end: m.memory_limit,
            offset: m.file_offset,
            path: string(m.filename).to_string(),
            build_id: (!build_id.is_empty()).then(|| build_id.to_string()),
            // pprof lists the main binary first (profile.proto: "mapping[0] will be the main
            // binary").
            is_main: i == 0,
        });
    }

    let mut function_ids = HashMap::new();
    for f in &p.function {
        function_ids.insert(f.id, profile.functions.len() as u32);
        profile.functions.push(Function {
            name: string(f.name).to_string(),
            system_name: string(f.system_name).to_string(),
            filename: string(f.filename).to_string(),
        });
    }

    let mut location_ids = HashMap::new();
    for l in &p.location {
        let mut lines = Vec::with_capacity(l.line.len());
        for line in &l.line {
            match function_ids.get(&line.function_id) {
                Some(&function) => lines.push(Line {
                    function,
                    line: u32::try_from(line.line).unwrap_or(0),
                }),
                None => skipped.skip_record(format!("location {} names no known function", l.id)),
            }
        }
        location_ids.insert(l.id, profile.locations.len() as u32);
        profile.locations.push(Location {
            address: l.address,
            mapping: mapping_ids.get(&l.mapping_id).copied(),
            lines,
        });
    }

    'samples: for s in &p.sample {
        if s.location_id.len() > MAX_DEPTH {
            skipped.skip_record(format!("a stack of {} frames", s.location_id.len()));
            continue;
        }
        let mut locations = Vec::with_capacity(s.location_id.len());
        for id in &s.location_id {
            match location_ids.get(id) {
                Some(&l) => locations.push(l),
                None => {
                    skipped
                        .skip_record(format!("a sample names location {id}, which is not there"));
                    continue 'samples;
                }
            }
        }
        let mut values = [0.0; 4];
        for (kind, v) in kinds.iter().zip(&s.value) {
            if let Some(k) = kind {
                values[k.index()] = *v as f64;
            }
        }
        if values.iter().any(|&v| v != 0.0) {
            profile.samples.push(Sample { locations, values });
        }
    }
    crate::model::assign_mappings(&mut profile);
    Ok(Parsed { profile, skipped })
}
