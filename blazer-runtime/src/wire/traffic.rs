//! What rank 0's link carried, counted where the bytes are sent: on the driver every byte it
//! sends to a worker, on a worker every byte it sends to the driver (replies, and dataset
//! steps' items exchanged with partition 0). Their sum over the ranks is the traffic at
//! rank 0, which the benchmarks compare between datasets and the primitives.

use std::sync::atomic::{AtomicU64, Ordering};

static AT_DRIVER: AtomicU64 = AtomicU64::new(0);

/// Counts `bytes` sent from this rank to `to` (this rank being `from`) if either is rank 0.
pub(crate) fn sent(from: i32, to: i32, bytes: usize) {
    if from == 0 || to == 0 {
        AT_DRIVER.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Bytes this rank has sent to or as rank 0 so far.
pub fn bytes_at_driver() -> u64 {
    AT_DRIVER.load(Ordering::Relaxed)
}
