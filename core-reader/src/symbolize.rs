//! Addresses to functions, source lines and inlined frames.
//!
//! DWARF through `addr2line` (gimli) when the module or a separate debug file has it;
//! otherwise the nearest ELF symbol (`.symtab`, then `.dynsym`). Debug files are found by
//! build-id (`DIR/.build-id/ab/cdef….debug`) and by `.gnu_debuglink`, in every debug folder
//! given and in `/usr/lib/debug` (under the sysroot when one is given).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::cfi::CfiTables;
use crate::debuginfod::{Debuginfod, FileSource, Kind};
use crate::files::FileCache;
use crate::modules::build_id_of_file;
use crate::{BuildId, FileOffset, LoadBias, Module, ModuleAddr, ModuleFile, ProcessAddr};

type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

/// One frame of a symbolized address: the function and, when DWARF says, the source line.
/// An address inside inlined code gives several frames, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Frame {
    /// The demangled function name.
    pub function: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
}

/// Where a module recorded outside a core (a profile's mapping) sits in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Mapped at `start..end` from `file_offset` in the file.
    Mapped {
        /// First address of the mapping.
        start: ProcessAddr,
        /// One past its last address.
        end: ProcessAddr,
        /// The file offset mapped at `start`.
        file_offset: FileOffset,
    },
    /// At its link-time addresses (bias 0): jeprof's reading of an address that lies in no
    /// recorded mapping, looked up in the main program.
    Unrelocated,
}

/// A file mapping recorded outside a core, to build a [`Module`] from.
#[derive(Debug, Clone)]
pub struct MappedFile<'a> {
    /// The path the process had for it.
    pub path: &'a str,
    /// Where it was.
    pub placement: Placement,
    /// The build-id recorded with it (pprof mappings carry one), checked against the file.
    pub build_id: Option<BuildId>,
    /// Whether it is the main executable (`--exe` then replaces the path).
    pub is_main: bool,
}

/// Where to look for files and debug files.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    /// Prefix for recorded paths.
    pub sysroot: Option<PathBuf>,
    /// Extra debug folders, searched before the default one.
    pub debug_dirs: Vec<PathBuf>,
    /// Debuginfod servers asked for what none of the folders holds.
    pub debuginfod: Option<Arc<Debuginfod>>,
}

impl SearchPaths {
    /// The debug folders in search order: the given ones, then the default one —
    /// `/usr/lib/debug`, or `SYSROOT/usr/lib/debug` with a sysroot (the host's own debug
    /// files belong to the host's libraries, not to the sysroot's).
    pub fn debug_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.debug_dirs.clone();
        dirs.push(match &self.sysroot {
            Some(root) => root.join("usr/lib/debug"),
            None => PathBuf::from("/usr/lib/debug"),
        });
        dirs
    }
}

struct Symbol {
    addr: ModuleAddr,
    size: u64,
    name: &'static str,
}

impl Symbol {
    /// Whether `probe` lies in the symbol (a label without a size covers up to the next one).
    fn covers(&self, probe: ModuleAddr) -> bool {
        self.size == 0 || probe.0 < self.addr.0.saturating_add(self.size)
    }
}

/// A symbol table: functions for symbolizing code, everything defined for name lookups
/// (allocator walkers look up data objects such as `main_arena` or `je_arenas`).
#[derive(Default)]
struct Symbols {
    /// Function symbols by address, the best name for an address first.
    code: Vec<Symbol>,
    /// Data objects with a size (globals, statics, vtables), by address.
    data: Vec<Symbol>,
    /// Every defined symbol, by name.
    by_name: HashMap<&'static str, ModuleAddr>,
}

/// Everything loaded for one module, lazily.
pub(crate) struct Loaded {
    /// Call frame information of the file and its debug file, found once.
    pub cfi: CfiTables,
    /// The file holding the module's DWARF, and its directory (where a dwz supplementary
    /// file may be named from): the line-table context is built from them on first use.
    dwarf_file: Option<(object::File<'static>, Option<PathBuf>)>,
    /// DWARF for symbolizing code, made on the first lookup: `addr2line` parses every
    /// unit's abbreviations when made (libc6-dbg's: 30 MB and a fifth of `leaks`' time),
    /// which the heap commands, asking only for symbols and struct layouts, never need.
    /// Behind a lock: `addr2line` fills its units lazily through cells that are not `Sync`,
    /// and a process is read from several threads (the heap passes split their work).
    dwarf: OnceLock<Option<Mutex<addr2line::Context<Reader>>>>,
    /// The same DWARF for type queries (layouts of allocator structs) and call sites,
    /// made on first use without the sections those never read (see [`Loaded::types`]):
    /// finding `main_arena` asks every module for symbols, and only libc's types are read.
    types: OnceLock<Option<gimli::Dwarf<Reader>>>,
    /// The debug folders, where a dwz supplementary file of the DWARF may be.
    debug_dirs: Vec<PathBuf>,
    symbols: Symbols,
    tail_calls: crate::tailcall::CallSites,
}

struct Entry {
    module: Module,
    loaded: OnceLock<Arc<Loaded>>,
}

/// Symbolizes addresses of a set of modules.
pub struct Symbolizer {
    entries: Vec<Entry>,
    files: &'static FileCache,
    debug_dirs: Vec<PathBuf>,
}

impl Symbolizer {
    /// A symbolizer over modules whose files (and debug files) were already located (see
    /// [`Symbolizer::module_for_mapping`]); `search` is used for supplementary (dwz) debug
    /// files.
    pub fn new(mut modules: Vec<Module>, search: &SearchPaths) -> Symbolizer {
        modules.sort_by_key(|m| m.start);
        Symbolizer {
            entries: modules
                .into_iter()
                .map(|module| Entry {
                    module,
                    loaded: OnceLock::new(),
                })
                .collect(),
            files: FileCache::global(),
            debug_dirs: search.debug_dirs(),
        }
    }

    /// Builds a module from a file mapping recorded elsewhere (a heap profile's
    /// MAPPED_LIBRARIES, a pprof mapping): the file is looked up under `search` (or is
    /// `exe` for the main program), its load bias computed from the `PT_LOAD` that holds
    /// the mapping's file offset, its build-id compared with the one recorded, and a debug
    /// file found.
    pub fn module_for_mapping(
        mapping: &MappedFile<'_>,
        exe: Option<&Path>,
        search: &SearchPaths,
    ) -> Module {
        let cache = FileCache::global();
        let found = crate::modules::locate_file(
            mapping.path,
            mapping.is_main,
            exe,
            search.sysroot.as_deref(),
        );
        let (found, data, file_id, source) =
            executable_file(found, mapping.build_id.as_ref(), search, cache);
        let bias = match mapping.placement {
            Placement::Unrelocated => LoadBias(0),
            // Without the file's program headers: as if module addresses equalled file
            // offsets, which they do in the first segment of a library linked at 0.
            Placement::Mapped {
                start, file_offset, ..
            } => data
                .and_then(|d| bias_for_offset(d, start, file_offset))
                .unwrap_or(LoadBias::between(start, ModuleAddr(file_offset.0))),
        };
        let (start, end) = match mapping.placement {
            Placement::Unrelocated => (0, u64::MAX),
            Placement::Mapped { start, end, .. } => (start.0, end.0),
        };
        let matches = match (&mapping.build_id, &file_id) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        let mut module = Module {
            path: mapping.path.to_string(),
            start,
            end,
            bias,
            build_id: mapping.build_id.clone().or_else(|| file_id.clone()),
            file: found.map(|p| crate::ModuleFile {
                path: p,
                build_id: file_id,
                matches,
                source,
            }),
            debug_file: None,
            debug_file_source: None,
            is_main: mapping.is_main,
            memory_image: None,
            // Profiles are symbolized, not scanned for data.
            data_segments: Vec::new(),
        };
        let usable = module.file.as_ref().is_some_and(ModuleFile::usable);
        (module.debug_file, module.debug_file_source) =
            find_debug_file(&module, data.filter(|_| usable), search, cache).unzip();
        module
    }

    /// The modules, sorted by address.
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.entries.iter().map(|e| &e.module)
    }

    /// The module containing `addr`.
    pub fn module_at(&self, addr: u64) -> Option<&Module> {
        self.entry_at(addr).map(|e| &e.module)
    }

    fn entry_at(&self, addr: u64) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| e.module.start <= addr);
        let e = self.entries.get(i.checked_sub(1)?)?;
        e.module.contains(addr).then_some(e)
    }

    /// Every module with its loaded data (loading each on first use).
    pub(crate) fn loaded(&self) -> impl Iterator<Item = (&Module, &Loaded)> {
        self.entries.iter().map(|e| {
            (
                &e.module,
                &**e.loaded
                    .get_or_init(|| load(&e.module, self.files, &self.debug_dirs)),
            )
        })
    }

    pub(crate) fn loaded_at(&self, addr: u64) -> Option<(&Module, &Loaded)> {
        let e = self.entry_at(addr)?;
        Some((
            &e.module,
            &**e.loaded
                .get_or_init(|| load(&e.module, self.files, &self.debug_dirs)),
        ))
    }

    /// `module!symbol+offset` for an address inside a data object (a global, a static), with
    /// the symbol demangled; None outside every sized data symbol.
    pub fn data_symbol(&self, addr: u64) -> Option<String> {
        let (module, loaded) = self.loaded_at(addr)?;
        let probe = module.bias.to_module(ProcessAddr(addr));
        let data = &loaded.symbols.data;
        let s = data.get(data.partition_point(|s| s.addr <= probe).checked_sub(1)?)?;
        if s.size == 0 || !s.covers(probe) {
            return None;
        }
        let offset = probe.0 - s.addr.0;
        Some(format!(
            "{}!{}{}",
            module.name(),
            demangle(s.name),
            if offset == 0 {
                String::new()
            } else {
                format!("+{offset:#x}")
            }
        ))
    }

    /// The frames for `addr`, innermost (inlined) first; empty when nothing is known.
    pub fn symbolize(&self, addr: u64) -> Vec<Frame> {
        let Some((module, loaded)) = self.loaded_at(addr) else {
            return Vec::new();
        };
        let probe = module.bias.to_module(ProcessAddr(addr));
        let mut out = Vec::new();
        if let Some(ctx) = self.context(loaded, probe.0) {
            if let Ok(mut frames) = ctx.find_frames(probe.0).skip_all_loads() {
                while let Ok(Some(f)) = frames.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok())
                        .map(Cow::into_owned);
                    let (file, line) = match &f.location {
                        Some(l) => (l.file.map(str::to_string), l.line),
                        None => (None, None),
                    };
                    out.push(Frame {
                        function,
                        file,
                        line,
                        inlined: true,
                    });
                    if out.len() > 256 {
                        break;
                    }
                }
            }
        }
        if let Some(last) = out.last_mut() {
            last.inlined = false;
        }
        if out.iter().all(|f| f.function.is_none()) {
            let name = loaded.symbol(probe).map(|s| demangle(s).into_owned());
            match out.last_mut() {
                Some(last) => last.function = name,
                None if name.is_some() => out.push(Frame {
                    function: name,
                    file: None,
                    line: None,
                    inlined: false,
                }),
                None => {}
            }
        }
        out
    }

    /// [`Symbolizer::symbolize`], with gdb's choice of line where several line-table rows
    /// share an address (see [`statement_line`]): what stack frames show, so that they read
    /// as gdb's backtraces do.
    pub(crate) fn symbolize_frame(&self, addr: u64) -> Vec<Frame> {
        let mut frames = self.symbolize(addr);
        let Some((module, loaded)) = self.loaded_at(addr) else {
            return frames;
        };
        let probe = module.bias.to_module(ProcessAddr(addr)).0;
        // The innermost frame's line is the line table's; outer (inlining) frames' lines
        // are their call sites'.
        if let (Some(first), Some(ctx)) = (frames.first_mut(), self.context(loaded, probe)) {
            if let Some((file, line)) = statement_line(&ctx, probe) {
                first.file = Some(file);
                first.line = Some(line);
            }
        }
        frames
    }

    /// The name of the variable of the function running at `pc` whose stack slot holds
    /// `address`, in a frame whose call frame address is `cfa` and whose registers
    /// `register` gives by DWARF number (see [`crate::locals`]).
    pub(crate) fn stack_variable(
        &self,
        pc: u64,
        cfa: u64,
        register: &dyn Fn(u16) -> Option<u64>,
        address: u64,
    ) -> Option<String> {
        let (module, loaded) = self.loaded_at(pc)?;
        let probe = module.bias.to_module(ProcessAddr(pc)).0;
        let ctx = self.context(loaded, probe)?;
        let unit = ctx.find_dwarf_and_unit(probe).skip_all_loads()?;
        // The outermost frame at the pc is the function the stack frame belongs to; the
        // inlined ones are scopes inside it.
        let mut frames = ctx.find_frames(probe).skip_all_loads().ok()?;
        let mut function = None;
        for _ in 0..=256 {
            match frames.next() {
                Ok(Some(f)) => function = f.dw_die_offset.or(function),
                _ => break,
            }
        }
        let frame = crate::locals::FrameState {
            pc: probe,
            cfa,
            register,
        };
        crate::locals::variable_at(unit, function?, &frame, address)
    }

    /// The line-table context of a loaded module, made on first use, for a lookup at `probe`
    /// (a module address). None at the last address of all: addr2line 0.25 looks units up
    /// by the range `[probe, probe + 1)` (src/unit.rs, `find`), which overflows there, and no
    /// code lives there (found by the core fuzz target: a load bias, from mutated headers,
    /// one above a frame's address puts that frame at module address 2^64 - 1).
    fn context<'l>(
        &self,
        loaded: &'l Loaded,
        probe: u64,
    ) -> Option<MutexGuard<'l, addr2line::Context<Reader>>> {
        if probe == u64::MAX {
            return None;
        }
        let context = loaded.dwarf.get_or_init(|| {
            let (file, dir) = loaded.dwarf_file.as_ref()?;
            let dwarf = load_dwarf(
                file,
                dir.as_deref(),
                self.files,
                &self.debug_dirs,
                Sections::All,
            )?;
            addr2line::Context::from_dwarf(dwarf).ok().map(Mutex::new)
        });
        // A thread that panicked holding it left the context as usable as before: its
        // lookups only fill caches.
        Some(
            context
                .as_ref()?
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The run-time address of a symbol, searched in every module (DWARF not needed).
    pub fn find_symbol(&self, name: &str) -> Option<u64> {
        self.entries.iter().find_map(|e| {
            let loaded = e
                .loaded
                .get_or_init(|| load(&e.module, self.files, &self.debug_dirs));
            loaded
                .symbols
                .by_name
                .get(name)
                .map(|&a| e.module.bias.to_process(a).0)
        })
    }
}

impl Loaded {
    /// The module's DWARF for struct layouts and call sites, loaded on first use.
    pub(crate) fn types(&self) -> Option<&gimli::Dwarf<Reader>> {
        self.types
            .get_or_init(|| {
                let (file, dir) = self.dwarf_file.as_ref()?;
                load_dwarf(
                    file,
                    dir.as_deref(),
                    FileCache::global(),
                    &self.debug_dirs,
                    Sections::TypesAndCallSites,
                )
            })
            .as_ref()
    }

    /// The start and name of the function symbol containing `probe`.
    pub(crate) fn function_at(&self, probe: ModuleAddr) -> Option<(ModuleAddr, &'static str)> {
        let code = &self.symbols.code;
        let i = code.partition_point(|s| s.addr <= probe);
        let s = code.get(i.checked_sub(1)?)?;
        s.covers(probe).then_some((s.addr, s.name))
    }

    /// Return addresses of frames that tail calls erased between a caller returning to
    /// `ret` and the function starting at `callee`, innermost first.
    pub(crate) fn erased_frames(
        &self,
        ret: ModuleAddr,
        callee: &crate::tailcall::Callee<'_>,
    ) -> Vec<ModuleAddr> {
        let Some(dwarf) = self.types() else {
            return Vec::new();
        };
        // Call sites are DWARF's, in module addresses throughout.
        let resolve = |name: &str| self.symbols.by_name.get(name).map(|a| a.0);
        self.tail_calls
            .erased_frames(dwarf, &resolve, ret.0, callee)
            .into_iter()
            .map(ModuleAddr)
            .collect()
    }

    fn symbol(&self, probe: ModuleAddr) -> Option<&'static str> {
        let code = &self.symbols.code;
        let i = code.partition_point(|s| s.addr <= probe);
        let last = code.get(i.checked_sub(1)?)?;
        // The names at that address, best first: the first that covers `probe` (a label
        // without a size, like ld.so's `_dl_start_user`, covers up to the next symbol).
        code[..i]
            .iter()
            .rev()
            .take_while(|s| s.addr == last.addr)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find(|s| s.covers(probe))
            .map(|s| s.name)
    }
}

/// Bounds the scan of one unit's line table (a unit of glibc holds a few thousand rows).
const MAX_LINE_ROWS: usize = 1 << 20;

/// gdb's line for `probe` where it differs from addr2line's: when several rows of the line
/// table share the address of the row that covers `probe`, addr2line reports the last of
/// them, gdb the last one that is a statement (`is_stmt`; gdb/symtab.c
/// `find_pc_sect_line` looks back from a non-statement row to a statement row at the same
/// address). glibc 2.36's `_IO_new_file_underflow` returns from `read` to 0x8216e, whose
/// rows at 0x82161 are libioP.h:947 (statement), libioP.h:947 and fileops.c:516 (not
/// statements): gdb says libioP.h:947. `None` when both agree or nothing is known.
fn statement_line(ctx: &addr2line::Context<Reader>, probe: u64) -> Option<(String, u32)> {
    let unit = ctx.find_dwarf_and_unit(probe).skip_all_loads()?;
    let program = unit.line_program.clone()?;
    let mut rows = program.rows();
    // The rows at one address: (is_stmt, file index, line).
    let mut group: Vec<(bool, u64, u64)> = Vec::new();
    let mut group_addr: Option<u64> = None;
    let mut covering = None;
    for _ in 0..MAX_LINE_ROWS {
        let Ok(Some((_, row))) = rows.next_row() else {
            break;
        };
        let addr = row.address();
        let ends_group = row.end_sequence() || group_addr != Some(addr);
        if ends_group && group_addr.is_some_and(|a| a <= probe) && probe < addr {
            covering = Some(std::mem::take(&mut group));
            break;
        }
        if row.end_sequence() {
            group.clear();
            group_addr = None;
            continue;
        }
        if group_addr != Some(addr) {
            group.clear();
            group_addr = Some(addr);
        }
        let line = row.line().map_or(0, |l| l.get());
        group.push((row.is_stmt(), row.file_index(), line));
    }
    let covering = covering?;
    let &(last_is_stmt, ..) = covering.last()?;
    if last_is_stmt {
        return None;
    }
    let &(_, file, line) = covering.iter().rev().find(|r| r.0)?;
    let header = rows.header();
    let entry = header.file(file)?;
    let text =
        |v| -> Option<String> { Some(unit.attr_string(v).ok()?.to_string_lossy().into_owned()) };
    // The path as addr2line writes it: the unit's directory, the file's directory (index
    // 0 is the unit's own), the file's name; an absolute part replaces what came before.
    let mut path = unit
        .comp_dir
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = (entry.directory_index() != 0)
        .then(|| entry.directory(header).and_then(text))
        .flatten();
    for part in dir.into_iter().chain(text(entry.path_name())) {
        if part.starts_with('/') || path.is_empty() {
            path = part;
        } else {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(&part);
        }
    }
    Some((path, u32::try_from(line).ok().filter(|&l| l != 0)?))
}

fn demangle(name: &str) -> Cow<'_, str> {
    addr2line::demangle_auto(Cow::Borrowed(name), None)
}

/// The load bias of a mapping of `data` at `start` that begins at `file_offset`.
fn bias_for_offset(data: &[u8], start: ProcessAddr, file_offset: FileOffset) -> Option<LoadBias> {
    use object::read::elf::{FileHeader, ProgramHeader};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let phdrs = header.program_headers(endian, data).ok()?;
    // The segment the mapping shows: a kernel mapping starts at the page holding p_offset
    // (lld puts segments mid-page: p_offset 0x1c2bc0 at p_vaddr 0x1c3bc0), a recorded one
    // may start at p_offset itself. The file byte at `file_offset` then sits at
    // `p_vaddr - p_offset + file_offset` (p_vaddr ≡ p_offset modulo the page, which the ELF
    // format requires), as google/pprof's GetBase computes it.
    let seg = phdrs
        .iter()
        .filter(|p| {
            let off = p.p_offset(endian);
            p.p_type(endian) == object::elf::PT_LOAD
                && off & !0xfff <= file_offset.0
                && file_offset.0 < off.saturating_add(p.p_filesz(endian).max(1))
        })
        // Several when segments share a page: the one that starts in the mapping's page.
        .max_by_key(|p| p.p_offset(endian))?;
    let vaddr = seg
        .p_vaddr(endian)
        .wrapping_sub(seg.p_offset(endian))
        .wrapping_add(file_offset.0);
    Some(LoadBias::between(start, ModuleAddr(vaddr)))
}

/// The executable or library file for a module: the one `located` here, or, when there is
/// none or its build-id is not `wanted` (the one the process ran), the file a debuginfod
/// server has for `wanted` — checked to carry that build-id. Returns the path, its bytes,
/// its build-id and where it came from.
pub(crate) fn executable_file(
    located: Option<PathBuf>,
    wanted: Option<&BuildId>,
    search: &SearchPaths,
    cache: &FileCache,
) -> (
    Option<PathBuf>,
    Option<&'static [u8]>,
    Option<BuildId>,
    FileSource,
) {
    let data = located.as_deref().and_then(|p| cache.get(p));
    let file_id = data.and_then(build_id_of_file);
    let fetched = wanted
        .filter(|id| file_id.as_ref() != Some(*id))
        .and_then(|id| {
            let (path, from) = search.debuginfod.as_ref()?.fetch(id, Kind::Executable)?;
            let bytes = cache.get(&path)?;
            (build_id_of_file(bytes).as_ref() == Some(id)).then_some((path, bytes, id, from))
        });
    match fetched {
        Some((path, bytes, id, from)) => (Some(path), Some(bytes), Some(id.clone()), from),
        None => (located, data, file_id, FileSource::Local),
    }
}

/// Finds a separate debug file: by build-id in each debug folder, then by `.gnu_debuglink`
/// next to the file, in its `.debug/` folder, and under each debug folder; else from the
/// debuginfod servers, by build-id.
pub(crate) fn find_debug_file(
    module: &Module,
    data: Option<&'static [u8]>,
    search: &SearchPaths,
    cache: &FileCache,
) -> Option<(PathBuf, FileSource)> {
    let id = module
        .build_id
        .clone()
        .or_else(|| data.and_then(build_id_of_file));
    if let Some(local) = find_local_debug_file(module, id.as_ref(), data, search, cache) {
        return Some((local, FileSource::Local));
    }
    let id = id?;
    let (path, source) = search.debuginfod.as_ref()?.fetch(&id, Kind::DebugInfo)?;
    // A server's answer is believed only for the build-id asked.
    (cache.get(&path).and_then(build_id_of_file).as_ref() == Some(&id)).then_some((path, source))
}

fn find_local_debug_file(
    module: &Module,
    id: Option<&BuildId>,
    data: Option<&'static [u8]>,
    search: &SearchPaths,
    cache: &FileCache,
) -> Option<PathBuf> {
    let dirs = search.debug_dirs();
    if let Some(id) = id.filter(|id| id.0.len() >= 2) {
        let hex = id.to_string();
        for dir in &dirs {
            let p = dir
                .join(".build-id")
                .join(&hex[..2])
                .join(format!("{}.debug", &hex[2..]));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let data = data?;
    let file = object::File::parse(data).ok()?;
    let (name, _crc) = file.gnu_debuglink().ok()??;
    let name = std::str::from_utf8(name).ok()?;
    let own = module.file.as_ref()?.path.clone();
    let dir = own.parent().unwrap_or(Path::new("/"));
    let recorded_dir = Path::new(&module.path).parent().unwrap_or(Path::new("/"));
    let mut tries = vec![dir.join(name), dir.join(".debug").join(name)];
    for d in &dirs {
        tries.push(
            d.join(recorded_dir.strip_prefix("/").unwrap_or(recorded_dir))
                .join(name),
        );
    }
    tries.into_iter().find(|p| {
        p.is_file()
            && match (id, cache.get(p).and_then(build_id_of_file)) {
                (Some(a), Some(b)) => *a == b,
                _ => true,
            }
    })
}

/// What a [`Loaded`] is made from: the bytes of a module's file (or of its image in a core)
/// and debug file (each kept once per program by the [`FileCache`], so equal slices are the
/// same file), the folder a dwz file is named from, and the debug folders.
#[derive(PartialEq, Eq, Hash)]
struct LoadKey {
    file: Option<(usize, usize)>,
    debug: Option<(usize, usize)>,
    dir: Option<PathBuf>,
    debug_dirs: Vec<PathBuf>,
}

/// Loaded modules, shared by every symbolizer of the program: two cores of one program
/// (`diff`), a core and its heap profile (`report`), or the core fuzz target's inputs read
/// the same libraries, and their symbol tables, CFI and DWARF (libc6-dbg's: 30 MB) need
/// parsing once. Each cell is filled outside the map's lock, so modules load side by side.
type SharedModules = Mutex<HashMap<LoadKey, Arc<OnceLock<Arc<Loaded>>>>>;

/// A module's loaded data, shared (see [`SharedModules`]).
fn load(module: &Module, files: &FileCache, debug_dirs: &[PathBuf]) -> Arc<Loaded> {
    static SHARED: LazyLock<SharedModules> = LazyLock::new(SharedModules::default);
    let file = module
        .file
        .as_ref()
        .filter(|f| f.usable())
        .and_then(|f| files.get(&f.path))
        .or(module.memory_image);
    let debug = module.debug_file.as_deref().and_then(|p| files.get(p));
    let dir = module
        .debug_file
        .as_deref()
        .or(module.file.as_ref().map(|f| f.path.as_path()))
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    if file.is_none() && debug.is_none() {
        // Nothing to parse, and a damaged core names any number of such modules.
        return Arc::new(parse_module(None, None, dir, debug_dirs));
    }
    let span = |b: &[u8]| (b.as_ptr() as usize, b.len());
    let key = LoadKey {
        file: file.map(span),
        debug: debug.map(span),
        dir: dir.clone(),
        debug_dirs: debug_dirs.to_vec(),
    };
    let cell = SHARED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(|| Arc::new(parse_module(file, debug, dir, debug_dirs)))
        .clone()
}

/// Parses a module's file (or memory image) and debug file: symbols now, DWARF on first use.
fn parse_module(
    file: Option<&'static [u8]>,
    debug: Option<&'static [u8]>,
    dir: Option<PathBuf>,
    debug_dirs: &[PathBuf],
) -> Loaded {
    let parsed_file = file.and_then(|d| object::File::parse(d).ok());
    let parsed_debug = debug.and_then(|d| object::File::parse(d).ok());

    let mut symbols = Symbols::default();
    let mut code = Vec::new();
    for obj in [&parsed_debug, &parsed_file].into_iter().flatten() {
        collect_symbols(obj, &mut code, &mut symbols.data, &mut symbols.by_name);
    }
    symbols
        .data
        .sort_by(|a, b| a.addr.cmp(&b.addr).then(a.name.cmp(b.name)));
    symbols.data.dedup_by(|a, b| a.addr == b.addr);
    // Sort by address, the best name for an address first. Several names often share an
    // address (`read`, `__read`, `__libc_read`); we pick the one gdb picks, so that frames
    // compare equal: a sized symbol over a zero-sized one, then the greatest name in byte
    // order (gdb/minsyms.c sorts equal addresses by name and takes the last). That also
    // gives `raise` rather than its alias `gsignal`, as elfutils' tests expect.
    code.sort_by(|a, b| {
        a.addr
            .cmp(&b.addr)
            .then((a.size == 0).cmp(&(b.size == 0)))
            .then(b.name.cmp(a.name))
    });
    code.dedup_by(|a, b| a.addr == b.addr && a.name == b.name);
    symbols.code = code;

    let has_dwarf = |o: &Option<object::File<'static>>| {
        o.as_ref()
            .is_some_and(|o| o.section_by_name(".debug_info").is_some())
    };
    let cfi = CfiTables::of([&parsed_file, &parsed_debug].into_iter().flatten());
    let dwarf_obj = if has_dwarf(&parsed_debug) {
        parsed_debug
    } else if has_dwarf(&parsed_file) {
        parsed_file
    } else {
        None
    };
    Loaded {
        cfi,
        dwarf_file: dwarf_obj.map(|o| (o, dir)),
        dwarf: OnceLock::new(),
        types: OnceLock::new(),
        debug_dirs: debug_dirs.to_vec(),
        symbols,
        tail_calls: crate::tailcall::CallSites::new(),
    }
}

fn collect_symbols(
    obj: &object::File<'static>,
    out: &mut Vec<Symbol>,
    data: &mut Vec<Symbol>,
    by_name: &mut HashMap<&'static str, ModuleAddr>,
) {
    for sym in obj.symbols().chain(obj.dynamic_symbols()) {
        if sym.is_undefined() || sym.address() == 0 || sym.kind() == SymbolKind::Tls {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        // A versioned dynamic name (`malloc@@GLIBC_2.2.5`) is also found by its bare name.
        let bare = name.split('@').next().unwrap_or(name);
        by_name.entry(bare).or_insert(ModuleAddr(sym.address()));
        // Functions, and labels without a type in code (ld.so's `_dl_start_user`).
        let in_code = || match sym.section() {
            object::SymbolSection::Section(i) => obj
                .section_by_index(i)
                .is_ok_and(|s| s.kind() == object::SectionKind::Text),
            _ => false,
        };
        let code = match sym.kind() {
            SymbolKind::Text => true,
            SymbolKind::Unknown => in_code(),
            _ => false,
        };
        if !code {
            if sym.kind() == SymbolKind::Data && sym.size() > 0 {
                data.push(Symbol {
                    addr: ModuleAddr(sym.address()),
                    size: sym.size(),
                    name,
                });
            }
            continue;
        }
        out.push(Symbol {
            addr: ModuleAddr(sym.address()),
            size: sym.size(),
            name,
        });
    }
}

fn section_data(obj: &object::File<'static>, name: &str) -> &'static [u8] {
    obj.section_by_name(name)
        .map_or(&[][..], |s| FileCache::global().section(&s))
}

/// Which DWARF sections a reader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sections {
    /// Everything: line tables, inlined frames and variables' locations.
    All,
    /// What struct layouts and call sites read: the DIEs, their strings, unit ranges and
    /// line-table headers (gimli reads a unit's line program header when it opens the
    /// unit). Location lists, the address-range index and macros are left out: libc6-dbg
    /// stores its sections compressed, and inflating those cost the heap commands time
    /// and memory for nothing.
    TypesAndCallSites,
}

impl Sections {
    fn wants(self, id: gimli::SectionId) -> bool {
        use gimli::SectionId::*;
        self == Sections::All
            || !matches!(
                id,
                DebugLoc | DebugLocLists | DebugAranges | DebugMacinfo | DebugMacro
            )
    }
}

fn load_dwarf(
    obj: &object::File<'static>,
    dir: Option<&Path>,
    files: &FileCache,
    debug_dirs: &[PathBuf],
    sections: Sections,
) -> Option<gimli::Dwarf<Reader>> {
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |o: &object::File<'static>| {
        gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
            let data = match sections.wants(id) {
                true => section_data(o, id.name()),
                false => &[],
            };
            Ok(gimli::EndianSlice::new(data, endian))
        })
        .ok()
    };
    let mut dwarf = load(obj)?;
    // dwz-compressed debug info (Debian's -dbg packages) keeps shared DIEs in a
    // supplementary file named by `.gnu_debugaltlink`: a path, NUL, then its build-id.
    let alt = section_data(obj, ".gnu_debugaltlink");
    if let Some(nul) = alt.iter().position(|&b| b == 0) {
        let path = Path::new(std::str::from_utf8(&alt[..nul]).unwrap_or(""));
        let id = BuildId(alt[nul + 1..].to_vec());
        let mut tries = vec![];
        if path.is_absolute() {
            tries.push(path.to_path_buf());
        } else if let Some(dir) = dir {
            tries.push(dir.join(path));
        }
        if id.0.len() >= 2 {
            let hex = id.to_string();
            for d in debug_dirs {
                tries.push(d.join(format!(".build-id/{}/{}.debug", &hex[..2], &hex[2..])));
            }
        }
        if let Some(sup) = tries
            .iter()
            .find_map(|p| files.get(p))
            .and_then(|d| object::File::parse(d).ok())
        {
            if let Some(sup) = load(&sup) {
                dwarf.sup = Some(Arc::new(sup));
            }
        }
    }
    Some(dwarf)
}
