//! The [`Gpu`] handle that every `gpu()` call of the process shares, and the public entry
//! points that hand it out.

use crate::error::{Error, Result};
use crate::gpu::device::{acquire, GpuInfo, Held};
use crate::gpu::guard::{cuda, describe_compile_error, guarded};
use crate::gpu::lock::wait_from_env;
use crate::gpu::nvrtc::{
    driver_cuda_version, nvrtc_present, nvrtc_version, show_version, NVRTC_SEARCHED,
};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// A GPU held by this rank: its metadata, a `cudarc` context and stream, and the exclusive
/// lease, released when the last clone is dropped. Context, stream or buffers cloned out of
/// it do not extend the lease: drop them with the handle.
///
/// ```no_run
/// # fn main() -> blazer_runtime::Result<()> {
/// let gpu = blazer_runtime::gpu()?;
/// println!("{}", gpu.info());
/// let data = gpu.stream().clone_htod(&[1.0f32, 2.0, 3.0]).expect("copy to the GPU");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Gpu {
    held: Arc<Held>,
}

/// The GPU this process holds, if any: later `gpu()` calls share it.
static CURRENT: Mutex<Weak<Held>> = Mutex::new(Weak::new());

impl Gpu {
    /// Everything known about the GPU, as a serializable value.
    pub fn info(&self) -> &GpuInfo {
        &self.held.info
    }

    /// The CUDA device ordinal on this host.
    pub fn index(&self) -> usize {
        self.held.info.index
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.held.info.name
    }

    /// Compute capability `(major, minor)`.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.held.info.compute_capability
    }

    /// Device memory usable by CUDA contexts, in bytes (see [`GpuInfo::total_memory`]).
    pub fn total_memory(&self) -> usize {
        self.held.info.total_memory
    }

    /// Free device memory in bytes when the GPU was acquired; see [`Gpu::memory_now`].
    pub fn free_memory(&self) -> usize {
        self.held.info.free_memory
    }

    /// `(free, total)` device memory in bytes, queried now.
    pub fn memory_now(&self) -> Result<(usize, usize)> {
        cuda("query the memory", || self.held.context.mem_get_info())
    }

    /// Host name of the rank holding the GPU.
    pub fn host(&self) -> &str {
        &self.held.info.host
    }

    /// MPI rank holding the GPU.
    pub fn rank(&self) -> i32 {
        self.held.info.rank
    }

    /// The `cudarc` context of the device (its primary context).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.held.context
    }

    /// The context's default stream: copies and kernel launches go through it.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.held.stream
    }

    /// Compiles CUDA C++ source with NVRTC and loads it into this GPU's context. A missing
    /// NVRTC library or a compile error (with NVRTC's log) is an [`Error::Gpu`].
    pub fn compile(&self, source: &str) -> Result<Arc<CudaModule>> {
        if !nvrtc_present() {
            return Err(Error::Gpu(format!(
                "NVRTC (libnvrtc.so) cannot be loaded on {}: install the CUDA toolkit's NVRTC \
                 or add its directory to LD_LIBRARY_PATH (also searched: {})",
                self.host(),
                NVRTC_SEARCHED
            )));
        }
        let ptx = cuda("compile a kernel with NVRTC", || {
            cudarc::nvrtc::compile_ptx(source).map_err(describe_compile_error)
        })?;
        guarded(|| self.held.context.load_module(ptx)).map_err(|e| {
            // A PTX newer than the driver (NVRTC of a later CUDA than the driver's) fails here.
            let versions = format!(
                "NVRTC {}, driver for CUDA {}",
                show_version(nvrtc_version()),
                show_version(driver_cuda_version())
            );
            e.into_error(format_args!("load the compiled module ({versions})"))
        })
    }

    /// Compiles `source` (see [`Gpu::compile`]) and returns its `extern "C"` kernel `name`.
    pub fn function(&self, source: &str, name: &str) -> Result<CudaFunction> {
        let module = self.compile(source)?;
        cuda(format_args!("find kernel `{name}`"), || {
            module.load_function(name)
        })
    }
}

impl fmt::Debug for Gpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gpu").field(&self.held.info).finish()
    }
}

/// Holds one GPU of this rank's node for as long as the returned handle (or a clone) lives.
///
/// Waits up to `BLAZER_GPU_WAIT_S` seconds ([`DEFAULT_GPU_WAIT`](crate::DEFAULT_GPU_WAIT) when
/// unset) while every GPU of the node is held by other processes. If this process already
/// holds a GPU, returns it.
/// Without a CUDA driver, device or free GPU it returns [`Error::Gpu`]; it never panics.
pub fn gpu() -> Result<Gpu> {
    gpu_within(wait_from_env()?)
}

/// Like [`gpu()`], waiting at most `wait` for a busy GPU (`Duration::ZERO`: fail at once).
pub fn gpu_within(wait: Duration) -> Result<Gpu> {
    // Holding this mutex while acquiring makes concurrent threads share one GPU.
    let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(held) = current.upgrade() {
        return Ok(Gpu { held });
    }
    let held = Arc::new(acquire(wait)?);
    *current = Arc::downgrade(&held);
    Ok(Gpu { held })
}

/// The lease `#[blazer::task(gpu)]` takes before running its task; the message of the `Err`
/// becomes the task's failure, which already names the task, its rank and host.
pub fn gpu_lease_for_task(_task: &'static str) -> std::result::Result<Gpu, String> {
    gpu().map_err(|e| format!("this task needs a GPU: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::device::gpu_count;
    use crate::gpu::nvrtc::driver_present;
    use crate::gpu::test_support::skip;

    /// Without a driver `gpu()` is a clear `Err`, never a panic; with one this checks nothing
    /// and says so (`real_gpu_holds_and_runs_a_kernel` covers that case).
    #[test]
    fn without_a_driver_gpu_is_a_clear_error() {
        if driver_present() {
            skip("a CUDA driver is installed on this machine");
            return;
        }
        let err = gpu_within(Duration::ZERO).unwrap_err();
        let Error::Gpu(message) = &err else {
            panic!("expected Error::Gpu, got {err}")
        };
        assert!(message.contains("no CUDA driver"), "{message}");
        assert!(message.contains("libcuda.so"), "{message}");
        assert!(matches!(gpu_count(), Err(Error::Gpu(_))));
        let lease = gpu_lease_for_task("demo::kernel").unwrap_err();
        assert!(
            lease.starts_with("this task needs a GPU: GPU error: no CUDA driver"),
            "{lease}"
        );
    }

    /// Runs on a machine with a GPU; elsewhere prints why it was skipped.
    #[test]
    fn real_gpu_holds_and_runs_a_kernel() {
        match gpu_count() {
            Ok(n) if n > 0 => {}
            other => {
                skip(&format!("no GPU ({other:?})"));
                return;
            }
        }
        let held = gpu().expect("a GPU");
        let info = held.info().clone();
        assert!(!info.name.is_empty());
        assert!(info.compute_capability.0 >= 3, "{info}");
        assert!(info.free_memory <= info.total_memory && info.total_memory > 0);
        assert_eq!(gpu().unwrap().info(), &info, "one GPU per process");
        let f = held
            .function(
                r#"extern "C" __global__ void twice(float* x, unsigned int n) {
                    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
                    if (i < n) x[i] *= 2.0f;
                }"#,
                "twice",
            )
            .expect("compile and load");
        use cudarc::driver::{LaunchConfig, PushKernelArg};
        let host: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let stream = held.stream();
        let mut dev = stream.clone_htod(&host).unwrap();
        let n = host.len() as u32;
        let mut launch = stream.launch_builder(&f);
        launch.arg(&mut dev).arg(&n);
        // SAFETY: the kernel writes `n` floats of a buffer of `n` floats.
        unsafe { launch.launch(LaunchConfig::for_num_elems(n)) }.unwrap();
        let back = stream.clone_dtoh(&dev).unwrap();
        let want: Vec<f32> = host.iter().map(|x| x * 2.0).collect();
        assert_eq!(back, want);
        let err = held.compile("this is not CUDA").unwrap_err();
        assert!(err.to_string().contains("NVRTC"), "{err}");
    }
}
