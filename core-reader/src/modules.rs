//! Modules: the executable and shared libraries mapped into the process.
//!
//! Found from Linux's `NT_FILE` (or FreeBSD's vmmap) and, where those are missing, from the
//! dynamic linker's `r_debug` / `link_map` list reached through the executable's `DT_DEBUG`.
//! Each module's ELF header, program headers and build-id note are read from the core when
//! the kernel dumped the first page (Linux does by default: coredump_filter bit 4), else from
//! the file on disk.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::debuginfod::FileSource;
use crate::process_notes::{FileMapping, ProcessNotes, AT_PHDR, AT_PHNUM};
use crate::{Diagnostic, FileOffset, LoadBias, Memory, ModuleAddr, ProcessAddr};

/// A GNU build-id (the `NT_GNU_BUILD_ID` note's bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BuildId(pub Vec<u8>);

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildId({self})")
    }
}

/// The file found on disk for a module.
#[derive(Debug, Clone)]
pub struct ModuleFile {
    /// Where it was found (after `--exe` / `--sysroot`).
    pub path: PathBuf,
    /// Its build-id, if it has one.
    pub build_id: Option<BuildId>,
    /// Whether its build-id equals the one in the core's memory; `None` when either is
    /// unknown.
    pub matches: Option<bool>,
    /// Where it came from: this machine, or a debuginfod server.
    pub source: FileSource,
}

impl ModuleFile {
    /// Whether the file may be used in place of the module's memory: its build-id matches, or
    /// there is nothing to compare.
    pub fn usable(&self) -> bool {
        self.matches != Some(false)
    }
}

/// One ELF object loaded in the process.
#[derive(Debug, Clone)]
pub struct Module {
    /// The path the process had for it.
    pub path: String,
    /// Lowest mapped address.
    pub start: u64,
    /// One past the highest mapped address.
    pub end: u64,
    /// Load bias: a run-time address minus the address in the ELF file.
    pub bias: LoadBias,
    /// Build-id read from the core's memory (or from the file when the headers were not
    /// dumped).
    pub build_id: Option<BuildId>,
    /// The file found on disk, if any.
    pub file: Option<ModuleFile>,
    /// A separate debug file found for it (by build-id or `.gnu_debuglink`).
    pub debug_file: Option<PathBuf>,
    /// Where the debug file came from (`None` without one).
    pub debug_file_source: Option<FileSource>,
    /// Whether this is the main executable.
    pub is_main: bool,
    /// The module's bytes copied out of the core, for modules no file holds (the vDSO).
    pub memory_image: Option<&'static [u8]>,
    /// `[start, end)` in the process of each segment its program headers say is written at
    /// run time: every writable `PT_LOAD` and the `PT_GNU_RELRO` range, which the dynamic
    /// linker (or a static program's start-up code) makes read-only once relocated, so the
    /// mapping's protection no longer says it holds data. Empty when neither the core nor
    /// the file gave the program headers.
    pub data_segments: Vec<(u64, u64)>,
}

impl Module {
    /// Whether `addr` lies in one of the module's mappings' overall range.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }

    /// The final path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// What an ELF header says about a loaded object, read from memory or from a file.
pub(crate) struct ElfImage {
    pub phdrs: Vec<Phdr>,
    pub build_id: Option<BuildId>,
}

/// A program header, as far as modules need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: FileOffset,
    pub vaddr: ModuleAddr,
    pub filesz: u64,
    pub memsz: u64,
}

impl Phdr {
    /// The module address of file offset 0 in this segment's numbering (`p_vaddr -
    /// p_offset`): where the ELF header sits for a segment that maps the file's start.
    fn file_start(&self) -> ModuleAddr {
        ModuleAddr(self.vaddr.0.wrapping_sub(self.offset.0))
    }
}

pub(crate) const PT_LOAD: u32 = 1;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_W: u32 = 2;
const PT_DYNAMIC: u32 = 2;
const PT_NOTE: u32 = 4;
const PT_PHDR: u32 = 6;
const NT_GNU_BUILD_ID: u32 = 3;
const DT_NULL: u64 = 0;
const DT_DEBUG: u64 = 21;
/// Bounds for walks over memory the process may have scribbled over.
const MAX_PHDRS: usize = 256;
const MAX_DYNAMIC: usize = 4096;
const MAX_LINK_MAP: usize = 65536;

impl ElfImage {
    /// The lowest `p_vaddr - p_offset` among `PT_LOAD`s with offset 0: where the ELF header
    /// sits in the file's address space.
    pub fn first_load_vaddr(&self) -> Option<ModuleAddr> {
        first_load(&self.phdrs)
    }
}

/// The lowest [`Phdr::file_start`] among `PT_LOAD`s.
pub(crate) fn first_load(phdrs: &[Phdr]) -> Option<ModuleAddr> {
    phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(Phdr::file_start)
        .min()
}

/// Reads an ELF64 header and its program headers at `base` in memory, and the build-id
/// note from the `PT_NOTE` segments (at `bias + p_vaddr`).
pub(crate) fn read_image(mem: &dyn Memory, base: u64) -> Option<ElfImage> {
    let mut ehdr = [0u8; 64];
    if !mem.read_exact(base, &mut ehdr) || &ehdr[..4] != b"\x7fELF" || ehdr[4] != 2 {
        return None;
    }
    let phoff = u64::from_le_bytes(ehdr[32..40].try_into().ok()?);
    let phentsize = u16::from_le_bytes(ehdr[54..56].try_into().ok()?) as u64;
    let phnum = (u16::from_le_bytes(ehdr[56..58].try_into().ok()?) as usize).min(MAX_PHDRS);
    if phentsize != 56 {
        return None;
    }
    let phdrs = read_phdrs(mem, base.checked_add(phoff)?, phnum)?;
    let mut image = ElfImage {
        phdrs,
        build_id: None,
    };
    let bias = LoadBias::between(ProcessAddr(base), image.first_load_vaddr()?);
    image.build_id = build_id_from_memory(mem, &image.phdrs, bias);
    Some(image)
}

fn read_phdrs(mem: &dyn Memory, at: u64, count: usize) -> Option<Vec<Phdr>> {
    let mut buf = vec![0u8; count * 56];
    if !mem.read_exact(at, &mut buf) {
        return None;
    }
    Some(
        buf.chunks_exact(56)
            .map(|p| {
                let u = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().unwrap_or([0; 8]));
                Phdr {
                    p_type: u32::from_le_bytes(p[0..4].try_into().unwrap_or([0; 4])),
                    flags: u32::from_le_bytes(p[4..8].try_into().unwrap_or([0; 4])),
                    offset: FileOffset(u(8)),
                    vaddr: ModuleAddr(u(16)),
                    filesz: u(32),
                    memsz: u(40),
                }
            })
            .collect(),
    )
}

fn build_id_from_memory(mem: &dyn Memory, phdrs: &[Phdr], bias: LoadBias) -> Option<BuildId> {
    for p in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let len = (p.filesz as usize).min(1 << 16);
        let mut buf = vec![0u8; len];
        let n = mem.read(bias.to_process(p.vaddr).0, &mut buf);
        if let Some(id) = build_id_in_notes(&buf[..n]) {
            return Some(id);
        }
    }
    None
}

/// Finds `NT_GNU_BUILD_ID` in a run of ELF notes.
pub(crate) fn build_id_in_notes(mut d: &[u8]) -> Option<BuildId> {
    while d.len() >= 12 {
        let namesz = u32::from_le_bytes(d[0..4].try_into().ok()?) as usize;
        let descsz = u32::from_le_bytes(d[4..8].try_into().ok()?) as usize;
        let kind = u32::from_le_bytes(d[8..12].try_into().ok()?);
        let desc_start = 12 + ((namesz + 3) & !3);
        let desc_end = desc_start.checked_add(descsz)?;
        if desc_end > d.len() {
            return None;
        }
        if kind == NT_GNU_BUILD_ID && d.get(12..12 + namesz)? == b"GNU\0" {
            return Some(BuildId(d[desc_start..desc_end].to_vec()));
        }
        d = d.get((desc_end + 3) & !3..)?;
    }
    None
}

/// Reads the build-id of an ELF file on disk.
pub(crate) fn build_id_of_file(data: &[u8]) -> Option<BuildId> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).ok()?;
    if let Ok(Some(id)) = file.build_id() {
        return Some(BuildId(id.to_vec()));
    }
    // Some debug files carry the note in a section object does not look at.
    let section = file.section_by_name(".note.gnu.build-id")?;
    build_id_in_notes(section.data().ok()?)
}

/// A module candidate before files are looked up.
pub(crate) struct Candidate {
    pub path: String,
    pub start: u64,
    pub end: u64,
    /// Address of the ELF header (mapping with file offset 0), when known.
    pub base: Option<u64>,
    /// Load bias when known without the ELF header (link_map's l_addr).
    pub bias: Option<LoadBias>,
    /// Whether the notes say one of its mappings is executable: code, so a module even
    /// when neither its headers nor its file can show it is ELF (FreeBSD's map records
    /// protections; a core stripped of all memory still names its libraries by them).
    pub code: bool,
}

/// Groups file mappings by path into module candidates, in address order.
pub(crate) fn candidates_from_files(files: &[FileMapping]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for f in files {
        if f.path.is_empty() {
            continue;
        }
        let code = f.perms.as_deref().is_some_and(|p| p.contains('x'));
        match out.iter_mut().find(|c| c.path == f.path) {
            Some(c) => {
                c.start = c.start.min(f.start);
                c.end = c.end.max(f.end);
                if f.offset == 0 && c.base.is_none() {
                    c.base = Some(f.start);
                }
                c.code |= code;
            }
            None => out.push(Candidate {
                path: f.path.clone(),
                start: f.start,
                end: f.end,
                base: (f.offset == 0).then_some(f.start),
                bias: None,
                code,
            }),
        }
    }
    out
}

/// Walks the dynamic linker's list of loaded objects, starting from the executable's
/// program headers (AT_PHDR), its `PT_DYNAMIC`, `DT_DEBUG` → `struct r_debug` → `link_map`.
///
/// Layouts: glibc elf/link.h (`struct r_debug { int r_version; struct link_map *r_map; … }`,
/// `struct link_map { l_addr; l_name; l_ld; l_next; l_prev; }`), the same on FreeBSD
/// (sys/sys/link_elf.h). Returns the candidates (the executable first) or why it could not.
pub(crate) fn candidates_from_link_map(
    mem: &dyn Memory,
    notes: &ProcessNotes,
    exe: Option<&[u8]>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let (Some(phdr_addr), Some(phnum)) = (notes.auxv_value(AT_PHDR), notes.auxv_value(AT_PHNUM))
    else {
        return out;
    };
    // The headers are in the executable's first page, which cores made by gdb's gcore (and
    // Linux with coredump_filter bit 4 cleared) leave out; the executable file has them.
    let phdrs =
        read_phdrs(mem, phdr_addr, (phnum as usize).min(MAX_PHDRS)).or_else(|| file_phdrs(exe?));
    let Some(phdrs) = phdrs else {
        diagnostics.push(Diagnostic::new(
            "no_link_map",
            format!(
                "the executable's program headers at {phdr_addr:#x} are not in the core \
                 (give the executable with --exe)"
            ),
        ));
        return out;
    };
    // The executable's bias: AT_PHDR minus PT_PHDR's p_vaddr (or 0 for ET_EXEC without one).
    let bias = phdrs
        .iter()
        .find(|p| p.p_type == PT_PHDR)
        .map_or(LoadBias(0), |p| {
            LoadBias::between(ProcessAddr(phdr_addr), p.vaddr)
        });
    if let Some(low) = first_load(&phdrs) {
        let (lo, hi) = load_range(&phdrs, bias);
        out.push(Candidate {
            path: String::new(),
            start: lo,
            end: hi,
            base: Some(bias.to_process(low).0),
            bias: Some(bias),
            code: false,
        });
    }
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return out; // static executable: no dynamic linker list
    };
    let dyn_addr = bias.to_process(dynamic.vaddr).0;
    let mut r_debug = None;
    for i in 0..MAX_DYNAMIC as u64 {
        let at = dyn_addr.wrapping_add(i * 16);
        let (Some(tag), Some(val)) = (mem.read_u64(at), mem.read_u64(at.wrapping_add(8))) else {
            break;
        };
        if tag == DT_NULL {
            break;
        }
        if tag == DT_DEBUG {
            r_debug = Some(val);
        }
    }
    let Some(r_debug) = r_debug.filter(|&a| a != 0) else {
        diagnostics.push(Diagnostic::new(
            "no_link_map",
            "the executable's DT_DEBUG is empty: the dynamic linker's list cannot be read",
        ));
        return out;
    };
    let mut lm = mem.read_u64(r_debug.wrapping_add(8)).unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    while lm != 0 && out.len() < MAX_LINK_MAP {
        if !seen.insert(lm) {
            diagnostics.push(Diagnostic::new(
                "bad_link_map",
                format!("the link_map list loops back to {lm:#x}"),
            ));
            break;
        }
        let (Some(l_addr), Some(l_name), Some(next)) = (
            mem.read_u64(lm),
            mem.read_u64(lm.wrapping_add(8)),
            mem.read_u64(lm.wrapping_add(24)),
        ) else {
            diagnostics.push(Diagnostic::new(
                "bad_link_map",
                format!("link_map entry at {lm:#x} is not in the core"),
            ));
            break;
        };
        let name = mem.read_cstr(l_name, 4096).unwrap_or_default();
        if !name.is_empty() {
            // Shared objects are linked at 0, so their ELF header sits at l_addr.
            let image = read_image(mem, l_addr);
            let (start, end) = image
                .as_ref()
                .map(|img| load_range(&img.phdrs, LoadBias(l_addr)))
                .unwrap_or((l_addr, l_addr));
            out.push(Candidate {
                path: name,
                start,
                end,
                base: image.is_some().then_some(l_addr),
                bias: Some(LoadBias(l_addr)),
                code: false,
            });
        }
        lm = next;
    }
    out
}

/// The program headers of an ELF file, as `read_phdrs` returns them.
pub(crate) fn file_phdrs(data: &[u8]) -> Option<Vec<Phdr>> {
    use object::read::elf::{FileHeader, ProgramHeader};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let phdrs = header.program_headers(endian, data).ok()?;
    Some(
        phdrs
            .iter()
            .take(MAX_PHDRS)
            .map(|p| Phdr {
                p_type: p.p_type(endian),
                flags: p.p_flags(endian),
                offset: FileOffset(p.p_offset(endian)),
                vaddr: ModuleAddr(p.p_vaddr(endian)),
                filesz: p.p_filesz(endian),
                memsz: p.p_memsz(endian),
            })
            .collect(),
    )
}

/// [`Module::data_segments`]: the writable `PT_LOAD`s and `PT_GNU_RELRO`, at `bias`.
pub(crate) fn data_segments(phdrs: &[Phdr], bias: LoadBias) -> Vec<(u64, u64)> {
    phdrs
        .iter()
        .filter(|p| (p.p_type == PT_LOAD && p.flags & PF_W != 0) || p.p_type == PT_GNU_RELRO)
        .map(|p| {
            let start = bias.to_process(p.vaddr).0;
            (start, start.saturating_add(p.memsz))
        })
        .collect()
}

/// The address range spanned by the `PT_LOAD`s, page-aligned, at `bias`.
pub(crate) fn load_range(phdrs: &[Phdr], bias: LoadBias) -> (u64, u64) {
    let loads = phdrs.iter().filter(|p| p.p_type == PT_LOAD);
    let lo = loads.clone().map(|p| p.vaddr.0).min().unwrap_or(0) & !0xfff;
    let hi = loads
        .map(|p| p.vaddr.0.saturating_add(p.memsz))
        .max()
        .unwrap_or(0)
        .saturating_add(0xfff)
        & !0xfff;
    (
        bias.to_process(ModuleAddr(lo)).0,
        bias.to_process(ModuleAddr(hi)).0,
    )
}

/// Where to look for a module's file: `--exe` for the main program; else the recorded path,
/// under `--sysroot` when one is given (never the host's file then: it may be built for
/// another architecture, and a core without its modules' headers has no build-id to tell);
/// else, like gdb's solib-search-path, a
/// file of the same name beside `--exe` (artifacts copied off a production host usually sit
/// together). Callers check the build-id before trusting what is found.
pub(crate) fn locate_file(
    path: &str,
    is_main: bool,
    exe: Option<&Path>,
    sysroot: Option<&Path>,
) -> Option<PathBuf> {
    if is_main {
        if let Some(exe) = exe {
            return Some(exe.to_path_buf());
        }
    }
    if path.is_empty() {
        return None;
    }
    let candidate = match sysroot {
        Some(root) => root.join(path.trim_start_matches('/')),
        None => PathBuf::from(path),
    };
    if candidate.is_file() {
        return Some(candidate);
    }
    let name = Path::new(path).file_name()?;
    let beside = exe?.parent()?.join(name);
    beside.is_file().then_some(beside)
}
