//! The MPI runtime of [blazer](https://docs.rs/blazer-hpc): task registry, wire protocol,
//! pull-based work queue and primitives. Users depend on the `blazer` facade, which
//! re-exports this crate's API next to the macros.
//!
//! # Layers
//!
//! Each layer uses only the layers above it in this list (no module imports one below it):
//!
//! ```text
//! error, config, task, raw,  foundations: errors and exit codes, BLAZER_* settings, the Task
//! os, output, driver/pace,   trait and TaskId, plain-number vectors, the OS calls std lacks
//! sim/scenario, report/html  (flock, the program's mapped image); letting the launcher read
//!                            this process's output before an abort; how many items a batch
//!                            takes; what a simulated world is made of; BLAZER_REPORT's page
//! world, identity,           facts about the process: rank, size, hosts, nodes; the build
//! checkpoint/log,            identity; the driver's durable log of finished results
//! report/record              (BLAZER_CHECKPOINT); what BLAZER_REPORT records (calls, bytes,
//!                            failures, memory) and its writing
//! checkpoint/session,        the log opened around the driver's body, and which calls are
//! sigterm                    checkpointed; SIGTERM caught on every rank, the driver's fallback
//! wire/                      codec → transport (parts beside messages, in MPI-sized chunks)
//!                            → payload (one encoded value; vectors lent, blocks taken over)
//!                            → plan (Plan, Batch, Packed) → message (ToWorker, ToDriver,
//!                            tags) → outbox, heartbeat → link (the seam: every MPI call
//!                            between the driver and its workers)
//! registry, trace            tasks by ID; task spans for BLAZER_TRACE
//! wire/data_op → dist/part,  a dataset step as it travels; each rank's partitions; bytes
//! dist/exchange →            rank to rank on the data communicator; a step's typed code
//! dist/kernel → dist/run     found from its distance to an anchor; one step run on this
//!                            rank (halos, shuffles, rebalancing, folds up a tree)
//! exec, checkpoint/key,      runs a Plan or a Batch here, knowing no message; the keys of
//! driver/recovery,           checkpointed calls; what to run again (retries, lost ranks); the
//! driver/workers,            driver's record of each worker; a simulated world behind the
//! sim/network                link (workers and network on a virtual clock)
//! driver/load, silence |     the workers by load and by when last heard from (no scans)
//! worker                     ranks 1..: the serve loop, and spreads down a tree of workers
//! driver/queue → dispatch    rank 0: the work queue (WorkQueue, result slots) over a Link →
//!                            how the API runs batches; progress bars
//! api/, checkpoint/resume,   the user API: flow, dataset, checkpoint/resume (checkpointed
//! gpu/                       calls) → stream → primitives → shared, combinators; GPUs
//! sim, lifecycle             the driver against a simulated world (blazer::sim); MPI
//!                            start-up, handshake, driver/worker split, shutdown
//! __private (private.rs)     what the macros' expansions call
//! ```
//!
//! One `map` call: `api/primitives.rs` runs it as an ordered `api/stream.rs`, which pulls
//! items as the window opens, encodes each as a `Payload` (`wire/payload.rs`) and cuts them
//! into `Batch`es (small one-value items packed many to a payload: `Plan::Each`) →
//! `driver/dispatch.rs` submits them to the `WorkQueue` of `driver/queue.rs`, which encodes
//! each as a `ToWorker::Run` message (`wire/message.rs`, its parts beside it:
//! `wire/transport.rs`) and sends it through its `Link` (`wire/link.rs`: MPI) → on a
//! worker, `worker.rs` receives it and `exec.rs` runs the batch through the registry
//! (`registry.rs`) → the reply travels back the same way and the queue files its outputs
//! into the call's result slots → the stream hands them back in input order, decoded. With
//! `BLAZER_CHECKPOINT`, `checkpoint/resume.rs` first takes what the checkpoint log holds and
//! records the rest as the queue files it.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod checkpoint;
mod config;
mod dist;
mod driver;
mod error;
mod exec;
#[cfg(feature = "gpu")]
mod gpu;
mod gpu_glue;
mod identity;
mod lifecycle;
mod os;
mod output;
mod raw;
mod registry;
mod report;
mod sigterm;
pub mod sim;
mod task;
mod trace;
mod wire;
mod worker;
mod world;

pub use api::combinators::{filter, pipe, r#where, select, Pipe, Select, Where};
pub use api::dataset::{partitions_held, Border, Dataset, Halo, Items};
pub use api::flow::{call, constant, fork, partial, task, Branches, Call, Flow, ForkPlan};
pub use api::primitives::{
    map, map_chunked, on_every_rank, parallel, parallel_settled, pipeline, reduce, scatter,
};
pub use api::shared::{shared, Shared};
pub use api::stream::{chunks, stream, Chunks, Feed, Stream};
pub use dist::part::Element;
pub use error::{exit_code, Error, Result, TaskFailure};
#[cfg(feature = "gpu")]
pub use gpu::{gpu, gpu_count, gpu_within, preferred_device, Gpu, GpuInfo, DEFAULT_GPU_WAIT};
pub use lifecycle::{run, run_on, DriverOutcome};
/// The MPI bindings blazer runs on (rsmpi), for programs that also use MPI directly.
pub use mpi;
pub use raw::{Plain, RawVec};
/// Byte buffers encoded as one block: as a task argument or result a `Vec<u8>` already
/// travels as its bytes, but inside your own structs serde writes a `Vec<u8>` byte by byte
/// and a `serde_bytes::ByteBuf` (or `#[serde(with = "serde_bytes")]`) as one block.
pub use serde_bytes;
pub use task::{Task, TaskId};
pub use wire::traffic::bytes_at_driver;
pub use world::{host, host_of, is_root, local_rank, local_size, node_of, nodes, rank, size};

/// The `cudarc` crate blazer's GPU context is built on (contexts, streams, kernels, NVRTC),
/// re-exported so that user code uses the same version.
#[cfg(feature = "gpu")]
pub use cudarc;

/// Items that code generated by the blazer macros refers to. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
