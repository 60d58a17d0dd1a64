"""Turning caller arrays into buffers the library may read or write.

Every buffer handed to the library is C-contiguous, aligned, of the dtype the
header asks for and of a shape checked here against the logits, so that no
Python-side mistake can make the library read or write past a buffer. Inputs
already in that form are used as they are (no copy); others are copied once.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._library import DType, Status
from .errors import LossKitError

_FLOAT_DTYPES = {np.dtype(np.float32): DType.FLOAT32, np.dtype(np.float64): DType.FLOAT64}
_INDEX_DTYPES = {np.dtype(np.int32): DType.INT32, np.dtype(np.int64): DType.INT64}


def _half_dtypes() -> dict[np.dtype, DType]:
    """numpy's float16, and bfloat16 when a package has registered it with numpy (ml_dtypes, as
    JAX installs it): logits the library widens to float32 itself."""
    dtypes = {np.dtype(np.float16): DType.FLOAT16}
    try:
        import ml_dtypes  # noqa: PLC0415 - optional, only for its bfloat16

        dtypes[np.dtype(ml_dtypes.bfloat16)] = DType.BFLOAT16
    except ImportError:
        pass
    return dtypes


_HALF_DTYPES = _half_dtypes()
_LOGIT_DTYPES = {**_FLOAT_DTYPES, **_HALF_DTYPES}


def _buffer(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # np.require returns `array` itself when it already qualifies: the zero-copy path.
    return np.require(array, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _shape_error(what: str, got: tuple[int, ...], expected: tuple[int, ...], logits: tuple[int, ...]) -> LossKitError:
    return LossKitError(
        Status.ERROR_BAD_SHAPE, f"{what} has shape {got}; expected {expected} for logits of shape {logits}"
    )


def sample_shape(logits: np.ndarray) -> tuple[int, ...]:
    """(N, d1..dk): one entry per sample, the logits' shape without the class axis."""
    return (logits.shape[0],) + logits.shape[2:]


def dtype_code(array: np.ndarray) -> DType:
    """The lk_dtype of a buffer prepared here."""
    return _LOGIT_DTYPES.get(array.dtype) or _INDEX_DTYPES[array.dtype]


def value_dtype(logits: np.ndarray) -> np.dtype:
    """The float type of everything but the logits and gradient: the logits' own, float32 for
    16-bit logits (weights, dloss, probability targets and the loss, as the C ABI takes them)."""
    return np.dtype(np.float32) if logits.dtype in _HALF_DTYPES else logits.dtype


def _check_logits_shape(array: np.ndarray) -> None:
    if array.ndim < 2:
        raise LossKitError(
            Status.ERROR_BAD_SHAPE, f"logits have shape {array.shape}; expected (N, C) or (N, C, d1..dk)"
        )


def logits_buffer(logits: object) -> np.ndarray:
    """Float32/float64/float16/bfloat16 logits as they are; other real dtypes (ints, ...) as float64."""
    array = np.asarray(logits)
    if array.dtype.kind not in "biuf" and array.dtype not in _HALF_DTYPES:
        raise TypeError(f"logits have dtype {array.dtype}; expected float32, float64, float16 or bfloat16")
    dtype = array.dtype if array.dtype in _LOGIT_DTYPES else np.dtype(np.float64)
    array = _buffer(array, dtype)
    _check_logits_shape(array)
    return array


def inplace_logits(logits: object) -> np.ndarray:
    """The caller's own logits array, to be overwritten by the gradient: no conversion is possible."""
    if not isinstance(logits, np.ndarray):
        raise TypeError(f"inplace=True needs the logits as a numpy array, not {type(logits).__name__}")
    if logits.dtype not in _LOGIT_DTYPES:
        raise TypeError(f"inplace=True needs float32, float64, float16 or bfloat16 logits; got {logits.dtype}")
    if not (logits.flags.c_contiguous and logits.flags.aligned):
        raise ValueError("inplace=True needs C-contiguous, aligned logits (a copy could not be written back)")
    if not logits.flags.writeable:
        raise ValueError("inplace=True needs writable logits; this array is read-only")
    _check_logits_shape(logits)
    return logits


# Large numpy arrays start 16 bytes into a page, so that every 64-byte vector the kernels store
# straddles two cache lines: a gradient aligned to 64 bytes is written up to 6 % faster (README,
# Performance). PyTorch's tensors are aligned so already.
_ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new C-contiguous array whose data start on a 64-byte boundary (a view into a slightly
    larger byte buffer, which it keeps alive)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def grad_buffer(out: object, logits: np.ndarray) -> np.ndarray:
    """`out` checked as the gradient's destination (the logits' shape and dtype, or float32 for
    16-bit logits), or a new array of the logits' dtype (64-byte aligned)."""
    if out is None:
        return aligned_empty(logits.shape, logits.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, not {type(out).__name__}")
    if out.dtype != logits.dtype and not (logits.dtype in _HALF_DTYPES and out.dtype == np.float32):
        expected = f"{logits.dtype} or float32" if logits.dtype in _HALF_DTYPES else str(logits.dtype)
        raise TypeError(f"out has dtype {out.dtype}; expected the logits' dtype {expected}")
    if out.shape != logits.shape:
        raise _shape_error("out", out.shape, logits.shape, logits.shape)
    if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable):
        raise ValueError("out must be C-contiguous, aligned and writable")
    return out


def target_buffer(target: object, logits: np.ndarray) -> np.ndarray:
    """Class indices (int32/int64 as given, other integers as int64) of the samples' shape, or
    probabilities (any float dtype, cast to `value_dtype`) of the logits' shape."""
    array = np.asarray(target)
    if array.dtype.kind in "iu":
        dtype = array.dtype if array.dtype in _INDEX_DTYPES else np.dtype(np.int64)
        expected = sample_shape(logits)
    elif array.dtype.kind == "f" or array.dtype in _HALF_DTYPES:
        dtype, expected = value_dtype(logits), logits.shape
    else:
        raise TypeError(
            f"target has dtype {array.dtype}; expected integer class indices or float probabilities"
        )
    if array.shape != expected:
        kind = "class-index target" if array.dtype.kind in "iu" else "probability target"
        raise _shape_error(kind, array.shape, expected, logits.shape)
    return _buffer(array, dtype)


def weight_buffer(weight: object, logits: np.ndarray) -> np.ndarray | None:
    """Class weights of shape (C,) in `value_dtype`, or None (all 1)."""
    if weight is None:
        return None
    array = np.asarray(weight)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"weight has dtype {array.dtype}; expected real numbers")
    expected = (logits.shape[1],)
    if array.shape != expected:
        raise _shape_error("weight", array.shape, expected, logits.shape)
    return _buffer(array, value_dtype(logits))


def dloss_buffer(dloss: object, logits: np.ndarray, per_sample: bool) -> np.ndarray | None:
    """The upstream gradient in `value_dtype`: one value, or one per sample when `per_sample`
    (reduction "none"; a scalar is then broadcast). None for a scalar 1, the library's default."""
    if isinstance(dloss, numbers.Real) and not isinstance(dloss, bool) and dloss == 1:
        return None
    array = np.asarray(dloss)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"dloss has dtype {array.dtype}; expected real numbers")
    if per_sample:
        expected = sample_shape(logits)
        if array.ndim == 0:
            return np.full(expected, array, dtype=value_dtype(logits))
        if array.shape != expected:
            raise _shape_error("dloss (reduction 'none')", array.shape, expected, logits.shape)
    elif array.shape not in ((), (1,)):
        raise _shape_error("dloss (reduction 'mean'/'sum')", array.shape, (), logits.shape)
    return _buffer(array.reshape(-1) if array.ndim == 0 else array, value_dtype(logits))
