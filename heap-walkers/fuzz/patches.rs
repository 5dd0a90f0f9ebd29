// The fuzz bodies' patch list, shared by the bodies beside this file that read it (each
// `include!`s it): `[region, offset: u32 LE, length, bytes…]` over and over.

/// Writes each patch of `data` into `image`: `region` (modulo the number of regions) picks
/// a region by address order, `offset` is taken modulo its size, and `length % 16 + 1`
/// bytes (fewer where the input or the region ends) are written there.
fn apply_patches(image: &mut MemoryImage, data: &[u8]) {
    let starts: Vec<u64> = image.regions().iter().map(|r| r.0).collect();
    if starts.is_empty() {
        return;
    }
    let mut rest = data;
    while let [region, o0, o1, o2, o3, len, tail @ ..] = rest {
        let start = starts[*region as usize % starts.len()];
        let n = (*len as usize % 16 + 1).min(tail.len());
        if let Some(bytes) = image.region_mut(start) {
            let at = u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize % bytes.len();
            let end = (at + n).min(bytes.len());
            bytes[at..end].copy_from_slice(&tail[..end - at]);
        }
        rest = &tail[n..];
    }
}
