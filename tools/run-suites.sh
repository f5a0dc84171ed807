#!/usr/bin/env bash
# run-suites.sh - the whole Check suite on the default OpenCL device (PoCL on a fresh Debian machine), then
# again on Intel's oneAPI OpenCL CPU runtime (tools/setup-intel-opencl.sh installs it, cached); what CI runs,
# through `quickstart.sh test`. Expects ./build to be built.
#
# Each run prints its device, the suite's output (ending with Check's summary) and its wall time; the last
# lines repeat both summaries. Exit status: nonzero when either run fails. When the Intel runtime cannot be
# had (no network, no pip), one line says so and the first run alone decides; GEMCL_INTEL_OPENCL=off skips it.
# Logs: build/suite-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

tests=./build/tests/gemcl-tests
logs=build/suite-logs
mkdir -p "$logs"
status=0
recap=()

# The device a run will use, as `gemcl devices` says ("device 0: NAME (PLATFORM)").
device_used() {
    local line
    line="$(./build/tools/gemcl devices 2>&1 | tail -n 1)" || true
    case "$line" in
    "gemcl uses "*) echo "${line#gemcl uses }" ;;
    *) echo "no device ($line)" ;;
    esac
}

# Adds a run's results to the totals. Check counts a test that skipped (a "SKIP: why" line: a file or tool it
# needs is missing) as passed, so those move to skipped; a "SKIP suite/test: why" line is a test left out of
# the run before it started.
total_passed=0 total_failed=0 total_skipped=0
count_results() {
    local summary="$1" log="$2" checks failures errors skipped_inside left_out
    checks=$(sed -nE 's/.*Checks: ([0-9]+).*/\1/p' <<<"$summary")
    failures=$(sed -nE 's/.*Failures: ([0-9]+).*/\1/p' <<<"$summary")
    errors=$(sed -nE 's/.*Errors: ([0-9]+).*/\1/p' <<<"$summary")
    skipped_inside=$(grep -c '^SKIP: ' "$log" || true)
    left_out=$(grep -c '^SKIP [a-z_]*/' "$log" || true)
    if [ -z "$checks" ]; then # no summary: the run died; count it as one failure
        total_failed=$((total_failed + 1))
        return
    fi
    total_passed=$((total_passed + checks - failures - errors - skipped_inside))
    total_failed=$((total_failed + failures + errors))
    total_skipped=$((total_skipped + skipped_inside + left_out))
}

# run_suite NAME: the whole suite on the device the environment picks; its log in $logs/NAME.log.
run_suite() {
    local name="$1" log="$logs/$1.log" start=$SECONDS rc=0 device summary
    device="$(device_used)"
    echo "== run-suites: the suite on $name: $device"
    "$tests" 2>&1 | tee "$log" || rc=$?
    summary="$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)" || true
    count_results "$summary" "$log"
    local line="$name ($device): ${summary:-no Check summary}, exit status $rc, $((SECONDS - start)) s"
    echo "== run-suites: $line"
    recap+=("$line")
    if [ "$rc" -ne 0 ]; then status=1; fi
}

case "$(device_used)" in
*"Portable Computing Language"*) run_suite pocl ;;
*) run_suite default ;;
esac

if [ "${GEMCL_INTEL_OPENCL:-}" = off ]; then
    echo "== run-suites: GEMCL_INTEL_OPENCL=off: the Intel OpenCL runtime run is skipped"
elif intel_env="$(bash tools/setup-intel-opencl.sh 2>"$logs/intel-setup.log")"; then
    cat "$logs/intel-setup.log"
    eval "$intel_env"
    run_suite intel
else
    why="$(tail -n 1 "$logs/intel-setup.log")"
    echo "== run-suites: Intel's OpenCL CPU runtime is not available (${why#setup-intel-opencl: }): the suite ran on the first device only"
fi

echo "== run-suites: summary"
for line in "${recap[@]}"; do
    echo "   $line"
done
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$status"
