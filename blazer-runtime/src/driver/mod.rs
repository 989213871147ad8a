//! The driver: rank 0's side of the work.
//!
//! * [`queue`]: the work queue that sends batches to workers and files their replies into
//!   each call's result slots.
//! * [`dispatch`]: how the user API runs batches, on the workers through the queue or inline
//!   when there are none; the queue's place in the process.
//! * [`progress`]: progress bars while the driver waits.

pub(crate) mod dispatch;
pub(crate) mod progress;
pub(crate) mod queue;
pub(crate) mod recovery;
