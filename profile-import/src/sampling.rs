//! Un-sampling: from the counts a sampling profiler recorded to estimates of what was really
//! allocated, exactly as jeprof 5.3.0's `AdjustSamples` computes them.

use crate::model::{Sampling, Values};

/// Scales one sample's two pairs (`[inuse_objects, inuse_space, alloc_objects, alloc_space]`)
/// as jeprof's `AdjustSamples` does:
/// - Poisson (version 2): a pair with a non-zero count is multiplied by
///   `1 / (1 - exp(-(bytes/count)/period))`, the inverse of the chance that an allocation of
///   the pair's mean size was sampled. A pair whose scale would be infinite (no bytes, or a
///   mean size so small next to the period that the chance rounds to 0) is left as it is.
/// - Uniform (version 1): a pair whose mean size is below the adjustment is divided by
///   `(bytes/count)/adjustment`. jeprof divides by a zero count here and dies ("Illegal
///   division by zero"); this crate leaves such a pair as it is.
pub fn unsample(sampling: Sampling, raw: [f64; 4]) -> Values {
    let mut v = raw;
    match sampling {
        Sampling::Unsampled => {}
        Sampling::Poisson { period } => {
            if period > 0.0 {
                for pair in v.chunks_exact_mut(2) {
                    if pair[0] != 0.0 {
                        let ratio = (pair[1] / pair[0]) / period;
                        let scale = 1.0 / (1.0 - (-ratio).exp());
                        // A pair with objects but no bytes (ratio 0; jeprof dies dividing by
                        // zero, pprof drops the pair) or so small a mean size that the chance
                        // rounds to 0 would get an infinite scale, and 0 bytes × ∞ = NaN:
                        // such a pair is left as it is.
                        if scale.is_finite() {
                            pair[0] *= scale;
                            pair[1] *= scale;
                        }
                    }
                }
            }
        }
        Sampling::Uniform { adjustment } => {
            if adjustment > 0.0 {
                for pair in v.chunks_exact_mut(2) {
                    if pair[0] != 0.0 {
                        let ratio = (pair[1] / pair[0]) / adjustment;
                        if ratio < 1.0 {
                            // Objects without bytes (ratio 0; jeprof dies dividing by zero)
                            // would become ∞ objects and NaN bytes: left as they are.
                            let (n, s) = (pair[0] / ratio, pair[1] / ratio);
                            if n.is_finite() && s.is_finite() {
                                pair[0] = n;
                                pair[1] = s;
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_scales_small_allocations_most() {
        // One 64-byte object seen at a 512 KiB period stands for ~8193 of them.
        let v = unsample(
            Sampling::Poisson { period: 524288.0 },
            [1.0, 64.0, 0.0, 0.0],
        );
        assert!((v[0] - 8192.5).abs() < 0.01, "{v:?}");
        assert!((v[1] - 64.0 * 8192.5).abs() < 1.0);
        assert_eq!(&v[2..], &[0.0, 0.0]);
        // Objects far larger than the period are (almost) always sampled.
        let v = unsample(
            Sampling::Poisson { period: 16.0 },
            [2.0, 2048.0, 2.0, 2048.0],
        );
        assert_eq!(v, [2.0, 2048.0, 2.0, 2048.0]);
        // Objects without bytes (hostile or damaged input): left as they are, not NaN.
        let v = unsample(Sampling::Poisson { period: 524288.0 }, [3.0, 0.0, 1.0, 1.0]);
        assert_eq!(v[..2], [3.0, 0.0]);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }

    #[test]
    fn uniform_divides_by_the_ratio_below_one() {
        let v = unsample(
            Sampling::Uniform { adjustment: 1024.0 },
            [4.0, 1024.0, 0.0, 0.0],
        );
        assert_eq!(v, [16.0, 4096.0, 0.0, 0.0]);
        let v = unsample(
            Sampling::Uniform { adjustment: 1024.0 },
            [1.0, 4096.0, 0.0, 7.0],
        );
        assert_eq!(v, [1.0, 4096.0, 0.0, 7.0]);
        let v = unsample(
            Sampling::Uniform { adjustment: 1024.0 },
            [4.0, 0.0, 0.0, 0.0],
        );
        assert_eq!(v, [4.0, 0.0, 0.0, 0.0]);
    }
}
