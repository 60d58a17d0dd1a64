"""Every refused call raises LossKitError with the right status and a message, and writes nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Status

LOGITS = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
TARGET = np.array([0, 2])


def refused(status: Status, *args, **options) -> LossKitError:
    """Calls loss_and_grad, expects LossKitError with `status`, returns it."""
    if not args:
        args = ("cross_entropy", LOGITS, TARGET)
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad(*args, **options)
    error = info.value
    assert error.status == status, str(error)
    assert error.message and error.message in str(error)
    assert error.status_name in str(error)
    return error


def test_error_is_a_value_error_with_status():
    error = refused(Status.ERROR_UNKNOWN_LOSS, "no_such_loss", LOGITS, TARGET)
    assert isinstance(error, ValueError)
    assert error.status_name == "unknown loss"
    assert "no_such_loss" in error.message and "cross_entropy" in error.message


def test_unknown_param():
    error = refused(Status.ERROR_UNKNOWN_PARAM, temperature=2.0)
    assert "temperature" in error.message


@pytest.mark.parametrize("params", [
    {"label_smoothing": 1.5}, {"label_smoothing": -0.1}, {"label_smoothing": float("nan")},
    {"z_loss": -1.0}, {"z_loss": float("inf")}, {"nan_policy": "maybe"},
    {"label_smoothing": "high"}, {"nan_policy": 1.0}, {"label_smoothing": [0.1]},
])
def test_bad_param_value(params):
    error = refused(Status.ERROR_BAD_PARAM, **params)
    assert next(iter(params)) in error.message


@pytest.mark.parametrize("value", [True, None, {"a": 1.0}, [[0.1, 0.2]], ["a"], [True]])
def test_param_of_wrong_python_type(value):
    with pytest.raises(TypeError):
        losskit.loss_and_grad("cross_entropy", LOGITS, TARGET, label_smoothing=value)


@pytest.mark.parametrize("bad", [3, -1, 2**40])
def test_target_out_of_range(bad):
    error = refused(Status.ERROR_TARGET_OUT_OF_RANGE, "cross_entropy", LOGITS, np.array([0, bad]))
    assert str(bad) in error.message


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_logit(value):
    logits = LOGITS.copy()
    logits[1, 2] = value
    error = refused(Status.ERROR_NONFINITE_LOGIT, "cross_entropy", logits, TARGET)
    assert "sample 1" in error.message


def test_nan_policy_propagate_lets_nan_through():
    logits = LOGITS.copy()
    logits[1, 2] = np.nan
    loss, grad = losskit.loss_and_grad("cross_entropy", logits, TARGET, nan_policy="propagate", reduction="none")
    assert np.isnan(loss[1]) and np.isfinite(loss[0])
    assert np.isnan(grad[1]).all() and np.isfinite(grad[0]).all()


@pytest.mark.parametrize("args,options", [
    (("cross_entropy", LOGITS, np.array([0, 1, 2])), {}),
    (("cross_entropy", LOGITS, np.array([[0], [1]])), {}),
    (("cross_entropy", np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64)), {}),
    (("cross_entropy", LOGITS, np.full((2, 4), 0.25)), {}),
    (("cross_entropy", LOGITS, TARGET), {"weight": np.ones(4)}),
    (("cross_entropy", LOGITS, TARGET), {"weight": np.ones((1, 3))}),
    (("cross_entropy", LOGITS, TARGET), {"dloss": np.ones(3), "reduction": "none"}),
    (("cross_entropy", LOGITS, TARGET), {"dloss": np.ones(2), "reduction": "mean"}),
    (("cross_entropy", np.zeros(3), np.zeros((), np.int64)), {}),
], ids=["target-N", "target-ndim", "target-spatial", "prob-C", "weight-C", "weight-ndim",
        "dloss-none", "dloss-mean", "logits-1d"])
def test_shape_mismatch_is_caught_before_the_call(args, options):
    error = refused(Status.ERROR_BAD_SHAPE, *args, **options)
    assert "shape" in error.message


def test_shapes_the_library_refuses():
    refused(Status.ERROR_BAD_SHAPE, "cross_entropy", np.zeros((2, 0)), np.zeros(2, np.int64))
    too_many = (1,) * 17
    refused(Status.ERROR_BAD_SHAPE, "cross_entropy", np.zeros(too_many), np.zeros((1,) * 16, np.int64))


def test_bad_probabilities():
    refused(Status.ERROR_BAD_PROBABILITIES, "cross_entropy", LOGITS, np.full((2, 3), 0.5))
    refused(Status.ERROR_BAD_PROBABILITIES, "cross_entropy", LOGITS, np.array([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]]))


def test_bad_weight():
    refused(Status.ERROR_BAD_WEIGHT, weight=np.array([1.0, -1.0, 1.0]))
    refused(Status.ERROR_BAD_WEIGHT, weight=np.array([1.0, np.nan, 1.0]))


def test_bad_dloss():
    refused(Status.ERROR_BAD_DLOSS, dloss=np.inf)
    refused(Status.ERROR_BAD_DLOSS, dloss=np.array([1.0, np.nan]), reduction="none")


@pytest.mark.parametrize("reduction", ["avg", "MEAN", None])
def test_bad_reduction(reduction):
    refused(Status.ERROR_BAD_REDUCTION, reduction=reduction)


def test_aliasing_outputs_and_inputs():
    logits = np.array([[0.2, 0.8], [0.5, 0.5]])
    refused(Status.ERROR_ALIASING, "cross_entropy", logits, logits, inplace=True)
    q = np.array([[0.2, 0.8], [0.5, 0.5]])
    refused(Status.ERROR_ALIASING, "cross_entropy", logits, q, out=q)


def test_bad_python_types():
    with pytest.raises(TypeError):
        losskit.loss_and_grad("cross_entropy", LOGITS, np.array([True, False]))
    with pytest.raises(TypeError):
        losskit.loss_and_grad("cross_entropy", LOGITS.astype(complex), TARGET)
    with pytest.raises(TypeError):
        losskit.loss_and_grad("cross_entropy", LOGITS, TARGET, ignore_index=1.5)
    with pytest.raises(TypeError):
        losskit.loss_and_grad(b"cross_entropy", LOGITS, TARGET)
    with pytest.raises(ValueError):
        losskit.loss_and_grad("cross_entropy", LOGITS, TARGET, ignore_index=2**63)


@pytest.mark.parametrize("destination", ["inplace", "out"])
def test_outputs_untouched_on_error(destination):
    logits = LOGITS.copy()
    out = np.full_like(logits, 42.0)
    options = {"inplace": True} if destination == "inplace" else {"out": out}
    refused(Status.ERROR_TARGET_OUT_OF_RANGE, "cross_entropy", logits, np.array([0, 7]), **options)
    np.testing.assert_array_equal(logits, LOGITS)
    np.testing.assert_array_equal(out, 42.0)


def test_thread_count_errors(restore_threads):
    with pytest.raises(LossKitError) as info:
        losskit.set_num_threads(-1)
    assert info.value.status == Status.ERROR_BAD_PARAM
    with pytest.raises(LossKitError) as info:
        losskit.set_num_threads(2**40)
    assert info.value.status == Status.ERROR_BAD_PARAM


def test_each_thread_sees_its_own_message():
    # lk_last_error_message is per thread; ctypes releases the GIL during calls, so threads interleave.
    failures = []

    def worker(bad: int) -> None:
        for _ in range(200):
            try:
                losskit.loss_and_grad("cross_entropy", LOGITS, np.array([0, bad]))
            except LossKitError as error:
                if f"is {bad};" not in error.message:
                    failures.append(error.message)

    threads = [threading.Thread(target=worker, args=(bad,)) for bad in (3, 4, 5, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
