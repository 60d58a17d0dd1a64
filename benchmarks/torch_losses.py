"""The PyTorch side of the benchmark: every losskit loss written in plain torch, differentiated by autograd.

Each function takes logits `x` of shape (N, C) or (N, C, d1, ..., dk) (class axis second, as PyTorch
and losskit), int64 class indices `y` of shape (N, d1, ..., dk) and the loss parameters, and returns
the mean-reduced loss (a 0-d tensor). They are written from the formulas of README.md ("The losses")
and ../shared/LOSSES.md, vectorised over the whole batch the way a PyTorch user would write them,
using PyTorch's own fused function where one exists (`F.cross_entropy`, `F.multi_margin_loss`).

`REFERENCES[name](x, y, **params)` -> loss; `LOSSKIT_PARAMS[name](C, dtype)` gives the parameters
used by the benchmark for both libraries (the defaults, plus what a loss requires).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _target_column(y: torch.Tensor) -> torch.Tensor:
    """y of shape (N, d...) as (N, 1, d...), the index for gather/scatter along the class axis."""
    return y.unsqueeze(1)


def _gather_target(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """t[n, y[n, i], i] for every sample: shape (N, d...)."""
    return t.gather(1, _target_column(y)).squeeze(1)


def _class_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """A length-C vector shaped to broadcast along the class axis of an ndim-D batch."""
    return v.view((1, -1) + (1,) * (ndim - 2))


def cross_entropy(x, y, label_smoothing=0.0):
    return F.cross_entropy(x, y, label_smoothing=label_smoothing)


def expectation(x, y):
    # L = 1 - p_y
    p_y = _gather_target(F.log_softmax(x, dim=1), y).exp()
    return (1.0 - p_y).mean()


def ce_expectation_mix(x, y, alpha=0.5, beta=1.0, schedule="constant"):
    # L = (1 - α)·CE + α·β·(1 - p_y), constant α
    assert schedule == "constant"
    logp_y = _gather_target(F.log_softmax(x, dim=1), y)
    return ((1.0 - alpha) * (-logp_y) + alpha * beta * (1.0 - logp_y.exp())).mean()


def squentropy(x, y):
    # L = lse - z_y + (1/(C-1))·Σ_{j≠y} z_j²
    c = x.shape[1]
    z_y = _gather_target(x, y)
    square = ((x * x).sum(1) - z_y * z_y) / (c - 1)
    return F.cross_entropy(x, y) + square.mean()


def square(x, y, k=1.0, M=1.0):
    # L = (1/C)·[k·(z_y - M)² + Σ_{j≠y} z_j²]
    c = x.shape[1]
    z_y = _gather_target(x, y)
    return ((k * (z_y - M) ** 2 + (x * x).sum(1) - z_y * z_y) / c).mean()


def hem(x, y, margin=0.5):
    # e_j = max(0, z_j - z_y + μ) for j ≠ y; τ = mean of the non-zero e_j; H = {e_j > 0, e_j ≥ τ};
    # L = mean of e_j over H (0 when no e_j > 0). τ and H are held fixed (they carry no gradient).
    wrong = torch.ones_like(x, dtype=torch.bool).scatter_(1, _target_column(y), False)
    e = torch.relu(x - x.gather(1, _target_column(y)) + margin) * wrong
    with torch.no_grad():
        positive = e > 0
        tau = e.sum(1, keepdim=True) / positive.sum(1, keepdim=True).clamp(min=1)
        high = positive & (e >= tau)
        count = high.sum(1).clamp(min=1)
    return ((e * high).sum(1) / count).mean()


def multi_margin(x, y, margin=1.0, p=1):
    # PyTorch's MultiMarginLoss takes (N, C): a (N, C, d...) batch is moved to (N·d..., C) first.
    if x.ndim > 2:
        x = x.movedim(1, -1).reshape(-1, x.shape[1])
        y = y.reshape(-1)
    return F.multi_margin_loss(x, y, p=int(p), margin=margin)


def logit_norm(x, y, tau=0.04):
    # L = CE(z / (τ·(‖z‖ + 1e-7)), y), the norm over the class axis
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return F.cross_entropy(x / (tau * (norm + 1e-7)), y)


def logit_adjusted(x, y, priors, tau=1.0):
    # L = CE(z + τ·log π, y)
    shift = _class_view(torch.as_tensor(priors, dtype=x.dtype).log() * tau, x.ndim)
    return F.cross_entropy(x + shift, y)


def focal(x, y, gamma=2.0):
    # L = -(1 - p_y)^γ·log p_y
    logp_y = _gather_target(F.log_softmax(x, dim=1), y)
    return (-((1.0 - logp_y.exp()) ** gamma) * logp_y).mean()


def dice(x, y, smooth=1.0):
    # Soft Dice over the softmax, sums over every sample of the batch:
    # I_c = Σ_i p_ic·g_ic, S_c = Σ_i p_ic + Σ_i g_ic, L = 1 - mean_c (2 I_c + s)/(S_c + s).
    c = x.shape[1]
    p = F.softmax(x, dim=1)
    p_y = _gather_target(p, y)
    flat_y = y.reshape(-1)
    intersection = torch.zeros(c, dtype=x.dtype).index_add(0, flat_y, p_y.reshape(-1))
    p_sum = p.sum(dim=[d for d in range(x.ndim) if d != 1])
    g_sum = torch.bincount(flat_y, minlength=c).to(x.dtype)
    return 1.0 - ((2.0 * intersection + smooth) / (p_sum + g_sum + smooth)).mean()


REFERENCES = {
    "cross_entropy": cross_entropy,
    "expectation": expectation,
    "ce_expectation_mix": ce_expectation_mix,
    "squentropy": squentropy,
    "square": square,
    "hem": hem,
    "multi_margin": multi_margin,
    "logit_norm": logit_norm,
    "logit_adjusted": logit_adjusted,
    "focal": focal,
    "dice": dice,
}


def zipf_priors(classes: int) -> np.ndarray:
    """Long-tailed class priors π_c ∝ 1/(c+1), for logit_adjusted."""
    p = 1.0 / np.arange(1, classes + 1, dtype=np.float64)
    return p / p.sum()


def params_for(name: str, classes: int) -> dict:
    """The parameters the benchmark passes to both libraries for loss `name` with C classes."""
    if name == "ce_expectation_mix":
        return {"schedule": "constant", "alpha": 0.5, "beta": 1.0}
    if name == "logit_adjusted":
        return {"priors": zipf_priors(classes), "tau": 1.0}
    return {}
