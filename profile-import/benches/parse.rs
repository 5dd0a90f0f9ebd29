//! Reading the corpus's jemalloc dump (`profiles/google-pprof/jemalloc.heap`: 471 stacks, 130
//! threads, 390 KB), plain and gzipped, and rendering it as jeprof's text table.
//!
//! `cargo bench -p profile-import --bench parse`. The corpus is `../shared/corpus` beside the
//! checkout, or `$HEAPMORTEM_CORPUS`. Whole-tool timings against jeprof are in `bench/`.

use std::io::Write;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use profile_import::{read_bytes, ValueKind, View, ViewOptions};

fn corpus_file(rel: &str) -> Vec<u8> {
    let dir = std::env::var_os("HEAPMORTEM_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let path = dir.join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is ../shared beside the checkout, or HEAPMORTEM_CORPUS set?)",
            path.display()
        )
    })
}

fn jemalloc_heap(c: &mut Criterion) {
    let text = corpus_file("profiles/google-pprof/jemalloc.heap");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).expect("gzip in memory");
    let gzipped = gz.finish().expect("gzip in memory");

    let mut group = c.benchmark_group("jemalloc.heap");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("read", |b| {
        b.iter(|| read_bytes(std::hint::black_box(&text)).expect("the corpus file reads"))
    });
    group.bench_function("read gzipped", |b| {
        b.iter(|| read_bytes(std::hint::black_box(&gzipped)).expect("the corpus file reads"))
    });
    group.finish();

    let profile = read_bytes(&text).expect("the corpus file reads").profile;
    let options = ViewOptions {
        value: ValueKind::InuseSpace,
        focus: None,
        ignore: None,
    };
    c.bench_function("jemalloc.heap view and text", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64 << 10);
            View::new(&profile, &options)
                .write_text(&mut out, None)
                .expect("text in memory");
            out
        })
    });
}

criterion_group!(benches, jemalloc_heap);
criterion_main!(benches);
