"""Build steps of the losskit wheel that pyproject.toml cannot declare.

- The version is the C header's: LK_VERSION_MAJOR/MINOR/PATCH of include/losskit.h.
- build_py puts liblosskit.so into the package, so the wheel carries it and ``import losskit`` needs
  no environment variable: the library given by $LOSSKIT_LIBRARY (a prebuilt .so, copied as is),
  else the result of ``swift build -c release --product losskit`` run in the repository root.
- The wheel is platform-tagged (py3-none-<platform>): it holds a native library but no extension
  module, so one wheel serves every Python 3 on that platform.

Environment:
    LOSSKIT_SWIFT_ROOT  the repository root (Package.swift, include/losskit.h); default: two
                        directories above this file.
    LOSSKIT_LIBRARY     a prebuilt liblosskit.so to ship instead of building one.
    LOSSKIT_SCRATCH     the scratch path of the swift build (default: the root's .build).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py

try:  # setuptools >= 70.1
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # older setuptools with the `wheel` package
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

HERE = Path(__file__).resolve().parent
LIBRARY_NAME = "liblosskit.dylib" if sys.platform == "darwin" else "liblosskit.so"


def swift_root() -> Path:
    """The repository root: $LOSSKIT_SWIFT_ROOT, else bindings/python/../.."""
    explicit = os.environ.get("LOSSKIT_SWIFT_ROOT")
    return Path(explicit).resolve() if explicit else HERE.parents[1]


def header_version() -> str:
    """MAJOR.MINOR.PATCH from the LK_VERSION_* macros of include/losskit.h."""
    header = swift_root() / "include" / "losskit.h"
    try:
        text = header.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(
            f"losskit: cannot read {header} for the version ({error}); build from the repository, "
            "or set LOSSKIT_SWIFT_ROOT to the directory holding Package.swift and include/losskit.h"
        ) from None
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        match = re.search(rf"^#define\s+LK_VERSION_{part}\s+(\d+)\s*$", text, re.MULTILINE)
        if match is None:
            raise SystemExit(f"losskit: no `#define LK_VERSION_{part} <number>` in {header}")
        parts.append(str(int(match.group(1))))
    return ".".join(parts)


def built_library() -> Path:
    """$LOSSKIT_LIBRARY when set; otherwise run the release build and return its library."""
    prebuilt = os.environ.get("LOSSKIT_LIBRARY")
    if prebuilt:
        path = Path(prebuilt).resolve()
        if not path.is_file():
            raise SystemExit(f"losskit: LOSSKIT_LIBRARY is {prebuilt}, which is not a file")
        print(f"losskit: shipping the prebuilt {path}", flush=True)
        return path
    root = swift_root()
    if not (root / "Package.swift").is_file():
        raise SystemExit(
            f"losskit: no Package.swift in {root}; set LOSSKIT_SWIFT_ROOT to the repository root, "
            "or LOSSKIT_LIBRARY to a prebuilt liblosskit"
        )
    command = ["swift", "build", "-c", "release", "--product", "losskit"]
    scratch = os.environ.get("LOSSKIT_SCRATCH")
    if scratch:
        command += ["--scratch-path", str(Path(scratch).resolve())]
    print(f"losskit: {' '.join(command)}  (in {root})", flush=True)
    try:
        subprocess.run(command, cwd=root, check=True)
        bin_path = subprocess.run(command + ["--show-bin-path"], cwd=root, check=True,
                                  capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        raise SystemExit("losskit: `swift` is not on the PATH; install Swift 6.3, "
                         "or set LOSSKIT_LIBRARY to a prebuilt liblosskit") from None
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"losskit: the swift build failed (exit status {error.returncode})") from None
    path = Path(bin_path) / LIBRARY_NAME
    if not path.is_file():
        raise SystemExit(f"losskit: the swift build succeeded but {path} does not exist")
    return path


class build_py(_build_py):
    """The ordinary build_py, then liblosskit copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable install imports the source tree, whose finder falls back to the
            # repository's .build/release: no copy into the sources.
            print("losskit: editable install; the library is found in $LOSSKIT_LIBRARY or "
                  f"{swift_root() / '.build' / 'release'}", flush=True)
            return
        destination = Path(self.build_lib) / "losskit" / LIBRARY_NAME
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_library(), destination)
        destination.chmod(0o755)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "losskit" / LIBRARY_NAME))
        return outputs


class BinaryDistribution(Distribution):
    """A distribution with native code: installed into platlib, built in a platform build dir."""

    def has_ext_modules(self) -> bool:
        return True


class bdist_wheel(_bdist_wheel):
    """A platform wheel (it carries a native library) for any Python 3: py3-none-<platform>.

    No extension module is compiled against the Python C API, so the interpreter and ABI tags
    are py3 and none; the platform tag is the build machine's (e.g. linux_x86_64).
    """

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    version=header_version(),
    distclass=BinaryDistribution,
    cmdclass={"build_py": build_py, "bdist_wheel": bdist_wheel},
)
