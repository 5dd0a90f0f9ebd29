//! FreeBSD cores assembled from `../shared/corpus/freebsd/LAYOUTS.md`, each field written at
//! the offset that file gives (with the FreeBSD header it names), and the three cores of
//! lldb's tests re-created with the values lldb asserts for them
//! (`../shared/corpus/freebsd/ground-truth/`). What lldb does not assert — pids, paths,
//! mappings, most registers — is made up here and says so.

use super::{ElfCore, Load, Note, EM_AARCH64, EM_X86_64, PF_R, PF_W, PF_X};

/// ELFOSABI_FREEBSD.
pub const OSABI_FREEBSD: u8 = 9;

// Note types (LAYOUTS.md, from sys/sys/elf_common.h).
pub const NT_PRSTATUS: u32 = 1;
pub const NT_FPREGSET: u32 = 2;
pub const NT_PRPSINFO: u32 = 3;
pub const NT_THRMISC: u32 = 7;
pub const NT_PROCSTAT_PROC: u32 = 8;
pub const NT_PROCSTAT_VMMAP: u32 = 10;
pub const NT_PROCSTAT_OSREL: u32 = 14;
pub const NT_PROCSTAT_AUXV: u32 = 16;
pub const NT_PTLWPINFO: u32 = 17;
pub const NT_X86_SEGBASES: u32 = 0x200;

// kinfo_vmentry values (sys/sys/user.h).
pub const KVME_TYPE_DEFAULT: u32 = 1;
pub const KVME_TYPE_VNODE: u32 = 2;
pub const KVME_FLAG_COW: u32 = 1;
pub const KVME_FLAG_GROWS_DOWN: u32 = 0x20;
pub const KVME_PROT_READ: u32 = 1;
pub const KVME_PROT_WRITE: u32 = 2;
pub const KVME_PROT_EXEC: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Amd64,
    Arm64,
}

#[derive(Debug, Clone, Copy)]
pub struct Siginfo {
    pub signo: i32,
    pub code: i32,
    pub addr: u64,
}

#[derive(Debug, Clone)]
pub struct Thread {
    pub lwpid: u32,
    /// pr_cursig: FreeBSD writes the process's signal into every thread's prstatus.
    pub cursig: i32,
    /// Registers by the names of FreeBSD's `struct reg` (amd64: r15…rax, trapno, fs, gs,
    /// err, es, ds, rip, cs, rflags, rsp, ss; arm64: x0…x29, lr, sp, elr, spsr). Absent ones
    /// are written as 0.
    pub regs: Vec<(&'static str, u64)>,
    pub name: &'static str,
    /// Set for the thread that took the signal (PL_FLAG_SI in its lwpinfo).
    pub siginfo: Option<Siginfo>,
    /// FP registers: amd64 xmm / arm64 v, 16 bytes each, from register 0.
    pub vregs: Vec<[u8; 16]>,
    /// amd64 fs base (NT_X86_SEGBASES).
    pub fs_base: u64,
}

#[derive(Debug, Clone)]
pub struct VmEntry {
    pub kind: u32,
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub prot: u32,
    pub flags: u32,
    pub path: &'static str,
    /// Write the full 1160-byte record instead of the packed one
    /// (kern.coredump_pack_vmmapinfo=0).
    pub unpacked: bool,
}

#[derive(Debug, Clone)]
pub struct Process {
    pub arch: Arch,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub fname: &'static str,
    pub psargs: &'static str,
    /// Write pr_pid in prpsinfo (FreeBSD 12 and later); without it, pr_psinfosz is 116.
    pub prpsinfo_pid: bool,
    pub osreldate: i32,
    /// Current (signalled) thread first, as the kernel writes them.
    pub threads: Vec<Thread>,
    pub vmmap: Vec<VmEntry>,
    pub auxv: Vec<(u64, u64)>,
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}
fn put16(buf: &mut [u8], off: usize, v: u16) {
    put(buf, off, &v.to_le_bytes());
}
fn put32(buf: &mut [u8], off: usize, v: u32) {
    put(buf, off, &v.to_le_bytes());
}
fn put64(buf: &mut [u8], off: usize, v: u64) {
    put(buf, off, &v.to_le_bytes());
}
fn put_str(buf: &mut [u8], off: usize, max: usize, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(max - 1);
    put(buf, off, &b[..n]);
}

fn reg(regs: &[(&str, u64)], name: &str) -> u64 {
    regs.iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v)
        .unwrap_or(0)
}

/// amd64 `struct reg` (LAYOUTS.md: sys/x86/include/reg.h `__reg64`, 176 bytes).
fn amd64_reg(r: &[(&str, u64)]) -> Vec<u8> {
    let mut b = vec![0u8; 176];
    let q = [
        ("r15", 0),
        ("r14", 8),
        ("r13", 16),
        ("r12", 24),
        ("r11", 32),
        ("r10", 40),
        ("r9", 48),
        ("r8", 56),
        ("rdi", 64),
        ("rsi", 72),
        ("rbp", 80),
        ("rbx", 88),
        ("rdx", 96),
        ("rcx", 104),
        ("rax", 112),
        ("rip", 136),
        ("cs", 144),
        ("rflags", 152),
        ("rsp", 160),
        ("ss", 168),
    ];
    for (n, off) in q {
        put64(&mut b, off, reg(r, n));
    }
    put32(&mut b, 120, reg(r, "trapno") as u32);
    put16(&mut b, 124, reg(r, "fs") as u16);
    put16(&mut b, 126, reg(r, "gs") as u16);
    put32(&mut b, 128, reg(r, "err") as u32);
    put16(&mut b, 132, reg(r, "es") as u16);
    put16(&mut b, 134, reg(r, "ds") as u16);
    b
}

/// arm64 `struct reg` (LAYOUTS.md: sys/arm64/include/reg.h): x[30], lr, sp, elr, u32 spsr,
/// 4 bytes of padding — 272 bytes.
fn arm64_reg(r: &[(&str, u64)]) -> Vec<u8> {
    let mut b = vec![0u8; 272];
    for i in 0..30 {
        put64(&mut b, 8 * i, reg(r, &format!("x{i}")));
    }
    put64(&mut b, 240, reg(r, "lr"));
    put64(&mut b, 248, reg(r, "sp"));
    put64(&mut b, 256, reg(r, "elr"));
    put32(&mut b, 264, reg(r, "spsr") as u32);
    b
}

/// prstatus_t, LP64 (LAYOUTS.md: sys/sys/procfs.h): version @0, statussz @8, gregsetsz
/// @16, fpregsetsz @24, osreldate @32, cursig @36, pid (lwpid) @40, reg @48.
pub fn prstatus(arch: Arch, osreldate: i32, t: &Thread) -> Vec<u8> {
    let (regs, fpsz) = match arch {
        Arch::Amd64 => (amd64_reg(&t.regs), 512u64),
        Arch::Arm64 => (arm64_reg(&t.regs), 528u64),
    };
    let mut b = vec![0u8; 48 + regs.len()];
    put32(&mut b, 0, 1);
    let statussz = b.len() as u64;
    put64(&mut b, 8, statussz);
    put64(&mut b, 16, regs.len() as u64);
    put64(&mut b, 24, fpsz);
    put32(&mut b, 32, osreldate as u32);
    put32(&mut b, 36, t.cursig as u32);
    put32(&mut b, 40, t.lwpid);
    put(&mut b, 48, &regs);
    b
}

/// NT_FPREGSET: amd64 `struct fpreg` is the 512-byte FXSAVE image (xmm0 at 160); arm64
/// `struct fpreg` is fp_q[32] (16 bytes each), fp_sr @512, fp_cr @516, padded to 528.
fn fpregset(arch: Arch, t: &Thread) -> Vec<u8> {
    match arch {
        Arch::Amd64 => {
            let mut b = vec![0u8; 512];
            put16(&mut b, 0, 0x037f); // fcw
            put32(&mut b, 24, 0x1f80); // mxcsr
            for (i, v) in t.vregs.iter().enumerate().take(16) {
                put(&mut b, 160 + 16 * i, v);
            }
            b
        }
        Arch::Arm64 => {
            let mut b = vec![0u8; 528];
            for (i, v) in t.vregs.iter().enumerate().take(32) {
                put(&mut b, 16 * i, v);
            }
            put32(&mut b, 516, 0x0200_0000); // fpcr DN, as lldb reads for thread 1
            b
        }
    }
}

/// prpsinfo_t, LP64: version @0, psinfosz @8, fname[17] @16, psargs[81] @33, pid @116.
pub fn prpsinfo(p: &Process) -> Vec<u8> {
    let size = if p.prpsinfo_pid { 120 } else { 116 };
    let mut b = vec![0u8; size];
    put32(&mut b, 0, 1);
    put64(&mut b, 8, size as u64);
    put_str(&mut b, 16, 17, p.fname);
    put_str(&mut b, 33, 81, p.psargs);
    if p.prpsinfo_pid {
        put32(&mut b, 116, p.pid);
    }
    b
}

/// thrmisc_t: pr_tname[20], u_int pad.
pub fn thrmisc(name: &str) -> Vec<u8> {
    let mut b = vec![0u8; 24];
    put_str(&mut b, 0, 20, name);
    b
}

/// NT_PTLWPINFO: int structsize, then ptrace_lwpinfo (LP64, 160 bytes): pl_lwpid @0,
/// pl_event @4, pl_flags @8 (PL_FLAG_SI 0x20), pl_siginfo @0x30 (si_signo @0, si_code @8,
/// si_addr @24), pl_tdname[20] @0x80.
pub fn ptlwpinfo(t: &Thread) -> Vec<u8> {
    let mut b = vec![0u8; 4 + 160];
    put32(&mut b, 0, 160);
    let l = 4;
    put32(&mut b, l, t.lwpid);
    if let Some(si) = t.siginfo {
        put32(&mut b, l + 4, 1); // PL_EVENT_SIGNAL
        put32(&mut b, l + 8, 0x20);
        put32(&mut b, l + 0x30, si.signo as u32);
        put32(&mut b, l + 0x30 + 8, si.code as u32);
        put64(&mut b, l + 0x30 + 24, si.addr);
    }
    put_str(&mut b, l + 0x80, 20, t.name);
    b
}

/// NT_PROCSTAT_PROC: int structsize (sizeof(struct kinfo_proc) = 1088 on LP64), then one
/// kinfo_proc per thread: ki_structsize @0, ki_pid @0x48, ki_ppid @0x4c, ki_ruid @0xac,
/// ki_rgid @0xb4, ki_comm @0x1bf (gdb's kinfo_proc_layout_64).
pub fn procstat_proc(p: &Process) -> Vec<u8> {
    const KP: usize = 1088;
    let mut b = vec![0u8; 4 + KP * p.threads.len()];
    put32(&mut b, 0, KP as u32);
    for i in 0..p.threads.len() {
        let k = 4 + KP * i;
        put32(&mut b, k, KP as u32);
        put32(&mut b, k + 0x48, p.pid);
        put32(&mut b, k + 0x4c, p.ppid);
        put32(&mut b, k + 0xa8, p.uid);
        put32(&mut b, k + 0xac, p.uid);
        put32(&mut b, k + 0xb4, p.gid);
        put_str(&mut b, k + 0x1bf, 20, p.fname);
    }
    b
}

/// One kinfo_vmentry record: structsize @0, type @4, start @8, end @16, offset @24,
/// flags @44, protection @56, path @136 (0x88). Packed: roundup(136 + strlen + 1, 8).
pub fn kinfo_vmentry(e: &VmEntry) -> Vec<u8> {
    let size = if e.unpacked {
        1160
    } else {
        (136 + e.path.len() + 1 + 7) & !7
    };
    let mut b = vec![0u8; size];
    put32(&mut b, 0, size as u32);
    put32(&mut b, 4, e.kind);
    put64(&mut b, 8, e.start);
    put64(&mut b, 16, e.end);
    put64(&mut b, 24, e.offset);
    put32(&mut b, 44, e.flags);
    put32(&mut b, 56, e.prot);
    put32(&mut b, 60, 1); // kve_ref_count
    put(&mut b, 136, e.path.as_bytes());
    b
}

/// NT_PROCSTAT_VMMAP: int 1160 (sizeof(struct kinfo_vmentry)), then the records.
pub fn procstat_vmmap(entries: &[VmEntry]) -> Vec<u8> {
    let mut b = 1160u32.to_le_bytes().to_vec();
    for e in entries {
        b.extend_from_slice(&kinfo_vmentry(e));
    }
    b
}

/// NT_PROCSTAT_AUXV: int 16 (sizeof(Elf64_Auxinfo)), then (type, value) pairs, AT_NULL last.
pub fn procstat_auxv(auxv: &[(u64, u64)]) -> Vec<u8> {
    let mut b = 16u32.to_le_bytes().to_vec();
    for &(k, v) in auxv.iter().chain(&[(0, 0)]) {
        b.extend_from_slice(&k.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn note(kind: u32, desc: Vec<u8>) -> Note {
    Note {
        name: "FreeBSD".into(),
        kind,
        desc,
    }
}

impl Process {
    /// The notes in the order sys/kern/imgact_elf.c writes them: prpsinfo; per thread
    /// prstatus, fpregset, thrmisc, ptlwpinfo, machine-dependent; then the procstat notes.
    pub fn notes(&self) -> Vec<Note> {
        let mut n = vec![note(NT_PRPSINFO, prpsinfo(self))];
        for t in &self.threads {
            n.push(note(NT_PRSTATUS, prstatus(self.arch, self.osreldate, t)));
            n.push(note(NT_FPREGSET, fpregset(self.arch, t)));
            n.push(note(NT_THRMISC, thrmisc(t.name)));
            n.push(note(NT_PTLWPINFO, ptlwpinfo(t)));
            if self.arch == Arch::Amd64 {
                let mut seg = vec![0u8; 16];
                put64(&mut seg, 0, t.fs_base);
                n.push(note(NT_X86_SEGBASES, seg));
            }
        }
        n.push(note(NT_PROCSTAT_PROC, procstat_proc(self)));
        n.push(note(NT_PROCSTAT_VMMAP, procstat_vmmap(&self.vmmap)));
        let mut osrel = 4u32.to_le_bytes().to_vec();
        osrel.extend_from_slice(&self.osreldate.to_le_bytes());
        n.push(note(NT_PROCSTAT_OSREL, osrel));
        n.push(note(NT_PROCSTAT_AUXV, procstat_auxv(&self.auxv)));
        n
    }

    /// One PT_LOAD per readable vmmap entry, all of it in the file (FreeBSD dumps every
    /// readable entry; the made-up address spaces are small enough). Each file's first
    /// mapping (offset 0) starts with an ELF header whose program headers describe that
    /// file's mappings and whose PT_NOTE holds a GNU build-id (`build_id(path)`), as a real
    /// dumped text page would.
    pub fn loads(&self) -> Vec<Load> {
        self.vmmap
            .iter()
            .filter(|e| e.prot & KVME_PROT_READ != 0)
            .map(|e| {
                let len = e.end - e.start;
                let mut flags = 0;
                for (p, f) in [
                    (KVME_PROT_READ, PF_R),
                    (KVME_PROT_WRITE, PF_W),
                    (KVME_PROT_EXEC, PF_X),
                ] {
                    if e.prot & p != 0 {
                        flags |= f;
                    }
                }
                let mut data = vec![0; len as usize];
                if e.kind == KVME_TYPE_VNODE && e.offset == 0 && !e.path.is_empty() {
                    let image = self.elf_image(e);
                    data[..image.len()].copy_from_slice(&image);
                }
                Load {
                    vaddr: e.start,
                    memsz: len,
                    flags,
                    data,
                }
            })
            .collect()
    }

    /// The first bytes of the file mapped by `first` (offset 0): Elf64_Ehdr, one PT_LOAD
    /// per mapping of the same path, a PT_NOTE at file offset 0x200 with NT_GNU_BUILD_ID.
    /// The executable (the file holding AT_ENTRY) is ET_EXEC linked at its address;
    /// libraries are ET_DYN linked at 0.
    fn elf_image(&self, first: &VmEntry) -> Vec<u8> {
        let entry = self
            .auxv
            .iter()
            .find(|a| a.0 == 9)
            .map(|a| a.1)
            .unwrap_or(0);
        let maps: Vec<_> = self.vmmap.iter().filter(|m| m.path == first.path).collect();
        let is_exe = maps.iter().any(|m| m.start <= entry && entry < m.end);
        let bias = if is_exe { 0 } else { first.start };
        let phnum = maps.len() + 1;
        let mut b = vec![0u8; 0x200 + 16 + 20];
        put(&mut b, 0, b"\x7fELF");
        put(&mut b, 4, &[2, 1, 1, OSABI_FREEBSD]);
        put16(&mut b, 16, if is_exe { 2 } else { 3 }); // ET_EXEC / ET_DYN
        let machine = match self.arch {
            Arch::Amd64 => EM_X86_64,
            Arch::Arm64 => EM_AARCH64,
        };
        put16(&mut b, 18, machine);
        put32(&mut b, 20, 1);
        put64(&mut b, 24, if is_exe { entry } else { 0 });
        put64(&mut b, 32, 64); // e_phoff
        put16(&mut b, 52, 64);
        put16(&mut b, 54, 56);
        put16(&mut b, 56, phnum as u16);
        let mut ph = 64;
        for m in &maps {
            let mut flags = 0;
            for (p, f) in [
                (KVME_PROT_READ, PF_R),
                (KVME_PROT_WRITE, PF_W),
                (KVME_PROT_EXEC, PF_X),
            ] {
                if m.prot & p != 0 {
                    flags |= f;
                }
            }
            put32(&mut b, ph, 1); // PT_LOAD
            put32(&mut b, ph + 4, flags);
            put64(&mut b, ph + 8, m.offset);
            put64(&mut b, ph + 16, m.start - bias);
            put64(&mut b, ph + 24, m.start - bias);
            put64(&mut b, ph + 32, m.end - m.start);
            put64(&mut b, ph + 40, m.end - m.start);
            put64(&mut b, ph + 48, 0x1000);
            ph += 56;
        }
        put32(&mut b, ph, 4); // PT_NOTE
        put32(&mut b, ph + 4, PF_R);
        put64(&mut b, ph + 8, 0x200);
        put64(&mut b, ph + 16, first.start - bias + 0x200);
        put64(&mut b, ph + 24, first.start - bias + 0x200);
        put64(&mut b, ph + 32, 36);
        put64(&mut b, ph + 40, 36);
        put64(&mut b, ph + 48, 4);
        put32(&mut b, 0x200, 4);
        put32(&mut b, 0x204, 20);
        put32(&mut b, 0x208, 3); // NT_GNU_BUILD_ID
        put(&mut b, 0x20c, b"GNU\0");
        put(&mut b, 0x210, &build_id(first.path));
        b
    }

    pub fn core(&self) -> ElfCore {
        ElfCore {
            machine: match self.arch {
                Arch::Amd64 => EM_X86_64,
                Arch::Arm64 => EM_AARCH64,
            },
            osabi: OSABI_FREEBSD,
            notes: self.notes(),
            loads: self.loads(),
        }
    }
}

/// The made-up build-id of a file of the synthesized cores: 20 bytes derived from its path.
pub fn build_id(path: &str) -> [u8; 20] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    core::array::from_fn(|_| {
        for &c in path.as_bytes() {
            h = (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3);
        }
        (h >> 24) as u8
    })
}

/// `build_id(path)` as lowercase hex.
pub fn build_id_hex(path: &str) -> String {
    build_id(path).iter().map(|b| format!("{b:02x}")).collect()
}

/// A double in the low 8 bytes of a vector register.
fn vdouble(d: f64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&d.to_le_bytes());
    v
}

fn vm(kind: u32, start: u64, end: u64, offset: u64, prot: u32, path: &'static str) -> VmEntry {
    VmEntry {
        kind,
        start,
        end,
        offset,
        prot,
        flags: if kind == KVME_TYPE_VNODE {
            KVME_FLAG_COW
        } else {
            0
        },
        path,
        unpacked: false,
    }
}

const R: u32 = KVME_PROT_READ;
const RW: u32 = KVME_PROT_READ | KVME_PROT_WRITE;
const RX: u32 = KVME_PROT_READ | KVME_PROT_EXEC;

/// The address space given to the amd64 cores (made up: a non-PIE a.out at 0x200000 as
/// lld links it on FreeBSD, libthr and libc above 0x800000000, a heap and a stack). The
/// second text mapping of libc is written unpacked (1160 bytes), the rest packed; one
/// vnode entry has no path (an unlinked file) and must not become a file mapping.
pub fn amd64_vmmap(exe: &'static str) -> Vec<VmEntry> {
    let mut v = vec![
        vm(KVME_TYPE_VNODE, 0x200000, 0x201000, 0, R, exe),
        vm(KVME_TYPE_VNODE, 0x201000, 0x204000, 0x1000, RX, exe),
        vm(KVME_TYPE_VNODE, 0x204000, 0x205000, 0x4000, RW, exe),
        vm(KVME_TYPE_DEFAULT, 0x205000, 0x226000, 0, RW, ""),
        vm(
            KVME_TYPE_VNODE,
            0x800390000,
            0x800398000,
            0,
            R,
            "/lib/libthr.so.3",
        ),
        vm(
            KVME_TYPE_VNODE,
            0x800398000,
            0x8003a8000,
            0x8000,
            RX,
            "/lib/libthr.so.3",
        ),
        vm(
            KVME_TYPE_VNODE,
            0x800400000,
            0x800410000,
            0,
            R,
            "/lib/libc.so.7",
        ),
        vm(
            KVME_TYPE_VNODE,
            0x800410000,
            0x800440000,
            0x10000,
            RX,
            "/lib/libc.so.7",
        ),
        vm(KVME_TYPE_VNODE, 0x800600000, 0x800601000, 0, R, ""),
        vm(KVME_TYPE_DEFAULT, 0x7fffffffb000, 0x7ffffffff000, 0, RW, ""),
    ];
    v[7].unpacked = true;
    v[9].flags = KVME_FLAG_GROWS_DOWN;
    v
}

/// What `amd64_vmmap` must read back as (start, end, offset, perms, path), in order.
pub fn amd64_files(exe: &'static str) -> Vec<(u64, u64, u64, &'static str, &'static str)> {
    vec![
        (0x200000, 0x201000, 0, "r--", exe),
        (0x201000, 0x204000, 0x1000, "r-x", exe),
        (0x204000, 0x205000, 0x4000, "rw-", exe),
        (0x800390000, 0x800398000, 0, "r--", "/lib/libthr.so.3"),
        (0x800398000, 0x8003a8000, 0x8000, "r-x", "/lib/libthr.so.3"),
        (0x800400000, 0x800410000, 0, "r--", "/lib/libc.so.7"),
        (0x800410000, 0x800440000, 0x10000, "r-x", "/lib/libc.so.7"),
    ]
}

fn amd64_auxv() -> Vec<(u64, u64)> {
    // AT_PHDR 3, AT_PHENT 4, AT_PHNUM 5, AT_PAGESZ 6, AT_BASE 7, AT_ENTRY 9, AT_EXECPATH 15
    // (sys/sys/elf_common.h); made-up values consistent with amd64_vmmap.
    vec![
        (3, 0x200040),
        (4, 56),
        (5, 11),
        (6, 4096),
        (7, 0x800228000),
        (9, 0x201000),
        (15, 0x7fffffffefe0),
    ]
}

/// x86-64-freebsd.core (lldb: x86-64-freebsd-gp.test / Inputs/x86-64-gp-hixmm.check,
/// x86-64-freebsd-fp.test): one thread, SIGSEGV at `movl %eax, 0`, every general register
/// as lldb reads it; xmmN holds bytes N..N+15. lldb asserts no tid, pid, path or name for
/// this core: those are made up (tid 100051, pid 1234, /usr/home/user/a.out).
pub fn x86_64_freebsd() -> Process {
    let regs = vec![
        ("rax", 0x2726252423222120),
        ("rbx", 0x2827262524232221),
        ("rcx", 0x2928272625242322),
        ("rdx", 0x2a29282726252423),
        ("rdi", 0x2e2d2c2b2a292827),
        ("rsi", 0x2d2c2b2a29282726),
        ("rbp", 0x2c2b2a2928272625),
        ("rsp", 0x2b2a292827262524),
        ("r8", 0x2f2e2d2c2b2a2928),
        ("r9", 0x302f2e2d2c2b2a29),
        ("r10", 0x31302f2e2d2c2b2a),
        ("r11", 0x3231302f2e2d2c2b),
        ("r12", 0x333231302f2e2d2c),
        ("r13", 0x34333231302f2e2d),
        ("r14", 0x3534333231302f2e),
        ("r15", 0x363534333231302f),
        ("rip", 0x20242b),
        ("rflags", 0x10246),
        ("cs", 0x43),
        ("ss", 0x3b),
        ("ds", 0x3b),
        ("es", 0x3b),
        ("fs", 0x13),
        ("gs", 0x1b),
        // Made up: a page fault (T_PAGEFLT 12), user-mode write to a non-present page.
        ("trapno", 12),
        ("err", 6),
    ];
    let exe = "/usr/home/user/a.out";
    Process {
        arch: Arch::Amd64,
        pid: 1234,
        ppid: 1000,
        uid: 1001,
        gid: 1001,
        fname: "a.out",
        psargs: "./a.out",
        prpsinfo_pid: true,
        osreldate: 1300139,
        threads: vec![Thread {
            lwpid: 100051,
            cursig: 11,
            regs,
            name: "a.out",
            siginfo: Some(Siginfo {
                signo: 11,
                code: 1, // SEGV_MAPERR
                addr: 0,
            }),
            vregs: (0u8..16)
                .map(|n| core::array::from_fn(|i| n + i as u8))
                .collect(),
            fs_base: 0x800a0b120,
        }],
        vmmap: amd64_vmmap(exe),
        auxv: amd64_auxv(),
    }
}

/// x86-64-freebsd-multithread.core (lldb: x86-64-freebsd-multithread.test, from
/// Inputs/multithread.cpp): the crashing thread 100744 first, then the main thread 100720
/// (in libthr's join), then 100745 and 100746; all named 'a.out', all with pr_cursig
/// SIGSEGV; rip, ecx/edx/edi/esi and xmm0..3 as lldb reads them. The stack pointers, the
/// pid (4321), the fault address and the mappings are made up.
pub fn x86_64_freebsd_multithread() -> Process {
    // [ecx, edx, edi, esi] as lldb reads them (upper halves made up as zero).
    let t = |lwpid, rip: u64, rsp: u64, c: [u64; 4], ds: [f64; 4], first: bool| Thread {
        lwpid,
        cursig: 11,
        regs: vec![
            ("rip", rip),
            ("rsp", rsp),
            ("rbp", rsp + 0x10),
            ("rcx", c[0]),
            ("rdx", c[1]),
            ("rdi", c[2]),
            ("rsi", c[3]),
            ("rflags", 0x10246),
            ("cs", 0x43),
            ("ss", 0x3b),
        ],
        name: "a.out",
        siginfo: first.then_some(Siginfo {
            signo: 11,
            code: 1, // SEGV_MAPERR
            addr: 0,
        }),
        vregs: ds.iter().map(|&d| vdouble(d)).collect(),
        fs_base: 0x800a0b120 + u64::from(lwpid - 100720) * 0x1000,
    };
    let exe = "/usr/home/user/multithread";
    Process {
        arch: Arch::Amd64,
        pid: 4321,
        ppid: 1000,
        uid: 1001,
        gid: 1001,
        fname: "a.out",
        psargs: "./a.out",
        prpsinfo_pid: true,
        osreldate: 1300139,
        threads: vec![
            t(
                100744,
                0x2030c2,
                0x7fffffffc100,
                [0x04040404, 0x03030303, 0x01010101, 0x02020202],
                [2.0, 4.0, 8.0, 16.0],
                true,
            ),
            t(100720, 0x800396b3c, 0x7fffffffe9d0, [0; 4], [0.0; 4], false),
            t(
                100745,
                0x2030cd,
                0x7fffffffd100,
                [0x14141414, 0x13131313, 0x11111111, 0x12121212],
                [3.0, 6.0, 9.0, 12.0],
                false,
            ),
            t(
                100746,
                0x2030cd,
                0x7fffffffb100,
                [0x24242424, 0x23232323, 0x21212121, 0x22222222],
                [5.0, 10.0, 15.0, 20.0],
                false,
            ),
        ],
        vmmap: amd64_vmmap(exe),
        auxv: amd64_auxv(),
    }
}

/// The address space given to the arm64 core (made up: a.out at 0x200000, libthr around
/// 0x40620000 where lldb shows the main thread's pc, a heap and a stack).
pub fn arm64_vmmap(exe: &'static str) -> Vec<VmEntry> {
    let mut v = vec![
        vm(KVME_TYPE_VNODE, 0x200000, 0x201000, 0, R, exe),
        vm(KVME_TYPE_VNODE, 0x210000, 0x213000, 0x10000, RX, exe),
        vm(KVME_TYPE_VNODE, 0x220000, 0x221000, 0x20000, RW, exe),
        vm(
            KVME_TYPE_VNODE,
            0x40600000,
            0x40610000,
            0,
            R,
            "/lib/libthr.so.3",
        ),
        vm(
            KVME_TYPE_VNODE,
            0x40620000,
            0x40630000,
            0x20000,
            RX,
            "/lib/libthr.so.3",
        ),
        vm(KVME_TYPE_DEFAULT, 0x41000000, 0x41020000, 0, RW, ""),
        vm(KVME_TYPE_DEFAULT, 0xffffffffa000, 0xffffffffe000, 0, RW, ""),
    ];
    v[6].flags = KVME_FLAG_GROWS_DOWN;
    v
}

pub fn arm64_files(exe: &'static str) -> Vec<(u64, u64, u64, &'static str, &'static str)> {
    vec![
        (0x200000, 0x201000, 0, "r--", exe),
        (0x210000, 0x213000, 0x10000, "r-x", exe),
        (0x220000, 0x221000, 0x20000, "rw-", exe),
        (0x40600000, 0x40610000, 0, "r--", "/lib/libthr.so.3"),
        (0x40620000, 0x40630000, 0x20000, "r-x", "/lib/libthr.so.3"),
    ]
}

/// aarch64-freebsd-multithread.core (lldb: aarch64-freebsd-multithread.test and
/// aarch64-freebsd-register-fields.test): 100160 first (pc 0x211fc4, w0..w3 =
/// 0x01010101..0x04040404, cpsr 0x60000200, fpcr 0x02000000), then 100115 (pc 0x406267a8),
/// 100161 and 100162 (pc 0x211fc8); all named 'a.out' with SIGSEGV; v0..v3 as lldb reads
/// them. Stack pointers, link registers, the pid (5678) and the mappings are made up.
pub fn aarch64_freebsd_multithread() -> Process {
    let t = |lwpid, pc: u64, sp: u64, w: [u64; 4], ds: [f64; 4], first: bool| Thread {
        lwpid,
        cursig: 11,
        regs: vec![
            ("x0", w[0]),
            ("x1", w[1]),
            ("x2", w[2]),
            ("x3", w[3]),
            ("x29", sp + 0x20),
            ("lr", 0x211f80),
            ("sp", sp),
            ("elr", pc),
            ("spsr", if first { 0x60000200 } else { 0x20000000 }),
        ],
        name: "a.out",
        siginfo: first.then_some(Siginfo {
            signo: 11,
            code: 2, // SEGV_ACCERR
            addr: 0x10,
        }),
        vregs: ds.iter().map(|&d| vdouble(d)).collect(),
        fs_base: 0,
    };
    let exe = "/usr/home/user/multithread";
    Process {
        arch: Arch::Arm64,
        pid: 5678,
        ppid: 1000,
        uid: 1001,
        gid: 1001,
        fname: "a.out",
        psargs: "./a.out",
        prpsinfo_pid: true,
        osreldate: 1300139,
        threads: vec![
            t(
                100160,
                0x211fc4,
                0xffffffffbe00,
                [0x01010101, 0x02020202, 0x03030303, 0x04040404],
                [2.0, 4.0, 8.0, 16.0],
                true,
            ),
            t(100115, 0x406267a8, 0xffffffffd400, [0; 4], [0.0; 4], false),
            t(
                100161,
                0x211fc8,
                0xffffffffb800,
                [0x11111111, 0x12121212, 0x13131313, 0x14141414],
                [3.0, 6.0, 9.0, 12.0],
                false,
            ),
            t(
                100162,
                0x211fc8,
                0xffffffffa400,
                [0x21212121, 0x22222222, 0x23232323, 0x24242424],
                [5.0, 10.0, 15.0, 20.0],
                false,
            ),
        ],
        vmmap: arm64_vmmap(exe),
        auxv: vec![(3, 0x200040), (5, 9), (6, 4096), (9, 0x210000)],
    }
}
