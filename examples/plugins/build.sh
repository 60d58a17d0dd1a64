#!/bin/sh
# Builds the example plugin as OUTDIR/libcross_entropy_plugin.so. It needs only losskit.h: the host
# passes its functions in lk_plugin_api, so the plugin does not link liblosskit.
# Usage: examples/plugins/build.sh OUTDIR
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
gcc -std=c99 -O2 -shared -fPIC -Wall -Wextra -Werror -pedantic -I"$here/../../include" \
    "$here/cross_entropy_plugin.c" -o "$1/libcross_entropy_plugin.so" -lm
echo "$1/libcross_entropy_plugin.so"
