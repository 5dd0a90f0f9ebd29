//! Building a [`Profile`] from what a sampling profiler recorded — stacks of return addresses
//! with their counts, and the process's memory map — without writing it out as text first.
//! The text readers build through it too, so a profile built here from jemalloc's in-memory
//! data is the one its `heap_v2` dump would read as.

use crate::maps::MapsReader;
use crate::model::{
    assign_mappings, caller_adjusted, Format, LocationTable, Profile, ProfileKind, Sample,
    Sampling, ThreadTotal,
};
use crate::sampling::unsample;

/// Builds a [`Profile`]: stacks in, un-sampled the way jeprof does; mappings in, the
/// executable ones kept and assigned to the addresses when [`ProfileBuilder::build`] is
/// called.
///
/// ```
/// use profile_import::{Format, ProfileBuilder, ProfileKind, Sampling, ValueKind};
///
/// let mut b = ProfileBuilder::new(
///     Format::JemallocHeapV2,
///     ProfileKind::Heap,
///     Sampling::Poisson { period: 524288.0 },
/// );
/// b.mapping(0x400000, 0x401000, 0, true, "/bin/prog");
/// // One 64-byte object seen, allocated from 0x4005d6 called at 0x400610.
/// b.stack(&[0x4005d6, 0x400610], [1.0, 64.0, 0.0, 0.0]);
/// let profile = b.build();
/// assert_eq!(profile.total(ValueKind::InuseSpace) as u64, 524320);
/// assert_eq!(profile.locations[1].address, 0x40060f);
/// assert_eq!(profile.locations[1].mapping, Some(0));
/// ```
#[derive(Debug)]
pub struct ProfileBuilder {
    profile: Profile,
    locations: LocationTable,
    maps: MapsReader,
}

impl ProfileBuilder {
    /// An empty profile of this format, kind and sampling.
    pub fn new(format: Format, kind: ProfileKind, sampling: Sampling) -> Self {
        ProfileBuilder {
            profile: Profile::new(format, kind, sampling),
            locations: LocationTable::default(),
            maps: MapsReader::default(),
        }
    }

    /// Adds one stack of return addresses, leaf first, with its values as recorded
    /// (`[inuse_objects, inuse_space, alloc_objects, alloc_space]`, sampled): the values are
    /// un-sampled with the profile's [`Sampling`] ([`crate::unsample`]); the leaf keeps its
    /// address and every caller is moved back into its call instruction (jeprof's
    /// `FixCallerAddresses`). A stack whose values are all zero is left out: nothing would
    /// show it, and jemalloc writes such stacks for freed allocations.
    pub fn stack(&mut self, frames: &[u64], recorded: [f64; 4]) {
        let values = unsample(self.profile.sampling, recorded);
        if values.iter().all(|&v| v == 0.0) {
            return;
        }
        let locations = frames
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                self.locations
                    .intern(&mut self.profile, caller_adjusted(i, a))
            })
            .collect();
        self.profile.samples.push(Sample { locations, values });
    }

    /// Adds one mapping of the process's memory map, in the map's order (the program first,
    /// as Linux and FreeBSD list it): only executable mappings are kept, since no return
    /// address lies anywhere else; the first file with an absolute path is the main program.
    pub fn mapping(&mut self, start: u64, end: u64, offset: u64, executable: bool, path: &str) {
        self.maps
            .mapping(start, end, executable, offset, path, None);
    }

    /// Adds a thread's totals (a jemalloc dump's header lines).
    pub fn thread(&mut self, thread: ThreadTotal) {
        self.profile.threads.push(thread);
    }

    /// One line of a text profile's memory map, in any form [`MapsReader`] reads.
    pub(crate) fn maps_line(&mut self, line: &str) {
        self.maps.line(line);
    }

    /// Adds the stacks and threads of `part`, a later part of the same file built on its own
    /// (no mappings yet): its locations are found or added here in the order its samples
    /// name them, which is where reading the file whole would have added them.
    pub(crate) fn append(&mut self, part: ProfileBuilder) {
        let mut here = vec![u32::MAX; part.profile.locations.len()];
        for mut sample in part.profile.samples {
            for l in &mut sample.locations {
                let id = &mut here[*l as usize];
                if *id == u32::MAX {
                    let address = part.profile.locations[*l as usize].address;
                    *id = self.locations.intern(&mut self.profile, address);
                }
                *l = *id;
            }
            self.profile.samples.push(sample);
        }
        self.profile.threads.extend(part.profile.threads);
    }

    /// The profile, each location given the mapping that holds it.
    pub fn build(self) -> Profile {
        let mut profile = self.profile;
        profile.mappings = self.maps.finish();
        assign_mappings(&mut profile);
        profile
    }
}
