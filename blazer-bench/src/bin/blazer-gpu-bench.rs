//! The GPU path measured on one GPU, each figure next to its baseline from the same run.
//!
//! ```sh
//! cargo build --release -p blazer-bench --features gpu --bin blazer-gpu-bench
//! target/release/blazer-gpu-bench [ELEMENTS] [COPY_MIB]   # alone: an MPI singleton
//! ```
//!
//! Prints:
//! * `INFO` lines: what `blazer::gpu()` reports (name, compute capability, total memory,
//!   UUID), the CUDA driver and NVRTC versions, and the files of `libcuda` and `libnvrtc`
//!   this process loaded, to compare with
//!   `nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv`;
//! * `DOPOW` lines: `c[i] = a[i] ** b[i]` (the `dovectors` kernel) on `ELEMENTS` floats
//!   (default 16 Mi) on the GPU through blazer's `Gpu` handle (NVRTC compile; copies in,
//!   kernel, copy out), the same as a `#[blazer::task(gpu)]` task through `blazer::parallel`,
//!   and on the CPU (one thread and every thread), with the ratios and the largest
//!   difference between the GPU's and the CPU's results;
//! * `COPY` lines: `COPY_MIB` MiB (default 64) host to device and device to host through
//!   blazer's `Gpu` handle and through plain cudarc on a `CudaContext` of its own, from
//!   pageable memory (and, through blazer's context, from page-locked memory), median of
//!   `BLAZER_GPU_BENCH_REPEATS` (default 7) timed copies after one warm-up, in GB/s.
//!
//! Exits 0 after `BENCH OK`, 1 when a GPU step fails or the results differ.

use blazer::cudarc::driver::{CudaContext, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use blazer_suite::dopow::{sample, KERNEL};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

fn fail(what: impl std::fmt::Display) -> blazer::Error {
    blazer::Error::Usage(format!("blazer-gpu-bench: {what}"))
}

fn cuda<T>(what: &str, r: Result<T, blazer::cudarc::driver::DriverError>) -> blazer::Result<T> {
    r.map_err(|e| fail(format!("{what}: {e}")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `f` `repeats` times after one untimed warm-up; the median.
fn timed(repeats: usize, mut f: impl FnMut() -> blazer::Result<()>) -> blazer::Result<Duration> {
    f()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    Ok(median(times))
}

fn cpu_dopow(a: &[f32], b: &[f32], c: &mut [f32]) {
    for ((c, a), b) in c.iter_mut().zip(a).zip(b) {
        *c = a.powf(*b);
    }
}

fn cpu_dopow_threads(a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    let chunk = a.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for ((c, a), b) in c
            .chunks_mut(chunk)
            .zip(a.chunks(chunk))
            .zip(b.chunks(chunk))
        {
            s.spawn(move || cpu_dopow(a, b, c));
        }
    });
}

/// The largest `|g - c|`, or an error naming the first element out of tolerance.
fn compare(gpu: &[f32], cpu: &[f32]) -> blazer::Result<f32> {
    if gpu.len() != cpu.len() {
        return Err(fail(format!("{} GPU results for {}", gpu.len(), cpu.len())));
    }
    let mut max_diff = 0f32;
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let diff = (g - c).abs();
        if diff.is_nan() || diff > 8.0 * f32::EPSILON * c.abs() + f32::MIN_POSITIVE {
            return Err(fail(format!("element {i}: GPU {g} but CPU {c}")));
        }
        max_diff = max_diff.max(diff);
    }
    Ok(max_diff)
}

/// What the task returns.
#[derive(Serialize, Deserialize)]
struct Done {
    c: blazer::RawVec<f32>,
    gpu_ms: f64,
}

/// The `dovectors` task: compiles (cached per process), copies in, runs, copies out.
#[blazer::task(gpu)]
fn dopow_task(a: blazer::RawVec<f32>, b: blazer::RawVec<f32>) -> Result<Done, String> {
    let gpu = blazer::gpu().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let c = run_dopow(gpu.stream(), &kernel(&gpu)?, &a.0, &b.0).map_err(|e| e.to_string())?;
    Ok(Done {
        c: blazer::RawVec(c),
        gpu_ms: ms(start.elapsed()),
    })
}

/// The kernel, compiled once per process.
fn kernel(gpu: &blazer::Gpu) -> Result<blazer::cudarc::driver::CudaFunction, String> {
    static KERNEL_FN: std::sync::Mutex<Option<blazer::cudarc::driver::CudaFunction>> =
        std::sync::Mutex::new(None);
    let mut cached = KERNEL_FN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = cached.as_ref() {
        return Ok(f.clone());
    }
    let f = gpu.function(KERNEL, "dopow").map_err(|e| e.to_string())?;
    *cached = Some(f.clone());
    Ok(f)
}

/// Copies `a` and `b` in, runs the kernel, copies `c` out.
fn run_dopow(
    stream: &Arc<CudaStream>,
    f: &blazer::cudarc::driver::CudaFunction,
    a: &[f32],
    b: &[f32],
) -> blazer::Result<Vec<f32>> {
    let n = u32::try_from(a.len()).map_err(|_| fail("too many elements"))?;
    let a_dev = cuda("copy a in", stream.clone_htod(a))?;
    let b_dev = cuda("copy b in", stream.clone_htod(b))?;
    let mut c_dev = cuda("allocate c", stream.alloc_zeros::<f32>(a.len()))?;
    launch(stream, f, &a_dev, &b_dev, &mut c_dev, n)?;
    cuda("copy c out", stream.clone_dtoh(&c_dev))
}

fn launch(
    stream: &Arc<CudaStream>,
    f: &blazer::cudarc::driver::CudaFunction,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    c: &mut CudaSlice<f32>,
    n: u32,
) -> blazer::Result<()> {
    let mut builder = stream.launch_builder(f);
    builder.arg(a).arg(b).arg(c).arg(&n);
    // SAFETY: the kernel reads `n` floats of `a` and `b` and writes `n` floats of `c`, and
    // all three buffers hold exactly `n` floats.
    cuda("launch", unsafe {
        builder.launch(LaunchConfig::for_num_elems(n))
    })?;
    Ok(())
}

/// The files of the loaded libraries whose names contain `needle`.
fn loaded(needle: &str) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut files: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(needle))
        .collect();
    files.dedup();
    if files.is_empty() {
        "(not loaded)".to_string()
    } else {
        files.join(" ")
    }
}

fn versions() -> (String, String) {
    use blazer::cudarc::{driver::sys as cu, nvrtc::sys as rtc};
    let mut driver = 0;
    // SAFETY: writes one int; the driver is loaded (a GPU is held).
    let driver = match unsafe { cu::cuDriverGetVersion(&mut driver) } {
        cu::CUresult::CUDA_SUCCESS => format!("{}.{}", driver / 1000, driver % 1000 / 10),
        e => format!("{e:?}"),
    };
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints; NVRTC is loaded (a kernel was compiled).
    let nvrtc = match unsafe { rtc::nvrtcVersion(&mut major, &mut minor) } {
        rtc::nvrtcResult::NVRTC_SUCCESS => format!("{major}.{minor}"),
        e => format!("{e:?}"),
    };
    (driver, nvrtc)
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

/// Times `bytes` host to device and back on `stream`, from pageable memory: the medians.
fn copies(
    stream: &Arc<CudaStream>,
    bytes: usize,
    repeats: usize,
) -> blazer::Result<(Duration, Duration)> {
    let host: Vec<u8> = (0..bytes).map(|i| (i * 7 + 3) as u8).collect();
    let mut back = vec![0u8; bytes];
    let mut dev = cuda("allocate", stream.alloc_zeros::<u8>(bytes))?;
    let htod = timed(repeats, || {
        cuda("copy in", stream.memcpy_htod(&host, &mut dev))?;
        cuda("synchronize", stream.synchronize())
    })?;
    let dtoh = timed(repeats, || {
        cuda("copy out", stream.memcpy_dtoh(&dev, &mut back))?;
        cuda("synchronize", stream.synchronize())
    })?;
    if back != host {
        return Err(fail("the bytes copied back differ"));
    }
    Ok((htod, dtoh))
}

/// The same from page-locked host memory.
fn pinned_copies(
    ctx: &Arc<CudaContext>,
    stream: &Arc<CudaStream>,
    bytes: usize,
    repeats: usize,
) -> blazer::Result<(Duration, Duration)> {
    // SAFETY: the buffers are written before they are read.
    let mut host = cuda("allocate pinned", unsafe {
        ctx.alloc_pinned_with_flags::<u8>(bytes, 0)
    })?;
    let mut back = cuda("allocate pinned", unsafe {
        ctx.alloc_pinned_with_flags::<u8>(bytes, 0)
    })?;
    for (i, x) in cuda("map pinned", host.as_mut_slice())?
        .iter_mut()
        .enumerate()
    {
        *x = (i * 7 + 3) as u8;
    }
    let mut dev = cuda("allocate", stream.alloc_zeros::<u8>(bytes))?;
    let htod = timed(repeats, || {
        cuda("copy in", stream.memcpy_htod(&host, &mut dev))?;
        cuda("synchronize", stream.synchronize())
    })?;
    let dtoh = timed(repeats, || {
        cuda("copy out", stream.memcpy_dtoh(&dev, &mut back))?;
        cuda("synchronize", stream.synchronize())
    })?;
    if cuda("map pinned", back.as_slice())? != cuda("map pinned", host.as_slice())? {
        return Err(fail("the pinned bytes copied back differ"));
    }
    Ok((htod, dtoh))
}

fn arg(pos: usize, default: usize) -> blazer::Result<usize> {
    match std::env::args().nth(pos) {
        None => Ok(default),
        Some(a) => a.parse().map_err(|_| {
            fail(format!(
                "usage: blazer-gpu-bench [ELEMENTS] [COPY_MIB]; got {a:?}"
            ))
        }),
    }
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let n = arg(1, 16 * MIB)?;
    let copy_bytes = arg(2, 64)? * MIB;
    let repeats: usize = match std::env::var("BLAZER_GPU_BENCH_REPEATS") {
        Ok(v) => v
            .parse()
            .map_err(|_| fail("BLAZER_GPU_BENCH_REPEATS: a count"))?,
        Err(_) => 7,
    }
    .max(1);

    // --- what blazer reports
    let start = Instant::now();
    let gpu = blazer::gpu()?;
    let acquire = start.elapsed();
    let info = gpu.info();
    println!("INFO gpu: {info}");
    println!(
        "INFO name={:?} compute_cap={}.{} memory.total={} MiB ({} bytes) uuid=GPU-{} devices={}",
        info.name,
        info.compute_capability.0,
        info.compute_capability.1,
        info.total_memory / MIB,
        info.total_memory,
        info.uuid,
        blazer::gpu_count()?
    );
    println!(
        "INFO blazer::gpu() took {:.1} ms (driver init, lock, context)",
        ms(acquire)
    );

    // --- (a) dopow: GPU through blazer, as a blazer task, CPU
    let (a, b) = (sample(n, 1), sample(n, 2));
    let start = Instant::now();
    let f = kernel(&gpu).map_err(fail)?;
    let compile = start.elapsed();
    let (driver, nvrtc) = versions();
    println!("INFO CUDA driver supports CUDA {driver}; NVRTC {nvrtc}");
    println!("INFO libcuda: {}", loaded("libcuda"));
    println!("INFO libnvrtc: {}", loaded("libnvrtc"));
    println!("DOPOW NVRTC compile + module load: {:.1} ms", ms(compile));

    let stream = gpu.stream();
    let mut gpu_c = Vec::new();
    let round_trip = timed(repeats, || {
        gpu_c = run_dopow(stream, &f, &a, &b)?;
        Ok(())
    })?;
    let a_dev = cuda("copy a in", stream.clone_htod(&a))?;
    let b_dev = cuda("copy b in", stream.clone_htod(&b))?;
    let mut c_dev = cuda("allocate c", stream.alloc_zeros::<f32>(n))?;
    let kernel_only = timed(repeats, || {
        launch(stream, &f, &a_dev, &b_dev, &mut c_dev, n as u32)?;
        cuda("synchronize", stream.synchronize())
    })?;
    drop((a_dev, b_dev, c_dev));

    let task_start = Instant::now();
    let done = blazer::parallel([blazer::call::<dopow_task>((
        blazer::RawVec(a.clone()),
        blazer::RawVec(b.clone()),
    ))])?
    .pop()
    .ok_or_else(|| fail("the task returned nothing"))?;
    let task_ms = ms(task_start.elapsed());

    let mut cpu_c = vec![0f32; n];
    let cpu1 = timed(repeats.min(3), || {
        cpu_dopow(&a, &b, &mut cpu_c);
        Ok(())
    })?;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut cpu_mt = vec![0f32; n];
    let cpun = timed(repeats.min(3), || {
        cpu_dopow_threads(&a, &b, &mut cpu_mt, threads);
        Ok(())
    })?;
    if cpu_mt != cpu_c {
        return Err(fail("the threaded CPU result differs from the serial one"));
    }
    let max_diff = compare(&gpu_c, &cpu_c)?;
    let task_diff = compare(&done.c.0, &cpu_c)?;
    let mb = (3 * n * 4) as f64 / 1e6;
    println!("DOPOW n={n} ({mb:.0} MB moved per round trip), median of {repeats} after a warm-up");
    println!(
        "DOPOW GPU via blazer Gpu handle, copies + kernel: {:.2} ms; kernel alone {:.3} ms",
        ms(round_trip),
        ms(kernel_only)
    );
    println!(
        "DOPOW GPU as #[blazer::task(gpu)] via blazer::parallel (one run, first call of the \
         task): {task_ms:.1} ms, of which GPU work {:.2} ms",
        done.gpu_ms
    );
    println!(
        "DOPOW CPU 1 thread: {:.2} ms; CPU {threads} threads: {:.2} ms",
        ms(cpu1),
        ms(cpun)
    );
    println!(
        "DOPOW ratio CPU-1-thread / GPU-round-trip = {:.1}x; CPU-{threads}-threads / \
         GPU-round-trip = {:.1}x; CPU-1-thread / GPU-kernel = {:.0}x",
        cpu1.as_secs_f64() / round_trip.as_secs_f64(),
        cpun.as_secs_f64() / round_trip.as_secs_f64(),
        cpu1.as_secs_f64() / kernel_only.as_secs_f64()
    );
    println!(
        "DOPOW MATCH: {n} elements, max |gpu - cpu| = {max_diff:e} (handle), {task_diff:e} (task)"
    );

    // --- (b) copies: blazer's handle vs plain cudarc
    let mib = copy_bytes / MIB;
    let (b_htod, b_dtoh) = copies(stream, copy_bytes, repeats)?;
    let own = cuda("plain CudaContext::new", CudaContext::new(gpu.index()))?;
    let own_stream = own.default_stream();
    let (p_htod, p_dtoh) = copies(&own_stream, copy_bytes, repeats)?;
    let (pin_htod, pin_dtoh) = pinned_copies(gpu.context(), stream, copy_bytes, repeats)?;
    println!("COPY {mib} MiB, pageable host memory, median of {repeats} after a warm-up");
    for (what, blazer_t, plain_t) in [("HtoD", b_htod, p_htod), ("DtoH", b_dtoh, p_dtoh)] {
        println!(
            "COPY {what}: blazer Gpu {:.2} ms = {:.1} GB/s; plain cudarc {:.2} ms = {:.1} GB/s; \
             blazer/plain time ratio {:.3}",
            ms(blazer_t),
            gbps(copy_bytes, blazer_t),
            ms(plain_t),
            gbps(copy_bytes, plain_t),
            blazer_t.as_secs_f64() / plain_t.as_secs_f64()
        );
    }
    println!(
        "COPY page-locked host memory via blazer's context: HtoD {:.1} GB/s, DtoH {:.1} GB/s",
        gbps(copy_bytes, pin_htod),
        gbps(copy_bytes, pin_dtoh)
    );
    let (free, total) = gpu.memory_now()?;
    println!(
        "INFO memory now: {} MiB free of {} MiB",
        free / MIB,
        total / MIB
    );
    println!("BENCH OK");
    Ok(())
}
