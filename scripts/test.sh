#!/usr/bin/env bash
# Sets up and runs every check: formatting, clippy, unit, doc, macro and multi-rank tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# --browser: Debian's Chromium too, the headless browser tests/report.rs draws
# BLAZER_REPORT's page with (without it that test is skipped, as kind `browser`).
scripts/setup.sh --browser
. scripts/mpi-env.sh
. scripts/lib/skips.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Every public item documented, and no doc link broken or pointing at a private item.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# blazer-cluster's tests run against real servers on 127.0.0.1 (sshd and a one-node Slurm);
# they are torn down whatever happens.
# tests/multihost.rs runs across three simulated hosts (network namespaces on a private
# subnet, with sshd and Slurm in each), made by scripts/multihost-env.sh: also torn down.
trap 'scripts/cluster-env.sh down; scripts/multihost-env.sh down' EXIT
scripts/cluster-env.sh up
scripts/multihost-env.sh up
cargo test --workspace
# The driver's real code against simulated worlds of 10 to 10,000 workers (blazer::sim):
# figures only, printed for the log; tests/sim.rs (in the line above) holds the checks.
scripts/scale-sim.sh --quick
# The `gpu` feature: builds without CUDA; on a machine without a GPU its tests check the
# clear no-GPU error, with a GPU they run real kernels.
cargo clippy --workspace --all-targets --features gpu -- -D warnings
cargo test -p blazer-runtime --features gpu
# The guide's GPU page (docs/guide/gpu.md) is compiled only with the feature; `cargo test
# --workspace` above runs the README's and the rest of the guide's code blocks (blazer/src/guide.rs).
cargo test -p blazer-hpc --features gpu --doc
cargo build -p blazer-suite --features gpu --example dovectors
cargo test -p blazer-suite --features gpu --test gpu
# The multi-rank tests again, built against MPICH (the base of most clusters' MPIs) and run
# under its mpiexec, on 2 ranks at most: see the script.
# Its skips are recorded under `mpich:KIND` (BLAZER_SKIP_KIND_PREFIX), allowed there by design.
BLAZER_SKIP_KIND_PREFIX=mpich: scripts/test-mpich.sh
# The published packages' docs as docs.rs builds them: MPICH as the only MPI (docs.rs's build
# image has MPICH and no Open MPI), DOCS_RS=1, `--cfg docsrs`, their docs.rs features; in
# MPICH's target directory, so it compiles little after the step above.
scripts/docs-rs.sh
# How many checks were left out, and which; under BLAZER_STRICT_SKIPS=1 (CI), a skip of a
# kind that must run fails here.
skips_report
