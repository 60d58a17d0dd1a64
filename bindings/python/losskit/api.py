"""The public functions: evaluate a loss on numpy arrays, list losses, version, threads."""

from __future__ import annotations

import contextlib
import ctypes
import numbers
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, ContextManager

import numpy as np
import numpy.typing as npt

from . import _arrays
from ._library import DEFAULT_IGNORE_INDEX, LkBatch, LossHandle, Reduction, Status, library
from .errors import LossKitError, raise_for_status

if TYPE_CHECKING:
    from .mix import Mix

__all__ = ["loss_and_grad", "losses", "describe", "version", "set_num_threads", "get_num_threads"]

_INT32_RANGE = range(-(2**31), 2**31)
_INT64_RANGE = range(-(2**63), 2**63)
_REDUCTIONS = {"mean": Reduction.MEAN, "sum": Reduction.SUM, "none": Reduction.NONE}


def _reduction_code(reduction: str) -> Reduction:
    if isinstance(reduction, str) and reduction in _REDUCTIONS:
        return _REDUCTIONS[reduction]
    raise LossKitError(Status.ERROR_BAD_REDUCTION, f"reduction is {reduction!r}; expected 'mean', 'sum' or 'none'")


def _set_param(lib: ctypes.CDLL, handle: LossHandle, key: str, value: object) -> None:
    """One named parameter, by the kind of its value: number, text or a vector of numbers."""
    if isinstance(value, str):
        status = lib.lk_loss_set_param_string(handle, key.encode(), value.encode())
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        status = lib.lk_loss_set_param(handle, key.encode(), float(value))
    elif isinstance(value, (list, tuple, np.ndarray)):
        vector = np.asarray(value)
        if vector.ndim != 1 or vector.dtype.kind not in "iuf":
            raise TypeError(
                f"parameter {key!r} must be a 1-D sequence of numbers; got {vector.dtype} of shape {vector.shape}"
            )
        vector = np.ascontiguousarray(vector, dtype=np.float64)
        # The library copies the values; `vector` only has to outlive the call.
        pointer = vector.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        status = lib.lk_loss_set_param_array(handle, key.encode(), pointer, vector.size)
    else:
        raise TypeError(
            f"parameter {key!r} is a {type(value).__name__}; expected a number, a str or a sequence of numbers"
        )
    raise_for_status(status)


@contextlib.contextmanager
def _configured_loss(name: str, params: Mapping[str, object]) -> Iterator[LossHandle]:
    """A new handle for loss `name` with `params` set, destroyed on leaving whatever happens."""
    if not isinstance(name, str):
        raise TypeError(f"the loss must be a name (str) or a losskit.Mix, not {type(name).__name__}")
    lib = library()
    handle = LossHandle()
    raise_for_status(lib.lk_loss_create(name.encode(), ctypes.byref(handle)))
    try:
        for key, value in params.items():
            _set_param(lib, handle, key, value)
        yield handle
    finally:
        lib.lk_loss_destroy(handle)


def _pointer(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


def loss_and_grad(
    name: str | Mix,
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    /,
    *,
    reduction: str = "mean",
    weight: npt.ArrayLike | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    dloss: npt.ArrayLike = 1.0,
    grad: bool = True,
    out: np.ndarray | None = None,
    inplace: bool = False,
    **params: float | str | Sequence[float] | np.ndarray,
) -> tuple[float | np.ndarray, np.ndarray | None]:
    """Evaluate loss `name` and its gradient with respect to the logits in one pass.

    Args:
        name: a registered loss (see ``losses()``), e.g. ``"cross_entropy"``,
            or a ``losskit.Mix`` (then the only parameter accepted is
            ``progress``, the training progress t of this call).
        logits: shape (N, C) or (N, C, d1..dk), class axis second. float32,
            float64, float16 and bfloat16 (``ml_dtypes.bfloat16``) are used as
            given (C-contiguous arrays without a copy; 16-bit logits are
            computed in float32 by the library); other real dtypes are
            converted to float64.
        target: integer class indices of shape (N, d1..dk) (int32/int64 passed
            as given, other integers as int64), or float probabilities of the
            logits' shape (cast to the logits' dtype, float32 for 16-bit
            logits; weights, dloss and the loss likewise).
        reduction: "mean" (weighted mean over samples not ignored; 0 when all
            are ignored, where PyTorch gives NaN), "sum" or "none".
        weight: optional class weights, shape (C,).
        ignore_index: class-index targets equal to it contribute nothing.
        dloss: upstream gradient: a scalar for mean/sum; for "none" a scalar
            (applied to every sample) or an array of shape (N, d1..dk).
        grad: False computes the loss only and returns None as the gradient.
        out: optional destination of the gradient (logits' shape and dtype,
            or float32 for 16-bit logits; C-contiguous, writable); returned as
            the gradient.
        inplace: write the gradient over `logits` (a C-contiguous, writable
            float array of one of the four types above) and return it.
        **params: the loss's named parameters: numbers go to
            lk_loss_set_param, strings to lk_loss_set_param_string, 1-D
            sequences of numbers (list, tuple, array) to
            lk_loss_set_param_array; e.g. ``label_smoothing=0.1,
            nan_policy="propagate"`` or ``priors=[0.7, 0.3]``.
            (`name`, `logits` and `target` are positional-only so that no
            parameter name can collide with them.) Each call makes a loss
            handle and sets these parameters anew: in a training loop hold a
            ``losskit.Loss`` instead, above all for logit_adjusted, whose
            ``priors`` (one per class) are then copied, checked and their logs
            taken once rather than at every call (tens of milliseconds at
            4·10^6 classes).

    Returns:
        (loss, grad): loss is a float for "mean"/"sum" and an array of shape
        (N, d1..dk) for "none"; grad is ``dloss * dL/dlogits`` in the logits'
        shape and dtype, or None when ``grad=False``.

    Raises:
        LossKitError: a refused call (``.status`` says why), whether the
            library refused it or a shape mismatch was caught before the call.
        TypeError: an argument of the wrong kind or dtype.
        ValueError: an `out`/in-place array that cannot be written directly.
    """
    options = dict(reduction=reduction, weight=weight, ignore_index=ignore_index, dloss=dloss, grad=grad,
                   out=out, inplace=inplace)
    if not isinstance(name, str):
        from .mix import Mix  # here, not at the top: mix imports this module

        if isinstance(name, Mix):
            unknown = sorted(set(params) - {"progress"})
            if unknown:
                raise TypeError(f"a Mix takes no parameters per call but progress; got {', '.join(unknown)}")
            return name.loss_and_grad(logits, target, progress=params.get("progress"), **options)
    return evaluate(lambda: _configured_loss(name, params), logits, target, **options)


def evaluate(
    loss: Callable[[], ContextManager[LossHandle]],
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    reduction: str,
    weight: npt.ArrayLike | None,
    ignore_index: int,
    dloss: npt.ArrayLike,
    grad: bool,
    out: np.ndarray | None,
    inplace: bool,
    progress: float | None = None,
) -> tuple[float | np.ndarray, np.ndarray | None]:
    """The one path from numpy arrays to lk_loss_compute(_at), shared by every public entry point.

    Checks and converts the arrays, fills an lk_batch, then enters ``loss()`` (a context manager
    giving the loss handle, entered only once the arrays are known good, so Python-side mistakes are
    reported before the library is asked anything) and computes: with ``lk_loss_compute_at`` when
    `progress` is given, ``lk_loss_compute`` otherwise. Arguments and result as ``loss_and_grad``.
    """
    code = _reduction_code(reduction)
    ignore = operator.index(ignore_index)
    if ignore not in _INT64_RANGE:
        raise ValueError(f"ignore_index is {ignore}; expected a value that fits in int64")
    if not grad and (inplace or out is not None):
        raise ValueError("grad=False computes no gradient; out and inplace=True need one")
    if inplace and out is not None:
        raise ValueError("pass either out or inplace=True, not both")
    if progress is not None:
        if not isinstance(progress, numbers.Real) or isinstance(progress, bool):
            raise TypeError(f"progress is a {type(progress).__name__}; expected a number in [0, 1]")
        progress = float(progress)

    z = _arrays.inplace_logits(logits) if inplace else _arrays.logits_buffer(logits)
    y = _arrays.target_buffer(target, z)
    w = _arrays.weight_buffer(weight, z)
    upstream = _arrays.dloss_buffer(dloss, z, per_sample=code == Reduction.NONE)
    gradient = None if not grad else (z if inplace else _arrays.grad_buffer(out, z))
    loss_buffer = np.empty(_arrays.sample_shape(z) if code == Reduction.NONE else (1,), dtype=_arrays.value_dtype(z))
    shape = (ctypes.c_int64 * z.ndim)(*z.shape)

    lib = library()
    batch = LkBatch()
    lib.lk_batch_init(ctypes.byref(batch))
    batch.ndim = z.ndim
    batch.shape = shape
    batch.logits_dtype = _arrays.dtype_code(z)
    batch.target_dtype = _arrays.dtype_code(y)
    batch.logits = _pointer(z)
    batch.target = _pointer(y)
    batch.weight = _pointer(w)
    batch.ignore_index = ignore
    batch.reduction = code
    batch.dloss = _pointer(upstream)
    batch.loss = _pointer(loss_buffer)
    batch.grad = _pointer(gradient)
    if gradient is not None and gradient.dtype != z.dtype:  # float32 gradient of 16-bit logits
        batch.grad_dtype = _arrays.dtype_code(gradient)
    with loss() as handle:
        # The arrays above stay referenced until the call returns; the library keeps no pointer.
        if progress is None:
            status = lib.lk_loss_compute(handle, ctypes.byref(batch))
        else:
            status = lib.lk_loss_compute_at(handle, ctypes.byref(batch), progress)
        raise_for_status(status)
    return (loss_buffer if code == Reduction.NONE else float(loss_buffer[0])), gradient


def losses() -> list[str]:
    """The names of the registered losses, in the library's order (see ``describe`` for parameters)."""
    lib = library()
    return [lib.lk_loss_name_at(i).decode() for i in range(lib.lk_loss_count())]


def empty_like(logits: object, dtype: object = None) -> np.ndarray:
    """A new, uninitialised array of the logits' shape and dtype (or `dtype`), C-contiguous and
    aligned to 64 bytes: the buffer to pass as `out=` call after call. Large numpy arrays start 16
    bytes into a page, so that every vector the kernels store straddles two cache lines; an aligned
    gradient is written up to 6 % faster (the gradients losskit allocates itself are aligned already).

    >>> grad = losskit.empty_like(logits)
    >>> loss, _ = ce(logits, target, out=grad)
    """
    array = np.asarray(logits)
    return _arrays.aligned_empty(array.shape, array.dtype if dtype is None else np.dtype(dtype))


def describe(name: str) -> dict[str, str]:
    """The parameters of loss `name`: parameter name -> allowed values, default and meaning.

    >>> losskit.describe("hem")["margin"]
    'number in [0.0, inf), default 0.5: μ: the margin every wrong class must clear'
    """
    lib = library()
    with _configured_loss(name, {}) as handle:
        return {
            lib.lk_loss_param_name_at(handle, i).decode(): lib.lk_loss_param_doc_at(handle, i).decode()
            for i in range(lib.lk_loss_param_count(handle))
        }


def version() -> str:
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return library().lk_version().decode()


def simd_level() -> str:
    """The build of the vector kernels in use: "avx512", "avx2" or "baseline" (see lk_simd_level)."""
    return library().lk_simd_level().decode()


def set_num_threads(count: int) -> None:
    """Use at most `count` threads per call; 0 means one per CPU (the default).

    Results do not depend on the thread count. Raises LossKitError
    (ERROR_BAD_PARAM) for a negative count.
    """
    count = operator.index(count)
    if count not in _INT32_RANGE:
        # ctypes would wrap it silently into int32.
        raise LossKitError(
            Status.ERROR_BAD_PARAM, f"thread count is {count}; expected 0 up to {_INT32_RANGE.stop - 1}"
        )
    raise_for_status(library().lk_set_num_threads(count))


def get_num_threads() -> int:
    """The thread limit set by set_num_threads (0 = one per CPU)."""
    return int(library().lk_get_num_threads())
