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
//!   library is probed, and a missing driver, device or NVRTC is an [`Error::Gpu`]; cudarc
//!   panics that slip through are caught and turned into errors too.

use crate::error::{Error, Result};
use crate::exec::panic_message;
use crate::world;
use cudarc::driver::{result as cu, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long [`gpu()`] waits for a GPU of the node to become free when `BLAZER_GPU_WAIT_S`
/// is not set.
pub const DEFAULT_GPU_WAIT: Duration = Duration::from_secs(300);

/// Environment variable: seconds [`gpu()`] waits for a busy GPU (a decimal number, `0` for
/// no wait), read through [`crate::config`].
const WAIT_ENV: &str = crate::config::GPU_WAIT;

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

/// The state shared by every handle of this process. Fields drop in order, so the lock is
/// released only after the context.
struct Held {
    info: GpuInfo,
    stream: Arc<CudaStream>,
    context: Arc<CudaContext>,
    _lock: DeviceLock,
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
/// Waits up to `BLAZER_GPU_WAIT_S` seconds ([`DEFAULT_GPU_WAIT`] when unset) while every GPU
/// of the node is held by other processes. If this process already holds a GPU, returns it.
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

/// The lease `#[blazer::task(gpu)]` takes before running its task; the message of the `Err`
/// becomes the task's failure, which already names the task, its rank and host.
pub fn gpu_lease_for_task(_task: &'static str) -> std::result::Result<Gpu, String> {
    gpu().map_err(|e| format!("this task needs a GPU: {e}"))
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

fn acquire(wait: Duration) -> Result<Held> {
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

/// Is the CUDA driver library loadable? Checked once: cudarc panics on its first call
/// without it.
fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen the driver library and closes it again.
    *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

/// Is NVRTC loadable? Checked once, for the same reason. When cudarc's lookup by library
/// name fails, NVRTC is looked for in the usual places of a CUDA toolkit or a pip install
/// (see [`nvrtc_search_dirs`]) and loaded from there, so that cudarc's lookup then finds it.
fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: as for the driver.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() } || preload_nvrtc())
}

/// Where [`nvrtc_search_dirs`] looks, for error messages.
const NVRTC_SEARCHED: &str = "$CUDA_HOME/lib64, /usr/local/cuda*/lib64 and \
    nvidia/{cu13,cuda_nvrtc}/lib of Python's site-packages";

/// Directories that may hold NVRTC outside the library search path, most likely first: the
/// toolkit named by `CUDA_HOME` (or `CUDA_PATH`, `CUDA_ROOT`), `/usr/local/cuda`, versioned
/// toolkits `/usr/local/cuda-X.Y` (newest first), and the pip packages `nvidia-cuda-nvrtc`
/// (`nvidia/cu13/lib` for CUDA 13, `nvidia/cuda_nvrtc/lib` for CUDA 12) in the usual Python
/// environments.
fn nvrtc_search_dirs() -> Vec<PathBuf> {
    let arch_dir = format!("targets/{}-linux/lib", std::env::consts::ARCH);
    let arch_dir = if cfg!(target_arch = "aarch64") {
        "targets/sbsa-linux/lib".to_string()
    } else {
        arch_dir
    };
    let toolkit = |root: &Path| [root.join("lib64"), root.join("lib"), root.join(&arch_dir)];
    let mut dirs = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"] {
        if let Some(root) = std::env::var_os(var) {
            dirs.extend(toolkit(Path::new(&root)));
        }
    }
    dirs.extend(toolkit(Path::new("/usr/local/cuda")));
    let mut versioned = children(Path::new("/usr/local"), "cuda-");
    versioned.sort_by(|a, b| b.cmp(a));
    for root in versioned {
        dirs.extend(toolkit(&root));
    }
    let mut prefixes: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.extend(["/usr/local", "/usr", "/opt/conda"].map(PathBuf::from));
    for prefix in &prefixes {
        // conda puts the toolkit's libraries straight into the environment's lib.
        dirs.push(prefix.join("lib"));
        for python in children(&prefix.join("lib"), "python3") {
            for packages in ["site-packages", "dist-packages"] {
                for lib in ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"] {
                    dirs.push(python.join(packages).join(lib));
                }
            }
        }
    }
    dirs
}

/// The entries of `dir` whose names start with `prefix` (none when it cannot be read).
fn children(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The NVRTC library files of `dir` that cudarc's lookup would accept by name
/// (`libnvrtc.so.13`, `libnvrtc.so.12`, ...), newest major version first.
fn nvrtc_files_in(dir: &Path) -> Vec<PathBuf> {
    let accepted = cudarc::get_lib_name_candidates("nvrtc");
    let mut found: Vec<(u32, PathBuf)> = children(dir, "libnvrtc.so.")
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            let major: u32 = name.strip_prefix("libnvrtc.so.")?.parse().ok()?;
            accepted.contains(&name).then_some((major, path))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Loads NVRTC (and its builtins library, which NVRTC itself loads by name) from the first
/// [`nvrtc_search_dirs`] directory that has it, and keeps it loaded. The dynamic loader then
/// hands the loaded library to cudarc's lookup by its soname (`libnvrtc.so.13`, say).
fn preload_nvrtc() -> bool {
    for dir in nvrtc_search_dirs() {
        for nvrtc in nvrtc_files_in(&dir) {
            for builtins in children(&dir, "libnvrtc-builtins.so") {
                dlopen_forever(&builtins);
            }
            // SAFETY: as for the driver.
            if dlopen_forever(&nvrtc) && unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                return true;
            }
        }
    }
    false
}

/// `dlopen`s `path` and never closes it: whether it loaded.
fn dlopen_forever(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: loads a CUDA library, whose initialisers have no preconditions; the handle is
    // deliberately leaked so that it stays loaded for the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    !handle.is_null()
}

/// NVRTC's version `(major, minor)`, if NVRTC is loaded.
fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_present() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints.
    let rc = catch_unwind(AssertUnwindSafe(|| unsafe {
        cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor)
    }));
    matches!(rc, Ok(cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS)).then_some((major, minor))
}

/// The newest CUDA version the driver supports, `(major, minor)`.
fn driver_cuda_version() -> Option<(i32, i32)> {
    if !driver_present() {
        return None;
    }
    let mut version = 0;
    // SAFETY: writes one int.
    let rc = catch_unwind(AssertUnwindSafe(|| unsafe {
        sys::cuDriverGetVersion(&mut version)
    }));
    matches!(rc, Ok(sys::CUresult::CUDA_SUCCESS)).then_some((version / 1000, version % 1000 / 10))
}

fn show_version(v: Option<(i32, i32)>) -> String {
    v.map_or_else(
        || "?".to_string(),
        |(major, minor)| format!("{major}.{minor}"),
    )
}

fn no_driver() -> Error {
    Error::Gpu(format!(
        "no CUDA driver on {}: libcuda.so cannot be loaded; install the NVIDIA driver or add \
         its directory to LD_LIBRARY_PATH",
        world::host()
    ))
}

/// Why a guarded cudarc call failed: its own error, or a panic.
enum GuardError<E> {
    Call(E),
    Panic(String),
}

impl<E: fmt::Display> GuardError<E> {
    fn into_error(self, what: impl fmt::Display) -> Error {
        match self {
            GuardError::Call(e) => Error::Gpu(format!("cannot {what}: {e}")),
            GuardError::Panic(m) => Error::Gpu(format!("cannot {what}: cudarc panicked: {m}")),
        }
    }
}

/// Runs a cudarc call, turning a panic (a missing symbol in an old driver, say) into an error.
fn guarded<T, E>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, GuardError<E>> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(GuardError::Call),
        Err(payload) => Err(GuardError::Panic(panic_message(&*payload))),
    }
}

/// A guarded cudarc call whose failure reads "cannot `what`: …".
fn cuda<T, E: fmt::Display>(
    what: impl fmt::Display,
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> Result<T> {
    guarded(f).map_err(|e| e.into_error(what))
}

fn describe_compile_error(e: cudarc::nvrtc::CompileError) -> String {
    match e {
        cudarc::nvrtc::CompileError::CompileError { nvrtc, log, .. } => {
            format!("{nvrtc:?}:\n{}", log.to_string_lossy().trim_end())
        }
        other => other.to_string(),
    }
}

/// The wait from `BLAZER_GPU_WAIT_S`, or [`DEFAULT_GPU_WAIT`].
fn wait_from_env() -> Result<Duration> {
    match &crate::config::config().gpu_wait {
        None => Ok(DEFAULT_GPU_WAIT),
        Some(v) => parse_wait(v).ok_or_else(|| {
            Error::Gpu(format!(
                "{WAIT_ENV} must be a number of seconds, such as 60 or 0.5; it is {v:?}"
            ))
        }),
    }
}

fn parse_wait(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Where the lock files live: shared memory when there is one (per node, cleared at boot).
fn lock_dir() -> PathBuf {
    if let Some(dir) = &crate::config::config().gpu_lock_dir {
        return dir.clone();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// An exclusive advisory lock on one lock file, released when dropped or when the process
/// ends (the kernel drops `flock` locks with the last descriptor).
struct DeviceLock {
    _file: File,
}

/// Why no lock file could be locked.
#[derive(Debug)]
enum LockError {
    /// Every file is locked by another process: who holds each, in the order given.
    Busy(Vec<String>),
    /// A lock file could not be opened or locked.
    Io(String),
}

/// Locks the first free file of `paths`, retrying (with back-off) until `wait` has passed.
/// Returns the position of the locked file. `note` is written into it to name the holder.
fn lock_first_free(
    paths: &[PathBuf],
    wait: Duration,
    note: &str,
) -> std::result::Result<(usize, DeviceLock), LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        for (pos, path) in paths.iter().enumerate() {
            let locked = try_lock(path, note)
                .map_err(|e| LockError::Io(format!("cannot lock {}: {e}", path.display())))?;
            if let Some(lock) = locked {
                return Ok((pos, lock));
            }
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(LockError::Busy(paths.iter().map(|p| holder(p)).collect()));
        }
        std::thread::sleep(pause.min(wait - waited));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Tries once to lock `path` exclusively; `Ok(None)` when another descriptor holds it.
fn try_lock(path: &Path, note: &str) -> io::Result<Option<DeviceLock>> {
    let file = open_lock_file(path)?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(err),
        };
    }
    // Best effort: only used to name the holder in a waiting rank's error.
    let _ = file
        .set_len(0)
        .and_then(|()| (&file).write_all(note.as_bytes()));
    Ok(Some(DeviceLock { _file: file }))
}

/// Opens (creating) a lock file that other users may lock too; a file another user created
/// without write permission is locked read-only.
fn open_lock_file(path: &Path) -> io::Result<File> {
    let rw = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .open(path);
    match rw {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        other => other,
    }
}

/// Who holds the lock on `path`, as its holder wrote it.
fn holder(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "an unknown process".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A fresh directory for lock files, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("blazer-gpu-test-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Says why a test checked nothing. Written to the descriptor, past libtest's capture,
    /// so that the skip shows in a plain `cargo test`.
    fn skip(why: &str) {
        let _ = writeln!(io::stderr(), "skipped: {why}");
    }

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
    fn a_held_lock_excludes_others_until_dropped() {
        let dir = TempDir::new("excl");
        let path = dir.file("gpu-a.lock");
        let (pos, first) =
            lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 1").unwrap();
        assert_eq!(pos, 0);
        // flock locks of two open descriptions conflict, in one process as across processes.
        match lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 2") {
            Err(LockError::Busy(holders)) => assert_eq!(holders, ["rank 1"]),
            other => panic!("expected Busy, got {:?}", other.map(|(p, _)| p)),
        }
        drop(first);
        let (_, second) =
            lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 2").unwrap();
        assert_eq!(holder(&path), "rank 2");
        drop(second);
    }

    #[test]
    fn a_busy_first_choice_falls_over_to_the_next_free_gpu() {
        let dir = TempDir::new("next");
        let paths = [dir.file("a.lock"), dir.file("b.lock"), dir.file("c.lock")];
        let (p0, _a) = lock_first_free(&paths, Duration::ZERO, "x").unwrap();
        let (p1, _b) = lock_first_free(&paths, Duration::ZERO, "y").unwrap();
        let (p2, _c) = lock_first_free(&paths, Duration::ZERO, "z").unwrap();
        assert_eq!((p0, p1, p2), (0, 1, 2));
        match lock_first_free(&paths, Duration::ZERO, "w") {
            Err(LockError::Busy(holders)) => assert_eq!(holders, ["x", "y", "z"]),
            other => panic!("expected Busy, got {:?}", other.map(|(p, _)| p)),
        }
    }

    /// The lock is the kernel's `flock`, so another process (here util-linux `flock`) sees it.
    #[test]
    fn another_process_cannot_take_a_held_gpu() {
        let dir = TempDir::new("proc");
        let path = dir.file("gpu.lock");
        let other_tries = || {
            std::process::Command::new("flock")
                .args(["--nonblock", "--conflict-exit-code", "7"])
                .arg(&path)
                .arg("true")
                .status()
        };
        let held = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let Ok(status) = other_tries() else {
            skip("the `flock` command is not installed");
            return;
        };
        assert_eq!(status.code(), Some(7), "another process took a held lock");
        drop(held);
        assert_eq!(other_tries().unwrap().code(), Some(0));
    }

    #[test]
    fn waiting_for_a_busy_gpu_is_bounded() {
        let dir = TempDir::new("wait");
        let path = dir.file("gpu.lock");
        let _held = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let wait = Duration::from_millis(150);
        let start = Instant::now();
        let got = lock_first_free(std::slice::from_ref(&path), wait, "w");
        let took = start.elapsed();
        assert!(matches!(got, Err(LockError::Busy(_))));
        assert!(took >= wait, "gave up after {took:?}");
        assert!(took < wait + Duration::from_secs(5), "waited {took:?}");
    }

    #[test]
    fn a_waiting_rank_gets_the_gpu_once_it_is_released() {
        let dir = TempDir::new("release");
        let path = dir.file("gpu.lock");
        let (_, held) = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let got = lock_first_free(std::slice::from_ref(&path), Duration::from_secs(30), "w");
        releaser.join().unwrap();
        assert!(got.is_ok());
        assert_eq!(holder(&path), "w");
    }

    #[test]
    fn an_unusable_lock_directory_is_an_io_error() {
        let dir = TempDir::new("io");
        let path = dir.file("missing-dir").join("gpu.lock");
        assert!(matches!(
            lock_first_free(&[path], Duration::ZERO, "x"),
            Err(LockError::Io(_))
        ));
    }

    #[test]
    fn the_wait_parses_seconds_and_rejects_garbage() {
        assert_eq!(parse_wait("0"), Some(Duration::ZERO));
        assert_eq!(parse_wait(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_wait("-1"), None);
        assert_eq!(parse_wait("soon"), None);
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

    /// cudarc looks NVRTC up by name only: the names must cover CUDA 13 and CUDA 12.
    #[test]
    fn nvrtc_lookup_covers_cuda_12_and_13() {
        let names = cudarc::get_lib_name_candidates("nvrtc");
        for name in ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
        let drivers = cudarc::get_lib_name_candidates("cuda");
        assert!(drivers.iter().any(|n| n == "libcuda.so.1"), "{drivers:?}");
    }

    #[test]
    fn nvrtc_is_searched_in_toolkits_and_pip_packages() {
        let dirs = nvrtc_search_dirs();
        let has = |d: &str| dirs.iter().any(|p| p == Path::new(d));
        assert!(has("/usr/local/cuda/lib64"), "{dirs:?}");
        let dir = TempDir::new("nvrtc");
        for name in [
            "libnvrtc.so.12",
            "libnvrtc.so.13",
            "libnvrtc.so.13.0.48",
            "libnvrtc.so",
            "libnvrtc-builtins.so.13.0",
            "libnvrtc.so.x",
        ] {
            std::fs::write(dir.file(name), b"").unwrap();
        }
        assert_eq!(
            nvrtc_files_in(&dir.0),
            [dir.file("libnvrtc.so.13"), dir.file("libnvrtc.so.12")]
        );
        assert!(nvrtc_files_in(&dir.file("missing")).is_empty());
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
