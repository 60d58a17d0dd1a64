"""The loader: finding the library, the version check, the declarations against include/losskit.h."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit import LibraryError, LossKitError, Status, _library

HEADER = Path(__file__).resolve().parents[3] / "include" / "losskit.h"


@pytest.fixture(scope="module")
def header() -> str:
    if not HEADER.is_file():
        pytest.skip(f"{HEADER} not found (binding used outside the repository)")
    return HEADER.read_text()


def test_env_var_comes_first_and_alone(tmp_path):
    chosen = tmp_path / "liblosskit.so"
    assert _library.candidate_paths({"LOSSKIT_LIBRARY": str(chosen)}) == [chosen]


def test_fallbacks_are_the_package_then_the_repo_build():
    package, build = _library.candidate_paths({})
    assert package == Path(losskit.__file__).resolve().parent / "liblosskit.so"
    assert build == Path(losskit.__file__).resolve().parents[3] / ".build" / "release" / "liblosskit.so"


def test_not_found_says_where_and_how(tmp_path):
    missing = tmp_path / "nothing" / "liblosskit.so"
    with pytest.raises(LibraryError) as info:
        _library.find_library({"LOSSKIT_LIBRARY": str(missing)})
    message = str(info.value)
    assert str(missing) in message and "swift build -c release" in message and "LOSSKIT_LIBRARY" in message


def test_env_var_is_found(tmp_path):
    chosen = tmp_path / "liblosskit.so"
    chosen.write_bytes(b"")
    assert _library.find_library({"LOSSKIT_LIBRARY": str(chosen)}) == chosen


def test_unloadable_file_is_a_library_error(tmp_path):
    fake = tmp_path / "liblosskit.so"
    fake.write_text("not a shared object")
    with pytest.raises(LibraryError, match="cannot load"):
        _library._load(fake)


_MAJOR, _MINOR, _ = _library.EXPECTED_VERSION
_OURS = _MAJOR * 10000 + _MINOR * 100


# 0.x: the same minor (any patch) only; another minor, 0.0.0 or another major is refused.
@pytest.mark.parametrize("number,ok", [(_OURS, True), (_OURS + 5, True), (_OURS + 100, False), (_OURS - 100, False),
                                       (0, False), (_OURS + 10000, False)])
def test_version_check(number, ok):
    if ok:
        _library.check_version(number)
    else:
        with pytest.raises(LibraryError, match="not compatible"):
            _library.check_version(number)


def test_constants_match_header(header):
    defines = dict(re.findall(r"#define (LK_\w+) (\S+)", header))
    expected = tuple(int(defines[f"LK_VERSION_{part}"]) for part in ("MAJOR", "MINOR", "PATCH"))
    assert _library.EXPECTED_VERSION == expected
    assert losskit.version() == defines["LK_VERSION_STRING"].strip('"')
    assert _library.DEFAULT_IGNORE_INDEX == int(re.search(r"LK_DEFAULT_IGNORE_INDEX \((-?\d+)\)", header)[1])
    for name in ["MAX_NDIM", "LOSS_ABI_VERSION", "REGISTRY_CAPACITY", "MAX_NAME_LENGTH", "CALLBACK_THREAD_SAFE"]:
        assert getattr(_library, name) == int(defines[f"LK_{name}"].rstrip("u")), name


def _enum(header: str, name: str) -> dict[str, int]:
    body = re.search(r"typedef enum %s \{(.*?)\}" % name, header, re.S)[1]
    return {key: int(value) for key, value in re.findall(r"(LK_\w+) = (\d+)", body)}


@pytest.mark.parametrize("enum_name,python,prefix", [
    ("lk_status", Status, "LK_"),
    ("lk_dtype", losskit.DType, "LK_"),
    ("lk_reduction", losskit.Reduction, "LK_REDUCTION_"),
])
def test_enums_match_header(header, enum_name, python, prefix):
    assert {prefix + member.name: member.value for member in python} == _enum(header, enum_name)


def test_every_status_has_a_name():
    lib = _library.library()
    for status in Status:
        assert lib.lk_status_string(status).decode() not in ("", "unknown status")
    assert lib.lk_status_string(999).decode() == "unknown status"


def _struct_fields(header: str, name: str) -> list[str]:
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header, re.S)[1]
    fields = []
    for declaration in re.sub(r"/\*.*?\*/", "", body, flags=re.S).split(";"):
        if declaration.strip():
            pointer = re.search(r"\(\*\s*(\w+)\)", declaration)  # a function-pointer field
            fields.append(pointer[1] if pointer else re.findall(r"\w+", declaration)[-1])
    return fields


@pytest.mark.parametrize("c_name,python,size", [
    ("lk_batch", _library.LkBatch, 96),  # on LP64: 4+4+8+4+4+8·3+8+4+4+8·3 (0.1.0: 88) + 4+4
    ("lk_loss_callbacks", _library.LkLossCallbacks, 48),
    ("lk_plugin_api", _library.LkPluginApi, 24),
])
def test_structs_match_header(header, c_name, python, size):
    assert [name for name, _ in python._fields_] == _struct_fields(header, c_name)
    assert ctypes.sizeof(python) == size


def test_struct_size_agrees_with_library():
    batch = _library.LkBatch()
    _library.library().lk_batch_init(ctypes.byref(batch))
    assert batch.struct_size == ctypes.sizeof(_library.LkBatch)
    assert batch.ignore_index == -100 and batch.reduction == 0 and batch.logits is None


def test_every_header_function_is_declared(header):
    declared = set(re.findall(r"\b(lk_\w+)\(", re.sub(r"/\*.*?\*/", "", header, flags=re.S)))
    assert declared == set(_library._SIGNATURES)
    lib = _library.library()
    for name in declared:
        assert getattr(lib, name).argtypes is not None


def test_losses_lists_cross_entropy():
    names = losskit.losses()
    assert "cross_entropy" in names
    assert len(names) == _library.library().lk_loss_count()


def test_loss_handle_round_trip():
    # The raw API: name and parameters of a handle, as loss_and_grad sets them.
    lib = _library.library()
    handle = _library.LossHandle()
    assert lib.lk_loss_create(b"cross_entropy", ctypes.byref(handle)) == Status.OK
    try:
        assert lib.lk_loss_get_name(handle) == b"cross_entropy"
        assert lib.lk_loss_set_param(handle, b"label_smoothing", 0.25) == Status.OK
        value = ctypes.c_double()
        assert lib.lk_loss_get_param(handle, b"label_smoothing", ctypes.byref(value)) == Status.OK
        assert value.value == 0.25
    finally:
        lib.lk_loss_destroy(handle)
    assert lib.lk_loss_name_at(-1) is None and lib.lk_loss_name_at(lib.lk_loss_count()) is None


class _CountingLibrary:
    """Wraps the library to count handle creations and destructions."""

    def __init__(self, lib):
        self._lib, self.created, self.destroyed = lib, 0, 0

    def lk_loss_create(self, *args):
        status = self._lib.lk_loss_create(*args)
        self.created += status == Status.OK
        return status

    def lk_loss_destroy(self, handle):
        self.destroyed += bool(handle)
        self._lib.lk_loss_destroy(handle)

    def __getattr__(self, name):
        return getattr(self._lib, name)


def test_handles_are_always_destroyed(monkeypatch):
    counting = _CountingLibrary(_library.library())
    monkeypatch.setattr(losskit.api, "library", lambda: counting)
    logits, target = np.zeros((2, 3)), np.array([0, 1])
    losskit.loss_and_grad("cross_entropy", logits, target, label_smoothing=0.1)
    for bad in [{"label_smoothing": 3.0}, {"nope": 1.0}, {"label_smoothing": [1]}]:
        with pytest.raises((LossKitError, TypeError)):
            losskit.loss_and_grad("cross_entropy", logits, target, **bad)
    with pytest.raises(LossKitError):
        losskit.loss_and_grad("cross_entropy", logits, np.array([0, 9]))
    assert counting.created == 5 and counting.destroyed == 5
