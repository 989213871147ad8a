//! Which GPU a rank takes, and taking it: the candidates in this rank's order, the first one
//! whose lock is free, and its context, stream and metadata ([`GpuInfo`]).

use crate::error::{Error, Result};
use crate::gpu::guard::{cuda, guarded, GuardError};
use crate::gpu::lock::{lock_dir, lock_first_free, DeviceLock, LockError, WAIT_ENV};
use crate::gpu::nvrtc::{driver_present, no_driver};
use crate::world;
use cudarc::driver::{result as cu, sys, CudaContext, CudaStream};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a rank knows about the GPU it holds. Serializable, so a task can return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// The CUDA device ordinal on its host (as `CUDA_VISIBLE_DEVICES` presents it).
    pub index: usize,
    /// The device UUID (`GPU-…` without the prefix), stable across processes.
    pub uuid: String,
    /// The device name, such as `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Compute capability `(major, minor)`, such as `(9, 0)`.
    pub compute_capability: (i32, i32),
    /// Device memory usable by CUDA contexts, in bytes (`cuMemGetInfo`'s total): what
    /// `nvidia-smi` shows as `memory.total` less `memory.reserved`.
    pub total_memory: usize,
    /// Free device memory in bytes when the GPU was acquired.
    pub free_memory: usize,
    /// Host name of the rank holding the GPU.
    pub host: String,
    /// MPI rank holding the GPU.
    pub rank: i32,
    /// That rank's index among the ranks of its node.
    pub local_rank: i32,
}

impl fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GIB: f64 = (1u64 << 30) as f64;
        let (major, minor) = self.compute_capability;
        write!(
            f,
            "GPU {} ({}, sm_{major}{minor}, {:.1} GiB, {:.1} GiB free) on {}, rank {}",
            self.index,
            self.name,
            self.total_memory as f64 / GIB,
            self.free_memory as f64 / GIB,
            self.host,
            self.rank
        )
    }
}

/// The state shared by every handle of this process. Fields drop in order, so the lock is
/// released only after the context.
pub(super) struct Held {
    /// What is known about the device.
    pub(super) info: GpuInfo,
    /// The context's default stream.
    pub(super) stream: Arc<CudaStream>,
    /// The device's primary context.
    pub(super) context: Arc<CudaContext>,
    /// The exclusive lease on the device, released last.
    _lock: DeviceLock,
}

/// The number of CUDA devices visible on this host: `Ok(0)` when the driver is installed but
/// sees no device, [`Error::Gpu`] when the driver library is missing or fails.
pub fn gpu_count() -> Result<usize> {
    if !driver_present() {
        return Err(no_driver());
    }
    match guarded(cu::init) {
        Ok(()) => {}
        Err(GuardError::Call(cu::DriverError(sys::CUresult::CUDA_ERROR_NO_DEVICE))) => {
            return Ok(0)
        }
        Err(e) => return Err(e.into_error("initialise the CUDA driver")),
    }
    let n = cuda("count the CUDA devices", cu::device::get_count)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The device this rank tries first: spreads the ranks of a node round-robin over its GPUs.
/// `None` when the node has no GPU.
pub fn preferred_device(local_rank: i32, device_count: usize) -> Option<usize> {
    (device_count > 0).then(|| local_rank.unsigned_abs() as usize % device_count)
}

/// Every device of the node, in the order this rank tries them: its preferred device first,
/// then the next ones, wrapping around.
fn candidate_order(local_rank: i32, device_count: usize) -> Vec<usize> {
    match preferred_device(local_rank, device_count) {
        Some(first) => (0..device_count)
            .map(|k| (first + k) % device_count)
            .collect(),
        None => Vec::new(),
    }
}

/// Takes the first free device of this rank's candidates, waiting up to `wait` while all are
/// held, and opens its context: [`Error::Gpu`] when there is none, or none frees up.
pub(super) fn acquire(wait: Duration) -> Result<Held> {
    let host = world::host();
    let (rank, local_rank) = (world::rank(), world::local_rank());
    let count = gpu_count()?;
    if count == 0 {
        let visible = std::env::var("CUDA_VISIBLE_DEVICES")
            .map(|v| format!(" (CUDA_VISIBLE_DEVICES={v:?})"))
            .unwrap_or_default();
        return Err(Error::Gpu(format!(
            "the CUDA driver sees no device on {host}{visible}"
        )));
    }
    let order = candidate_order(local_rank, count);
    let dir = lock_dir();
    let uuids = order
        .iter()
        .map(|&index| device_uuid(index))
        .collect::<Result<Vec<String>>>()?;
    let paths: Vec<PathBuf> = uuids
        .iter()
        .map(|uuid| dir.join(format!("blazer-gpu-{uuid}.lock")))
        .collect();
    let note = format!("rank {rank} (pid {}) on {host}", std::process::id());
    let (pos, lock) = lock_first_free(&paths, wait, &note).map_err(|e| match e {
        LockError::Io(m) => Error::Gpu(m),
        LockError::Busy(holders) => {
            let held: Vec<String> = order
                .iter()
                .zip(&holders)
                .map(|(index, holder)| format!("GPU {index} by {holder}"))
                .collect();
            Error::Gpu(format!(
                "every GPU of {host} is held by another process after waiting {:.1} s ({}); \
                 run fewer GPU ranks per node or raise {WAIT_ENV}",
                wait.as_secs_f64(),
                held.join(", ")
            ))
        }
    })?;
    let (index, uuid) = (order[pos], uuids[pos].clone());
    let at = |what: &str| format!("{what} of GPU {index} on {host}");
    let context = cuda(at("create the context"), || CudaContext::new(index))?;
    let name = cuda(at("read the name"), || context.name())?;
    let compute_capability = cuda(at("read the compute capability"), || {
        context.compute_capability()
    })?;
    let (free_memory, total_memory) = cuda(at("query the memory"), || context.mem_get_info())?;
    let stream = context.default_stream();
    Ok(Held {
        info: GpuInfo {
            index,
            uuid,
            name,
            compute_capability,
            total_memory,
            free_memory,
            host,
            rank,
            local_rank,
        },
        stream,
        context,
        _lock: lock,
    })
}

/// The device's UUID as 32 hex digits: names its lock file, whatever `CUDA_VISIBLE_DEVICES`
/// makes of its ordinal.
fn device_uuid(index: usize) -> Result<String> {
    let what = format!("read the UUID of GPU {index}");
    let uuid = cuda(&what, || {
        let ordinal = i32::try_from(index).unwrap_or(i32::MAX);
        cu::device::get(ordinal).and_then(cu::device::get_uuid)
    })?;
    Ok(uuid
        .bytes
        .iter()
        .map(|b| format!("{:02x}", *b as u8))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ranks_of_a_node_get_distinct_gpus_while_there_are_enough() {
        for count in 1..=8 {
            for local_size in 1..=count {
                let devices: HashSet<usize> = (0..local_size as i32)
                    .map(|r| preferred_device(r, count).unwrap())
                    .collect();
                assert_eq!(
                    devices.len(),
                    local_size,
                    "{local_size} ranks, {count} GPUs"
                );
            }
        }
    }

    #[test]
    fn more_ranks_than_gpus_share_them_evenly() {
        for count in 1..=4 {
            for local_size in count..=3 * count + 1 {
                let mut per_device = vec![0usize; count];
                for r in 0..local_size as i32 {
                    per_device[preferred_device(r, count).unwrap()] += 1;
                }
                let (lo, hi) = (
                    per_device.iter().min().unwrap(),
                    per_device.iter().max().unwrap(),
                );
                assert!(
                    hi - lo <= 1,
                    "{local_size} ranks on {count} GPUs: {per_device:?}"
                );
            }
        }
    }

    #[test]
    fn no_gpu_means_no_assignment() {
        assert_eq!(preferred_device(0, 0), None);
        assert!(candidate_order(3, 0).is_empty());
    }

    #[test]
    fn candidates_start_at_the_preferred_gpu_and_cover_all() {
        assert_eq!(candidate_order(0, 4), [0, 1, 2, 3]);
        assert_eq!(candidate_order(5, 4), [1, 2, 3, 0]);
        assert_eq!(candidate_order(2, 3), [2, 0, 1]);
        for r in 0..10 {
            let mut order = candidate_order(r, 3);
            order.sort_unstable();
            assert_eq!(order, [0, 1, 2]);
        }
    }

    #[test]
    fn gpu_info_displays_its_metadata() {
        let info = GpuInfo {
            index: 1,
            uuid: "00".repeat(16),
            name: "Test GPU".into(),
            compute_capability: (9, 0),
            total_memory: 80 << 30,
            free_memory: 40 << 30,
            host: "node7".into(),
            rank: 3,
            local_rank: 1,
        };
        assert_eq!(
            info.to_string(),
            "GPU 1 (Test GPU, sm_90, 80.0 GiB, 40.0 GiB free) on node7, rank 3"
        );
    }
}
