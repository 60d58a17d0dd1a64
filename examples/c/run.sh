#!/bin/sh
# Compiles examples/c/minimal.c as strict C99 and runs it.
# Usage: examples/c/run.sh LIBDIR   (LIBDIR holds liblosskit.so)
set -eu
if [ $# -ne 1 ] || [ ! -f "$1/liblosskit.so" ]; then
    echo "usage: $0 LIBDIR   (a directory containing liblosskit.so)" >&2
    exit 2
fi
libdir=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

gcc -std=c99 -Wall -Wextra -Werror -pedantic -I"$here/../../include" "$here/minimal.c" -o "$out/minimal" \
    -L"$libdir" -llosskit -Wl,-rpath,"$libdir"
"$out/minimal"
