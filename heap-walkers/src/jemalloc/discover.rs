//! Finding jemalloc in a process: its symbols, their prefix, its version string.

use core_reader::{Diagnostic, Memory, Target};

use super::globals::{Globals, ARENA_LIMIT};
use super::layout::Layout;

/// jemalloc's internal names carry a prefix set at build time: `je_` (the default private
/// namespace: Debian, most builds), `_rjem_je_` (tikv-jemalloc-sys), `__je_` (FreeBSD's
/// libc). A build may also have none.
pub(crate) const PREFIXES: [&str; 4] = ["je_", "_rjem_je_", "__je_", ""];

/// Looks for jemalloc's globals under each known prefix; the first prefix under which both
/// `arenas` and `bin_infos` exist wins.
pub(crate) fn find_globals(target: &dyn Target) -> Option<Globals> {
    for prefix in PREFIXES {
        let sym = |name: &str| target.find_symbol(&format!("{prefix}{name}"));
        let (Some(arenas), Some(bin_infos), Some(index2size)) =
            (sym("arenas"), sym("bin_infos"), sym("sz_index2size_tab"))
        else {
            continue;
        };
        return Some(Globals {
            prefix: prefix.to_string(),
            arenas,
            // A file-local static: no prefix.
            narenas_total: target.find_symbol("narenas_total"),
            narenas_auto: sym("narenas_auto"),
            bin_infos,
            index2size,
            arena_bin_offsets: sym("arena_bin_offsets"),
            nhbins: sym("nhbins"),
            tcache_bin_info: sym("tcache_bin_info"),
            emap: sym("arena_emap_global"),
            extents_rtree: sym("extents_rtree"),
            opt_dirty_decay_ms: sym("opt_dirty_decay_ms"),
            opt_muzzy_decay_ms: sym("opt_muzzy_decay_ms"),
            opt_narenas: sym("opt_narenas"),
            opt_retain: sym("opt_retain"),
            opt_background_thread: sym("opt_background_thread"),
            opt_tcache: sym("opt_tcache"),
        });
    }
    None
}

/// Why no globals were found, and what would help: said as one sentence.
pub(crate) fn explain_missing_symbols(target: &dyn Target) -> String {
    let lib = target
        .modules()
        .into_iter()
        .find(|m| m.name().starts_with("libjemalloc"));
    match lib {
        Some(m) => {
            let id = m
                .build_id
                .as_ref()
                .map(|b| format!(" (build-id {b})"))
                .unwrap_or_default();
            format!(
                "{} has no symbol table{id}: its internal symbols (je_arenas, je_bin_infos, \
                 je_sz_index2size_tab) are stripped, and without them the arenas cannot be \
                 found. Give heapmortem the library's debug file (Debian: the \
                 libjemalloc2-dbgsym package, or any DIR/.build-id/xx/yyyy.debug via \
                 --debug-dir), or link the program with the static libjemalloc.a, which \
                 keeps its symbols",
                m.path
            )
        }
        None => "no jemalloc symbols (je_arenas, _rjem_je_arenas, __je_arenas, arenas) in any \
                 module: the binary is stripped or jemalloc is not linked in; give the \
                 unstripped executable with --exe or its debug file with --debug-dir"
            .to_string(),
    }
}

/// jemalloc's version string, as `JEMALLOC_VERSION` puts it in the binary:
/// `MAJOR.MINOR.BUGFIX-NREV-gGID` with a 40-digit git id (jemalloc's configure.ac). It is
/// searched in the read-only data of the module that holds `near` (an address of one of
/// jemalloc's functions or variables): the mappings of its file, or, in a core that names
/// no files (qemu-user's), those within the module's address range.
pub(crate) fn find_version(target: &dyn Target, near: &[u64]) -> Option<String> {
    let paths: Vec<&str> = near
        .iter()
        .filter_map(|&a| {
            target
                .mappings()
                .iter()
                .find(|m| m.start <= a && a < m.end)
                .and_then(|m| m.path.as_deref())
        })
        .collect();
    let modules: Vec<(u64, u64)> = target
        .modules()
        .iter()
        .filter(|m| near.iter().any(|&a| m.start <= a && a < m.end))
        .map(|m| (m.start, m.end))
        .collect();
    let mappings = target
        .mappings()
        .iter()
        .filter(|m| m.perms.starts_with('r'))
        .filter(|m| {
            m.path.as_deref().is_some_and(|p| paths.contains(&p))
                || (m.path.is_none() && modules.iter().any(|&(s, e)| s <= m.start && m.end <= e))
        });
    for m in mappings {
        let mut addr = m.start;
        while addr < m.end {
            let bytes = target.bytes_at(addr);
            if bytes.is_empty() {
                break;
            }
            let len = bytes.len().min((m.end - addr) as usize);
            if let Some(v) = scan_version(&bytes[..len]) {
                return Some(v);
            }
            addr += len as u64;
        }
    }
    None
}

/// Finds `N.N.N-N-g<40 hex>` followed by NUL in `data`.
pub(crate) fn scan_version(data: &[u8]) -> Option<String> {
    let finder = memchr::memmem::Finder::new(b"-g");
    for at in finder.find_iter(data) {
        let id = data.get(at + 2..at + 42)?;
        if !id.iter().all(u8::is_ascii_hexdigit) || data.get(at + 42) != Some(&0) {
            continue;
        }
        // Walk back over "5.3.0-0".
        let mut start = at;
        while start > 0
            && (data[start - 1].is_ascii_digit()
                || data[start - 1] == b'.'
                || data[start - 1] == b'-')
        {
            start -= 1;
            if at - start > 32 {
                break;
            }
        }
        while start < at && matches!(data[start], b'-' | b'.') {
            start += 1;
        }
        let head = std::str::from_utf8(&data[start..at]).ok()?;
        let (release, nrev) = head.rsplit_once('-')?;
        let parts: Vec<&str> = release.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            || nrev.is_empty()
            || !nrev.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let text = std::str::from_utf8(&data[start..at + 42]).ok()?;
        return Some(text.to_string());
    }
    None
}

/// `(major, minor, bugfix)` of a version string.
pub(crate) fn release(version: &str) -> Option<(u32, u32, u32)> {
    let release = version.split('-').next()?;
    let mut it = release.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// `sz_index2size_tab`'s first entries on x86_64 and aarch64 builds (LG_QUANTUM 4 on both,
/// quantum.h; tiny class 8; sc.c).
const SIZE_CLASSES_START: [u64; 13] = [8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256];

/// For a library without symbols (Debian's stripped `libjemalloc.so.2`): finds the globals
/// a walk needs by what they hold, in the library's writable memory (`.data`, `.bss`):
///
/// - `sz_index2size_tab`: the size classes 8, 16, 32, 48, … one after another;
/// - `bin_infos`: the same sizes every `sizeof(bin_info_t)` bytes, the first with a slab
///   of one page (4 to 64 KiB);
/// - `arenas`: a slot pointing at an `arena_t` that passes the layout's self-checks as
///   arena 0 (its index in three places, its extent caches' states, `pac.stats` pointing
///   into itself), and whose other slots are null or arenas of their own index. (jemalloc
///   also keeps arena 0 in `a0`; of the two, the array is the one with more arenas.)
///
/// The thread-cache bin table and the `opt_*` values cannot be told apart by content, so
/// they stay unknown.
pub(crate) fn scan_globals(target: &dyn Target, l: &Layout) -> Option<Globals> {
    let lib = target
        .modules()
        .into_iter()
        .find(|m| m.name().starts_with("libjemalloc"))?;
    let ranges = crate::allocator::writable_data(target, lib);
    let mut index2size = None;
    let mut bin_infos = None;
    let mut arena_slots: Vec<(u64, usize)> = Vec::new();
    for &(start, end) in &ranges {
        let mut addr = start;
        while addr < end {
            let bytes = target.bytes_at(addr);
            if bytes.is_empty() {
                addr = (addr + 4096) & !4095;
                continue;
            }
            let len = bytes.len().min((end - addr) as usize) & !7;
            for (k, w) in bytes[..len].chunks_exact(8).enumerate() {
                let at = addr + 8 * k as u64;
                let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
                if w == 8 {
                    if index2size.is_none() && words_are(target, at, 8, &SIZE_CLASSES_START) {
                        index2size = Some(at);
                    }
                    if bin_infos.is_none()
                        && words_are(target, at, l.bin_info.size, &SIZE_CLASSES_START)
                        && target
                            .read_u64(at + l.bin_info.slab_size)
                            .is_some_and(is_page_size)
                    {
                        bin_infos = Some(at);
                    }
                } else if w != 0 && w % 64 == 0 && super::walk::arena_fits(target, l, 0, w) {
                    if let Some(n) = arena_array(target, l, at) {
                        arena_slots.push((at, n));
                    }
                }
            }
            addr += len.max(8) as u64;
        }
    }
    let (arenas, _) = arena_slots
        .into_iter()
        .max_by_key(|&(at, n)| (n, std::cmp::Reverse(at)))?;
    Some(Globals {
        prefix: String::new(),
        arenas,
        bin_infos: bin_infos?,
        index2size: index2size?,
        ..Globals::default()
    })
}

/// The page sizes jemalloc is built for on Linux: 4 KiB (x86_64, aarch64's default) up to
/// 64 KiB (`--with-lg-page=16`, arm64 distributions).
fn is_page_size(p: u64) -> bool {
    p.is_power_of_two() && (4096..=65536).contains(&p)
}

/// Whether the u64 words at `at`, `at + stride`, … are `expected`.
fn words_are(mem: &dyn Memory, at: u64, stride: u64, expected: &[u64]) -> bool {
    expected
        .iter()
        .enumerate()
        .all(|(i, &e)| mem.read_u64(at + i as u64 * stride) == Some(e))
}

/// If `at` starts an `arenas` array (every non-null slot an arena of that index), how many
/// arenas it holds.
fn arena_array(mem: &dyn Memory, l: &Layout, at: u64) -> Option<usize> {
    let mut n = 1;
    for slot in 1..ARENA_LIMIT {
        let p = mem.read_u64(at + 8 * slot)?;
        if p == 0 {
            continue;
        }
        if !super::walk::arena_fits(mem, l, slot as u32, p) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// jemalloc maps each base block 2 MiB-aligned (5.3 base.c `base_block_alloc` → `base_map`,
/// alignment `HUGEPAGE`).
const HUGEPAGE: u64 = 2 << 20;

/// How far into a base block an `arena_t` is looked for: an arena is among the first things
/// its base allocates (5.3 arena.c `arena_new`: arena 0 from `b0`, at 0x10c0 in Debian's
/// build; every other arena right after the `base_t` of a base made for it).
const ARENA_WINDOW: u64 = 64 << 10;

/// `CACHELINE` (jemalloc_internal_types.h): `arena_new` allocates `arena_t` cache-line aligned.
const CACHELINE: u64 = 64;

/// For a truncated core that lost jemalloc's globals (the `arenas` array is in its data):
/// the arenas, recognized in the anonymous memory that survives. Each `arena_t` lies near
/// the start of a 2 MiB-aligned base block ([`HUGEPAGE`], [`ARENA_WINDOW`]) and passes the
/// layout's self-checks for the index it holds. Returns `(index, address)` by index, and a
/// problem for each index two structures claim (the first found is kept).
pub(crate) fn scan_arenas(target: &dyn Target, l: &Layout) -> (Vec<(u32, u64)>, Vec<Diagnostic>) {
    let mut arenas: std::collections::BTreeMap<u32, u64> = Default::default();
    let mut problems = Vec::new();
    let Some(&ind) = l.arena.ind.first() else {
        return (Vec::new(), problems);
    };
    let anonymous = target
        .mappings()
        .iter()
        .filter(|m| m.path.is_none() && m.perms.contains('w'))
        .map(|m| (m.start, m.end))
        .collect::<Vec<_>>();
    for (start, end) in anonymous {
        let mut block = start.checked_next_multiple_of(HUGEPAGE);
        while let Some(b) = block.filter(|&b| b < end) {
            if !target.bytes_at(b).is_empty() {
                for a in (b..b.saturating_add(ARENA_WINDOW).min(end)).step_by(CACHELINE as usize) {
                    let Some(index) = target.read_u32(a.wrapping_add(ind)) else {
                        break;
                    };
                    if u64::from(index) >= ARENA_LIMIT
                        || !super::walk::arena_fits(target, l, index, a)
                    {
                        continue;
                    }
                    let first = *arenas.entry(index).or_insert(a);
                    if first != a {
                        problems.push(Diagnostic::at(
                            "arena_duplicate",
                            a,
                            format!(
                                "a second arena_t calling itself arena {index} at {a:#x} (the \
                                 first at {first:#x} kept)"
                            ),
                        ));
                    }
                }
            }
            block = b.checked_add(HUGEPAGE);
        }
    }
    (arenas.into_iter().collect(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_version_among_other_strings() {
        let mut data = b"\0garbage-g\0<jemalloc>: -gx\0".to_vec();
        data.extend_from_slice(b"5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c\0tail");
        assert_eq!(
            scan_version(&data).as_deref(),
            Some("5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c")
        );
        assert_eq!(release("5.3.0-0-g54ea"), Some((5, 3, 0)));
    }

    #[test]
    fn rejects_lookalikes() {
        assert_eq!(
            scan_version(b"x-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c\0"),
            None
        );
        assert_eq!(
            scan_version(b"1.2-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c\0"),
            None
        );
    }
}
