#!/usr/bin/env bash
# Every test of losskit, from a fresh clone: installs what it needs, builds the library once, then runs
# the Swift, Python, C++ and C groups against that build. Prints a summary; exits non-zero if any
# group fails or if no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# --- what the tests need, by package name -----------------------------------------------------
python3 -m pip install --quiet --disable-pip-version-check numpy pytest scikit-learn || exit 1

# --- one release build of liblosskit.so, used by every group below ----------------------------
swift build -c release --product losskit || exit 1
library="$root/.build/release/liblosskit.so"
export LOSSKIT_LIBRARY="$library"
libdir="$root/.build/release"

passed=()
failed=()
run_group() {  # run_group NAME COMMAND...
    local name=$1; shift
    echo
    echo "=== $name: $*"
    if "$@"; then passed+=("$name"); else failed+=("$name"); fi
}

run_group "swift" swift test
run_group "python" python3 -m pytest -q bindings/python/tests
run_group "c++" bash bindings/cpp/tests/run.sh "$libdir"
run_group "c-example" bash examples/c/run.sh "$libdir"

echo
echo "=== summary: ${#passed[@]} groups passed (${passed[*]:-}), ${#failed[@]} failed (${failed[*]:-})"
[ ${#failed[@]} -eq 0 ] && [ ${#passed[@]} -gt 0 ]
