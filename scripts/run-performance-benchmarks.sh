#!/usr/bin/env bash
# The main job: runs the baseline validation suites in release mode on the
# best backend here, then writes metrics (reports/metrics), JUnit
# (reports/junit) and the weekly baseline summary (reports/summaries), and
# prints the results table.
#   scripts/run-performance-benchmarks.sh           ITERATIONS (default 100) per benchmark
#   scripts/run-performance-benchmarks.sh --quick   10 iterations
# Environment: ITERATIONS, WARMUP, LUMINAGUARD_BACKEND, LUMINAGUARD_ACCEL,
# LUMINAGUARD_REPORTS_DIR (see README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $a (expected --quick)" >&2; exit 2 ;;
  esac
done
if [ $quick -eq 1 ]; then export ITERATIONS="${ITERATIONS:-10}"; else export ITERATIONS="${ITERATIONS:-100}"; fi
case "$ITERATIONS" in ''|*[!0-9]*) echo "ITERATIONS=$ITERATIONS is not a whole number: expected 1-100000" >&2; exit 2 ;; esac
[ "$ITERATIONS" -ge 1 ] && [ "$ITERATIONS" -le 100000 ] || { echo "ITERATIONS=$ITERATIONS is out of range: expected 1-100000" >&2; exit 2; }

scripts/install-deps.sh
command -v qemu-system-x86_64 >/dev/null && scripts/build-guest-image.sh >/dev/null
reports="${LUMINAGUARD_REPORTS_DIR:-$root/reports}"
export LUMINAGUARD_REPORTS_DIR="$reports"
mkdir -p "$reports/raw" "$reports/metrics" "$reports/junit" "$reports/summaries"

# Swift Testing otherwise captures a backtrace for every Swift error thrown in
# the test process; the MCP SDK throws on its normal decoding path, and MCP
# round trips measured there ran 2-3x slower than in any other process.
export SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0
echo "[bench] building (release) ..." >&2
# -enable-testing: some unit tests use @testable imports; they are built (not run) here.
swift build -c release --build-tests -Xswiftc -enable-testing >&2
stamp=$(date -u +%Y%m%d_%H%M%S)
marker="$reports/raw/.run-$stamp"
touch "$marker"
events="$reports/raw/events-benchmark-$stamp.jsonl"
log="$reports/raw/benchmark-$stamp.log"
echo "[bench] running the baseline suites: $ITERATIONS iterations each (progress below) ..." >&2
set +e
swift test -c release --skip-build --filter 'tag:baseline' \
  --event-stream-output-path "$events" --event-stream-version 0 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
count=$(grep -Eo 'Test run with [0-9]+ test' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
[ "${count:-0}" -gt 0 ] || { echo "[bench] no benchmark test ran" >&2; exit 5; }

mapfile -t files < <(find "$reports/metrics" -name '*.json' -newer "$marker" | sort)
rm -f "$marker"
[ ${#files[@]} -gt 0 ] || { echo "[bench] the run wrote no metrics file" >&2; exit 5; }
lgperf=.build/release/lgperf
# The newest file per scope in reports/metrics is this run's.
"$lgperf" report junit --events "$events" --metrics "$reports/metrics" --phase baseline \
  --output "$reports/junit/benchmark-$stamp.xml" >&2 || { echo "[bench] JUnit report failed" >&2; rc=1; }
"$lgperf" report week --phase baseline --metrics "$reports/metrics" --output-dir "$reports/summaries" >&2 \
  || { echo "[bench] weekly summary failed" >&2; rc=1; }
echo
"$lgperf" table "${files[@]}"
exit "$rc"
