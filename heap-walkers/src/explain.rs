//! `heapmortem explain`: what the allocation at an address is, who points into it, and one
//! shortest chain of pointers from a root that keeps it alive.

use std::cell::RefCell;
use std::io::{self, Write};

use core_reader::{hex, Target};
use serde::Serialize;

use crate::leaks::{RootKind, Roots};
use crate::model::{Allocation, AllocationState, Allocations};
use crate::refs::{Anchors, Chain, References, Via};
use crate::scan::Bits;
use crate::sites::{Site, Sites};
use crate::types::{TypeKind, Types};

/// Referrers listed at most (the count is always given).
const MAX_INCOMING: usize = 64;

/// Why an address has no explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unexplained {
    /// The core holds no byte at the address.
    #[error("{address:#x} is not in the core: no mapping of the process holds it")]
    NotInCore {
        /// The address asked about.
        address: u64,
    },
    /// Memory, but not part of any allocation.
    #[error("{address:#x} is not in any allocation ({what})")]
    NotAllocated {
        /// The address asked about.
        address: u64,
        /// What holds it instead (`the mapping of /usr/lib/libc.so.6`, …).
        what: String,
    },
    /// Inside a chunk (region) the allocator holds as free.
    #[error(
        "{address:#x} is in a {state} block of {size} bytes at {start:#x}: the program freed it"
    )]
    Free {
        /// The address asked about.
        address: u64,
        /// The free block's start.
        start: u64,
        /// Its usable size.
        size: u64,
        /// `free`, `tcache`, `fastbin`.
        state: &'static str,
    },
}

/// One allocation as `explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// Its start: the pointer the program got.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// Usable bytes.
    pub size: u64,
    /// `used`, …
    pub state: AllocationState,
    /// Its type, when recognized.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// `vtable`, `pattern` or `unknown`.
    pub type_kind: TypeKind,
}

/// A pointer into the allocation, from another one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incoming {
    /// Where the pointer is.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// Its offset inside the allocation holding it.
    pub offset: u64,
    /// The holder's start.
    #[serde(serialize_with = "hex::serialize")]
    pub holder: u64,
    /// The holder's type, when recognized.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Whether it points at the allocation's start (rather than into its middle).
    pub exact: bool,
}

/// One link of an anchor chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// `register`, `stack`, `static`, `tls`, `other` for the root; `allocation` after it.
    pub kind: &'static str,
    /// The root word's address, or the allocation's start.
    #[serde(serialize_with = "hex::serialize_opt")]
    pub address: Option<u64>,
    /// For an allocation: the offset of the pointer it holds to the next link (`null` for
    /// the last, the allocation explained).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// For an allocation: its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// For an allocation: its type, when recognized.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// For a stack or register root: the thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<u64>,
    /// For a stack root: the function whose frame holds the pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// For a stack root: the variable (or parameter) of that function whose slot holds the
    /// pointer, where DWARF says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// For a static root: `module!symbol+offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

/// The answer of `heapmortem explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The address asked about.
    #[serde(serialize_with = "hex::serialize")]
    pub address: u64,
    /// The allocation holding it.
    pub allocation: Block,
    /// How many pointers into it other allocations hold.
    pub incoming_count: usize,
    /// Those pointers (the first [`MAX_INCOMING`]).
    pub incoming: Vec<Incoming>,
    /// Whether a root reaches it through pointers to starts (false: leaked, in valgrind's
    /// sense).
    pub anchored: bool,
    /// With `anchored` false: whether a chain exists when pointers into the middle of
    /// allocations count (valgrind's "possibly lost").
    pub possibly_anchored: bool,
    /// One shortest chain from a root: the root first, then each allocation on the way.
    pub anchor_chain: Vec<Link>,
    /// Where it was allocated, when the allocator sampled it (jemalloc `prof:true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
}

/// Answers `explain` for any address of one process: the held allocations, their types and
/// their anchors, built once; the pointers into an allocation are looked for when it is
/// asked about.
pub struct Explainer<'a> {
    target: &'a dyn Target,
    /// The allocations the walk listed that the program does not hold (free, glibc's top
    /// chunk, the allocator's own), by address: what an address in no held allocation is
    /// in. Those the program holds are the blocks of `refs`; the walk's table is not kept.
    others: Vec<Allocation>,
    refs: References,
    types: Types,
    /// Which allocations a root reaches through pointers to their starts, a bit each.
    anchored: Bits,
    /// The anchors last walked: through pointers to starts, or through any pointer (walked
    /// only when an allocation the first do not reach is asked about), each walked again
    /// when the other is asked for. One at a time: each takes 4 bytes an allocation.
    anchors: RefCell<Option<Anchors>>,
    roots: &'a Roots,
    sites: Option<&'a Sites>,
}

impl<'a> Explainer<'a> {
    /// Builds the types and anchors of the allocations the program holds (`allocations`:
    /// every one the walker listed, free ones too; the table is freed as they are taken
    /// from it) and walks them from `roots`.
    pub fn new(target: &'a dyn Target, allocations: Allocations, roots: &'a Roots) -> Self {
        let others = others(&allocations);
        let refs = References::new(crate::leaks::take_blocks(allocations));
        // The walk from the roots reads one allocation after another on one thread: the
        // types are named on the others meanwhile.
        let (types, anchors) = rayon::join(
            || Types::infer_in(target, refs.blocks(), refs.directory()),
            || Anchors::build(target, &refs, roots, false),
        );
        let anchored = Bits::where_true(refs.blocks().len(), |i| anchors.reaches(i));
        Explainer {
            target,
            others,
            refs,
            types,
            anchored,
            anchors: RefCell::new(Some(anchors)),
            roots,
            sites: None,
        }
    }

    /// Names the site of an explained allocation from `sites`, where it was sampled.
    pub fn with_sites(mut self, sites: Option<&'a Sites>) -> Self {
        self.sites = sites;
        self
    }

    /// Explains `address`.
    pub fn explain(&self, address: u64) -> Result<Explanation, Unexplained> {
        let Some(i) = self.refs.block_at(address) else {
            return Err(self.unexplained(address));
        };
        let block = self.refs.blocks()[i];
        let state = self
            .containing(block.address)
            .map_or(AllocationState::Used, |a| a.state);
        let type_of = |j: usize| self.types.of(j).map(|t| t.name.clone());
        let (incoming_count, edges) = self.refs.incoming(self.target, i, MAX_INCOMING);
        let incoming: Vec<Incoming> = edges
            .iter()
            .map(|e| {
                let holder = self.refs.blocks()[e.other as usize].address;
                Incoming {
                    address: holder + u64::from(e.offset),
                    offset: u64::from(e.offset),
                    holder,
                    type_name: type_of(e.other as usize),
                    exact: e.exact,
                }
            })
            .collect();
        let anchored = self.anchored.get(i);
        let chain = if !anchored && incoming_count == 0 {
            // Nothing points into it: only a root can reach it, and the walk through any
            // pointer would take the first root word pointing into it.
            Anchors::root_of(self.target, &self.refs, self.roots, true, i).map(|root| Chain {
                root,
                links: vec![(i, None)],
            })
        } else {
            self.chain(i, !anchored)
        };
        let possibly_anchored = !anchored && chain.is_some();
        let mut links = Vec::new();
        if let Some(chain) = chain {
            links.reserve(chain.links.len() + 1);
            links.push(self.root_link(chain.root));
            for (j, offset) in chain.links {
                let b = self.refs.blocks()[j];
                links.push(Link {
                    kind: "allocation",
                    address: Some(b.address),
                    // The pointer this allocation holds to the next one.
                    offset: offset.map(u64::from),
                    size: Some(b.size),
                    type_name: type_of(j),
                    thread: None,
                    frame: None,
                    variable: None,
                    symbol: None,
                });
            }
        }
        Ok(Explanation {
            address,
            allocation: Block {
                address: block.address,
                size: block.size,
                state,
                type_name: type_of(i),
                type_kind: self.types.of(i).map_or(TypeKind::Unknown, |t| t.kind),
            },
            incoming_count,
            incoming,
            anchored,
            possibly_anchored,
            anchor_chain: links,
            site: self.sites.and_then(|s| s.site_of(block.address)).cloned(),
        })
    }

    /// The chain to allocation `i` in the anchors through any pointer (`interior`) or
    /// through pointers to starts, walked first if they are not the last walked.
    fn chain(&self, i: usize, interior: bool) -> Option<Chain> {
        let mut anchors = self.anchors.borrow_mut();
        if anchors.as_ref().is_none_or(|a| a.interior() != interior) {
            // The other walk's table is freed before this one's is made.
            *anchors = None;
            *anchors = Some(Anchors::build(
                self.target,
                &self.refs,
                self.roots,
                interior,
            ));
        }
        anchors.as_ref()?.chain(self.target, &self.refs, i)
    }

    /// What [`Allocations::containing`] finds in the walk's table, where it is an
    /// allocation the program does not hold; `None` where it is one it holds, or none.
    fn containing(&self, address: u64) -> Option<&Allocation> {
        let k = self.others.partition_point(|a| a.address <= address);
        let a = self.others.get(k.checked_sub(1)?)?;
        // The table's search takes the last allocation starting at or below the address: a
        // held one past `a` is it.
        let blocks = self.refs.blocks();
        let (held, _) = self.refs.directory().count_and_start(blocks, address);
        if held
            .checked_sub(1)
            .is_some_and(|h| blocks[h].address > a.address)
        {
            return None;
        }
        (address < a.end() || address == a.address).then_some(a)
    }

    fn unexplained(&self, address: u64) -> Unexplained {
        if let Some(a) = self.containing(address) {
            if a.state != AllocationState::Used || a.is_top() {
                return free(address, a);
            }
        }
        if self.target.bytes_at(address).is_empty() {
            return Unexplained::NotInCore { address };
        }
        let what = self
            .target
            .mappings()
            .iter()
            .find(|m| m.start <= address && address < m.end)
            .map_or_else(
                || "memory of no mapping".to_string(),
                |m| match &m.path {
                    Some(p) => format!("the mapping of {p}"),
                    None => format!("an anonymous mapping {:#x}-{:#x}", m.start, m.end),
                },
            );
        Unexplained::NotAllocated { address, what }
    }

    fn root_link(&self, via: Via) -> Link {
        let mut link = Link {
            kind: "other",
            address: None,
            offset: None,
            size: None,
            type_name: None,
            thread: None,
            frame: None,
            variable: None,
            symbol: None,
        };
        match via {
            Via::Register { value } => {
                link.kind = "register";
                link.thread = self
                    .target
                    .threads()
                    .iter()
                    .find(|t| t.registers.iter().any(|(_, v)| v == value))
                    .map(|t| t.tid);
            }
            Via::Root { address, kind } => {
                link.address = Some(address);
                match kind {
                    RootKind::Stack => {
                        link.kind = "stack";
                        if let Some(slot) = self.target.stack_frame(address) {
                            link.thread = Some(slot.tid);
                            link.frame = slot.function;
                            link.variable = slot.variable;
                        }
                    }
                    RootKind::Static => {
                        link.symbol = self.target.data_symbol(address);
                        link.kind = if link.symbol.is_some() {
                            "static"
                        } else if self.target.is_thread_local(address) {
                            "tls"
                        } else {
                            "other"
                        };
                    }
                }
            }
            Via::Block { .. } | Via::Unreached => {}
        }
        link
    }
}

/// The allocations of `allocations` the program does not hold, but for those a held one
/// hides: of allocations sharing a start, [`Allocations::containing`] finds the last in
/// the table.
fn others(allocations: &Allocations) -> Vec<Allocation> {
    let mut others: Vec<Allocation> = Vec::new();
    for a in allocations {
        if others.last().is_some_and(|o| o.address == a.address) {
            others.pop();
        }
        if !a.is_held() {
            others.push(*a);
        }
    }
    others
}

fn free(address: u64, a: &Allocation) -> Unexplained {
    Unexplained::Free {
        address,
        start: a.address,
        size: a.size,
        state: a.state.name(),
    }
}

impl Explanation {
    /// The JSON document (keys in DESIGN.md).
    pub fn write_json(&self, w: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self).map_err(io::Error::other)?;
        writeln!(w)
    }

    /// The terminal view.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        let a = &self.allocation;
        let at = match self.address - a.address {
            0 => "the start of".to_string(),
            1 => "1 byte into".to_string(),
            n => format!("{n} bytes into"),
        };
        writeln!(
            w,
            "{:#x} is {at} a {} allocation of {} bytes at {:#x}{}",
            self.address,
            a.state.name(),
            a.size,
            a.address,
            a.type_name
                .as_ref()
                .map(|t| format!(": {t}"))
                .unwrap_or_default()
        )?;
        if let Some(site) = &self.site {
            writeln!(w, "\nallocated in {}", site.describe())?;
            // The frames after the one named above.
            let named = site.frames.iter().position(|f| f.function.is_some());
            for f in site.frames.iter().skip(named.map_or(0, |i| i + 1)) {
                writeln!(w, "  called from {}", f.describe())?;
            }
        }
        writeln!(
            w,
            "\npointed to by {} allocation word{}:",
            self.incoming_count,
            if self.incoming_count == 1 { "" } else { "s" }
        )?;
        for r in &self.incoming {
            writeln!(
                w,
                "  {:#x}  (+{} in {:#x}{}){}",
                r.address,
                r.offset,
                r.holder,
                r.type_name
                    .as_ref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default(),
                if r.exact { "" } else { "  into its middle" }
            )?;
        }
        if self.incoming_count > self.incoming.len() {
            writeln!(
                w,
                "  … {} more (--format json lists {})",
                self.incoming_count - self.incoming.len(),
                MAX_INCOMING
            )?;
        }
        if self.anchor_chain.is_empty() {
            writeln!(
                w,
                "\nnot anchored: no root reaches it, even through interior pointers (leaked)"
            )?;
            return Ok(());
        }
        writeln!(
            w,
            "\n{}",
            if self.anchored {
                "anchored by:"
            } else {
                "not anchored through pointers to starts (possibly lost); through interior pointers:"
            }
        )?;
        for (k, l) in self.anchor_chain.iter().enumerate() {
            let text = match l.kind {
                "allocation" => format!(
                    "{:#x} ({} bytes{}){}",
                    l.address.unwrap_or(0),
                    l.size.unwrap_or(0),
                    l.type_name
                        .as_ref()
                        .map(|t| format!(", {t}"))
                        .unwrap_or_default(),
                    l.offset
                        .map(|o| format!(" holds it at +{o}"))
                        .unwrap_or_default()
                ),
                kind => {
                    let mut s = kind.to_string();
                    if let Some(sym) = &l.symbol {
                        s.push_str(&format!(" {sym}"));
                    }
                    if let Some(t) = l.thread {
                        s.push_str(&format!(" of thread {t}"));
                    }
                    if let Some(f) = &l.frame {
                        s.push_str(&format!(" in {f}"));
                    }
                    if let Some(v) = &l.variable {
                        s.push_str(&format!(" (variable {v})"));
                    }
                    if let Some(a) = l.address {
                        s.push_str(&format!(" at {a:#x}"));
                    }
                    s
                }
            };
            writeln!(w, "  {}{text}", if k == 0 { "" } else { "→ " })?;
        }
        Ok(())
    }
}
