//! Rendering a [`LeakReport`]: terminal text like valgrind's summary, and JSON.

use std::io::{self, Write};

use core_reader::human_bytes;
use serde::Serialize;

use super::model::LeakReport;

#[derive(Serialize)]
struct JsonOut<'a> {
    allocator: &'a str,
    #[serde(flatten)]
    report: &'a LeakReport,
}

fn blocks(n: u64) -> &'static str {
    if n == 1 {
        "block"
    } else {
        "blocks"
    }
}

impl LeakReport {
    /// Writes the JSON document of `heapmortem leaks --format json` (keys in DESIGN.md and
    /// `json-schema.md`), with `allocator` first.
    pub fn write_json(&self, w: &mut dyn Write, allocator: &str) -> io::Result<()> {
        let doc = JsonOut {
            allocator,
            report: self,
        };
        serde_json::to_writer_pretty(&mut *w, &doc).map_err(io::Error::other)?;
        writeln!(w)
    }

    /// Writes valgrind's LEAK SUMMARY lines, then the `top` biggest groups.
    pub fn write_text(&self, w: &mut dyn Write, top: usize) -> io::Result<()> {
        writeln!(w, "LEAK SUMMARY (sizes are usable sizes):")?;
        for (label, count, bytes) in [
            ("definitely lost", self.direct_count, self.direct_bytes),
            ("indirectly lost", self.indirect_count, self.indirect_bytes),
            ("possibly lost", self.possible_count, self.possible_bytes),
            (
                "still reachable",
                self.reachable_count,
                self.reachable_bytes,
            ),
        ] {
            writeln!(
                w,
                "   {label:>15}: {bytes} bytes in {count} {} ({})",
                blocks(count),
                human_bytes(bytes)
            )?;
        }
        writeln!(
            w,
            "   roots scanned: {} ({} not in the core{})",
            human_bytes(self.root_bytes_scanned),
            human_bytes(self.root_bytes_unreadable),
            if self.root_bytes_unreadable > 0 {
                ": a block only they point to is called lost here"
            } else {
                ""
            }
        )?;
        for note in &self.notes {
            writeln!(w, "   note: {note}")?;
        }
        match self.sample_period {
            Some(1) => writeln!(
                w,
                "   sites: from jemalloc's profiler, which sampled every allocation"
            )?,
            Some(period) => writeln!(
                w,
                "   sites: from jemalloc's profiler, which sampled one allocation per {} on \
                 average; estimates as jeprof makes them",
                human_bytes(period)
            )?,
            None => {}
        }
        if self.groups.is_empty() {
            return Ok(());
        }
        writeln!(w)?;
        writeln!(
            w,
            "{:>8} {:>10} {:>12} {:>7} {:>8}  {:<5} {:<18}  preview",
            "count", "size", "bytes", "direct", "indirect", "shape", "sample"
        )?;
        for g in self.groups.iter().take(top) {
            // A recognized type says more than the bytes do.
            let preview = match &g.type_name {
                Some(t) => t.clone(),
                None => format!("{} |{}|", g.preview_hex, g.preview_ascii),
            };
            writeln!(
                w,
                "{:>8} {:>10} {:>12} {:>7} {:>8}  {:<5} {:<18}  {preview}",
                g.count,
                g.size,
                g.bytes,
                g.direct,
                g.indirect,
                g.shape,
                g.samples
                    .first()
                    .map(|a| format!("{a:#x}"))
                    .unwrap_or_default(),
            )?;
            if let Some(site) = &g.site {
                write!(w, "{:>8} allocated in {}", "", site.describe())?;
                match (self.sample_period, g.estimated_count, g.estimated_bytes) {
                    (Some(p), Some(n), Some(b)) if p > 1 => writeln!(
                        w,
                        " ({} sampled, standing for ~{n} blocks, {})",
                        g.sampled.unwrap_or(0),
                        human_bytes(b)
                    )?,
                    _ => writeln!(w)?,
                }
            }
        }
        if self.groups.len() > top {
            writeln!(
                w,
                "… {} more groups (--format json lists them all)",
                self.groups.len() - top
            )?;
        }
        Ok(())
    }
}
