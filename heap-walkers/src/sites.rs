//! Allocation sites: the call path that made an allocation, where the allocator kept one.
//!
//! A jemalloc running with `prof:true` records, for every allocation its profiler sampled,
//! the backtrace it was made from ([`crate::jemalloc::allocation_sites`] reads them back
//! from a core). [`Sites`] holds those backtraces and which allocation has which; the leak
//! check groups lost blocks by site ([`crate::leaks::find_leaks_with_sites`]), `explain`
//! names the site of the allocation it explains, and a comparison of two heaps can key
//! allocations by [`Sites::site_of`].
//!
//! The backtraces are return addresses. Naming them is the symbolizer's job, which this crate
//! does not own: [`Sites::name`] takes the frames from outside (profile-import's
//! `name_sites` symbolizes them with core-reader's symbolizer and drops the allocator's own
//! frames by jeprof's rule).

use core_reader::hex;
use serde::Serialize;

/// One frame of a site, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteFrame {
    /// The return address recorded (for the innermost frame, the address inside the
    /// allocating function after its call).
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// The function, when the symbolizer knows it (inlined functions get a frame each, at
    /// the same address, innermost first).
    pub function: Option<String>,
    /// Source file, when known.
    pub file: Option<String>,
    /// Source line, when known.
    pub line: Option<u32>,
}

/// The call path of sampled allocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The function that called the allocator: the first frame with a name (absent until
    /// named, or when no frame has one).
    pub function: Option<String>,
    /// The program's frames, innermost first: the allocator's own frames left out, so the
    /// first is the function that called the allocator (empty until [`Sites::name`]).
    pub frames: Vec<SiteFrame>,
    /// The backtrace as recorded, innermost first, the allocator's frames included.
    #[serde(skip)]
    pub addresses: Vec<u64>,
}

impl Site {
    /// The first named frame ([`SiteFrame::describe`]), or the innermost address.
    pub fn describe(&self) -> String {
        match self.frames.iter().find(|f| f.function.is_some()) {
            Some(f) => f.describe(),
            None => match self.addresses.first() {
                Some(a) => format!("{a:#x} (no symbol)"),
                None => "(empty backtrace)".to_string(),
            },
        }
    }
}

impl SiteFrame {
    /// `function (file:line)`, or `function (address)` without a line (`??` for no name).
    pub fn describe(&self) -> String {
        let name = self.function.as_deref().unwrap_or("??");
        match (&self.file, self.line) {
            (Some(file), Some(line)) => {
                let file = file.rsplit('/').next().unwrap_or(file);
                format!("{name} ({file}:{line})")
            }
            _ => format!("{name} ({:#x})", self.address),
        }
    }
}

/// Which allocations were sampled, and from where.
#[derive(Debug, Clone)]
pub struct Sites {
    /// The sampling period in bytes (jemalloc: `2^lg_prof_sample`; 1 samples everything).
    pub sample_period: u64,
    /// Whether the allocator's dumps print unbiased counts (jemalloc 5.3 `opt.prof_unbias`).
    unbiased: bool,
    /// Every site, in the order the allocator keeps them.
    pub sites: Vec<Site>,
    /// What could not be read of the allocator's records.
    pub problems: Vec<String>,
    /// `(allocation address, index in sites)`, by address.
    by_address: Vec<(u64, u32)>,
}

impl Sites {
    /// Sites from `backtraces` (return addresses, innermost first) and the start address of
    /// every sampled allocation with the index of its backtrace.
    pub(crate) fn new(
        sample_period: u64,
        unbiased: bool,
        backtraces: Vec<Vec<u64>>,
        mut by_address: Vec<(u64, u32)>,
        problems: Vec<String>,
    ) -> Sites {
        by_address.sort_unstable();
        by_address.dedup_by_key(|e| e.0);
        by_address.retain(|&(_, i)| (i as usize) < backtraces.len());
        Sites {
            sample_period,
            unbiased,
            sites: backtraces
                .into_iter()
                .map(|addresses| Site {
                    function: None,
                    frames: Vec::new(),
                    addresses,
                })
                .collect(),
            problems,
            by_address,
        }
    }

    /// How many live allocations were sampled.
    pub fn sampled(&self) -> usize {
        self.by_address.len()
    }

    /// The index in [`Sites::sites`] of the site of the allocation starting at `address`, if
    /// it was sampled.
    pub fn site_index(&self, address: u64) -> Option<usize> {
        let i = self
            .by_address
            .binary_search_by_key(&address, |e| e.0)
            .ok()?;
        Some(self.by_address[i].1 as usize)
    }

    /// The site of the allocation starting at `address`, if it was sampled.
    pub fn site_of(&self, address: u64) -> Option<&Site> {
        self.sites.get(self.site_index(address)?)
    }

    /// Names every site: `name` gets a site's recorded backtrace and returns the program's
    /// frames, innermost first, the allocator's left out.
    pub fn name(&mut self, name: &mut dyn FnMut(&[u64]) -> Vec<SiteFrame>) {
        for site in &mut self.sites {
            site.frames = name(&site.addresses);
            site.function = site.frames.iter().find_map(|f| f.function.clone());
        }
    }

    /// How many allocations, and bytes, `sampled` sampled allocations of `size` bytes stand
    /// for: what `jeprof --text` prints for them, read from the dump the allocator would write
    /// (jemalloc 5.3 with `opt.prof_unbias` prints its unbiased counters,
    /// `jemalloc::prof::unbiased_printed`; otherwise the counts as sampled). jeprof scales
    /// each `(objects, bytes)` pair by `1 / (1 - exp(-(bytes/objects) / period))`, the
    /// inverse of the chance that an allocation of that mean size is sampled by a Poisson
    /// process of mean `period` bytes (jemalloc 5.3.0 `bin/jeprof.in` `AdjustSamples`,
    /// sampling algorithm 2), and prints the result truncated.
    pub fn estimate(&self, sampled: u64, size: u64) -> (u64, u64) {
        let (n, bytes) = if self.unbiased {
            crate::jemalloc::unbiased_printed(sampled, size, self.sample_period.trailing_zeros())
        } else {
            (sampled, sampled.saturating_mul(size))
        };
        if n == 0 {
            return (0, 0);
        }
        let ratio = (bytes as f64 / n as f64) / self.sample_period.max(1) as f64;
        let scale = 1.0 / (1.0 - (-ratio).exp());
        // Objects without bytes would scale by infinity (jeprof divides by zero): as is.
        let scale = if scale.is_finite() { scale } else { 1.0 };
        ((n as f64 * scale) as u64, (bytes as f64 * scale) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_estimate() {
        let sites = Sites::new(
            1 << 19,
            false,
            vec![vec![0x10, 0x20], vec![0x30]],
            vec![(0x9000, 1), (0x8000, 0), (0x7000, 5)],
            Vec::new(),
        );
        assert_eq!(sites.sampled(), 2);
        assert_eq!(sites.site_index(0x9000), Some(1));
        assert_eq!(sites.site_of(0x8000).map(|s| s.addresses.len()), Some(2));
        assert_eq!(sites.site_of(0x7000), None);
        // jeprof: one 4096-byte object at a 512 KiB period stands for 1/(1-e^(-1/128)),
        // 128.5007 objects each.
        assert_eq!(sites.estimate(2, 4096), (257, 1052677));
        // Every allocation sampled: large enough objects stand for themselves.
        let all = Sites::new(1, true, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(all.estimate(30, 160), (30, 4800));
        // jeprof --text on the prof.dump of tests/fixtures/leaks/sites.c: 23 samples of 4096
        // bytes printed as `23: 94209`, read as 2955 objects, 12105789 bytes.
        let unbiased = Sites::new(1 << 19, true, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(unbiased.estimate(23, 4096), (2955, 12105789));
    }
}
