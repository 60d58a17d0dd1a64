"""losskit.mix / losskit.Mix: weighted sums of losses with constant or scheduled weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Mix, Status
from batches import make_logits, make_target, make_weight

PROGRESS = [0.0, 0.5, 1.0]


def schedule(kind: str, t: float, *, start: float = 1.0, end: float = 1.0, t_switch: float = 0.5,
             value: float = 1.0) -> float:
    """A schedule's value at t, written from the README's formulas."""
    return {
        "constant": value,
        "linear": start + (end - start) * t,
        "cosine": start + (end - start) * (1 - math.cos(math.pi * t)) / 2,
        "step": start if t < t_switch else end,
    }[kind]


@pytest.fixture(params=[((12, 5), np.float64), ((2, 4, 3, 2), np.float32)], ids=["NC-float64", "NCdd-float32"])
def batch(request):
    shape, dtype = request.param
    rng = np.random.default_rng(21)
    logits = make_logits(rng, shape, dtype)
    target = make_target(rng, shape, "int64", dtype, ignore=True)
    weight = make_weight(rng, shape[1], dtype)
    dloss = rng.normal(size=(shape[0],) + shape[2:]).astype(dtype)
    return logits, target, weight, dloss


def _tolerance(logits):
    return 1e-12 if logits.dtype == np.float64 else 2e-6


def _assert_close(actual, expected, logits):
    tol = _tolerance(logits)
    np.testing.assert_allclose(actual[0], expected[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(actual[1], expected[1], rtol=tol, atol=tol)


def _weighted_sum(parts, weights, reduction):
    loss = sum(w * np.asarray(p[0], dtype=np.float64) for w, p in zip(weights, parts))
    grad = sum(w * p[1].astype(np.float64) for w, p in zip(weights, parts))
    return (float(loss) if reduction != "none" else loss), grad


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("t", PROGRESS)
def test_linear_mix_is_the_weighted_sum(batch, reduction, t):
    logits, target, weight, dloss = batch
    options = dict(reduction=reduction, weight=weight, dloss=dloss if reduction == "none" else 0.75)
    mix = losskit.mix([("cross_entropy", {}), ("squentropy", {})],
                      weights=[{"schedule": "linear", "start": 1, "end": 0},
                               {"schedule": "linear", "start": 0.2, "end": 2.0}])
    actual = mix.loss_and_grad(logits, target, progress=t, **options)
    parts = [losskit.loss_and_grad(name, logits, target, **options) for name in ("cross_entropy", "squentropy")]
    expected = _weighted_sum(parts, [1 - t, 0.2 + 1.8 * t], reduction)
    _assert_close(actual, expected, logits)
    # The same through losskit.loss_and_grad.
    _assert_close(losskit.loss_and_grad(mix, logits, target, progress=t, **options), expected, logits)


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine", "step"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_every_schedule(batch, kind, t):
    logits, target, weight, _ = batch
    spec = {"schedule": kind, "value": 0.7, "start": 0.25, "end": 1.5, "t_switch": 0.5}
    mix = losskit.mix([("focal", {"gamma": 1.0}), "expectation"], weights=[spec, 0.4])
    expected_weight = schedule(kind, t, start=0.25, end=1.5, t_switch=0.5, value=0.7)
    parts = [losskit.loss_and_grad(n, logits, target, weight=weight, **p)
             for n, p in (("focal", {"gamma": 1.0}), ("expectation", {}))]
    expected = _weighted_sum(parts, [expected_weight, 0.4], "mean")
    _assert_close(mix.loss_and_grad(logits, target, progress=t, weight=weight), expected, logits)


def test_default_progress_is_the_mix_parameter(batch):
    logits, target, weight, _ = batch
    weights = [{"schedule": "linear", "start": 1, "end": 0}, {"schedule": "linear", "start": 0, "end": 1}]
    at_default = losskit.mix(["cross_entropy", "square"], weights)
    assert at_default.get_param("progress") == 0.0
    _assert_close(at_default.loss_and_grad(logits, target), at_default.loss_and_grad(logits, target, progress=0.0),
                  logits)
    late = losskit.mix(["cross_entropy", "square"], weights, progress=0.9)
    assert late.get_param("progress") == pytest.approx(0.9)
    assert late.get_param("w0_end") == 0.0 and late.get_param("w1_start") == 0.0
    _assert_close(late.loss_and_grad(logits, target), late.loss_and_grad(logits, target, progress=0.9), logits)


def test_constant_weights_and_params_of_components(batch):
    logits, target, weight, _ = batch
    mix = losskit.mix([("cross_entropy", {"label_smoothing": 0.1}), ("hem", {"margin": 0.3})], weights=[2.0, 0.5])
    parts = [losskit.loss_and_grad("cross_entropy", logits, target, reduction="sum", label_smoothing=0.1),
             losskit.loss_and_grad("hem", logits, target, reduction="sum", margin=0.3)]
    _assert_close(mix.loss_and_grad(logits, target, reduction="sum"), _weighted_sum(parts, [2.0, 0.5], "sum"),
                  logits)


def test_default_weights_are_one(batch):
    logits, target, _, _ = batch
    mix = losskit.mix(["cross_entropy", "expectation"])
    parts = [losskit.loss_and_grad(n, logits, target) for n in ("cross_entropy", "expectation")]
    _assert_close(mix.loss_and_grad(logits, target), _weighted_sum(parts, [1, 1], "mean"), logits)


@pytest.mark.parametrize("t", PROGRESS)
def test_mix_of_mix(batch, t):
    logits, target, weight, _ = batch
    inner = losskit.mix(["cross_entropy", "squentropy"],
                        weights=[{"schedule": "linear", "start": 1, "end": 0}, 0.5])
    outer = losskit.mix([inner, ("logit_adjusted", {"priors": np.linspace(1, 2, logits.shape[1]) / 10})],
                        weights=[{"schedule": "cosine", "start": 0.5, "end": 1.0}, 0.25])
    inner.close()  # the outer mix holds its own copy
    priors = np.linspace(1, 2, logits.shape[1]) / 10
    parts = [losskit.loss_and_grad(n, logits, target, weight=weight, **p)
             for n, p in (("cross_entropy", {}), ("squentropy", {}), ("logit_adjusted", {"priors": priors}))]
    w_inner = schedule("cosine", t, start=0.5, end=1.0)
    expected = _weighted_sum(parts, [w_inner * (1 - t), w_inner * 0.5, 0.25], "mean")
    _assert_close(outer.loss_and_grad(logits, target, progress=t, weight=weight), expected, logits)


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine", "step"])
@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_ce_expectation_mix_is_a_mix(batch, kind, t, reduction):
    """ce_expectation_mix = (1-α)·CE + α·β·EXP: a mix with weights (1-α, α·β), both on α's schedule."""
    logits, target, weight, dloss = batch
    alpha = dict(value=0.35, start=0.1, end=0.9, t_switch=0.4)
    beta = 2.5
    options = dict(reduction=reduction, weight=weight, dloss=dloss if reduction == "none" else 1.0)
    builtin = losskit.loss_and_grad("ce_expectation_mix", logits, target, schedule=kind, alpha=alpha["value"],
                                    alpha_start=alpha["start"], alpha_end=alpha["end"],
                                    t_switch=alpha["t_switch"], beta=beta, progress=t, **options)
    # Every schedule is affine in its (start, end) or constant, so 1-α and α·β are the same schedule
    # of the transformed endpoints.
    one_minus = {"schedule": kind, "value": 1 - alpha["value"], "start": 1 - alpha["start"],
                 "end": 1 - alpha["end"], "t_switch": alpha["t_switch"]}
    scaled = {"schedule": kind, "value": beta * alpha["value"], "start": beta * alpha["start"],
              "end": beta * alpha["end"], "t_switch": alpha["t_switch"]}
    mix = losskit.mix(["cross_entropy", "expectation"], weights=[one_minus, scaled])
    _assert_close(mix.loss_and_grad(logits, target, progress=t, **options), builtin, logits)
    # And both equal the weighted sum with α from the README's schedule formula.
    a = schedule(kind, t, **alpha)
    parts = [losskit.loss_and_grad(n, logits, target, **options) for n in ("cross_entropy", "expectation")]
    _assert_close(builtin, _weighted_sum(parts, [1 - a, a * beta], reduction), logits)


def test_progress_per_call_reaches_ce_expectation_mix_inside_a_mix(batch):
    logits, target, _, _ = batch
    inner = ("ce_expectation_mix", {"schedule": "linear", "alpha_start": 0.0, "alpha_end": 1.0})
    mix = losskit.mix([inner])
    for t in PROGRESS:
        expected = losskit.loss_and_grad("ce_expectation_mix", logits, target, schedule="linear",
                                         alpha_start=0.0, alpha_end=1.0, progress=t)
        _assert_close(mix.loss_and_grad(logits, target, progress=t), expected, logits)


def test_mix_in_place_and_out(batch):
    logits, target, weight, _ = batch
    mix = losskit.mix(["cross_entropy", "squentropy"], weights=[0.3, 0.7])
    expected = mix.loss_and_grad(logits, target, weight=weight)
    out = np.empty_like(logits)
    loss, grad = mix.loss_and_grad(logits, target, weight=weight, out=out)
    assert grad is out and loss == expected[0]
    buffer = logits.copy()
    loss, grad = mix.loss_and_grad(buffer, target, weight=weight, inplace=True)
    assert grad is buffer
    np.testing.assert_array_equal(buffer, expected[1])


# --- errors and lifetime ----------------------------------------------------------------------------


def test_progress_out_of_range(batch):
    logits, target, _, _ = batch
    mix = losskit.mix(["cross_entropy"])
    for bad in [-0.1, 1.5, float("nan")]:
        with pytest.raises(LossKitError) as info:
            mix.loss_and_grad(logits, target, progress=bad)
        assert info.value.status == Status.ERROR_BAD_PARAM
    with pytest.raises(TypeError):
        mix.loss_and_grad(logits, target, progress="late")


@pytest.mark.parametrize("components,weights,error,status", [
    ([], None, ValueError, None),
    (["cross_entropy"], [1.0, 2.0], ValueError, None),
    (["cross_entropy"], [-1.0], LossKitError, Status.ERROR_BAD_PARAM),
    (["cross_entropy"], [{"schedule": "sometimes"}], LossKitError, Status.ERROR_BAD_PARAM),
    (["cross_entropy"], [{"schedule": "linear", "slope": 2}], ValueError, None),
    (["cross_entropy"], [{"start": 0, "end": 1}], ValueError, None),
    (["cross_entropy"], [{"schedule": "step", "t_switch": 2.0}], LossKitError, Status.ERROR_BAD_PARAM),
    (["cross_entropy"], ["heavy"], TypeError, None),
    (["no_such_loss"], None, LossKitError, Status.ERROR_UNKNOWN_LOSS),
    ([("cross_entropy", {"label_smoothing": 3.0})], None, LossKitError, Status.ERROR_BAD_PARAM),
    ([("cross_entropy", {"no_such_param": 1.0})], None, LossKitError, Status.ERROR_UNKNOWN_PARAM),
    ([("cross_entropy", [1.0])], None, TypeError, None),
    ([42], None, TypeError, None),
])
def test_bad_mix(components, weights, error, status):
    with pytest.raises(error) as info:
        losskit.mix(components, weights)
    if status is not None:
        assert info.value.status == status


def test_unknown_param_for_mix_call(batch):
    logits, target, _, _ = batch
    with pytest.raises(TypeError):
        losskit.loss_and_grad(losskit.mix(["cross_entropy"]), logits, target, label_smoothing=0.1)


def test_bad_arrays_are_refused_before_the_library(batch):
    logits, target, _, _ = batch
    mix = losskit.mix(["cross_entropy"])
    with pytest.raises(LossKitError) as info:
        mix.loss_and_grad(logits, target[:1])
    assert info.value.status == Status.ERROR_BAD_SHAPE
    with pytest.raises(LossKitError) as info:
        mix.loss_and_grad(logits, target, reduction="median")
    assert info.value.status == Status.ERROR_BAD_REDUCTION


def test_closed_mix():
    mix = losskit.mix(["cross_entropy"])
    with mix as same:
        assert same is mix and "cross_entropy" in repr(mix)
    mix.close()  # twice is fine
    assert "closed" in repr(mix)
    with pytest.raises(ValueError, match="closed"):
        mix.loss_and_grad(np.zeros((1, 2)), np.array([0]))
    with pytest.raises(ValueError, match="closed"):
        losskit.mix([mix])


def test_mix_name_and_params():
    mix = Mix(["cross_entropy", "square"], [3.0, {"schedule": "step", "start": 0.5, "end": 2.0, "t_switch": 0.25}])
    assert isinstance(mix.name, str) and mix.name
    assert mix.get_param("w0") == 3.0
    assert (mix.get_param("w1_start"), mix.get_param("w1_end"), mix.get_param("w1_t_switch")) == (0.5, 2.0, 0.25)
    with pytest.raises(LossKitError) as info:
        mix.get_param("w2")
    assert info.value.status == Status.ERROR_UNKNOWN_PARAM
