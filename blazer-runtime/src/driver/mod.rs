//! The driver: rank 0's side of the work.
//!
//! * [`recovery`]: copies of the batches in flight, and what runs again when items fail
//!   (`BLAZER_RETRIES`) or a rank is lost.
//! * [`workers`]: the driver's record of each worker rank (its window, when it was last heard
//!   from, whether it is lost, its node), by one index type.
//! * [`queue`]: the work queue that sends batches to workers and files their replies into
//!   each call's result slots.
//! * [`dispatch`]: how the user API runs batches, on the workers through the queue or inline
//!   when there are none; the queue's place in the process.
//! * [`progress`]: progress bars while the driver waits.

pub(crate) mod dispatch;
pub(crate) mod progress;
pub(crate) mod queue;
pub(crate) mod recovery;
pub(crate) mod workers;
