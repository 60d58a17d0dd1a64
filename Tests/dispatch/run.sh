#!/usr/bin/env bash
# The CPU dispatch on machines this one is not: dispatch_check runs natively and under qemu-user
# emulating an x86-64 without AVX (Nehalem: the baseline build must be chosen, and must not crash)
# and one with AVX2 but not AVX-512 (Haswell: the AVX2 build). Each emulated run must print what
# the native run prints with LOSSKIT_SIMD capped to the same level (losses and gradient checksums
# to 9 digits: the same instructions, and libm's variants agree to far better than that), and a
# cap above the CPU (LOSSKIT_SIMD=avx512 on Nehalem) must still pick the baseline.
# Usage: Tests/dispatch/run.sh LIBDIR
set -uo pipefail
libdir=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (apt-get install qemu-user)"; exit 1; }
cc -std=c99 -O2 -Wall -Wextra -Werror -I"$here/../../include" "$here/dispatch_check.c" -o "$out/check" \
    -L"$libdir" -llosskit -Wl,-rpath,"$libdir" || exit 1

passed=0 failed=0

# Static check: the linker keeps the first copy of a function that several modules emit (standard
# library helpers and specialisations), so every such function the fast builds define must also be
# defined by a baseline object linked before them — else their AVX copy would serve baseline code —
# and none may take SIMD values: builds for different CPUs pass vectors in different registers, so
# one copy cannot serve both (seen: SIMD.min() of a mask, shared, gave wrong answers). A copy that
# no object refers to (no relocation names it: a specialisation the optimiser inlined everywhere and
# left behind) is never called, and is not counted.
list="$libdir/losskit.product/Objects.LinkFileList"
if [ -f "$list" ]; then
    first_fast=$(grep -n 'LossKitRowMath[A-Za-z]*AVX' "$list" | head -1 | cut -d: -f1)
    unsafe=""
    baseline_symbols=$(head -n $((first_fast - 1)) "$list" | xargs nm --defined-only 2>/dev/null | awk '{print $3}' | sort -u)
    referenced=$(xargs objdump -r <"$list" 2>/dev/null | awk '$2 ~ /^R_/ {sub(/[-+]0x[0-9a-f]+$/, "", $3); print $3}' | sort -u)
    for object in $(grep 'LossKitRowMath[A-Za-z]*AVX' "$list"); do
        module=$(basename "$(dirname "$object")" .build)
        for symbol in $(nm --defined-only "$object" | awk '$2 ~ /^[TW]$/ {print $3}' | grep -v "$module"); do
            grep -qxF "$symbol" <<<"$referenced" || continue
            if [[ $symbol == *SIMD* ]] || ! grep -qxF "$symbol" <<<"$baseline_symbols"; then unsafe="$unsafe $symbol"; fi
        done
    done
    if [ -n "$unsafe" ]; then
        echo "FAIL link order: shared functions defined first by a fast build:$unsafe"; failed=$((failed + 1))
    else
        echo "ok   link order (every function the fast builds share is first defined by a baseline object)"
        passed=$((passed + 1))
    fi
else
    echo "FAIL: $list not found (the check needs SwiftPM's link list next to the library)"; failed=$((failed + 1))
fi
expect() {  # expect NAME EXPECTED_FILE ACTUAL_FILE LEVEL
    if [ "$(cut -d' ' -f1 "$3" | sort -u)" != "$4" ]; then
        echo "FAIL $1: expected level $4, got $(cut -d' ' -f1 "$3" | sort -u | tr '\n' ' ')"; failed=$((failed + 1))
    elif ! diff -q "$2" "$3" >/dev/null; then
        echo "FAIL $1: results differ from the native run at the same level"; diff "$2" "$3" | head -5; failed=$((failed + 1))
    else
        echo "ok   $1 ($(wc -l <"$3") results, level $4)"; passed=$((passed + 1))
    fi
}
for level in baseline avx2; do
    LOSSKIT_SIMD=$level "$out/check" >"$out/native-$level.txt" || { echo "FAIL native $level run"; failed=$((failed + 1)); }
done
qemu-x86_64 -cpu Nehalem "$out/check" >"$out/nehalem.txt" || { echo "FAIL: crashed under qemu -cpu Nehalem"; failed=$((failed + 1)); }
expect "qemu Nehalem (no AVX)" "$out/native-baseline.txt" "$out/nehalem.txt" baseline
LOSSKIT_SIMD=avx512 qemu-x86_64 -cpu Nehalem "$out/check" >"$out/nehalem-cap.txt" || { echo "FAIL: crashed under qemu -cpu Nehalem with LOSSKIT_SIMD=avx512"; failed=$((failed + 1)); }
expect "qemu Nehalem, LOSSKIT_SIMD=avx512" "$out/native-baseline.txt" "$out/nehalem-cap.txt" baseline
qemu-x86_64 -cpu Haswell "$out/check" >"$out/haswell.txt" || { echo "FAIL: crashed under qemu -cpu Haswell"; failed=$((failed + 1)); }
expect "qemu Haswell (AVX2, no AVX-512)" "$out/native-avx2.txt" "$out/haswell.txt" avx2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
