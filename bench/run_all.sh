#!/usr/bin/env bash
# Runs every benchmark binary; each prints its figures and a ratio to a baseline measured in the
# same run. Extra PyTorch baselines live beside them as bench/*.py.
set -euo pipefail
cd "$(dirname "$0")/.."
B="${BUILD:-build}/bench"
for b in "$B"/*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" ${BENCH_ARGS:-}
done
