//! Element-wise power `c[i] = a[i] ** b[i]` on GPUs, ported from `dovectors` in the original
//! blazer's README (a numba `@vectorize(target='cuda')` kernel under `with blazer.gpu()`).
//!
//! The driver splits two vectors into one block per worker rank. Each block runs as a
//! `#[blazer::task(gpu)]` task: its rank holds one GPU of its node while the task runs,
//! compiles the kernel with NVRTC, runs it and returns the block with its timings. The driver
//! then checks every element against the CPU result.
//!
//! ```sh
//! cargo build --release --features gpu --example dovectors
//! mpirun -n 3 target/release/examples/dovectors 1000000   # 2 workers, 2 blocks
//! ```
//!
//! Without a GPU, CUDA driver or NVRTC on a worker's host it prints why (`Error: task ...
//! failed on rank 1 (host): this task needs a GPU: ...`) and exits with status 1.

use blazer::cudarc::driver::{LaunchConfig, PushKernelArg};
use blazer_suite::dopow::{sample, KERNEL};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One block of the result, with the GPU that computed it and how long each step took.
#[derive(Serialize, Deserialize)]
struct Block {
    gpu: blazer::GpuInfo,
    c: Vec<f32>,
    compile_ms: f64,
    copy_ms: f64,
    kernel_ms: f64,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// `a[i] ** b[i]` on the GPU this task holds.
#[blazer::task(gpu)]
fn dopow(a: Vec<f32>, b: Vec<f32>) -> Result<Block, String> {
    // The task already holds a GPU; `gpu()` returns that one.
    let gpu = blazer::gpu().map_err(|e| e.to_string())?;
    let cuda = |e: blazer::cudarc::driver::DriverError| format!("on {}: {e}", gpu.info());
    if a.len() != b.len() {
        return Err(format!("{} exponents for {} bases", b.len(), a.len()));
    }
    let n = u32::try_from(a.len()).map_err(|_| "block too large for one launch".to_string())?;

    let start = Instant::now();
    let kernel = gpu.function(KERNEL, "dopow").map_err(|e| e.to_string())?;
    let compile_ms = ms(start);

    let stream = gpu.stream();
    let start = Instant::now();
    let a_dev = stream.clone_htod(&a).map_err(cuda)?;
    let b_dev = stream.clone_htod(&b).map_err(cuda)?;
    let mut c_dev = stream.alloc_zeros::<f32>(a.len()).map_err(cuda)?;
    stream.synchronize().map_err(cuda)?;
    let mut copy_ms = ms(start);

    let start = Instant::now();
    let mut launch = stream.launch_builder(&kernel);
    launch.arg(&a_dev).arg(&b_dev).arg(&mut c_dev).arg(&n);
    // SAFETY: the kernel reads `n` floats of `a` and `b` and writes `n` floats of `c`, and
    // all three buffers hold exactly `n` floats.
    unsafe { launch.launch(LaunchConfig::for_num_elems(n)) }.map_err(cuda)?;
    stream.synchronize().map_err(cuda)?;
    let kernel_ms = ms(start);

    let start = Instant::now();
    let c = stream.clone_dtoh(&c_dev).map_err(cuda)?;
    copy_ms += ms(start);
    Ok(Block {
        gpu: gpu.info().clone(),
        c,
        compile_ms,
        copy_ms,
        kernel_ms,
    })
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        None => 1_000_000,
        Some(arg) => arg.parse().map_err(|_| {
            blazer::Error::Usage(format!("usage: dovectors [ELEMENTS]; got {arg:?}"))
        })?,
    };
    let (a, b) = (sample(n, 1), sample(n, 2));
    // One block per worker (the driver itself when it is alone).
    let blocks = (blazer::size() as usize).saturating_sub(1).max(1);
    let chunk = n.div_ceil(blocks).max(1);
    let calls = a
        .chunks(chunk)
        .zip(b.chunks(chunk))
        .map(|(a, b)| blazer::call::<dopow>((a.to_vec(), b.to_vec())));

    let start = Instant::now();
    let results = blazer::parallel(calls)?;
    let gpu_ms = ms(start);

    let start = Instant::now();
    let cpu: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x.powf(*y)).collect();
    let cpu_ms = ms(start);

    for block in &results {
        println!(
            "block of {} on {}: compile {:.1} ms, copies {:.2} ms, kernel {:.3} ms",
            block.c.len(),
            block.gpu,
            block.compile_ms,
            block.copy_ms,
            block.kernel_ms
        );
    }
    let gpu: Vec<f32> = results.into_iter().flat_map(|block| block.c).collect();
    if gpu.len() != n {
        return Err(blazer::Error::Usage(format!(
            "the GPU returned {} elements for {n}",
            gpu.len()
        )));
    }
    // CUDA's powf is within a few ulp of the CPU's, not bit-identical.
    let mut max_diff = 0f32;
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        let diff = (g - c).abs();
        if diff.is_nan() || diff > 8.0 * f32::EPSILON * c.abs() + f32::MIN_POSITIVE {
            return Err(blazer::Error::Usage(format!(
                "element {i}: GPU {g} but CPU {c} ({}^{})",
                a[i], b[i]
            )));
        }
        max_diff = max_diff.max(diff);
    }
    println!("CPU: {cpu_ms:.2} ms; GPU blocks, round trip through the ranks: {gpu_ms:.1} ms");
    println!("MATCH: {n} elements, max |gpu - cpu| = {max_diff:e}");
    Ok(())
}
