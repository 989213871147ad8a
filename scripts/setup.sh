#!/usr/bin/env bash
# Installs what blazer needs on Debian/Ubuntu when it is missing: Open MPI (mpirun and
# headers) and libclang (rsmpi's bindings are generated with bindgen at build time).
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

need=()
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
[ -e /usr/include/x86_64-linux-gnu/mpi/mpi.h ] || [ -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] \
    || dpkg -s libopenmpi-dev >/dev/null 2>&1 || need+=(libopenmpi-dev)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 \
    || need+=(libclang1-14)
ls /usr/lib/llvm-*/lib/clang/*/include/stddef.h >/dev/null 2>&1 || need+=(libclang-common-14-dev)

if [ ${#need[@]} -gt 0 ]; then
    echo "blazer setup: installing ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v cargo >/dev/null 2>&1 || {
    echo "blazer setup: cargo is missing; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
}
