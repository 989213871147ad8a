#!/usr/bin/env bash
# The driver's real code against simulated worlds of 10 to 100,000 workers (blazer::sim):
# one line per number of workers, as recorded in BENCHMARKS.md ("Scale").
#
#   scripts/scale-sim.sh           # the figures of BENCHMARKS.md (about a minute)
#   scripts/scale-sim.sh --quick   # up to 10,000 workers, fewer tasks (CI; seconds)
#
# Each line: `sim workers=N tasks=T driver_us_per_batch=X driver_us_per_task=Y
# driver_MiB=M efficiency=E ...`. The driver's time is measured on the real clock (its own
# code, encoding and decoding included) plus a modelled 1 µs per message for rank 0's MPI
# calls; `efficiency` is the work divided by the workers over the simulated makespan, with
# 1 ms tasks. Timed figures move with the machine's load: compare lines of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p blazer-bench --bin blazer-scale-sim
sim="$CARGO_TARGET_DIR/release/blazer-scale-sim"
if [[ ${1:-} == --quick ]]; then
  workers=10,100,1000,10000
  per=100
  max=1000000
else
  workers=10,100,1000,10000,100000
  per=3000
  max=30000000
fi
echo "# map of 1 ms tasks, paced batches (the default)"
"$sim" --workers "$workers" --tasks-per-worker "$per" --max-tasks "$max"
echo "# map of 1 ms tasks, batches fixed at 32 items: the driver's cost per batch alone"
"$sim" --workers "$workers" --tasks-per-worker 64 --batch 32 --max-tasks "$max"
echo "# map of heavy-tailed tasks (Pareto, mean 1 ms), paced"
"$sim" --workers "$workers" --tasks-per-worker $((per / 10)) --max-tasks "$max" --dist pareto
echo "# reduce of 100 items a worker (10 µs folds): small items fold down a tree"
"$sim" --workers "$workers" --tasks-per-worker 100 --max-tasks 1000000 --task-us 10 --reduce
echo "# on_every_rank, 10 calls (a shared variable's sync is two)"
"$sim" --workers "$workers" --tasks-per-worker 1 --max-tasks 10 --task-us 10 --every-rank
