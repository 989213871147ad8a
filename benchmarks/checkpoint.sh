#!/usr/bin/env bash
# The checkpoint's overhead on `map` and the time from SIGTERM to the job's end
# (BENCHMARKS.md, "Resumable work"). Runs blazer-bench/src/bin/blazer-checkpoint-bench.rs,
# release build, alternately without and with BLAZER_CHECKPOINT, ROUNDS times each, and prints
# the median call time of each; then sends SIGTERM to the driver of a run in the middle of its
# map and prints how long the job took to end, TERMS times.
#
#   benchmarks/checkpoint.sh [RANKS] [ROUNDS] [TERMS]
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS="${1:-3}"
ROUNDS="${2:-5}"
TERMS="${3:-5}"
. scripts/mpi-env.sh
cargo build --release -p blazer-bench --bin blazer-checkpoint-bench >&2
BIN="${CARGO_TARGET_DIR:-target}/release/blazer-checkpoint-bench"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export BLAZER_PROGRESS=0
run() { mpirun --oversubscribe -n "$RANKS" "$BIN" "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for kind in "empty 100000 5" "ms 2000 3"; do
    : >"$TMP/off"
    : >"$TMP/on"
    for _ in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2086
        run $kind | awk '/^CALL/ {print $2}' >>"$TMP/off"
        rm -rf "$TMP/ck"
        # shellcheck disable=SC2086
        BLAZER_CHECKPOINT="$TMP/ck" run $kind | awk '/^CALL/ {print $2}' >>"$TMP/on"
    done
    off="$(median <"$TMP/off")"
    on="$(median <"$TMP/on")"
    log="$(du -k "$TMP/ck" | tail -1 | cut -f1)"
    set -- $kind
    awk -v k="$1" -v n="$2" -v off="$off" -v on="$on" -v lk="$log" -v r="$RANKS" 'BEGIN {
        printf "map %-5s n=%-6d ranks=%d  no_checkpoint_s=%.4f  checkpoint_s=%.4f  overhead=%+.1f%%  log_kib=%d\n",
            k, n, r, off, on, 100 * (on - off) / off, lk }'
done

# SIGTERM to the driver in the middle of a map of 1 ms tasks: time until mpirun has exited.
for _ in $(seq "$TERMS"); do
    rm -rf "$TMP/ck" "$TMP/pid"
    BLAZER_CHECKPOINT="$TMP/ck" BLAZER_BENCH_PID="$TMP/pid" run ms 20000 1 >/dev/null 2>"$TMP/err" &
    job=$!
    while [ ! -s "$TMP/pid" ]; do sleep 0.01; done
    sleep 1
    start="$(date +%s.%N)"
    kill -TERM "$(cat "$TMP/pid")"
    code=0
    wait "$job" || code=$?
    end="$(date +%s.%N)"
    awk -v s="$start" -v e="$end" -v c="$code" 'BEGIN { printf "sigterm_to_exit_s=%.3f exit_code=%d\n", e - s, c }'
done
