//! elfutils' `eu-readelf` on cores and executables, parsed: the notes (`-n`) and the program
//! headers (`-l`). eu-readelf is used rather than binutils' readelf because it decodes every
//! core note the tests need (PRSTATUS registers, PRPSINFO, SIGINFO, NT_FILE) on every
//! architecture, whatever the host.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::parse_hex;
use super::process::{self, run};

/// One NT_PRSTATUS note (one per thread).
#[derive(Clone, Debug, Default)]
pub struct PrStatus {
    /// `pid:` — for a thread's note, its tid.
    pub tid: u64,
    /// `cursig:`.
    pub cursig: i32,
    /// Every `name: value` pair eu-readelf printed (registers included), as numbers where
    /// they are numbers (negative decimals as two's complement).
    pub fields: BTreeMap<String, u64>,
}

/// The NT_PRPSINFO note.
#[derive(Clone, Debug, Default)]
pub struct PrPsInfo {
    /// `pid:`.
    pub pid: u64,
    /// `ppid:`.
    pub ppid: u64,
    /// `uid:`.
    pub uid: u64,
    /// `gid:`.
    pub gid: u64,
    /// `fname:` (the command name, at most 15 bytes).
    pub fname: String,
    /// `psargs:` (the start of the command line).
    pub psargs: String,
}

/// One NT_FILE entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileEntry {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file, in bytes.
    pub offset: u64,
    /// The path.
    pub path: String,
}

/// What `eu-readelf -n` says about a core.
#[derive(Clone, Debug, Default)]
pub struct Notes {
    /// NT_PRSTATUS notes, in file order (the first is the thread that got the signal).
    pub prstatus: Vec<PrStatus>,
    /// NT_PRPSINFO.
    pub prpsinfo: Option<PrPsInfo>,
    /// NT_SIGINFO `si_signo`.
    pub si_signo: Option<i32>,
    /// NT_SIGINFO `fault address`.
    pub fault_address: Option<u64>,
    /// NT_FILE entries.
    pub files: Vec<FileEntry>,
    /// eu-readelf's output, for messages.
    pub raw: String,
}

fn eu_readelf(args: &[&str], path: &Path) -> String {
    process::require("eu-readelf", "elfutils");
    let mut cmd = Command::new("eu-readelf");
    cmd.args(args).arg(path);
    let out = run(&mut cmd, Duration::from_secs(120));
    // eu-readelf exits 1 on some cores it reads fine in part (e.g. truncated ones); the
    // caller judges the content.
    out.stdout_str()
}

/// Key/value pairs of one eu-readelf note line: `pid: 1, ppid: 2`, `rip: 0x4000d4  rsp: …`.
fn pairs(line: &str) -> Vec<(String, String)> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(key) = tokens[i].strip_suffix(':') {
            if let Some(value) = tokens.get(i + 1) {
                out.push((key.to_string(), value.trim_end_matches(',').to_string()));
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn number(value: &str) -> Option<u64> {
    if value.starts_with("0x") {
        parse_hex(value)
    } else if let Some(neg) = value.strip_prefix('-') {
        neg.parse::<i64>().ok().map(|n| (-n) as u64)
    } else {
        value.parse::<u64>().ok()
    }
}

/// `eu-readelf -n CORE`, parsed.
pub fn notes(core: &Path) -> Notes {
    let text = eu_readelf(&["-n"], core);
    parse_notes(&text)
}

/// Parses `eu-readelf -n` output.
pub fn parse_notes(text: &str) -> Notes {
    let mut notes = Notes {
        raw: text.to_string(),
        ..Notes::default()
    };
    #[derive(PartialEq)]
    enum In {
        Other,
        PrStatus,
        PrPsInfo,
        SigInfo,
        File,
    }
    let mut state = In::Other;
    for line in text.lines() {
        // A note header: `  CORE                 336  PRSTATUS`.
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  ") && !line.starts_with("   ") && words.len() >= 3 {
            state = match words[2] {
                "PRSTATUS" => {
                    notes.prstatus.push(PrStatus::default());
                    In::PrStatus
                }
                "PRPSINFO" => {
                    notes.prpsinfo = Some(PrPsInfo::default());
                    In::PrPsInfo
                }
                "SIGINFO" => In::SigInfo,
                "FILE" => In::File,
                _ => In::Other,
            };
            continue;
        }
        match state {
            In::PrStatus => {
                let status = notes.prstatus.last_mut().expect("pushed above");
                for (key, value) in pairs(line) {
                    if let Some(n) = number(&value) {
                        match key.as_str() {
                            "pid" => status.tid = n,
                            "cursig" => status.cursig = n as i32,
                            _ => {}
                        }
                        status.fields.insert(key, n);
                    }
                }
            }
            In::PrPsInfo => {
                let info = notes.prpsinfo.as_mut().expect("set above");
                let trimmed = line.trim_start();
                if let Some(rest) = trimmed.strip_prefix("fname: ") {
                    let (fname, psargs) = rest.split_once(", psargs: ").unwrap_or((rest, ""));
                    info.fname = fname.to_string();
                    info.psargs = psargs.trim_end().to_string();
                    continue;
                }
                for (key, value) in pairs(line) {
                    let n = number(&value).unwrap_or_default();
                    match key.as_str() {
                        "pid" => info.pid = n,
                        "ppid" => info.ppid = n,
                        "uid" => info.uid = n,
                        "gid" => info.gid = n,
                        _ => {}
                    }
                }
            }
            In::SigInfo => {
                let trimmed = line.trim_start();
                if let Some(addr) = trimmed.strip_prefix("fault address: ") {
                    notes.fault_address = number(addr.trim());
                }
                for (key, value) in pairs(line) {
                    if key == "si_signo" {
                        notes.si_signo = number(&value).map(|n| n as i32);
                    }
                }
            }
            In::File => {
                // `      00400000-00401000 00000000 4096                /path/with spaces`
                let trimmed = line.trim_start();
                let mut parts = trimmed.splitn(4, char::is_whitespace);
                let (Some(range), Some(offset), Some(_size), Some(path)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Some((start, end)) = range.split_once('-') else {
                    continue;
                };
                if let (Some(start), Some(end), Some(offset)) =
                    (parse_hex(start), parse_hex(end), parse_hex(offset))
                {
                    notes.files.push(FileEntry {
                        start,
                        end,
                        offset,
                        path: path.trim().to_string(),
                    });
                }
            }
            In::Other => {}
        }
    }
    notes
}

/// The GNU build-id of an ELF file (`eu-readelf -n`), lowercase hex.
pub fn build_id(file: &Path) -> Option<String> {
    let text = eu_readelf(&["-n"], file);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .map(|s| s.trim().to_ascii_lowercase())
}

/// One program header (`eu-readelf -l`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phdr {
    /// `LOAD`, `NOTE`, …
    pub kind: String,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `R`, `W`, `E` letters, e.g. `RE`, `RW`.
    pub flags: String,
}

/// `eu-readelf -l FILE`, parsed.
pub fn program_headers(file: &Path) -> Vec<Phdr> {
    let text = eu_readelf(&["-l"], file);
    let mut out = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() < 7 || !tokens[1].starts_with("0x") || !tokens[2].starts_with("0x") {
            continue;
        }
        let (Some(offset), Some(vaddr), Some(filesz), Some(memsz)) = (
            parse_hex(tokens[1]),
            parse_hex(tokens[2]),
            parse_hex(tokens[4]),
            parse_hex(tokens[5]),
        ) else {
            continue;
        };
        // Flags are spread over tokens ("R E"); the last token is the alignment.
        let flags: String = tokens[6..tokens.len() - 1].concat();
        out.push(Phdr {
            kind: tokens[0].to_string(),
            offset,
            vaddr,
            filesz,
            memsz,
            flags,
        });
    }
    out
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn notes_of_a_core() {
        let text = "\
Note segment of 5024 bytes at offset 0x580:
  Owner          Data size  Type
  CORE                 336  PRSTATUS
    info.si_signo: 11, info.si_code: 0, info.si_errno: 0, cursig: 11
    pid: 10212, ppid: 10151, pgrp: 10151, sid: 6734
    orig_rax: -1, fpvalid: 1
    rdi:                      10  rip:      0x000055749e91b1a7
  CORE                 136  PRPSINFO
    state: 0, sname: R, zomb: 0, nice: 0, flag: 0x0000000000400600
    uid: 0, gid: 0, pid: 10212, ppid: 10151, pgrp: 10151, sid: 6734
    fname: sighandler, psargs: ../sighandler 
  CORE                 128  SIGINFO
    si_signo: 11, si_errno: 0, si_code: 1
    fault address: 0
  CORE                 886  FILE
    2 files:
      00400000-00401000 00000000 4096                /home/a b/crashme
      7f6112ad6000-7f6112c43000 00028000 1495040     /usr/lib64/libc.so.6
";
        let n = parse_notes(text);
        assert_eq!(n.prstatus.len(), 1);
        assert_eq!(n.prstatus[0].tid, 10212);
        assert_eq!(n.prstatus[0].cursig, 11);
        assert_eq!(n.prstatus[0].fields["rip"], 0x55749e91b1a7);
        assert_eq!(n.prstatus[0].fields["orig_rax"], u64::MAX);
        let p = n.prpsinfo.unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.fname.as_str()),
            (10212, 10151, "sighandler")
        );
        assert_eq!(n.si_signo, Some(11));
        assert_eq!(n.fault_address, Some(0));
        assert_eq!(n.files.len(), 2);
        assert_eq!(n.files[0].path, "/home/a b/crashme");
        assert_eq!(n.files[1].offset, 0x28000);
    }
}
