//! What `examples/dovectors.rs` and `blazer-bench/src/bin/blazer-gpu-bench.rs` compute:
//! `c[i] = a[i] ** b[i]` on the GPU, on reproducible inputs.

/// The kernel, compiled at run time by NVRTC.
pub const KERNEL: &str = r#"
extern "C" __global__ void dopow(const float* a, const float* b, float* c, unsigned int n) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        c[i] = powf(a[i], b[i]);
    }
}
"#;

/// `n` reproducible samples in `[0, 1)` (splitmix64; the original used `np.random.sample`).
pub fn sample(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_reproducible_and_in_range() {
        let a = super::sample(1000, 1);
        assert_eq!(a, super::sample(1000, 1));
        assert_ne!(a, super::sample(1000, 2));
        assert!(a.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
