//! How many items a batch takes, when the caller did not say.
//!
//! A batch should run long enough that the driver keeps up with every worker at once: with
//! `W` workers each finishing a batch every `t`, the driver handles `W / t` replies a
//! second, each costing it about [`DRIVER_US_PER_BATCH`]. Keeping that under
//! [`DRIVER_SHARE`] of its time asks for batches of at least
//! `W × DRIVER_US_PER_BATCH / DRIVER_SHARE` µs of work, and never less than
//! [`MIN_BATCH_US`] (a message's round trip). The work per item is what the workers report
//! (`Reply::busy_us`), summed over the call's batches so far. Until the first report, the
//! caller's first guess stands.
//!
//! When the number of items `n` is known, batches also stay small enough that every worker
//! gets several (`n / 4W`, as before pacing): a larger one is taken only when the driver
//! would otherwise be the bottleneck, and never more than `n / W`.

/// The driver's cost of one batch, its MPI calls included, in µs: an upper estimate from
/// the simulation (`scripts/scale-sim.sh`: a few µs of its own code) and from 2 to 4 real
/// ranks on a 2-core machine (10 to 20 µs per round trip).
pub(crate) const DRIVER_US_PER_BATCH: f64 = 10.0;

/// The share of the driver's time that replies may take.
pub(crate) const DRIVER_SHARE: f64 = 0.25;

/// The least work a batch is given, in µs.
pub(crate) const MIN_BATCH_US: f64 = 200.0;

/// The most items of a first batch, before any report.
pub(crate) const FIRST_BATCH_MAX: usize = 1 << 16;

/// Items of the first batches of `known` items over `workers` workers, before any report:
/// a quarter of each worker's share, big enough to amortise messages and small enough to
/// balance. (Smaller first batches, to reach every worker sooner, cost more batches than
/// they save in the simulation at 10 to 10,000 workers.)
pub(crate) fn first_batch(known: usize, workers: usize) -> usize {
    known.div_ceil(4 * workers.max(1)).clamp(1, FIRST_BATCH_MAX)
}

/// What the workers reported of a call's batches so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace {
    items: u64,
    us: u64,
}

impl Pace {
    /// Notes a finished batch: `(items, µs)` as the worker reported them.
    pub(crate) fn observe(&mut self, (items, us): (u64, u64)) {
        self.items += items;
        self.us += us;
    }

    /// The work per item, in µs, once measured.
    pub(crate) fn item_us(&self) -> Option<f64> {
        (self.items > 0).then(|| (self.us as f64 / self.items as f64).max(0.01))
    }

    /// Items for the next batch on `workers` workers: `guess` until the first report;
    /// `remaining` items left if known; at most `limit`.
    pub(crate) fn batch(
        &self,
        workers: usize,
        guess: usize,
        remaining: Option<usize>,
        limit: usize,
    ) -> usize {
        let workers = workers.max(1);
        let Some(item_us) = self.item_us() else {
            return guess.clamp(1, limit.max(1));
        };
        let target_us = (workers as f64 * DRIVER_US_PER_BATCH / DRIVER_SHARE).max(MIN_BATCH_US);
        let paced = (target_us / item_us).ceil() as usize;
        let size = match remaining {
            Some(n) => {
                let balance = n.div_ceil(4 * workers);
                balance.max(paced.min(n.div_ceil(workers)))
            }
            None => paced,
        };
        size.clamp(1, limit.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_guess_stands_until_a_report() {
        assert_eq!(Pace::default().batch(4, 8, None, 1000), 8);
        assert_eq!(Pace::default().batch(4, 0, None, 1000), 1);
    }

    #[test]
    fn tiny_tasks_get_big_batches_and_long_ones_small() {
        let mut tiny = Pace::default();
        tiny.observe((100, 100)); // 1 µs an item
        assert_eq!(tiny.batch(3, 8, None, 1 << 16), 200);
        let mut long = Pace::default();
        long.observe((2, 20_000)); // 10 ms an item
        assert_eq!(long.batch(3, 8, None, 1 << 16), 1);
    }

    #[test]
    fn more_workers_ask_for_longer_batches() {
        let mut p = Pace::default();
        p.observe((10, 10_000)); // 1 ms an item
        assert_eq!(p.batch(10, 1, None, 1 << 16), 1);
        assert_eq!(p.batch(10_000, 1, None, 1 << 16), 400);
        assert_eq!(p.batch(100_000, 1, None, 1 << 16), 4000);
    }

    #[test]
    fn a_known_size_keeps_every_worker_busy() {
        let mut p = Pace::default();
        p.observe((1000, 1000)); // 1 µs an item: the driver would want 200 an item
                                 // 100 items on 4 workers: no batch above 25, so all four get work.
        assert_eq!(p.batch(4, 7, Some(100), 1 << 16), 25);
        // Plenty of items: balance asks for 63, pace for 200.
        assert_eq!(p.batch(4, 7, Some(1000), 1 << 16), 200);
        let mut slow = Pace::default();
        slow.observe((1, 1000));
        assert_eq!(
            slow.batch(4, 7, Some(1000), 1 << 16),
            63,
            "balance as before"
        );
    }
}
