//! The findings of a diff, and its text and JSON views.

use std::io::{self, Write};

use core_reader::{human_bytes, human_bytes_f64};

use super::{finding, Diff, FiguresDelta, Grouping, HolderKind, HolderRow, ProgramMatch, Row};
use crate::{Finding, Severity};

/// Allocator growth the program does not account for is worth a finding from this much on:
/// below it, a few pages of a bin or a thread cache come and go between any two moments.
const ALLOCATOR_SLACK: i64 = 1 << 20;

/// Changed rows the text shows.
const TEXT_ROWS: usize = 15;
/// Holders the text shows under each row.
const TEXT_HOLDERS: usize = 2;

/// `+1,234` / `-5`.
pub fn signed_count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", grouped(n.unsigned_abs()))
}

/// `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `+6.3 MiB` / `-512 B`.
pub fn signed_bytes(n: i64) -> String {
    let text = human_bytes_f64(n as f64);
    if n >= 0 {
        format!("+{text}")
    } else {
        text
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        signed_count(n),
        if n.abs() == 1 { one } else { many }
    )
}

impl HolderRow {
    /// How the holder reads in a sentence: `held through g_sessions (objects!g_sessions)`.
    pub fn phrase(&self) -> String {
        let h = self;
        match h.kind {
            HolderKind::Static => match h.holder.split_once('!') {
                Some((_, symbol)) => format!("held through {symbol} ({})", h.holder),
                None => format!("held through {}", h.holder),
            },
            HolderKind::Allocation => format!(
                "held by a {}{} that is in both cores",
                h.holder,
                h.example.map(|a| format!(" at {a:#x}")).unwrap_or_default()
            ),
            HolderKind::Unreached => "reached from no root (leaked)".to_string(),
            HolderKind::Stack | HolderKind::Register | HolderKind::Tls | HolderKind::Other => {
                format!("held from {}", h.holder)
            }
        }
    }
}

/// What the comparison concludes: whether the programs match, the largest growth with its
/// holder and the next step, and growth of the allocator's holdings the program does not
/// account for.
pub(super) fn findings(d: &Diff) -> Vec<Finding> {
    let mut out = Vec::new();
    let exe = |p: &super::Program| {
        format!(
            "{} (build-id {})",
            p.executable.as_deref().unwrap_or("an unknown executable"),
            p.build_id.as_deref().unwrap_or("unknown")
        )
    };
    match d.program_match {
        ProgramMatch::Same => {}
        ProgramMatch::OtherProgram => out.push(finding(
            Severity::Warning,
            "different_programs",
            format!(
                "{} and {} are cores of different programs ({} and {}): the rows compare \
                 two unrelated heaps, so no growth is claimed",
                d.old.label,
                d.new.label,
                exe(&d.old),
                exe(&d.new)
            ),
        )),
        ProgramMatch::OtherBuild => out.push(finding(
            Severity::Info,
            "other_build",
            format!(
                "{} and {} are cores of two builds of one program ({} and {}): types and \
                 sizes are compared by name, so growth may also be a change of the code",
                d.old.label,
                d.new.label,
                exe(&d.old),
                exe(&d.new)
            ),
        )),
        ProgramMatch::Unverified => out.push(finding(
            Severity::Info,
            "unverified_program",
            format!(
                "{} and {} could not be shown to be cores of one program ({} and {}: a \
                 build-id or an executable is unknown); they are compared as if they were",
                d.old.label,
                d.new.label,
                exe(&d.old),
                exe(&d.new)
            ),
        )),
    }
    if d.program_match == ProgramMatch::OtherProgram {
        return out;
    }
    match d.rows.first().filter(|r| r.change.bytes_delta > 0) {
        Some(r) => out.push(growth(d, r)),
        None => out.push(finding(
            Severity::Info,
            "no_growth",
            format!(
                "no group of allocations grew in bytes from {} to {}: the program holds {} \
                 allocations ({}) after {} ({})",
                d.old.label,
                d.new.label,
                grouped(d.totals.new_count),
                human_bytes(d.totals.new_bytes),
                grouped(d.totals.old_count),
                human_bytes(d.totals.old_bytes)
            ),
        )),
    }
    if let Some(a) = &d.allocator {
        if let Some(f) = allocator_growth(d, &a.delta) {
            out.push(f);
        }
    }
    out
}

fn growth(d: &Diff, r: &Row) -> Finding {
    let c = &r.change;
    let what = match d.by {
        Grouping::Type => r.key.clone(),
        Grouping::Size => format!("allocations of {}", r.key),
        Grouping::Site => format!("allocations made in {}", r.key),
    };
    let mut message = format!(
        "{what} grew by {} ({}) from {} to {}",
        plural(c.count_delta, "allocation", "allocations"),
        signed_bytes(c.bytes_delta),
        d.old.label,
        d.new.label
    );
    let top = r.holders.first().filter(|h| h.change.count_delta > 0);
    if let Some(h) = top {
        message.push_str(&format!(", {}", h.phrase()));
        if h.change.count_delta < c.count_delta {
            message.push_str(&format!(
                " ({} of them; {} holders in all)",
                signed_count(h.change.count_delta),
                r.holders_count
            ));
        }
    }
    let next = match (top.map(|h| h.kind), r.example) {
        (Some(HolderKind::Unreached), _) => {
            format!("`heapmortem leaks {}` lists what was lost", d.new.label)
        }
        (_, Some(a)) => format!(
            "`heapmortem explain {} {a:#x}` shows what keeps one of them alive",
            d.new.label
        ),
        (_, None) => format!("`heapmortem heap {} --by type`", d.new.label),
    };
    message.push_str(&format!("; next: {next}"));
    finding(Severity::Warning, "growth", message)
}

fn allocator_growth(d: &Diff, delta: &FiguresDelta) -> Option<Finding> {
    // The program's own account (every allocation it holds, as walked) rather than the
    // allocator's in-use figure: jemalloc's counts regions handed to thread caches, and its
    // statistics in memory may lag the regions themselves.
    let held = d.totals.bytes_delta;
    let unexplained = delta.system_bytes.saturating_sub(held.max(0));
    if delta.system_bytes <= 0
        || unexplained < ALLOCATOR_SLACK
        || unexplained.saturating_mul(2) < delta.system_bytes
    {
        return None;
    }
    let mut parts = vec![
        format!(
            "{} trapped between allocations in use",
            signed_bytes(delta.fragmented_bytes)
        ),
        format!("{} trimmable", signed_bytes(delta.trimmable_bytes)),
    ];
    if let Some(dirty) = delta.dirty_bytes {
        parts.push(format!("{} in dirty pages", signed_bytes(dirty)));
    }
    Some(finding(
        Severity::Warning,
        "allocator_growth",
        format!(
            "the allocator got {} more from the system from {} to {} while the allocations \
             the program holds grew by {}: {} more is free in its arenas ({}); next: \
             `heapmortem heap {}` for the arenas' findings",
            signed_bytes(delta.system_bytes),
            d.old.label,
            d.new.label,
            signed_bytes(held),
            signed_bytes(delta.free_bytes),
            parts.join(", "),
            d.new.label
        ),
    ))
}

impl Diff {
    /// The JSON document of `heapmortem diff --format json` (keys in json-schema.md).
    pub fn write_json(&self, w: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self).map_err(io::Error::other)?;
        writeln!(w)
    }

    /// The terminal view: both cores, the totals, the changed rows with their main holders,
    /// the allocator's holdings, the findings.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        for (tag, p) in [("OLD", &self.old), ("NEW", &self.new)] {
            // The paths as given (any length) on a line of their own; the full executable
            // path and build-id are in the JSON.
            let exe = p.executable.as_deref().unwrap_or("(executable unknown)");
            let id = p.build_id.as_deref().unwrap_or("unknown");
            writeln!(
                w,
                "{tag} {}\n    {}, build-id {}{}, {} {}",
                p.label,
                exe.rsplit('/').next().unwrap_or(exe),
                id.get(..16).unwrap_or(id),
                if id.len() > 16 { "…" } else { "" },
                p.allocator.name(),
                p.version.as_deref().unwrap_or("(version unknown)")
            )?;
        }
        let t = &self.totals;
        writeln!(
            w,
            "in use: {} → {} allocations ({}), {} → {} ({})",
            grouped(t.old_count),
            grouped(t.new_count),
            signed_count(t.count_delta),
            human_bytes(t.old_bytes),
            human_bytes(t.new_bytes),
            signed_bytes(t.bytes_delta)
        )?;
        let changed: Vec<&Row> = self.rows.iter().filter(|r| r.change.is_change()).collect();
        writeln!(
            w,
            "\nby {}, largest growth first ({} of {} groups changed):",
            match self.by {
                Grouping::Type => "type",
                Grouping::Size => "size",
                Grouping::Site => "allocation site",
            },
            changed.len(),
            self.rows.len()
        )?;
        writeln!(
            w,
            "{:>10} {:>11} {:>10} {:>10}  group",
            "count Δ", "bytes Δ", "old", "new"
        )?;
        for r in changed.iter().take(TEXT_ROWS) {
            let c = &r.change;
            writeln!(
                w,
                "{:>10} {:>11} {:>10} {:>10}  {}",
                signed_count(c.count_delta),
                signed_bytes(c.bytes_delta),
                grouped(c.old_count),
                grouped(c.new_count),
                r.key
            )?;
            for h in r.holders.iter().take(TEXT_HOLDERS) {
                writeln!(
                    w,
                    "{:>10} {:>11}  {}",
                    signed_count(h.change.count_delta),
                    "",
                    h.phrase()
                )?;
            }
            if r.holders_count > TEXT_HOLDERS {
                writeln!(
                    w,
                    "{:>23}  … {} more holders",
                    "",
                    r.holders_count - TEXT_HOLDERS
                )?;
            }
        }
        if changed.len() > TEXT_ROWS {
            writeln!(
                w,
                "  … {} more changed groups (--format json lists them all)",
                changed.len() - TEXT_ROWS
            )?;
        }
        match &self.allocator {
            Some(a) => {
                writeln!(w, "\nthe allocator's holdings, NEW less OLD:")?;
                writeln!(
                    w,
                    "  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
                    "arena", "system", "in use", "free", "fragmented", "trimmable", "dirty"
                )?;
                let line = |w: &mut dyn Write, name: &str, d: &FiguresDelta| {
                    writeln!(
                        w,
                        "  {:<12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
                        name,
                        signed_bytes(d.system_bytes),
                        signed_bytes(d.in_use_bytes),
                        signed_bytes(d.free_bytes),
                        signed_bytes(d.fragmented_bytes),
                        signed_bytes(d.trimmable_bytes),
                        d.dirty_bytes.map_or_else(|| "-".to_string(), signed_bytes)
                    )
                };
                for arena in &a.arenas {
                    line(w, &arena.name, &arena.delta)?;
                }
                if a.arenas.len() > 1 {
                    line(w, "all", &a.delta)?;
                }
                if let Some(cached) = a.delta.cached_bytes {
                    // jemalloc counts a region in use from the moment a thread cache takes
                    // it from a slab until the cache flushes it back (its `allocated`
                    // includes `tcache_bytes`), so a cache that shrank makes "in use" grow
                    // less than what the program holds; the rest is jemalloc's own
                    // allocations (thread-cache stacks, profiling records).
                    let held = self.totals.bytes_delta;
                    let own = a
                        .delta
                        .in_use_bytes
                        .saturating_sub(held)
                        .saturating_sub(cached);
                    writeln!(
                        w,
                        "  in use is the allocator's account, thread caches included: {} = {} \
                         held by the program, {} in thread caches, {} jemalloc's own",
                        signed_bytes(a.delta.in_use_bytes),
                        signed_bytes(held),
                        signed_bytes(cached),
                        signed_bytes(own),
                    )?;
                }
            }
            None => writeln!(
                w,
                "\nthe allocator's holdings are not compared: {} used {}, {} used {}",
                self.old.label,
                self.old.allocator.name(),
                self.new.label,
                self.new.allocator.name()
            )?,
        }
        if !self.findings.is_empty() {
            writeln!(w, "\nfindings:")?;
            for f in &self.findings {
                let severity = match f.severity {
                    Severity::Warning => "warning",
                    Severity::Info => "info",
                };
                writeln!(w, "  {severity}: {}", f.message)?;
            }
        }
        Ok(())
    }
}
