// The bodies of the profile-import fuzz targets, shared with tests/robustness.rs (both
// `include!` this file, so the regression tests run exactly what the fuzzer runs).
//
// `read` reads any bytes (every parser by what the input looks like, gzipped or not) and runs
// one stage of five on it, picked by the input's length ([`exercise_one`]); the tests run
// every stage on each input ([`exercise`]). Everything on every input was thorough but slow
// (~14 executions/s on megabyte profiles; the fuzz script's -max_len cuts them to 8 KiB). The others each run
// one parser or one renderer on inputs cut to `MAX_INPUT` bytes, so each runs thousands of
// times a second: a parser target puts its format's header before the input (so every
// mutation reaches that parser), a renderer target reads the input as any profile, names
// its addresses, and runs one renderer. A renderer renders one value of the profile, picked
// by the input's length ([`pick`]).

use profile_import::{
    merge, read_bytes, subtract, symbolize, ModuleRef, Profile, SymbolFrame, Symbolize,
    ValueKind, View, ViewOptions,
};
use std::sync::LazyLock;

/// Names every address, some of
/// them like allocator entry points, with C++-like signatures for the name shortener.
struct Names;

impl Symbolize for Names {
    fn symbolize(&mut self, _module: &ModuleRef<'_>, addresses: &[u64]) -> Vec<Vec<SymbolFrame>> {
        const NAMES: [&str; 5] = [
            "malloc",
            "void std::vector<int>::push_back(int const&)",
            "f",
            "operator new(unsigned long)",
            "",
        ];
        addresses
            .iter()
            .map(|&a| {
                (0..(a % 3))
                    .map(|i| SymbolFrame {
                        function: NAMES[((a >> 4).wrapping_add(i) % 5) as usize].to_string(),
                        file: Some("x.cc".to_string()),
                        line: Some((a % 1000) as u32),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Reads `data` as a profile and runs everything on it: symbolize, every view and renderer
/// (of the value [`pick`] names), the pprof read-back, merge and subtract.
pub fn exercise(data: &[u8]) {
    let Some(profile) = parse(data) else {
        return;
    };
    let k = pick(data);
    render_text(&profile, k);
    render_json(&profile, k);
    render_folded(&profile, k);
    render_pprof(&profile, k);
    merge_subtract(profile);
}

/// [`exercise`] as the `read` target runs it: one stage of the five per input, picked by
/// its length as the value is, after the same reading and symbolizing. The other targets
/// cover each stage on its own; what only `read` reaches is the reading of any bytes (gzip,
/// every format's sniffing), and all five stages on every input cost it three times as
/// much. The tests run [`exercise`], every stage on each input.
pub fn exercise_one(data: &[u8]) {
    let Some(profile) = parse(data) else {
        return;
    };
    let k = pick(data);
    match k % 5 {
        0 => render_text(&profile, k / 5),
        1 => render_json(&profile, k / 5),
        2 => render_folded(&profile, k / 5),
        3 => render_pprof(&profile, k / 5),
        _ => merge_subtract(profile),
    }
}

/// Which value a run renders (and with which text options): the input's length picks it, so
/// inputs take each in turn. Every value on every input cost four times as much (twelve for
/// the text view's options) for paths that differ only in the column summed.
fn pick(data: &[u8]) -> usize {
    data.len()
}

/// The most of its input a one-parser or one-renderer target reads: profiles of a few
/// samples are enough to reach every branch, and small inputs keep each run short.
const MAX_INPUT: usize = 8 << 10;

/// A target's body.
type Body = fn(&[u8]);

/// Every target but `read`, by name: (name, body).
pub const TARGETS: [(&str, Body); 9] = [
    ("jemalloc", |d| parse_as(b"heap_v2/524288\n", d)),
    ("gperftools", |d| parse_as(b"heap profile: ", d)),
    ("java", |d| parse_as(b"--- heapz 1 ---\nformat = java\n", d)),
    ("pprof", parse_proto),
    ("text", |d| render(d, render_text)),
    ("json", |d| render(d, render_json)),
    ("folded", |d| render(d, render_folded)),
    ("pprof_out", |d| render(d, render_pprof)),
    ("merge", |d| render(d, |p, _| merge_subtract(p.clone()))),
];

/// The input read as a profile, its addresses named.
fn parse(data: &[u8]) -> Option<Profile> {
    let mut profile = read_bytes(data).ok()?.profile;
    symbolize(&mut profile, &mut Names);
    Some(profile)
}

/// One text format's parser: `header` then the (cut) input.
fn parse_as(header: &[u8], data: &[u8]) {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&data[..data.len().min(MAX_INPUT)]);
    let _ = read_bytes(&bytes);
}

/// The profile.proto parser: inputs that would be taken for text or gzip are passed over.
fn parse_proto(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'h' | b'-' | b'%' | 0x1f) | None) {
        return;
    }
    let _ = read_bytes(data);
}

/// One renderer on the (cut) input read as any profile.
fn render(data: &[u8], renderer: impl Fn(&Profile, usize)) {
    let data = &data[..data.len().min(MAX_INPUT)];
    if let Some(profile) = parse(data) {
        renderer(&profile, pick(data));
    }
}

/// The text view's options: every value, with focus and ignore patterns and without.
/// Compiled once: the patterns do not depend on the input, and compiling them cost more
/// than rendering a small profile.
static TEXT_OPTIONS: LazyLock<Vec<(ViewOptions, Option<usize>)>> = LazyLock::new(|| {
    ValueKind::ALL
        .into_iter()
        .flat_map(|value| {
            [(Some("f|0x"), None), (None, Some("vector")), (None, None)].map(|(focus, ignore)| {
                let options = ViewOptions::new(value, focus, ignore).expect("valid pattern");
                (options, focus.or(ignore).map(|_| 20))
            })
        })
        .collect()
});

/// The text view of the `k`th value and options ([`TEXT_OPTIONS`]: every value, with focus
/// and ignore patterns and without).
fn render_text(profile: &Profile, k: usize) {
    let (options, top) = &TEXT_OPTIONS[k % TEXT_OPTIONS.len()];
    View::new(profile, options)
        .write_text(&mut Vec::new(), *top)
        .expect("text");
}

/// The view of the `k`th value, every sample kept.
fn view_all(profile: &Profile, k: usize) -> View<'_> {
    let value = ValueKind::ALL[k % ValueKind::ALL.len()];
    let options = ViewOptions::new(value, None, None).expect("no pattern");
    View::new(profile, &options)
}

/// The JSON view of the `k`th value.
fn render_json(profile: &Profile, k: usize) {
    view_all(profile, k)
        .write_json(&mut Vec::new(), Some(20))
        .expect("json");
}

/// The folded stacks of the `k`th value.
fn render_folded(profile: &Profile, k: usize) {
    view_all(profile, k)
        .write_folded(&mut Vec::new())
        .expect("folded");
}

/// The pprof of the `k`th value, which must read back.
fn render_pprof(profile: &Profile, k: usize) {
    let mut pprof = Vec::new();
    view_all(profile, k).write_pprof(&mut pprof).expect("pprof");
    read_bytes(&pprof).expect("our own pprof reads back");
}

/// Two copies merged, one subtracted again.
fn merge_subtract(profile: Profile) {
    let mut merged = merge([profile.clone(), profile.clone()]).expect("two profiles");
    subtract(&mut merged, profile);
}

/// Runs the target called `name` in [`TARGETS`] on `data`.
pub fn run(name: &str, data: &[u8]) {
    let (_, body) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a target of that name");
    body(data)
}
