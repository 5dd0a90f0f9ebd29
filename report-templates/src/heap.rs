//! The heap and leaks sections filled from heap-walkers' allocator-neutral results: any
//! allocator's walked [`Heap`] and any [`LeakReport`].

use heap_walkers::leaks::{self, LeakReport};
use heap_walkers::types::{TypeKind, TypeRow};
use heap_walkers::{Allocator, ArenaDetail, Heap, HeldHeap, WalkedHeap};
use serde::Serialize;

use crate::model::{
    ArenaRow, Finding, HeapSection, LeakGroup, LeaksSection, OwnFigure, Severity, SizeClassRow,
    TypeCount, TypesSection,
};
use crate::{core_modules, ProcessSection, Report, MAX_TYPE_ROWS};

impl Report {
    /// Adds one core (`name` as given on the command line): its process section and
    /// modules, and where its allocator is one heapmortem walks, its heap section, leaks
    /// section and findings; a note says why a heap is not shown. Returns whether the heap
    /// could be walked only in part.
    /// `options` say where the modules' files are, to name a `prof:true` jemalloc's
    /// allocation sites. Also returns the held heap, for [`Report::add_growth`].
    pub fn add_core(
        &mut self,
        name: &str,
        process: &core_reader::Process,
        options: &core_reader::Options,
    ) -> (bool, Option<HeldHeap>) {
        let allocator = Allocator::detect(process);
        let info = process.info_report(allocator.name());
        self.processes
            .push(ProcessSection::new(name, &info, &process.threads_report()));
        self.modules.extend(core_modules(name, &info));
        // The allocations are listed too, for the leak check.
        let mut heap = match WalkedHeap::walk(process, allocator, true, true) {
            Ok(heap) => heap,
            Err(e) => {
                let allocator = e.allocator().unwrap_or(allocator).name();
                self.notes.push(format!(
                    "{name}: the {allocator} heap could not be walked: {e}"
                ));
                return (false, None);
            }
        };
        if let WalkedHeap::Jemalloc(heap) = &mut heap {
            // Without jemalloc's extent map nothing can be listed: that costs the report its
            // leaks section, and reads nothing less of the core.
            let (unlisted, problems) = std::mem::take(&mut heap.problems)
                .into_iter()
                .partition(|p| p.kind == "not_listed");
            heap.problems = problems;
            self.notes.extend(
                unlisted
                    .iter()
                    .map(|p: &core_reader::Diagnostic| format!("{name}: {}", p.message)),
            );
        }
        let partial = heap.is_partial();
        match &heap {
            WalkedHeap::Glibc(heap) => self.add_heap_section(name, heap),
            WalkedHeap::Jemalloc(heap) => self.add_heap_section(name, &heap.figures()),
            WalkedHeap::Tcmalloc(heap) => {
                self.add_heap_section(name, heap);
                // The whole heap as GetStats() accounts for it: the caches' and the page
                // heap's parts, which the one arena's row sums up.
                if let Some(section) = self.heaps.last_mut() {
                    section.own_account = heap
                        .detail
                        .stats
                        .malloc_block()
                        .into_iter()
                        .filter_map(|(label, bytes)| {
                            Some(OwnFigure {
                                label: label.to_string(),
                                bytes: bytes?,
                            })
                        })
                        .collect();
                }
            }
        }
        let held = heap.into_held(process).ok().map(|mut held| {
            // One type inference for the types section and the leak groups.
            let types = heap_walkers::types::TypeIndex::infer(process, &held.allocations);
            profile_import::name_held_sites(process, &mut held, options);
            let sites = held.sites.as_ref();
            let mut section = TypesSection::of(name, &types.rows());
            if let Some(sites) = sites {
                let main = types.main_sites(sites);
                for row in &mut section.rows {
                    if let Some(site) = main.get(&row.name).and_then(|&i| sites.sites.get(i)) {
                        row.site_functions = site_functions(site);
                    }
                }
            }
            self.types.push(section);
            let (blocks, roots) = (held.blocks(), &held.roots);
            let found =
                leaks::find_leaks_with_sites(process, blocks, roots, sites, Some(&types), false);
            self.leaks.push(LeaksSection::of(name, &found));
            held
        });
        (partial, held)
    }

    /// With two cores walked (name, process, held heap), the growth section: how the heap
    /// changed from the first to the second (`heapmortem diff`, by type); with more, a note.
    pub fn add_growth(&mut self, walked: &[(String, core_reader::Process, HeldHeap)]) {
        use heap_walkers::diff::{diff, Grouping, Side};
        match walked {
            [(old_name, old, old_heap), (new_name, new, new_heap)] => {
                let side = |label, target, heap| Side {
                    label,
                    target,
                    heap,
                    blocks: HeldHeap::blocks(heap),
                };
                let d = diff(
                    side(old_name, old, old_heap),
                    side(new_name, new, new_heap),
                    Grouping::Type,
                );
                self.findings
                    .extend(d.findings.iter().map(Finding::from_diff));
                self.diff = Some(crate::DiffSection::of(&d));
            }
            [_, _, _, ..] => self.notes.push(format!(
                "{} cores: the growth section compares two (`heapmortem diff OLD NEW` any pair)",
                walked.len()
            )),
            _ => {}
        }
    }

    /// Adds a walked heap's section and findings.
    fn add_heap_section<D: Serialize, A: ArenaDetail>(&mut self, name: &str, heap: &Heap<D, A>) {
        self.heaps.push(HeapSection::of(name, heap));
        self.findings
            .extend(heap.findings.iter().map(Finding::from_heap));
    }
}

impl TypesSection {
    /// The types section of one core from `heap --by type`'s rows
    /// ([`heap_walkers::types::by_type`], largest first).
    pub fn of(input: &str, rows: &[TypeRow]) -> TypesSection {
        let (shown, rest) = rows.split_at(rows.len().min(MAX_TYPE_ROWS));
        TypesSection {
            input: input.to_string(),
            rows: shown
                .iter()
                .map(|r| TypeCount {
                    name: r.name.clone(),
                    kind: r.kind.name().to_string(),
                    count: r.count,
                    bytes: r.bytes,
                    example: Some(r.example),
                    site_functions: Vec::new(),
                })
                .collect(),
            recognized: rows.iter().filter(|r| r.kind != TypeKind::Unknown).count() as u64,
            total_bytes: rows.iter().map(|r| r.bytes).sum(),
            omitted_rows: rest.len() as u64,
            omitted_count: rest.iter().map(|r| r.count).sum(),
            omitted_bytes: rest.iter().map(|r| r.bytes).sum(),
        }
    }
}

impl HeapSection {
    /// The heap section of one core (`input` as given on the command line).
    pub fn of<D: Serialize, A: ArenaDetail>(input: &str, heap: &Heap<D, A>) -> HeapSection {
        let mut notes = heap.notes.clone();
        notes.extend(heap.problems.iter().map(|p| match p.address {
            Some(a) => format!("{a:#x}: {}", p.message),
            None => p.message.clone(),
        }));
        HeapSection {
            input: input.to_string(),
            allocator: heap.allocator.name().to_string(),
            version: heap.version.clone(),
            arenas: heap
                .arenas
                .iter()
                .map(|a| ArenaRow {
                    name: a.detail.name(a.index),
                    address: Some(a.address),
                    system_bytes: a.figures.system_bytes,
                    in_use_chunks: a.figures.in_use_chunks,
                    in_use_bytes: a.figures.in_use_bytes,
                    free_chunks: a.figures.free_chunks,
                    free_bytes: a.figures.free_bytes,
                    dirty_bytes: a.detail.dirty_bytes(),
                    muzzy_bytes: a.detail.muzzy_bytes(),
                    retained_bytes: a.detail.retained_bytes(),
                    trimmable_bytes: Some(a.figures.trimmable_bytes),
                    largest_free: Some(a.figures.largest_free),
                })
                .collect(),
            size_classes: heap
                .size_classes
                .iter()
                .map(|c| SizeClassRow {
                    size: c.size,
                    in_use_count: c.in_use_count,
                    in_use_bytes: c.in_use_bytes,
                    free_count: c.free_count,
                    free_bytes: c.free_bytes,
                })
                .collect(),
            notes,
            own_account: Vec::new(),
        }
    }
}

impl Finding {
    /// The report's finding for a heap walker's: a warning names a likely cause.
    pub fn from_heap(f: &heap_walkers::Finding) -> Finding {
        Finding {
            severity: match f.severity {
                heap_walkers::Severity::Warning => Severity::Problem,
                heap_walkers::Severity::Info => Severity::Info,
            },
            source: "heap".into(),
            text: f.message.clone(),
        }
    }
}

impl LeaksSection {
    /// The leaks section of one core.
    pub fn of(input: &str, report: &LeakReport) -> LeaksSection {
        LeaksSection {
            input: input.to_string(),
            direct_count: report.direct_count,
            direct_bytes: report.direct_bytes,
            indirect_count: report.indirect_count,
            indirect_bytes: report.indirect_bytes,
            groups: report
                .groups
                .iter()
                .map(|g| LeakGroup {
                    count: g.count,
                    size: g.size,
                    bytes: g.bytes,
                    example: g.samples.first().copied(),
                    type_name: g.type_name.clone(),
                    contents: Some(format!("{}  {}", g.preview_hex, g.preview_ascii)),
                    site: g.site.as_ref().map(|s| s.describe()),
                    call_path: g
                        .site
                        .iter()
                        .flat_map(|s| &s.frames)
                        .map(|f| f.describe())
                        .collect(),
                    site_functions: g.site.as_ref().map(site_functions).unwrap_or_default(),
                    sampling: match (report.sample_period, g.site.is_some()) {
                        (Some(p), true) if p > 1 => Some(format!(
                            "{} sampled, standing for ~{} blocks, {}",
                            g.sampled.unwrap_or(0),
                            g.estimated_count.unwrap_or(0),
                            core_reader::human_bytes(g.estimated_bytes.unwrap_or(0)),
                        )),
                        _ => None,
                    },
                })
                .collect(),
            has_sites: report.groups.iter().any(|g| g.site.is_some()),
        }
    }
}

/// The named functions of a site's call path, innermost first.
fn site_functions(site: &heap_walkers::Site) -> Vec<String> {
    site.frames
        .iter()
        .filter_map(|f| f.function.clone())
        .collect()
}
