//! Files of the external test corpus (`../shared/corpus/`, see its README.md): other projects'
//! cores with those projects' own expected readings. Compressed files are decompressed at
//! test time into `CARGO_TARGET_TMPDIR`, never into the repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::process::{self, run};
use super::{publish_dir, repo_root, tmp_root, unique_dir, Memo};

/// The corpus folder: `$HEAPMORTEM_CORPUS`, else `../shared/corpus` beside the checkout.
pub fn dir() -> PathBuf {
    match std::env::var_os("HEAPMORTEM_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => repo_root().join("../shared/corpus"),
    }
}

/// `rel` inside the corpus, which must exist.
pub fn path(rel: &str) -> PathBuf {
    let p = dir().join(rel);
    assert!(
        p.exists(),
        "corpus file {} is missing (the corpus is expected at {}; set HEAPMORTEM_CORPUS)",
        p.display(),
        dir().display()
    );
    p
}

/// `rel` ready to read: decompressed (`.zst`, `.xz`, `.bz2`) into the target's temporary
/// folder, or the corpus file itself when it is not compressed. Decompression happens once
/// per test process; concurrent processes each publish a complete file atomically.
pub fn file(rel: &str) -> PathBuf {
    static FILES: OnceLock<Memo<String, PathBuf>> = OnceLock::new();
    FILES
        .get_or_init(Memo::new)
        .get(&rel.to_string(), || decompress(rel))
}

fn decompress(rel: &str) -> PathBuf {
    let src = path(rel);
    let (tool, package, plain) = if let Some(p) = rel.strip_suffix(".zst") {
        ("zstd", "zstd", p)
    } else if let Some(p) = rel.strip_suffix(".xz") {
        ("xz", "xz-utils", p)
    } else if let Some(p) = rel.strip_suffix(".bz2") {
        ("bzip2", "bzip2", p)
    } else {
        return src;
    };
    let dest_dir = tmp_root().join("corpus").join(plain.replace('/', "__"));
    let name = Path::new(plain).file_name().expect("a file name");
    let dest = dest_dir.join(name);
    let src_len = fs::metadata(&src).map(|m| m.len()).unwrap_or(0);
    let stamp = dest_dir.join(".source-size");
    if dest.is_file() && fs::read_to_string(&stamp).ok() == Some(src_len.to_string()) {
        return dest;
    }
    process::require(tool, package);
    let tmp = unique_dir("corpus");
    let out_file = fs::File::create(tmp.join(name)).expect("create decompression output");
    // `tool -dc SRC > tmp/NAME`; the captured stdout of `run` is not used for the payload.
    let mut cmd = Command::new(tool);
    cmd.arg("-dc").arg(&src);
    let status = {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out_file)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {tool}: {e}"));
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for decompressor") {
                break status;
            }
            if start.elapsed() > process::timeout(Duration::from_secs(300)) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{tool} -dc {} took too long", src.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert!(
        status.success(),
        "{tool} -dc {} failed: {status}",
        src.display()
    );
    fs::write(tmp.join(".source-size"), src_len.to_string()).expect("write stamp");
    if dest_dir.exists() {
        // A stale copy from an older corpus: replace it.
        let _ = fs::remove_dir_all(&dest_dir);
    }
    publish_dir(&tmp, &dest_dir);
    dest
}

/// A sysroot under the target's temporary folder holding corpus files at the absolute paths
/// a core recorded, e.g. `("cores/drgn/crashme.zst", "/home/osandov/crashme")`. Returns the
/// sysroot's root, for `--sysroot` and gdb's `set sysroot`.
pub fn sysroot(name: &str, files: &[(&str, &str)]) -> PathBuf {
    static ROOTS: OnceLock<Memo<String, PathBuf>> = OnceLock::new();
    ROOTS.get_or_init(Memo::new).get(&name.to_string(), || {
        let root = unique_dir(&format!("sysroot-{name}"));
        for (rel, at) in files {
            let src = file(rel);
            let dest = root.join(at.trim_start_matches('/'));
            fs::create_dir_all(dest.parent().expect("a parent")).expect("create sysroot folder");
            fs::copy(&src, &dest)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dest.display()));
        }
        root
    })
}

/// Fails unless `path` starts with the ELF magic.
pub fn assert_elf(path: &Path) {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&magic, b"\x7fELF", "{} is not an ELF file", path.display());
}

/// Runs a command and returns its stdout (for tools whose output is ground truth, e.g.
/// `eu-stack`); panics on failure to start or timeout, not on exit status.
pub fn tool_output(cmd: &mut Command) -> String {
    run(cmd, Duration::from_secs(120)).stdout_str()
}
