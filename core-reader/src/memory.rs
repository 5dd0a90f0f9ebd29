//! Reading the dead process's address space.

/// Read access to a process's virtual memory.
///
/// Implemented by [`crate::Process`] (the core's segments, then mapped files for text the
/// kernel did not dump). Allocator walkers and the leak finder take `&dyn Memory` or a generic
/// `M: Memory` and never open files themselves, so they can be tested on synthetic memory.
pub trait Memory {
    /// The longest run of bytes readable at `addr` without copying (may be empty). Walkers
    /// that scan big ranges use this to read straight from the mapped core.
    fn bytes_at(&self, addr: u64) -> &[u8];

    /// Copies the bytes at `addr` into `buf`; returns how many were readable (it stops at
    /// the first unreadable byte).
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let Some(a) = addr.checked_add(done as u64) else {
                break;
            };
            let src = self.bytes_at(a);
            if src.is_empty() {
                break;
            }
            let n = src.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&src[..n]);
            done += n;
        }
        done
    }

    /// Reads exactly `buf.len()` bytes, or returns false.
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> bool {
        self.read(addr, buf) == buf.len()
    }

    /// A little-endian u64 at `addr`.
    fn read_u64(&self, addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read_exact(addr, &mut b).then(|| u64::from_le_bytes(b))
    }

    /// A little-endian u32 at `addr`.
    fn read_u32(&self, addr: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read_exact(addr, &mut b).then(|| u32::from_le_bytes(b))
    }

    /// A NUL-terminated string of at most `max` bytes (lossy UTF-8).
    fn read_cstr(&self, addr: u64, max: usize) -> Option<String> {
        let mut out = Vec::new();
        let mut a = addr;
        while out.len() < max {
            let src = self.bytes_at(a);
            if src.is_empty() {
                return None;
            }
            let take = src.len().min(max - out.len());
            if let Some(nul) = src[..take].iter().position(|&b| b == 0) {
                out.extend_from_slice(&src[..nul]);
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            out.extend_from_slice(&src[..take]);
            a = a.checked_add(take as u64)?;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}
