//! What the synthetic-heap tests share.

/// A fixed pseudo-random sequence, so that each test's short fuzzing run under plain
/// `cargo test` is the same on every machine: xorshift64 (Marsaglia, "Xorshift RNGs", 2003).
pub fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
