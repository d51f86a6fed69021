#!/usr/bin/env bash
# The main job: runs the catalogue's benchmarks for the chosen phases in a
# release build on the best backend here (lgperf run), which writes metrics
# (reports/metrics), a JUnit report (reports/junit), each phase's weekly
# summary (reports/summaries) and prints the results table.
#   scripts/run-performance-benchmarks.sh                      baseline, ITERATIONS (default 100)
#   scripts/run-performance-benchmarks.sh --quick              quick sizes (10 iterations, small phases)
#   scripts/run-performance-benchmarks.sh --phase chaos ...    one or more phases (repeatable)
#   scripts/run-performance-benchmarks.sh --all [--quick]      all six phases
#   scripts/run-performance-benchmarks.sh --phase production --duration 1800   the soak's length in seconds
# Settings: every variable in the README's table (ITERATIONS, WARMUP, LUMINAGUARD_*).
# Exit: 0 every benchmark ran within its budgets, 1 one failed, 64 bad arguments or settings.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick|--all) args+=("$1") ;;
    --phase) [ $# -ge 2 ] || { echo "--phase needs a value: baseline, scale, exhaustion, chaos, recovery, production or all" >&2; exit 64; }
             args+=(--phase "$2"); shift ;;
    --phase=*) args+=(--phase "${1#--phase=}") ;;
    --duration) [ $# -ge 2 ] || { echo "--duration needs a number of seconds (the production soak's length)" >&2; exit 64; }
                args+=(--duration "$2"); shift ;;
    --duration=*) args+=(--duration "${1#--duration=}") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (expected --quick, --phase P, --all, --duration S)" >&2; exit 64 ;;
  esac
  shift
done

scripts/install-deps.sh
command -v qemu-system-x86_64 >/dev/null && scripts/build-guest-image.sh >/dev/null
reports="${LUMINAGUARD_REPORTS_DIR:-$root/reports}"
export LUMINAGUARD_REPORTS_DIR="$reports"
mkdir -p "$reports/raw"
echo "[bench] building (release) ..." >&2
swift build -c release >&2
stamp=$(date -u +%Y%m%d_%H%M%S)
log="$reports/raw/benchmark-$stamp.log"
echo "[bench] lgperf run ${args[*]:-} (log: $log)" >&2
set +e
.build/release/lgperf run "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
exit "$rc"
