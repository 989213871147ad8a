//! The driver: rank 0's side of the work.
//!
//! * [`recovery`]: copies of the batches in flight, and what runs again when items fail
//!   (`BLAZER_RETRIES`) or a rank is lost.
//! * [`workers`]: the driver's record of each worker rank (its window, when it was last heard
//!   from, whether it is lost, its node), by one index type.
//! * [`load`]: the workers by load, to find the least loaded one in a few steps.
//! * [`silence`]: the workers holding work by when they were last heard from, to find the
//!   silent ones without looking at every worker.
//! * [`pace`]: how many items a batch takes, from the workers' reported run times and the
//!   number of workers.
//! * [`queue`]: the work queue that sends batches to workers and files their replies into
//!   each call's result slots.
//! * [`dispatch`]: how the user API runs batches, on the workers through the queue or inline
//!   when there are none; the queue's place in the process.
//! * [`progress`]: progress bars while the driver waits.

pub(crate) mod dispatch;
pub(crate) mod load;
pub(crate) mod pace;
pub(crate) mod progress;
pub(crate) mod queue;
pub(crate) mod recovery;
pub(crate) mod silence;
pub(crate) mod workers;
