//! Reading gperftools 2.10's state: the size map, the central free lists and their
//! transfer caches, every thread's cache, and every span through the page map.

use core_reader::{Diagnostic, Memory};

use crate::cycle::{first_repeat, Brent};
use crate::scan::{block, nonzero_words};

use super::discover::Globals;
use super::layout::{span, Layout, MAX_SIZE};

/// One size class of the size map (src/common.cc `SizeMap::Init`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Class {
    /// `class_to_size_`.
    pub size: u64,
    /// `class_to_pages_`: pages of each span of the class.
    pub pages: u64,
    /// `num_objects_to_move_`: objects moved between a thread cache and the central list at
    /// once (a transfer-cache slot's batch).
    pub batch: u64,
}

/// One class's central free list (src/central_freelist.h).
#[derive(Debug, Clone, Default)]
pub(crate) struct Central {
    /// `counter_`: free objects on its spans.
    pub counter: u64,
    /// `num_spans_`.
    pub num_spans: u64,
    /// `used_slots_`: full transfer-cache slots.
    pub used_slots: u64,
    /// Each used slot's `(head, tail)` chain.
    pub slots: Vec<(u64, u64)>,
}

/// One thread's cache (src/thread_cache.h).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cache {
    pub address: u64,
    /// `tid_`: the owner's `pthread_t`.
    pub pthread: u64,
    /// `size_`: bytes on its lists.
    pub size: u64,
    /// `max_size_`.
    pub max_size: u64,
    /// `(head, length_)` of each class's list.
    pub lists: Vec<(u64, u64)>,
}

/// One span from the page map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub address: u64,
    /// First page number.
    pub start: u64,
    /// Pages.
    pub length: u64,
    /// 0 for a large allocation or a free span.
    pub sizeclass: u32,
    /// `IN_USE`, `ON_NORMAL_FREELIST`, `ON_RETURNED_FREELIST`.
    pub location: u32,
    /// `objects`: the span's free objects (small spans).
    pub objects: u64,
    /// `kPageShift`.
    pub page_shift: u32,
}

impl Span {
    /// Its first byte.
    pub fn base(&self) -> u64 {
        self.start << self.page_shift
    }
    /// Its bytes.
    pub fn bytes(&self) -> u64 {
        self.length << self.page_shift
    }
}

/// Longest chain of free objects followed (a hostile list ends here).
const CHAIN_LIMIT: u64 = 1 << 24;
/// Most thread caches followed.
const CACHE_LIMIT: usize = 1 << 16;

/// The size map's classes. A class no 2.10 build makes (no size, over kMaxSize bytes,
/// spans of no page or of more than kMaxPages — gperftools 2.10's largest classes have
/// spans of a few dozen pages at most, src/common.cc `SizeMap::Init` growing a span until
/// the leftover is under 1/8 of it) keeps a size of 0, which no span matches: a damaged
/// entry cannot make a span list more objects than its pages hold at the smallest size.
pub(crate) fn read_classes(mem: &dyn Memory, l: &Layout, g: &Globals) -> Option<Vec<Class>> {
    let m = &l.size_map;
    let n = mem
        .read_u64(g.sizemap + m.num_size_classes)?
        .min(l.class_sizes_max);
    (0..n)
        .map(|cl| {
            let size = u64::from(mem.read_u32(g.sizemap + m.class_to_size + 4 * cl)?);
            let pages = mem.read_u64(g.sizemap + m.class_to_pages + 8 * cl)?;
            let sane = size <= MAX_SIZE && (1..=l.max_pages).contains(&pages);
            Some(Class {
                size: if sane { size } else { 0 },
                pages,
                batch: u64::from(mem.read_u32(g.sizemap + m.num_objects_to_move + 4 * cl)?),
            })
        })
        .collect()
}

pub(crate) fn read_central(
    mem: &dyn Memory,
    l: &Layout,
    g: &Globals,
    classes: &[Class],
    problems: &mut Vec<Diagnostic>,
) -> Vec<Central> {
    (0..classes.len() as u64)
        .map(|cl| {
            let c = &l.central;
            let at = g.central_cache + cl * c.stride;
            let word = |off| mem.read_u64(at + off);
            let used = mem.read_u32(at + c.used_slots).map(u64::from);
            match (word(c.counter), word(c.num_spans), used) {
                (Some(counter), Some(num_spans), Some(used)) => {
                    let used_slots = used.min(c.tc_slots_max);
                    let slots = (0..used_slots)
                        .filter_map(|i| {
                            let slot = at + c.tc_slots + 16 * i;
                            Some((mem.read_u64(slot)?, mem.read_u64(slot + 8)?))
                        })
                        .collect();
                    Central {
                        counter,
                        num_spans,
                        used_slots,
                        slots,
                    }
                }
                _ => {
                    problems.push(Diagnostic::at(
                        "unreadable",
                        at,
                        format!("the central free list of class {cl} is not in the core"),
                    ));
                    Central::default()
                }
            }
        })
        .collect()
}

/// Every thread's cache, from `ThreadCache::thread_heaps_` along `next_`.
pub(crate) fn read_caches(
    mem: &dyn Memory,
    l: &Layout,
    g: &Globals,
    classes: usize,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Cache> {
    let Some(head) = g.thread_heaps.and_then(|a| mem.read_u64(a)) else {
        return Vec::new();
    };
    let t = &l.thread_cache;
    let mut caches: Vec<Cache> = Vec::new();
    let mut at = head;
    while at != 0 {
        if caches.len() >= CACHE_LIMIT || caches.iter().any(|c| c.address == at) {
            problems.push(Diagnostic::at(
                "cycle",
                at,
                "the list of thread caches loops; the rest was not read",
            ));
            break;
        }
        let (Some(size), Some(max_size), Some(pthread), Some(next)) = (
            mem.read_u32(at.wrapping_add(t.size)),
            mem.read_u32(at.wrapping_add(t.max_size)),
            mem.read_u64(at.wrapping_add(t.tid)),
            mem.read_u64(at.wrapping_add(t.next)),
        ) else {
            problems.push(Diagnostic::at(
                "unreadable",
                at,
                "a thread cache is not in the core; the rest of the list was not read",
            ));
            break;
        };
        let lists = (0..classes as u64)
            .map(|cl| {
                let list = at.wrapping_add(t.list + cl * t.list_stride);
                (
                    mem.read_u64(list).unwrap_or(0),
                    mem.read_u32(list.wrapping_add(t.list_length))
                        .map_or(0, u64::from),
                )
            })
            .collect();
        caches.push(Cache {
            address: at,
            pthread,
            // int32 counters: a negative one is damage, read as 0.
            size: u64::try_from(size as i32).unwrap_or(0),
            max_size: u64::try_from(max_size as i32).unwrap_or(0),
            lists,
        });
        at = next;
    }
    caches
}

/// Every span the page map knows, by address: each leaf's entries, a span taken where its
/// first page maps to it (interior pages may still map to spans since merged away).
pub(crate) fn read_spans(
    mem: &dyn Memory,
    l: &Layout,
    g: &Globals,
    classes: &[Class],
    problems: &mut Vec<Diagnostic>,
) -> Vec<Span> {
    let p = &l.page_heap;
    let root = g.pageheap + p.pagemap_root;
    let leaf_len = 1u64 << p.leaf_bits;
    let mut spans = Vec::new();
    // The root and each leaf are megabytes, nearly all zeros: borrowed from the core, not
    // copied, and read by their non-zero words.
    let Some(root_bytes) = block(mem, root, (8 * p.root_length) as usize) else {
        problems.push(Diagnostic::at(
            "unreadable",
            root,
            "the page map's root is not in the core: no span could be found",
        ));
        return spans;
    };
    let leaf_bytes = 8 * leaf_len;
    // The leaves read so far, by address: each is its own allocation of the metadata
    // allocator, so two that share a byte are damage — and skipping them bounds what is
    // read by the core's size (2^17 root entries naming one leaf would be 256 GiB).
    let mut leaves = std::collections::BTreeSet::new();
    let mut skip_to = 0u64;
    for (i, ptr) in nonzero_words(&root_bytes) {
        let i = i as u64;
        let low = ptr.saturating_sub(leaf_bytes - 1);
        if leaves
            .range(low..ptr.saturating_add(leaf_bytes))
            .next()
            .is_some()
        {
            problems.push(Diagnostic::at(
                "bad_pointer",
                ptr,
                format!("page map leaf {i} overlaps another leaf: its spans were skipped"),
            ));
            continue;
        }
        leaves.insert(ptr);
        let Some(leaf) = block(mem, ptr, leaf_bytes as usize) else {
            problems.push(Diagnostic::at(
                "unreadable",
                ptr,
                format!("page map leaf {i} is not in the core: its spans were skipped"),
            ));
            continue;
        };
        for (k, s) in nonzero_words(&leaf) {
            let page = (i << p.leaf_bits) + k as u64;
            if page < skip_to {
                continue;
            }
            let Some(span) = read_span(mem, l, s, classes) else {
                continue;
            };
            if span.start != page {
                continue;
            }
            skip_to = page + span.length;
            spans.push(span);
        }
    }
    spans
}

/// The span at `at`, if it looks like one: a small span is as long as its class's spans
/// and its class has a size (which bounds the objects listed from it).
fn read_span(mem: &dyn Memory, l: &Layout, at: u64, classes: &[Class]) -> Option<Span> {
    let o = &l.span;
    let start = mem.read_u64(at.wrapping_add(o.start))?;
    let length = mem.read_u64(at.wrapping_add(o.length))?;
    let bits = mem.read_u32(at.wrapping_add(o.bits))?;
    let sizeclass = (bits >> 16) & 0xff;
    let location = (bits >> 24) & 3;
    let valid = length > 0
        && start.checked_add(length)? <= 1 << l.page_number_bits
        && location <= span::ON_RETURNED_FREELIST
        && (sizeclass == 0
            || (location == span::IN_USE
                && classes
                    .get(sizeclass as usize)
                    .is_some_and(|c| c.pages == length && c.size > 0)));
    valid.then(|| Span {
        address: at,
        start,
        length,
        sizeclass,
        location,
        objects: mem.read_u64(at.wrapping_add(o.objects)).unwrap_or(0),
        page_shift: l.page_shift,
    })
}

/// Where a free list linked through its objects' first words went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Break {
    /// The link of the free object at `holder` points back to `again`, an object of the
    /// list already passed: a loop (a double free, or a use-after-free write).
    Loop { holder: u64, again: u64 },
    /// The link of the free object at `holder` (`None`: the list's head itself) is `link`,
    /// which is not in the core.
    BadLink { holder: Option<u64>, link: u64 },
    /// More objects than the list can hold, with no loop among them.
    TooLong,
}

/// The objects of a chain linked through their first words, from `head`, at most `max`,
/// stopping after `tail` when given. When it breaks, the objects before the break (free
/// for sure: they were reached, each once) and where it broke. A ring is noticed within a
/// few laps ([`Brent`]), or at `max` among the objects read.
pub(crate) fn chain(
    mem: &dyn Memory,
    head: u64,
    tail: Option<u64>,
    max: u64,
) -> Result<Vec<u64>, (Vec<u64>, Break)> {
    let mut out = Vec::new();
    let mut at = head;
    let max = max.min(CHAIN_LIMIT);
    let mut guard = Brent::new();
    while at != 0 {
        let looped = guard.looped(at);
        if looped || out.len() as u64 >= max {
            if looped {
                out.push(at);
            }
            return Err(match first_repeat(&out) {
                // A repeat has an earlier object, so `r` is at least 1.
                Some(r) => {
                    let (holder, again) = (out[r - 1], out[r]);
                    out.truncate(r);
                    (out, Break::Loop { holder, again })
                }
                None => (out, Break::TooLong),
            });
        }
        let Some(next) = mem.read_u64(at) else {
            let holder = out.last().copied();
            return Err((out, Break::BadLink { holder, link: at }));
        };
        out.push(at);
        if Some(at) == tail {
            break;
        }
        at = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_reader::MemoryImage;

    /// Objects at 0x1000, 0x1010, … whose first words are `links`.
    fn list(links: &[u64]) -> MemoryImage {
        let mut image = MemoryImage::new();
        let bytes = links
            .iter()
            .flat_map(|l| [l.to_le_bytes(), [0; 8]])
            .flatten();
        image.add(0x1000, bytes.collect());
        image
    }

    #[test]
    fn a_list_ends_breaks_or_loops_where_it_does() {
        let at = |i: u64| 0x1000 + 16 * i;
        // 0 -> 1 -> 2 -> end.
        let whole = list(&[at(1), at(2), 0]);
        assert_eq!(
            chain(&whole, at(0), None, 10),
            Ok(vec![at(0), at(1), at(2)])
        );
        // Stopping at the tail, whatever its link says.
        assert_eq!(
            chain(&whole, at(0), Some(at(1)), 10),
            Ok(vec![at(0), at(1)])
        );
        // 0 -> 1 -> 2 -> 3 -> 1: a ring of three after a tail, found by Brent's detector
        // with room to spare, and at the bound with none.
        let ring = list(&[at(1), at(2), at(3), at(1)]);
        let looped = Err((
            vec![at(0), at(1), at(2), at(3)],
            Break::Loop {
                holder: at(3),
                again: at(1),
            },
        ));
        assert_eq!(chain(&ring, at(0), None, 1000), looped);
        assert_eq!(chain(&ring, at(0), None, 5), looped);
        // 0 -> 1 -> a word in no memory.
        let wild = list(&[at(1), 0x4141_4141_4141_4140]);
        assert_eq!(
            chain(&wild, at(0), None, 10),
            Err((
                vec![at(0), at(1)],
                Break::BadLink {
                    holder: Some(at(1)),
                    link: 0x4141_4141_4141_4140
                }
            ))
        );
        // More objects than the bound, no ring.
        assert_eq!(
            chain(&whole, at(0), None, 2),
            Err((vec![at(0), at(1)], Break::TooLong))
        );
    }
}
