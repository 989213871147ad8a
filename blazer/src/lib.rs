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
//!     blazer::print!("{squares:?}"); // [1, 4, 9, 16]
//!     let total = blazer::reduce(blazer::task::<add>(), squares)?;
//!     blazer::print!("{total}"); // 30
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

pub use blazer_macros::{blazer, main, task};
pub use blazer_runtime::*;

#[doc(hidden)]
pub use blazer_runtime::__private;
