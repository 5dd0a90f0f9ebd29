//! Loops in lists read from memory: a freed chunk freed twice, or a link overwritten with the
//! address of an earlier node, turns a free list into a ring that a walk would follow until
//! its step limit — counting the same chunks again and again. [`Brent`] notices the ring
//! within a few laps with no memory (R. P. Brent, "An improved Monte Carlo factorization
//! algorithm", BIT 20, 1980), and [`first_repeat`] then finds where it closes.

use std::collections::HashSet;

/// Brent's cycle detector, fed the nodes of a list in order.
#[derive(Debug, Clone)]
pub(crate) struct Brent {
    saved: u64,
    steps: u64,
    power: u64,
}

impl Brent {
    pub(crate) fn new() -> Brent {
        Brent {
            saved: 0,
            steps: 0,
            power: 1,
        }
    }

    /// Whether `node` was seen before: true at the latest a little over two laps after the
    /// walk entered a ring.
    #[inline]
    pub(crate) fn looped(&mut self, node: u64) -> bool {
        if self.steps > 0 && node == self.saved {
            return true;
        }
        self.steps += 1;
        if self.steps == self.power {
            self.saved = node;
            self.power = self.power.saturating_mul(2);
        }
        false
    }
}

/// The index of the first node equal to an earlier one: where the walk came back round.
/// Everything before it is the list's distinct nodes, each once.
pub(crate) fn first_repeat(nodes: &[u64]) -> Option<usize> {
    let mut seen = HashSet::with_capacity(nodes.len());
    nodes.iter().position(|n| !seen.insert(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `next` from `start` until the detector fires; the steps taken.
    fn steps_to_detect(next: &[usize], start: usize) -> Option<usize> {
        let mut b = Brent::new();
        let mut n = start;
        for step in 0..10 * next.len() {
            if b.looped(n as u64) {
                return Some(step);
            }
            n = next[n];
        }
        None
    }

    #[test]
    fn a_self_loop_and_a_long_tail() {
        // 0 -> 0
        assert!(steps_to_detect(&[0], 0).is_some());
        // 0 -> 1 -> … -> 99 -> 90 (a tail of 90, a ring of 10)
        let next: Vec<usize> = (0..100).map(|i| if i == 99 { 90 } else { i + 1 }).collect();
        let s = steps_to_detect(&next, 0).expect("a ring");
        assert!(s < 3 * 100, "{s}");
    }

    #[test]
    fn a_list_without_a_ring_never_fires() {
        let mut b = Brent::new();
        assert!((0..10_000u64).all(|n| !b.looped(n)));
    }

    #[test]
    fn the_first_repeat_is_where_the_ring_closes() {
        // a -> b -> c -> b -> c …: the walk comes back to b at index 3.
        assert_eq!(first_repeat(&[10, 20, 30, 20, 30]), Some(3));
        assert_eq!(first_repeat(&[10, 20, 30]), None);
        assert_eq!(first_repeat(&[]), None);
    }
}
