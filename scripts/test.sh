#!/usr/bin/env bash
# `make test`'s pytest stage: two sessions side by side on the machine's cores.
#
# The unit tests (no broker, CPU-bound, about three minutes on two cores) run in a session of
# their own beside the integration and end-to-end session, whose tests spend much of their time
# waiting on brokers, processes and timeouts. The integration session streams as before; the
# unit session's output is printed in full when both are done. Either one failing fails the
# stage. Arguments (make's PYTEST_ARGS) go to both sessions; a session that selects nothing
# (pytest's exit code 5, e.g. given only an e2e file) is not a failure unless neither selected
# anything. SHEBAO_TEST_SERIAL=1 runs one session after the other instead.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$PWD/.tools/venv/bin/uv")}
UNIT=(-m "not integration and not e2e")
INTEGRATION=(-m "integration or e2e")
log=$(mktemp "${TMPDIR:-/tmp}/shebao-unit-tests.XXXXXX")
trap 'rm -f "$log"' EXIT

passed() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }

if [ "${SHEBAO_TEST_SERIAL:-0}" = 1 ]; then
    "$UV" run pytest "${UNIT[@]}" "$@"
    unit=$?
    "$UV" run pytest "${INTEGRATION[@]}" "$@"
    integration=$?
else
    # its own cache directory, so the two sessions' `--lf` records do not overwrite each other
    "$UV" run pytest "${UNIT[@]}" -o cache_dir=.pytest_cache/unit "$@" >"$log" 2>&1 &
    pid=$!
    "$UV" run pytest "${INTEGRATION[@]}" "$@"
    integration=$?
    wait "$pid"
    unit=$?
    echo
    echo "================ the unit tests' session (run beside the one above) ================"
    cat "$log"
fi

echo
echo "unit tests: exit $unit; integration and end-to-end tests: exit $integration"
if [ "$unit" -eq 5 ] && [ "$integration" -eq 5 ]; then
    exit 5
fi
passed "$unit" && passed "$integration"
