//! The memory map at the end of a text profile (`MAPPED_LIBRARIES:` or
//! `--- Memory map: ---`), in each form the writers use.
//!
//! Forms read, each with the writer that produces it:
//! - Linux `/proc/PID/maps`, copied by jemalloc's `prof_dump_maps` and gperftools:
//!   `55c282113000-55c2831c8000 r-xp 00181000 00:11 4891588   /usr/local/bin/testbinary`
//! - FreeBSD `/proc/curproc/map`, copied by jemalloc on FreeBSD (fields as in
//!   `sys/fs/procfs/procfs_map.c`; jeprof 5.3.0 quotes the example):
//!   `0x800600000 0x80061a000 26 0 0xfffff800035a0000 r-x 75 33 0x1004 COW NC vnode /libexec/ld-elf.so.1 NCH -1`
//! - `start-end: path`, gperftools' `DumpAddressMap` "cooked" form and jemalloc's on macOS.
//! - pprof's brief form `0x40000-0x80000 [perms] /path/to/binary (@offset) buildid`
//!   (google/pprof `profile/legacy_profile.go`, `briefMapsRE`).
//!
//! `name=value` lines define `$name` for the lines after them (gperftools writes
//! `build=/dir`, Google's servers `source=/home`). jeprof 5.3.0 expands only `$build`; pprof any
//! such variable; we follow pprof.
//!
//! Where the two tools disagree, and what this crate does:
//! - jeprof keeps a Linux line only if its path ends in `.so…`/`.dll`/`.dylib`/`.bundle` or is
//!   the program named on its command line, and drops every other executable mapping; pprof
//!   and this crate keep every executable mapping, so a PIE or a library with an unusual name
//!   is found without naming it.
//! - Neither the FreeBSD nor the `start-end: path` form carries a file offset; both tools take
//!   0, and so does this crate.

use std::sync::OnceLock;

use regex::Regex;

use crate::lines::MAX_LINE;
use crate::model::Mapping;

/// The most `name=value` variables a memory map may define (Google's servers write two or
/// three).
const MAX_VARIABLES: usize = 256;

fn linux_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s+([-rwxps]{4})\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+:[0-9a-fA-F]+\s+\d+\s*(.*)$",
        )
        .expect("valid regex")
    })
}

fn brief_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\s*(?:0x)?([0-9a-fA-F]+)[\s-]\s*(?:0x)?([0-9a-fA-F]+):?(?:\s+([-rwxp]{3,4}))?(?:\s+([^\s(]\S*))?(?:\s+\(@([0-9a-fA-F]+)\))?(?:\s+([0-9a-fA-F]+))?\s*$",
        )
        .expect("valid regex")
    })
}

/// Reads memory map lines one at a time.
#[derive(Debug, Default)]
pub(crate) struct MapsReader {
    vars: Vec<(String, String)>,
    main_path: Option<String>,
    mappings: Vec<Mapping>,
}

impl MapsReader {
    /// Reads one line. Lines that are no mapping (headers, blank lines, anything else) are
    /// ignored, as both jeprof and pprof ignore them.
    pub(crate) fn line(&mut self, raw: &str) {
        let expanded;
        let line = if self.vars.is_empty() || !raw.contains('$') {
            raw
        } else {
            match self.expand(raw) {
                Some(e) => {
                    expanded = e;
                    expanded.as_str()
                }
                // Longer than any line could be once expanded: nothing to read there.
                None => return,
            }
        };
        let Some((start, end, perms, offset, path, build_id)) = parse_line(line) else {
            self.maybe_variable(line);
            return;
        };
        let executable = perms.is_none_or(|p| p.contains('x'));
        self.mapping(start, end, executable, offset, path, build_id);
    }

    /// One mapping, read from a line or given by a process: the first absolute path names
    /// the program; only executable mappings are kept.
    pub(crate) fn mapping(
        &mut self,
        start: u64,
        end: u64,
        executable: bool,
        offset: u64,
        path: &str,
        build_id: Option<&str>,
    ) {
        if self.main_path.is_none() && path.starts_with('/') {
            self.main_path = Some(path.to_string());
        }
        if end <= start || !executable {
            return;
        }
        self.mappings.push(Mapping {
            start,
            end,
            offset,
            path: path.to_string(),
            build_id: build_id.map(str::to_string),
            is_main: false,
        });
    }

    /// The executable mappings read, the main program's marked.
    pub(crate) fn finish(mut self) -> Vec<Mapping> {
        if let Some(main) = &self.main_path {
            for m in &mut self.mappings {
                m.is_main = &m.path == main;
            }
        }
        self.mappings
    }

    /// A `name=value` line (already expanded, as pprof expands it) defines `$name`. As in
    /// pprof (`strings.NewReplacer`, first pair wins), a name defined again keeps its first
    /// value; beyond [`MAX_VARIABLES`] names, new ones are ignored.
    fn maybe_variable(&mut self, line: &str) {
        if let Some((name, value)) = line.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                let name = format!("${name}");
                if self.vars.len() >= MAX_VARIABLES || self.vars.iter().any(|v| v.0 == name) {
                    return;
                }
                self.vars.push((name, value.trim().to_string()));
                // Longest names first, so `$build` does not eat the start of `$buildroot`.
                self.vars.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
            }
        }
    }

    /// Replaces each `$name` in one pass, as pprof's replacer does: a value is not scanned
    /// again, so values that name each other cannot grow a line without bound (expanding
    /// `$a` with `a=$b$b`, `b=$c$c`, … again and again would double it per variable). `None`
    /// when the result would be longer than [`MAX_LINE`].
    fn expand(&self, line: &str) -> Option<String> {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            match self
                .vars
                .iter()
                .find(|(name, _)| rest.starts_with(name.as_str()))
            {
                Some((name, value)) => {
                    out.push_str(value);
                    rest = &rest[name.len()..];
                }
                None => {
                    out.push('$');
                    rest = &rest[1..];
                }
            }
            if out.len() > MAX_LINE {
                return None;
            }
        }
        out.push_str(rest);
        (out.len() <= MAX_LINE).then_some(out)
    }
}

type Parsed<'a> = (u64, u64, Option<&'a str>, u64, &'a str, Option<&'a str>);

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The file of a Linux mapping as the process named it: blanks around it dropped, and the
/// ` (deleted)` the kernel appends to a file deleted since it was mapped (`d_path`, in
/// /proc/PID/maps and in a core's NT_FILE note alike).
pub(crate) fn file_path(raw: &str) -> &str {
    let path = raw.trim();
    path.strip_suffix(" (deleted)").unwrap_or(path)
}

fn parse_line(line: &str) -> Option<Parsed<'_>> {
    if let Some(c) = linux_re().captures(line) {
        let path = file_path(c.get(5).map_or("", |m| m.as_str()));
        return Some((
            hex(&c[1])?,
            hex(&c[2])?,
            Some(c.get(3)?.as_str()),
            hex(&c[4])?,
            path,
            None,
        ));
    }
    if let Some(parsed) = parse_freebsd(line) {
        return Some(parsed);
    }
    let c = brief_re().captures(line)?;
    Some((
        hex(&c[1])?,
        hex(&c[2])?,
        c.get(3).map(|m| m.as_str()),
        match c.get(5) {
            Some(m) => hex(m.as_str())?,
            None => 0,
        },
        c.get(4).map_or("", |m| m.as_str()),
        c.get(6).map(|m| m.as_str()),
    ))
}

/// FreeBSD's `/proc/curproc/map`: start, end, resident, private resident, object, protection,
/// reference count, shadow count, flags, copy-on-write, needs-copy, type, path, ….
fn parse_freebsd(line: &str) -> Option<Parsed<'_>> {
    let f: Vec<&str> = line.split_ascii_whitespace().take(13).collect();
    if f.len() < 12 || !f[0].starts_with("0x") || !f[1].starts_with("0x") || !f[4].starts_with("0x")
    {
        return None;
    }
    let perms = f[5];
    if perms.len() != 3
        || !perms
            .bytes()
            .all(|b| matches!(b, b'r' | b'w' | b'x' | b'-'))
    {
        return None;
    }
    let path = if f[11] == "vnode" {
        f.get(12).copied().unwrap_or("")
    } else {
        ""
    };
    Some((hex(f[0])?, hex(f[1])?, Some(perms), 0, path, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Mapping> {
        let mut r = MapsReader::default();
        for l in text.lines() {
            r.line(l);
        }
        r.finish()
    }

    #[test]
    fn linux_maps_keep_executable_mappings_and_mark_the_program() {
        let m = read(
            "55c281f92000-55c282113000 r--p 00000000 00:11 4891588                    /usr/local/bin/testbinary\n\
             55c282113000-55c2831c8000 r-xp 00181000 00:11 4891588                    /usr/local/bin/testbinary\n\
             7f5578b00000-7f5578c00000 rw-p 00000000 00:00 0 \n\
             7f5578cd0000-7f5578d00000 r-xp 00022000 08:01 123   /usr/lib/x86_64-linux-gnu/libc-2.31.so\n\
             7ffc1b1f0000-7ffc1b1f2000 r-xp 00000000 00:00 0                          [vdso]\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].start, m[0].end, m[0].offset),
            (0x55c282113000, 0x55c2831c8000, 0x181000)
        );
        assert!(m[0].is_main && !m[1].is_main);
        assert_eq!(m[1].path, "/usr/lib/x86_64-linux-gnu/libc-2.31.so");
        assert_eq!(m[2].path, "[vdso]");
    }

    #[test]
    fn freebsd_map() {
        let m = read(
            "0x400000 0x401000 1 0 0xfffff80003c1d000 r-x 1 0 0x1000 COW NC vnode /usr/home/me/a.out NCH -1\n\
             0x800600000 0x80061a000 26 0 0xfffff800035a0000 r-x 75 33 0x1004 COW NC vnode /libexec/ld-elf.so.1 NCH -1\n\
             0x80061a000 0x80063a000 3 3 0xfffff80003b1e000 rw- 1 0 0x3000 COW NNC default - CH 1001\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[1].start, m[1].end, m[1].offset),
            (0x800600000, 0x80061a000, 0)
        );
        assert_eq!(m[1].path, "/libexec/ld-elf.so.1");
        assert!(m[0].is_main);
    }

    #[test]
    fn cooked_brief_and_variables() {
        let m = read(
            "\tsource=/home\n  00400000-00fcb000: $source/cppbench_server_main\n\
             7f47a4351000-7f47a4352000: /lib/libnss_borg-2.15.so\n\
             0x1000-0x2000 r-xp /opt/x.dylib (@200) abcdef12\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].path, "/home/cppbench_server_main");
        assert!(m[0].is_main);
        assert_eq!(
            (m[2].offset, m[2].build_id.as_deref()),
            (0x200, Some("abcdef12"))
        );
    }

    #[test]
    fn variables_expand_once_and_stay_bounded() {
        // Each value names the next variable twice: expanded again and again, `$v00` would
        // grow to 2^40 copies. pprof expands a definition when it is read and never rescans.
        let mut text = String::new();
        for i in (0..40).rev() {
            text.push_str(&format!("v{i:02}=$v{:02}$v{:02}\n", i + 1, i + 1));
        }
        text.push_str("00001000-00002000 r-xp 00000000 00:00 1 /x/$v00\n");
        text.push_str("root=/a\nroot=/b\n00003000-00004000: $root/lib.so\n");
        let m = read(&text);
        assert_eq!(m.len(), 2);
        // Defined last to first, each definition is expanded when read: v39 is `$v40$v40`
        // (8 bytes, no v40), each next one twice as long. v22's line would be over 1 MiB and
        // is skipped, so v21 is the literal `$v22$v22` and the doubling starts again, until
        // v04's line is skipped too: v03 is `$v04$v04`, and v00 eight times that.
        assert_eq!(m[0].path, format!("/x/{}", "$v04".repeat(16)));
        // The first definition wins, as in pprof.
        assert_eq!(m[1].path, "/a/lib.so");
    }

    #[test]
    fn junk_is_ignored() {
        assert!(read("hello\n\u{0}\u{1}\nffff-\n-1-2\n").is_empty());
    }
}
