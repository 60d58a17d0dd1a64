"""An independent reference of every loss in JAX (float64), its gradient by autograd.

Written from the formulas of LOSSES.md and README.md ("The losses", "Edge cases, defined"), not from
the library's kernels: each loss is a plain jnp expression of the whole (S, C) batch, the host's rules
(class weights, ignore_index, reductions, dloss) are applied here the same way for every loss, and the
gradient is whatever ``jax.value_and_grad`` / ``jax.vjp`` gives. No hand-written gradient anywhere.

Kinks: hem and multi_margin are piecewise linear; autograd's choice at an exact kink is arbitrary, so
tests draw batches away from them (``near_kink``). HEM's threshold τ and high set H are held fixed
(``stop_gradient``), the sub-gradient the README defines.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The defaults of every parameter, from README.md's table.
DEFAULTS: dict[str, dict[str, object]] = {
    "cross_entropy": {"label_smoothing": 0.0, "z_loss": 0.0},
    "expectation": {},
    "ce_expectation_mix": {"schedule": "constant", "alpha": 0.5, "alpha_start": 0.0, "alpha_end": 1.0,
                           "t_switch": 0.5, "progress": 0.0, "beta": 1.0},
    "squentropy": {},
    "square": {"k": 1.0, "M": 1.0},
    "hem": {"margin": 0.5, "class_counts": None, "M": 1.0},
    "multi_margin": {"margin": 1.0, "p": 1},
    "logit_norm": {"tau": 0.04},
    "logit_adjusted": {"tau": 1.0, "priors": None},
    "focal": {"gamma": 2.0},
    "dice": {"smooth": 1.0, "skip_absent": 0},
}
LOGIT_NORM_EPS = 1e-7


def rows(array: np.ndarray) -> np.ndarray:
    """(N, C, d1..dk) -> (S, C), samples in (n, i1..ik) row-major order."""
    return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


def unrows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of rows."""
    return np.moveaxis(rows.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def schedule_value(shape: str, t: float, *, value: float, start: float, end: float, t_switch: float) -> float:
    """A weight on a schedule at progress t (README: constant, linear, cosine, step)."""
    if shape == "constant":
        return value
    if shape == "linear":
        return start + (end - start) * t
    if shape == "cosine":
        return start + (end - start) * (1 - np.cos(np.pi * t)) / 2
    if shape == "step":
        return start if t < t_switch else end
    raise ValueError(shape)


def _lse(z: jnp.ndarray) -> jnp.ndarray:
    m = jax.lax.stop_gradient(z.max(axis=1, keepdims=True))
    return m[:, 0] + jnp.log(jnp.exp(z - m).sum(axis=1))


def _pick(z: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    return jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]


def _ce(z: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    return _lse(z) - _pick(z, y)


def _off_target(z: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """1 for j != y, 0 for j == y."""
    return 1.0 - jax.nn.one_hot(y, z.shape[1], dtype=z.dtype)


# Per-sample losses: (z (S, C), y (S,) valid classes, w (C,), params) -> (weighted loss (S,), sample weight (S,)).
# Every loss but cross_entropy with label smoothing is "unweighted loss times w_y".


def _cross_entropy(z, y, w, p):
    eps, lam = p["label_smoothing"], p["z_loss"]
    lse = _lse(z)
    log_p = z - lse[:, None]
    w_y = w[y]
    # PyTorch: (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_j w_j·(-log p_j); z-loss λ·lse² weighted by w_y.
    loss = (1 - eps) * w_y * (-_pick(log_p, y)) + (eps / z.shape[1]) * (-(w[None, :] * log_p).sum(axis=1))
    return loss + lam * w_y * lse**2, w_y


def _weighted(per_sample):
    def loss(z, y, w, p):
        return per_sample(z, y, p) * w[y], w[y]

    return loss


def _expectation(z, y, p):
    return 1.0 - jnp.exp(_pick(z, y) - _lse(z))


def _ce_expectation_mix(z, y, p):
    alpha = schedule_value(p["schedule"], p["progress"], value=p["alpha"], start=p["alpha_start"],
                           end=p["alpha_end"], t_switch=p["t_switch"])
    return (1 - alpha) * _ce(z, y) + alpha * p["beta"] * _expectation(z, y, p)


def _squentropy(z, y, p):
    classes = z.shape[1]
    square = (_off_target(z, y) * z**2).sum(axis=1) / (classes - 1) if classes > 1 else 0.0
    return _ce(z, y) + square


def _square(z, y, p):
    k, big_m = p["k"], p["M"]
    return (k * (_pick(z, y) - big_m) ** 2 + (_off_target(z, y) * z**2).sum(axis=1)) / z.shape[1]


def _hem_margin(y, classes, p):
    if p["class_counts"] is None:
        return p["margin"]
    counts = jnp.asarray(p["class_counts"], dtype=jnp.float64)
    return jnp.sqrt(p["M"] / (classes * counts))[y]  # HEM+: the margin of the sample's target class


def _hem(z, y, p):
    mu = _hem_margin(y, z.shape[1], p)
    mu = mu[:, None] if jnp.ndim(mu) else mu
    e = _off_target(z, y) * jnp.maximum(0.0, z - _pick(z, y)[:, None] + mu)
    fixed = jax.lax.stop_gradient(e)
    positive = fixed > 0
    count = positive.sum(axis=1)
    tau = jnp.where(count > 0, fixed.sum(axis=1) / jnp.maximum(count, 1), 0.0)
    high = positive & (fixed >= tau[:, None])  # ties with τ are in H
    size = high.sum(axis=1)
    return jnp.where(size > 0, jnp.where(high, e, 0.0).sum(axis=1) / jnp.maximum(size, 1), 0.0)


def _multi_margin(z, y, p):
    hinge = jnp.maximum(0.0, p["margin"] - _pick(z, y)[:, None] + z)
    return (_off_target(z, y) * hinge ** int(p["p"])).sum(axis=1) / z.shape[1]


def _logit_norm(z, y, p):
    norm = jnp.sqrt((z**2).sum(axis=1, keepdims=True))
    return _ce(z / (p["tau"] * (norm + LOGIT_NORM_EPS)), y)


def _logit_adjusted(z, y, p):
    return _ce(z + p["tau"] * jnp.log(jnp.asarray(p["priors"], dtype=jnp.float64))[None, :], y)


def _focal(z, y, p):
    log_p_y = _pick(z, y) - _lse(z)
    return -((1.0 - jnp.exp(log_p_y)) ** p["gamma"]) * log_p_y


PER_SAMPLE = {
    "cross_entropy": _cross_entropy,
    "expectation": _weighted(_expectation),
    "ce_expectation_mix": _weighted(_ce_expectation_mix),
    "squentropy": _weighted(_squentropy),
    "square": _weighted(_square),
    "hem": _weighted(_hem),
    "multi_margin": _weighted(_multi_margin),
    "logit_norm": _weighted(_logit_norm),
    "logit_adjusted": _weighted(_logit_adjusted),
    "focal": _weighted(_focal),
}


def _dice(z, y, kept, w, p):
    """Soft Dice over every pixel not ignored: L = 1 - Σ_c w_c·D_c / Σ_c w_c over the counted classes."""
    s = p["smooth"]
    probs = jax.nn.softmax(z, axis=1) * kept[:, None]
    onehot = jax.nn.one_hot(y, z.shape[1], dtype=z.dtype) * kept[:, None]
    intersection = (probs * onehot).sum(axis=0)
    total = probs.sum(axis=0) + onehot.sum(axis=0)
    dice = (2 * intersection + s) / (total + s)
    counted = (onehot.sum(axis=0) > 0) if p["skip_absent"] else jnp.ones(z.shape[1], dtype=bool)
    weights = jnp.where(counted, w, 0.0)
    weight_total = weights.sum()
    return jnp.where(weight_total > 0, 1.0 - (weights * dice).sum() / jnp.where(weight_total > 0, weight_total, 1.0), 0.0)


def _setup(name, shape, target, weight, ignore_index, params):
    p = dict(DEFAULTS[name])
    unknown = set(params or {}) - set(p) - {"nan_policy"}
    if unknown:
        raise ValueError(f"reference of {name} has no parameter(s) {sorted(unknown)}")
    p.update(params or {})
    labels = np.asarray(target).reshape(-1).astype(np.int64)
    kept_np = labels != ignore_index
    y = jnp.asarray(np.where(kept_np, labels, 0))
    kept = jnp.asarray(kept_np.astype(np.float64))
    w = jnp.ones(shape[1]) if weight is None else jnp.asarray(np.asarray(weight, dtype=np.float64))
    return y, kept, w, p


def _per_sample(name, y, kept, w, p):
    """z rows -> (per-sample weighted losses with ignored samples 0, their weights w_y or 0)."""
    function = PER_SAMPLE[name]

    def per_sample(z):
        loss, sample_weight = function(z, y, w, p)
        return jnp.where(kept > 0, loss, 0.0), sample_weight * kept

    return per_sample


def scalar_loss(
    name: str,
    shape: tuple[int, ...],
    target: np.ndarray,
    *,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    params: dict[str, object] | None = None,
):
    """The reduced loss ("mean" or "sum"; dice: "mean") as a jax function of z rows (S, C) in float64."""
    y, kept, w, p = _setup(name, shape, target, weight, ignore_index, params)
    if name == "dice":
        if reduction != "mean":
            raise ValueError("dice is mean-only")
        return lambda z: _dice(z, y, kept, w, p)
    per_sample = _per_sample(name, y, kept, w, p)

    def reduced(z):
        losses, sample_weight = per_sample(z)
        if reduction == "sum":
            return losses.sum()
        denominator = sample_weight.sum()
        # All ignored (or zero total weight): 0 with a zero gradient (README, where PyTorch gives NaN).
        return jnp.where(denominator > 0, losses.sum() / jnp.where(denominator > 0, denominator, 1.0), 0.0)

    if reduction not in ("mean", "sum"):
        raise ValueError(reduction)
    return reduced


def reference(
    name: str,
    logits: np.ndarray,
    target: np.ndarray,
    *,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    dloss: float | np.ndarray = 1.0,
    params: dict[str, object] | None = None,
) -> tuple[float | np.ndarray, np.ndarray]:
    """(loss, dloss * dL/dlogits) of loss `name`, in float64, by JAX autograd.

    The inputs are taken at their exact values (float32 arrays are widened, not re-rounded). Reduction
    "none": loss of shape (N, d1..dk), gradient the vjp of the per-sample losses with `dloss` (shape of
    the loss or a scalar); "mean"/"sum": a float, gradient dloss·∇L.
    """
    shape = logits.shape
    z = jnp.asarray(rows(np.asarray(logits, dtype=np.float64)))
    if reduction == "none":
        if name == "dice":
            raise ValueError("dice is mean-only")
        y, kept, w, p = _setup(name, shape, target, weight, ignore_index, params)
        losses, vjp = jax.vjp(lambda zz: _per_sample(name, y, kept, w, p)(zz)[0], z)
        upstream = np.broadcast_to(np.asarray(dloss, dtype=np.float64).reshape(-1), losses.shape)
        (grad,) = vjp(jnp.asarray(upstream))
        return np.asarray(losses).reshape((shape[0],) + shape[2:]), unrows(np.asarray(grad), shape)
    function = scalar_loss(name, shape, target, reduction=reduction, weight=weight, ignore_index=ignore_index,
                           params=params)
    loss, grad = jax.value_and_grad(function)(z)
    return float(loss), unrows(np.asarray(grad) * float(dloss), shape)


def kink_distance(name: str, logits: np.ndarray, target: np.ndarray, *, ignore_index: int = -100,
                  params: dict[str, object] | None = None) -> float:
    """How far (in logit units) the batch is from a kink of hem / multi_margin; inf for smooth losses.

    multi_margin: every hinge argument m - z_y + z_j. hem: every e_j's argument z_j - z_y + μ, and,
    for rows with at least two positive errors, every positive e_j's distance to the threshold τ
    (crossing it changes the high set H). Only samples not ignored count.
    """
    if name not in ("hem", "multi_margin"):
        return float("inf")
    p = dict(DEFAULTS[name])
    p.update(params or {})
    z = rows(np.asarray(logits, dtype=np.float64))
    labels = np.asarray(target).reshape(-1).astype(np.int64)
    kept = labels != ignore_index
    z, y = z[kept], labels[kept]
    if z.size == 0:
        return float("inf")
    classes = z.shape[1]
    z_y = z[np.arange(len(y)), y][:, None]
    off = np.ones_like(z, dtype=bool)
    off[np.arange(len(y)), y] = False
    if name == "multi_margin":
        return float(np.abs(p["margin"] - z_y + z)[off].min())
    if p["class_counts"] is None:
        mu = p["margin"]
    else:
        mu = np.sqrt(p["M"] / (classes * np.asarray(p["class_counts"], dtype=np.float64)))[y][:, None]
    argument = z - z_y + mu
    distance = np.abs(argument)[off].min()
    e = np.where(off, np.maximum(argument, 0.0), 0.0)
    positive = e > 0
    count = positive.sum(axis=1)
    tau = e.sum(axis=1) / np.maximum(count, 1)
    several = (count >= 2)[:, None] & positive
    if several.any():
        distance = min(distance, np.abs(e - tau[:, None])[several].min())
    return float(distance)
