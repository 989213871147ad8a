#!/usr/bin/env bash
# Sets up and runs every check: formatting, clippy, unit, doc, macro and multi-rank tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/mpi-env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
