#!/usr/bin/env bash
# A/B of two builds of blazer-bench, rounds interleaved (A, B, A, B, ...) so that the VM's speed
# drift falls on both alike: for each figure, the median of the per-pair ratios B/A and their
# spread (min..max).
#
#   benchmarks/ab.sh A_BINARY B_BINARY [ROUNDS] [RANKS]
#
# BLAZER_BENCH_ONLY picks the sections (default: roundtrip,tasks, the per-task figures).
# Figures read: `roundtrip_us ... blazer=X` and `tasks_per_s PRIMITIVE ... per_task_us=X`.
set -euo pipefail
a="$1" b="$2" rounds="${3:-6}" ranks="${4:-2}"
cd "$(dirname "$0")/.."
. scripts/mpi-env.sh
export BLAZER_BENCH_ONLY="${BLAZER_BENCH_ONLY:-roundtrip,tasks}"
out="$(mktemp -d)"
# One line per figure: `name value`.
figures() {
    sed -nE 's/^roundtrip_us .*blazer=([0-9.]+).*/roundtrip_us \1/p;
             s/^tasks_per_s +([a-z]+) .*per_task_us=([0-9.]+).*/per_task_us_\1 \2/p' "$1"
}
for i in $(seq 1 "$rounds"); do
    for side in a b; do
        bin="$a"; [ "$side" = b ] && bin="$b"
        mpirun -n "$ranks" --oversubscribe "$bin" >"$out/$side.$i.txt" 2>/dev/null
        figures "$out/$side.$i.txt" >"$out/$side.$i.fig"
    done
done
python3 - "$out" "$rounds" <<'PY'
import sys, statistics, collections
out, rounds = sys.argv[1], int(sys.argv[2])
ratios = collections.defaultdict(list); vals = collections.defaultdict(lambda: ([], []))
for i in range(1, rounds + 1):
    fa = dict(l.split() for l in open(f"{out}/a.{i}.fig"))
    fb = dict(l.split() for l in open(f"{out}/b.{i}.fig"))
    for k in fa:
        if k in fb:
            ratios[k].append(float(fb[k]) / float(fa[k]))
            vals[k][0].append(float(fa[k])); vals[k][1].append(float(fb[k]))
for k, r in ratios.items():
    print(f"{k:24} A_median={statistics.median(vals[k][0]):.3f} B_median={statistics.median(vals[k][1]):.3f} "
          f"B/A median={statistics.median(r):.3f} spread={min(r):.3f}..{max(r):.3f} pairs={len(r)}")
PY
