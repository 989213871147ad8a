//! `blazer::gpu()`: one GPU of this rank's node, held exclusively, with its metadata and a
//! `cudarc` context and stream (the original's `with blazer.gpu() as gpu`).
//!
//! * **Which GPU.** A rank prefers device `local_rank % device_count`, its node-local rank
//!   coming from `MPI_Comm_split_type(SHARED)`, so the ranks of a node spread over its GPUs.
//!   When that device is busy it takes the next free one.
//! * **Exclusive.** A GPU is held through an advisory `flock` on a lock file named by the
//!   device's UUID (in `/dev/shm`, or `BLAZER_GPU_LOCK_DIR`), so two processes of a node,
//!   even of different jobs, never hold the same physical GPU. The kernel drops the lock when
//!   the process ends, however it ends. A rank that finds every GPU busy waits up to
//!   `BLAZER_GPU_WAIT_S` seconds ([`DEFAULT_GPU_WAIT`] by default), then gets an `Err` that
//!   names the holders: never an endless wait.
//! * **One per rank.** While this process holds a GPU, every `gpu()` call of the process
//!   shares it (a `#[blazer::task(gpu)]` task that calls `blazer::gpu()` gets its own lease).
//!   The lock is released when the last [`Gpu`] handle is dropped.
//! * **No driver, no panic.** cudarc is loaded at run time. Before any cudarc call the driver
//!   library is probed, and a missing driver, device or NVRTC is an
//!   [`Error::Gpu`](crate::error::Error::Gpu); cudarc panics that slip through are caught and
//!   turned into errors too.
//!
//! The files, each using only those listed before it:
//!
//! * [`guard`]: cudarc calls with their errors and panics turned into [`crate::error::Error`].
//! * [`nvrtc`]: probing the driver library, and finding and loading NVRTC.
//! * [`lock`]: the per-device lock files, and how long to wait for them.
//! * [`device`]: which device a rank takes, and acquiring it ([`GpuInfo`]).
//! * [`handle`]: the shared [`Gpu`] handle and the public entry points.

mod device;
mod guard;
pub(crate) mod handle;
mod lock;
mod nvrtc;
#[cfg(test)]
mod test_support;

pub use device::{gpu_count, preferred_device, GpuInfo};
pub use handle::{gpu, gpu_within, Gpu};
pub use lock::DEFAULT_GPU_WAIT;
