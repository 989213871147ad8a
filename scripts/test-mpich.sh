#!/usr/bin/env bash
# Builds the root package's multi-rank tests against MPICH, the MPI that most clusters' MPIs
# derive from (Cray MPICH, Intel MPI, MVAPICH), and runs them under MPICH's mpiexec.
#
#   scripts/test-mpich.sh             installs MPICH when missing, builds, runs
#   scripts/test-mpich.sh --packages  prints the Debian packages it installs, one a line
#
# Debian installs MPICH beside Open MPI, and its alternatives keep `mpicc` and `mpirun` on Open
# MPI, so MPICH's own names are used: mpicc.mpich to build, mpiexec.mpich to launch. The build
# has its own target directory (target/mpich, or BLAZER_MPICH_TARGET_DIR): mpi-sys does not
# rebuild when MPICC changes, so a directory built against Open MPI would stay linked to it.
#
# At most 2 ranks per run (BLAZER_MAX_RANKS=2) and one test at a time, so that CI's 2 cores are
# never oversubscribed: MPICH's waiting ranks poll without yielding the CPU. Measured on 2
# shared cores, the same four files took 31 s with their runs of up to 4 ranks, against 17 s
# here. The runs left out, or made smaller, say "skipped: ..." on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(mpich libmpich-dev)
case "${1:-}" in
    --packages)
        printf '%s\n' "${packages[@]}"
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: scripts/test-mpich.sh [--packages]" >&2
        exit 2
        ;;
esac

if ! command -v mpicc.mpich >/dev/null 2>&1 || ! command -v mpiexec.mpich >/dev/null 2>&1; then
    echo "blazer test-mpich: installing ${packages[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

export CARGO_TARGET_DIR="${BLAZER_MPICH_TARGET_DIR:-target/mpich}" MPICC=mpicc.mpich
# Open MPI's settings (scripts/mpi-env.sh) mean nothing to MPICH; keep its runs clean of them.
for name in "${!OMPI_@}"; do
    unset "$name"
done
tests=(--test primitives --test faults --test examples --test observability --test field --test bulk --test shapes --test shared --test wire --test resume --test scale --test packing --test datasets)
cargo build -p blazer-suite --examples
cargo test -p blazer-suite "${tests[@]}" --no-run
# A build that picked Open MPI would run each rank as a world of one: refuse it.
linked="$(ldd "$CARGO_TARGET_DIR/debug/blazer-probe")"
if ! grep -q 'libmpich\.so' <<<"$linked"; then
    echo "blazer test-mpich: $CARGO_TARGET_DIR was not built against MPICH" >&2
    exit 1
fi
BLAZER_MPIRUN=mpiexec.mpich BLAZER_MAX_RANKS=2 \
    cargo test -p blazer-suite "${tests[@]}" -- --test-threads=1
