//! The wire: how work and results travel between ranks.
//!
//! * [`codec`]: messages to postcard bytes and back.
//! * [`payload`]: one encoded value, its long byte runs out of line (sent from the user's
//!   vector, received into the vector that becomes the value).
//! * [`plan`]: the wire form of a computation ([`plan::Plan`]) and of a unit of work
//!   ([`plan::Batch`]).
//! * [`message`]: the messages between the driver and a worker, and their MPI tags.
//! * [`transport`]: parts sent beside their message, cut into MPI-sized chunks.
//! * [`varint`]: vectors of integers in postcard's varint form, in tight loops.
//! * [`outbox`]: the driver's non-blocking sends.
//! * [`link`]: the seam between the driver and the transport ([`link::Link`]), and a
//!   worker's side of it: every MPI call between the driver and its workers.
//! * [`heartbeat`]: a worker's sign of life while it runs a batch, sent from a helper thread.

pub(crate) mod codec;
pub(crate) mod data_op;
pub(crate) mod heartbeat;
pub(crate) mod link;
pub(crate) mod message;
pub(crate) mod outbox;
pub(crate) mod payload;
pub(crate) mod plan;
pub(crate) mod traffic;
pub(crate) mod transport;
pub(crate) mod varint;
