"""User losses written in Python, and plugins: the library's loss registry from Python.

    >>> def my_ce(row: np.ndarray, target: int) -> tuple[float, np.ndarray]:
    ...     p = np.exp(row - row.max()); p /= p.sum()
    ...     grad = p.copy(); grad[target] -= 1
    ...     return -np.log(p[target]), grad
    >>> losskit.register("my_ce", my_ce)
    >>> loss, grad = losskit.loss_and_grad("my_ce", logits, target, weight=w, reduction="sum")

A registered function is called once per sample that is not ignored, with that
sample's logits as a float64 row and its class index; the library does the
rest (layouts, dtypes, class weights, ignore_index, reductions, dloss, in-place
gradients, validation). The function runs with the GIL held, so it is slow
next to the built-in losses: it is for trying out a loss, not for training big
models.

Lifetime: the ctypes callback and its table are kept in a module-level dict
from ``register`` until the library calls the destroy callback, which happens
once the loss is unregistered and no loss object (e.g. a Mix that contains
it) uses it any more.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._library import (
    CALLBACK_THREAD_SAFE,
    LOSS_ABI_VERSION,
    DestroyFn,
    LkLossCallbacks,
    RowLossFn,
    library,
)
from .api import losses
from .errors import raise_for_status

__all__ = ["register", "unregister", "load_plugin", "RowFunction"]

#: fn(row, target) -> (loss, grad_row): row is a float64 array of the C logits of one sample,
#: target its class in [0, C); grad_row anything numpy turns into C float64 values.
RowFunction = Callable[[np.ndarray, int], tuple[float, npt.ArrayLike]]


@dataclass
class _Registration:
    """Everything the library may still call into for one registered loss."""

    name: str
    fn: RowFunction
    row: Any  # the RowLossFn callback object (ctypes keeps the C thunk alive only while it lives)
    table: LkLossCallbacks


# token (the user_data pointer value) -> registration. An entry leaves only through _destroy.
_LIVE: dict[int, _Registration] = {}
_LIVE_LOCK = threading.Lock()
_TOKENS = itertools.count(1)


def _report(message: str) -> None:
    """lk_set_callback_error, never raising (it runs inside a callback)."""
    try:
        library().lk_set_callback_error(message.encode("utf-8", "replace"))
    except BaseException:  # nothing may propagate into C
        pass


def _row_callback(name: str, fn: RowFunction) -> Any:
    """The lk_row_loss_fn for `fn`: runs it on a copy of the row and writes loss and gradient."""

    def row(user_data: int | None, logits: Any, classes: int, target: int, out_loss: Any, out_grad: Any) -> int:
        try:
            values = np.ctypeslib.as_array(logits, shape=(classes,)).copy()  # the host's buffer is scratch
            result = fn(values, int(target))
            try:
                loss, grad = result
            except (TypeError, ValueError):
                raise TypeError(
                    f"returned {type(result).__name__}; expected a pair (loss, grad_row)"
                ) from None
            loss = float(loss)
            grad = np.asarray(grad, dtype=np.float64)
            if grad.shape != (classes,):
                raise ValueError(f"returned a gradient of shape {grad.shape}; expected ({classes},)")
            np.ctypeslib.as_array(out_grad, shape=(classes,))[:] = grad
            out_loss[0] = loss
            return 0
        except BaseException as error:  # noqa: BLE001 - an exception must never unwind into C
            _report(f"loss '{name}': {type(error).__name__}: {error}")
            return 1

    return RowLossFn(row)


def _destroy(user_data: int | None) -> None:
    """The library is done with a registration: drop our references (and so the callback object)."""
    try:
        with _LIVE_LOCK:
            _LIVE.pop(int(user_data or 0), None)
    except BaseException:  # at interpreter shutdown the globals may be gone; never raise into C
        pass


# One destroy callback for every registration, alive as long as the module: it must not free itself.
_DESTROY = DestroyFn(_destroy)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"the loss name must be a str, not {type(name).__name__}")
    return name


def register(name: str, fn: RowFunction, *, thread_safe: bool = False) -> None:
    """Register the Python per-sample loss `fn` under `name`.

    From then on `name` is listed by ``losses()`` and accepted wherever a
    built-in loss name is (``loss_and_grad``, ``mix``), with every layout,
    dtype, weight, ignore_index, reduction and dloss.

    Args:
        name: 1 to 63 characters from ``A-Z a-z 0-9 _ - .``, not already taken.
        fn: ``fn(row, target) -> (loss, grad_row)``: `row` is a new float64
            array of the sample's C logits, `target` its class index; return
            the unweighted loss (a number, not NaN) and dL/drow (C finite
            numbers). An exception it raises (or a wrong return) fails the
            computation with ``LossKitError`` status
            ``Status.ERROR_CALLBACK_FAILED`` and the exception's text; the
            caller's arrays are then untouched.
        thread_safe: True lets the library call `fn` from several threads at
            once (they still take turns holding the GIL); False (default)
            makes it call `fn` from one thread at a time.

    Raises:
        LossKitError: ERROR_BAD_NAME, ERROR_DUPLICATE_NAME or
            ERROR_REGISTRY_FULL from the library.
        TypeError: `name` not a str or `fn` not callable.
    """
    name = _check_name(name)
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__name__}")
    token = next(_TOKENS)
    table = LkLossCallbacks()
    table.struct_size = ctypes.sizeof(LkLossCallbacks)
    table.abi_version = LOSS_ABI_VERSION
    row = _row_callback(name, fn)
    table.row = row
    table.destroy = _DESTROY
    table.user_data = token
    table.flags = CALLBACK_THREAD_SAFE if thread_safe else 0
    with _LIVE_LOCK:
        # Recorded before the call: a callback may run as soon as the loss is registered.
        _LIVE[token] = _Registration(name, fn, row, table)
    status = library().lk_register_loss(name.encode("utf-8", "surrogateescape"), ctypes.byref(table))
    if status != 0:
        with _LIVE_LOCK:  # refused: destroy will never be called
            _LIVE.pop(token, None)
        raise_for_status(status)


def unregister(name: str) -> None:
    """Remove the loss `name` from the registry (a user loss, a plugin's, or a built-in).

    Loss objects already made from it (e.g. a Mix containing it) keep working;
    the callback of a Python loss is released once the last of them is gone.

    Raises:
        LossKitError: ERROR_UNKNOWN_LOSS when no loss has that name.
        TypeError: `name` not a str.
    """
    name = _check_name(name)
    raise_for_status(library().lk_unregister_loss(name.encode("utf-8", "surrogateescape")))


def load_plugin(path: str | os.PathLike[str]) -> list[str]:
    """Load the plugin (shared library) at `path` and return the names of the losses it added.

    The plugin's ``lk_plugin_init`` runs with this process's rights: load only
    code you trust. On failure nothing stays registered; on success the plugin
    stays loaded for the life of the process.

    Raises:
        LossKitError: ERROR_PLUGIN (cannot open, no entry point, or its init
            failed; the message says which) or ERROR_ABI_VERSION.
    """
    before = set(losses())
    raise_for_status(library().lk_plugin_load(os.fsencode(path)))
    return [name for name in losses() if name not in before]


def _live_names() -> list[str]:
    """Names of the Python registrations the library may still call (for tests and debugging)."""
    with _LIVE_LOCK:
        return [registration.name for registration in _LIVE.values()]

