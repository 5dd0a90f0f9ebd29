//! Several profiles into one, and `--base` subtraction (jeprof's `AddProfile` and
//! `SubtractProfile`).
//!
//! jeprof keys stacks by their addresses alone and symbolizes all of them with the first
//! file's memory map. Here a location is the same only if its address, its mapping (start,
//! end, offset, path) and its lines are, so dumps of differently laid out processes (ASLR)
//! stay apart instead of being mixed up; dumps of one process merge exactly as in jeprof.
//! Subtraction keeps negative values (jeprof without `--drop_negative`).

use std::collections::HashMap;

use crate::model::{FunctionTable, Line, Location, Profile, Sample};

/// Adds `other` to `into`, its values multiplied by `sign` (1 to add, -1 to subtract).
fn append(into: &mut Profile, other: Profile, sign: f64) {
    let mut mappings: Vec<u32> = Vec::with_capacity(other.mappings.len());
    for m in other.mappings {
        let existing = into.mappings.iter().position(|x| {
            (x.start, x.end, x.offset, &x.path) == (m.start, m.end, m.offset, &m.path)
        });
        mappings.push(match existing {
            Some(i) => i as u32,
            None => {
                into.mappings.push(m);
                (into.mappings.len() - 1) as u32
            }
        });
    }
    let mut functions = FunctionTable::of(into);
    let function_ids: Vec<u32> = other
        .functions
        .into_iter()
        .map(|f| functions.intern(into, f))
        .collect();
    let mut known: HashMap<(u64, Option<u32>, Vec<Line>), u32> = into
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| ((l.address, l.mapping, l.lines.clone()), i as u32))
        .collect();
    let location_ids: Vec<u32> = other
        .locations
        .into_iter()
        .map(|l| {
            let mapping = l.mapping.map(|m| mappings[m as usize]);
            let lines: Vec<Line> = l
                .lines
                .into_iter()
                .map(|line| Line {
                    function: function_ids[line.function as usize],
                    line: line.line,
                })
                .collect();
            *known
                .entry((l.address, mapping, lines.clone()))
                .or_insert_with(|| {
                    into.locations.push(Location {
                        address: l.address,
                        mapping,
                        lines,
                    });
                    (into.locations.len() - 1) as u32
                })
        })
        .collect();
    for s in other.samples {
        into.samples.push(Sample {
            locations: s
                .locations
                .iter()
                .map(|&l| location_ids[l as usize])
                .collect(),
            values: s.values.map(|v| v * sign),
        });
    }
    for k in other.sample_types {
        if !into.sample_types.contains(&k) {
            into.sample_types.push(k);
        }
    }
    into.sample_types.sort();
    into.threads.extend(other.threads);
}

/// Merges profiles into the first (format, kind and sampling are the first's).
/// `None` if there are none.
pub fn merge(profiles: impl IntoIterator<Item = Profile>) -> Option<Profile> {
    let mut it = profiles.into_iter();
    let mut first = it.next()?;
    for p in it {
        append(&mut first, p, 1.0);
    }
    Some(first)
}

/// Subtracts an earlier profile: what remains is the growth since `base`.
pub fn subtract(profile: &mut Profile, base: Profile) {
    append(profile, base, -1.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_bytes, ValueKind};

    fn parse(text: &str) -> Profile {
        read_bytes(text.as_bytes()).unwrap().profile
    }

    #[test]
    fn merges_and_subtracts_by_location() {
        let a = parse("heap_v2/0\n@ 0x10 0x20\n t*: 1: 100 [0: 0]\n");
        let b = parse("heap_v2/0\n@ 0x10 0x20\n t*: 2: 50 [0: 0]\n@ 0x30\n t*: 1: 7 [0: 0]\n");
        let mut m = merge([a.clone(), b]).unwrap();
        assert_eq!(m.locations.len(), 3);
        assert_eq!(m.total(ValueKind::InuseSpace), 157.0);
        subtract(&mut m, a);
        assert_eq!(m.total(ValueKind::InuseSpace), 57.0);
        assert_eq!(m.samples.last().unwrap().values[1], -100.0);
    }
}
