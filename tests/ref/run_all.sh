#!/usr/bin/env bash
# Generates reference data for the C tests into $BUILD/ref: every tests/ref/*.py under Debian's
# python3 with python3-torch (the python3 first on PATH may lack torch), and the JS tokenizer
# references in tests/js. A reference that fails to generate fails the test run.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="$(pwd)/${BUILD:-build}/ref"
mkdir -p "$OUT"
PY=/usr/bin/python3
shopt -s nullglob
for script in tests/ref/*.py; do
  echo "ref: $script"
  "$PY" "$script" "$OUT"
done
if [ -f tests/js/run_refs.sh ]; then
  bash tests/js/run_refs.sh "$OUT"
fi
