//! The README and the guide under `docs/guide/`, as doctests: `cargo test --doc -p blazer-hpc`
//! compiles every ```` ```rust ```` block of them and runs it (as a world of one) unless it is
//! marked `no_run`, so that no example of the documentation can drift from the code.
//! Compiled only for doctests: nothing here is part of the library.

macro_rules! pages {
    ($($name:ident = $path:literal),* $(,)?) => {
        $(
            #[doc = include_str!($path)]
            mod $name {}
        )*
    };
}

pages! {
    readme = "../../README.md",
    guide_index = "../../docs/guide/README.md",
    guide_architecture = "../../docs/guide/architecture.md",
    guide_cluster = "../../docs/guide/cluster.md",
    guide_datasets = "../../docs/guide/datasets.md",
    guide_examples = "../../docs/guide/examples.md",
    guide_install = "../../docs/guide/install.md",
    guide_limits = "../../docs/guide/limits.md",
    guide_macro = "../../docs/guide/macro.md",
    guide_own_mpi = "../../docs/guide/own-mpi.md",
    guide_performance = "../../docs/guide/performance.md",
    guide_running = "../../docs/guide/running.md",
    guide_scale = "../../docs/guide/scale.md",
    guide_streaming = "../../docs/guide/streaming.md",
    guide_walltime = "../../docs/guide/walltime.md",
}

// The GPU page's task needs `#[blazer::task(gpu)]`: compiled with the `gpu` feature
// (`cargo test --doc -p blazer-hpc --features gpu`).
#[cfg(feature = "gpu")]
pages! {
    guide_gpu = "../../docs/guide/gpu.md",
}
