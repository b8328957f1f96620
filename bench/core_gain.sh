#!/usr/bin/env bash
# What the OpenBLAS kernel choice is worth: runs the matrix-heavy benchmarks twice in one go,
# once with OPENBLAS_CORETYPE=$SLOW (default Prescott, the kernels OpenBLAS 0.3.21 falls back to on
# Xeons it does not recognise; set by hand, so semid leaves it alone) and once with the kernels
# semid runs by itself, and prints each run's figure lines. Usage: bench/core_gain.sh [SLOW] [quick]
# ("quick": smaller sizes, a few minutes in all).
set -euo pipefail
cd "$(dirname "$0")/.."
B="${BUILD:-build}/bench"
SLOW="${1:-Prescott}"
if [ "${2:-}" = quick ]; then
  RUNS=("bench_block 2" "bench_qwen3 3" "bench_ids --n 20000" "bench_embed --n 20000" "bench_sasrec 1"
        "bench_generate --layers 4 --new 16")
else
  RUNS=("bench_block 3" "bench_qwen3" "bench_ids" "bench_embed" "bench_rqvae" "bench_sasrec 1" "bench_generate")
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
for r in "${RUNS[@]}"; do
  for mode in slow auto; do
    echo "== $r  [$([ $mode = slow ] && echo "OPENBLAS_CORETYPE=$SLOW" || echo "semid's choice")]"
    if [ $mode = slow ]; then OPENBLAS_CORETYPE="$SLOW" $B/$r; else env -u OPENBLAS_CORETYPE $B/$r; fi
  done
done
