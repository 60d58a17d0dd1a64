"""The wheel, end to end: build it, install it into a fresh venv, import it from elsewhere, compute.

The wheel is built from a copy of bindings/python with $LOSSKIT_LIBRARY pointing at the library
these tests already use (so no Swift build runs here) and $LOSSKIT_SWIFT_ROOT at this repository
(for the header's version). It is installed with --no-deps into a venv that sees the system's
numpy (--system-site-packages), and imported from an empty directory with neither LOSSKIT_LIBRARY
nor PYTHONPATH set: the package must find the copy of liblosskit inside itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from losskit import _library

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # bindings/python
REPO_ROOT = PACKAGE_ROOT.parents[1]
LIBRARY_NAME = _library._FILE_NAME


def _header_version() -> str:
    text = (REPO_ROOT / "include" / "losskit.h").read_text()
    return ".".join(re.search(rf"^#define LK_VERSION_{p} (\d+)$", text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that could point Python at the source tree or library."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOSSKIT_LIBRARY", "PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of bindings/python, shipping the library these tests use."""
    library = _library.find_library()  # LibraryError (a failure, not a skip) when there is none
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(PACKAGE_ROOT / name, source / name)
    shutil.copytree(PACKAGE_ROOT / "losskit", source / "losskit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.dylib"))
    out = work / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(out), str(source)],
        env=_clean_env(LOSSKIT_LIBRARY=str(library), LOSSKIT_SWIFT_ROOT=str(REPO_ROOT)),
    )
    wheels = list(out.glob("losskit-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (seeing the system's numpy) with the wheel installed, and nothing else of losskit."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    python = root / "bin" / "python"
    install = ["install", "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)]
    if _pip_has_python_option():
        # No pip inside the venv (ensurepip takes seconds): this pip installs into it.
        _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)])
        _run([sys.executable, "-m", "pip", "--python", str(python), *install], env=_clean_env())
    else:
        _run([sys.executable, "-m", "venv", "--system-site-packages", str(root)])
        _run([str(python), "-m", "pip", *install], env=_clean_env())
    return root


def _pip_has_python_option() -> bool:
    """pip >= 22.3 can install into another interpreter's environment (--python)."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("pip").split(".")[:2])
    return (major, minor) >= (22, 3)


def test_wheel_is_platform_tagged_and_carries_the_library(wheel: Path) -> None:
    version = _header_version()
    name, wheel_version, python_tag, abi_tag, platform_tag = wheel.stem.split("-")
    assert (name, wheel_version) == ("losskit", version)
    assert (python_tag, abi_tag) == ("py3", "none")
    assert platform_tag != "any" and platform_tag.startswith(("linux", "manylinux", "macosx"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"losskit-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"losskit-{version}.dist-info/entry_points.txt").decode()
        wheel_info = archive.read(f"losskit-{version}.dist-info/WHEEL").decode()
    assert {f"losskit/{LIBRARY_NAME}", "losskit/py.typed", "losskit/__init__.py", "losskit/api.py"} <= names
    assert "Root-Is-Purelib: false" in wheel_info
    assert f"\nVersion: {version}\n" in metadata
    assert "Requires-Dist: numpy" in metadata
    assert "losskit-demo = losskit._scripts:demo" in entry_points


def test_installed_package_imports_from_anywhere_and_computes(venv: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, numpy as np, losskit
        from losskit import _library
        logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        target = np.array([0, 2])
        loss, grad = losskit.loss_and_grad("cross_entropy", logits, target)
        shifted = logits - logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1))
        expected = float(np.mean(lse - shifted[np.arange(2), target]))
        print(json.dumps({"file": losskit.__file__, "library": str(_library.find_library()),
                          "version": losskit.version(), "losses": losskit.losses(),
                          "loss": loss, "expected": expected, "grad_shape": list(grad.shape)}))
        """
    )
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    result = _run([str(venv / "bin" / "python"), "-c", script], cwd=cwd, env=_clean_env())
    report = json.loads(result.stdout)
    site = venv.resolve()
    assert Path(report["file"]).resolve().is_relative_to(site), report["file"]
    assert Path(report["library"]).resolve() == Path(report["file"]).resolve().parent / LIBRARY_NAME
    assert report["version"] == _header_version()
    assert {"cross_entropy", "squentropy"} <= set(report["losses"])
    assert report["loss"] == pytest.approx(report["expected"], rel=1e-12)
    assert report["grad_shape"] == [2, 3]


def test_installed_library_needs_no_swift_runtime(venv: Path) -> None:
    (library,) = venv.glob(f"lib/python*/site-packages/losskit/{LIBRARY_NAME}")
    if sys.platform == "darwin":
        # The OS carries the Swift runtime in /usr/lib/swift; nothing may come from an @rpath.
        result = _run(["otool", "-L", str(library)])
        assert "@rpath/libswift" not in result.stdout, result.stdout
        return
    result = _run(["ldd", str(library)])
    assert "not found" not in result.stdout, result.stdout
    assert "swift" not in result.stdout.lower(), result.stdout
    dynamic = _run(["readelf", "-d", str(library)]).stdout
    assert "Library soname: [liblosskit.so]" in dynamic, dynamic


def test_console_script_is_installed(venv: Path, tmp_path: Path) -> None:
    result = _run([str(venv / "bin" / "losskit-demo"), "--help"], cwd=tmp_path, env=_clean_env())
    assert "usage:" in result.stdout
