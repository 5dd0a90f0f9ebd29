//! The heap profile a jemalloc with `prof:true` keeps in memory, rebuilt from a core: the
//! same sampled backtraces and counts a `prof.dump` taken at that moment would write, for a
//! process that died before it could dump.
//!
//! jemalloc 5.3 keeps one `prof_gctx_t` per sampled backtrace in the global hash `bt2gctx`
//! (src/prof_data.c, a cuckoo hash, ckh.h), and under it one `prof_tctx_t` per thread with
//! that thread's counts, in a red-black tree (rb.h: the right pointer's low bit is the
//! colour). A dump (src/prof_data.c `prof_dump`) adds up the counts of each context's
//! threads — those whose thread data has not expired — and prints them unbiased
//! (`prof_do_unbias`, when `opt.prof_unbias`, the default). [`HeapProfile`] does the same
//! from the core and writes jemalloc's `heap_v2` text, which every heap-profile reader
//! (jeprof, heapmortem's `profile`) takes.

use std::collections::HashMap;
use std::fmt::Write as _;

use core_reader::{Memory, Target};

use super::discover::PREFIXES;
use super::layout::{BuiltIn, MissingMember, OffsetSource, Resolver};

/// Counts of a backtrace (or of the whole profile), as a dump prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProfCounts {
    /// Live sampled objects.
    pub curobjs: u64,
    /// Their bytes.
    pub curbytes: u64,
    /// Objects sampled since start (only with `opt.prof_accum`).
    pub accumobjs: u64,
    /// Their bytes.
    pub accumbytes: u64,
}

/// One sampled backtrace and its counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProfStack {
    /// Return addresses, innermost first (as the dump's `@` line lists them).
    pub frames: Vec<u64>,
    /// Its counts.
    pub counts: ProfCounts,
}

/// A heap profile rebuilt from memory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeapProfile {
    /// The sampling period (`2^lg_prof_sample` bytes).
    pub sample_period: u64,
    /// Counts of all backtraces together (the dump's header).
    pub total: ProfCounts,
    /// Backtraces with something to show (a dump leaves out those with no live objects, or
    /// with `prof_accum`, none ever).
    pub stacks: Vec<ProfStack>,
    /// What could not be read.
    pub problems: Vec<String>,
}

/// `ckh_t`, `ckhc_t` (ckh.h) and `prof_bt_s` (prof_structs.h) on x86_64: the same in
/// 5.1.0, 5.2.1 and 5.3.0, and on aarch64.
const CKH_AND_BT: &[(&str, &str, u64)] = &[
    ("ckh_t", "count", 8),
    ("ckh_t", "lg_curbuckets", 20),
    ("ckh_t", "tab", 40),
    ("ckhc_t", "key", 0),
    ("ckhc_t", "data", 8),
    ("prof_bt_s", "vec", 0),
    ("prof_bt_s", "len", 8),
];

/// Offsets of jemalloc 5.3.0's profiling structs on Linux x86_64 (include/jemalloc/internal/
/// prof_structs.h: `prof_bt_s`, `prof_cnt_s`, `prof_tctx_s`, `prof_gctx_s`,
/// `prof_tdata_s`; ckh.h: `ckh_t`, `ckhc_t`). The same on aarch64: no mutex inside (only
/// pointers to one), only LP64 members (`aarch64_tables_equal_the_builds_dwarf`,
/// tests/heap_jemalloc.rs, checks it against the aarch64 builds' DWARF).
pub const PROF_5_3_0_X86_64: BuiltIn = BuiltIn::new(
    "5.3.0",
    "Linux x86_64, prof",
    &[
        CKH_AND_BT,
        &[
            ("prof_cnt_s", "curobjs", 0),
            ("prof_cnt_s", "curobjs_shifted_unbiased", 8),
            ("prof_cnt_s", "curbytes", 16),
            ("prof_cnt_s", "curbytes_unbiased", 24),
            ("prof_cnt_s", "accumobjs", 32),
            ("prof_cnt_s", "accumobjs_shifted_unbiased", 40),
            ("prof_cnt_s", "accumbytes", 48),
            ("prof_cnt_s", "accumbytes_unbiased", 56),
            ("prof_tctx_s", "tdata", 0),
            ("prof_tctx_s", "cnts", 32),
            ("prof_tctx_s", "tctx_link", 112),
            ("prof_tctx_s", "state", 132),
            ("prof_gctx_s", "tctxs", 16),
            ("prof_gctx_s", "bt", 104),
            ("prof_tdata_s", "expired", 33),
        ],
    ],
    &[("ckhc_t", 16)],
);

/// Offsets of jemalloc 5.1.0's and 5.2.1's profiling structs on Linux x86_64 (the same in
/// both: include/jemalloc/internal/prof_structs.h, ckh.h): `prof_cnt_s` has no unbiased
/// counters yet (`curobjs`, `curbytes`, `accumobjs`, `accumbytes`); `prof_tctx_s` is
/// `tdata`, `thr_uid`, `thr_discrim`, `cnts`, `gctx`, `tctx_uid`, `tctx_link`, `prepared`,
/// `state`; `prof_gctx_s` is `lock`, `nlimbo`, `tctxs`, `dump_link`, `cnt_summed`, `bt`.
/// The same on aarch64, as for 5.3.0.
pub const PROF_5_1_0_X86_64: BuiltIn = BuiltIn::new(
    "5.1.0 / 5.2.1",
    "Linux x86_64, prof",
    &[
        CKH_AND_BT,
        &[
            ("prof_cnt_s", "curobjs", 0),
            ("prof_cnt_s", "curbytes", 8),
            ("prof_cnt_s", "accumobjs", 16),
            ("prof_cnt_s", "accumbytes", 24),
            ("prof_tctx_s", "tdata", 0),
            ("prof_tctx_s", "cnts", 24),
            ("prof_tctx_s", "tctx_link", 72),
            ("prof_tctx_s", "state", 92),
            ("prof_gctx_s", "tctxs", 16),
            ("prof_gctx_s", "bt", 72),
            ("prof_tdata_s", "expired", 33),
        ],
    ],
    &[("ckhc_t", 16)],
);

/// `LG_CKH_BUCKET_CELLS` (ckh.h): `LG_CACHELINE - LG_SIZEOF_PTR - 1` = 2 on x86_64 and
/// aarch64 (jemalloc_internal_types.h: `LG_CACHELINE` 6 on every platform).
const LG_BUCKET_CELLS: u32 = 2;
/// `SC_LG_TINY_MIN` (sc.h): the shift of `*_shifted_unbiased` object counts.
const LG_TINY_MIN: u32 = 3;
/// `prof_tctx_state_nominal` (prof_structs.h).
const TCTX_NOMINAL: u32 = 1;
const MAX_NODES: usize = 1 << 22;
const MAX_FRAMES: u64 = 1024;

struct ProfLayout {
    ckh_count: u64,
    ckh_lg_curbuckets: u64,
    ckh_tab: u64,
    cell_key: u64,
    cell_data: u64,
    cell_size: u64,
    bt_vec: u64,
    bt_len: u64,
    /// `prof_cnt_s`: the four counters, each followed by its unbiased twin (5.3; absent
    /// before).
    cnt: [Option<u64>; 8],
    tctx_tdata: u64,
    tctx_cnts: u64,
    tctx_link: u64,
    tctx_state: u64,
    gctx_tctxs: u64,
    gctx_bt: u64,
    tdata_expired: u64,
}

impl ProfLayout {
    fn resolve(src: &dyn OffsetSource) -> Result<ProfLayout, MissingMember> {
        let r = Resolver { src };
        let p = |s: &str, m: &str| r.path(&[(s, m)]);
        let c = |m: &str| p("prof_cnt_s", m);
        Ok(ProfLayout {
            ckh_count: p("ckh_t", "count")?,
            ckh_lg_curbuckets: p("ckh_t", "lg_curbuckets")?,
            ckh_tab: p("ckh_t", "tab")?,
            cell_key: p("ckhc_t", "key")?,
            cell_data: p("ckhc_t", "data")?,
            cell_size: r.size("ckhc_t")?,
            bt_vec: p("prof_bt_s", "vec")?,
            bt_len: p("prof_bt_s", "len")?,
            cnt: [
                Some(c("curobjs")?),
                c("curobjs_shifted_unbiased").ok(),
                Some(c("curbytes")?),
                c("curbytes_unbiased").ok(),
                Some(c("accumobjs")?),
                c("accumobjs_shifted_unbiased").ok(),
                Some(c("accumbytes")?),
                c("accumbytes_unbiased").ok(),
            ],
            tctx_tdata: p("prof_tctx_s", "tdata")?,
            tctx_cnts: p("prof_tctx_s", "cnts")?,
            tctx_link: p("prof_tctx_s", "tctx_link")?,
            tctx_state: p("prof_tctx_s", "state")?,
            gctx_tctxs: p("prof_gctx_s", "tctxs")?,
            gctx_bt: p("prof_gctx_s", "bt")?,
            tdata_expired: p("prof_tdata_s", "expired")?,
        })
    }
}

/// Raw `prof_cnt_t` sums: the eight counters, before unbiasing.
#[derive(Debug, Clone, Copy, Default)]
struct RawCounts([u64; 8]);

impl RawCounts {
    fn add(&mut self, o: &RawCounts, accum: bool) {
        for i in 0..4 {
            self.0[i] = self.0[i].wrapping_add(o.0[i]);
        }
        if accum {
            for i in 4..8 {
                self.0[i] = self.0[i].wrapping_add(o.0[i]);
            }
        }
    }

    /// As `prof_dump_print_cnts` prints them.
    fn printed(&self, unbias: bool, lg_sample: u32) -> ProfCounts {
        if !unbias {
            return ProfCounts {
                curobjs: self.0[0],
                curbytes: self.0[2],
                accumobjs: self.0[4],
                accumbytes: self.0[6],
            };
        }
        let (curobjs, curbytes) = unbias_pair(self.0[1], self.0[3], lg_sample);
        let (accumobjs, accumbytes) = unbias_pair(self.0[5], self.0[7], lg_sample);
        ProfCounts {
            curobjs,
            curbytes,
            accumobjs,
            accumbytes,
        }
    }
}

/// jemalloc 5.3.0 src/prof_data.c `prof_do_unbias`: the counts a sample of `s_out` bytes in
/// `c_out` objects (the object count kept shifted by `SC_LG_TINY_MIN`) stands for, with
/// sampling period `R = 2^lg_prof_sample`: `x = s/c`, `y = s (1 - e^(-x/R))`, objects `y/x`,
/// bytes `y`, each rounded (`prof_double_uint64_cast`).
fn unbias_pair(c_shifted: u64, s: u64, lg_sample: u32) -> (u64, u64) {
    if c_shifted == 0 || s == 0 {
        return (0, 0);
    }
    let c_out = c_shifted as f64 / (1u64 << LG_TINY_MIN) as f64;
    let s_out = s as f64;
    let r = (1u64 << lg_sample.min(63)) as f64;
    let x = s_out / c_out;
    let y = s_out * (1.0 - (-x / r).exp());
    (cast(y / x), cast(y))
}

/// What a jemalloc 5.3 dump prints (objects, bytes) for `n` sampled allocations of usable
/// size `size` with `opt.prof_unbias` on: each sample adds `prof_shifted_unbiased_cnt` and
/// `prof_unbiased_sz` of its size class to the counters (5.3.0 src/prof_data.c
/// `prof_unbias_map_init`: `2^SC_LG_TINY_MIN / d` and `size / d`, `d = 1 - e^(-size/R)`,
/// each rounded), which the dump prints through `prof_do_unbias`.
pub(crate) fn unbiased_printed(n: u64, size: u64, lg_sample: u32) -> (u64, u64) {
    let r = (1u64 << lg_sample.min(63)) as f64;
    let d = 1.0 - (-(size as f64) / r).exp();
    if d <= 0.0 {
        return (n, n.saturating_mul(size));
    }
    let shifted = ((1u64 << LG_TINY_MIN) as f64 / d).round() as u64;
    let unbiased_size = (size as f64 / d).round() as u64;
    unbias_pair(
        n.saturating_mul(shifted),
        n.saturating_mul(unbiased_size),
        lg_sample,
    )
}

/// `prof_double_uint64_cast`: rounded, saturating (NaN saturates too).
fn cast(d: f64) -> u64 {
    let rounded = d.round();
    // jemalloc writes `!(rounded < UINT64_MAX)` so that NaN saturates as well.
    if rounded.is_nan() || rounded >= u64::MAX as f64 {
        return u64::MAX;
    }
    rounded as u64
}

/// What reading jemalloc's profiling tables needs: where they are, their layout, and the
/// options they were kept with.
struct ProfTables {
    layout: ProfLayout,
    bt2gctx: u64,
    lg_sample: u32,
    unbias: bool,
    accum: bool,
}

impl ProfTables {
    /// Finds the tables of a jemalloc 5.x that ran with `prof:true`; `Ok(None)` when
    /// profiling was off, or nothing says it was on (no `bt2gctx` symbol: a stripped
    /// library, or a jemalloc built without `--enable-prof`).
    fn find(target: &dyn Target) -> Result<Option<ProfTables>, super::Error> {
        let sym = |name: &str| {
            PREFIXES
                .iter()
                .find_map(|p| target.find_symbol(&format!("{p}{name}")))
        };
        let Some(bt2gctx) = target.find_symbol("bt2gctx") else {
            return Ok(None);
        };
        let flag = |name: &str| {
            sym(name).and_then(|a| {
                let mut b = [0u8];
                target.read_exact(a, &mut b).then_some(b[0] != 0)
            })
        };
        if flag("opt_prof") != Some(true) {
            return Ok(None);
        }
        let lg_sample = sym("lg_prof_sample")
            .and_then(|a| target.read_u64(a))
            .ok_or_else(|| no_profile("lg_prof_sample unreadable"))? as u32;
        // opt_prof_unbias came with 5.3.0 (src/jemalloc.c), on by default; before it, dumps
        // printed the counts as sampled.
        let unbias = flag("opt_prof_unbias");
        let builtin = if unbias.is_some() {
            &PROF_5_3_0_X86_64
        } else {
            &PROF_5_1_0_X86_64
        };
        let dwarf = super::layout::Dwarf { target };
        let layout = ProfLayout::resolve(&dwarf)
            .or_else(|_| ProfLayout::resolve(builtin))
            .map_err(|m| no_profile(&m.0))?;
        let unbias = unbias.unwrap_or(false) && layout.cnt[1].is_some();
        Ok(Some(ProfTables {
            layout,
            bt2gctx,
            lg_sample,
            unbias,
            accum: flag("opt_prof_accum").unwrap_or(false),
        }))
    }
}

fn no_profile(what: &str) -> super::Error {
    super::Error::NoSymbols(format!(
        "no jemalloc heap profile in this core: {what} (profiling needs a jemalloc \
         built with --enable-prof and run with MALLOC_CONF=prof:true)"
    ))
}

/// Rebuilds the in-memory heap profile of a jemalloc 5.x that ran with `prof:true`.
pub fn profile(target: &dyn Target) -> Result<HeapProfile, super::Error> {
    if target.find_symbol("bt2gctx").is_none() {
        return Err(no_profile("the symbol bt2gctx was not found"));
    }
    let t = ProfTables::find(target)?.ok_or_else(|| no_profile("opt.prof is off"))?;
    let mut problems = Vec::new();
    let contexts = read_contexts(target, &t.layout, t.bt2gctx, t.accum, &mut problems);
    let mut total = RawCounts::default();
    let mut stacks = Vec::new();
    for c in contexts.contexts {
        total.add(&c.sum, t.accum);
        let shown = if t.accum {
            c.sum.0[4] != 0
        } else {
            c.sum.0[0] != 0
        };
        if shown {
            stacks.push(ProfStack {
                frames: c.frames,
                counts: c.sum.printed(t.unbias, t.lg_sample),
            });
        }
    }
    Ok(HeapProfile {
        sample_period: 1u64 << t.lg_sample.min(63),
        total: total.printed(t.unbias, t.lg_sample),
        stacks,
        problems,
    })
}

/// `AT_EXECFN` (elf.h): the address of the executable's name, the last string the kernel
/// puts on the initial stack, right after the environment strings (fs/binfmt_elf.c
/// `create_elf_tables`).
const AT_EXECFN: u64 = 31;
/// How far below `AT_EXECFN` the environment is searched.
const MAX_ENV_BYTES: u64 = 256 << 10;

/// The value of the process's `MALLOC_CONF` (any prefix: `_RJEM_MALLOC_CONF`), from the
/// environment strings its core keeps on the initial stack.
fn malloc_conf(target: &dyn Target) -> Option<String> {
    let execfn = target.auxv_value(AT_EXECFN)?;
    let stack = target
        .mappings()
        .iter()
        .find(|m| m.start <= execfn && execfn < m.end)?;
    let start = stack.start.max(execfn.saturating_sub(MAX_ENV_BYTES));
    let bytes = target.bytes_at(start);
    let bytes = &bytes[..bytes.len().min((execfn - start) as usize)];
    bytes.split(|&b| b == 0).rev().find_map(|var| {
        let var = std::str::from_utf8(var).ok()?;
        let (name, value) = var.split_once('=')?;
        name.ends_with("MALLOC_CONF").then(|| value.to_string())
    })
}

/// Why the allocation sites of a process whose `MALLOC_CONF` asked for `prof:true` cannot
/// be read, when that is so: its jemalloc has no symbols to find the profiler's tables by
/// (Debian's libjemalloc.so.2 is stripped; its heap is recognized by contents, but
/// `bt2gctx` is a static ckh_t like others), or it was built without `--enable-prof`.
pub(crate) fn sites_unavailable(target: &dyn Target) -> Option<String> {
    if target.find_symbol("bt2gctx").is_some() {
        return None;
    }
    let conf = malloc_conf(target)?;
    if !conf.split(',').any(|o| o == "prof:true") {
        return None;
    }
    let symbols = PREFIXES
        .iter()
        .any(|p| target.find_symbol(&format!("{p}arenas")).is_some());
    if symbols {
        return Some(format!(
            "allocation sites not read: MALLOC_CONF={conf} asks for prof:true, but this \
             jemalloc has no profiler (bt2gctx): it was built without --enable-prof"
        ));
    }
    let lib = target
        .modules()
        .into_iter()
        .find(|m| m.name().starts_with("libjemalloc"))
        .map_or_else(|| "jemalloc".to_string(), |m| m.path.clone());
    Some(format!(
        "allocation sites not read: MALLOC_CONF={conf} asks for prof:true, but {lib} has no \
         symbols, and its profiler's tables (bt2gctx, lg_prof_sample) are found by name; \
         give its debug file (Debian: libjemalloc2-dbgsym, or --debug-dir)"
    ))
}

/// The site of every sampled live allocation of a jemalloc 5.x that ran with `prof:true`
/// (`Ok(None)` when profiling was off or cannot be told to be on), from a walk made with
/// [`super::Options::allocations`].
///
/// Where jemalloc keeps it: a sampled allocation is always a large extent — jemalloc 5.x
/// promotes a sampled small request to the smallest large size class (5.3.0 src/jemalloc.c
/// `imalloc_sample`, `arena_prof_promote`; 5.1/5.2 the same), since a slab region has no room
/// for it — whose extent header points to the allocation's `prof_tctx_t` (5.3.0 edata.h
/// `e_prof_info.e_prof_tctx`; 5.1.0 / 5.2.1 extent_structs.h `extent_s.e_prof_tctx`;
/// [`super::Heap::large_tctx`]), whose `gctx` holds the backtrace. Unsampled large extents
/// hold `(prof_tctx_t *)1` there. A pointer is believed only if it is one of the thread
/// contexts found under `bt2gctx`.
pub fn allocation_sites(
    target: &dyn Target,
    heap: &super::Heap,
) -> Result<Option<crate::Sites>, super::Error> {
    let Some(t) = ProfTables::find(target)? else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    let contexts = read_contexts(target, &t.layout, t.bt2gctx, t.accum, &mut problems);
    let mut by_address = Vec::new();
    for &(address, slot) in &heap.large_tctx {
        let Some(tctx) = target.read_u64(slot) else {
            continue;
        };
        if let Some(&i) = contexts.tctx.get(&tctx) {
            by_address.push((address, i));
        }
    }
    Ok(Some(crate::Sites::new(
        1u64 << t.lg_sample.min(63),
        t.unbias,
        contexts.contexts.into_iter().map(|c| c.frames).collect(),
        by_address,
        problems,
    )))
}

/// One sampled backtrace (`prof_gctx_t`) and the counts a dump adds up for it.
struct Context {
    frames: Vec<u64>,
    sum: RawCounts,
}

/// Every backtrace in `bt2gctx`, and every thread context under them.
struct Contexts {
    contexts: Vec<Context>,
    /// Each `prof_tctx_t` found, with the index of its backtrace in `contexts`.
    tctx: HashMap<u64, u32>,
}

fn read_contexts(
    mem: &dyn Memory,
    l: &ProfLayout,
    bt2gctx: u64,
    accum: bool,
    problems: &mut Vec<String>,
) -> Contexts {
    let mut out = Contexts {
        contexts: Vec::new(),
        tctx: HashMap::new(),
    };
    let lg = mem
        .read_u32(bt2gctx.wrapping_add(l.ckh_lg_curbuckets))
        .unwrap_or(0)
        .min(30);
    let tab = mem.read_u64(bt2gctx.wrapping_add(l.ckh_tab)).unwrap_or(0);
    let count = mem.read_u64(bt2gctx.wrapping_add(l.ckh_count)).unwrap_or(0);
    // Bounded by the table's readable bytes too: a hostile lg_curbuckets over a run of
    // zeroes would otherwise be 2^33 empty cells.
    let readable = mem.bytes_at(tab).len() as u64 / l.cell_size.max(1);
    let cells = (1u64 << (lg + LG_BUCKET_CELLS)).min(readable.max(1));
    let mut found = 0u64;
    for i in 0..cells {
        let cell = tab.wrapping_add(i * l.cell_size);
        let (Some(key), Some(gctx)) = (
            mem.read_u64(cell.wrapping_add(l.cell_key)),
            mem.read_u64(cell.wrapping_add(l.cell_data)),
        ) else {
            problems.push(format!("bt2gctx's table at {tab:#x} unreadable"));
            break;
        };
        if key == 0 {
            continue;
        }
        found += 1;
        // The key is the context's own backtrace (prof_data.c `prof_gctx_create`).
        if key != gctx.wrapping_add(l.gctx_bt) {
            problems.push(format!(
                "bt2gctx cell at {cell:#x}: key {key:#x} is not its context's backtrace"
            ));
            continue;
        }
        let len = mem
            .read_u32(key.wrapping_add(l.bt_len))
            .map_or(0, u64::from);
        let vec = mem.read_u64(key.wrapping_add(l.bt_vec)).unwrap_or(0);
        let frames: Vec<u64> = (0..len.min(MAX_FRAMES))
            .filter_map(|k| mem.read_u64(vec.wrapping_add(8 * k)))
            .collect();
        if frames.len() as u64 != len {
            problems.push(format!("backtrace at {key:#x} unreadable"));
            continue;
        }
        let index = out.contexts.len() as u32;
        let root = mem.read_u64(gctx.wrapping_add(l.gctx_tctxs)).unwrap_or(0);
        let mut sum = RawCounts::default();
        for tctx in rb_nodes(mem, root, l.tctx_link, problems) {
            if out.tctx.len() < MAX_NODES {
                out.tctx.insert(tctx, index);
            }
            // Counted by a dump: contexts in use whose thread data has not expired.
            if mem.read_u32(tctx.wrapping_add(l.tctx_state)) != Some(TCTX_NOMINAL) {
                continue;
            }
            let tdata = mem.read_u64(tctx.wrapping_add(l.tctx_tdata)).unwrap_or(0);
            let mut b = [0u8];
            if tdata == 0
                || !mem.read_exact(tdata.wrapping_add(l.tdata_expired), &mut b)
                || b[0] != 0
            {
                continue;
            }
            let mut raw = RawCounts::default();
            for (k, off) in l.cnt.iter().enumerate() {
                let Some(off) = off else { continue };
                raw.0[k] = mem
                    .read_u64(tctx.wrapping_add(l.tctx_cnts + off))
                    .unwrap_or(0);
            }
            sum.add(&raw, accum);
        }
        out.contexts.push(Context { frames, sum });
    }
    if found != count {
        problems.push(format!(
            "bt2gctx says it holds {count} backtraces, {found} were found"
        ));
    }
    out
}

/// The nodes of a jemalloc red-black tree (rb.h: `rbn_left`, then `rbn_right_red` whose
/// low bit is the colour), bounded.
fn rb_nodes(mem: &dyn Memory, root: u64, link: u64, problems: &mut Vec<String>) -> Vec<u64> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n == 0 {
            continue;
        }
        if out.len() >= MAX_NODES {
            problems.push(format!(
                "a tree of more than {MAX_NODES} nodes: stopped (a loop?)"
            ));
            break;
        }
        out.push(n);
        let left = mem.read_u64(n.wrapping_add(link)).unwrap_or(0);
        let right = mem.read_u64(n.wrapping_add(link + 8)).unwrap_or(0) & !1;
        stack.push(right);
        stack.push(left);
    }
    out
}

impl HeapProfile {
    /// jemalloc's `heap_v2` text, as `prof.dump` writes it (src/prof_data.c
    /// `prof_dump_header`, `prof_dump_gctx`, `prof_dump_maps`), with `maps` (the process's
    /// mappings in /proc/PID/maps form) after `MAPPED_LIBRARIES:`. Per-thread lines are
    /// left out: readers use the `t*` totals.
    pub fn to_heap_v2(&self, maps: &str) -> String {
        let mut s = String::new();
        let cnts = |c: &ProfCounts| {
            format!(
                "{}: {} [{}: {}]",
                c.curobjs, c.curbytes, c.accumobjs, c.accumbytes
            )
        };
        let _ = writeln!(s, "heap_v2/{}", self.sample_period);
        let _ = writeln!(s, "  t*: {}", cnts(&self.total));
        for st in &self.stacks {
            s.push('@');
            for f in &st.frames {
                let _ = write!(s, " {f:#x}");
            }
            let _ = writeln!(s, "\n  t*: {}", cnts(&st.counts));
        }
        s.push_str("\nMAPPED_LIBRARIES:\n");
        s.push_str(maps);
        s
    }

    /// The process's file mappings in /proc/PID/maps form, for [`HeapProfile::to_heap_v2`].
    pub fn maps_of(target: &dyn Target) -> String {
        let mut s = String::new();
        for m in target.mappings() {
            let Some(path) = &m.path else { continue };
            let mut perms: String = m.perms.chars().take(3).collect();
            while perms.len() < 3 {
                perms.push('-');
            }
            let _ = writeln!(
                s,
                "{:08x}-{:08x} {perms}p {:08x} 00:00 0 {path}",
                m.start, m.end, m.offset
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbias_matches_jemalloc_for_full_sampling() {
        // lg_prof_sample 0: every allocation sampled; 3 objects of 100 bytes.
        let (c, s) = unbias_pair(3 << LG_TINY_MIN, 300, 0);
        assert_eq!((c, s), (3, 300));
        assert_eq!(unbias_pair(0, 10, 19), (0, 0));
    }

    #[test]
    fn unbiased_counts_print_back_as_sampled() {
        // 23 samples of 4096 bytes at 512 KiB: jemalloc 5.3.0 printed `23: 94209` for them
        // (tests/fixtures/leaks/sites.c's prof.dump).
        assert_eq!(unbiased_printed(23, 4096, 19), (23, 94209));
        assert_eq!(unbiased_printed(5, 160, 0), (5, 800));
    }
}
