//! Synthesized core files, for systems whose real cores cannot be had here.
//!
//! Everything is written byte by byte from the published layouts (the ELF gABI for the
//! container; `../shared/corpus/freebsd/LAYOUTS.md` for FreeBSD notes). Nothing here uses
//! the reader's constants or structs: a builder that shared them would agree with the
//! reader's mistakes (the minidump-synth rule in STYLE.md).

#![allow(dead_code)]

pub mod freebsd;

/// `e_machine` values (ELF gABI).
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

/// `p_flags` bits.
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One note: owner name (without its NUL), type, descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub name: String,
    pub kind: u32,
    pub desc: Vec<u8>,
}

/// One PT_LOAD: `data` is what the file holds (`p_filesz`), `memsz` at least as long.
#[derive(Debug, Clone)]
pub struct Load {
    pub vaddr: u64,
    pub memsz: u64,
    pub flags: u32,
    pub data: Vec<u8>,
}

/// An ELF64 little-endian ET_CORE: header, program headers (PT_NOTE first, then the
/// PT_LOADs), the note segment, then each load's bytes page-aligned.
#[derive(Debug, Clone)]
pub struct ElfCore {
    pub machine: u16,
    pub osabi: u8,
    pub notes: Vec<Note>,
    pub loads: Vec<Load>,
}

/// Where `build` put things, for tests that cut the file.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// File offset of the note segment.
    pub notes_offset: usize,
    /// One past the note segment's last byte.
    pub notes_end: usize,
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// Appends one `Elf64_Nhdr` record: namesz, descsz, type (u32 each), name + NUL padded to
/// 4, desc padded to 4.
pub fn encode_note(out: &mut Vec<u8>, note: &Note) {
    let namesz = note.name.len() as u32 + 1;
    out.extend_from_slice(&namesz.to_le_bytes());
    out.extend_from_slice(&(note.desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&note.kind.to_le_bytes());
    out.extend_from_slice(note.name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(&note.desc);
    pad4(out);
}

impl ElfCore {
    pub fn build(&self) -> Vec<u8> {
        self.build_placed().0
    }

    pub fn build_placed(&self) -> (Vec<u8>, Placement) {
        let mut note_bytes = Vec::new();
        for n in &self.notes {
            encode_note(&mut note_bytes, n);
        }
        let phnum = 1 + self.loads.len();
        let notes_offset = 64 + 56 * phnum;
        let notes_end = notes_offset + note_bytes.len();
        // Load data starts on the next page, as kernels write it.
        let mut offsets = Vec::new();
        let mut at = (notes_end + 0xfff) & !0xfff;
        for l in &self.loads {
            offsets.push(at);
            at = (at + l.data.len() + 0xfff) & !0xfff;
        }

        let mut out = Vec::new();
        // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OSABI, ABI version, padding.
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[2, 1, 1, self.osabi, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&4u16.to_le_bytes()); // e_type ET_CORE
        out.extend_from_slice(&self.machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // e_version
        out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        out.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        out.extend_from_slice(&(phnum as u16).to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
        out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        assert_eq!(out.len(), 64);

        let mut phdr = |p_type: u32,
                        flags: u32,
                        offset: u64,
                        vaddr: u64,
                        filesz: u64,
                        memsz: u64,
                        align: u64| {
            out.extend_from_slice(&p_type.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // p_paddr
            out.extend_from_slice(&filesz.to_le_bytes());
            out.extend_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&align.to_le_bytes());
        };
        // PT_NOTE = 4, PT_LOAD = 1.
        phdr(
            4,
            PF_R,
            notes_offset as u64,
            0,
            note_bytes.len() as u64,
            0,
            4,
        );
        for (l, &off) in self.loads.iter().zip(&offsets) {
            phdr(
                1,
                l.flags,
                off as u64,
                l.vaddr,
                l.data.len() as u64,
                l.memsz,
                0x1000,
            );
        }
        assert_eq!(out.len(), notes_offset);
        out.extend_from_slice(&note_bytes);
        for (l, &off) in self.loads.iter().zip(&offsets) {
            out.resize(off, 0);
            out.extend_from_slice(&l.data);
        }
        (
            out,
            Placement {
                notes_offset,
                notes_end,
            },
        )
    }
}
