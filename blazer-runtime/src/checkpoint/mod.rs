//! Resumable work: the driver's checkpoint of finished results (`BLAZER_CHECKPOINT`).
//!
//! * [`log`]: the durable, checksummed, append-only log file, and its flush policy.
//! * [`call`]: the keys of calls and items, and which calls are checkpointed.
//!
//! What the primitives do with them (skip what the log holds, record what finishes) is in
//! `api/resume.rs`.

pub(crate) mod call;
pub(crate) mod log;
