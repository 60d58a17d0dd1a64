#!/usr/bin/env bash
# libFuzzer targets of the losskit C ABI (see the header comment of each fuzz_*.c):
#   fuzz_compute   lk_loss_compute / _at on decoded batches: shapes, dtypes, pointers, data, params
#   fuzz_registry  register / unregister / create / destroy / mix / compute / plugin-load sequences
#   fuzz_params    the parameter setters against a model of the documented parameters
#
# Usage: Tests/fuzz/run.sh LIBDIR [SECONDS]
#   LIBDIR   a directory holding liblosskit.so (e.g. .build/release after
#            `swift build -c release --product losskit`)
#   SECONDS  fuzzing time per target (default 20: about a minute and a half in all)
# Long run (an hour per target):
#   Tests/fuzz/run.sh .build/release 3600
#
# Steps: builds the targets with clang -fsanitize=fuzzer,address,undefined (UB aborts) against
# LIBDIR/liblosskit.so (not instrumented: ASan checks the targets' own memory, LeakSanitizer sees
# every malloc, and a signal inside the library is reported as a crash), builds the test plugins,
# replays Tests/fuzz/regressions/<target>/* through test_regressions.c (plain C, no sanitizer), then
# fuzzes each target for SECONDS from its seed corpus Tests/fuzz/corpus/<target>. A regression that
# still fails names a known issue (file name up to the first '.'); fuzzing skips it through
# LOSSKIT_FUZZ_SKIP so that it can find others, and the run fails anyway.
#
# Environment: CC (default: the Swift toolchain's clang, else clang), LOSSKIT_FUZZ_OUT (a directory
# to keep binaries, the grown corpus and crash artifacts; default a temporary one, deleted unless
# something failed), LOSSKIT_FUZZ_JOBS (parallel fuzzing processes per target, default 1).
# Needs: clang with libFuzzer (compiler-rt), a C library with dlopen. No packages beyond the toolchain.
#
# A new crash is saved as $OUT/artifacts/<target>-crash-*: copy it to Tests/fuzz/regressions/<target>/
# under a name that says what it is, and replay it with $OUT/replay_<target> FILE.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -f "$1/liblosskit.so" ]; then
    echo "usage: $0 LIBDIR [SECONDS]   (LIBDIR holds liblosskit.so)" >&2
    exit 2
fi
libdir=$(cd "$1" && pwd)
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
targets="fuzz_compute fuzz_registry fuzz_params"

if [ -z "${CC:-}" ]; then  # the Swift toolchain's clang has libFuzzer; then a clang on the PATH
    swift_clang=""
    command -v swift >/dev/null && swift_clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"
    for candidate in "$swift_clang" /opt/swift/usr/bin/clang clang; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null; then CC=$candidate; break; fi
    done
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
    "$CC" -x c -fsanitize=fuzzer,address -o /dev/null - 2>/dev/null; then
    echo "fuzz: FAIL ($CC cannot build libFuzzer targets: use the Swift toolchain's clang, or set CC)"
    exit 1
fi
linker=()
if [ -x "$(dirname "$(command -v "$CC")")/ld.lld" ]; then linker=(-fuse-ld=lld); fi

keep=${LOSSKIT_FUZZ_OUT:-}
out=${keep:-$(mktemp -d)}
mkdir -p "$out/artifacts"
failures=()

# ---- build
common=(-g -O1 -Wall -Wextra -Werror -I"$root/include" -L"$libdir" -llosskit -Wl,-rpath,"$libdir")
echo "== building into $out (CC=$CC)"
for variant in 0 1; do
    name=librollback_plugin.so
    [ $variant = 1 ] && name=librollback_destroy_plugin.so
    "$CC" -shared -fPIC -O1 -Wall -Wextra -Werror -I"$root/include" -DWITH_DESTROY=$variant \
        "$here/plugins/rollback_plugin.c" -o "$out/$name" || failures+=("build:$name")
done
for t in $targets; do
    "$CC" "${linker[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "$here/$t.c" -o "$out/$t" \
        "${common[@]}" || failures+=("build:$t")
    "$CC" "${linker[@]}" "$here/test_regressions.c" "$here/$t.c" -o "$out/replay_$t" "${common[@]}" -lm \
        || failures+=("build:replay_$t")
done
if [ ${#failures[@]} -gt 0 ]; then
    echo "fuzz: FAIL (build: ${failures[*]})"
    exit 1
fi
export LOSSKIT_FUZZ_PLUGIN_DIR="$out"

# ---- regressions: every saved input replays without a crash or a contract violation
skip=()
regression_summary=""
for t in $targets; do
    dir="$here/regressions/$t"
    [ -d "$dir" ] || continue
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] || continue
    echo "== regressions of $t"
    log="$out/regressions_$t.log"
    LOSSKIT_FUZZ_SKIP= "$out/replay_$t" "$dir" >"$log" 2>"$out/regressions_$t.stderr"
    status=$?
    cat "$log"
    grep -E "contract violated|Fatal error|ERROR" "$out/regressions_$t.stderr" | sed 's/^/    /' | head -20
    while read -r _ name _; do
        skip+=("${name%%.*}")
        failures+=("regression:$t/$name")
    done < <(grep '^FAILED ' "$log")
    regression_summary+=" $t: $(tail -1 "$log" | sed 's/^regressions: //')"
    [ $status -eq 0 ] || [ -n "$(grep '^FAILED ' "$log")" ] || failures+=("regression-runner:$t")
done
skip_list=$(printf '%s\n' "${skip[@]:-}" | sort -u | paste -sd, -)
[ -n "$skip_list" ] && echo "== known issues skipped while fuzzing: $skip_list"

# ---- fuzzing
fuzz_summary=""
for t in $targets; do
    echo "== fuzzing $t for ${seconds}s"
    corpus="$out/corpus/$t"
    mkdir -p "$corpus"
    log="$out/$t.log"
    jobs=${LOSSKIT_FUZZ_JOBS:-1}
    job_args=()
    [ "$jobs" -gt 1 ] && job_args=(-jobs="$jobs" -workers="$jobs")
    (cd "$out" && LOSSKIT_FUZZ_SKIP="$skip_list" "$out/$t" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
        -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "${job_args[@]}" \
        "$corpus" "$here/corpus/$t" >"$log" 2>&1)
    status=$?
    runs=$(grep -h 'stat::number_of_executed_units' "$log" "$out"/fuzz-*.log 2>/dev/null | awk '{s += $2} END {print s + 0}')
    rate=$(grep -h 'stat::average_exec_per_sec' "$log" "$out"/fuzz-*.log 2>/dev/null | awk '{s += $2} END {print s + 0}')
    if [ $status -ne 0 ]; then
        grep -E "contract violated|ERROR: |SUMMARY: |Test unit written" "$log" | head -10 | sed 's/^/    /'
        failures+=("fuzz:$t")
        fuzz_summary+=" $t: CRASH after $runs runs;"
    else
        echo "    $runs runs, $rate exec/s"
        fuzz_summary+=" $t: $runs runs ($rate/s) ok;"
    fi
    rm -f "$out"/fuzz-*.log
done

if [ ${#failures[@]} -eq 0 ]; then
    echo "fuzz: PASS —$fuzz_summary regressions:${regression_summary:- none}"
    [ -z "$keep" ] && rm -rf "$out"
    exit 0
fi
echo "fuzz: FAIL (${failures[*]}) —$fuzz_summary regressions:${regression_summary:- none}; artifacts in $out"
exit 1
