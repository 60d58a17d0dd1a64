"""Finding and loading liblosskit, and the ctypes mirror of include/losskit.h.

This is the only module that knows the C declarations: every function's
argtypes/restype, the struct layouts, the enum values and constants. When the
header changes, this file changes (tests/test_library.py compares the two).
"""

from __future__ import annotations

import ctypes
import enum
import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# The header version this binding was written against (LK_VERSION_MAJOR/MINOR/PATCH).
EXPECTED_VERSION = (0, 2, 0)

DEFAULT_IGNORE_INDEX = -100  # LK_DEFAULT_IGNORE_INDEX
MAX_NDIM = 16  # LK_MAX_NDIM
LOSS_ABI_VERSION = 1  # LK_LOSS_ABI_VERSION: of lk_loss_callbacks and the plugin API
REGISTRY_CAPACITY = 4096  # LK_REGISTRY_CAPACITY
MAX_NAME_LENGTH = 63  # LK_MAX_NAME_LENGTH
CALLBACK_THREAD_SAFE = 1  # LK_CALLBACK_THREAD_SAFE

ENV_VAR = "LOSSKIT_LIBRARY"
_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parents[2]  # bindings/python/losskit -> repository root
_FILE_NAME = "liblosskit.dylib" if sys.platform == "darwin" else "liblosskit.so"


class Status(enum.IntEnum):
    """lk_status. Values are stable; the library may append new ones."""

    OK = 0
    ERROR_NULL_POINTER = 1
    ERROR_BAD_SHAPE = 2
    ERROR_SIZE_OVERFLOW = 3
    ERROR_BAD_DTYPE = 4
    ERROR_TARGET_OUT_OF_RANGE = 5
    ERROR_BAD_PROBABILITIES = 6
    ERROR_NONFINITE_LOGIT = 7
    ERROR_BAD_WEIGHT = 8
    ERROR_BAD_DLOSS = 9
    ERROR_BAD_REDUCTION = 10
    ERROR_UNKNOWN_LOSS = 11
    ERROR_UNKNOWN_PARAM = 12
    ERROR_BAD_PARAM = 13
    ERROR_ALIASING = 14
    ERROR_MISALIGNED = 15
    ERROR_BAD_STRUCT = 16
    ERROR_INTERNAL = 17
    ERROR_DUPLICATE_NAME = 18
    ERROR_REGISTRY_FULL = 19
    ERROR_BAD_NAME = 20
    ERROR_ABI_VERSION = 21
    ERROR_CALLBACK_FAILED = 22
    ERROR_PLUGIN = 23


class DType(enum.IntEnum):
    """lk_dtype."""

    FLOAT32 = 1
    FLOAT64 = 2
    INT32 = 3
    INT64 = 4
    BFLOAT16 = 5
    FLOAT16 = 6


class Reduction(enum.IntEnum):
    """lk_reduction."""

    MEAN = 0
    SUM = 1
    NONE = 2


class LkBatch(ctypes.Structure):
    """struct lk_batch, field for field (ctypes applies the same C alignment rules)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("logits_dtype", ctypes.c_int32),
        ("target_dtype", ctypes.c_int32),
        ("logits", ctypes.c_void_p),
        ("target", ctypes.c_void_p),
        ("weight", ctypes.c_void_p),
        ("ignore_index", ctypes.c_int64),
        ("reduction", ctypes.c_int32),
        ("reserved0", ctypes.c_int32),
        ("dloss", ctypes.c_void_p),
        ("loss", ctypes.c_void_p),
        ("grad", ctypes.c_void_p),
        ("grad_dtype", ctypes.c_int32),  # since 0.2.0; 0 = the logits' type
        ("reserved1", ctypes.c_int32),
    ]


class LkLoss(ctypes.Structure):
    """The opaque struct lk_loss; only pointers to it are used."""


LossHandle = ctypes.POINTER(LkLoss)

_double_p = ctypes.POINTER(ctypes.c_double)

# Callback types of user losses (lk_row_loss_fn, lk_batch_loss_fn, lk_destroy_fn).
RowLossFn = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, _double_p, ctypes.c_int64, ctypes.c_int64, _double_p, _double_p
)
BatchLossFn = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
    _double_p, ctypes.POINTER(ctypes.c_int64), _double_p, ctypes.c_int64, _double_p, _double_p,
)
DestroyFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class LkLossCallbacks(ctypes.Structure):
    """struct lk_loss_callbacks: what a user loss gives lk_register_loss."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("abi_version", ctypes.c_uint32),
        ("row", RowLossFn),
        ("batch", BatchLossFn),
        ("destroy", DestroyFn),
        ("user_data", ctypes.c_void_p),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class LkPluginApi(ctypes.Structure):
    """struct lk_plugin_api: the table a plugin's lk_plugin_init receives (declared for completeness)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("abi_version", ctypes.c_uint32),
        ("register_loss", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(LkLossCallbacks))),
        ("set_error", ctypes.CFUNCTYPE(None, ctypes.c_char_p)),
    ]

# name: (restype, argtypes) of every function in include/losskit.h.
_SIGNATURES = {
    "lk_version": (ctypes.c_char_p, []),
    "lk_version_number": (ctypes.c_uint32, []),
    "lk_simd_level": (ctypes.c_char_p, []),
    "lk_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "lk_last_error_message": (ctypes.c_char_p, []),
    "lk_batch_init": (None, [ctypes.POINTER(LkBatch)]),
    "lk_loss_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(LossHandle)]),
    "lk_loss_destroy": (None, [LossHandle]),
    "lk_loss_get_name": (ctypes.c_char_p, [LossHandle]),
    "lk_loss_set_param": (ctypes.c_int, [LossHandle, ctypes.c_char_p, ctypes.c_double]),
    "lk_loss_set_param_string": (ctypes.c_int, [LossHandle, ctypes.c_char_p, ctypes.c_char_p]),
    "lk_loss_set_param_array": (ctypes.c_int, [LossHandle, ctypes.c_char_p, _double_p, ctypes.c_int64]),
    "lk_loss_get_param": (ctypes.c_int, [LossHandle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]),
    "lk_loss_compute": (ctypes.c_int, [LossHandle, ctypes.POINTER(LkBatch)]),
    "lk_loss_compute_at": (ctypes.c_int, [LossHandle, ctypes.POINTER(LkBatch), ctypes.c_double]),
    "lk_loss_param_count": (ctypes.c_int64, [LossHandle]),
    "lk_loss_param_name_at": (ctypes.c_char_p, [LossHandle, ctypes.c_int64]),
    "lk_loss_param_kind_at": (ctypes.c_int32, [LossHandle, ctypes.c_int64]),
    "lk_loss_param_doc_at": (ctypes.c_char_p, [LossHandle, ctypes.c_int64]),
    "lk_loss_count": (ctypes.c_int64, []),
    "lk_loss_name_at": (ctypes.c_char_p, [ctypes.c_int64]),
    "lk_mix_create": (ctypes.c_int, [ctypes.POINTER(LossHandle), ctypes.c_int64, ctypes.POINTER(LossHandle)]),
    "lk_register_loss": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(LkLossCallbacks)]),
    "lk_unregister_loss": (ctypes.c_int, [ctypes.c_char_p]),
    "lk_set_callback_error": (None, [ctypes.c_char_p]),
    "lk_plugin_load": (ctypes.c_int, [ctypes.c_char_p]),
    "lk_set_num_threads": (ctypes.c_int, [ctypes.c_int32]),
    "lk_get_num_threads": (ctypes.c_int32, []),
}


class LibraryError(OSError):
    """liblosskit cannot be used: not found, not loadable, or not the version this binding expects."""


def candidate_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where the library is looked for, in order: $LOSSKIT_LIBRARY, the package, the repo's build."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(ENV_VAR)
    if explicit:
        # An explicit choice is never silently replaced by another copy.
        return [Path(explicit)]
    return [_PACKAGE_DIR / _FILE_NAME, _REPO_ROOT / ".build" / "release" / _FILE_NAME]


def find_library(environ: Mapping[str, str] | None = None) -> Path:
    """The first existing candidate path, or LibraryError saying where we looked and how to build."""
    candidates = candidate_paths(environ)
    for path in candidates:
        if path.is_file():
            return path
    looked = "\n".join(f"  {path}" for path in candidates)
    raise LibraryError(
        f"liblosskit not found; looked in:\n{looked}\n"
        f"Build it with `swift build -c release` in {_REPO_ROOT}, "
        f"or set {ENV_VAR} to the path of {_FILE_NAME}."
    )


def check_version(number: int) -> None:
    """Refuse a library whose ABI may differ from the one declared here.

    Same major version required; before 1.0 the minor version must match too
    (0.x minor releases may break the ABI), after it the library's minor must
    be at least ours (additions only).
    """
    major, minor = number // 10000, number // 100 % 100
    want_major, want_minor, _ = EXPECTED_VERSION
    compatible = major == want_major and (minor == want_minor if major == 0 else minor >= want_minor)
    if not compatible:
        found = f"{major}.{minor}.{number % 100}"
        wanted = ".".join(map(str, EXPECTED_VERSION))
        raise LibraryError(f"liblosskit {found} is not compatible with this binding (written for {wanted})")


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError as error:
            raise LibraryError(f"{lib._name} does not export {name}; is it an older liblosskit?") from error
        function.restype = restype
        function.argtypes = argtypes


def _check_struct_size(lib: ctypes.CDLL) -> None:
    # The library's own sizeof(lk_batch) must equal ours, or every field after a mismatch is garbage.
    batch = LkBatch()
    lib.lk_batch_init(ctypes.byref(batch))
    if batch.struct_size != ctypes.sizeof(LkBatch):
        raise LibraryError(
            f"lk_batch is {batch.struct_size} bytes in the library but {ctypes.sizeof(LkBatch)} in this binding"
        )


def _load(path: Path) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise LibraryError(f"cannot load liblosskit from {path}: {error}") from error
    _declare(lib)
    check_version(lib.lk_version_number())
    _check_struct_size(lib)
    return lib


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL:
    """The loaded, declared and checked library (found and loaded on first use, then kept)."""
    return _load(find_library())
