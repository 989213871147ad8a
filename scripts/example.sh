#!/usr/bin/env bash
# Sets up, builds and runs an example on N ranks: scripts/example.sh [NAME] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-example1}"
ranks="${2:-4}"
scripts/setup.sh
cargo build --release --example "$name"
. scripts/mpi-env.sh
exec mpirun -n "$ranks" --oversubscribe "target/release/examples/$name"
