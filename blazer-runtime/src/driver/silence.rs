//! Which workers holding work have been silent too long, without looking at every worker.
//!
//! Each time the driver hears from a worker that holds work (a reply, a heartbeat, a first
//! batch sent to an idle worker), it notes `(when, worker)` at the back of a queue. The
//! listening clock never goes back, so the queue is in time order, oldest first: the
//! silent workers are at its front. A note is current while its worker still holds work,
//! is not lost, and was last heard from at that very time; older notes are dropped as they
//! reach the front, and all at once when they outnumber the workers (amortised: each note
//! is dropped once).

use crate::driver::workers::{WorkerIndex, Workers};
use std::collections::VecDeque;
use std::time::Duration;

/// The queue of notes; see the module's docs.
#[derive(Debug, Default)]
pub(crate) struct Silence {
    notes: VecDeque<(Duration, WorkerIndex)>,
}

fn current(workers: &Workers, (at, w): (Duration, WorkerIndex)) -> bool {
    let worker = &workers[w];
    !worker.lost && !worker.in_flight.is_empty() && worker.heard == at
}

impl Silence {
    /// `worker`, which holds work, was heard from at `at` (its `heard` is now `at`).
    pub(crate) fn heard(&mut self, worker: WorkerIndex, at: Duration, workers: &Workers) {
        self.notes.push_back((at, worker));
        if self.notes.len() > 2 * workers.len() + 1024 {
            let mut last = None;
            self.notes.retain(|&note| {
                let keep = current(workers, note) && last != Some(note);
                last = Some(note);
                keep
            });
        }
    }

    /// Drops the notes at the front that are no longer current.
    fn settle(&mut self, workers: &Workers) {
        while let Some(&note) = self.notes.front() {
            if current(workers, note) {
                return;
            }
            self.notes.pop_front();
        }
    }

    /// Whether a worker holding work has been silent for longer than `limit` at `now`.
    pub(crate) fn any(&mut self, now: Duration, limit: Duration, workers: &Workers) -> bool {
        self.settle(workers);
        self.notes
            .front()
            .is_some_and(|&(at, _)| now.saturating_sub(at) > limit)
    }

    /// The workers holding work that have been silent for longer than `limit` at `now`, in
    /// rank order.
    pub(crate) fn silent(
        &mut self,
        now: Duration,
        limit: Duration,
        workers: &Workers,
    ) -> Vec<WorkerIndex> {
        self.settle(workers);
        let mut silent: Vec<WorkerIndex> = self
            .notes
            .iter()
            .take_while(|&&(at, _)| now.saturating_sub(at) > limit)
            .filter(|&&note| current(workers, note))
            .map(|&(_, w)| w)
            .collect();
        silent.sort();
        silent.dedup();
        silent
    }

    /// Notes held: a bounded number (tested).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.notes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn finds_the_silent_and_forgets_the_idle_and_the_heard() {
        let mut workers = Workers::new(3);
        let mut silence = Silence::default();
        for i in 0..3 {
            let w = WorkerIndex::at(i);
            workers[w].in_flight.push_back((1, 0, 1));
            workers[w].heard = ms(i as u64);
            silence.heard(w, ms(i as u64), &workers);
        }
        assert!(!silence.any(ms(10), ms(10), &workers));
        assert!(silence.any(ms(11), ms(10), &workers));
        // Worker 0 is heard again; worker 1 goes idle: only worker 2 is silent at 13 ms.
        workers[WorkerIndex::at(0)].heard = ms(12);
        silence.heard(WorkerIndex::at(0), ms(12), &workers);
        workers[WorkerIndex::at(1)].in_flight.clear();
        assert_eq!(
            silence.silent(ms(13), ms(10), &workers),
            [WorkerIndex::at(2)]
        );
        workers[WorkerIndex::at(2)].lost = true;
        assert!(!silence.any(ms(21), ms(10), &workers));
        assert!(silence.any(ms(23), ms(10), &workers));
    }

    #[test]
    fn holds_a_bounded_number_of_notes() {
        let mut workers = Workers::new(2);
        let mut silence = Silence::default();
        let w = WorkerIndex::at(0);
        workers[w].in_flight.push_back((1, 0, 1));
        for t in 0..100_000 {
            workers[w].heard = ms(t);
            silence.heard(w, ms(t), &workers);
        }
        assert!(silence.len() <= 2 * 2 + 1024 + 1, "{}", silence.len());
        assert!(!silence.any(ms(100_000), ms(10), &workers));
    }
}
