//! The wire: how work and results travel between ranks.
//!
//! * [`codec`]: values to postcard bytes and back.
//! * [`plan`]: the wire form of a computation ([`plan::Plan`]) and of a unit of work
//!   ([`plan::Batch`]).
//! * [`message`]: the messages between the driver and a worker, and their MPI tags.
//! * [`transport`]: large blocks sent beside their message and received in place; the only
//!   file with `unsafe` code.
//! * [`outbox`]: the driver's non-blocking sends.
//! * [`heartbeat`]: a worker's sign of life while it runs a batch, sent from a helper thread.

pub(crate) mod codec;
pub(crate) mod heartbeat;
pub(crate) mod message;
pub(crate) mod outbox;
pub(crate) mod plan;
pub(crate) mod transport;
