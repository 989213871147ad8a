#!/usr/bin/env bash
# The GPU check of blazer's `gpu` feature, for a machine with an NVIDIA GPU and its driver but
# no Rust toolchain and no MPI. It runs from the bundle that scripts/gpu-bundle.sh makes
# (binaries, shared libraries, Open MPI's launcher), as that bundle's run.sh:
#
#   scripts/gpu-bundle.sh .gpu-bundle && cp scripts/gpu-check.sh .gpu-bundle/run.sh
#   bash .gpu-bundle/run.sh              # on the GPU machine; logs to $OUT (or ./gpu-check-out)
#
# Steps, each under a time limit, all within about 4 minutes, continuing after failures:
# machine facts (nvidia-smi, nvcc, where libcuda and libnvrtc are); the bundled launcher;
# dovectors alone, on 2 ranks (1 GPU worker) and on 3 ranks (2 GPU workers sharing the one
# GPU, the second waiting for the lease); the documented "every GPU is held" error, with the
# GPU's lock held by this script and BLAZER_GPU_WAIT_S=2; the same share with
# BLAZER_GPU_WAIT_S=0 (reported only); blazer-runtime's unit tests and tests/gpu.rs; the GPU
# benchmark. Writes $OUT/gpu-check.log (everything) and $OUT/summary.txt (PASS/FAIL per step).
set -u -o pipefail

B=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # ldconfig
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
SUMMARY=$OUT/summary.txt
TMPD=$(mktemp -d)
START=$(date +%s)
BUDGET_S=${GPU_CHECK_BUDGET_S:-230}
N_PASS=0
N_FAIL=0

record() { # STEP PASS|FAIL|INFO|SKIP WHY
  printf '%-26s %-4s %s\n' "$1" "$2" "$3" >> "$SUMMARY"
  echo "=== [$1] $2: $3"
  case $2 in PASS) N_PASS=$((N_PASS + 1)) ;; FAIL) N_FAIL=$((N_FAIL + 1)) ;; esac
}

# run_step NAME LIMIT_S CMD...: runs CMD under `timeout`, within what is left of the budget;
# its output goes to the log and to $TMPD/NAME.out; sets RC (124: timed out, 125: skipped).
run_step() {
  local name=$1 limit=$2
  shift 2
  local left=$((START + BUDGET_S - $(date +%s)))
  ((limit > left)) && limit=$left
  OUT_FILE=$TMPD/$name.out
  : > "$OUT_FILE"
  echo
  echo "=== [$name] $(date -u +%T) (limit ${limit}s): $*"
  if ((limit < 5)); then
    RC=125
    echo "=== [$name] not run: out of time"
    return
  fi
  local t0 t1
  t0=$(date +%s.%N)
  timeout --kill-after=5 "$limit" "$@" > "$OUT_FILE" 2>&1
  RC=$?
  t1=$(date +%s.%N)
  cat "$OUT_FILE"
  echo "=== [$name] exit $RC after $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')s"
}

has() { grep -q -F -- "$1" "$OUT_FILE"; }
# The line that says why a step failed: blazer's `Error:` line, else the first error or panic.
why() { { grep -m1 '^Error' "$OUT_FILE" || grep -m1 -E 'error|panicked|FAILED' "$OUT_FILE"; } | cut -c1-300; }
count() { grep -c -F -- "$1" "$OUT_FILE"; }

# Judges a dovectors run that should succeed with BLOCKS blocks of ELEMENTS elements.
judge_dovectors() { # STEP ELEMENTS BLOCKS
  if ((RC == 125)); then
    record "$1" SKIP "out of time"
  elif ((RC == 0)) && has "MATCH: $2 elements" && (($(count "block of ") == $3)); then
    record "$1" PASS "$3 block(s) computed on the GPU and equal to the CPU's; $(grep '^CPU:' "$OUT_FILE")"
  elif ((RC == 124 || RC == 137)); then
    record "$1" FAIL "timed out"
  else
    record "$1" FAIL "exit $RC: $(why)"
  fi
}

facts() {
  echo "=== machine facts"
  echo "--- bundle"
  cat "$B/MANIFEST" 2>/dev/null
  du -sh "$B"
  echo "--- system"
  uname -a
  (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
  getconf GNU_LIBC_VERSION
  echo "cpus: $(nproc)"
  echo "--- nvidia-smi"
  timeout 30 nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,uuid --format=csv
  timeout 30 nvidia-smi | head -20
  ls -la /dev/nvidia* 2>&1 | head
  echo "--- nvcc"
  if command -v nvcc > /dev/null; then nvcc --version; else
    ls /usr/local/cuda*/bin/nvcc 2>/dev/null && "$(ls /usr/local/cuda*/bin/nvcc | head -1)" --version
  fi
  ls -ld /usr/local/cuda* 2>&1
  echo "CUDA_HOME=${CUDA_HOME:-} CUDA_PATH=${CUDA_PATH:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "--- ldconfig -p: libcuda, libnvrtc"
  ldconfig -p | grep -E 'libcuda\.so|libnvrtc' || echo "(neither in the loader cache)"
  echo "--- files named libcuda.so* / libnvrtc*.so* (find -xdev /, 30 s at most)"
  timeout 30 find / -xdev \( -name 'libcuda.so*' -o -name 'libnvrtc*.so*' \) \
    -not -path '/proc/*' 2>/dev/null | head -40
  echo "--- Python packages of NVRTC / torch"
  timeout 30 python3 - << 'EOF' 2>&1
import importlib.metadata as m, site
names = sorted(f"{d.metadata['Name']} {d.version}" for d in m.distributions()
               if any(k in (d.metadata['Name'] or '').lower() for k in ('nvrtc', 'torch', 'cuda-runtime', 'nvidia-cuda')))
print("\n".join(names) or "(none)")
print("site-packages:", site.getsitepackages())
EOF
  echo "--- /dev/shm"
  df -h /dev/shm 2>&1 | tail -1
  ls -la /dev/shm/blazer-gpu-* 2>/dev/null
}

# Directories where NVRTC may be that the loader does not search by itself.
cuda_lib_dirs() {
  local d dirs=()
  for d in "${CUDA_HOME:-/nonexistent}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -d $d ]] && dirs+=("$d")
  done
  while read -r d; do
    for sub in nvidia/cu13/lib nvidia/cuda_nvrtc/lib; do
      [[ -d $d/$sub ]] && dirs+=("$d/$sub")
    done
  done < <(timeout 20 python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
  (IFS=:; echo "${dirs[*]}")
}

main() {
  echo "blazer GPU check, $(date -u +%FT%TZ), bundle $B, logs in $OUT"
  facts

  # --- the environment of every blazer program from here on
  chmod +x "$B"/bin/* 2> /dev/null
  # Settings of another MPI (an image's HPC-X, say) would steer the bundled Open MPI.
  local var
  for var in $(compgen -e | grep -E '^(OMPI|OPAL|PMIX|ORTE)_'); do
    echo "unsetting inherited $var=${!var}"
    unset "$var"
  done
  export PATH="$B/bin:$PATH"
  export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local glibc
  glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  if [[ $(printf '%s\n2.36\n' "$glibc" | sort -V | head -1) != 2.36 || -n ${GPU_CHECK_SHIM:-} ]]; then
    # Debian's libevent wants arc4random (glibc 2.36): a shim supplies it (see gpu-bundle.sh).
    export LD_PRELOAD="$B/lib/libarc4random-shim.so${LD_PRELOAD:+:$LD_PRELOAD}"
    echo "glibc $glibc (older than 2.36, or GPU_CHECK_SHIM set): preloading the arc4random shim"
  fi
  # Open MPI and PMIx from the bundle, not from wherever they were built.
  export OPAL_PREFIX="$B/ompi" OPAL_EXEC_PREFIX="$B/ompi" OPAL_BINDIR="$B/bin" OPAL_LIBDIR="$B/lib"
  export OPAL_PKGLIBDIR="$B/ompi/lib/openmpi3" OPAL_DATAROOTDIR="$B/ompi/share"
  export OPAL_DATADIR="$B/ompi/share" OPAL_PKGDATADIR="$B/ompi/share/openmpi"
  export OPAL_SYSCONFDIR="$B/ompi/etc"
  export PMIX_PREFIX="$B/pmix" PMIX_LIBDIR="$B/pmix/lib" PMIX_PKGLIBDIR="$B/pmix/lib/pmix"
  export PMIX_DATADIR="$B/pmix/share" PMIX_PKGDATADIR="$B/pmix/share/pmix"
  # As scripts/mpi-env.sh, plus: one node over shared memory without single-copy (CMA is
  # often forbidden in containers), and launching locally without ssh.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
  export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_MCA_plm=isolated
  export RUST_BACKTRACE=1
  local nvrtc_dirs
  nvrtc_dirs=$(cuda_lib_dirs)
  echo "directories that may hold NVRTC: ${nvrtc_dirs:-none}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

  # --- the bundle and its launcher
  run_step bundle-libs 20 ldd "$B/bin/dovectors" "$B/bin/mpirun" "$B/bin/orted"
  if ((RC == 0)) && ! has "not found"; then record bundle-libs PASS "every library resolves"; else
    record bundle-libs FAIL "$(grep -m3 'not found' "$OUT_FILE" | tr '\n' ' ')"; fi

  run_step mpi-launch 45 mpirun -n 2 dovectors not-a-number
  if ((RC == 1)) && has "usage: dovectors"; then
    record mpi-launch PASS "mpirun started 2 ranks, MPI initialised, the usage error came back"
  else record mpi-launch FAIL "exit $RC: $(grep -m1 -v '^$' "$OUT_FILE" | cut -c1-300)"; fi

  # --- dovectors
  run_step dovectors-alone 60 dovectors 1000000
  judge_dovectors dovectors-alone 1000000 1
  if ((RC != 0)) && has "NVRTC (libnvrtc.so) cannot be loaded" && [[ -n $nvrtc_dirs ]]; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$nvrtc_dirs"
    echo "NVRTC not found by blazer alone: from here on LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    run_step dovectors-alone-ldpath 60 dovectors 1000000
    judge_dovectors dovectors-alone-ldpath 1000000 1
  fi

  run_step dovectors-2ranks 60 mpirun -n 2 dovectors 1000000
  judge_dovectors dovectors-2ranks 1000000 1

  run_step dovectors-3ranks-share 75 mpirun -n 3 dovectors 4000000
  judge_dovectors dovectors-3ranks-share 4000000 2

  # The documented error: this script holds the GPU's lock file, ranks wait 2 s and give up.
  local locks=(/dev/shm/blazer-gpu-*.lock) holders=() lock uuid
  if [[ ! -e ${locks[0]} ]]; then
    uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null | head -1 |
      sed 's/^GPU-//; s/-//g' | tr 'A-F' 'a-f')
    locks=()
    [[ -n $uuid ]] && locks=("/dev/shm/blazer-gpu-$uuid.lock")
  fi
  for lock in "${locks[@]}"; do
    echo "gpu-check.sh, holding the lock on purpose" > "$lock"
    # The subshell locks its descriptor 9 and becomes `sleep`: killing it frees the lock.
    (exec 9>> "$lock" && flock -n 9 && exec sleep 40) > /dev/null 2>&1 &
    holders+=($!)
  done
  sleep 0.5
  echo "holding ${locks[*]} (pids ${holders[*]})"
  run_step dovectors-gpu-busy 45 env BLAZER_GPU_WAIT_S=2 mpirun -n 2 dovectors 1000
  kill "${holders[@]}" 2> /dev/null
  wait "${holders[@]}" 2> /dev/null
  if ((RC == 1)) && has "is held by another process after waiting 2.0 s" && ! has "panicked"; then
    record dovectors-gpu-busy PASS "the documented error: $(grep -m1 -o 'every GPU of.*' "$OUT_FILE" | cut -c1-200)"
  else record dovectors-gpu-busy FAIL "exit $RC: $(why)"; fi

  run_step dovectors-3ranks-wait0 60 env BLAZER_GPU_WAIT_S=0 mpirun -n 3 dovectors 4000000
  if has "is held by another process after waiting 0.0 s"; then
    record dovectors-3ranks-wait0 INFO "exit $RC: the second GPU rank found the GPU busy (documented error)"
  elif ((RC == 0)); then
    record dovectors-3ranks-wait0 INFO "exit 0: the two GPU ranks did not overlap"
  else record dovectors-3ranks-wait0 INFO "exit $RC: $(why)"; fi

  # --- test binaries
  run_step unit-tests 60 blazer-runtime-unit-tests
  if ((RC == 0)) && has "real_gpu_holds_and_runs_a_kernel ... ok" && ! has "skipped: no GPU"; then
    record unit-tests PASS "$(grep -m1 '^test result' "$OUT_FILE"), real_gpu_holds_and_runs_a_kernel ran"
  else record unit-tests FAIL "exit $RC: $(grep -E '^test .*FAILED|skipped' "$OUT_FILE" | head -3 | tr '\n' ' ')"; fi

  run_step gpu-tests 120 env BLAZER_EXAMPLES_DIR="$B/bin" gpu-tests
  if ((RC == 0)) && ! has "skipped:"; then
    record gpu-tests PASS "$(grep -m1 '^test result' "$OUT_FILE")"
  else record gpu-tests FAIL "exit $RC: $(grep -E '^test .*FAILED|skipped' "$OUT_FILE" | head -3 | tr '\n' ' ')"; fi

  # --- the benchmark
  run_step bench 90 blazer-gpu-bench
  if ((RC == 0)) && has "BENCH OK"; then
    record bench PASS "$(grep -m1 'ratio CPU-1-thread' "$OUT_FILE" | cut -c7-)"
  else record bench FAIL "exit $RC: $(why)"; fi
  echo "--- blazer::gpu() next to nvidia-smi"
  grep -E '^INFO (name|CUDA|libcuda|libnvrtc)' "$OUT_FILE"
  timeout 20 nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv 2>&1

  echo
  echo "=== SUMMARY ($(($(date +%s) - START)) s): $N_PASS PASS, $N_FAIL FAIL"
  cat "$SUMMARY"
  ((N_FAIL == 0))
}

main 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
rm -rf "$TMPD"
exit "$rc"
