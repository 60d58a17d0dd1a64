"""cross_entropy from the library against the float64 numpy reference, for every option combination."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import losskit
from batches import make_logits, make_target, make_weight
from reference import cross_entropy

LAYOUTS = {"NC": (7, 5), "NCdd": (3, 5, 2, 3)}
DTYPES = {"float64": np.float64, "float32": np.float32}
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def _cases():
    for reduction, weighted, smoothing, z_loss, layout, dtype, kind, ignore in itertools.product(
        ["mean", "sum", "none"], [False, True], [0.0, 0.1], [0.0, 0.05], LAYOUTS, DTYPES,
        ["int32", "int64", "prob"], [False, True],
    ):
        if kind == "prob" and ignore:
            continue  # probability targets have no ignore_index
        yield pytest.param(
            reduction, weighted, smoothing, z_loss, layout, dtype, kind, ignore,
            id=f"{reduction}-{'w' if weighted else 'nw'}-ls{smoothing}-z{z_loss}-{layout}-{dtype}-{kind}"
            + ("-ignore" if ignore else ""),
        )


def assert_matches(actual, expected, dtype) -> None:
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def _compare(logits, target, **options):
    loss, grad = losskit.loss_and_grad("cross_entropy", logits, target, **options)
    expected_loss, expected_grad = cross_entropy(logits, target, **options)
    dtype = logits.dtype.type
    assert grad.dtype == logits.dtype and grad.shape == logits.shape
    if options.get("reduction") == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == logits.dtype
        assert loss.shape == (logits.shape[0],) + logits.shape[2:]
    else:
        assert isinstance(loss, float)
    assert_matches(loss, expected_loss, dtype)
    assert_matches(grad, expected_grad, dtype)


@pytest.mark.parametrize("reduction,weighted,smoothing,z_loss,layout,dtype,kind,ignore", _cases())
def test_matches_reference(reduction, weighted, smoothing, z_loss, layout, dtype, kind, ignore):
    # A seed per case, stable across runs (hash() of a str is not).
    case = (reduction, weighted, smoothing, z_loss, layout, dtype, kind)
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    shape, dtype = LAYOUTS[layout], DTYPES[dtype]
    logits = make_logits(rng, shape, dtype)
    target = make_target(rng, shape, kind, dtype, ignore=ignore)
    weight = make_weight(rng, shape[1], dtype) if weighted else None
    _compare(logits, target, reduction=reduction, weight=weight, label_smoothing=smoothing, z_loss=z_loss)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["int64", "prob"])
def test_dloss_scales_gradient(reduction, layout, dtype, kind):
    rng = np.random.default_rng(7)
    shape, dtype = LAYOUTS[layout], DTYPES[dtype]
    logits = make_logits(rng, shape, dtype)
    target = make_target(rng, shape, kind, dtype, ignore=kind != "prob")
    samples = (shape[0],) + shape[2:]
    dloss = rng.normal(size=samples).astype(dtype) if reduction == "none" else -0.37
    _compare(logits, target, reduction=reduction, weight=make_weight(rng, shape[1], dtype),
             label_smoothing=0.2, z_loss=0.01, dloss=dloss)


def test_scalar_dloss_broadcasts_for_none():
    rng = np.random.default_rng(3)
    logits = make_logits(rng, (4, 3), np.float64)
    target = make_target(rng, (4, 3), "int64", np.float64)
    _compare(logits, target, reduction="none", dloss=2.5)


def test_dloss_one_equals_default():
    rng = np.random.default_rng(4)
    logits = make_logits(rng, (5, 4), np.float64)
    target = make_target(rng, (5, 4), "int64", np.float64)
    default = losskit.loss_and_grad("cross_entropy", logits, target, reduction="none")
    explicit = losskit.loss_and_grad("cross_entropy", logits, target, reduction="none", dloss=np.ones(5))
    np.testing.assert_array_equal(default[0], explicit[0])
    np.testing.assert_array_equal(default[1], explicit[1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_ignored(reduction):
    logits = make_logits(np.random.default_rng(5), (4, 3, 2), np.float64)
    target = np.full((4, 2), -100)
    loss, grad = losskit.loss_and_grad("cross_entropy", logits, target, reduction=reduction, label_smoothing=0.1)
    np.testing.assert_array_equal(loss, 0.0)  # PyTorch gives NaN for mean; losskit gives 0
    np.testing.assert_array_equal(grad, 0.0)


def test_ignore_index_that_is_a_class():
    rng = np.random.default_rng(6)
    logits = make_logits(rng, (9, 4), np.float64)
    target = rng.integers(0, 4, size=9)
    target[:3] = 2
    _compare(logits, target, ignore_index=2, weight=np.array([1.0, 2.0, 3.0, 4.0]), label_smoothing=0.3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_batch(reduction):
    logits = np.zeros((0, 3, 2))
    loss, grad = losskit.loss_and_grad("cross_entropy", logits, np.zeros((0, 2), np.int64), reduction=reduction)
    assert grad.shape == (0, 3, 2)
    if reduction == "none":
        assert loss.shape == (0, 2)
    else:
        assert loss == 0.0


def test_masked_class_logits():
    # -inf marks a class that cannot be predicted: it is allowed and gets probability 0.
    rng = np.random.default_rng(8)
    logits = make_logits(rng, (6, 4), np.float64)
    logits[:, 3] = -np.inf
    target = rng.integers(0, 3, size=6)
    _compare(logits, target, weight=np.array([1.0, 0.5, 2.0, 1.0]))


def test_large_logits_are_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [-5e3, 5e3, 0.0]])
    target = np.array([0, 0])
    _compare(logits, target, reduction="none", z_loss=1e-6)


def test_single_class():
    logits = np.array([[3.0], [-2.0]])
    _compare(logits, np.array([0, 0]), label_smoothing=0.5)


def test_known_value():
    # Uniform logits: -log(1/C) per sample.
    loss, grad = losskit.loss_and_grad("cross_entropy", np.zeros((2, 4)), np.array([1, 3]))
    assert loss == pytest.approx(np.log(4.0), rel=1e-15)
    np.testing.assert_allclose(grad, (np.full((2, 4), 0.25) - np.eye(4)[[1, 3]]) / 2, rtol=1e-15)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_masked_target_class_is_infinite(smoothing):
    # The target class itself at -inf: loss +inf (with smoothing every masked class gives +inf too).
    logits = np.array([[0.5, -np.inf, 1.0], [0.2, 0.1, -np.inf]])
    _compare(logits, np.array([1, 0]), reduction="none", label_smoothing=smoothing)


@pytest.mark.parametrize("shape", [(6000, 7), (3, 7, 50, 40)], ids=["NC", "NCdd"])
@pytest.mark.parametrize("kind", ["int64", "prob"])
@pytest.mark.parametrize("inplace", [False, True])
def test_large_batches_span_several_chunks(restore_threads, shape, kind, inplace):
    # Over 2^15 elements the library splits the work into chunks run on several threads.
    losskit.set_num_threads(0)
    rng = np.random.default_rng(17)
    logits = make_logits(rng, shape, np.float64)
    target = make_target(rng, shape, kind, np.float64, ignore=kind != "prob")
    options = dict(weight=make_weight(rng, shape[1], np.float64), label_smoothing=0.1, z_loss=1e-3)
    expected_loss, expected_grad = cross_entropy(logits, target, **options)
    loss, grad = losskit.loss_and_grad("cross_entropy", logits, target, inplace=inplace, **options)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    assert_matches(grad, expected_grad, np.float64)
