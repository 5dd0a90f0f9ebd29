//! Stack unwinding from a thread's registers.
//!
//! Each step uses the module's CFI (`.eh_frame` from the file, `.debug_frame` from the file
//! or its debug file) through gimli's unwinder; signal trampolines are recognised by their
//! code and unwound through the kernel's signal frame; where there is no CFI the frame
//! pointer chain is followed. Every walk is bounded: at most [`MAX_FRAMES`] frames, and the
//! stack pointer must move up at each step.

use std::collections::HashMap;

use crate::cfi::{Row, Rule};
use crate::symbolize::Loaded;
use crate::{Arch, Memory, Module, Process, ProcessAddr, Registers, SymbolFrame, ThreadNote};

/// Frames per thread at most: deeper stacks are real (runaway recursion) but a walk that
/// long is more likely going in circles through garbage.
pub const MAX_FRAMES: usize = 1024;

/// How a frame's caller was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameTrust {
    /// The thread's own registers (frame 0).
    Context,
    /// Call frame information.
    Cfi,
    /// The frame pointer chain.
    FramePointer,
    /// The kernel's signal frame.
    Signal,
    /// A function that tail-called the frame below it, known from DWARF call sites.
    TailCall,
}

impl FrameTrust {
    /// The name JSON gives it (the serde name, as a `&'static str` for report fields).
    pub(crate) fn name(self) -> &'static str {
        match self {
            FrameTrust::Context => "context",
            FrameTrust::Cfi => "cfi",
            FrameTrust::FramePointer => "frame_pointer",
            FrameTrust::Signal => "signal",
            FrameTrust::TailCall => "tail_call",
        }
    }
}

/// One physical stack frame with its symbolized (possibly inlined) functions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Frame {
    /// The program counter (a return address for callers).
    pub pc: u64,
    /// The stack pointer at this frame.
    pub sp: u64,
    /// How this frame was found.
    pub trust: FrameTrust,
    /// Whether `pc` is a return address (lookups then use `pc - 1`).
    pub is_return_address: bool,
    /// The functions at this pc, innermost inlined first; empty when unknown.
    pub symbols: Vec<SymbolFrame>,
    /// The module's path.
    pub module: Option<String>,
    /// Whether this is a signal trampoline (gdb's `<signal handler called>`).
    pub signal_trampoline: bool,
    /// The frame pointer register's value in this frame, where the unwinder knows it: code
    /// built with a frame pointer places its variables relative to it (clang's frame base).
    #[serde(skip)]
    pub(crate) frame_pointer: Option<u64>,
}

impl Frame {
    /// The value in this frame of the register with DWARF number `n`, for the registers the
    /// frame keeps: the stack pointer and the frame pointer.
    pub(crate) fn register(&self, arch: Arch, n: u16) -> Option<u64> {
        if n == sp_reg(arch) {
            Some(self.sp)
        } else if n == fp_reg(arch) {
            self.frame_pointer
        } else {
            None
        }
    }
}

/// A thread's stack, with why the walk ended when it ended early.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backtrace {
    /// Frames, innermost first.
    pub frames: Vec<Frame>,
    /// Set when the walk stopped before reaching the outermost frame.
    pub stopped: Option<String>,
}

type Regs = HashMap<u16, u64>;

/// The name gdb gives a signal trampoline's frame; ours is named the same.
pub(crate) const SIGNAL_FRAME: &str = "<signal handler called>";

/// Functions where new threads begin: nothing above them is a real frame. gdb stops at
/// them too (gdb/amd64-linux-tdep.c and aarch64-linux-tdep.c treat clone/clone3 as
/// outermost); their CFI does not always say so (glibc 2.19's aarch64 `__clone`).
const THREAD_ENTRY_FUNCTIONS: [&str; 5] =
    ["clone", "__clone", "clone3", "__clone3", "__clone_internal"];

/// DWARF numbers used here.
const X86_RSP: u16 = 7;
const X86_RBP: u16 = 6;
const X86_RIP: u16 = 16;
const A64_FP: u16 = 29;
const A64_LR: u16 = 30;
const A64_SP: u16 = 31;

fn sp_reg(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => X86_RSP,
        Arch::Aarch64 => A64_SP,
    }
}

fn fp_reg(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => X86_RBP,
        Arch::Aarch64 => A64_FP,
    }
}

fn initial_regs(r: &Registers) -> Regs {
    let mut regs = HashMap::new();
    for n in 0..=31u16 {
        if let Some(v) = Registers::dwarf_name(r.arch(), n).and_then(|name| r.get(name)) {
            regs.insert(n, v);
        }
    }
    regs
}

enum Step {
    Next {
        pc: u64,
        regs: Regs,
        trust: FrameTrust,
        signal: bool,
    },
    End,
    Fail(String),
}

impl Process {
    /// Unwinds a thread's stack.
    pub fn backtrace(&self, thread: &ThreadNote) -> Backtrace {
        let arch = self.arch();
        let mut frames = Vec::new();
        let Some(mut pc) = thread.registers.pc() else {
            return Backtrace {
                frames,
                stopped: Some("the thread has no program counter".into()),
            };
        };
        let mut regs = initial_regs(&thread.registers);
        let mut trust = FrameTrust::Context;
        let mut is_return = false;
        let mut stopped = None;
        // Like gdb (backtrace past-entry off) and drgn, the walk ends at the function that
        // holds the program's entry point (`_start`): above it there is only garbage.
        let entry_function = self
            .notes()
            .auxv_value(crate::process_notes::AT_ENTRY)
            .and_then(|e| self.symbolizer().symbolize(e).pop())
            .and_then(|f| f.function);
        loop {
            if frames.len() >= MAX_FRAMES {
                stopped = Some(format!("stopped after {MAX_FRAMES} frames"));
                break;
            }
            let sp = regs.get(&sp_reg(arch)).copied().unwrap_or(0);
            let signal = self.is_signal_trampoline(pc);
            let lookup = if is_return { pc.wrapping_sub(1) } else { pc };
            let module = self.symbolizer().module_at(lookup);
            let symbols = if signal {
                vec![SymbolFrame {
                    function: Some(SIGNAL_FRAME.into()),
                    file: None,
                    line: None,
                    inlined: false,
                }]
            } else {
                self.symbolizer().symbolize_frame(lookup)
            };
            frames.push(Frame {
                pc,
                sp,
                trust,
                is_return_address: is_return,
                symbols,
                module: module.map(|m| m.path.clone()),
                signal_trampoline: signal,
                frame_pointer: regs.get(&fp_reg(arch)).copied(),
            });
            let function = frames
                .last()
                .and_then(|f: &Frame| f.symbols.last())
                .and_then(|s| s.function.as_deref());
            let outermost = function.is_some()
                && (function == entry_function.as_deref()
                    || function.is_some_and(|f| THREAD_ENTRY_FUNCTIONS.contains(&f)));
            if outermost {
                break;
            }
            let step = if signal {
                self.step_signal(arch, &regs)
            } else {
                self.step(arch, pc, lookup, &regs, frames.len() == 1)
            };
            match step {
                Step::Next {
                    pc: next,
                    regs: next_regs,
                    trust: t,
                    signal: from_signal,
                } => {
                    let next_sp = next_regs.get(&sp_reg(arch)).copied().unwrap_or(0);
                    if next == 0 {
                        break;
                    }
                    if next_sp <= sp && !signal && !(next_sp == sp && next != pc) {
                        stopped = Some(format!(
                            "the stack pointer did not move up at {pc:#x} (sp {sp:#x} → {next_sp:#x})"
                        ));
                        break;
                    }
                    if !signal && !from_signal {
                        self.push_erased_frames(&mut frames, lookup, next, next_sp);
                    }
                    pc = next;
                    regs = next_regs;
                    trust = t;
                    // After a signal frame the pc is where the signal hit, not a return address.
                    is_return = !from_signal;
                }
                Step::End => break,
                Step::Fail(why) => {
                    stopped = Some(why);
                    break;
                }
            }
        }
        Backtrace { frames, stopped }
    }

    /// Adds the frames of functions that tail-called their way from the caller (returning
    /// to `ret`) to the function holding `lookup`; see [`crate::tailcall`].
    fn push_erased_frames(&self, frames: &mut Vec<Frame>, lookup: u64, ret: u64, sp: u64) {
        let Some((callee_module, callee_loaded)) = self.symbolizer().loaded_at(lookup) else {
            return;
        };
        let Some((module, loaded)) = self.symbolizer().loaded_at(ret.wrapping_sub(1)) else {
            return;
        };
        let Some((entry, name)) =
            callee_loaded.function_at(callee_module.bias.to_module(ProcessAddr(lookup)))
        else {
            return;
        };
        let same_module = std::ptr::eq(module, callee_module);
        let callee = crate::tailcall::Callee {
            entry: same_module.then_some(entry.0),
            name: Some(name),
        };
        for site in loaded.erased_frames(module.bias.to_module(ProcessAddr(ret)), &callee) {
            let pc = module.bias.to_process(site).0;
            // One frame per tail call, named for the innermost function at the jump (gdb's
            // tail-call frames are not expanded into inlined frames either).
            let mut symbols = self.symbolizer().symbolize_frame(pc.wrapping_sub(1));
            symbols.truncate(1);
            if let Some(s) = symbols.first_mut() {
                s.inlined = false;
            }
            frames.push(Frame {
                pc,
                sp,
                trust: FrameTrust::TailCall,
                is_return_address: true,
                symbols,
                module: Some(module.path.clone()),
                signal_trampoline: false,
                frame_pointer: None,
            });
        }
    }

    /// Recognises the kernel's signal return trampoline by its instructions: glibc's
    /// x86-64 `__restore_rt` (`mov $15, %rax; syscall`, sysdeps/unix/sysv/linux/x86_64/
    /// libc_sigaction.c) and the arm64 vDSO's `__kernel_rt_sigreturn` (`mov x8, #139; svc #0`,
    /// linux arch/arm64/kernel/vdso/sigreturn.S).
    fn is_signal_trampoline(&self, pc: u64) -> bool {
        match self.arch() {
            Arch::X86_64 => {
                let mut code = [0u8; 9];
                self.read_exact(pc, &mut code)
                    && code == [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]
            }
            Arch::Aarch64 => {
                self.read_u32(pc) == Some(0xd280_1168)
                    && self.read_u32(pc.wrapping_add(4)) == Some(0xd400_0001)
            }
        }
    }

    /// Restores the registers the kernel saved in the signal frame at sp.
    ///
    /// x86-64: sp points at `struct ucontext` (the return address was popped), whose
    /// `uc_mcontext.gregs` start at offset 40 in the order r8…r15, rdi, rsi, rbp, rbx, rdx,
    /// rax, rcx, rsp, rip (glibc sysdeps/unix/sysv/linux/x86/sys/ucontext.h, REG_*).
    /// arm64: sp points at `struct rt_sigframe { siginfo (128 B); ucontext }`, and the
    /// ucontext's `uc_mcontext` (after uc_flags, uc_link, uc_stack, uc_sigmask and padding to
    /// 1024 bits of signal mask) is at 176, holding fault_address then regs[31], sp, pc
    /// (linux arch/arm64/kernel/signal.c, include/uapi/asm/{ucontext,sigcontext}.h).
    fn step_signal(&self, arch: Arch, regs: &Regs) -> Step {
        let sp = regs.get(&sp_reg(arch)).copied().unwrap_or(0);
        let mut out = Regs::new();
        match arch {
            Arch::X86_64 => {
                let base = sp.wrapping_add(40);
                // DWARF numbers in the order of gregs[0..17].
                const ORDER: [u16; 17] = [8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16];
                for (i, &reg) in ORDER.iter().enumerate() {
                    match self.read_u64(base.wrapping_add(8 * i as u64)) {
                        Some(v) => {
                            out.insert(reg, v);
                        }
                        None => {
                            return Step::Fail(format!(
                                "signal frame at {sp:#x} is not in the core"
                            ))
                        }
                    }
                }
                let pc = out.remove(&X86_RIP).unwrap_or(0);
                Step::Next {
                    pc,
                    regs: out,
                    trust: FrameTrust::Signal,
                    signal: true,
                }
            }
            Arch::Aarch64 => {
                let base = sp.wrapping_add(128 + 176 + 8);
                for i in 0..33u64 {
                    match self.read_u64(base.wrapping_add(8 * i)) {
                        Some(v) => {
                            out.insert(i as u16, v);
                        }
                        None => {
                            return Step::Fail(format!(
                                "signal frame at {sp:#x} is not in the core"
                            ))
                        }
                    }
                }
                let pc = out.remove(&32).unwrap_or(0);
                Step::Next {
                    pc,
                    regs: out,
                    trust: FrameTrust::Signal,
                    signal: true,
                }
            }
        }
    }

    fn step(&self, arch: Arch, pc: u64, lookup: u64, regs: &Regs, first: bool) -> Step {
        if let Some((module, loaded)) = self.symbolizer().loaded_at(lookup) {
            match self.step_cfi(arch, module, loaded, lookup, regs) {
                CfiResult::Step(s) => return s,
                CfiResult::NoCfi => {}
            }
        }
        // arm64 leaf functions keep the return address in lr and may not touch the stack.
        if first && arch == Arch::Aarch64 {
            if let Some(&lr) = regs.get(&A64_LR) {
                if lr != pc && self.symbolizer().module_at(lr).is_some() && lr != 0 {
                    let mut next = regs.clone();
                    next.remove(&A64_LR);
                    return Step::Next {
                        pc: lr,
                        regs: next,
                        trust: FrameTrust::FramePointer,
                        signal: false,
                    };
                }
            }
        }
        self.step_frame_pointer(arch, regs)
    }

    /// Follows the frame pointer: the saved frame pointer at [fp], the return address at
    /// [fp + 8], and the caller's sp at fp + 16 (both x86-64 and AAPCS64 frame records).
    fn step_frame_pointer(&self, arch: Arch, regs: &Regs) -> Step {
        let sp = regs.get(&sp_reg(arch)).copied().unwrap_or(0);
        let Some(&fp) = regs.get(&fp_reg(arch)) else {
            return Step::Fail("no CFI and no frame pointer".into());
        };
        if fp < sp || fp % 8 != 0 || fp == 0 {
            return Step::Fail(format!(
                "no CFI and the frame pointer {fp:#x} is not on the stack"
            ));
        }
        let (Some(saved_fp), Some(ra)) = (self.read_u64(fp), self.read_u64(fp.wrapping_add(8)))
        else {
            return Step::Fail(format!("frame record at {fp:#x} is not in the core"));
        };
        if ra == 0 {
            return Step::End;
        }
        let mut next = regs.clone();
        next.insert(fp_reg(arch), saved_fp);
        next.insert(sp_reg(arch), fp.wrapping_add(16));
        Step::Next {
            pc: ra,
            regs: next,
            trust: FrameTrust::FramePointer,
            signal: false,
        }
    }

    fn step_cfi(
        &self,
        arch: Arch,
        module: &Module,
        loaded: &Loaded,
        lookup: u64,
        regs: &Regs,
    ) -> CfiResult {
        match loaded.cfi.row(module.bias.to_module(ProcessAddr(lookup))) {
            Some(row) => CfiResult::Step(self.apply_row(arch, row, regs)),
            None => CfiResult::NoCfi,
        }
    }

    fn apply_row(&self, arch: Arch, row: Row, regs: &Regs) -> Step {
        let cfa = match row.cfa {
            Some((reg, off)) => match regs.get(&reg) {
                Some(v) => v.wrapping_add(off as u64),
                None => return Step::Fail(format!("CFA register {reg} is unknown")),
            },
            None => return self.step_frame_pointer(arch, regs),
        };
        let mut next = regs.clone();
        for (reg, rule) in &row.rules {
            match *rule {
                Rule::Undefined => {
                    next.remove(reg);
                }
                Rule::Offset(o) => match self.read_u64(cfa.wrapping_add(o as u64)) {
                    Some(v) => {
                        next.insert(*reg, v);
                    }
                    None => {
                        return Step::Fail(format!(
                            "saved register {reg} at {:#x} is not in the core",
                            cfa.wrapping_add(o as u64)
                        ))
                    }
                },
                Rule::ValOffset(o) => {
                    next.insert(*reg, cfa.wrapping_add(o as u64));
                }
                Rule::Register(r) => match regs.get(&r) {
                    Some(&v) => {
                        next.insert(*reg, v);
                    }
                    None => {
                        next.remove(reg);
                    }
                },
                Rule::Unsupported => {
                    next.remove(reg);
                }
            }
        }
        let pc = if row.rules.iter().any(|(r, _)| *r == row.ra) {
            next.get(&row.ra).copied()
        } else if arch == Arch::Aarch64 {
            // No rule for x30: a leaf that never saved it, so the caller's address is
            // still in the register; the caller's own x30 is then unknown.
            next.remove(&A64_LR)
        } else {
            // x86-64 CIEs always give the return address a rule; gimli reports an explicit
            // `DW_CFA_undefined rip` (`_start`, `clone3`) as no rule: the outermost frame.
            None
        };
        let Some(pc) = pc else {
            return Step::End;
        };
        next.insert(sp_reg(arch), cfa);
        if arch == Arch::X86_64 {
            next.remove(&X86_RIP);
        }
        Step::Next {
            pc,
            regs: next,
            trust: FrameTrust::Cfi,
            signal: false,
        }
    }
}

enum CfiResult {
    Step(Step),
    NoCfi,
}
