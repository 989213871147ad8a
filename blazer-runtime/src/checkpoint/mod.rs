//! Resumable work: the driver's checkpoint of finished results (`BLAZER_CHECKPOINT`), all of
//! it in this folder.
//!
//! * [`log`]: the durable, checksummed, append-only log file, and its flush policy.
//! * [`session`]: the log opened and closed around the driver's body, and which calls are
//!   checkpointed (the driver's main thread, outside tasks).
//! * [`key`]: the keys of checkpointed calls and of their items.
//! * [`resume`]: what the primitives do with them: skip what the log holds, record what
//!   finishes.
//!
//! The rest of the runtime reaches checkpointing through one entry point per hook:
//!
//! | hook | caller | entry point |
//! |---|---|---|
//! | start and end of the driver's body | `lifecycle.rs` | [`session::open`], [`session::close`] |
//! | SIGTERM | `sigterm.rs` | [`log::sync`] |
//! | a batch the driver runs itself | `driver/dispatch.rs` | [`session::paused`] |
//! | a call of `map`, `scatter`, `reduce` | `api/primitives.rs` | [`resume::begin`], then [`resume::map`], [`resume::scatter`], [`resume::folds`] |
//! | a `stream` (and `map`, which runs as one) | `api/stream.rs` | [`resume::begin`], then [`resume::StreamCheckpoint`] |

pub(crate) mod key;
pub(crate) mod log;
pub(crate) mod resume;
pub(crate) mod session;
