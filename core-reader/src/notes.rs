//! Reading a core's notes: the OS's reader (linux.rs, freebsd.rs) fills a
//! [`ProcessNotes`], and the threads are put in the order gdb lists them.

use crate::{CoreFile, Os, ProcessNotes};

impl ProcessNotes {
    /// Reads the notes of a core.
    pub fn read(core: &CoreFile) -> ProcessNotes {
        let mut notes = match core.os() {
            Os::Linux => crate::linux::parse_notes(core),
            Os::FreeBsd => crate::freebsd::parse_notes(core),
        };
        // The thread that took the signal comes first, as gdb lists it.
        if let Some(pos) = notes.threads.iter().position(|t| t.signal != 0) {
            if notes.threads.iter().filter(|t| t.signal != 0).count() < notes.threads.len() {
                let t = notes.threads.remove(pos);
                notes.threads.insert(0, t);
            }
        }
        notes
    }
}
