//! Java agents' `--- heapz 1 ---` heap profiles: `name = value` attributes, then
//! `bytes count @ id id …` stacks, then one `0xID function (File.java:line)` line per id.
//!
//! jeprof cannot read this format (it takes the attribute lines for a CPU profile header);
//! google/pprof reads it in `profile/legacy_java_profile.go`, and this reader follows it
//! exactly, since pprof is the only ground truth there is:
//! - values are Poisson-sampled with a fixed period of 512 KiB (`javaHeapzSamplingRate`) and,
//!   unlike every other reader here, truncated to integers per sample, as pprof does;
//! - the ids are not addresses: they are kept as they are (no caller adjustment);
//! - a location line `function (File.java:line)` names function, file and line;
//!   `function (path/lib.so)` names the library's base name as the file; a line containing
//!   `generated stub/JIT` is the function `STUB`; anything else is the function name.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::OnceLock;

use regex::Regex;

use crate::legacy::parse_stack;
use crate::lines::{Line, LineReader, Skipped};
use crate::model::{
    Format, Function, FunctionTable, Location, Profile, ProfileKind, Sample, Sampling, ValueKind,
};
use crate::sampling::unsample;
use crate::{Error, Parsed};

/// The sampling period pprof assumes for every Java heapz profile.
const JAVA_PERIOD: f64 = 524288.0;

fn file_line_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(.*)\s+\((.+):(-?\d+)\)$").expect("valid regex"))
}

fn path_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(.*)\s+\((.*)\)$").expect("valid regex"))
}

enum Section {
    Attributes,
    Samples,
    Locations,
}

/// Reads a Java heapz profile whose `--- heapz 1 ---` line was already read; `next` is the
/// line after it (line `next_number`), if the caller had to read it to tell the format.
pub(crate) fn read<R: BufRead>(
    mut lines: LineReader<R>,
    next: Option<&str>,
    next_number: u64,
) -> Result<Parsed, Error> {
    let sampling = Sampling::Poisson {
        period: JAVA_PERIOD,
    };
    let mut profile = Profile::new(Format::JavaHeapz, ProfileKind::Heap, sampling);
    profile.sample_types = vec![ValueKind::InuseObjects, ValueKind::InuseSpace];
    let mut reader = JavaReader {
        profile,
        skipped: Skipped::default(),
        ids: HashMap::new(),
        functions: FunctionTable::default(),
        section: Section::Attributes,
    };
    if let Some(text) = next {
        reader.line(next_number, text)?;
    }
    while let Some((n, line)) = lines.next_line() {
        match line {
            Line::Text(t) => reader.line(n, t)?,
            Line::Bad(why) => reader.skipped.skip(n, why),
        }
    }
    lines.finish(&mut reader.skipped);
    Ok(Parsed {
        profile: reader.profile,
        skipped: reader.skipped,
    })
}

struct JavaReader {
    profile: Profile,
    skipped: Skipped,
    ids: HashMap<u64, u32>,
    functions: FunctionTable,
    section: Section,
}

impl JavaReader {
    fn line(&mut self, n: u64, text: &str) -> Result<(), Error> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        if let Section::Attributes = self.section {
            if let Some((name, value)) = text.split_once('=') {
                if name.trim() == "format" && value.trim() != "java" {
                    return Err(Error::BadHeader {
                        line: n,
                        message: format!("heapz format `{}` is not java", value.trim()),
                    });
                }
                return Ok(());
            }
            self.section = Section::Samples;
        }
        if let Section::Samples = self.section {
            match sample_line(text) {
                Some(Ok((bytes, count, stack))) => {
                    self.sample(n, bytes, count, &stack);
                    return Ok(());
                }
                Some(Err(e)) => {
                    self.skipped.skip(n, e);
                    return Ok(());
                }
                None => self.section = Section::Locations,
            }
        }
        self.location(text);
        Ok(())
    }

    fn sample(&mut self, n: u64, bytes: u64, count: u64, stack: &[u64]) {
        if count == 0 {
            self.skipped.skip(n, "a sample with a count of 0");
            return;
        }
        let sampling = self.profile.sampling;
        let v = unsample(sampling, [count as f64, bytes as f64, 0.0, 0.0]);
        let profile = &mut self.profile;
        let locations = stack
            .iter()
            .map(|&id| {
                *self.ids.entry(id).or_insert_with(|| {
                    profile.locations.push(Location {
                        address: id,
                        mapping: None,
                        lines: Vec::new(),
                    });
                    (profile.locations.len() - 1) as u32
                })
            })
            .collect();
        profile.samples.push(Sample {
            locations,
            values: [v[0].trunc(), v[1].trunc(), 0.0, 0.0],
        });
    }

    /// A `0xID what` line; others are ignored, as pprof ignores them.
    fn location(&mut self, text: &str) {
        let Some(rest) = text.strip_prefix("0x") else {
            return;
        };
        let (id, what) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let Ok(id) = u64::from_str_radix(id, 16) else {
            return;
        };
        let Some(&loc) = self.ids.get(&id) else {
            return;
        };
        let what = what.trim();
        let (name, file, line) = if let Some(c) = file_line_re().captures(what) {
            let line = c[3].parse::<u32>().unwrap_or(0);
            (c[1].to_string(), c[2].to_string(), line)
        } else if let Some(c) = path_re().captures(what) {
            let base = c[2].rsplit('/').next().unwrap_or("").to_string();
            (c[1].to_string(), base, 0)
        } else if what.contains("generated stub/JIT") {
            ("STUB".to_string(), String::new(), 0)
        } else {
            (what.to_string(), String::new(), 0)
        };
        let function = self.functions.intern(
            &mut self.profile,
            Function {
                system_name: name.clone(),
                name,
                filename: file,
            },
        );
        self.profile.locations[loc as usize].lines = vec![crate::Line { function, line }];
    }
}

/// A sample line's bytes, count and ids.
type SampleLine = (u64, u64, Vec<u64>);

/// `bytes count @ ids`, or None when the line is no sample line at all.
fn sample_line(text: &str) -> Option<Result<SampleLine, String>> {
    let (counts, stack) = text.split_once('@')?;
    let mut words = counts.split_ascii_whitespace();
    let bytes = words.next()?.parse::<u64>().ok()?;
    let count = words.next()?.parse::<u64>().ok()?;
    if words.next().is_some() {
        return None;
    }
    Some(parse_stack(stack).map(|s| (bytes, count, s)))
}
