//! Which allocator served `malloc` in a process, judged from its modules and symbols.

use core_reader::{Module, Os, Target};
use serde::Serialize;

/// The allocator a process used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocator {
    /// glibc's ptmalloc.
    Glibc,
    /// jemalloc (a library, linked in statically, or FreeBSD's libc).
    Jemalloc,
    /// gperftools' tcmalloc.
    Tcmalloc,
    /// None recognised.
    Unknown,
}

impl Allocator {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Allocator::Glibc => "glibc",
            Allocator::Jemalloc => "jemalloc",
            Allocator::Tcmalloc => "tcmalloc",
            Allocator::Unknown => "unknown",
        }
    }

    /// Which allocator served `malloc` in `target`: a jemalloc or tcmalloc library or
    /// statically linked copy wins over libc's, since either replaces glibc's malloc when
    /// present.
    pub fn detect(target: &dyn Target) -> Allocator {
        let modules = target.modules();
        let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
        if names.iter().any(|n| n.starts_with("libjemalloc")) {
            return Allocator::Jemalloc;
        }
        if names.iter().any(|n| n.starts_with("libtcmalloc")) {
            return Allocator::Tcmalloc;
        }
        // Statically linked jemalloc: its public entry points, with any of the usual prefixes.
        if [
            "je_mallctl",
            "mallctl",
            "_rjem_mallctl",
            "__je_mallctl",
            "je_malloc_stats_print",
        ]
        .iter()
        .any(|s| target.find_symbol(s).is_some())
        {
            return Allocator::Jemalloc;
        }
        // Statically linked tcmalloc: gperftools' own entry point.
        if target.find_symbol("tc_malloc").is_some() {
            return Allocator::Tcmalloc;
        }
        if target.os() == Os::FreeBsd && names.iter().any(|n| n.starts_with("libc.so")) {
            // FreeBSD's libc malloc is jemalloc (lib/libc/stdlib/malloc/jemalloc).
            return Allocator::Jemalloc;
        }
        if names
            .iter()
            .any(|n| n.starts_with("libc.so") || n.starts_with("libc-2."))
            || target.find_symbol("__libc_malloc").is_some()
            || target.find_symbol("malloc_info").is_some()
        {
            return Allocator::Glibc;
        }
        // A libc whose file was not found is still named by the mappings; and glibc's dynamic
        // linker (`ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`, `ld-2.17.so`) comes only with
        // glibc (musl's is `ld-musl-*`). Old cores without NT_FILE (chap's glibc 2.12 cores)
        // name their modules only through the linker's link_map.
        let mut mapped = target.mappings().iter().filter_map(|m| m.path.as_deref());
        let is_glibc_file = |path: &str| {
            let n = path.rsplit('/').next().unwrap_or(path);
            n.starts_with("libc.so")
                || n.starts_with("libc-2.")
                || n.starts_with("ld-linux")
                || n.starts_with("ld-2.")
        };
        if target.os() == Os::Linux
            && (names.iter().any(|n| is_glibc_file(n)) || mapped.any(is_glibc_file))
        {
            return Allocator::Glibc;
        }
        Allocator::Unknown
    }
}

/// The writable data of `module` in `target`: its writable mappings (`.data`, `.bss`), each
/// with the anonymous mapping right after it, where the rest of `.bss` lies. Where
/// allocators without symbols keep their globals, found by content. The mappings are the
/// module's by their path; in a core whose mappings have no paths (qemu-user's have no
/// NT_FILE), those within the module's address range (which covers its `.bss`).
pub(crate) fn writable_data(target: &dyn Target, module: &Module) -> Vec<(u64, u64)> {
    let maps = target.mappings();
    if maps.iter().all(|m| m.path.is_none()) {
        return maps
            .iter()
            .filter(|m| module.start <= m.start && m.end <= module.end && m.perms.contains('w'))
            .map(|m| (m.start, m.end))
            .collect();
    }
    let mut ranges = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        if m.path.as_deref() == Some(module.path.as_str()) && m.perms.contains('w') {
            ranges.push((m.start, m.end));
            if let Some(next) = maps
                .get(i + 1)
                .filter(|n| n.path.is_none() && n.start == m.end && n.perms.contains('w'))
            {
                ranges.push((next.start, next.end));
            }
        }
    }
    ranges
}

/// `(tid, thread pointer)` of every thread (x86_64 `fs_base`, aarch64 `tpidr_el0`): the
/// thread pointer is also its `pthread_t`, which is how allocators name a cache's thread.
pub(crate) fn thread_pointers(target: &dyn Target) -> Vec<(u64, u64)> {
    target
        .threads()
        .iter()
        .filter_map(|t| {
            let tp = t
                .registers
                .get("fs_base")
                .or_else(|| t.registers.get("tpidr_el0"))?;
            Some((t.tid, tp))
        })
        .collect()
}
