"""User losses written in Python (losskit.register), unregistering, and plugins (losskit.load_plugin)."""

from __future__ import annotations

import gc
import itertools
import math
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Status, registry
from batches import make_logits, make_target, make_weight

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIR = REPO / "examples" / "plugins"


def python_cross_entropy(row: np.ndarray, target: int) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy of one sample, written in numpy."""
    m = row.max()
    e = np.exp(row - m)
    total = e.sum()
    grad = e / total
    grad[target] -= 1.0
    return float(m + np.log(total) - row[target]), grad


_names = (f"py_loss_{i}" for i in itertools.count())


@pytest.fixture
def name():
    """A fresh loss name, unregistered again after the test if it is still there."""
    chosen = next(_names)
    yield chosen
    if chosen in losskit.losses():
        losskit.unregister(chosen)


@pytest.fixture
def my_ce():
    """'my_ce', the Python cross-entropy, registered for one test."""
    losskit.register("my_ce", python_cross_entropy)
    yield "my_ce"
    losskit.unregister("my_ce")


def _refused(status: Status, *args, **options) -> LossKitError:
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad(*args, **options)
    assert info.value.status == status, str(info.value)
    return info.value


# --- a Python loss behaves as the built-in it copies -----------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(9, 5), (2, 4, 3, 2)], ids=["NC", "NCdd"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("mode", ["out-of-place", "in-place"])
def test_python_cross_entropy_equals_builtin(my_ce, dtype, shape, reduction, weighted, mode):
    rng = np.random.default_rng(5)
    logits = make_logits(rng, shape, dtype)
    target = make_target(rng, shape, "int32", dtype, ignore=True, ignore_index=-7)
    samples = (shape[0],) + shape[2:]
    options = dict(
        reduction=reduction, ignore_index=-7, weight=make_weight(rng, shape[1], dtype) if weighted else None,
        dloss=rng.normal(size=samples) if reduction == "none" else 1.5,
    )
    expected_loss, expected_grad = losskit.loss_and_grad("cross_entropy", logits, target, **options)
    if mode == "in-place":
        buffer = logits.copy()
        loss, grad = losskit.loss_and_grad(my_ce, buffer, target, inplace=True, **options)
        assert grad is buffer
    else:
        loss, grad = losskit.loss_and_grad(my_ce, logits, target, **options)
    assert grad.dtype == logits.dtype and np.asarray(loss).dtype in (logits.dtype, np.float64)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-6)


def test_listed_while_registered(name):
    assert name not in losskit.losses()
    losskit.register(name, python_cross_entropy)
    assert name in losskit.losses()
    assert "cross_entropy" in losskit.losses()


def test_callback_gets_a_float64_copy_of_the_row_and_an_int_target(name):
    seen = []

    def spy(row, target):
        seen.append((row, target))
        return 0.0, np.zeros_like(row)

    losskit.register(name, spy)
    logits = np.arange(6, dtype=np.float32).reshape(2, 3)
    losskit.loss_and_grad(name, logits, np.array([2, -100]))
    assert len(seen) == 1  # the ignored sample is not asked
    row, target = seen[0]
    assert row.dtype == np.float64 and row.shape == (3,) and isinstance(target, int) and target == 2
    np.testing.assert_array_equal(row, [0.0, 1.0, 2.0])  # a copy: still intact after the call


def test_loss_only_and_lists_and_tuples_as_gradient(name):
    losskit.register(name, lambda row, y: (2.0, list(range(len(row)))))
    loss, grad = losskit.loss_and_grad(name, np.zeros((3, 4)), np.array([0, 1, 2]), reduction="sum")
    assert loss == 6.0
    np.testing.assert_array_equal(grad, np.tile(np.arange(4.0), (3, 1)))
    loss, grad = losskit.loss_and_grad(name, np.zeros((3, 4)), np.array([0, 1, 2]), grad=False)
    assert loss == 2.0 and grad is None


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("thread_safe", [False, True])
def test_many_threads(name, thread_safe):
    losskit.set_num_threads(4)
    losskit.register(name, python_cross_entropy, thread_safe=thread_safe)
    rng = np.random.default_rng(2)
    logits = make_logits(rng, (3000, 7), np.float64)
    target = make_target(rng, (3000, 7), "int64", np.float64, ignore=True)
    loss, grad = losskit.loss_and_grad(name, logits, target)
    expected_loss, expected_grad = losskit.loss_and_grad("cross_entropy", logits, target)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("thread_safe", [False, True])
def test_python_threads_at_once(name, thread_safe):
    losskit.set_num_threads(2)
    losskit.register(name, python_cross_entropy, thread_safe=thread_safe)
    rng = np.random.default_rng(3)
    logits = make_logits(rng, (200, 6), np.float64)
    target = make_target(rng, (200, 6), "int64", np.float64)
    expected, _ = losskit.loss_and_grad("cross_entropy", logits, target)
    results = []

    def work():
        for _ in range(5):
            results.append(losskit.loss_and_grad(name, logits, target)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20 and results == pytest.approx([expected] * 20, rel=1e-12)


# --- failures inside the callback ------------------------------------------------------------------


def _untouched_call(name, dtype=np.float64):
    """Calls loss `name` with sentinel outputs (out= and in place); returns the error of each."""
    rng = np.random.default_rng(8)
    logits = make_logits(rng, (5, 4), dtype)
    target = np.array([0, 1, 2, 3, 1])
    out = np.full_like(logits, 7.0)
    errors = []
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad(name, logits, target, out=out)
    errors.append(info.value)
    assert np.all(out == 7.0), "the gradient buffer was written by a failed call"
    buffer = logits.copy()
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad(name, buffer, target, inplace=True, reduction="none")
    errors.append(info.value)
    np.testing.assert_array_equal(buffer, logits)
    return errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_exception_becomes_callback_failed_with_its_message(name, dtype):
    calls = []

    def failing(row, target):
        calls.append(target)
        if target == 2:
            raise ArithmeticError("no luck with class 2")
        return python_cross_entropy(row, target)

    losskit.register(name, failing)
    for error in _untouched_call(name, dtype):
        assert error.status == Status.ERROR_CALLBACK_FAILED
        assert "no luck with class 2" in error.message and "ArithmeticError" in error.message
        assert name in error.message
    assert 2 in calls


@pytest.mark.parametrize("result,expected", [
    (lambda row: (0.0, np.zeros(len(row) + 1)), "shape"),
    (lambda row: (0.0, np.zeros((len(row), 1))), "shape"),
    (lambda row: (0.0,), "pair"),
    (lambda row: None, "pair"),
    (lambda row: ("not a number", np.zeros(len(row))), "ValueError"),
    (lambda row: (0.0, ["a"] * len(row)), "ValueError"),
], ids=["long-grad", "2d-grad", "one-value", "none", "text-loss", "text-grad"])
def test_wrong_return_becomes_callback_failed(name, result, expected):
    losskit.register(name, lambda row, target: result(row))
    for error in _untouched_call(name):
        assert error.status == Status.ERROR_CALLBACK_FAILED
        assert expected in error.message


@pytest.mark.parametrize("result", [
    lambda row: (float("nan"), np.zeros(len(row))),
    lambda row: (1.0, np.full(len(row), np.nan)),
    lambda row: (1.0, np.full(len(row), np.inf)),
], ids=["nan-loss", "nan-grad", "inf-grad"])
def test_nan_from_callback_is_callback_failed(name, result):
    losskit.register(name, lambda row, target: result(row))
    for error in _untouched_call(name):
        assert error.status == Status.ERROR_CALLBACK_FAILED
        assert "NaN" in error.message or "non-finite" in error.message


def test_nan_passes_with_nan_policy_propagate(name):
    losskit.register(name, lambda row, target: (float("nan"), np.zeros(len(row))))
    loss, grad = losskit.loss_and_grad(name, np.zeros((2, 3)), np.array([0, 1]), nan_policy="propagate")
    assert math.isnan(loss)


def test_failure_does_not_stick(name):
    state = {"fail": True}

    def flaky(row, target):
        if state["fail"]:
            raise RuntimeError("first time")
        return python_cross_entropy(row, target)

    losskit.register(name, flaky)
    logits, target = np.array([[1.0, 2.0]]), np.array([1])
    _refused(Status.ERROR_CALLBACK_FAILED, name, logits, target)
    state["fail"] = False
    loss, _ = losskit.loss_and_grad(name, logits, target)
    assert loss == pytest.approx(losskit.loss_and_grad("cross_entropy", logits, target)[0])
    assert losskit._library.library().lk_last_error_message() == b""


# --- names -----------------------------------------------------------------------------------------


def test_duplicate_name(name):
    losskit.register(name, python_cross_entropy)
    with pytest.raises(LossKitError) as info:
        losskit.register(name, python_cross_entropy)
    assert info.value.status == Status.ERROR_DUPLICATE_NAME and name in info.value.message
    with pytest.raises(LossKitError) as info:
        losskit.register("cross_entropy", python_cross_entropy)
    assert info.value.status == Status.ERROR_DUPLICATE_NAME
    # The refused registrations left nothing behind for the library to call.
    assert registry._live_names().count(name) == 1 and "cross_entropy" not in registry._live_names()


@pytest.mark.parametrize("bad", ["", "has space", "semi;colon", "x" * 64, "é", "slash/name"])
def test_bad_name(bad):
    before = losskit.losses()
    with pytest.raises(LossKitError) as info:
        losskit.register(bad, python_cross_entropy)
    assert info.value.status == Status.ERROR_BAD_NAME
    assert losskit.losses() == before and bad not in registry._live_names()


def test_longest_name_and_every_allowed_character():
    longest = ("Az09_-." * 10)[:63]
    losskit.register(longest, python_cross_entropy)
    try:
        assert longest in losskit.losses()
    finally:
        losskit.unregister(longest)


@pytest.mark.parametrize("args", [(3, python_cross_entropy), ("ok_name", "not callable"), (None, None)])
def test_python_type_errors(args):
    with pytest.raises(TypeError):
        losskit.register(*args)
    with pytest.raises(TypeError):
        losskit.unregister(3)


# --- unregistering and lifetime --------------------------------------------------------------------


def test_unregister_removes_the_name_and_releases_the_callback(name):
    losskit.register(name, python_cross_entropy)
    assert name in registry._live_names()
    losskit.unregister(name)
    assert name not in losskit.losses()
    assert name not in registry._live_names()  # the library's destroy callback has run
    _refused(Status.ERROR_UNKNOWN_LOSS, name, np.zeros((1, 2)), np.array([0]))
    with pytest.raises(LossKitError) as info:
        losskit.unregister(name)
    assert info.value.status == Status.ERROR_UNKNOWN_LOSS
    losskit.register(name, python_cross_entropy)  # the name is free again
    assert name in losskit.losses()


def test_a_mix_keeps_an_unregistered_loss_alive(name):
    losskit.register(name, lambda row, y: python_cross_entropy(row, y))
    mix = losskit.mix([name, "cross_entropy"], weights=[0.5, 0.5])
    losskit.unregister(name)
    gc.collect()
    assert name not in losskit.losses()
    assert name in registry._live_names()  # the mix still holds the loss: no destroy yet
    logits, target = np.array([[0.3, -1.0, 2.0]]), np.array([1])
    loss, _ = mix.loss_and_grad(logits, target)
    assert loss == pytest.approx(losskit.loss_and_grad("cross_entropy", logits, target)[0])
    mix.close()
    assert name not in registry._live_names()


def test_unregister_unknown():
    with pytest.raises(LossKitError) as info:
        losskit.unregister("no_such_loss_anywhere")
    assert info.value.status == Status.ERROR_UNKNOWN_LOSS


# --- plugins ---------------------------------------------------------------------------------------


def test_load_plugin_that_does_not_exist(tmp_path):
    with pytest.raises(LossKitError) as info:
        losskit.load_plugin(tmp_path / "libnothing.so")
    assert info.value.status == Status.ERROR_PLUGIN and "libnothing.so" in info.value.message


def test_load_plugin_without_entry_point(tmp_path):
    # Any shared object without lk_plugin_init: the C library itself.
    before = losskit.losses()
    with pytest.raises(LossKitError) as info:
        losskit.load_plugin(losskit._library.find_library())
    assert info.value.status in (Status.ERROR_PLUGIN, Status.ERROR_ABI_VERSION)
    assert losskit.losses() == before


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """examples/plugins built into a temporary directory; skips when that example is not there."""
    script = PLUGIN_DIR / "build.sh"
    if not script.is_file():
        pytest.skip(f"{script} does not exist (the plugin example is not in this checkout); "
                    "load_plugin with a real plugin is NOT tested")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build the plugin example; load_plugin is NOT tested")
    out = tmp_path_factory.mktemp("plugin")
    result = subprocess.run(["sh", str(script), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    built = sorted(out.glob("*.so"))
    assert built, f"{script} built no .so in {out}"
    return built[0]


def test_plugin_loss_equals_cross_entropy(plugin_path):
    added = losskit.load_plugin(plugin_path)
    assert "plugin_ce" in added and "plugin_ce" in losskit.losses()
    rng = np.random.default_rng(13)
    for shape, dtype, reduction in [((20, 6), np.float64, "mean"), ((3, 5, 2, 2), np.float32, "none"),
                                    ((20, 6), np.float32, "sum")]:
        logits = make_logits(rng, shape, dtype)
        target = make_target(rng, shape, "int64", dtype, ignore=True)
        weight = make_weight(rng, shape[1], dtype)
        loss, grad = losskit.loss_and_grad("plugin_ce", logits, target, reduction=reduction, weight=weight)
        expected_loss, expected_grad = losskit.loss_and_grad("cross_entropy", logits, target,
                                                             reduction=reduction, weight=weight)
        tol = 1e-12 if dtype is np.float64 else 1e-6
        np.testing.assert_allclose(loss, expected_loss, rtol=tol, atol=tol)
        np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)
    if "plugin_mean_ce" in added:  # the example's whole-batch loss: mean reduction only
        logits = make_logits(rng, (3, 5, 2, 2), np.float64)
        target = make_target(rng, (3, 5, 2, 2), "int64", np.float64, ignore=True)
        weight = make_weight(rng, 5, np.float64)
        loss, grad = losskit.loss_and_grad("plugin_mean_ce", logits, target, weight=weight, dloss=0.5)
        expected_loss, expected_grad = losskit.loss_and_grad("cross_entropy", logits, target, weight=weight,
                                                             dloss=0.5)
        assert loss == pytest.approx(expected_loss, rel=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    # Loading it again fails on the taken names, and leaves the registry as it was.
    before = losskit.losses()
    with pytest.raises(LossKitError) as info:
        losskit.load_plugin(str(plugin_path))
    assert info.value.status == Status.ERROR_PLUGIN
    assert losskit.losses() == before
