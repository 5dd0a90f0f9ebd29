//! `heapmortem info` against gdb and eu-readelf on real cores of the C fixtures, in every
//! x86_64 build variant: pid (gdb's `info inferiors`), signal (`$_siginfo`), threads (gdb's
//! LWPs, the NT_PRSTATUS notes), mappings (every NT_FILE entry with its start, end, offset and
//! path; protections from the PT_LOAD headers), build-ids (the executable's and the shared
//! libraries' own notes), the allocator (glibc) and `truncated: false`.

use std::path::{Path, PathBuf};

use crate::harness::cli::{self, Info, Mapping};
use crate::harness::fixture::{self, known, FramePointer, Link, Variant};
use crate::harness::{gdb, readelf};

fn canonical(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
}

/// R/W/X as a set, whatever the spelling (`r-xp`, `rx`, `R E`).
fn rwx(perms: &str) -> (bool, bool, bool) {
    (
        perms.contains(['r', 'R']),
        perms.contains(['w', 'W']),
        perms.contains(['x', 'X', 'E']),
    )
}

fn show(m: &Mapping) -> String {
    format!(
        "{:#x}-{:#x} {:?} off {:?} {:?} build-id {:?}",
        m.start.0, m.end.0, m.perms, m.offset, m.path, m.build_id
    )
}

/// Every NT_FILE entry is a mapping with the same start, end, offset and path, and no mapping
/// names a file (an absolute path) that NT_FILE does not.
pub fn mapping_differences(info: &Info, files: &[readelf::FileEntry]) -> Vec<String> {
    let mut problems = Vec::new();
    for e in files {
        let found = info.mappings.iter().any(|m| {
            m.start.0 == e.start
                && m.end.0 == e.end
                && m.offset.get().map(|o| o.0) == Some(e.offset)
                && m.path.get().map(String::as_str) == Some(e.path.as_str())
        });
        if !found {
            let near: Vec<String> = info
                .mappings
                .iter()
                .filter(|m| m.start.0 < e.end && e.start < m.end.0)
                .map(show)
                .collect();
            problems.push(format!(
                "NT_FILE {:#x}-{:#x} offset {:#x} {} has no matching mapping (overlapping: {near:?})",
                e.start, e.end, e.offset, e.path
            ));
        }
    }
    for m in &info.mappings {
        if let Some(path) = m.path.get().filter(|p| p.starts_with('/')) {
            if !files
                .iter()
                .any(|e| e.start == m.start.0 && e.end == m.end.0 && &e.path == path)
            {
                problems.push(format!("mapping {} is not in NT_FILE", show(m)));
            }
        }
    }
    problems
}

/// Mappings that coincide with a PT_LOAD segment have that segment's protection.
fn perms_differences(info: &Info, core: &Path) -> Vec<String> {
    let loads: Vec<readelf::Phdr> = readelf::program_headers(core)
        .into_iter()
        .filter(|p| p.kind == "LOAD")
        .collect();
    let mut problems = Vec::new();
    for m in &info.mappings {
        let Some(load) = loads.iter().find(|l| l.vaddr == m.start.0) else {
            continue;
        };
        let want = rwx(&load.flags);
        match m.perms.get() {
            Some(p) if rwx(p) == want => {}
            other => problems.push(format!(
                "mapping {:#x}: perms {other:?}, PT_LOAD flags {:?}",
                m.start.0, load.flags
            )),
        }
    }
    problems
}

/// For each file, the build-id of every mapping of it that shows one must be the file's own
/// (read with eu-readelf from the file on disk), and at least one mapping must show it.
fn build_id_differences(info: &Info, files: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let Some(want) = readelf::build_id(file) else {
            problems.push(format!("{} has no build-id note", file.display()));
            continue;
        };
        let target = canonical(&file.to_string_lossy());
        let ids: Vec<Option<String>> = info
            .mappings
            .iter()
            .filter(|m| m.path.get().is_some_and(|p| canonical(p) == target))
            .map(|m| m.build_id.get().map(|s| s.to_ascii_lowercase()))
            .collect();
        if ids.is_empty() {
            problems.push(format!("no mapping of {}", file.display()));
        } else if !ids.iter().any(|id| id.as_deref() == Some(want.as_str()))
            || ids.iter().flatten().any(|id| *id != want)
        {
            problems.push(format!(
                "{}: build-id {want} (eu-readelf -n), mappings say {ids:?}",
                file.display()
            ));
        }
    }
    problems
}

fn check_info(name: &str, variant: Variant) {
    let core = fixture::core(name, variant);
    let gdb = gdb::fixture_backtrace(&core);
    let notes = readelf::notes(&core.core);
    let info = cli::info(&core.core, &[]);
    let ctx = format!("{name} ({variant}), core {}", core.core.display());

    assert_eq!(info.os, "linux", "{ctx}");
    let arch = match variant.arch {
        fixture::Arch::X86_64 => "x86_64",
        fixture::Arch::Aarch64 => "aarch64",
    };
    assert_eq!(info.arch, arch, "{ctx}");
    assert_eq!(
        info.pid.get().copied(),
        gdb.pid,
        "pid vs gdb's `info inferiors`: {ctx}"
    );
    assert_eq!(
        info.pid.get().copied(),
        notes.prpsinfo.as_ref().map(|p| p.pid),
        "pid vs NT_PRPSINFO: {ctx}"
    );
    let signal = info.signal.get();
    assert_eq!(
        signal.map(|s| s.number),
        gdb.signal,
        "signal vs gdb's $_siginfo: {ctx}"
    );
    if let (Some(addr), Some(fault)) = (signal.and_then(|s| s.address), notes.fault_address) {
        assert_eq!(addr, fault, "fault address vs NT_SIGINFO: {ctx}");
    }
    let mut tids: Vec<u64> = info.threads.iter().map(|t| t.tid).collect();
    tids.sort_unstable();
    assert_eq!(tids, gdb.tids(), "thread ids vs gdb's LWPs: {ctx}");
    let mut note_tids: Vec<u64> = notes.prstatus.iter().map(|p| p.tid).collect();
    note_tids.sort_unstable();
    assert_eq!(tids, note_tids, "thread ids vs NT_PRSTATUS: {ctx}");
    assert_eq!(
        info.executable.get().map(|e| canonical(e)),
        Some(canonical(&core.exe.to_string_lossy())),
        "executable: {ctx}"
    );
    assert_eq!(
        info.allocator.get().map(String::as_str),
        Some("glibc"),
        "allocator: {ctx}"
    );
    assert!(!info.truncated, "a complete core reported truncated: {ctx}");

    let mut problems = mapping_differences(&info, &notes.files);
    problems.extend(perms_differences(&info, &core.core));
    let mut files = vec![core.exe.clone()];
    if variant.is_dynamic() {
        for e in &notes.files {
            let base = Path::new(&e.path)
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
                .unwrap_or_default();
            if (base.starts_with("libc.so") || base.starts_with("ld-linux"))
                && !files.iter().any(|f| f == Path::new(&e.path))
            {
                files.push(PathBuf::from(&e.path));
            }
        }
        assert!(
            files.len() >= 3,
            "NT_FILE of a dynamic fixture lists no libc/ld.so: {ctx}\n{}",
            notes.raw
        );
    }
    problems.extend(build_id_differences(&info, &files));
    assert!(
        problems.is_empty(),
        "`heapmortem info` disagrees with eu-readelf: {ctx}\n{}",
        problems.join("\n")
    );
}

macro_rules! variant_tests {
    ($($module:ident => $variant:expr;)*) => {$(
        mod $module {
            use super::*;
            const VARIANT: Variant = $variant;

            #[test]
            fn threads_fixture_info_matches_gdb_and_readelf() {
                check_info(known::THREADS, VARIANT);
            }

            #[test]
            fn abort_fixture_info_matches_gdb_and_readelf() {
                check_info(known::ABORT, VARIANT);
            }

            #[test]
            fn sighandler_fixture_info_matches_gdb_and_readelf() {
                check_info(known::SIGHANDLER, VARIANT);
            }
        }
    )*};
}

// Keep in step with fixture::X86_64_VARIANTS (checked by `every_variant_has_tests`).
variant_tests! {
    x86_64_o0_pie => Variant::x86_64(0, Link::Pie, FramePointer::Default);
    x86_64_o1_pie => Variant::x86_64(1, Link::Pie, FramePointer::Default);
    x86_64_o2_pie => Variant::x86_64(2, Link::Pie, FramePointer::Default);
    x86_64_o2_nopie => Variant::x86_64(2, Link::NoPie, FramePointer::Default);
    x86_64_o2_static => Variant::x86_64(2, Link::Static, FramePointer::Default);
    x86_64_o0_static => Variant::x86_64(0, Link::Static, FramePointer::Default);
    x86_64_o2_static_pie => Variant::x86_64(2, Link::StaticPie, FramePointer::Default);
    x86_64_o2_pie_fp => Variant::x86_64(2, Link::Pie, FramePointer::Keep);
    x86_64_o2_static_fp => Variant::x86_64(2, Link::Static, FramePointer::Keep);
    x86_64_o1_nopie_nofp => Variant::x86_64(1, Link::NoPie, FramePointer::Omit);
}

#[test]
fn every_variant_has_tests() {
    let source = include_str!("info.rs");
    for v in fixture::X86_64_VARIANTS {
        let module = v.name().to_lowercase().replace('-', "_");
        assert!(
            source.contains(&format!("    {module} => ")),
            "variant {v} has no module `{module}` in tests/info.rs"
        );
    }
}

/// The text format says the same pid, signal and threads as the JSON.
#[test]
fn text_format_names_pid_signal_and_threads() {
    let variant = Variant::x86_64(2, Link::Pie, FramePointer::Default);
    let core = fixture::core(known::THREADS, variant);
    let info = cli::info(&core.core, &[]);
    let out = cli::heapmortem([
        "info".as_ref(),
        core.core.as_os_str(),
        "--format".as_ref(),
        "text".as_ref(),
    ]);
    cli::assert_exit(&out, 0);
    let text = out.stdout_str();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let pid = info.pid.get().expect("pid").to_string();
    assert!(
        words.contains(&pid.as_str()),
        "text lacks the pid {pid}\n{text}"
    );
    assert!(
        words.contains(&"SIGSEGV") || words.contains(&"11"),
        "text lacks the signal (SIGSEGV / 11)\n{text}"
    );
    for t in &info.threads {
        let tid = t.tid.to_string();
        assert!(
            words.contains(&tid.as_str()),
            "text lacks thread {tid}\n{text}"
        );
    }
    assert!(text.contains("glibc"), "text lacks the allocator\n{text}");
}

/// The default format is text.
#[test]
fn default_format_is_text() {
    let variant = Variant::x86_64(2, Link::Pie, FramePointer::Default);
    let core = fixture::core(known::ABORT, variant);
    let default = cli::heapmortem(["info".as_ref(), core.core.as_os_str()]);
    cli::assert_exit(&default, 0);
    let text = cli::heapmortem([
        "info".as_ref(),
        core.core.as_os_str(),
        "--format".as_ref(),
        "text".as_ref(),
    ]);
    assert_eq!(default.stdout_str(), text.stdout_str());
}
