#!/bin/sh
# Compiles the C++ wrapper tests as C++17 and as C++20 (warnings are errors) and runs both, with the
# example plugin (examples/plugins) built for the plugin tests.
# Usage: bindings/cpp/tests/run.sh LIBDIR   (LIBDIR holds liblosskit.so)
set -eu
if [ $# -ne 1 ] || [ ! -f "$1/liblosskit.so" ]; then
    echo "usage: $0 LIBDIR   (a directory containing liblosskit.so)" >&2
    exit 2
fi
libdir=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

plugin=$("$root/examples/plugins/build.sh" "$out")
status=0
for std in c++17 c++20; do
    echo "== $std"
    g++ -std=$std -Wall -Wextra -Werror -O1 -I"$root/include" -I"$here/.." \
        "$here/test_losskit.cpp" -o "$out/test_$std" \
        -L"$libdir" -llosskit -Wl,-rpath,"$libdir"
    "$out/test_$std" "$plugin" || status=1
done
exit $status
