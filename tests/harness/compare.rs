//! heapmortem's backtraces against gdb's, frame by frame, with a side-by-side table when they
//! disagree.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::cli::{Frame, Thread, Threads};
use super::gdb::{GdbCore, GdbFrame, GdbThread, SIGNAL_FRAME};
use super::process::{self, run};
use super::{parse_hex, Memo};

/// Whether heapmortem's function name for a frame is the one gdb printed. Two spellings differ
/// by design: gdb's `??` is heapmortem's `null` (no symbol), and gdb's
/// `<signal handler called>` may be named after the trampoline it is (`__restore_rt`).
pub fn same_function(gdb: &str, hm: Option<&str>) -> bool {
    match (gdb, hm) {
        ("??", None) | ("??", Some("??")) => true,
        (SIGNAL_FRAME, Some(SIGNAL_FRAME)) | (SIGNAL_FRAME, Some("__restore_rt")) => true,
        (g, Some(h)) => g == h,
        _ => false,
    }
}

/// Function symbols of an ELF file by name (version suffixes dropped) → value, from
/// `eu-readelf -s` (memoized).
pub fn symbols(file: &Path) -> HashMap<String, u64> {
    static SYMBOLS: OnceLock<Memo<PathBuf, HashMap<String, u64>>> = OnceLock::new();
    SYMBOLS.get_or_init(Memo::new).get(&file.to_path_buf(), || {
        let mut map = HashMap::new();
        if !file.is_file() || !process::have("eu-readelf") {
            return map;
        }
        let mut cmd = Command::new("eu-readelf");
        cmd.arg("--symbols").arg(file);
        let out = run(&mut cmd, Duration::from_secs(120));
        for line in out.stdout_str().lines() {
            // `  920: 0000000000408af0     49 FUNC    WEAK   DEFAULT        7 gsignal`
            let t: Vec<&str> = line.split_whitespace().collect();
            if t.len() < 8 || !t[0].ends_with(':') || !matches!(t[3], "FUNC" | "GNU_IFUNC") {
                continue;
            }
            let (Some(value), name) = (parse_hex(t[1]), t[7]) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if value != 0 && !name.is_empty() {
                map.entry(name.to_string()).or_insert(value);
            }
        }
        map
    })
}

/// Whether gdb's frame and heapmortem's name the same function: [`same_function`], or two
/// aliases of one address in the frame's module (`raise`/`gsignal`, `read`/`__libc_read`,
/// `clone3`/`__clone3` in a static glibc). Which alias to print is a preference, not a
/// fact: gdb picks the weak default-visibility one (`gsignal`), elfutils insists on the
/// global one (`raise`, see tests/corpus.rs); so where there is no DWARF name, either is
/// accepted.
pub fn equivalent(g: &GdbFrame, h: &Frame) -> bool {
    let hname = h.function.get().map(String::as_str);
    if same_function(&g.function, hname) {
        return true;
    }
    let (Some(hname), Some(module)) = (hname, h.module.get()) else {
        return false;
    };
    if g.file.is_some() {
        return false; // gdb named it from DWARF: no alias question
    }
    let syms = symbols(Path::new(module));
    match (syms.get(g.function.as_str()), syms.get(hname)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The last component of a path as printed by either tool.
fn base(file: &str) -> &str {
    Path::new(file)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(file)
}

/// Both backtraces of one thread, side by side.
pub fn side_by_side(gdb: Option<&GdbThread>, hm: Option<&Thread>) -> String {
    let g = gdb.map(|t| t.frames.as_slice()).unwrap_or(&[]);
    let h = hm.map(|t| t.frames.as_slice()).unwrap_or(&[]);
    let mut out = String::new();
    let _ = writeln!(out, "    {:<4} {:<48} {:<48}", "#", "gdb", "heapmortem");
    for i in 0..g.len().max(h.len()) {
        let gs = g
            .get(i)
            .map(|f| {
                let loc = match (&f.file, f.line) {
                    (Some(file), Some(line)) => format!(" {}:{line}", base(file)),
                    _ => String::new(),
                };
                let pc = f.pc.map(|pc| format!("{pc:#x} ")).unwrap_or_default();
                format!("{pc}{}{loc}", f.function)
            })
            .unwrap_or_else(|| "-".into());
        let hs = h
            .get(i)
            .map(|f| {
                let loc = match (f.file.get(), f.line.get()) {
                    (Some(file), Some(line)) => format!(" {}:{line}", base(file)),
                    _ => String::new(),
                };
                let inl = if f.inlined { " [inlined]" } else { "" };
                format!(
                    "{:#x} {}{loc}{inl}",
                    f.pc.0,
                    f.function.get().map(String::as_str).unwrap_or("(null)")
                )
            })
            .unwrap_or_else(|| "-".into());
        let same = match (g.get(i), h.get(i)) {
            (Some(gf), Some(hf)) => equivalent(gf, hf),
            _ => false,
        };
        let _ = writeln!(
            out,
            "  {} {:<4} {:<48} {:<48}",
            if same { ' ' } else { '!' },
            i,
            gs,
            hs
        );
    }
    out
}

/// Differences in threads and function names between gdb's and heapmortem's readings of one
/// core: the same tids, the crashing thread (gdb's thread 1) first in heapmortem's list, and
/// for every thread the same number of frames with the same function names. Empty when they
/// agree.
pub fn function_differences(gdb: &GdbCore, hm: &Threads) -> Vec<String> {
    let mut problems = Vec::new();
    let mut hm_tids: Vec<u64> = hm.threads.iter().map(|t| t.tid).collect();
    hm_tids.sort_unstable();
    if hm_tids != gdb.tids() {
        problems.push(format!(
            "thread ids differ: gdb {:?}, heapmortem {:?}",
            gdb.tids(),
            hm_tids
        ));
    }
    let crashing = gdb.crashing().tid;
    match hm.threads.first() {
        Some(first) if first.tid == crashing => {}
        first => problems.push(format!(
            "the crashing thread (gdb's thread 1, tid {crashing}) is not listed first \
             (heapmortem lists {:?} first)",
            first.map(|t| t.tid)
        )),
    }
    for gt in &gdb.threads {
        let ht = hm.threads.iter().find(|t| t.tid == gt.tid);
        let agree = ht.is_some_and(|ht| {
            ht.frames.len() == gt.frames.len()
                && gt
                    .frames
                    .iter()
                    .zip(&ht.frames)
                    .all(|(g, h)| equivalent(g, h))
        });
        if !agree {
            problems.push(format!(
                "thread {} (gdb thread {}): backtraces differ ({} frames in gdb, {} in heapmortem)\n{}",
                gt.tid,
                gt.num,
                gt.frames.len(),
                ht.map(|t| t.frames.len()).unwrap_or(0),
                side_by_side(Some(gt), ht)
            ));
        }
    }
    problems
}

/// Differences in pcs and source lines, for frames where gdb prints them: gdb's printed
/// address (it omits it for frames at the start of a line, e.g. most inlined ones) must be
/// heapmortem's `pc`; gdb's `at FILE:LINE` must be heapmortem's file (same last component)
/// and line. Only threads and frames whose function names agree are compared.
pub fn location_differences(gdb: &GdbCore, hm: &Threads) -> Vec<String> {
    let mut problems = Vec::new();
    for gt in &gdb.threads {
        let Some(ht) = hm.threads.iter().find(|t| t.tid == gt.tid) else {
            continue;
        };
        let mut bad = Vec::new();
        for (g, h) in gt.frames.iter().zip(&ht.frames) {
            if !equivalent(g, h) {
                break;
            }
            if let Some(pc) = g.pc {
                if pc != h.pc.0 {
                    bad.push(format!(
                        "#{} {}: pc gdb {pc:#x}, heapmortem {:#x}",
                        g.level, g.function, h.pc.0
                    ));
                }
            }
            if let (Some(gfile), Some(gline)) = (&g.file, g.line) {
                let hfile = h.file.get().map(String::as_str);
                let hline = h.line.get().copied();
                if hfile.map(base) != Some(base(gfile)) || hline != Some(gline) {
                    bad.push(format!(
                        "#{} {}: gdb at {gfile}:{gline}, heapmortem at {}:{}",
                        g.level,
                        g.function,
                        hfile.unwrap_or("(null)"),
                        hline
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "(null)".into())
                    ));
                }
            }
        }
        if !bad.is_empty() {
            problems.push(format!(
                "thread {}:\n  {}\n{}",
                gt.tid,
                bad.join("\n  "),
                side_by_side(Some(gt), Some(ht))
            ));
        }
    }
    problems
}

/// Whether `needle` occurs in `hay` in order (not necessarily adjacent).
pub fn is_subsequence(needle: &[&str], hay: &[&str]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}
