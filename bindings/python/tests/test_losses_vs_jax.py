"""Every loss of the library against an independent JAX autograd reference (jax_reference.py).

For each loss and parameter set: batches (64, 10), (8, 1000) and (2, 5, 4, 4), float64 and float32,
reductions none / mean / sum (dice: mean), class weights (one of them 0) and about a third of the
samples ignored, a random upstream gradient. Error of an array a against the reference b:

    max_i |a_i - b_i| / (|b_i| + FLOOR·max_j |b_j|)

relative, except that entries below FLOOR = 1 % of the array's largest (near-zero losses, gradient
entries of unlikely classes) are compared absolutely, at 1 % of the array's scale. It must stay below
1e-10 in float64 and 1e-5 in float32; the worst per loss and dtype is printed at the end of the run
(conftest.py). Why 1 %: small float32 gradient entries that come out of a cancellation (Dice's
a_ic - Σ_c p_ic·a_ic, p_y - 1) carry an error of a few float32 ulps of the *terms*, which relative to
an entry at 0.1 % of the scale is already up to 8e-6 even with a correctly rounded softmax.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import losskit
import worst_errors
from batches import make_logits, make_target, make_weight
import jax

from jax_reference import kink_distance, reference, rows, scalar_loss

SHAPES = {"64x10": (64, 10), "8x1000": (8, 1000), "2x5x4x4": (2, 5, 4, 4)}
DTYPES = {"float64": np.float64, "float32": np.float32}
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
FLOOR = 1e-2
KINK = 1e-4  # hem / multi_margin batches are redrawn until every kink is at least this far


def _priors(classes: int) -> np.ndarray:
    p = np.linspace(1.0, 5.0, classes)
    return p / p.sum()


def _counts(classes: int) -> np.ndarray:
    return np.round(np.geomspace(500.0, 3.0, classes))


# (loss, id, params); a callable value is called with C to build a per-class vector.
CONFIGS = [
    ("cross_entropy", "default", {}),
    ("cross_entropy", "ls0.1-z0.01", {"label_smoothing": 0.1, "z_loss": 0.01}),
    ("expectation", "default", {}),
    ("ce_expectation_mix", "constant", {"schedule": "constant", "alpha": 0.3, "beta": 2.5}),
    ("ce_expectation_mix", "linear", {"schedule": "linear", "alpha_start": 0.1, "alpha_end": 0.9,
                                      "progress": 0.37, "beta": 1.5}),
    ("ce_expectation_mix", "cosine", {"schedule": "cosine", "alpha_start": 0.2, "alpha_end": 1.0,
                                      "progress": 0.61, "beta": 0.5}),
    ("ce_expectation_mix", "step", {"schedule": "step", "alpha_start": 0.1, "alpha_end": 0.7,
                                    "t_switch": 0.6, "progress": 0.65, "beta": 3.0}),
    ("squentropy", "default", {}),
    ("square", "default", {}),
    ("square", "k3-M5", {"k": 3.0, "M": 5.0}),
    ("hem", "default", {}),
    ("hem", "margin1.5", {"margin": 1.5}),
    ("hem", "hem+", {"class_counts": _counts, "M": 4.0}),
    ("multi_margin", "default", {}),
    ("multi_margin", "m0.5-p2", {"margin": 0.5, "p": 2}),
    ("logit_norm", "default", {}),
    ("logit_norm", "tau0.5", {"tau": 0.5}),
    ("logit_adjusted", "tau1", {"priors": _priors}),
    ("logit_adjusted", "tau0.5", {"priors": _priors, "tau": 0.5}),
    ("focal", "default", {}),
    ("focal", "gamma0", {"gamma": 0.0}),
    ("focal", "gamma1.5", {"gamma": 1.5}),
    ("dice", "default", {}),
    ("dice", "s0.5-skip", {"smooth": 0.5, "skip_absent": 1}),
    ("dice", "s0", {"smooth": 0.0}),
]


def _cases():
    for loss, config, params in CONFIGS:
        for shape_id in SHAPES:
            for reduction in ["mean"] if loss == "dice" else ["none", "mean", "sum"]:
                for dtype in DTYPES:
                    yield pytest.param(loss, params, shape_id, reduction, dtype, True,
                                       id=f"{loss}-{config}-{shape_id}-{reduction}-{dtype}")
        # Without class weights (a NULL weight pointer in the library), default ignore_index.
        for reduction in ["mean"] if loss == "dice" else ["none", "mean"]:
            for dtype in DTYPES:
                yield pytest.param(loss, params, "64x10", reduction, dtype, False,
                                   id=f"{loss}-{config}-64x10-{reduction}-{dtype}-unweighted")


def combined_error(actual: np.ndarray | float, expected: np.ndarray | float) -> float:
    """max |a - b| / (|b| + FLOOR·max|b|); 0 for two empty arrays."""
    a = np.asarray(actual, dtype=np.float64).reshape(-1)
    b = np.asarray(expected, dtype=np.float64).reshape(-1)
    assert a.shape == b.shape
    if b.size == 0:
        return 0.0
    scale = np.abs(b).max()
    denominator = np.abs(b) + FLOOR * scale
    difference = np.abs(a - b)
    # An all-zero reference (e.g. the gradient of a batch with nothing kept) must be matched exactly.
    if scale == 0:
        return 0.0 if not difference.any() else float("inf")
    return float(np.max(difference / denominator))


def _draw(rng, loss, params, shape, dtype, weighted):
    """A batch for one case; hem / multi_margin batches are redrawn until no kink is within KINK."""
    # A non-default ignore_index for the weighted 4-D batches.
    ignore_index = -1 if weighted and len(shape) > 2 else -100
    for _ in range(1000):
        logits = make_logits(rng, shape, dtype)
        target = make_target(rng, shape, "int64", dtype, ignore=True, ignore_index=ignore_index)
        if kink_distance(loss, logits, target, ignore_index=ignore_index, params=params) >= KINK:
            weight = make_weight(rng, shape[1], dtype) if weighted else None
            return logits, target, weight, ignore_index
    raise AssertionError("could not draw a batch away from the kinks")


@pytest.mark.parametrize("loss,params,shape_id,reduction,dtype,weighted", _cases())
def test_matches_jax(loss, params, shape_id, reduction, dtype, weighted, request):
    rng = np.random.default_rng(zlib.crc32(request.node.callspec.id.encode()))
    shape = SHAPES[shape_id]
    params = {key: value(shape[1]) if callable(value) else value for key, value in params.items()}
    logits, target, weight, ignore_index = _draw(rng, loss, params, shape, DTYPES[dtype], weighted)
    samples = (shape[0],) + shape[2:]
    dloss = rng.normal(size=samples).astype(DTYPES[dtype]) if reduction == "none" else DTYPES[dtype](0.75)

    loss_value, grad = losskit.loss_and_grad(loss, logits, target, reduction=reduction, weight=weight,
                                             ignore_index=ignore_index, dloss=dloss, **params)
    expected_loss, expected_grad = reference(loss, logits, target, reduction=reduction, weight=weight,
                                             ignore_index=ignore_index, dloss=dloss, params=params)

    assert grad.shape == logits.shape and grad.dtype == logits.dtype
    if reduction == "none":
        assert loss_value.shape == samples and loss_value.dtype == logits.dtype
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(loss_value))
    error = max(combined_error(loss_value, expected_loss), combined_error(grad, expected_grad))
    worst_errors.record(loss, dtype, error, request.node.callspec.id)
    assert error <= TOLERANCE[dtype], (
        f"error {error:.3e} > {TOLERANCE[dtype]:.0e}: loss {loss_value} vs {expected_loss}; "
        f"grad entry error {combined_error(grad, expected_grad):.3e}"
    )


def test_every_loss_is_covered():
    # A loss added to the library must get a reference and a config here.
    built_in = {name for name in losskit.losses() if not name.startswith(("my_", "py_", "plugin_"))}
    assert built_in <= {loss for loss, _, _ in CONFIGS}, built_in - {loss for loss, _, _ in CONFIGS}


# --- the reference checks itself: its gradient against central finite differences -----------


@pytest.mark.parametrize("loss,params", [(loss, params) for loss, _, params in CONFIGS],
                         ids=[f"{loss}-{config}" for loss, config, _ in CONFIGS])
def test_reference_gradient_is_the_derivative(loss, params):
    rng = np.random.default_rng(zlib.crc32(f"fd-{loss}-{params}".encode()))
    shape = (3, 4, 2)
    params = {key: value(shape[1]) if callable(value) else value for key, value in params.items()}
    logits, target, weight, ignore_index = _draw(rng, loss, params, shape, np.float64, True)
    _, grad = reference(loss, logits, target, reduction="mean", weight=weight, ignore_index=ignore_index,
                        params=params)
    function = jax.jit(scalar_loss(loss, shape, target, reduction="mean", weight=weight,
                                   ignore_index=ignore_index, params=params))
    numeric = np.empty_like(logits)
    step = 1e-6
    for index in np.ndindex(*shape):
        bumped = logits.copy()
        bumped[index] += step
        up = float(function(rows(bumped)))
        bumped[index] -= 2 * step
        down = float(function(rows(bumped)))
        numeric[index] = (up - down) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


# --- property: adding a constant to a sample's logits changes nothing ------------------------

SHIFT_LOSSES = [("cross_entropy", {}), ("multi_margin", {}), ("multi_margin", {"p": 2, "margin": 0.5}),
                ("hem", {}), ("hem", {"class_counts": _counts, "M": 2.0})]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 7), (2, 6, 3, 2)], ids=["NC", "NCdd"])
@pytest.mark.parametrize("loss,params", SHIFT_LOSSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SHIFT_LOSSES)])
def test_shift_invariance(loss, params, shape, dtype, seed):
    """L(z + c·1) = L(z) and the same gradient, for a different constant c per sample.

    Logits and shifts are multiples of 1/64 (exact in float32 and float64, and so are their sums and
    differences), so the margin losses must give bit-identical results even at exact kinks; the
    cross-entropy's log-sum-exp may round differently by a few ulps of the shifted logits.
    """
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype]
    params = {key: value(shape[1]) if callable(value) else value for key, value in params.items()}
    logits = (np.round(rng.normal(scale=3.0, size=shape) * 64) / 64).astype(dtype)
    samples = (shape[0],) + shape[2:]
    shift = np.round(rng.uniform(-40, 40, size=samples) * 64) / 64
    shifted = (logits + np.expand_dims(shift, 1)).astype(dtype)
    assert np.array_equal(shifted.astype(np.float64) - np.expand_dims(shift, 1), logits.astype(np.float64))
    target = make_target(rng, shape, "int64", dtype, ignore=True)
    weight = make_weight(rng, shape[1], dtype)
    for reduction in ["none", "mean", "sum"]:
        options = dict(reduction=reduction, weight=weight, **params)
        loss_a, grad_a = losskit.loss_and_grad(loss, logits, target, **options)
        loss_b, grad_b = losskit.loss_and_grad(loss, shifted, target, **options)
        if loss == "cross_entropy":
            tol = 1e-12 if dtype is np.float64 else 2e-5  # a few ulps of |z| up to ~50
            np.testing.assert_allclose(loss_b, loss_a, rtol=tol, atol=tol)
            np.testing.assert_allclose(grad_b, grad_a, rtol=tol, atol=tol)
        else:
            np.testing.assert_array_equal(loss_b, loss_a)
            np.testing.assert_array_equal(grad_b, grad_a)
