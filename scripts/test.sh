#!/usr/bin/env bash
# The test command of the README: unit and end-to-end suites (real Temporal dev server, real PostgreSQL,
# simulators over loopback HTTP, the operator pages in headless Chromium) and the NetBox shim's Python tests.
# Ends with "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .data
bash scripts/temporal-cli.sh >/dev/null || { echo "could not provide the Temporal CLI" >&2; exit 1; }
CHROMIUM_PATH=$(bash scripts/browser.sh) || echo "could not provide Chromium: the browser tests will fail" >&2
export CHROMIUM_PATH
bash scripts/compose-cli.sh >/dev/null || echo "could not provide a Docker Compose CLI: the compose-file tests will fail" >&2

npx vitest run --reporter=default --reporter=json --outputFile.json=.data/vitest-report.json "$@"
vitest_rc=$?

py_rc=0
py_passed=0
py_failed=0
if [ -d contrib/netbox/tests ] && [ $# -eq 0 ]; then
  py_out=$(python3 -m unittest discover contrib/netbox/tests 2>&1); py_rc=$?
  echo "$py_out" | tail -n 5
  py_total=$(echo "$py_out" | sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p')
  py_bad=$(echo "$py_out" | sed -n 's/^FAILED (\(.*\))/\1/p' | grep -o '[0-9]\+' | awk '{s+=$1} END {print s+0}')
  py_failed=${py_bad:-0}
  py_passed=$(( ${py_total:-0} - py_failed ))
fi

node -e '
const r = JSON.parse(require("fs").readFileSync(".data/vitest-report.json", "utf8"));
const passed = r.numPassedTests + Number(process.argv[1]);
const failed = r.numFailedTests + Number(process.argv[2]);
console.log(`tests: ${passed} passed, ${failed} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$py_passed" "$py_failed"

[ "$vitest_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]
