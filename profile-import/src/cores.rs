//! Heap profiles out of cores (the `core` feature): a jemalloc that ran with `prof:true` keeps
//! its sampled backtraces in memory, and heap-walkers reads them back from the core
//! ([`heap_walkers::jemalloc::profile`]); they become a [`Profile`] here, through the same
//! [`ProfileBuilder`] the `heap_v2` reader uses, so the profile is the one a `prof.dump` taken
//! at that moment would read as.

use std::path::{Path, PathBuf};

use core_reader::{Options, Process};
use heap_walkers::{jemalloc, Allocator, SiteFrame, Sites};

use crate::maps::file_path;
use crate::symbolize::Symbolize;
use crate::view::AllocatorFrames;
use crate::{Error, Format, Profile, ProfileBuilder, ProfileKind, Sampling};

/// Reads a heap profile from `path`: a profile file of any format [`crate::read_path`] reads,
/// or an ELF core (opened with `options`) whose jemalloc ran with `prof:true`
/// ([`core_profile`]). With it, one line saying what of the input could not be read, when
/// some could not: a file's skipped lines ([`crate::Parsed::read_in_part`]), a core's missing
/// parts ([`Process::read_in_part`]).
///
/// # Safety
///
/// A core is memory-mapped, not copied: see [`core_reader::Process::open`].
pub unsafe fn read_profile(
    path: &Path,
    options: &Options,
) -> Result<(Profile, Option<String>), Error> {
    let is_core = core_reader::is_core_file(path).map_err(|e| Error::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !is_core {
        let parsed = crate::read_path(path)?;
        let note = parsed.read_in_part(path);
        return Ok((parsed.profile, note));
    }
    // SAFETY: forwarded to the caller.
    let process = unsafe { Process::open(path, options) }.map_err(|e| Error::Core {
        message: e.to_string(),
    })?;
    Ok((core_profile(&process)?, process.read_in_part()))
}

/// Reads every file of `paths` ([`read_profile`]) and merges them, less the profile at
/// `base` when given: what `heapmortem profile` shows. Each input read only in part is said
/// in one line through `say`; the flag returned says whether any was.
///
/// # Safety
///
/// Cores are memory-mapped, not copied: see [`core_reader::Process::open`].
pub unsafe fn read_merged(
    paths: &[PathBuf],
    base: Option<&Path>,
    options: &Options,
    say: &mut dyn FnMut(&str),
) -> Result<(Profile, bool), Error> {
    let mut partial = false;
    let mut read = |path: &Path| {
        // SAFETY: forwarded to the caller.
        let (profile, note) = unsafe { read_profile(path, options) }?;
        if let Some(note) = note {
            say(&note);
            partial = true;
        }
        Ok::<_, Error>(profile)
    };
    let profiles = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut profile = crate::merge(profiles).ok_or(Error::NoProfile)?;
    if let Some(base) = base {
        crate::subtract(&mut profile, read(base)?);
    }
    Ok((profile, partial))
}

/// Names the allocation sites a held heap carries (a jemalloc that ran with `prof:true`),
/// finding the modules' files where `options` says they are.
pub fn name_held_sites(process: &Process, held: &mut heap_walkers::HeldHeap, options: &Options) {
    if let Some(sites) = held.sites.as_mut() {
        name_sites(process, sites, &mut crate::CoreSymbolizer::new(options));
    }
}

/// Names the allocation sites read from a core ([`heap_walkers::jemalloc::allocation_sites`]):
/// each backtrace symbolized by `symbolizer` against the process's executable mappings, as a
/// heap profile's stacks are (callers looked up inside their call instruction), and cut by
/// the allocator-frame rule ([`crate::ALLOCATOR_FRAMES_HELP`]), so a site's first frame is
/// the function jeprof would charge the allocation to.
pub fn name_sites(process: &Process, sites: &mut Sites, symbolizer: &mut dyn Symbolize) {
    let mut builder = ProfileBuilder::new(
        Format::JemallocHeapV2,
        ProfileKind::Heap,
        Sampling::Unsampled,
    );
    add_mappings(&mut builder, process);
    for site in &sites.sites {
        // One object each, so that no stack is left out: sample i is site i.
        builder.stack(&site.addresses, [1.0, 0.0, 0.0, 0.0]);
    }
    let mut profile = builder.build();
    crate::symbolize(&mut profile, symbolizer);
    let rule = AllocatorFrames::new(&profile);
    let mut samples = profile.samples.iter();
    sites.name(&mut |addresses| {
        let Some(sample) = samples.next() else {
            return Vec::new();
        };
        let first = rule.first_kept(&sample.locations);
        let mut frames = Vec::new();
        for (&address, &loc) in addresses.iter().zip(&sample.locations).skip(first) {
            let loc = &profile.locations[loc as usize];
            if loc.lines.is_empty() {
                frames.push(SiteFrame {
                    address,
                    function: None,
                    file: None,
                    line: None,
                });
            }
            for line in &loc.lines {
                let f = &profile.functions[line.function as usize];
                frames.push(SiteFrame {
                    address,
                    function: Some(f.name.clone()),
                    file: (!f.filename.is_empty()).then(|| f.filename.clone()),
                    line: (line.line != 0).then_some(line.line),
                });
            }
        }
        frames
    });
}

fn add_mappings(profile: &mut ProfileBuilder, process: &Process) {
    for m in process.mappings() {
        if let Some(path) = &m.path {
            let executable = m.perms.contains('x');
            profile.mapping(m.start, m.end, m.offset, executable, file_path(path));
        }
    }
}

/// The heap profile a process's jemalloc kept in memory when it ran with `prof:true`, with
/// the process's executable mappings. Problems met in jemalloc's tables are not reported
/// here (the counts read are kept, as a dump would print them).
pub fn core_profile(process: &Process) -> Result<Profile, Error> {
    let none = |reason: String| Error::NoHeapProfile {
        path: process.core().path().to_path_buf(),
        reason,
    };
    let allocator = Allocator::detect(process);
    if allocator != Allocator::Jemalloc {
        return Err(none(format!(
            "the process used {} malloc; only jemalloc (with prof:true) keeps a heap profile \
             in memory",
            allocator.name()
        )));
    }
    let recorded = jemalloc::profile(process).map_err(|e| none(e.to_string()))?;
    // jemalloc 5.3.0 src/prof_data.c `prof_dump_header`: `heap_v2/<2^lg_prof_sample>`, a
    // Poisson process with that mean, as the heap_v2 reader takes it.
    let sampling = Sampling::Poisson {
        period: recorded.sample_period as f64,
    };
    let mut profile = ProfileBuilder::new(Format::JemallocHeapV2, ProfileKind::Heap, sampling);
    add_mappings(&mut profile, process);
    for stack in &recorded.stacks {
        let c = &stack.counts;
        let recorded = [c.curobjs, c.curbytes, c.accumobjs, c.accumbytes].map(|v| v as f64);
        profile.stack(&stack.frames, recorded);
    }
    Ok(profile.build())
}
