// Little-endian stores into a region of a seed image, shared by the fuzz bodies beside this
// file (each `include!`s it and adds the stores it needs).

/// Little-endian stores into a region.
struct Bytes {
    base: u64,
    b: Vec<u8>,
}

impl Bytes {
    fn new(base: u64, size: u64) -> Bytes {
        Bytes {
            base,
            b: vec![0; size as usize],
        }
    }
    fn put(&mut self, at: u64, v: &[u8]) {
        let o = (at - self.base) as usize;
        self.b[o..o + v.len()].copy_from_slice(v);
    }
    fn u64(&mut self, at: u64, v: u64) {
        self.put(at, &v.to_le_bytes());
    }
}
