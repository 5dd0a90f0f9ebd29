//! The ELF container of a core: header, program headers, notes, and which bytes are present.

use std::fs::File;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

use crate::compressed::{self, Compression};
use crate::{Diagnostic, Error, FileOffset};

/// The operating system that wrote the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux (`EI_OSABI` 0 and `CORE`/`LINUX` notes).
    Linux,
    /// FreeBSD (`EI_OSABI` 9, `FreeBSD` notes).
    FreeBsd,
}

impl Os {
    /// The name used in JSON and text output.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::FreeBsd => "freebsd",
        }
    }
}

/// The processor architecture of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64 (`EM_X86_64`).
    X86_64,
    /// 64-bit ARM (`EM_AARCH64`).
    Aarch64,
}

impl Arch {
    /// The name used in JSON and text output.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// One `PT_LOAD` segment of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address.
    pub vaddr: u64,
    /// Size in memory (`p_memsz`).
    pub memsz: u64,
    /// Offset of the segment's bytes in the core file.
    pub offset: FileOffset,
    /// Bytes the kernel wrote (`p_filesz`); 0 for a segment that was not dumped.
    pub filesz: u64,
    /// Bytes of `filesz` actually present in the file; less than `filesz` when the core
    /// was cut short.
    pub present: u64,
    /// `PF_R` / `PF_W` / `PF_X` flags.
    pub flags: u32,
}

impl Segment {
    /// One past the last virtual address.
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }

    /// `rwx`-style permissions, as in `/proc/pid/maps` (without the sharing letter).
    pub fn perms(&self) -> String {
        let mut s = String::with_capacity(3);
        s.push(if self.flags & elf::PF_R != 0 {
            'r'
        } else {
            '-'
        });
        s.push(if self.flags & elf::PF_W != 0 {
            'w'
        } else {
            '-'
        });
        s.push(if self.flags & elf::PF_X != 0 {
            'x'
        } else {
            '-'
        });
        s
    }
}

/// Whether the file at `path` is an ELF core: the ELF magic, then `e_type` (at offset 16,
/// in the byte order `EI_DATA` names) equal to `ET_CORE`. Reads 18 bytes; a shorter file is
/// not a core.
///
/// A compressed file (zstd, xz, lz4, gzip) is a core when its first 18 decompressed bytes
/// are: only they are decompressed.
pub fn is_core_file(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let file = File::open(path)?;
    let head = match Compression::of_file(&file)? {
        Some(compression) => compressed::head(&file, compression, 18)?,
        None => {
            let mut head = Vec::with_capacity(18);
            file.take(18).read_to_end(&mut head)?;
            head
        }
    };
    let Some(head) = head.get(..18).filter(|h| h.starts_with(b"\x7fELF")) else {
        return Ok(false);
    };
    // e_ident[EI_DATA] (offset 5) names the byte order.
    let e_type = if head[5] == elf::ELFDATA2MSB {
        u16::from_be_bytes([head[16], head[17]])
    } else {
        u16::from_le_bytes([head[16], head[17]])
    };
    Ok(e_type == elf::ET_CORE)
}

/// What the file is when it cannot be a core (a directory, a device, an empty file), or
/// `None` for a regular file with bytes. Mapping any of these fails with `ENODEV` or
/// `EINVAL`, which names nothing a user would recognize.
fn file_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        (meta.len() == 0).then_some("an empty file")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a named pipe")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// A raw note: its owner name, type and descriptor bytes (borrowed from the core).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawNote<'a> {
    pub name: &'a [u8],
    pub kind: u32,
    pub desc: &'a [u8],
}

/// Where a core's bytes are.
pub(crate) enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// An ELF core file, mapped into memory and parsed lazily.
///
/// Opening reads only the ELF header, the program headers and the notes; segment bytes are
/// borrowed from the mapping when asked for.
pub struct CoreFile {
    path: PathBuf,
    data: Backing,
    os: Os,
    arch: Arch,
    segments: Vec<Segment>,
    /// (offset, size) of each PT_NOTE segment, clipped to the file.
    note_ranges: Vec<(usize, usize)>,
    diagnostics: Vec<Diagnostic>,
}

/// At most this many program headers are read: real cores have a few thousand at most,
/// and a corrupt `e_phnum` must not make us allocate gigabytes.
const MAX_PROGRAM_HEADERS: usize = 1 << 20;

impl CoreFile {
    /// Opens a core by mapping it into memory.
    ///
    /// # Safety
    ///
    /// The file is mapped, not read: if another process truncates or rewrites it while it is
    /// mapped, reads may fault or see changing bytes. Cores are written once and then only
    /// read, which is why heapmortem accepts this to avoid copying tens of gigabytes.
    ///
    /// A core compressed with zstd, xz, lz4 or gzip (recognized by its magic bytes, not its
    /// name) is first decompressed into a sparse temporary file, which is mapped instead: see
    /// [`CoreFile::open_with_progress`].
    pub unsafe fn open(path: &Path) -> Result<CoreFile, Error> {
        // SAFETY: forwarded to the caller.
        unsafe { Self::open_with_progress(path, false) }
    }

    /// Opens a core like [`CoreFile::open`], showing a progress bar on stderr while a
    /// compressed core is decompressed, if `progress` is set and stderr is a terminal.
    ///
    /// If the compressed stream ends early or is damaged, what was decompressed before is
    /// read as a truncated core and a diagnostic (`truncated_compressed_stream` or
    /// `corrupt_compressed_stream`) says where the stream stopped.
    ///
    /// # Safety
    ///
    /// As for [`CoreFile::open`]. A decompressed core is in a temporary file that nothing
    /// else knows about.
    pub unsafe fn open_with_progress(path: &Path, progress: bool) -> Result<CoreFile, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let what = file_kind(&file.metadata().map_err(io)?);
        if let Some(what) = what {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
                what,
            });
        }
        let (file, stream_problem) = match Compression::of_file(&file).map_err(io)? {
            Some(compression) => {
                let d = compressed::decompress(path, &file, compression, progress)?;
                (d.file, d.diagnostic)
            }
            None => (file, None),
        };
        // SAFETY: forwarded to the caller, see above. A decompressed core's temporary file
        // is already unlinked: the mapping keeps it alive, and it vanishes with the mapping.
        // The kernel's read-ahead is left on: heap walks and scans read the heap's segments
        // front to back, and with `MADV_RANDOM` a core not in the page cache was read a page
        // a fault (the 548 MB core of bench/glibc_walk.sh: 24.5 s of wall time against 0.65
        // s cached).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let parsed = Self::parse(path.to_path_buf(), Backing::Mapped(map));
        let mut core = match (parsed, &stream_problem) {
            // Too little was decompressed to hold even an ELF header: the stream is why.
            (Err(Error::NotElf(_)), Some(problem)) => {
                return Err(Error::BrokenStream {
                    path: path.to_path_buf(),
                    message: problem.message.clone(),
                })
            }
            (parsed, _) => parsed?,
        };
        // First: it is why the core's own headers find bytes missing.
        core.diagnostics.splice(0..0, stream_problem);
        Ok(core)
    }

    /// A core put together from parts already known rather than parsed: the segments of
    /// `data` (a live process's copy; see [`crate::Process::attach`]). It has no notes.
    pub(crate) fn from_parts(
        path: PathBuf,
        data: Backing,
        os: Os,
        arch: Arch,
        segments: Vec<Segment>,
        diagnostics: Vec<Diagnostic>,
    ) -> CoreFile {
        CoreFile {
            path,
            data,
            os,
            arch,
            segments,
            note_ranges: Vec::new(),
            diagnostics,
        }
    }

    /// Parses a core held in memory (tests and fuzzing).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CoreFile, Error> {
        Self::parse(PathBuf::from(name), Backing::Owned(bytes))
    }

    fn parse(path: PathBuf, data: Backing) -> Result<CoreFile, Error> {
        let bytes: &[u8] = match &data {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        };
        let mut diagnostics = Vec::new();
        if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
            return Err(Error::NotElf(format!(
                "{} does not start with the ELF magic",
                path.display()
            )));
        }
        if bytes.len() < 64 {
            return Err(Error::NotElf(format!(
                "{} is {} bytes long, shorter than an ELF header (heavily truncated core?)",
                path.display(),
                bytes.len()
            )));
        }
        if bytes[4] != elf::ELFCLASS64 {
            return Err(Error::Unsupported(format!(
                "{} is a 32-bit core; heapmortem reads 64-bit cores (x86_64, aarch64)",
                path.display()
            )));
        }
        let header = elf::FileHeader64::<Endianness>::parse(bytes)
            .map_err(|e| Error::NotElf(format!("{}: {e}", path.display())))?;
        let endian = header
            .endian()
            .map_err(|e| Error::NotElf(format!("{}: {e}", path.display())))?;
        if endian != Endianness::Little {
            return Err(Error::Unsupported(format!(
                "{} is big-endian; heapmortem reads little-endian cores",
                path.display()
            )));
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_CORE {
            return Err(Error::NotACore(path, e_type));
        }
        let arch = match header.e_machine(endian) {
            elf::EM_X86_64 => Arch::X86_64,
            elf::EM_AARCH64 => Arch::Aarch64,
            other => {
                return Err(Error::Unsupported(format!(
                    "{} is for ELF machine {other}; heapmortem reads x86_64 and aarch64 cores",
                    path.display()
                )))
            }
        };

        let phoff = header.e_phoff(endian);
        let phnum = header.e_phnum(endian) as usize;
        let phentsize = header.e_phentsize(endian) as usize;
        if phentsize != std::mem::size_of::<elf::ProgramHeader64<Endianness>>() && phnum != 0 {
            return Err(Error::NotElf(format!(
                "{}: program header entries are {phentsize} bytes, expected 56",
                path.display()
            )));
        }
        // A core whose program headers were cut off keeps the ones that fit.
        let available = usize::try_from(phoff)
            .ok()
            .and_then(|off| bytes.len().checked_sub(off))
            .unwrap_or(0)
            / phentsize.max(1);
        let wanted = phnum.min(MAX_PROGRAM_HEADERS);
        if available < wanted {
            diagnostics.push(Diagnostic::new(
                "truncated_headers",
                format!(
                    "the core holds {available} of its {phnum} program headers (file cut short)"
                ),
            ));
        }
        let count = wanted.min(available);
        let phdrs: &[elf::ProgramHeader64<Endianness>] = if count == 0 {
            &[]
        } else {
            object::pod::slice_from_bytes(&bytes[phoff as usize..], count)
                .map(|(s, _)| s)
                .map_err(|()| Error::NotElf("misaligned program headers".into()))?
        };

        let file_len = bytes.len() as u64;
        let mut segments = Vec::new();
        let mut note_ranges = Vec::new();
        for ph in phdrs {
            let offset = ph.p_offset(endian);
            let filesz = ph.p_filesz(endian);
            let present = file_len.saturating_sub(offset).min(filesz);
            match ph.p_type(endian) {
                elf::PT_LOAD => {
                    let seg = Segment {
                        vaddr: ph.p_vaddr(endian),
                        memsz: ph.p_memsz(endian),
                        offset: FileOffset(offset),
                        filesz,
                        present,
                        flags: ph.p_flags(endian),
                    };
                    segments.push(seg);
                }
                elf::PT_NOTE => {
                    if present < filesz {
                        diagnostics.push(Diagnostic::new(
                            "truncated_notes",
                            format!(
                                "the note segment at file offset {offset:#x} holds {present} of {filesz} bytes"
                            ),
                        ));
                    }
                    if present > 0 {
                        note_ranges.push((offset as usize, present as usize));
                    }
                }
                _ => {}
            }
        }
        let missing = segments
            .iter()
            .fold(0u64, |acc, s| acc.saturating_add(s.filesz - s.present));
        if missing > 0 {
            let cut = segments.iter().filter(|s| s.present < s.filesz).count();
            diagnostics.push(Diagnostic::new(
                "truncated_segments",
                format!(
                    "the core file is {file_len} bytes but its segments need {}; {cut} segments lost {missing} bytes",
                    segments
                        .iter()
                        .map(|s| s.offset.0.saturating_add(s.filesz))
                        .max()
                        .unwrap_or(0)
                ),
            ));
        }
        // Sorted by address so that lookups can binary-search.
        segments.sort_by_key(|s| s.vaddr);
        clip_overlaps(&mut segments, &mut diagnostics);

        let os_abi = header.e_ident().os_abi;
        let mut core = CoreFile {
            path,
            data,
            os: Os::Linux,
            arch,
            segments,
            note_ranges,
            diagnostics,
        };
        let freebsd = os_abi == elf::ELFOSABI_FREEBSD || core.notes().any(|n| n.name == b"FreeBSD");
        if freebsd {
            core.os = Os::FreeBsd;
        }
        Ok(core)
    }

    /// The path the core was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All the bytes of the file.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// The operating system that wrote the core.
    pub fn os(&self) -> Os {
        self.os
    }

    /// The architecture of the dumped process.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// `PT_LOAD` segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Problems found while parsing the container.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Whether bytes the headers promise are missing from the file.
    pub fn is_truncated(&self) -> bool {
        self.segments.iter().any(|s| s.present < s.filesz)
            || self
                .diagnostics
                .iter()
                .any(|d| d.kind.starts_with("truncated"))
    }

    /// The segment containing `addr`, if any.
    pub fn segment_at(&self, addr: u64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.vaddr <= addr);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        (addr < seg.end()).then_some(seg)
    }

    /// Bytes of the core at `addr`, as many as are contiguous in one segment and present in
    /// the file, borrowed from the mapping.
    pub fn bytes_at(&self, addr: u64) -> &[u8] {
        let Some(seg) = self.segment_at(addr) else {
            return &[];
        };
        let rel = addr - seg.vaddr;
        if rel >= seg.present {
            return &[];
        }
        let start = (seg.offset.0 + rel) as usize;
        let end = (seg.offset.0 + seg.present) as usize;
        self.bytes().get(start..end).unwrap_or(&[])
    }

    /// Iterates over the notes; a malformed note ends its segment's iteration (the rest of
    /// that segment cannot be framed) and is recorded by [`crate::ProcessNotes`].
    pub(crate) fn notes(&self) -> impl Iterator<Item = RawNote<'_>> + '_ {
        let bytes = self.bytes();
        self.note_ranges
            .iter()
            .flat_map(move |&(off, len)| NoteIter {
                data: &bytes[off..off + len],
            })
    }
}

/// A damaged core can have `PT_LOAD` segments that overlap (the kernel never writes them).
/// An address must read the same bytes whichever way it is reached (a lookup, a cursor going
/// forward through one segment, a thread given a segment's slice), so each segment is cut
/// where the next one (by address) starts: the later segment owns the overlap, as a lookup
/// by address already chose, and what lay past it is named as lost.
fn clip_overlaps(segments: &mut [Segment], diagnostics: &mut Vec<Diagnostic>) {
    for i in 1..segments.len() {
        let next = segments[i].vaddr;
        let seg = &mut segments[i - 1];
        if seg.end() <= next {
            continue;
        }
        let keep = next - seg.vaddr;
        diagnostics.push(Diagnostic::at(
            "overlapping_segments",
            next,
            format!(
                "the segment at {:#x} ({} bytes) overlaps the next one; read up to {next:#x} only",
                seg.vaddr, seg.memsz
            ),
        ));
        seg.memsz = keep;
        seg.filesz = seg.filesz.min(keep);
        seg.present = seg.present.min(keep);
    }
}

/// Frames `Elf64_Nhdr` records; stops at the first record that does not fit.
struct NoteIter<'a> {
    data: &'a [u8],
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

impl<'a> Iterator for NoteIter<'a> {
    type Item = RawNote<'a>;

    fn next(&mut self) -> Option<RawNote<'a>> {
        let d = self.data;
        if d.len() < 12 {
            return None;
        }
        let namesz = u32::from_le_bytes(d[0..4].try_into().ok()?) as usize;
        let descsz = u32::from_le_bytes(d[4..8].try_into().ok()?) as usize;
        let kind = u32::from_le_bytes(d[8..12].try_into().ok()?);
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = 12usize.checked_add(align4(namesz))?;
        let desc_end = desc_start.checked_add(descsz)?;
        if desc_end > d.len() {
            self.data = &[];
            return None;
        }
        let mut name = &d[12..name_end];
        if let Some(stripped) = name.strip_suffix(b"\0") {
            name = stripped;
        }
        let desc = &d[desc_start..desc_end];
        self.data = d.get(align4(desc_end)..).unwrap_or(&[]);
        Some(RawNote { name, kind, desc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An x86_64 `ET_CORE` header and `PT_LOAD` headers for `(vaddr, bytes)` segments, the
    /// bytes placed after the headers in order (ELF-64 layouts from the System V gABI).
    fn image(segments: &[(u64, &[u8])]) -> Vec<u8> {
        let phoff = 64u64;
        let mut data_at = phoff + 56 * segments.len() as u64;
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = elf::ELFCLASS64;
        out[5] = elf::ELFDATA2LSB;
        out[6] = 1;
        out[16..18].copy_from_slice(&elf::ET_CORE.to_le_bytes());
        out[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[32..40].copy_from_slice(&phoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (vaddr, bytes) in segments {
            let len = bytes.len() as u64;
            let mut ph = Vec::new();
            ph.extend_from_slice(&elf::PT_LOAD.to_le_bytes());
            ph.extend_from_slice(&(elf::PF_R | elf::PF_W).to_le_bytes());
            for v in [data_at, *vaddr, 0, len, len, 0x1000] {
                ph.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&ph);
            data_at += len;
        }
        for (_, bytes) in segments {
            out.extend_from_slice(bytes);
        }
        out
    }

    #[test]
    fn overlapping_segments_are_cut_where_the_next_starts() {
        let a = [0xaau8; 0x30];
        let b = [0xbbu8; 0x10];
        let c = image(&[(0x1000, &a), (0x1020, &b)]);
        let core = CoreFile::from_bytes("overlap", c).expect("a core");
        // One answer per address, whichever way it is asked: the first segment's bytes stop
        // where the second starts, and nothing is read past the second's end.
        assert_eq!(core.bytes_at(0x1000), &a[..0x20]);
        assert_eq!(core.bytes_at(0x1018), &a[..8]);
        assert_eq!(core.bytes_at(0x1020), &b[..]);
        assert_eq!(core.bytes_at(0x1030), &[] as &[u8]);
        assert_eq!(core.segments()[0].end(), 0x1020);
        let d: Vec<_> = core
            .diagnostics()
            .iter()
            .map(|d| (d.kind, d.address))
            .collect();
        assert_eq!(d, [("overlapping_segments", Some(0x1020))]);
        // Segments that only touch are left alone.
        let c = image(&[(0x1000, &[1u8; 0x20]), (0x1020, &[2u8; 0x20])]);
        let core = CoreFile::from_bytes("touching", c).expect("a core");
        assert!(core.diagnostics().is_empty());
        assert_eq!(core.bytes_at(0x1000).len(), 0x20);
    }
}
