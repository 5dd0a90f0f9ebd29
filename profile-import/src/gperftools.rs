//! gperftools' legacy heap profiles: `heap profile: N: S [N: S] @ TYPE[/PERIOD]`, one
//! `N: S [N: S] @ 0x… 0x…` line per stack, then `MAPPED_LIBRARIES:` (the heap profiler) or
//! `--- Memory map: ---` (servers' `/pprof/heap` pages). Go's `debug=1` heap text is this
//! format too (`@ heap/<2×MemProfileRate>`), with `#` comment lines.
//!
//! How the header chooses the un-sampling, as jeprof 5.3.0's `ReadHeapProfile` decides it:
//!
//! | header type | sampling |
//! |---|---|
//! | `heapprofile` (the heap profiler), or a type without `heap` in it (`growthz`) | none |
//! | a type with `_v2` in it (`heap_v2/N`, `heapz_v2/N`) | Poisson with period N |
//! | another type with `heap` in it (`heap/N`, `heapz/N`) | uniform, adjustment N/2 |
//! | no type, and both pairs equal | uniform |
//! | no type, pairs differ | none |
//!
//! A sampled profile whose header gives no period (or 0) gets jeprof's default of 128 KiB.
//!
//! Where google/pprof (`profile/legacy_profile.go`, `parseHeapHeader`, `scaleHeapSample`)
//! reads the same files differently — this crate follows jeprof in each case:
//! - `@ heap/N`: pprof takes Poisson sampling with period N/2, jeprof uniform sampling with
//!   adjustment N/2 (pprof's reading suits Go's writer, which samples by a Poisson process and
//!   writes twice its rate; jeprof's suits old tcmalloc).
//! - A sampled pair with a count of 0: pprof rejects the file if its bytes are not 0; jeprof
//!   dies dividing by zero (uniform) or leaves it (Poisson); this crate leaves it.
//! - A period of 1 (jemalloc's `lg_prof_sample:0`): pprof does not scale; jeprof still
//!   multiplies by `1/(1-exp(-size))`, a hair above 1 for 1-byte objects.
//! - Addresses: pprof subtracts 1 from every address, the leaf's too; jeprof keeps the leaf.
//! - Values: pprof truncates each un-sampled sample to an integer; jeprof sums the fractions and
//!   truncates only what it prints.
//! - A stack line with a bare `@`: jeprof's regex wants blanks and an address after `@` and
//!   drops the line with its counts; pprof keeps it as an empty stack, and so does this crate.
//! - A header without a type: jeprof treats equal pairs as uniformly sampled with a 128 KiB
//!   period; pprof does not recognise the header at all.

use std::io::BufRead;

use crate::builder::ProfileBuilder;
use crate::legacy::{parse_counts, parse_stack};
use crate::lines::{Line, LineReader, Skipped};
use crate::model::{Format, ProfileKind, Sampling};
use crate::{Error, Parsed};

/// jeprof's default period when a sampled profile names none.
const DEFAULT_PERIOD: f64 = 128.0 * 1024.0;

/// Decides kind and sampling from the header line, as described in the module docs.
fn header_sampling(header: &str, line: u64) -> Result<(ProfileKind, Sampling), Error> {
    let bad = |message: &str| Error::BadHeader {
        line,
        message: format!("{message}: `{}`", header.trim()),
    };
    let rest = header
        .trim()
        .strip_prefix("heap profile:")
        .ok_or_else(|| bad("expected `heap profile:`"))?;
    let (pairs, tail) = parse_counts(rest).ok_or_else(|| bad("expected `N: S [N: S]`"))?;
    let kind = if header.contains("growth") {
        ProfileKind::Growth
    } else {
        ProfileKind::Heap
    };
    let (ty, period) = match tail.trim_start().strip_prefix('@') {
        Some(t) => {
            let t = t.trim();
            match t.split_once('/') {
                Some((ty, p)) => (ty.trim(), Some(p.trim())),
                None => (t, None),
            }
        }
        None => ("", None),
    };
    // jeprof takes `int($period)` of the digits that follow the slash.
    let period: f64 = period
        .map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().map_or(0.0, |v| v as f64)
        })
        .unwrap_or(0.0);
    enum Algorithm {
        None,
        Uniform,
        Poisson,
    }
    let (algorithm, adjustment) = if !ty.is_empty() {
        if ty == "heapprofile" || !ty.contains("heap") {
            (Algorithm::None, 0.0)
        } else if ty.contains("_v2") {
            (Algorithm::Poisson, period)
        } else {
            (Algorithm::Uniform, period / 2.0)
        }
    } else if pairs[0] == pairs[2] && pairs[1] == pairs[3] {
        (Algorithm::Uniform, 0.0)
    } else {
        (Algorithm::None, 0.0)
    };
    let adjustment = if adjustment == 0.0 {
        DEFAULT_PERIOD
    } else {
        adjustment
    };
    let sampling = match algorithm {
        Algorithm::None => Sampling::Unsampled,
        Algorithm::Uniform => Sampling::Uniform { adjustment },
        Algorithm::Poisson => Sampling::Poisson { period: adjustment },
    };
    Ok((kind, sampling))
}

/// Reads a gperftools heap profile whose header line was already read.
pub(crate) fn read<R: BufRead>(
    mut lines: LineReader<R>,
    header: &str,
    header_line: u64,
) -> Result<Parsed, Error> {
    let (kind, sampling) = header_sampling(header, header_line)?;
    let mut profile = ProfileBuilder::new(Format::Gperftools, kind, sampling);
    let mut skipped = Skipped::default();
    let mut in_maps = false;
    while let Some((n, line)) = lines.next_line() {
        let text = match line {
            Line::Text(t) => t,
            Line::Bad(why) => {
                skipped.skip(n, why);
                continue;
            }
        };
        if in_maps {
            profile.maps_line(text);
            continue;
        }
        if text.contains("MAPPED_LIBRARIES:") || text.contains("--- Memory map:") {
            in_maps = true;
            continue;
        }
        let t = text.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((raw, rest)) = parse_counts(t) else {
            skipped.skip(n, "expected `count: bytes [count: bytes] @ addresses`");
            continue;
        };
        let Some(stack) = rest.trim_start().strip_prefix('@') else {
            skipped.skip(n, "expected `@` and a stack after the counts");
            continue;
        };
        match parse_stack(stack) {
            Ok(stack) => profile.stack(&stack, raw),
            Err(e) => skipped.skip(n, format!("bad stack: {e}")),
        }
    }
    lines.finish(&mut skipped);
    Ok(Parsed {
        profile: profile.build(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(h: &str) -> Sampling {
        header_sampling(h, 1).unwrap().1
    }

    #[test]
    fn header_decides_sampling_like_jeprof() {
        assert_eq!(
            sampling("heap profile:    144:  8498176 [   144:  8498176] @ heapz_v2/524288"),
            Sampling::Poisson { period: 524288.0 }
        );
        assert_eq!(
            sampling("heap profile: 13: 1595680 [47130736: 2584596557304] @ heap/1048576"),
            Sampling::Uniform {
                adjustment: 524288.0
            }
        );
        assert_eq!(
            sampling("heap profile:   10:   100 [  20:  200] @ heapprofile"),
            Sampling::Unsampled
        );
        assert_eq!(
            sampling("heap profile: 85: 178257920 [ 85: 178257920] @ growthz"),
            Sampling::Unsampled
        );
        assert_eq!(
            sampling("heap profile: 1: 2 [1: 2]"),
            Sampling::Uniform {
                adjustment: DEFAULT_PERIOD
            }
        );
        assert_eq!(sampling("heap profile: 1: 2 [3: 4]"), Sampling::Unsampled);
        assert_eq!(
            sampling("heap profile: 1: 2 [3: 4] @ heap_v2/"),
            Sampling::Poisson {
                period: DEFAULT_PERIOD
            }
        );
        assert!(header_sampling("heap profile: x", 1).is_err());
        assert_eq!(
            header_sampling("heap profile: 1: 2 [1: 2] @ growthz", 1)
                .unwrap()
                .0,
            ProfileKind::Growth
        );
    }
}
