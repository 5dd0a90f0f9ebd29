//! Byte counts for people: the one formatter heapmortem's crates write sizes with in
//! sentences, tables, reports and graph labels.

/// Bytes for people: `512 B`, `1.5 MiB` (binary units, one decimal). The one formatter of
/// byte counts for sentences and tables across heapmortem's crates.
pub fn human_bytes(bytes: u64) -> String {
    human_bytes_f64(bytes as f64)
}

/// [`human_bytes`] of an amount that is not a count: a profile's value, fractional when
/// un-sampled, negative in a difference, and infinite or NaN from a hostile file (written
/// `inf TiB`, `NaN B`, not hidden). Below 1 KiB the amount is written as a whole number,
/// rounded.
pub fn human_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let mut v = bytes.abs();
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{sign}{v:.0} B")
    } else {
        format!("{sign}{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
        assert_eq!(human_bytes_f64(-2048.0), "-2.0 KiB");
        assert_eq!(human_bytes_f64(f64::INFINITY), "inf TiB");
        assert_eq!(human_bytes_f64(f64::NAN), "NaN B");
    }
}
