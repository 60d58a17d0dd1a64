"""PyTorch adapter: losskit losses as autograd functions and ``nn.Module``s (CPU tensors).

    >>> import losskit.torch
    >>> criterion = losskit.torch.LossModule("squentropy")
    >>> loss = criterion(model(x), y)                      # a 0-dim tensor; loss.backward() as usual
    >>> loss = losskit.torch.loss("cross_entropy", logits, y, label_smoothing=0.1, weight=w)

The forward pass calls the fused kernel once, computing the loss and its gradient with respect to
the logits together over numpy views of the tensors' memory (no copy for contiguous float32 /
float64 logits and int32 / int64 targets; other layouts are made contiguous first). Only that
gradient is saved; backward multiplies it by the upstream gradient: a scalar for "mean" / "sum",
one value per sample for "none" (so any weighting applied after ``reduction="none"`` is honoured).
The logits are never written: the gradient goes to a new tensor, so every tensor autograd saved
for other operations stays intact.

Supported: CPU tensors, float32 / float64 logits of shape (N, C) or (N, C, d1..dk), class-index
targets (any integer dtype) or probability targets (a float tensor of the logits' shape,
``cross_entropy`` only), class weights, ignore_index, every loss, ``losskit.Loss`` and
``losskit.Mix`` objects. Not supported: other devices (move tensors with ``.cpu()``), float16 /
bfloat16, gradients with respect to targets or class weights, double backward.

Importing this module imports torch; ``import losskit`` alone never does.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ._library import DEFAULT_IGNORE_INDEX
from .loss import Loss
from .mix import Mix

__all__ = ["loss", "LossModule", "LossFunction"]

_FLOAT_DTYPES = (torch.float32, torch.float64)
_REDUCTIONS = ("mean", "sum", "none")

#: What computes: a loss name (with parameters), a losskit.Loss or a losskit.Mix.
LossLike = Union[str, Loss, Mix]


def _check_cpu(what: str, tensor: Tensor) -> None:
    if tensor.device.type != "cpu":
        raise ValueError(
            f"{what} is on device '{tensor.device}'; losskit computes on the CPU only: "
            f"pass {what}.cpu() (the loss and the gradient then live on the CPU)"
        )


def _check_logits(logits: object) -> Tensor:
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor, not {type(logits).__name__}")
    _check_cpu("logits", logits)
    if logits.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"logits have dtype {logits.dtype}; losskit takes torch.float32 or torch.float64 "
            "(convert with .float() or .double())"
        )
    if logits.layout != torch.strided:
        raise TypeError(f"logits must be a dense real tensor; got layout {logits.layout}")
    return logits


def _check_target(target: object, logits: Tensor) -> Tensor:
    if not isinstance(target, Tensor):
        raise TypeError(f"target must be a torch.Tensor, not {type(target).__name__}")
    _check_cpu("target", target)
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target has dtype {target.dtype}; expected integer class indices or float probabilities")
    return target


def _numpy(tensor: Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor's memory: no copy when it is contiguous."""
    tensor = tensor.detach()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    return tensor.resolve_neg().numpy()


def _weight_array(weight: object) -> Any:
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        _check_cpu("weight", weight)
        if weight.requires_grad:
            raise ValueError("weight requires grad; losskit computes no gradient for class weights "
                             "(pass weight.detach())")
        return _numpy(weight)
    return weight  # a sequence or array: converted by losskit like any weight


def _compute_function(loss: LossLike) -> Any:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, Mix):
        return loss.loss_and_grad
    raise TypeError(f"the loss must be a name (str), a losskit.Loss or a losskit.Mix, not {type(loss).__name__}")


class LossFunction(torch.autograd.Function):
    """The autograd node: the fused kernel in forward, ``saved_grad * grad_output`` in backward.

    ``LossFunction.apply(logits, target, weight, loss, reduction, ignore_index, progress)`` with
    `loss` a ``losskit.Loss`` or ``losskit.Mix``; prefer ``losskit.torch.loss`` / ``LossModule``,
    which check their arguments first.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, target: Tensor, weight: Any, loss: LossLike, reduction: str,
                ignore_index: int, progress: float | None) -> Tensor:
        if ctx.needs_input_grad[1]:
            raise ValueError("target requires grad; losskit computes no gradient for targets "
                             "(pass target.detach())")
        compute = _compute_function(loss)
        want_grad = bool(ctx.needs_input_grad[0])
        z = _numpy(logits)
        grad = torch.empty(logits.shape, dtype=logits.dtype) if want_grad else None
        value, _ = compute(
            z, _numpy(target), reduction=reduction, weight=_weight_array(weight), ignore_index=ignore_index,
            grad=want_grad, out=None if grad is None else grad.numpy(), progress=progress,
        )
        ctx.reduction = reduction
        if grad is not None:
            ctx.save_for_backward(grad)
        if reduction == "none":
            return torch.from_numpy(value)
        return torch.tensor(value, dtype=logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        if ctx.reduction == "none":
            grad_output = grad_output.unsqueeze(1)  # (N, 1, d1..dk): one factor per sample
        # Out of place: the saved gradient may be needed again (backward with retain_graph=True).
        return grad * grad_output, None, None, None, None, None, None


# ---------------------------------------------------------------- torch.compile: a custom operator
#
# Dynamo cannot trace into ctypes, so under torch.compile a LossModule's loss goes through a
# registered custom operator instead of LossFunction (same kernel call, same backward): the graph does
# not break at the loss. The operator takes the Loss/Mix by an integer key, the only way to pass an
# object through an operator schema. The key is made when the LossModule is made, outside any compiled
# region (a compiled graph would apply the registration only after running). Other calls under
# torch.compile (losskit.torch.loss) take LossFunction: correct, with a graph break at the loss.

_OBJECTS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_KEYS = itertools.count(1)


def _register(loss: LossLike) -> int:
    """A key for `loss` usable by the custom operator while `loss` lives."""
    key = next(_KEYS)
    _OBJECTS[key] = loss
    return key


_HAS_CUSTOM_OP = hasattr(torch.library, "custom_op")  # torch >= 2.4

if _HAS_CUSTOM_OP:

    @torch.library.custom_op("losskit::loss_and_grad", mutates_args=())
    def _loss_and_grad_op(logits: Tensor, target: Tensor, weight: Optional[Tensor], loss_key: int, reduction: str,
                          ignore_index: int, progress: Optional[float], want_grad: bool) -> tuple[Tensor, Tensor]:
        compute = _compute_function(_OBJECTS[loss_key])
        grad = torch.empty(logits.shape, dtype=logits.dtype)
        value, _ = compute(
            _numpy(logits), _numpy(target), reduction=reduction, weight=_weight_array(weight),
            ignore_index=ignore_index, grad=want_grad, out=grad.numpy() if want_grad else None, progress=progress,
        )
        out = torch.from_numpy(value) if reduction == "none" else torch.tensor(value, dtype=logits.dtype)
        return out, grad

    @_loss_and_grad_op.register_fake
    def _(logits: Tensor, target: Tensor, weight: Optional[Tensor], loss_key: int, reduction: str,
          ignore_index: int, progress: Optional[float], want_grad: bool) -> tuple[Tensor, Tensor]:
        shape = (logits.shape[0], *logits.shape[2:]) if reduction == "none" else ()
        return logits.new_empty(shape), torch.empty_like(logits, memory_format=torch.contiguous_format)

    def _op_setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        ctx.reduction = inputs[4]
        ctx.save_for_backward(output[1])

    def _op_backward(ctx: Any, grad_output: Tensor, _grad_of_grad: Tensor | None) -> tuple[Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        if ctx.reduction == "none":
            grad_output = grad_output.unsqueeze(1)
        return grad * grad_output, None, None, None, None, None, None, None

    _loss_and_grad_op.register_autograd(_op_backward, setup_context=_op_setup_context)


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling())


def _apply(loss: LossLike, logits: Tensor, target: Tensor, reduction: str, weight: Any, ignore_index: int,
           progress: float | None, key: int | None = None) -> Tensor:
    logits = _check_logits(logits)
    target = _check_target(target, logits)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction is {reduction!r}; expected 'mean', 'sum' or 'none'")
    if key is not None and _HAS_CUSTOM_OP and _compiling():
        if weight is not None and not isinstance(weight, Tensor):
            weight = torch.as_tensor(weight)
        value, _ = _loss_and_grad_op(logits, target, weight, key, reduction, int(ignore_index),
                                     None if progress is None else float(progress), logits.requires_grad)
        return value
    return LossFunction.apply(logits, target, weight, loss, reduction, int(ignore_index), progress)


def loss(
    name: LossLike,
    logits: Tensor,
    target: Tensor,
    *,
    reduction: str = "mean",
    weight: Tensor | Sequence[float] | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    progress: float | None = None,
    **params: Any,
) -> Tensor:
    """Loss `name` of `logits` against `target`, differentiable with respect to the logits.

    Args:
        name: a loss name (see ``losskit.losses()``), or a ``losskit.Loss`` / ``losskit.Mix``
            (then no `params`).
        logits: CPU float32/float64 tensor, (N, C) or (N, C, d1..dk).
        target: class indices (N, d1..dk) or probabilities of the logits' shape and dtype.
        reduction: "mean" (a 0-dim tensor; 0 when every sample is ignored), "sum", or "none"
            (shape (N, d1..dk)).
        weight: class weights, shape (C,) (a CPU tensor or a sequence).
        ignore_index: class-index targets equal to it contribute nothing.
        progress: training progress t in [0, 1] for scheduled losses (``ce_expectation_mix``,
            mixes), for this call only.
        **params: the loss's parameters, e.g. ``label_smoothing=0.1``.

    Raises:
        TypeError: logits not float32/float64 (float16, bfloat16, integers), wrong argument kinds.
        ValueError: a tensor not on the CPU; a target or weight that requires grad; bad reduction.
        losskit.LossKitError: whatever the library refuses (shapes, targets out of range, NaN
            logits, parameter values).
    """
    if isinstance(name, str):
        with Loss(name, **params) as configured:
            return _apply(configured, logits, target, reduction, weight, ignore_index, progress)
    if params:
        raise TypeError(f"a {type(name).__name__} object takes no parameters per call; got {', '.join(params)}")
    return _apply(name, logits, target, reduction, weight, ignore_index, progress)


class LossModule(nn.Module):
    """A losskit loss as an ``nn.Module``: ``LossModule(name, **params)(logits, target)``.

    The loss and its parameters are made (and checked) once, here. `weight` is a buffer (it
    follows ``.to(dtype)`` and is in the ``state_dict``); ``progress`` may be set at any time
    (``criterion.progress = step / total``) or given per call.
    """

    def __init__(
        self,
        name: LossLike,
        *,
        reduction: str = "mean",
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        progress: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction is {reduction!r}; expected 'mean', 'sum' or 'none'")
        if isinstance(name, str):
            self._loss: Loss | Mix = Loss(name, **params)
        else:
            _compute_function(name)
            if params:
                raise TypeError(f"a {type(name).__name__} object takes no parameters; got {', '.join(params)}")
            self._loss = name
        self.reduction = reduction
        self.ignore_index = int(ignore_index)
        if weight is not None:
            weight = weight.detach().clone() if isinstance(weight, Tensor) else torch.as_tensor(weight)
            if not weight.is_floating_point():
                weight = weight.double()
        self.register_buffer("weight", weight)
        self.progress = progress
        self._loss_key = _register(self._loss)

    @property
    def loss(self) -> Loss | Mix:
        """The losskit.Loss (or Mix) this module evaluates; change its parameters with set_param."""
        return self._loss

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled or deep-copied: the loss is a new object, which needs its own operator key.
        super().__setstate__(state)
        self._loss_key = _register(self._loss)

    @property
    def progress(self) -> float | None:
        """Training progress t in [0, 1] of calls that give none (None: the loss's own)."""
        return self._progress

    @progress.setter
    def progress(self, value: float | None) -> None:
        from .loss import _check_progress

        self._progress = _check_progress(value)

    def forward(self, logits: Tensor, target: Tensor, progress: float | None = None) -> Tensor:
        return _apply(self.loss, logits, target, self.reduction, self.weight, self.ignore_index,
                      self._progress if progress is None else progress, self._loss_key)

    def extra_repr(self) -> str:
        parts = [repr(self.loss), f"reduction={self.reduction!r}"]
        if self.ignore_index != DEFAULT_IGNORE_INDEX:
            parts.append(f"ignore_index={self.ignore_index}")
        if self._progress is not None:
            parts.append(f"progress={self._progress}")
        return ", ".join(parts)
