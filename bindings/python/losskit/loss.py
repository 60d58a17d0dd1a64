"""A configured loss, made once and called on every batch of a training loop.

    >>> ce = losskit.Loss("cross_entropy", label_smoothing=0.1)   # parameters checked here, once
    >>> for step, (x, y) in enumerate(batches):
    ...     loss, grad = ce(model(x), y)
    >>> mix = losskit.Loss("ce_expectation_mix", schedule="linear")
    >>> mix.progress = step / total_steps                        # scheduled weights follow t

``losskit.loss_and_grad(name, ..., **params)`` creates a library handle and sets every parameter on
each call; a ``Loss`` holds one handle (``lk_loss``) for its life, so a call only fills the batch
(through ``api.evaluate``, the one path to the library) and computes.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from . import api
from ._library import DEFAULT_IGNORE_INDEX, LossHandle, Status, library
from ._owned_handle import OwnedHandle
from .errors import LossKitError, raise_for_status

__all__ = ["Loss"]

def _check_progress(progress: object) -> float | None:
    """None, or a number in [0, 1] as a float (LossKitError ERROR_BAD_PARAM outside it)."""
    if progress is None:
        return None
    if not isinstance(progress, numbers.Real) or isinstance(progress, bool):
        raise TypeError(f"progress is a {type(progress).__name__}; expected a number in [0, 1] or None")
    value = float(progress)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise LossKitError(Status.ERROR_BAD_PARAM, f"progress is {value}; expected a number in [0, 1]")
    return value


class Loss(OwnedHandle):
    """Loss `name` with its parameters, ready to evaluate on many batches.

    Calls are thread-safe (one Loss may be used by many threads at once); changing a parameter or
    ``progress``, or closing, is not safe while another thread computes with it. ``close()`` (or
    leaving a ``with`` block, or garbage collection) releases the library's handle. A Loss pickles
    and deep-copies as its name, parameters and progress (the copy has its own handle).
    """

    def __init__(self, name: str, /, **params: Any) -> None:
        """Create loss `name` (one of ``losskit.losses()``) and set `params`.

        Args:
            name: a registered loss name, e.g. ``"cross_entropy"``, ``"hem"``.
            **params: the loss's named parameters, as for ``losskit.loss_and_grad``: numbers,
                strings (``nan_policy="propagate"``) or 1-D sequences of numbers
                (``priors=[0.7, 0.3]``). ``progress`` of a scheduled loss may be given here too.

        Raises:
            LossKitError: ERROR_UNKNOWN_LOSS, ERROR_UNKNOWN_PARAM or ERROR_BAD_PARAM (a value out
                of range) from the library. A vector whose length must equal the number of classes
                can only be checked when a batch is computed.
            TypeError: `name` not a str, or a parameter value of an unsupported kind.
        """
        super().__init__()
        if not isinstance(name, str):
            raise TypeError(f"the loss name must be a str, not {type(name).__name__}")
        lib = library()
        handle = LossHandle()
        raise_for_status(lib.lk_loss_create(name.encode("utf-8", "surrogateescape"), ctypes.byref(handle)))
        try:
            for key, value in params.items():
                api._set_param(lib, handle, key, value)
            has_progress = self._probe(lib, handle, "progress")
        except BaseException:
            lib.lk_loss_destroy(handle)
            raise
        self._handle = handle
        self._name = name
        self._params: dict[str, Any] = {key: _frozen(value) for key, value in params.items()}
        self._has_progress = has_progress
        self._progress = _check_progress(params["progress"]) if "progress" in params else None

    @staticmethod
    def _probe(lib: ctypes.CDLL, handle: LossHandle, key: str) -> bool:
        """Whether the loss has the numeric parameter `key`."""
        value = ctypes.c_double()
        status = lib.lk_loss_get_param(handle, key.encode(), ctypes.byref(value))
        if status == Status.ERROR_UNKNOWN_PARAM:
            return False
        raise_for_status(status)
        return True

    # -------------------------------------------------------------------- parameters

    @property
    def name(self) -> str:
        """The registered name of the loss."""
        return self._name

    @property
    def params(self) -> dict[str, Any]:
        """The parameters set so far (by the constructor or ``set_param``), by name."""
        return dict(self._params)

    def get_param(self, key: str) -> float:
        """The current value of numeric parameter `key` (its default if never set).

        Raises:
            LossKitError: ERROR_UNKNOWN_PARAM, or ERROR_BAD_PARAM for a text or vector parameter.
        """
        value = ctypes.c_double()
        raise_for_status(library().lk_loss_get_param(self._live_handle(), key.encode(), ctypes.byref(value)))
        return value.value

    def set_param(self, key: str, value: Any) -> None:
        """Set one parameter (number, str or 1-D sequence of numbers); on error it keeps its value."""
        api._set_param(library(), self._live_handle(), key, value)
        self._params[key] = _frozen(value)
        if key == "progress":
            self._progress = _check_progress(value)

    @property
    def progress(self) -> float | None:
        """Training progress t in [0, 1] used by every call that gives none (None: never set).

        Setting it checks the range; a loss with a "progress" parameter (``ce_expectation_mix``)
        gets that parameter set too, and calls use ``lk_loss_compute_at(t)``, which evaluates
        scheduled weights at t and is the same as ``lk_loss_compute`` for a loss without them.
        Setting None returns to the loss's own "progress" parameter (``lk_loss_compute``).
        """
        return self._progress

    @progress.setter
    def progress(self, value: float | None) -> None:
        value = _check_progress(value)
        if value is not None and self._has_progress:
            self.set_param("progress", value)
        self._progress = value

    # -------------------------------------------------------------------- evaluation

    def __call__(
        self,
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
        progress: float | None = None,
    ) -> tuple[float | np.ndarray, np.ndarray | None]:
        """Evaluate the loss and its gradient with respect to the logits in one pass.

        Args:
            progress: t in [0, 1] for this call only; None uses ``self.progress``.
            Everything else: as ``losskit.loss_and_grad``.

        Returns:
            (loss, grad) as ``losskit.loss_and_grad``.
        """
        progress = self._progress if progress is None else _check_progress(progress)
        return api.evaluate(
            lambda: contextlib.nullcontext(self._live_handle()), logits, target, reduction=reduction,
            weight=weight, ignore_index=ignore_index, dloss=dloss, grad=grad, out=out, inplace=inplace,
            progress=progress,
        )

    # -------------------------------------------------------------------- lifetime

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self._name, "params": self._params, "progress": self._progress}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], **state["params"])
        self.progress = state["progress"]

    def __repr__(self) -> str:
        arguments = [repr(self._name)] + [f"{key}={value!r}" for key, value in self._params.items()]
        state = " [closed]" if self._handle is None else ""
        return f"Loss({', '.join(arguments)}){state}"


def _frozen(value: Any) -> Any:
    """A copy of a parameter value that later changes to the caller's object cannot alter."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return list(value)
    return value
