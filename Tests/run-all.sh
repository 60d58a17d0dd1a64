#!/usr/bin/env bash
# Every test of losskit, from a fresh clone: installs what it needs, builds the library once, then runs
# the Swift, Python, C++ and C groups against that build. Prints a summary; exits non-zero if any
# group fails or if no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# --- what the tests need, by package name -----------------------------------------------------
apt_packages="cmake libffi-dev pkg-config valgrind qemu-user"
missing=$(for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || exit 1
fi
python3 -m pip install --quiet --disable-pip-version-check numpy pytest scikit-learn matplotlib jax ml_dtypes setuptools wheel || exit 1

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

swift_tests() {  # swift test ARGS..., failing also when no test ran
    local log
    log=$(mktemp)
    swift test "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    grep -Eq "Executed [1-9][0-9]* tests?, with 0 failures" "$log" || status=1
    rm -f "$log"
    return "$status"
}

# The ABI tests in debug (on the fastest build of the row kernels this CPU has); the vector-math
# accuracy sweeps in release (minutes in debug), for every build this CPU runs.
run_group "swift" swift_tests --skip LossKitKernelsTests
# The kernels' other builds on the tests that reach every kernel path (rows, columns, row tiles, 16-bit,
# edges).
for level in baseline avx2; do
    LOSSKIT_SIMD=$level run_group "swift-$level" swift_tests --skip-build \
        --filter "CrossEntropyTests|ColumnKernelTests|RowTileTests|DicePathTests|HalfPrecisionTests|LossEdgeCaseTests|NumericalRobustnessTests"
done
run_group "swift-vector-math" swift_tests -c release -Xswiftc -enable-testing --filter LossKitKernelsTests
# Sanitizers, each in its own build folder, on the tests that drive bad inputs, edge cases and
# threads (the whole suite under every sanitizer takes too long for CI: `swift test --sanitize=X`).
# Swift 6.3 on Linux refuses --sanitize=undefined; UBSan runs in the fuzz group (C side, -fsanitize=undefined).
# LeakSanitizer is off here: at exit it reports XCTest's own allocations; leaks of the library are
# checked by valgrind (zero bytes definitely or indirectly lost) and by the fuzzers' LeakSanitizer.
ASAN_OPTIONS=detect_leaks=0 run_group "swift-asan" swift_tests --sanitize=address --scratch-path .build-asan \
    --filter "BadInputTests|ABIBasicsTests|LossEdgeCaseTests|ScratchArenaTests"
run_group "swift-tsan" swift_tests --sanitize=thread --scratch-path .build-tsan \
    --filter "ABIBasicsTests|testThreadCountDoesNotChangeResults"
run_group "python" python3 -m pytest -q bindings/python/tests --ignore=bindings/python/tests/torch
torch_tests() {  # the PyTorch adapter's group: torch is a large install, needed by these tests only
    python3 -m pip install --quiet --disable-pip-version-check torch && python3 -m pytest -q bindings/python/tests/torch
}

run_group "python-torch" torch_tests
run_group "c++" bash bindings/cpp/tests/run.sh "$libdir"
run_group "c-example" bash examples/c/run.sh "$libdir"
run_group "c-plugin-host" bash Tests/c/run.sh "$libdir"
# CPUs this machine is not (qemu-user): no AVX, and AVX2 without AVX-512.
run_group "simd-dispatch" bash Tests/dispatch/run.sh "$libdir"
run_group "packaging" bash Tests/packaging/run.sh
run_group "fuzz" bash Tests/fuzz/run.sh "$libdir" 20
run_group "valgrind" bash Tests/valgrind/run.sh "$libdir"

echo
echo "=== summary: ${#passed[@]} groups passed (${passed[*]:-}), ${#failed[@]} failed (${failed[*]:-})"
[ ${#failed[@]} -eq 0 ] && [ ${#passed[@]} -gt 0 ]
