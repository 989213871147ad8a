//! The least loaded worker in a few steps, however many workers there are.
//!
//! Workers sit in buckets by load (batches in flight), each bucket split into those on the
//! driver's node and those off it, each a bitmap by rank. Finding the least loaded worker
//! looks at the buckets from load 0 up, at most `full + 1` of them, and takes the lowest
//! rank there (as a scan of every worker did); moving a worker between buckets is two bit
//! flips. Every worker that is not lost is in exactly one bucket.

use crate::driver::workers::WorkerIndex;

/// A set of worker indices as a two-level bitmap: insert and remove in O(1), the lowest
/// member in O(N / 4096) word reads (25 at 10^5 workers), no allocation after it is made.
#[derive(Debug, Default)]
struct RankSet {
    /// Bit `i % 64` of word `i / 64`: `i` is a member.
    words: Vec<u64>,
    /// Bit `w % 64` of word `w / 64`: word `w` of `words` is not zero.
    summary: Vec<u64>,
}

impl RankSet {
    fn with_capacity(n: usize) -> RankSet {
        let words = n.div_ceil(64);
        RankSet {
            words: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
        }
    }

    fn insert(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.summary[w / 64] |= 1 << (w % 64);
    }

    fn remove(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    fn first(&self) -> Option<usize> {
        let (s, bits) = self.summary.iter().enumerate().find(|(_, b)| **b != 0)?;
        let w = s * 64 + bits.trailing_zeros() as usize;
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }
}

/// Where a worker sits: its bucket's load and its side.
#[derive(Debug, Clone, Copy)]
struct Place {
    load: u32,
    off_node: bool,
}

/// Workers by load; see the module's docs.
#[derive(Debug)]
pub(crate) struct Loads {
    /// `buckets[load][off_node]`; loads of `full` and more share the last bucket.
    buckets: Vec<[RankSet; 2]>,
    /// Per worker, by index: where it sits; `None` once it is lost.
    places: Vec<Option<Place>>,
}

impl Loads {
    /// Workers `0..off_node.len()` at load 0; worker `i` is off the driver's node if
    /// `off_node[i]`. A worker at load `full` or more takes no work.
    pub(crate) fn new(off_node: &[bool], full: usize) -> Loads {
        let mut loads = Loads {
            buckets: (0..=full)
                .map(|_| [0, 1].map(|_| RankSet::with_capacity(off_node.len())))
                .collect(),
            places: vec![None; off_node.len()],
        };
        for (i, &off) in off_node.iter().enumerate() {
            loads.put(WorkerIndex::at(i), 0, off);
        }
        loads
    }

    fn full(&self) -> usize {
        self.buckets.len() - 1
    }

    fn put(&mut self, worker: WorkerIndex, load: usize, off_node: bool) {
        let load = load.min(self.full());
        self.buckets[load][usize::from(off_node)].insert(worker.get());
        self.places[worker.get()] = Some(Place {
            load: load as u32,
            off_node,
        });
    }

    fn take(&mut self, worker: WorkerIndex) -> Option<Place> {
        let place = self.places[worker.get()].take()?;
        self.buckets[place.load as usize][usize::from(place.off_node)].remove(worker.get());
        Some(place)
    }

    /// `worker` now has `load` batches in flight.
    pub(crate) fn set(&mut self, worker: WorkerIndex, load: usize) {
        match self.places[worker.get()] {
            Some(place) if place.load as usize == load.min(self.full()) => {}
            Some(_) => {
                let place = self.take(worker).expect("placed");
                self.put(worker, load, place.off_node);
            }
            None => {}
        }
    }

    /// `worker` is lost: it never takes work again.
    pub(crate) fn remove(&mut self, worker: WorkerIndex) {
        self.take(worker);
    }

    /// The least loaded worker and its load (capped at `full`); on a tie, one on the
    /// driver's node (shared memory), then the lowest rank. `None` when every worker is
    /// lost.
    pub(crate) fn least(&self) -> Option<(WorkerIndex, usize)> {
        self.buckets.iter().enumerate().find_map(|(load, sides)| {
            sides
                .iter()
                .find_map(RankSet::first)
                .map(|i| (WorkerIndex::at(i), load))
        })
    }

    /// Bytes held per worker, for the driver's memory model: its place, and a bit in each
    /// bucket's bitmap (two sides, `full + 1` loads: 6 bits with a window of 2), rounded up.
    pub(crate) fn bytes_per_worker() -> usize {
        std::mem::size_of::<Option<Place>>() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(i: usize) -> WorkerIndex {
        WorkerIndex::at(i)
    }

    #[test]
    fn the_least_loaded_worker_is_found_and_ties_go_to_the_driver_node() {
        let mut loads = Loads::new(&[true, false, false], 2);
        assert_eq!(
            loads.least(),
            Some((w(1), 0)),
            "on-node first, lowest rank first"
        );
        loads.set(w(1), 1);
        assert_eq!(loads.least(), Some((w(2), 0)));
        loads.set(w(2), 1);
        assert_eq!(loads.least(), Some((w(0), 0)), "then off-node");
        loads.set(w(0), 2);
        assert_eq!(loads.least().map(|(_, l)| l), Some(1));
        loads.set(w(1), 5);
        loads.set(w(2), 2);
        assert_eq!(loads.least().map(|(_, l)| l), Some(2), "every one full");
        loads.remove(w(0));
        loads.remove(w(1));
        loads.remove(w(2));
        assert_eq!(loads.least(), None);
        loads.set(w(1), 0);
        assert_eq!(loads.least(), None, "a lost worker never comes back");
    }

    #[test]
    fn agrees_with_a_scan_under_random_moves() {
        let n = 50;
        let off: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let mut loads = Loads::new(&off, 3);
        let mut truth: Vec<Option<usize>> = vec![Some(0); n];
        let mut seed = 12345u64;
        for _ in 0..10_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (seed >> 33) as usize % n;
            let op = (seed >> 20) % 20;
            if op == 0 {
                loads.remove(w(i));
                truth[i] = None;
            } else if truth[i].is_some() {
                let load = (seed >> 40) as usize % 5;
                loads.set(w(i), load);
                truth[i] = Some(load);
            }
            let best = truth
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.map(|l| (l.min(3), off[i])))
                .min();
            let got = loads.least().map(|(w, l)| (l, off[w.get()]));
            assert_eq!(got, best);
            if let Some((w, l)) = loads.least() {
                assert_eq!(truth[w.get()].map(|t| t.min(3)), Some(l));
            }
        }
    }
}
