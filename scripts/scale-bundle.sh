#!/usr/bin/env bash
# Fills DEST with what the scale check (scripts/scale-check.sh) needs on a many-core machine
# with no Rust toolchain and no MPI: the release builds of blazer-scale-bench and
# blazer-scale-sim (no `gpu` feature), the shared libraries it and Open MPI need beyond a bare glibc system, and Open
# MPI's launcher (mpirun, orted, the plugins that need nothing more, help files), relocatable
# through the OPAL_* / PMIX_* variables that scale-check.sh sets. The same layout as
# scripts/gpu-bundle.sh, with this one binary.
#
#   scripts/scale-bundle.sh DEST     # DEST/run.sh is scripts/scale-check.sh
#
# Built on Debian 12 with Open MPI 4.1 (Debian packages); every file needs glibc 2.34 or
# older (checked at the end), so the bundle runs on Ubuntu 22.04 and later.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:?usage: scripts/scale-bundle.sh DEST}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
MULTIARCH=/usr/lib/x86_64-linux-gnu
OMPI_PLUGINS=$MULTIARCH/openmpi/lib/openmpi3
PMIX_ROOT=$MULTIARCH/pmix2

# --- build
cargo build --release -p blazer-bench --bin blazer-scale-bench --bin blazer-scale-sim

# --- lay out
rm -rf "$DEST"/bin "$DEST"/lib "$DEST"/ompi "$DEST"/pmix
mkdir -p "$DEST"/bin "$DEST"/lib "$DEST"/ompi/lib/openmpi3 "$DEST"/ompi/share "$DEST"/ompi/etc \
  "$DEST"/pmix/lib/pmix "$DEST"/pmix/share
cp "$CARGO_TARGET_DIR"/release/blazer-scale-bench "$CARGO_TARGET_DIR"/release/blazer-scale-sim "$DEST"/bin/
# Debug info off, symbols kept: a panic's backtrace still names functions.
strip --strip-debug "$DEST"/bin/*
cp /usr/bin/orterun "$DEST"/bin/mpirun
cp /usr/bin/orted "$DEST"/bin/orted

# Open MPI plugins, without those for fabrics (UCX, libfabric, PSM, verbs), MPI-IO,
# OpenSHMEM, monitoring, netlink and batch systems: their libraries are large or absent,
# and a one-node run over shared memory and TCP needs none of them.
skip='ucx|ofi|psm|openib|verbs|monitoring|romio|ompio|fcoll|fbtl|fs_ufs|sharedfp|atomic_|memheap|scoll|spml|sshmem|reachable_netlink|flux|jsm|gridengine|slurm|mtl_'
for so in "$OMPI_PLUGINS"/*.so; do
  name=$(basename "$so")
  [[ $name =~ $skip ]] || cp "$so" "$DEST"/ompi/lib/openmpi3/
done
cp "$PMIX_ROOT"/lib/pmix/pmix_mca_pcompress_zlib.so "$PMIX_ROOT"/lib/pmix/pmix_mca_prm_default.so \
  "$DEST"/pmix/lib/pmix/
cp -r /usr/share/openmpi "$DEST"/ompi/share/
rm -f "$DEST"/ompi/share/openmpi/*wrapper-data* # compiler wrappers' data (links)
cp -r "$PMIX_ROOT"/share/pmix "$DEST"/pmix/share/
cp /etc/openmpi/openmpi-mca-params.conf /etc/openmpi/openmpi-default-hostfile "$DEST"/ompi/etc/

# --- shared libraries: every dependency outside glibc and libgcc, under its soname
base='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libgcc_s)\.so'
needed() { ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'; }
objects=("$DEST"/bin/* "$DEST"/ompi/lib/openmpi3/*.so "$DEST"/pmix/lib/pmix/*.so)
while :; do
  added=0
  while read -r soname path; do
    [[ $soname =~ $base ]] && continue
    [[ -e $DEST/lib/$soname ]] && continue
    cp -L "$path" "$DEST/lib/$soname"
    added=1
  done < <(needed "${objects[@]}" "$DEST"/lib/*.so* | sort -u)
  [[ $added == 0 ]] && break
done

# Debian 12's libevent_core needs glibc 2.36 for arc4random and arc4random_buf: mark that
# requirement weak and add a shim that scale-check.sh preloads where glibc is older.
python3 scripts/lib/weak-version.py "$DEST"/lib/libevent_core-2.1.so.7 GLIBC_2.36
gcc -O2 -shared -fPIC -o "$DEST"/lib/libarc4random-shim.so scripts/lib/arc4random-shim.c

# --- checks: everything resolves inside the bundle, nothing needs a newer glibc than 2.34
# (but for the weak requirement above)
links=$(find "$DEST" -type l)
[[ -z $links ]] || { echo "symbolic links in the bundle: $links" >&2; exit 1; }
missing=$(LD_LIBRARY_PATH="$DEST"/lib ldd "${objects[@]}" "$DEST"/lib/*.so* 2>&1 | grep 'not found' || true)
[[ -z $missing ]] || { echo "unresolved: $missing" >&2; exit 1; }
newest=$(objdump -T "${objects[@]}" "$DEST"/lib/*.so* 2>/dev/null |
  grep -v -E '\(GLIBC_2.36\) +arc4random(_buf)?$' | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1)
echo "newest glibc symbol version needed: $newest"
[[ $(printf '%s\nGLIBC_2.34\n' "$newest" | sort -V | tail -1) == GLIBC_2.34 ]] ||
  { echo "needs glibc newer than 2.34" >&2; exit 1; }

cp scripts/scale-check.sh "$DEST"/run.sh
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "built $(date -u +%FT%TZ) on $(. /etc/os-release; echo "$PRETTY_NAME"), $(mpirun --version | head -1)"
  echo "rustc $(rustc --version)"
  (cd "$DEST" && sha256sum bin/*)
} > "$DEST"/MANIFEST
du -sh "$DEST"
