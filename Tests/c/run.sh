#!/bin/sh
# Builds the example plugin and the test plugins, compiles the C tests (warnings are errors) and runs
# them against LIBDIR/liblosskit.so. Installs nothing: needs gcc, binutils (nm) and libffi-dev.
# Usage: Tests/c/run.sh LIBDIR   (LIBDIR holds liblosskit.so)
set -eu
if [ $# -ne 1 ] || [ ! -f "$1/liblosskit.so" ]; then
    echo "usage: $0 LIBDIR   (a directory containing liblosskit.so)" >&2
    exit 2
fi
libdir=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cflags="-std=c11 -Wall -Wextra -Werror -pthread -O1 -I$root/include -I$here"
link="-L$libdir -llosskit -Wl,-rpath,$libdir -lm"

"$root/examples/plugins/build.sh" "$out" >/dev/null
for plugin in no_entry failing_init wrong_abi partial; do
    gcc -std=c11 -O1 -shared -fPIC -Wall -Wextra -Werror -I"$root/include" \
        "$here/plugins/${plugin}_plugin.c" -o "$out/lib${plugin}_plugin.so"
done
# shellcheck disable=SC2086  # flags are word lists
gcc $cflags "$here/test_plugin_host.c" -o "$out/test_plugin_host" $link
# shellcheck disable=SC2086
gcc $cflags "$here/test_ffi_abi.c" -o "$out/test_ffi_abi" $link -lffi -ldl
# shellcheck disable=SC2086
gcc $cflags "$here/test_no_allocation.c" -o "$out/test_no_allocation" $link

status=0
echo "== test_plugin_host"
"$out/test_plugin_host" "$out" || status=1

echo "== test_no_allocation"
"$out/test_no_allocation" || status=1

echo "== test_ffi_abi"
# The signature table must name every function the library exports, and nothing else.
"$out/test_ffi_abi" --list | sort >"$out/table.txt"
nm -D --defined-only "$libdir/liblosskit.so" | awk '$2 == "T" && $3 ~ /^lk_/ { print $3 }' | sort >"$out/exported.txt"
if ! diff -u "$out/exported.txt" "$out/table.txt"; then
    echo "FAIL: the ffi signature table differs from the library's exported lk_ functions (- exported, + table)"
    status=1
fi
"$out/test_ffi_abi" "$libdir/liblosskit.so" || status=1
exit $status
