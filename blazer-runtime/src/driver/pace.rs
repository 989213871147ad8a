//! How many items a batch takes, when the caller did not say. A call goes through three
//! phases:
//!
//! - **Ramp.** Until the workers' first report, the caller's first guess stands
//!   ([`first_batch`]: small, so that the driver reaches the last worker soon). Then a batch
//!   grows at most to what each worker was sent so far, so sizes about double each round:
//!   a round of big batches right away would starve the workers while the driver encodes
//!   it.
//! - **Steady.** A batch should run long enough that the driver keeps up with every worker
//!   at once: with `W` workers each finishing a batch every `t`, the driver handles `W / t`
//!   replies a second, each costing it about [`DRIVER_US_PER_BATCH`]. Keeping that under
//!   [`DRIVER_SHARE`] of its time asks for batches of at least
//!   `W × DRIVER_US_PER_BATCH / DRIVER_SHARE` µs of work, and never less than
//!   [`MIN_BATCH_US`] (a message's round trip). The work per item is what the workers report
//!   (`Reply::busy_us`), summed over the call's batches so far. When the number of items
//!   `n` is known, a batch also takes at least `n / 4W` (few batches for a short call).
//! - **Tail.** With `n` known, a batch takes at most the `n / W` items left per worker, so
//!   the last batches end together; but never so few that handing them out one by one
//!   takes the driver longer than running them takes the workers (`tail_least`), or the
//!   tail would be the driver's queue.

/// The driver's cost of one batch, its MPI calls included, in µs: an upper estimate from
/// the simulation (`scripts/scale-sim.sh`: a few µs of its own code) and from 2 to 4 real
/// ranks on a 2-core machine (10 to 20 µs per round trip).
pub(crate) const DRIVER_US_PER_BATCH: f64 = 10.0;

/// The share of the driver's time that replies may take.
pub(crate) const DRIVER_SHARE: f64 = 0.25;

/// The least work a batch is given, in µs.
pub(crate) const MIN_BATCH_US: f64 = 200.0;

/// The most items of a first batch, before any report. The first round reaches the last
/// worker only once the driver has encoded every worker's first batch, so its batches are
/// small; later ones grow (`Pace::batch`). In the simulation at 10,000 workers with 1 ms
/// tasks, 128 left 1.5 % of the workers' time idle in that ramp, where a quarter of each
/// worker's share (750 items) left 4 to 5 %.
pub(crate) const FIRST_BATCH_MAX: usize = 128;

/// Items of the first batches of `known` items over `workers` workers, before any report:
/// a quarter of each worker's share, at most [`FIRST_BATCH_MAX`].
pub(crate) fn first_batch(known: usize, workers: usize) -> usize {
    known.div_ceil(4 * workers.max(1)).clamp(1, FIRST_BATCH_MAX)
}

/// What the workers reported of a call's batches so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace {
    items: u64,
    us: u64,
    /// Items submitted so far.
    sent: u64,
}

impl Pace {
    /// Notes a finished batch: `(items, µs)` as the worker reported them.
    pub(crate) fn observe(&mut self, (items, us): (u64, u64)) {
        self.items += items;
        self.us += us;
    }

    /// Notes `items` submitted in a batch.
    pub(crate) fn sent(&mut self, items: usize) {
        self.sent += items as u64;
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
                balance.max(paced.min(n.div_ceil(workers).max(tail_least(n, workers, item_us))))
            }
            None => paced,
        };
        // Grown at most to what each worker was sent so far, about doubling each round:
        // a round of big batches would starve the workers that finished the small ones
        // while the driver encodes it.
        let grown = (self.sent / workers as u64) as usize;
        size.min(grown.max(guess)).clamp(1, limit.max(1))
    }
}

/// The fewest items of a tail batch, `n` items left: `k` batches handed out one after the
/// other end at about `k × DRIVER_US_PER_BATCH + (n / k) × item_us`, least at batches of
/// `√(n × DRIVER_US_PER_BATCH / item_us)` items; and a batch of `W × DRIVER_US_PER_BATCH`
/// µs of work already lasts until the driver has handed every worker its own.
fn tail_least(n: usize, workers: usize, item_us: f64) -> usize {
    let least_us = (workers as f64 * DRIVER_US_PER_BATCH)
        .min((n as f64 * DRIVER_US_PER_BATCH * item_us).sqrt());
    (least_us / item_us).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_guess_stands_until_a_report() {
        assert_eq!(Pace::default().batch(4, 8, None, 1000), 8);
        assert_eq!(Pace::default().batch(4, 0, None, 1000), 1);
    }

    /// A pace past its ramp: `items` already sent to each of `workers`.
    fn ramped(workers: usize, items: usize, reported: (u64, u64)) -> Pace {
        let mut p = Pace::default();
        p.observe(reported);
        p.sent(workers * items);
        p
    }

    #[test]
    fn tiny_tasks_get_big_batches_and_long_ones_small() {
        let tiny = ramped(3, 1 << 16, (100, 100)); // 1 µs an item
        assert_eq!(tiny.batch(3, 8, None, 1 << 16), 200);
        let long = ramped(3, 1 << 16, (2, 20_000)); // 10 ms an item
        assert_eq!(long.batch(3, 8, None, 1 << 16), 1);
    }

    #[test]
    fn more_workers_ask_for_longer_batches() {
        let p = ramped(100_000, 1 << 16, (10, 10_000)); // 1 ms an item
        assert_eq!(p.batch(10, 1, None, 1 << 16), 1);
        assert_eq!(p.batch(10_000, 1, None, 1 << 16), 400);
        assert_eq!(p.batch(100_000, 1, None, 1 << 16), 4000);
    }

    #[test]
    fn batches_grow_about_twofold_a_round_after_the_first_report() {
        let mut p = Pace::default();
        p.observe((100, 100_000)); // 1 ms an item: the steady size at 10,000 workers is 400
        p.sent(10_000 * 2 * 100); // two rounds of first batches of 100
        assert_eq!(p.batch(10_000, 100, None, 1 << 16), 200);
        p.sent(10_000 * 200);
        assert_eq!(p.batch(10_000, 100, None, 1 << 16), 400);
    }

    #[test]
    fn a_known_size_keeps_every_worker_busy() {
        // 1 µs an item: the driver would want 200 an item.
        let p = ramped(4, 1 << 16, (1000, 1000));
        // 100 items on 4 workers: batches of 32 (the tail's least), so all four get work.
        let size = p.batch(4, 7, Some(100), 1 << 16);
        assert_eq!(size, 32);
        assert_eq!(100usize.div_ceil(size), 4);
        // Plenty of items: balance asks for 63, pace for 200.
        assert_eq!(p.batch(4, 7, Some(1000), 1 << 16), 200);
        let slow = ramped(4, 1 << 16, (1, 1000));
        assert_eq!(
            slow.batch(4, 7, Some(1000), 1 << 16),
            63,
            "balance as before"
        );
    }

    #[test]
    fn the_tail_shrinks_only_as_far_as_the_driver_keeps_up() {
        let p = ramped(10_000, 1 << 16, (10, 10_000)); // 1 ms an item
                                                       // Plenty left: the steady size.
        assert_eq!(p.batch(10_000, 1, Some(10_000_000), 1 << 16), 400);
        // 100 an item left per worker: 10 µs of driver a batch lasts while 10,000 are sent.
        assert_eq!(p.batch(10_000, 1, Some(1_000_000), 1 << 16), 100);
        // 10 left per worker: √(100,000 × 10 µs / 1 ms) = 32 a batch, not 10.
        assert_eq!(p.batch(10_000, 1, Some(100_000), 1 << 16), 32);
        // A hundred items on 10,000 workers: one each.
        assert_eq!(p.batch(10_000, 1, Some(100), 1 << 16), 1);
    }
}
