//! What `#[blazer::task(gpu)]` expands to call. Without the `gpu` feature the attribute is a
//! compile error that says how to enable it.

/// Expands to nothing when the `gpu` feature is on.
#[cfg(feature = "gpu")]
#[doc(hidden)]
#[macro_export]
macro_rules! __blazer_require_gpu_feature {
    () => {};
}

/// Without the `gpu` feature, a GPU task does not compile.
#[cfg(not(feature = "gpu"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __blazer_require_gpu_feature {
    () => {
        ::std::compile_error!(
            "`#[blazer::task(gpu)]` needs the `gpu` feature: `blazer = { ..., features = [\"gpu\"] }`"
        );
    };
}

pub use crate::__blazer_require_gpu_feature as require_gpu_feature;

/// Holds a GPU for a GPU task while it runs; the `Err` message becomes the task's failure.
#[cfg(not(feature = "gpu"))]
pub fn gpu_lease_for_task(task: &'static str) -> Result<(), String> {
    Err(format!(
        "task `{task}` needs a GPU, but blazer was built without the `gpu` feature"
    ))
}

#[cfg(feature = "gpu")]
pub use crate::gpu::handle::gpu_lease_for_task;
