#!/usr/bin/env bash
# Packaging tests: install losskit into a temporary prefix with scripts/install.sh, then use it the
# way C and C++ projects do (pkg-config, CMake find_package), check the installed library's soname and
# dependencies, and build and run the C++ trainer example (>= 90 % test accuracy on digits).
#
# Usage: Tests/packaging/run.sh
# The library comes from install.sh: LOSSKIT_LIBRARY=/path/liblosskit.so installs that build as is;
# otherwise `swift build` runs in .build, or in LOSSKIT_SCRATCH (a no-op when that build is current).
# Needs cc, c++, pkg-config, cmake, ldd, readelf; python3 with numpy and scikit-learn for the trainer.
# Prints PASS/FAIL per check and a count; exits non-zero if any check failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

passed=0
failed=0
check() {  # check NAME COMMAND...: runs COMMAND with its output in $work/NAME.log, shown on failure
    local name=$1 log=$work/$1.log
    shift
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/    /' "$log"
    fi
}
summary() {
    echo "packaging: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

version_part() { sed -n "s/^#define LK_VERSION_$1 \([0-9][0-9]*\).*/\1/p" "$root/include/losskit.h"; }
major=$(version_part MAJOR)
version=$major.$(version_part MINOR).$(version_part PATCH)

# --- install ----------------------------------------------------------------------------------
install_layout() {
    "$root/scripts/install.sh" "$prefix" || return 1
    local f status=0
    for f in include/losskit.h include/losskit.hpp lib/liblosskit.so lib/pkgconfig/losskit.pc \
             lib/cmake/losskit/losskitConfig.cmake lib/cmake/losskit/losskitConfigVersion.cmake; do
        [ -f "$prefix/$f" ] || { echo "missing $prefix/$f"; status=1; }
    done
    return $status
}
check install-layout install_layout
# Everything below needs the installed tree.
[ -f "$prefix/lib/liblosskit.so" ] || { summary; exit 1; }
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig

# --- the installed library itself --------------------------------------------------------------
soname() {
    readelf -d "$prefix/lib/liblosskit.so" | tee /dev/stderr | grep -q 'Library soname: \[liblosskit.so\]'
}
check soname soname

# Only the C and C++ runtimes: the Swift runtime is linked in statically.
dependencies() {
    ldd "$prefix/lib/liblosskit.so" || return 1
    ! ldd "$prefix/lib/liblosskit.so" \
        | grep -vE '^\s*(linux-vdso\.so|/lib(64)?/ld-linux|ld-linux)|^\s*(libc|libm|libstdc\+\+|libgcc_s)\.so' \
        | grep . && ! ldd "$prefix/lib/liblosskit.so" | grep -q 'not found'
}
check ldd-dependencies dependencies

# --- pkg-config ----------------------------------------------------------------------------------
pkgconfig_version() {
    local got
    got=$(pkg-config --modversion losskit) || return 1
    echo "pkg-config: $got, header: $version"
    [ "$got" = "$version" ]
}
check pkgconfig-version pkgconfig_version

c_program() {
    # shellcheck disable=SC2046  # pkg-config's output is meant to be split into flags
    cc -std=c99 -Wall -Wextra -Werror -pedantic "$here/consumer.c" -o "$work/consumer" \
        $(pkg-config --cflags --libs losskit) -Wl,-rpath,"$(pkg-config --variable=libdir losskit)" &&
        "$work/consumer" &&
        ldd "$work/consumer" | grep -F "$prefix/lib/liblosskit.so"
}
check c-pkgconfig c_program

# --- CMake ---------------------------------------------------------------------------------------
cmake_app() {  # cmake_app PREFIX BUILDDIR [VERSION]: configure, build and run the consumer against PREFIX
    cmake -S "$here/cmake_consumer" -B "$2" -DCMAKE_PREFIX_PATH="$1" -DLOSSKIT_VERSION="${3:-}" \
        -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" &&
        cmake --build "$2" &&
        "$2/app" &&
        ldd "$2/app" | grep -F "$1/lib/liblosskit.so"
}
check cpp-cmake cmake_app "$prefix" "$work/cmake"
check cmake-version-accepted cmake_app "$prefix" "$work/cmake-version" "$version"
# A newer major version than the installed one must not be found.
newer_major_refused() {
    ! cmake -S "$here/cmake_consumer" -B "$work/cmake-newer" -DCMAKE_PREFIX_PATH="$prefix" \
        -DLOSSKIT_VERSION="$((major + 1)).0"
}
check cmake-version-refused newer_major_refused
# The package computes its prefix from its own location: a copy elsewhere must work on its own.
relocated() {
    cp -a "$prefix" "$work/moved" && cmake_app "$work/moved" "$work/cmake-moved"
}
check cmake-relocated relocated

# --- the C++ trainer example ---------------------------------------------------------------------
build_trainer() {
    python3 "$root/examples/cpp/export_digits.py" "$work/digits" &&
        cmake -S "$root/examples/cpp" -B "$work/trainer" -DCMAKE_PREFIX_PATH="$prefix" \
            -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" &&
        cmake --build "$work/trainer"
}
check trainer-build build_trainer
trainer_accuracy() {  # trainer_accuracy LOSS: default options must reach 90 % test accuracy
    local out accuracy
    out=$("$work/trainer/train_mlp" --data "$work/digits" --loss "$1") || { echo "$out"; return 1; }
    echo "$out"
    accuracy=$(echo "$out" | awk '/^final test_acc/ { print $3 }')
    [ -n "$accuracy" ] && awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.90) }'
}
check trainer-cross_entropy trainer_accuracy cross_entropy
check trainer-squentropy trainer_accuracy squentropy
# Loss parameters from the command line reach the library: a valid one trains, a bad one is refused.
trainer_params() {
    "$work/trainer/train_mlp" --data "$work/digits" --loss ce_expectation_mix --schedule linear --epochs 3 \
        | tee /dev/stderr | grep -q 'progress 1.000' &&
        "$work/trainer/train_mlp" --data "$work/digits" --loss hem --margin 0.25 --param nan_policy=propagate \
            --epochs 1 &&
        ! "$work/trainer/train_mlp" --data "$work/digits" --loss hem --margin -1 --epochs 1
}
check trainer-parameters trainer_params

summary
