#!/usr/bin/env bash
# The efficiency curve of issue 23 on a many-core machine with no Rust toolchain and no MPI:
# runs blazer-scale-bench (blazer's `map` next to a hand-written rsmpi master/worker loop, by
# task grain) on 2, 4, 8 and 16 ranks, from the bundle that scripts/scale-bundle.sh makes, as
# that bundle's run.sh:
#
#   scripts/scale-bundle.sh .scale && bash .scale/run.sh        # on the machine
#   bash .scale/run.sh --quick 2 4                              # a smoke run
#
# Arguments: flags for the benchmark (`--quick`, `--pairs K`) and the rank counts (default
# 2 4 8 16). Each run has a time limit (SCALE_CHECK_LIMIT_S, default 200 s; 60 s with
# --quick), all of them within SCALE_CHECK_BUDGET_S (default 540 s). Everything printed also
# goes to $OUT/scale.txt when OUT is set. Exits non-zero when a run fails.
set -u -o pipefail

B=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
START=$(date +%s)
BUDGET_S=${SCALE_CHECK_BUDGET_S:-540}

flags=()
ranks=()
quick=0
while (($#)); do
  case $1 in
    --quick) flags+=("$1"); quick=1 ;;
    --pairs) flags+=("$1" "${2:?--pairs needs a number}"); shift ;;
    [0-9]*) ranks+=("$1") ;;
    *) echo "usage: run.sh [--quick] [--pairs K] [RANKS...]" >&2; exit 2 ;;
  esac
  shift
done
((${#ranks[@]})) || ranks=(2 4 8 16)
LIMIT_S=${SCALE_CHECK_LIMIT_S:-$((quick ? 60 : 200))}

main() {
  echo "blazer scale check, $(date -u +%FT%TZ), bundle $B"
  echo "--- bundle"
  cat "$B/MANIFEST" 2>/dev/null
  du -sh "$B"
  echo "--- machine"
  uname -a
  (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
  getconf GNU_LIBC_VERSION
  local cpus
  cpus=$(nproc)
  echo "cpus: $cpus ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'))"
  free -g 2>/dev/null | head -2

  # --- the environment: the bundled Open MPI, nothing inherited
  chmod +x "$B"/bin/* 2>/dev/null
  local var
  for var in $(compgen -e | grep -E '^(OMPI|OPAL|PMIX|ORTE)_'); do
    echo "unsetting inherited $var=${!var}"
    unset "$var"
  done
  export PATH="$B/bin:$PATH"
  export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local glibc
  glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  if [[ $(printf '%s\n2.36\n' "$glibc" | sort -V | head -1) != 2.36 || -n ${SCALE_CHECK_SHIM:-} ]]; then
    # Debian's libevent wants arc4random (glibc 2.36): a shim supplies it (see scale-bundle.sh).
    export LD_PRELOAD="$B/lib/libarc4random-shim.so${LD_PRELOAD:+:$LD_PRELOAD}"
    echo "glibc $glibc (older than 2.36, or SCALE_CHECK_SHIM set): preloading the arc4random shim"
  fi
  export OPAL_PREFIX="$B/ompi" OPAL_EXEC_PREFIX="$B/ompi" OPAL_BINDIR="$B/bin" OPAL_LIBDIR="$B/lib"
  export OPAL_PKGLIBDIR="$B/ompi/lib/openmpi3" OPAL_DATAROOTDIR="$B/ompi/share"
  export OPAL_DATADIR="$B/ompi/share" OPAL_PKGDATADIR="$B/ompi/share/openmpi"
  export OPAL_SYSCONFDIR="$B/ompi/etc"
  export PMIX_PREFIX="$B/pmix" PMIX_LIBDIR="$B/pmix/lib" PMIX_PKGLIBDIR="$B/pmix/lib/pmix"
  export PMIX_DATADIR="$B/pmix/share" PMIX_PKGDATADIR="$B/pmix/share/pmix"
  # One node over shared memory without single-copy (CMA is often forbidden in containers),
  # launched locally without ssh, as root if need be.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
  export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_MCA_plm=isolated
  # A progress bar would cost the driver time inside the measured rounds.
  export BLAZER_PROGRESS=0 RUST_BACKTRACE=1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if LD_LIBRARY_PATH="$B/lib" ldd "$B/bin/blazer-scale-bench" "$B/bin/mpirun" "$B/bin/orted" | grep 'not found'; then
    echo "FAIL: the bundle's libraries do not resolve"
    return 1
  fi

  local n left limit t0 rc failed=0 lines=()
  for n in "${ranks[@]}"; do
    left=$((START + BUDGET_S - $(date +%s)))
    limit=$((LIMIT_S < left ? LIMIT_S : left))
    echo
    if ((limit < 5)); then
      echo "=== $n ranks: not run, out of time"
      failed=1
      continue
    fi
    # Ranks that wait poll: past one rank a core, they must yield it to the working ones.
    local yield=0
    ((n > cpus)) && yield=1
    echo "=== $n ranks (limit ${limit}s, mpi_yield_when_idle=$yield): blazer-scale-bench ${flags[*]}"
    t0=$(date +%s.%N)
    local out
    out=$(OMPI_MCA_mpi_yield_when_idle=$yield timeout --kill-after=5 "$limit" \
      mpirun --oversubscribe -n "$n" blazer-scale-bench "${flags[@]}" 2>&1)
    rc=$?
    echo "$out"
    echo "=== $n ranks: exit $rc after $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')s"
    ((rc == 0)) || failed=1
    while read -r line; do lines+=("$line"); done < <(grep '^scale ' <<<"$out")
  done
  echo
  echo "=== SUMMARY ($(($(date +%s) - START)) s, $cpus cpus)$( ((failed)) && echo ': a run FAILED')"
  printf '%s\n' "${lines[@]}"
  ((failed == 0))
}

if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT"
  main 2>&1 | tee "$OUT/scale.txt"
  exit "${PIPESTATUS[0]}"
fi
main
