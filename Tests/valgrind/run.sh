#!/usr/bin/env bash
# Leak and memory-error checks of liblosskit with valgrind memcheck.
#
# Usage: Tests/valgrind/run.sh LIBDIR   (LIBDIR holds liblosskit.so, e.g. .build/release)
#
# Runs under `valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99`:
#   1. examples/c/minimal.c (built as examples/c/run.sh builds it);
#   2. Tests/valgrind/error_paths.c: every status of the ABI, create/destroy cycles of every loss and
#      of mixes, user losses with destroy callbacks, plugin loads that fail (with the test plugin
#      Tests/fuzz/plugins/rollback_plugin.c);
#   3. bindings/cpp/tests/test_losskit.cpp as C++17, with the example plugin, if it builds (a build
#      failure is reported and skipped; its own test failures are reported, memcheck decides);
#   4. the fuzz seed corpora and regression inputs (Tests/fuzz/corpus/*, Tests/fuzz/regressions/*)
#      replayed through Tests/fuzz/test_regressions.c: memcheck sees inside the library, which the
#      ASan fuzzers do not (the replayer's "N passed" counts inputs whose checks held).
# A step fails on any memcheck error (invalid read/write, uninitialised value) or any byte definitely
# or indirectly lost; "possibly lost" and "still reachable" are allowed (the library interns loss
# names for the life of the process; its worker threads live as long as the process). Swift runtime one-time
# allocations reported as leaks would be suppressed, narrowly and with a reason, in
# Tests/valgrind/swift-runtime.supp (used when present; none are needed today).
# Needs: valgrind, gcc, g++. Takes about a minute.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/liblosskit.so" ]; then
    echo "usage: $0 LIBDIR   (a directory containing liblosskit.so)" >&2
    exit 2
fi
libdir=$(cd "$1" && pwd)
# memcheck runs the baseline (SSE2) build of the kernels: it checks memory, not instruction sets, and
# valgrind 3.19 mis-evaluates some AVX2 compares (vcmpneq_oqpd treats NaN as not equal: a NaN logit
# passed the finiteness check only under valgrind). The other builds are tested natively and under qemu.
export LOSSKIT_SIMD=baseline
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v valgrind >/dev/null || { echo "valgrind: FAIL (valgrind is not installed: apt-get install valgrind)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

vg=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --error-exitcode=99 --num-callers=30)
[ -f "$here/swift-runtime.supp" ] && vg+=(--suppressions="$here/swift-runtime.supp")
link=(-I"$root/include" -L"$libdir" -llosskit -Wl,-rpath,"$libdir")

passed=()
failed=()
skipped=()

# run_step NAME LOGFILE PROGRAM ARGS... : the program under memcheck; fails on exit status 99 (memcheck)
# or, unless TOLERATE_EXIT is set, on any other non-zero status.
run_step() {
    local name=$1 log=$2
    shift 2
    echo "== $name"
    "${vg[@]}" --log-file="$log.%p" "$@" >"$log.out" 2>&1
    local status=$?
    tail -3 "$log.out" | sed 's/^/    /'
    local lost
    cat "$log".* >"$log" 2>/dev/null
    echo "    memcheck: $(awk '
        /ERROR SUMMARY:/ { procs++; errors += $4 }
        /definitely lost:/ { gsub(",", "", $4); definite += $4 }
        /indirectly lost:/ { gsub(",", "", $4); indirect += $4 }
        END { printf "%d process(es), %d errors, %d bytes definitely lost, %d bytes indirectly lost",
              procs, errors, definite, indirect }' "$log")"
    if [ $status -eq 99 ]; then
        grep -E -A25 "Invalid|uninitialised|definitely lost in|indirectly lost in" "$log" | head -80 | sed 's/^/    /'
        failed+=("$name")
    elif [ $status -ne 0 ] && [ -z "${TOLERATE_EXIT:-}" ]; then
        echo "    the program failed (exit status $status)"
        failed+=("$name")
    else
        [ $status -ne 0 ] && echo "    the program's own checks failed (exit status $status); memcheck is clean"
        passed+=("$name")
    fi
}

# 1. the C example
if gcc -std=c99 -Wall -Wextra -Werror -pedantic "$root/examples/c/minimal.c" -o "$out/minimal" "${link[@]}"; then
    run_step "c-example" "$out/minimal.vg" "$out/minimal"
else
    failed+=("c-example(build)")
fi

# 2. every error path
plugin_dir="$out/plugins"
mkdir -p "$plugin_dir"
for variant in 0 1; do
    name=librollback_plugin.so
    [ $variant = 1 ] && name=librollback_destroy_plugin.so
    gcc -shared -fPIC -O1 -Wall -Wextra -Werror -I"$root/include" -DWITH_DESTROY=$variant \
        "$root/Tests/fuzz/plugins/rollback_plugin.c" -o "$plugin_dir/$name" || failed+=("$name(build)")
done
if gcc -std=c99 -O1 -g -Wall -Wextra -Werror "$here/error_paths.c" -o "$out/error_paths" "${link[@]}" -lm; then
    run_step "error-paths" "$out/error_paths.vg" "$out/error_paths" "$plugin_dir"
else
    failed+=("error-paths(build)")
fi

# 3. the C++ wrapper's tests, if they build
cpp_plugin=""
if [ -x "$root/examples/plugins/build.sh" ]; then
    cpp_plugin=$("$root/examples/plugins/build.sh" "$out/cpp-plugin" 2>/dev/null) || cpp_plugin=""
fi
if g++ -std=c++17 -Wall -Wextra -O1 -g -I"$root/bindings/cpp" "$root/bindings/cpp/tests/test_losskit.cpp" \
    -o "$out/test_losskit" "${link[@]}" 2>"$out/cpp-build.log"; then
    TOLERATE_EXIT=1 run_step "c++-tests" "$out/test_losskit.vg" "$out/test_losskit" ${cpp_plugin:+"$cpp_plugin"}
else
    echo "== c++-tests: does not build, skipped"
    head -5 "$out/cpp-build.log" | sed 's/^/    /'
    skipped+=("c++-tests")
fi

# 4. the fuzz seeds and regression inputs, replayed inside memcheck
cc=gcc
for t in fuzz_compute fuzz_params fuzz_registry; do
    corpus="$root/Tests/fuzz/corpus/$t"
    [ -d "$corpus" ] || continue
    if $cc -O1 -g -Wall -Wextra "$root/Tests/fuzz/test_regressions.c" "$root/Tests/fuzz/$t.c" -o "$out/replay_$t" \
        "${link[@]}" -lm 2>"$out/replay_$t.build.log"; then
        regressions="$root/Tests/fuzz/regressions/$t"
        [ -d "$regressions" ] || regressions=""
        LOSSKIT_FUZZ_PLUGIN_DIR="$plugin_dir" run_step "fuzz-inputs:$t" "$out/replay_$t.vg" --trace-children=yes \
            "$out/replay_$t" "$corpus" ${regressions:+"$regressions"}
    else
        head -5 "$out/replay_$t.build.log" | sed 's/^/    /'
        failed+=("fuzz-inputs:$t(build)")
    fi
done

summary="${#passed[@]} passed (${passed[*]:-}), ${#failed[@]} failed (${failed[*]:-}), ${#skipped[@]} skipped (${skipped[*]:-})"
if [ ${#failed[@]} -eq 0 ] && [ ${#passed[@]} -gt 0 ]; then
    echo "valgrind: PASS — $summary"
    exit 0
fi
echo "valgrind: FAIL — $summary"
exit 1
