#!/usr/bin/env bash
# Builds the docs of the published packages as docs.rs builds them.
#
# How docs.rs builds a crate that needs MPI (rsmpi's `mpi`, and so blazer-hpc): its build
# image (rust-lang/crates-build-env, linux/packages.txt, installed with apt's recommended
# packages) holds MPICH (`mpich`, which recommends `libmpich-dev`: mpi.h and mpicc) and
# libclang, and no Open MPI headers. rsmpi's mpi-sys has no docs.rs case: its build script
# finds MPICH there as anywhere else (mpicc -show), and fails when it finds no MPI at all;
# `cargo doc` runs the dependencies' build scripts too, so no crate above mpi-sys documents
# without an MPI. docs.rs then runs nightly rustdoc with DOCS_RS=1 and `--cfg docsrs`, with
# the features each package's [package.metadata.docs.rs] names.
#
# This script does the same: Open MPI hidden (the `mpicc` on the PATH is MPICH's, pkg-config
# sees only MPICH's file, no OMPI_* variable), DOCS_RS=1, `--cfg docsrs` with nightly's
# features allowed (RUSTC_BOOTSTRAP=1, so stable rustdoc accepts `feature(doc_cfg)`), each
# package's docs.rs features, and every rustdoc warning an error. It shares MPICH's target
# directory with scripts/test-mpich.sh (target/mpich), so after that step it compiles little.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(scripts/test-mpich.sh --packages)
if ! command -v mpicc.mpich >/dev/null 2>&1; then
    echo "blazer docs-rs: installing ${packages[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# MPICH as the only MPI, as in docs.rs's image.
hide="$(mktemp -d)"
trap 'rm -rf "$hide"' EXIT
mkdir "$hide/bin" "$hide/pkgconfig"
ln -s "$(command -v mpicc.mpich)" "$hide/bin/mpicc"
mpich_pc="$(pkg-config --variable=pcfiledir mpich 2>/dev/null || true)/mpich.pc"
[ -f "$mpich_pc" ] && ln -s "$mpich_pc" "$hide/pkgconfig/mpich.pc"
export PATH="$hide/bin:$PATH" PKG_CONFIG_LIBDIR="$hide/pkgconfig" PKG_CONFIG_PATH=""
unset MPICC MPI_PKG_CONFIG CRAY_MPICH_DIR
for name in "${!OMPI_@}"; do
    unset "$name"
done
if ! mpicc -show | grep -q mpich || pkg-config --exists ompi; then
    echo "blazer docs-rs: Open MPI is still visible" >&2
    exit 1
fi

export CARGO_TARGET_DIR="${BLAZER_MPICH_TARGET_DIR:-target/mpich}"
export DOCS_RS=1 RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings"
# The published packages, each with the features its [package.metadata.docs.rs] names.
published=(blazer-hpc blazer-runtime blazer-macros blazer-cluster blazer-launch)
features="$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
wanted = set(sys.argv[1:])
for p in json.load(sys.stdin)["packages"]:
    if p["name"] in wanted:
        docs = ((p.get("metadata") or {}).get("docs") or {}).get("rs") or {}
        for f in docs.get("features", []):
            print(p["name"] + "/" + f)
' "${published[@]}" | paste -sd, -)"
args=()
for p in "${published[@]}"; do
    args+=(-p "$p")
done
[ -n "$features" ] && args+=(--features "$features")
echo "blazer docs-rs: cargo doc --no-deps ${args[*]} (MPICH only, DOCS_RS=1, --cfg docsrs)"
cargo doc --no-deps "${args[@]}"

# The docs were built against MPICH: mpi-sys's build script linked it.
latest="$(ls -td "$CARGO_TARGET_DIR"/debug/build/mpi-sys-*/output | head -1)"
if ! grep -q 'rustc-link-lib=mpich' "$latest"; then
    echo "blazer docs-rs: mpi-sys was not built against MPICH ($latest)" >&2
    exit 1
fi
for p in "${published[@]}"; do
    lib="${p//-/_}"
    [ "$p" = blazer-hpc ] && lib=blazer
    [ -f "$CARGO_TARGET_DIR/doc/$lib/index.html" ] || {
        echo "blazer docs-rs: no docs for $p" >&2
        exit 1
    }
done
echo "blazer docs-rs: docs built as docs.rs builds them"
