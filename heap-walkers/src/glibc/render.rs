//! Rendering a [`GlibcHeap`]: terminal text and glibc's own `malloc_info` XML. (JSON and
//! the allocation listing are the allocator-neutral writers'.)

use std::io::{self, Write};

use super::layout::ALIGNMENT;
use super::model::{GlibcArena, GlibcHeap};
use crate::Arena;
use core_reader::human_bytes as bytes;

impl GlibcHeap {
    /// When the walk read only part of the heap, the sentence that says how much it missed.
    pub fn walked_in_part(&self) -> Option<String> {
        let n = self.problems.len();
        let first = self.problems.first()?;
        Some(format!(
            "the heap could be walked only in part ({n} problem{}, first: {}; {} bytes skipped)",
            if n == 1 { "" } else { "s" },
            first.message,
            self.detail.skipped_bytes
        ))
    }

    /// The XML glibc's `malloc_info (0, f)` prints, computed the way glibc 2.36 computes
    /// it (malloc/malloc.c `__malloc_info`): per arena the non-empty fastbins (`from` is
    /// the chunk size less `MALLOC_ALIGNMENT - 1`), the non-empty bins with sizes as stored
    /// (`chunksize_nomask`, flag bits included), the unsorted bin last; "rest" counts the
    /// top chunk plus the bins; `aspace` is `system_mem` for the main arena and the sums of
    /// `heap_info.size` / `mprotect_size` for the others; the mmap totals are `mp_`'s.
    pub fn write_malloc_info(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "<malloc version=\"1\">")?;
        let (mut t_nfast, mut t_fast, mut t_nrest, mut t_rest) = (0u64, 0u64, 0u64, 0u64);
        let (mut t_sys, mut t_max, mut t_aspace, mut t_mprot) = (0u64, 0u64, 0u64, 0u64);
        for a in &self.arenas {
            writeln!(w, "<heap nr=\"{}\">\n<sizes>", a.index)?;
            let (mut nfast, mut fast) = (0u64, 0u64);
            for f in a.detail.fastbins.iter().filter(|f| f.count > 0) {
                let size = f.chunk_size;
                writeln!(
                    w,
                    "  <size from=\"{}\" to=\"{}\" total=\"{}\" count=\"{}\"/>",
                    size.wrapping_sub(ALIGNMENT - 1),
                    size,
                    f.count.wrapping_mul(size),
                    f.count
                )?;
                nfast += f.count;
                fast = fast.wrapping_add(f.count.wrapping_mul(size));
            }
            let (mut nrest, mut rest) = (1u64, a.detail.top_size);
            for b in a.detail.bins.iter().filter(|b| b.count > 0 && b.index != 1) {
                writeln!(
                    w,
                    "  <size from=\"{}\" to=\"{}\" total=\"{}\" count=\"{}\"/>",
                    b.from, b.to, b.total, b.count
                )?;
            }
            for b in a.detail.bins.iter().filter(|b| b.count > 0 && b.index == 1) {
                writeln!(
                    w,
                    "  <unsorted from=\"{}\" to=\"{}\" total=\"{}\" count=\"{}\"/>",
                    b.from, b.to, b.total, b.count
                )?;
            }
            for b in &a.detail.bins {
                nrest += b.count;
                rest = rest.wrapping_add(b.total);
            }
            writeln!(
                w,
                "</sizes>\n<total type=\"fast\" count=\"{nfast}\" size=\"{fast}\"/>\n\
                 <total type=\"rest\" count=\"{nrest}\" size=\"{rest}\"/>\n\
                 <system type=\"current\" size=\"{}\"/>\n<system type=\"max\" size=\"{}\"/>",
                a.figures.system_bytes, a.detail.max_system_bytes
            )?;
            if a.detail.main {
                writeln!(
                    w,
                    "<aspace type=\"total\" size=\"{0}\"/>\n<aspace type=\"mprotect\" size=\"{0}\"/>",
                    a.figures.system_bytes
                )?;
                t_aspace = t_aspace.wrapping_add(a.figures.system_bytes);
                t_mprot = t_mprot.wrapping_add(a.figures.system_bytes);
            } else {
                let size: u64 = a.detail.heaps.iter().map(|h| h.size).sum();
                let mprot: u64 = a.detail.heaps.iter().map(|h| h.mprotect_size).sum();
                writeln!(
                    w,
                    "<aspace type=\"total\" size=\"{size}\"/>\n<aspace type=\"mprotect\" size=\"{mprot}\"/>\n\
                     <aspace type=\"subheaps\" size=\"{}\"/>",
                    a.detail.heaps.len()
                )?;
                t_aspace = t_aspace.wrapping_add(size);
                t_mprot = t_mprot.wrapping_add(mprot);
            }
            writeln!(w, "</heap>")?;
            t_nfast += nfast;
            t_fast += fast;
            t_nrest += nrest;
            t_rest = t_rest.wrapping_add(rest);
            t_sys = t_sys.wrapping_add(a.figures.system_bytes);
            t_max = t_max.wrapping_add(a.detail.max_system_bytes);
        }
        let (n_mmaps, mmapped) = match &self.detail.params {
            Some(p) => (p.n_mmaps as i64, p.mmapped_mem),
            None => (self.detail.mmapped_chunks as i64, self.detail.mmapped_bytes),
        };
        // The last line has no newline: glibc's format ends with "</malloc>\n" too.
        writeln!(
            w,
            "<total type=\"fast\" count=\"{t_nfast}\" size=\"{t_fast}\"/>\n\
             <total type=\"rest\" count=\"{t_nrest}\" size=\"{t_rest}\"/>\n\
             <total type=\"mmap\" count=\"{n_mmaps}\" size=\"{mmapped}\"/>\n\
             <system type=\"current\" size=\"{t_sys}\"/>\n<system type=\"max\" size=\"{t_max}\"/>\n\
             <aspace type=\"total\" size=\"{t_aspace}\"/>\n<aspace type=\"mprotect\" size=\"{t_mprot}\"/>\n\
             </malloc>"
        )
    }

    /// A summary that fits a terminal.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        let version = self.version.as_ref().map_or_else(
            || "glibc (version unknown)".to_string(),
            |v| format!("glibc {v}"),
        );
        writeln!(
            w,
            "{version} malloc: main_arena {:#x} ({}), layout from {}{}",
            self.detail.main_arena,
            match self.detail.main_arena_found_by {
                "lost" => "lost: not in the core".to_string(),
                by => format!("by {by}"),
            },
            match self.detail.layout_source {
                super::LayoutSource::Dwarf => "DWARF",
                super::LayoutSource::BuiltIn => "the built-in table",
                super::LayoutSource::Inferred => "the data",
            },
            if self.detail.safe_linking {
                ", safe-linking"
            } else {
                ""
            }
        )?;
        let sum = |f: fn(&Arena<GlibcArena>) -> u64| self.arenas.iter().map(f).sum::<u64>();
        writeln!(w, "{}", wrap(&format!(
            "{} arena{}: {} from the system; {} in use in {} chunks; {} freed in {} chunks; {} in tops; {} mmapped chunks ({})",
            self.arenas.len(),
            if self.arenas.len() == 1 { "" } else { "s" },
            bytes(sum(|a| a.figures.system_bytes)),
            bytes(sum(|a| a.figures.in_use_bytes)),
            sum(|a| a.figures.in_use_chunks),
            bytes(sum(|a| a.figures.free_bytes)),
            sum(|a| a.figures.free_chunks),
            bytes(sum(|a| a.detail.top_size)),
            self.detail.mmapped_chunks,
            bytes(self.detail.mmapped_bytes),
        ), 96, "  "))?;
        writeln!(w)?;
        writeln!(
            w,
            "{:>3} {:<14} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9} {:>9}",
            "#", "arena", "system", "in use", "chunks", "freed", "chunks", "top", "trimmable"
        )?;
        const MAX_ROWS: usize = 12;
        for a in self.arenas.iter().take(MAX_ROWS) {
            writeln!(
                w,
                "{:>3} {:<14} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9} {:>9}",
                a.index,
                if a.detail.main {
                    "main".to_string()
                } else {
                    format!("{:#x}", a.address)
                },
                bytes(a.figures.system_bytes),
                bytes(a.figures.in_use_bytes),
                a.figures.in_use_chunks,
                bytes(a.figures.free_bytes),
                a.figures.free_chunks,
                bytes(a.detail.top_size),
                bytes(a.figures.trimmable_bytes),
            )?;
        }
        if self.arenas.len() > MAX_ROWS {
            writeln!(
                w,
                "    … {} more arenas (--format json lists all)",
                self.arenas.len() - MAX_ROWS
            )?;
        }
        writeln!(
            w,
            "freed chunks: {} in bins, {} in fastbins, {} in tcaches",
            sum(|a| a.detail.bin_chunks),
            sum(|a| a.detail.fastbin_chunks),
            sum(|a| a.detail.tcache_chunks)
        )?;
        if !self.detail.tcaches.is_empty() {
            let chunks: u64 = self.detail.tcaches.iter().map(|t| t.chunks).sum();
            let tbytes: u64 = self.detail.tcaches.iter().map(|t| t.bytes).sum();
            let full: u64 = self.detail.tcaches.iter().map(|t| t.full_bins).sum();
            writeln!(
                w,
                "tcaches: {} holding {} chunks ({}); {} full bins",
                self.detail.tcaches.len(),
                chunks,
                bytes(tbytes),
                full
            )?;
        }
        let holes: u64 = sum(|a| a.detail.hole_bytes);
        let nholes: u64 = sum(|a| a.detail.holes_count);
        writeln!(w, "{}", wrap(&format!(
            "fragmentation: {} freed in {} holes below chunks in use, {} freed just below the tops; malloc_trim(0) could return {}",
            bytes(holes),
            nholes,
            bytes(sum(|a| a.detail.free_at_top)),
            bytes(sum(|a| a.figures.trimmable_bytes)),
        ), 96, "  "))?;
        let mut all_holes: Vec<(u32, &super::Hole)> = self
            .arenas
            .iter()
            .flat_map(|a| a.detail.holes.iter().map(move |h| (a.index, h)))
            .collect();
        all_holes.sort_by_key(|h| std::cmp::Reverse(h.1.size));
        for (ai, h) in all_holes.iter().take(5) {
            let pin = match (h.pinned_by, h.pinned_size) {
                (Some(p), Some(s)) => format!("pinned by {p:#x} ({} in use)", bytes(s)),
                _ => "at the end of an old heap".to_string(),
            };
            writeln!(
                w,
                "  hole {:>10} at {:#x} (arena {ai}, {} chunks), {pin}",
                bytes(h.size),
                h.address,
                h.chunks
            )?;
        }
        let hist = &self.detail.histogram;
        let classes: Vec<String> = (0..hist.class_max.len())
            .filter(|&i| hist.used_chunks[i] + hist.free_chunks[i] > 0)
            .map(|i| {
                let label = match hist.class_max[i] {
                    Some(m) => format!("≤{}", bytes(m).replace(".0 ", "").replace(' ', "")),
                    None => ">1MiB".to_string(),
                };
                format!("{label} {}/{}", hist.used_chunks[i], hist.free_chunks[i])
            })
            .collect();
        if !classes.is_empty() {
            let line = format!("chunks by size (in use/freed): {}", classes.join("  "));
            writeln!(w, "{}", wrap(&line, 96, "  "))?;
        }
        for f in &self.findings {
            writeln!(
                w,
                "\n{}",
                wrap(&format!("finding: {}", f.message), 96, "  ")
            )?;
        }
        if !self.problems.is_empty() {
            writeln!(w, "\nproblems ({}):", self.problems.len())?;
            for p in self.problems.iter().take(10) {
                let line = format!("{}: {}", p.kind, p.message);
                writeln!(w, "  {}", wrap(&line, 94, "    "))?;
            }
            if self.problems.len() > 10 {
                writeln!(
                    w,
                    "  … {} more (--format json lists them)",
                    self.problems.len() - 10
                )?;
            }
        }
        for n in &self.notes {
            writeln!(w, "{}", wrap(&format!("note: {n}"), 96, "  "))?;
        }
        Ok(())
    }
}

/// Word-wraps `text` at `width` columns, continuing lines with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            out.push_str(indent);
            line = indent.len();
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}
