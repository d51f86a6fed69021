#!/usr/bin/env bash
# The project's test command (what CI runs). Installs missing Debian packages
# (as root), builds the guest image (cached), builds, then runs the unit tests
# and, one suite at a time, the validation suites on real VMs.
#   scripts/test.sh                      everything
#   scripts/test.sh --filter tag:spawn   only tests whose ID carries [tag:spawn]
# Any run that executes zero tests fails: on Swift 6.3.1 a filter that matches
# nothing otherwise "passes" silently.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
if command -v qemu-system-x86_64 >/dev/null; then
  # QEMU is here, so the validation suites must run on real VMs.
  export LUMINAGUARD_REQUIRE_VM=1
  scripts/build-guest-image.sh >/dev/null
fi
reports="${LUMINAGUARD_REPORTS_DIR:-$root/reports}"
mkdir -p "$reports/raw"
# Swift Testing otherwise captures a backtrace for every Swift error thrown in
# the test process; the MCP SDK throws on its normal decoding path, and MCP
# round trips measured there ran 2-3x slower than in any other process.
export SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0
echo "[test] building (debug) ..." >&2
swift build --build-tests

run() {  # run NAME swift-test-args...
  local name=$1; shift
  local log="$reports/raw/test-$name.log" events="$reports/raw/events-$name.jsonl"
  rm -f "$events"
  set +e
  # One test at a time: tests that boot VMs block threads of Swift's
  # cooperative pool (two threads on a 2-core host), and run side by side
  # they starve the MCP servers and timers that other tests measure.
  swift test --skip-build --no-parallel --event-stream-output-path "$events" --event-stream-version 0 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || { echo "[test] $name: swift test failed (exit $rc)" >&2; exit "$rc"; }
  local count
  count=$(grep -Eo 'Test run with [0-9]+ test' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  if [ "${count:-0}" -eq 0 ]; then
    echo "[test] $name: the selection ran no test (arguments: $*). Tags are matched as [tag:NAME] tokens in test IDs; list them with: swift test list" >&2
    exit 5
  fi
  echo "[test] $name: $count tests passed" >&2
}

if [ $# -gt 0 ]; then
  run selection "$@"
else
  run unit --skip 'ValidationTests\.Validation/'
  run validation --filter 'ValidationTests\.Validation/'
fi
