"""Weighted mixes of losses, each weight a constant or a schedule over training progress.

    >>> mix = losskit.mix([("cross_entropy", {}), ("squentropy", {})],
    ...                   weights=[{"schedule": "linear", "start": 1, "end": 0},
    ...                            {"schedule": "linear", "start": 0, "end": 1}])
    >>> loss, grad = mix.loss_and_grad(logits, target, progress=step / total_steps)

A mix is ``L = Σ_k w_k(t)·L_k`` (and the same sum of gradients), built by
``lk_mix_create`` from copies of its components: a component is a loss name
with its parameters, or another Mix. Weights map onto the mix's parameters
"w<k>", "w<k>_schedule", "w<k>_start", "w<k>_end" and "w<k>_t_switch"; the
progress t is given per call (``lk_loss_compute_at``) or, as a default, to the
constructor (the mix's "progress" parameter). Schedules, for start a, end b:
constant ``value``; linear ``a + (b-a)·t``; cosine ``a + (b-a)·(1 - cos πt)/2``;
step ``a`` before ``t_switch``, ``b`` from it on.
"""

from __future__ import annotations

import contextlib
import ctypes
import numbers
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
import numpy.typing as npt

from . import api
from ._library import DEFAULT_IGNORE_INDEX, LossHandle, library
from ._owned_handle import OwnedHandle
from .errors import raise_for_status

__all__ = ["Mix", "mix", "Component", "Weight"]

#: A component: a loss name, (name, params), or a Mix.
Component = Union[str, tuple[str, Mapping[str, object]], "Mix"]
#: A weight: a number (constant), or a schedule such as {"schedule": "linear", "start": 1, "end": 0}.
Weight = Union[float, Mapping[str, object]]

# Keys of a schedule dict -> the suffix of the mix parameter "w<k><suffix>".
_SCHEDULE_KEYS = {"schedule": "_schedule", "value": "", "start": "_start", "end": "_end", "t_switch": "_t_switch"}


def _component_handle(stack: contextlib.ExitStack, component: object, index: int) -> LossHandle:
    """A handle for one component, kept alive by `stack` until lk_mix_create has copied it."""
    if isinstance(component, Mix):
        return component._live_handle()
    if isinstance(component, str):
        name, params = component, {}
    elif isinstance(component, tuple) and len(component) == 2 and isinstance(component[0], str):
        name, params = component
        if not isinstance(params, Mapping):
            raise TypeError(f"component {index}: the parameters must be a mapping, not {type(params).__name__}")
    else:
        raise TypeError(
            f"component {index} is {component!r}; expected a loss name, a (name, params) pair or a Mix"
        )
    return stack.enter_context(api._configured_loss(name, params))


def _weight_params(index: int, weight: object) -> dict[str, object]:
    """The mix parameters that give component `index` the weight `weight`."""
    prefix = f"w{index}"
    if isinstance(weight, numbers.Real) and not isinstance(weight, bool):
        return {prefix: float(weight)}
    if isinstance(weight, Mapping):
        unknown = sorted(set(weight) - set(_SCHEDULE_KEYS))
        if unknown:
            raise ValueError(
                f"weight {index} has unknown key(s) {unknown}; expected some of {sorted(_SCHEDULE_KEYS)}"
            )
        if "schedule" not in weight:
            raise ValueError(f"weight {index} is a dict without 'schedule'; expected e.g. "
                             "{'schedule': 'linear', 'start': 1, 'end': 0}")
        return {prefix + _SCHEDULE_KEYS[key]: value for key, value in weight.items()}
    raise TypeError(f"weight {index} is {weight!r}; expected a number or a schedule dict")


class Mix(OwnedHandle):
    """A weighted sum of losses, evaluated by the library in one call.

    Thread-safe to evaluate from several threads at once (but do not close it
    while another thread evaluates it); ``close()`` (or leaving a ``with``
    block, or garbage collection) releases the library's handle. Components
    are copied when the Mix is made: closing or changing a component Mix later
    does not affect this one.
    """

    def __init__(
        self,
        components: Sequence[Component],
        weights: Sequence[Weight] | None = None,
        *,
        progress: float | None = None,
    ) -> None:
        """Create the mix.

        Args:
            components: at least one loss: a name (``"squentropy"``), a pair
                ``(name, params)`` (``("hem", {"margin": 0.3})``) or a Mix.
            weights: one per component (default all 1): a number ≥ 0, or a
                schedule dict with "schedule" ("constant", "linear", "cosine",
                "step") and any of "value" (the constant), "start", "end",
                "t_switch".
            progress: the default training progress t in [0, 1] of calls that
                give none (the mix's "progress" parameter, 0 by default).

        Raises:
            LossKitError: a loss, parameter or weight the library refuses.
            TypeError, ValueError: components or weights of the wrong form.
        """
        super().__init__()
        components = list(components) if not isinstance(components, (str, Mix)) else [components]
        if not components:
            raise ValueError("a mix needs at least one component")
        weights = [1.0] * len(components) if weights is None else list(weights)
        if len(weights) != len(components):
            raise ValueError(f"{len(weights)} weights for {len(components)} components; expected one per component")
        params: dict[str, object] = {}
        for index, weight in enumerate(weights):
            params.update(_weight_params(index, weight))
        if progress is not None:
            params["progress"] = progress

        lib = library()
        handle = LossHandle()
        with contextlib.ExitStack() as stack:
            handles = [_component_handle(stack, component, k) for k, component in enumerate(components)]
            array = (LossHandle * len(handles))(*handles)
            raise_for_status(lib.lk_mix_create(array, len(handles), ctypes.byref(handle)))
        try:
            for key, value in params.items():
                api._set_param(lib, handle, key, value)
        except BaseException:
            lib.lk_loss_destroy(handle)
            raise
        self._handle = handle
        self._description = [
            c if isinstance(c, (str, Mix)) else (c[0], dict(c[1])) for c in components
        ]
        self._weights = weights

    @property
    def name(self) -> str:
        """The library's name of the mix loss."""
        return library().lk_loss_get_name(self._live_handle()).decode()

    def get_param(self, key: str) -> float:
        """The current value of a numeric mix parameter, e.g. "w0", "w1_start" or "progress"."""
        value = ctypes.c_double()
        raise_for_status(library().lk_loss_get_param(self._live_handle(), key.encode(), ctypes.byref(value)))
        return value.value

    def loss_and_grad(
        self,
        logits: npt.ArrayLike,
        target: npt.ArrayLike,
        /,
        *,
        progress: float | None = None,
        reduction: str = "mean",
        weight: npt.ArrayLike | None = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        dloss: npt.ArrayLike = 1.0,
        grad: bool = True,
        out: np.ndarray | None = None,
        inplace: bool = False,
    ) -> tuple[float | np.ndarray, np.ndarray | None]:
        """Evaluate the mix and its gradient at training progress `progress`.

        Args:
            progress: t in [0, 1] for this call only (``lk_loss_compute_at``);
                None uses the mix's "progress" parameter.
            Everything else: as ``losskit.loss_and_grad``.

        Returns:
            (loss, grad) as ``losskit.loss_and_grad``.
        """
        return api.evaluate(
            lambda: contextlib.nullcontext(self._live_handle()), logits, target, reduction=reduction,
            weight=weight, ignore_index=ignore_index, dloss=dloss, grad=grad, out=out, inplace=inplace,
            progress=progress,
        )

    def __repr__(self) -> str:
        """The components and weights, and whether the mix is closed."""
        state = "closed" if self._handle is None else "open"
        return f"Mix({self._description!r}, weights={self._weights!r}) [{state}]"


def mix(
    components: Sequence[Component],
    weights: Sequence[Weight] | None = None,
    *,
    progress: float | None = None,
) -> Mix:
    """A new ``Mix`` of `components` with `weights` (see ``Mix.__init__``)."""
    return Mix(components, weights, progress=progress)
