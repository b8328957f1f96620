#!/usr/bin/env bash
# Runs one libFuzzer harness: run.sh fuzz|smoke NAME SECONDS
#   fuzz   fuzzes for SECONDS on tests/fuzz/corpus/NAME; new inputs go to build-fuzz/corpus/NAME
#          (not committed), findings to build-fuzz/artifacts/NAME/.
#   smoke  replays the committed seeds and tests/fuzz/regress/NAME, then fuzzes for SECONDS
#          from a scratch copy of the corpus (the CI run: a regression fails it).
# Exits non-zero on any crash, leak, sanitizer report, timeout or out-of-memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=$1 name=$2 secs=$3
B=build-fuzz
bin=$B/fuzz_$name
[ -x "$bin" ] || { echo "run.sh: $bin not built (make fuzz-build)" >&2; exit 2; }
dirs=()
for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do [ -d "$d" ] && dirs+=("$d"); done
case $mode in
  fuzz)  out=$B/corpus/$name ;;
  smoke) out=$B/smoke/$name; rm -rf "$out" ;;
  *) echo "run.sh: mode is fuzz or smoke" >&2; exit 2 ;;
esac
mkdir -p "$out" "$B/artifacts/$name" "$B/logs"
opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536
      -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$B/artifacts/$name/")
[ -f "tests/fuzz/$name.dict" ] && opts+=(-dict="tests/fuzz/$name.dict")
log=$B/logs/$name.$mode.log
tmp=$(mktemp -d /dev/shm/semid-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One thread per harness (the loaders use OpenMP); the smoke run shares two cores with another.
if SEMID_FUZZ_TMP=$tmp OMP_NUM_THREADS=1 ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0} "$bin" "${opts[@]}" "$out" "${dirs[@]}" >"$log" 2>&1; then
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz $mode $name: ok, ${execs:-?} runs in ${secs} s"
else
  echo "fuzz $mode $name: FAILED (log $log, input in $B/artifacts/$name/)" >&2
  grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8 >&2 || true
  exit 1
fi
