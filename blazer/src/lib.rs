//! # blazer
//!
//! Write plain functions and data; blazer runs them on an MPI cluster.
//!
//! ```no_run
//! #[blazer::task]
//! fn sqr(x: i64) -> i64 {
//!     x * x
//! }
//!
//! #[blazer::task]
//! fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! #[blazer::main]
//! fn main() -> blazer::Result<()> {
//!     let squares = blazer::map(blazer::task::<sqr>(), vec![1, 2, 3, 4])?;
//!     blazer::root_println!("{squares:?}"); // [1, 4, 9, 16]
//!     let total = blazer::reduce(blazer::task::<add>(), squares)?;
//!     blazer::root_println!("{total}"); // 30
//!     Ok(())
//! }
//! ```
//!
//! Run it with `mpirun -n 4 ./target/release/app`, or alone as a world of one.
//!
//! ## Model
//! * `#[blazer::task]` registers a function under a stable ID (its path and signature), so
//!   every rank of the same binary can run it. The function stays callable as usual, and a
//!   marker type of the same name names the task: `blazer::task::<sqr>()`.
//! * `#[blazer::main]` starts MPI, checks that every rank runs the same task registry, runs
//!   `main`'s body on rank 0 (the driver) while ranks 1..N-1 serve tasks, and shuts every rank
//!   down when the body returns, panics or fails.
//! * Primitives ([`parallel`], [`pipeline`], [`map`], [`scatter`], [`reduce`]) run on the
//!   driver and return `Result<_, blazer::Error>` with results in input order. A panicking or
//!   failing task gives an `Err` naming the task, rank and message; nothing hangs.
//! * Tasks that call primitives themselves run them inline on their own rank.
//! * `#[blazer::test(ranks = N)]` is a test whose body runs on N ranks, with plain `cargo
//!   test`: the test relaunches itself under the MPI launcher and reports each rank's output
//!   when it fails. `cargo blazer run -n N` and `cargo blazer test -n N` (the `cargo-blazer`
//!   package) build and launch programs and tests with the right launcher.
//!
//! ## The `blazer!` composition language
//!
//! [`blazer!`] writes the original blazer's compositions and expands them into the typed
//! calls above, so a stage whose input type differs from the previous output is a compile
//! error spanned on that stage. It evaluates to `blazer::Result<T>`.
//!
//! ```text
//! input := [crate = path;] node        `crate`: the path blazer is reached by (default
//!                                      `::blazer`), for a renamed dependency
//! node := pipeline[node, ...]          stages in sequence, each output feeds the next
//!       | parallel[node, ...]          branches fed the same input: a Vec when every branch
//!       | parallel[node, ...] as Vec   calls one task (or with `as Vec`), else a tuple
//!       | task                         a task taking the stage input
//!       | task(args...)                partial application: args bound, the stage input last;
//!                                      where there is no input (first stage), all arguments
//!       | map(node, data)  | map(node)       map over data, or over the stage input
//!       | reduce(node, data) | reduce(node)  tree reduction with a two-argument task
//!       | scatter(data, node) | scatter(node) one block per rank
//!       | constant(expr)               ignores its input and yields the value
//! ```
//!
//! ```no_run
//! # #[blazer::task] fn calc_stuff(v: String) -> String { v }
//! # #[blazer::task] fn calc_some(v: String) -> String { v }
//! # #[blazer::task] fn add_date(v: String) -> String { v }
//! # fn demo() -> blazer::Result<()> {
//! use blazer::blazer;
//! let r = blazer! { pipeline[calc_stuff("DATA"), pipeline[calc_some, add_date], calc_stuff] }?;
//! let (a, b) = blazer! { pipeline[calc_stuff("x"), parallel[calc_some, add_date]] }?;
//! let all: Vec<String> = blazer! { parallel[calc_stuff("1"), calc_stuff("2")] }?;
//! # Ok(()) }
//! ```
//!
//! Arguments are converted with `Into`, so `"DATA"` fits a `String` parameter. `map`,
//! `reduce` and `scatter` run on the driver: they are stages of the outermost pipeline, not
//! branches of a `parallel`. A task named like a keyword (`map`, ...) must be called through
//! the plain API.

pub use blazer_macros::{blazer, main, task, test};

// Flows: typed computations built from tasks.
pub use blazer_runtime::{call, constant, fork, partial, task, Branches, Call, Flow, Task, TaskId};
// Primitives, run on the driver; results in input order.
pub use blazer_runtime::{
    map, map_chunked, on_every_rank, parallel, parallel_settled, pipeline, reduce, scatter,
};
// Streams, shared variables and the local pipe combinators.
/// Distributed collections: partitions that stay on the ranks that computed them.
pub use blazer_runtime::{bytes_at_driver, partitions_held, Border, Dataset, Element, Halo, Items};
pub use blazer_runtime::{chunks, shared, stream, Chunks, Feed, Shared, Stream};
pub use blazer_runtime::{filter, pipe, r#where, select, Pipe, Select, Where};
// Where this process stands.
pub use blazer_runtime::{
    host, host_of, is_root, local_rank, local_size, node_of, nodes, rank, root_println, size,
};
// Start-up, errors and exit codes.
pub use blazer_runtime::{exit_code, run, run_on, DriverOutcome, Error, Result, TaskFailure};
// Values and the libraries blazer's API is made of.
pub use blazer_runtime::{mpi, serde_bytes, Plain, RawVec};
// GPUs (the `gpu` feature).
#[cfg(feature = "gpu")]
pub use blazer_runtime::{
    cudarc, gpu, gpu_count, gpu_within, preferred_device, Gpu, GpuInfo, DEFAULT_GPU_WAIT,
};

/// Cross-cluster jobs: Slurm, PBS or `mpirun` over one ssh connection, composed with flows.
pub use blazer_cluster as cluster;
/// The driver at scale, simulated: its real code against N simulated workers.
pub use blazer_runtime::sim;

#[doc(hidden)]
pub use blazer_runtime::{__private, ForkPlan};

/// What `#[blazer::test]` expands to calls: not an API of its own.
#[doc(hidden)]
#[path = "testing.rs"]
pub mod __test;

/// The README's and the guide's code blocks, compiled and run as doctests.
#[cfg(doctest)]
mod guide;
