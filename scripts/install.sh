#!/bin/sh
# Installs losskit for C and C++ projects under PREFIX:
#   PREFIX/include/losskit.h, PREFIX/include/losskit.hpp
#   PREFIX/lib/liblosskit.so
#   PREFIX/lib/pkgconfig/losskit.pc                 pkg-config --cflags --libs losskit
#   PREFIX/lib/cmake/losskit/losskitConfig.cmake    find_package(losskit CONFIG REQUIRED) -> losskit::losskit
#   PREFIX/lib/cmake/losskit/losskitConfigVersion.cmake
#
# Usage: scripts/install.sh PREFIX
# It builds the release library first (swift build -c release --product losskit), in the repository's
# .build unless LOSSKIT_SCRATCH names another scratch path. LOSSKIT_LIBRARY=/path/to/liblosskit.so
# installs that prebuilt library instead and skips the build.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi
# Absolute paths: the prefix is written into losskit.pc, and the build runs from the repository.
absolute() { case $1 in "" | /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
prefix=$(absolute "$1")
scratch=$(absolute "${LOSSKIT_SCRATCH:-}")
library=$(absolute "${LOSSKIT_LIBRARY:-}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ -z "$library" ]; then
    set -- -c release --product losskit
    [ -n "$scratch" ] && set -- "$@" --scratch-path "$scratch"
    swift build "$@"
    library=$(swift build "$@" --show-bin-path)/liblosskit.so
fi
if [ ! -f "$library" ]; then
    echo "install.sh: no library at $library" >&2
    exit 1
fi

# The package version is the header's, so the CMake and pkg-config versions cannot drift from it.
version_part() { sed -n "s/^#define LK_VERSION_$1 \([0-9][0-9]*\).*/\1/p" include/losskit.h; }
major=$(version_part MAJOR)
minor=$(version_part MINOR)
patch=$(version_part PATCH)
if [ -z "$major" ] || [ -z "$minor" ] || [ -z "$patch" ]; then
    echo "install.sh: cannot read LK_VERSION_MAJOR/MINOR/PATCH from include/losskit.h" >&2
    exit 1
fi
version=$major.$minor.$patch

install -d "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/losskit"
install -m 644 include/losskit.h bindings/cpp/losskit.hpp "$prefix/include/"
install -m 755 "$library" "$prefix/lib/liblosskit.so"

cat >"$prefix/lib/pkgconfig/losskit.pc" <<EOF
# losskit: classification losses with their gradient, one fused pass (C ABI; C++17 header losskit.hpp).
# The library is not in the default linker path: link with
#   cc prog.c \$(pkg-config --cflags --libs losskit) -Wl,-rpath,\$(pkg-config --variable=libdir losskit)
# (or set LD_LIBRARY_PATH). liblosskit.so carries its own Swift runtime: nothing else to link.
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: losskit
Description: Classification losses and their gradients (cross-entropy, squentropy, HEM, ...)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -llosskit
EOF

cat >"$prefix/lib/cmake/losskit/losskitConfig.cmake" <<'EOF'
# losskit CMake package: find_package(losskit CONFIG REQUIRED) gives the IMPORTED target
# losskit::losskit (headers losskit.h and the C++17 losskit.hpp, library liblosskit.so).
# The prefix is computed from this file's location, so the installed tree can be moved.
get_filename_component(_losskit_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT EXISTS "${_losskit_prefix}/lib/liblosskit.so" OR NOT EXISTS "${_losskit_prefix}/include/losskit.h")
    set(losskit_FOUND FALSE)
    set(losskit_NOT_FOUND_MESSAGE "incomplete install under ${_losskit_prefix}: liblosskit.so or losskit.h missing")
    unset(_losskit_prefix)
    return()
endif()

if(NOT TARGET losskit::losskit)
    add_library(losskit::losskit SHARED IMPORTED)
    set_target_properties(losskit::losskit PROPERTIES
        IMPORTED_LOCATION "${_losskit_prefix}/lib/liblosskit.so"
        IMPORTED_SONAME "liblosskit.so"
        INTERFACE_INCLUDE_DIRECTORIES "${_losskit_prefix}/include")
endif()
set(losskit_INCLUDE_DIR "${_losskit_prefix}/include")
set(losskit_LIBRARY "${_losskit_prefix}/lib/liblosskit.so")
unset(_losskit_prefix)
EOF

# Written by hand rather than by write_basic_package_version_file so that installing needs no CMake.
# Compatible: the same major version, not older than requested; before 1.0 a requested minor must match.
if [ "$major" = 0 ]; then
    same_minor="AND (PACKAGE_FIND_VERSION_COUNT LESS 2 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor)"
else
    same_minor=
fi
cat >"$prefix/lib/cmake/losskit/losskitConfigVersion.cmake" <<EOF
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
if(NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION
   AND PACKAGE_FIND_VERSION_MAJOR EQUAL $major $same_minor)
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
endif()
# liblosskit.so is a 64-bit library: a 32-bit project cannot use it.
if(CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P EQUAL 8)
    set(PACKAGE_VERSION "\${PACKAGE_VERSION} (64-bit)")
    set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
EOF

echo "installed losskit $version into $prefix (library: $library)"
