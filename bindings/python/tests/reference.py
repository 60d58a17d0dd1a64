"""A float64 numpy reference of cross-entropy with PyTorch's F.cross_entropy semantics.

Written from the formulas of LOSSES.md, independently of the library: vectorised
over samples, no fused passes, the gradient derived by hand (and itself checked
against finite differences in test_reference.py).
"""

from __future__ import annotations

import numpy as np


def _classes_last(array: np.ndarray) -> np.ndarray:
    """(N, C, d1..dk) -> (S, C) with samples in (n, i1..ik) row-major order."""
    return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


def _classes_second(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of _classes_last."""
    moved = (shape[0],) + shape[2:] + (shape[1],)
    return np.moveaxis(rows.reshape(moved), -1, 1)


def cross_entropy(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    dloss: float | np.ndarray = 1.0,
) -> tuple[float | np.ndarray, np.ndarray]:
    """(loss, dloss * dL/dlogits) in float64; loss is a float for mean/sum, (N, d1..dk) for none."""
    shape = logits.shape
    z = _classes_last(np.asarray(logits, dtype=np.float64))
    samples, classes = z.shape
    w = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    eps = label_smoothing

    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    log_p = z - lse[:, None]
    p = np.exp(log_p)

    if np.issubdtype(np.asarray(target).dtype, np.integer):
        y = np.asarray(target).reshape(-1).astype(np.int64)
        kept = y != ignore_index
        y_safe = np.where(kept, y, 0)
        onehot = np.eye(classes)[y_safe]
        w_y = w[y_safe] * kept
        # PyTorch: (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_j w_j·(-log p_j); z-loss weighted by w_y.
        t = (1 - eps) * w_y[:, None] * onehot + (eps / classes) * w[None, :] * kept[:, None]
        sample_weight = w_y
        denominator = w_y.sum()
    else:
        q = _classes_last(np.asarray(target, dtype=np.float64))
        # -Σ_j w_j·((1-ε)·q_j + ε/C)·log p_j; z-loss weight 1; the mean divides by S.
        t = w[None, :] * ((1 - eps) * q + eps / classes)
        kept = np.ones(samples, dtype=bool)
        sample_weight = np.ones(samples)
        denominator = float(samples)

    with np.errstate(invalid="ignore"):
        # A masked class (z_j = -inf, t_j = 0) contributes 0, not 0·(-inf).
        cross = np.where(t != 0, t * log_p, 0.0)
    per_sample = -cross.sum(axis=1) + z_loss * sample_weight * lse**2
    # d/dz of Σ_j t_j·(lse - z_j) + λ·a·lse² is (Σ_j t_j)·p - t + 2λ·a·lse·p.
    per_sample_grad = t.sum(axis=1, keepdims=True) * p - t + (2 * z_loss * sample_weight * lse)[:, None] * p
    per_sample = np.where(kept, per_sample, 0.0)
    per_sample_grad = np.where(kept[:, None], per_sample_grad, 0.0)

    if reduction == "none":
        upstream = np.broadcast_to(np.asarray(dloss, dtype=np.float64).reshape(-1), (samples,))
        loss: float | np.ndarray = per_sample.reshape((shape[0],) + shape[2:])
        grad = per_sample_grad * upstream[:, None]
    elif reduction == "sum":
        loss = float(per_sample.sum())
        grad = per_sample_grad * float(dloss)
    elif reduction == "mean":
        # All ignored (or zero total weight): 0 and a zero gradient, where PyTorch gives NaN.
        scale = 1.0 / denominator if denominator > 0 else 0.0
        loss = float(per_sample.sum() * scale)
        grad = per_sample_grad * (float(dloss) * scale)
    else:
        raise ValueError(reduction)
    return loss, _classes_second(grad, shape)
