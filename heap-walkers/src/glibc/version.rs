//! Which glibc the process ran: from the library's banner, else from its file name.

use std::fmt;

use core_reader::{Memory, Target};
use serde::Serialize;

/// A glibc release, `2.36` for example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    /// 2.
    pub major: u32,
    /// 36.
    pub minor: u32,
}

impl GlibcVersion {
    /// `2.minor`.
    pub fn new(major: u32, minor: u32) -> GlibcVersion {
        GlibcVersion { major, minor }
    }

    /// Parses `2.36`, `2.36.9000` or `2.36-9+deb12u14` (the leading `major.minor`).
    pub fn parse(s: &str) -> Option<GlibcVersion> {
        let mut parts = s.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        (major == 2 && minor < 1000).then_some(GlibcVersion { major, minor })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for GlibcVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How the version was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// libc's banner ("GNU C Library … release version 2.36"), read from the core or from
    /// the library file.
    Banner,
    /// The library's file name (`libc-2.17.so`).
    FileName,
}

/// At most this many bytes of read-only mappings are searched for the banner when no
/// mapping is named after libc (old cores without NT_FILE).
const MAX_BANNER_SCAN: u64 = 64 << 20;

/// The banner's fixed part: "GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release
/// version 2.36." (csu/version.c).
const BANNER: &[u8] = b"release version ";

/// Finds the glibc version of the process.
pub fn detect(target: &dyn Target) -> Option<(GlibcVersion, VersionSource)> {
    let is_libc = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name.starts_with("libc.so") || name.starts_with("libc-2.")
    };
    let modules = target.modules();
    let libc_paths: Vec<&str> = target
        .mappings()
        .iter()
        .filter_map(|m| m.path.as_deref())
        .chain(modules.iter().map(|m| m.path.as_str()))
        .filter(|p| is_libc(p))
        .collect();
    // The banner first: the file name of a Debian or Ubuntu libc says nothing (libc.so.6).
    let libc_maps = target
        .mappings()
        .iter()
        .filter(|m| m.path.as_deref().is_some_and(is_libc) && !m.perms.contains('w'));
    for m in libc_maps {
        if let Some(v) = banner_in(target, m.start, m.end) {
            return Some((v, VersionSource::Banner));
        }
    }
    for p in &libc_paths {
        let name = p.rsplit('/').next().unwrap_or(p);
        if let Some(rest) = name.strip_prefix("libc-") {
            if let Some(v) = GlibcVersion::parse(rest) {
                return Some((v, VersionSource::FileName));
            }
        }
    }
    // A statically linked program, or a core without file names: search what is there.
    let mut budget = MAX_BANNER_SCAN;
    for m in target.mappings().iter().filter(|m| !m.perms.contains('w')) {
        if budget == 0 {
            break;
        }
        let end = m.end.min(m.start.saturating_add(budget));
        budget -= end - m.start;
        if let Some(v) = banner_in(target, m.start, end) {
            return Some((v, VersionSource::Banner));
        }
    }
    None
}

fn banner_in(mem: &dyn Memory, start: u64, end: u64) -> Option<GlibcVersion> {
    let mut at = start;
    let finder = memchr::memmem::Finder::new(BANNER);
    while at < end {
        let bytes = mem.bytes_at(at);
        if bytes.is_empty() {
            // Not dumped and no file: step to the next page.
            at = (at | 0xfff).checked_add(1)?;
            continue;
        }
        let len = bytes.len().min((end - at) as usize);
        let bytes = &bytes[..len];
        for pos in finder.find_iter(bytes) {
            let tail = &bytes[pos + BANNER.len()..];
            let tail = &tail[..tail.len().min(16)];
            let text: String = tail
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .map(|&b| b as char)
                .collect();
            // The banner also says "GNU C Library (GNU libc) stable release version 2.36.":
            // only a well-formed version counts.
            if let Some(v) = GlibcVersion::parse(&text) {
                let preceded = bytes[..pos].ends_with(b"stable ")
                    || bytes[..pos].ends_with(b"development ")
                    || bytes[..pos].ends_with(b") ");
                if preceded || window_mentions_gnu_c(&bytes[pos.saturating_sub(128)..pos]) {
                    return Some(v);
                }
            }
        }
        at = at.checked_add(len as u64)?;
    }
    None
}

fn window_mentions_gnu_c(window: &[u8]) -> bool {
    memchr::memmem::find(window, b"GNU C Library").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(GlibcVersion::parse("2.36"), Some(GlibcVersion::new(2, 36)));
        assert_eq!(
            GlibcVersion::parse("2.17.so"),
            Some(GlibcVersion::new(2, 17))
        );
        assert_eq!(
            GlibcVersion::parse("2.36-9+deb12u14"),
            Some(GlibcVersion::new(2, 36))
        );
        assert_eq!(GlibcVersion::parse("so.6"), None);
    }
}
