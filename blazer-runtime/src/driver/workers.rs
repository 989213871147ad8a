//! The driver's view of its workers: one [`Worker`] record per worker rank, found by rank
//! through one index type, [`WorkerIndex`].

use crate::wire::message::SubmissionId;
use crate::world::node_of;
use std::collections::VecDeque;
use std::ops::{Index, IndexMut};
use std::time::Duration;

/// A worker's place in the driver's table: worker rank `r` (1..size) is at `r - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WorkerIndex(usize);

impl WorkerIndex {
    /// The place of worker rank `rank`. Rank 0 is the driver, never a worker.
    pub(crate) fn of_rank(rank: i32) -> WorkerIndex {
        assert!(rank >= 1, "rank {rank} is not a worker rank");
        WorkerIndex(rank as usize - 1)
    }

    /// The worker's rank.
    pub(crate) fn rank(self) -> i32 {
        self.0 as i32 + 1
    }

    /// The index of the `i`-th worker (rank `i + 1`).
    pub(crate) fn at(i: usize) -> WorkerIndex {
        WorkerIndex(i)
    }

    /// Its place in a table of workers.
    pub(crate) fn get(self) -> usize {
        self.0
    }
}

/// What a worker is busy with, oldest first: `(call, first, outputs)`.
pub(crate) type InFlight = VecDeque<(SubmissionId, u64, u64)>;

/// The driver's record of one worker rank.
#[derive(Debug)]
pub(crate) struct Worker {
    /// The batches it holds (its window), oldest first.
    pub(crate) in_flight: InFlight,
    /// When it last replied or sent a heartbeat, or last went from idle to busy, on the
    /// driver's listening clock (driver/queue.rs): its silence counts only while the driver
    /// listens.
    pub(crate) heard: Duration,
    /// Declared lost: it gets no more work.
    pub(crate) lost: bool,
    /// It runs on another node than the driver (reached over the network, not shared memory).
    pub(crate) off_node: bool,
}

/// Every worker's record, by [`WorkerIndex`].
#[derive(Debug)]
pub(crate) struct Workers(Vec<Worker>);

impl Workers {
    /// Records for worker ranks `1..=count`, all idle and just heard from.
    pub(crate) fn new(count: usize) -> Workers {
        Workers(
            (1..=count as i32)
                .map(|rank| Worker {
                    in_flight: VecDeque::new(),
                    heard: Duration::ZERO,
                    lost: false,
                    off_node: node_of(rank) != node_of(0),
                })
                .collect(),
        )
    }

    /// Number of worker ranks.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The record of worker rank `rank`, if it is one.
    pub(crate) fn get_mut(&mut self, rank: i32) -> Option<&mut Worker> {
        if rank < 1 {
            return None;
        }
        self.0.get_mut(rank as usize - 1)
    }

    /// Every record with its index, in rank order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (WorkerIndex, &Worker)> {
        self.0.iter().enumerate().map(|(i, w)| (WorkerIndex(i), w))
    }
}

impl Index<WorkerIndex> for Workers {
    type Output = Worker;
    fn index(&self, i: WorkerIndex) -> &Worker {
        &self.0[i.0]
    }
}

impl IndexMut<WorkerIndex> for Workers {
    fn index_mut(&mut self, i: WorkerIndex) -> &mut Worker {
        &mut self.0[i.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_its_rank_minus_one() {
        assert_eq!(WorkerIndex::of_rank(1).rank(), 1);
        assert_eq!(WorkerIndex::of_rank(7), WorkerIndex(6));
        let mut w = Workers(Vec::new());
        assert!(w.get_mut(0).is_none());
        assert!(w.get_mut(1).is_none());
    }
}
