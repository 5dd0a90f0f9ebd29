//! [`Process`]: a core with its threads, memory, modules and symbols in one view.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::debuginfod::Debuginfod;
use crate::files::FileCache;
use crate::modules::{self, read_image, Candidate, PT_LOAD};
use crate::symbolize::{executable_file, find_debug_file, SearchPaths};
use crate::types::TypeIndex;
use crate::{
    Arch, BuildId, CoreFile, Diagnostic, Error, FileOffset, LoadBias, Mapping, Memory, Module,
    ModuleAddr, ModuleFile, Os, ProcessAddr, ProcessNotes, StackSlot, Symbolizer, Target,
    ThreadNote,
};

/// Where to find the files a core refers to (the command line's common flags, as they are).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Options {
    /// The main executable, where it is not at the path the input records.
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH", global = true))]
    pub exe: Option<PathBuf>,
    /// Prefix for library paths recorded in the input (a copy of the host's /); with it the
    /// default debug folder is DIR/usr/lib/debug.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR", global = true))]
    pub sysroot: Option<PathBuf>,
    /// A folder searched for debug files by build-id (DIR/.build-id/ab/cdef….debug) and by
    /// .gnu_debuglink name. Repeatable; the default folder (/usr/lib/debug, or
    /// SYSROOT/usr/lib/debug with --sysroot) is always searched too.
    #[cfg_attr(
        feature = "clap",
        arg(long = "debug-dir", value_name = "DIR", global = true)
    )]
    pub debug_dirs: Vec<PathBuf>,
    /// Debuginfod servers asked by build-id for executables and debug files not found
    /// locally: from `DEBUGINFOD_URLS` on the command line, as gdb and elfutils read it.
    #[cfg_attr(
        feature = "clap",
        arg(skip = crate::Debuginfod::urls_from_env())
    )]
    pub debuginfod_urls: Vec<String>,
    /// Show a progress bar on stderr, when it is a terminal, while a compressed core is
    /// decompressed (always, from the command line).
    #[cfg_attr(feature = "clap", arg(skip = true))]
    pub progress: bool,
}

impl Options {
    /// Where files are looked for: the sysroot, the debug folders, and a client of the
    /// debuginfod servers (one per call: it remembers which servers could not be reached).
    pub fn search(&self) -> SearchPaths {
        SearchPaths {
            sysroot: self.sysroot.clone(),
            debug_dirs: self.debug_dirs.clone(),
            debuginfod: Debuginfod::new(&self.debuginfod_urls).map(Arc::new),
        }
    }
}

/// A file's bytes standing in for memory the kernel did not dump: process addresses
/// `start..end` hold the file's bytes from `offset`.
struct FileRegion {
    start: u64,
    end: u64,
    data: &'static [u8],
    offset: FileOffset,
}

/// A dead process, as its core shows it.
pub struct Process {
    core: CoreFile,
    notes: ProcessNotes,
    mappings: Vec<Mapping>,
    file_regions: Vec<FileRegion>,
    symbolizer: Symbolizer,
    executable: Option<String>,
    diagnostics: Vec<Diagnostic>,
    types: TypeIndex,
}

impl Process {
    /// Opens a core (possibly compressed: see [`CoreFile::open_with_progress`]) and finds
    /// its modules' files.
    ///
    /// # Safety
    ///
    /// The core is memory-mapped: see [`CoreFile::open`].
    pub unsafe fn open(path: &Path, options: &Options) -> Result<Process, Error> {
        // SAFETY: forwarded to the caller.
        let core = unsafe { CoreFile::open_with_progress(path, options.progress)? };
        Ok(Self::from_core(core, options))
    }

    /// Builds the process view of an opened core.
    pub fn from_core(core: CoreFile, options: &Options) -> Process {
        let notes = ProcessNotes::read(&core);
        Self::from_parts(core, notes, options)
    }

    /// Builds the process view of a core whose notes were read already (or, for a live
    /// process, gathered from /proc and ptrace).
    pub(crate) fn from_parts(core: CoreFile, notes: ProcessNotes, options: &Options) -> Process {
        let mut diagnostics: Vec<Diagnostic> = core.diagnostics().to_vec();
        diagnostics.extend(notes.diagnostics.iter().cloned());
        if notes.threads.is_empty() {
            diagnostics.push(Diagnostic::new(
                "no_threads",
                "the core holds no readable thread status (NT_PRSTATUS) notes",
            ));
        }
        let files = FileCache::global();
        let search = options.search();
        let mut process = Process {
            core,
            notes,
            mappings: Vec::new(),
            file_regions: Vec::new(),
            symbolizer: Symbolizer::new(Vec::new(), &search),
            executable: None,
            diagnostics,
            types: TypeIndex::default(),
        };
        let modules = process.find_modules(options, &search, files);
        if let Some(client) = &search.debuginfod {
            process.diagnostics.extend(client.diagnostics());
        }
        process.executable = modules
            .iter()
            .find(|m| m.is_main)
            .map(|m| m.path.clone())
            .or_else(|| process.notes.command.clone());
        process.mappings = process.build_mappings(&modules);
        process.symbolizer = Symbolizer::new(modules, &search);
        process
    }

    fn find_modules(
        &mut self,
        options: &Options,
        search: &SearchPaths,
        files: &'static FileCache,
    ) -> Vec<Module> {
        let entry = self.notes.auxv_value(crate::process_notes::AT_ENTRY);
        let mut candidates = modules::candidates_from_files(&self.notes.files);
        if candidates.is_empty() {
            let mut diags = Vec::new();
            // The path the program was started by (on the dumped stack), which link_map
            // leaves empty for the executable.
            let execfn = self
                .notes
                .auxv_value(AT_EXECFN)
                .and_then(|a| self.read_cstr(a, 4096))
                .filter(|p| !p.is_empty());
            let exe_path = options.exe.clone().or_else(|| {
                modules::locate_file(execfn.as_deref()?, false, None, options.sysroot.as_deref())
            });
            let exe = exe_path.as_deref().and_then(|p| files.get(p));
            candidates = modules::candidates_from_link_map(self, &self.notes, exe, &mut diags);
            self.diagnostics.extend(diags);
            if let Some(main) = candidates.first_mut().filter(|c| c.path.is_empty()) {
                main.path = execfn
                    .or_else(|| self.notes.command.clone())
                    .unwrap_or_default();
            }
        }
        // The vDSO: an ELF image the kernel maps into every process, named by no file; its
        // headers, symbols and CFI are all in the core (AT_SYSINFO_EHDR points at it).
        let vdso = self
            .notes
            .auxv_value(AT_SYSINFO_EHDR)
            .filter(|&a| a != 0 && !candidates.iter().any(|c| c.start <= a && a < c.end));
        let mut out = Vec::new();
        if let Some(base) = vdso {
            if let Some(m) = self.vdso_module(base) {
                out.push(m);
            }
        }
        for (i, c) in candidates.into_iter().enumerate() {
            let is_main = match entry {
                Some(e) => c.start <= e && e < c.end,
                None => i == 0,
            };
            if let Some(m) = self.resolve_module(c, is_main, options, search, files) {
                out.push(m);
            }
        }
        // The file-backed bytes the core may lack (read-only text is not dumped by default):
        // each usable module file's PT_LOAD segments, at their run-time addresses.
        let mut regions = Vec::new();
        for module in &out {
            let Some(file) = module.file.as_ref().filter(|f| f.usable()) else {
                continue;
            };
            let Some(data) = files.get(&file.path) else {
                continue;
            };
            for p in modules::file_phdrs(data).unwrap_or_default() {
                if p.p_type != PT_LOAD || p.filesz == 0 {
                    continue;
                }
                let start = module.bias.to_process(p.vaddr).0;
                regions.push(FileRegion {
                    start,
                    end: start.saturating_add(p.filesz),
                    data,
                    offset: p.offset,
                });
            }
        }
        regions.sort_by_key(|r| r.start);
        self.file_regions = regions;
        out
    }

    fn vdso_module(&self, base: u64) -> Option<Module> {
        let image = read_image(self, base)?;
        let low = image.first_load_vaddr()?;
        let bias = LoadBias::between(ProcessAddr(base), low);
        let seg = self.core.segment_at(base)?;
        let end = seg.end();
        // A few pages at most; copied once (per content: see `FileCache::image`) so symbol
        // tables and CFI can borrow it.
        let len = usize::try_from(end - base).ok().filter(|&l| l <= 1 << 20)?;
        let mut bytes = vec![0u8; len];
        let n = self.read(base, &mut bytes);
        bytes.truncate(n);
        Some(Module {
            path: VDSO.to_string(),
            start: base,
            end,
            bias,
            data_segments: modules::data_segments(&image.phdrs, bias),
            build_id: image.build_id,
            file: None,
            debug_file: None,
            debug_file_source: None,
            is_main: false,
            memory_image: Some(FileCache::global().image(bytes)),
        })
    }

    fn resolve_module(
        &mut self,
        c: Candidate,
        is_main: bool,
        options: &Options,
        search: &SearchPaths,
        files: &FileCache,
    ) -> Option<Module> {
        let image = c.base.and_then(|b| read_image(self, b));
        let mem_id = image.as_ref().and_then(|i| i.build_id.clone());
        let located = modules::locate_file(
            &c.path,
            is_main,
            options.exe.as_deref(),
            options.sysroot.as_deref(),
        );
        // No file here, or not the one the process ran: a debuginfod server may have it.
        let (located, data, file_id, source) =
            executable_file(located, mem_id.as_ref(), search, files);
        let is_elf = image.is_some() || data.is_some_and(|d| d.starts_with(b"\x7fELF"));
        if !is_elf && !c.code {
            return None;
        }
        let bias = match (&image, c.base, c.bias) {
            (_, _, Some(b)) => b,
            (Some(img), Some(base), _) => LoadBias::between(
                ProcessAddr(base),
                img.first_load_vaddr().unwrap_or(ModuleAddr(0)),
            ),
            (None, Some(base), _) => {
                // Headers not dumped: take the layout from the file itself.
                let low = data
                    .and_then(modules::file_phdrs)
                    .and_then(|p| modules::first_load(&p))
                    .unwrap_or(ModuleAddr(0));
                LoadBias::between(ProcessAddr(base), low)
            }
            (_, None, None) => LoadBias(c.start),
        };
        let matches = match (&mem_id, &file_id) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        if matches == Some(false) {
            self.diagnostics.push(Diagnostic::new(
                "build_id_mismatch",
                format!(
                    "{} on disk has build-id {} but the core's has {}: not used",
                    located.as_deref().unwrap_or(Path::new("?")).display(),
                    file_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    mem_id.as_ref().map(ToString::to_string).unwrap_or_default()
                ),
            ));
        }
        // The file mappings end where the file does; a writable segment's zero-filled tail
        // (the .bss past its last file page, a big static array) is an anonymous mapping
        // right after them. The segments' memory sizes say where the module really ends, so
        // that a global there is named too.
        let phdrs = image.as_ref().map(|i| i.phdrs.clone()).or_else(|| {
            data.filter(|_| matches != Some(false))
                .and_then(modules::file_phdrs)
        });
        let end = phdrs
            .as_ref()
            .filter(|p| !p.is_empty())
            .map_or(c.end, |p| c.end.max(modules::load_range(p, bias).1));
        let mut module = Module {
            path: c.path,
            start: c.start,
            end,
            bias,
            data_segments: phdrs.map_or_else(Vec::new, |p| modules::data_segments(&p, bias)),
            build_id: mem_id.clone().or_else(|| file_id.clone()),
            file: located.map(|path| ModuleFile {
                path,
                build_id: file_id,
                matches,
                source,
            }),
            debug_file: None,
            debug_file_source: None,
            is_main,
            memory_image: None,
        };
        let usable = module.file.as_ref().is_some_and(ModuleFile::usable);
        (module.debug_file, module.debug_file_source) =
            find_debug_file(&module, data.filter(|_| usable), search, files).unzip();
        Some(module)
    }

    fn build_mappings(&self, modules: &[Module]) -> Vec<Mapping> {
        let id_of = |path: &str| {
            modules
                .iter()
                .find(|m| m.path == path)
                .and_then(|m| m.build_id.as_ref().map(BuildId::to_string))
        };
        if !self.notes.map.is_empty() {
            // FreeBSD's notes hold the kernel's whole map: every entry as it lists it
            // (protection, offset, path), including those it wrote no segment for (a device
            // page, a guard, a reservation without protection).
            return self
                .notes
                .map
                .iter()
                .map(|e| Mapping {
                    start: e.start,
                    end: e.end,
                    perms: e.perms.clone().unwrap_or_else(|| "---".into()),
                    offset: e.offset,
                    path: (!e.path.is_empty()).then(|| e.path.clone()),
                    build_id: id_of(&e.path),
                    dumped: self.dumped_bytes(e.start, e.end),
                })
                .collect();
        }
        let mut out: Vec<Mapping> = self
            .core
            .segments()
            .iter()
            .map(|s| {
                let file = self
                    .notes
                    .files
                    .iter()
                    .find(|f| f.start <= s.vaddr && s.vaddr < f.end);
                let vdso = modules
                    .iter()
                    .find(|m| m.path == VDSO && m.contains(s.vaddr));
                Mapping {
                    start: s.vaddr,
                    end: s.end(),
                    perms: file
                        .and_then(|f| f.perms.clone())
                        .unwrap_or_else(|| s.perms()),
                    offset: file.map_or(0, |f| f.offset.wrapping_add(s.vaddr - f.start)),
                    path: file
                        .map(|f| f.path.clone())
                        .or_else(|| vdso.map(|m| m.path.clone())),
                    build_id: file
                        .and_then(|f| id_of(&f.path))
                        .or_else(|| vdso.and_then(|m| m.build_id.as_ref().map(BuildId::to_string))),
                    dumped: s.present,
                }
            })
            .collect();
        // Mappings the notes name but the core has no segment for.
        for f in &self.notes.files {
            if !out.iter().any(|m| m.start < f.end && f.start < m.end) {
                out.push(Mapping {
                    start: f.start,
                    end: f.end,
                    perms: f.perms.clone().unwrap_or_else(|| "---".into()),
                    offset: f.offset,
                    path: Some(f.path.clone()),
                    build_id: id_of(&f.path),
                    dumped: 0,
                });
            }
        }
        out.sort_by_key(|m| m.start);
        out
    }

    /// Bytes of `start..end` the core file holds.
    fn dumped_bytes(&self, start: u64, end: u64) -> u64 {
        let segments = self.core.segments();
        let first = segments
            .partition_point(|s| s.end() <= start)
            .saturating_sub(1);
        segments[first..]
            .iter()
            .take_while(|s| s.vaddr < end)
            .map(|s| {
                let present_end = s.vaddr.saturating_add(s.present);
                present_end.min(end).saturating_sub(s.vaddr.max(start))
            })
            .sum()
    }

    /// The core file.
    pub fn core(&self) -> &CoreFile {
        &self.core
    }

    /// The operating system.
    pub fn os(&self) -> Os {
        self.core.os()
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.core.arch()
    }

    /// What the notes say.
    pub fn notes(&self) -> &ProcessNotes {
        &self.notes
    }

    /// Threads, the one that took the signal first.
    pub fn threads(&self) -> &[ThreadNote] {
        &self.notes.threads
    }

    /// Mappings of the address space, by address.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The modules, by address.
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.symbolizer.modules()
    }

    /// The symbolizer over the modules.
    pub fn symbolizer(&self) -> &Symbolizer {
        &self.symbolizer
    }

    /// The path of the main executable.
    pub fn executable(&self) -> Option<&str> {
        self.executable.as_deref()
    }

    /// What could not be read.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Whether the core lacks bytes its headers promise.
    pub fn is_truncated(&self) -> bool {
        self.core.is_truncated()
    }

    /// One line saying that the core could be read only in part, how many problems there
    /// were and the first of them; `None` when all of it was read.
    pub fn read_in_part(&self) -> Option<String> {
        let mut partial = self.diagnostics.iter().filter(|d| d.is_partial());
        let first = partial.next();
        if first.is_none() && !self.is_truncated() {
            return None;
        }
        let n = usize::from(first.is_some()) + partial.count();
        Some(format!(
            "the core could be read only in part ({n} problem{}){}",
            if n == 1 { "" } else { "s" },
            first.map(|d| format!(": {d}")).unwrap_or_default()
        ))
    }

    /// The run-time address of a symbol in any module.
    pub fn find_symbol(&self, name: &str) -> Option<u64> {
        self.symbolizer.find_symbol(name)
    }

    /// The byte offset of `member` in the C struct `name`, from the DWARF of any module that
    /// has it (for example `offset_of("malloc_state", "top")` with libc's debug file).
    pub fn offset_of(&self, name: &str, member: &str) -> Option<u64> {
        self.types.offset_of(&self.symbolizer, name, member)
    }

    /// The size of the C struct `name` from DWARF.
    pub fn size_of(&self, name: &str) -> Option<u64> {
        self.types.size_of(&self.symbolizer, name)
    }
}

/// `AT_EXECFN`: the address of the executed file's name (linux include/uapi/linux/auxvec.h).
const AT_EXECFN: u64 = 31;
/// `AT_SYSINFO_EHDR`: the address of the vDSO's ELF header (same file).
const AT_SYSINFO_EHDR: u64 = 33;
/// The name /proc/PID/maps gives the vDSO.
const VDSO: &str = "[vdso]";

impl Memory for Process {
    fn bytes_at(&self, addr: u64) -> &[u8] {
        let b = self.core.bytes_at(addr);
        if !b.is_empty() {
            return b;
        }
        let i = self.file_regions.partition_point(|r| r.start <= addr);
        let Some(r) = i.checked_sub(1).and_then(|i| self.file_regions.get(i)) else {
            return &[];
        };
        if addr >= r.end {
            return &[];
        }
        let off = r.offset.0.saturating_add(addr - r.start);
        let end = r.offset.0.saturating_add(r.end - r.start);
        let (Ok(off), Ok(end)) = (usize::try_from(off), usize::try_from(end)) else {
            return &[];
        };
        r.data.get(off..end.min(r.data.len())).unwrap_or(&[])
    }
}

impl Target for Process {
    fn os(&self) -> Os {
        Process::os(self)
    }
    fn arch(&self) -> Arch {
        Process::arch(self)
    }
    fn threads(&self) -> &[ThreadNote] {
        Process::threads(self)
    }
    fn mappings(&self) -> &[Mapping] {
        Process::mappings(self)
    }
    fn modules(&self) -> Vec<&Module> {
        Process::modules(self).collect()
    }
    fn find_symbol(&self, name: &str) -> Option<u64> {
        Process::find_symbol(self, name)
    }
    fn offset_of(&self, name: &str, member: &str) -> Option<u64> {
        Process::offset_of(self, name, member)
    }
    fn size_of(&self, name: &str) -> Option<u64> {
        Process::size_of(self, name)
    }
    fn module_offset_of(&self, module: &Module, name: &str, member: &str) -> Option<u64> {
        self.types
            .module_offset_of(&self.symbolizer, &module.path, name, member)
    }
    fn module_size_of(&self, module: &Module, name: &str) -> Option<u64> {
        self.types
            .module_size_of(&self.symbolizer, &module.path, name)
    }
    fn auxv_value(&self, key: u64) -> Option<u64> {
        self.notes.auxv_value(key)
    }
    fn is_truncated(&self) -> bool {
        Process::is_truncated(self)
    }
    fn data_symbol(&self, address: u64) -> Option<String> {
        self.symbolizer.data_symbol(address)
    }
    fn stack_frame(&self, address: u64) -> Option<StackSlot> {
        let mapping = self
            .mappings
            .iter()
            .find(|m| m.start <= address && address < m.end)?;
        let thread = self.threads().iter().find(|t| {
            t.registers
                .sp()
                .is_some_and(|sp| mapping.start <= sp && sp <= address)
        })?;
        // Frame k's locals lie from its stack pointer up to its caller's, which is frame
        // k's call frame address (the unwinder sets the caller's sp to the CFA; a signal
        // trampoline's caller gets the interrupted sp instead, but a trampoline has no
        // variables).
        let frames = self.backtrace(thread).frames;
        let Some((frame, caller)) = frames
            .partition_point(|f| f.sp <= address)
            .checked_sub(1)
            .and_then(|k| Some((&frames[k], frames.get(k + 1)?)))
        else {
            return Some(StackSlot {
                tid: thread.tid,
                function: None,
                variable: None,
            });
        };
        let pc = if frame.is_return_address {
            frame.pc.wrapping_sub(1)
        } else {
            frame.pc
        };
        let arch = self.arch();
        let register = |n| frame.register(arch, n);
        Some(StackSlot {
            tid: thread.tid,
            function: frame.symbols.last().and_then(|s| s.function.clone()),
            variable: (!frame.signal_trampoline)
                .then(|| {
                    self.symbolizer
                        .stack_variable(pc, caller.sp, &register, address)
                })
                .flatten(),
        })
    }
}
