"""losskit.Loss: one handle, parameters checked once, the same results as loss_and_grad."""

from __future__ import annotations

import copy
import gc
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit import Loss, LossKitError, Status


def _batch(rng: np.random.Generator, n: int = 6, c: int = 4, dtype=np.float64):
    return rng.normal(size=(n, c)).astype(dtype), rng.integers(0, c, size=n)


def test_loss_object_is_exported_and_torch_is_not_imported():
    assert losskit.Loss is Loss and "Loss" in losskit.__all__
    # `import losskit` alone must not import torch (the adapter is loaded on first use).
    code = "import sys, losskit; losskit.Loss('cross_entropy'); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(losskit.__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name, params", [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.1, "z_loss": 1e-3}),
    ("squentropy", {}),
    ("hem", {"margin": 0.3}),
    ("focal", {"gamma": 1.5}),
    ("logit_adjusted", {"priors": [0.1, 0.2, 0.3, 0.4]}),
    ("ce_expectation_mix", {"alpha": 0.25, "beta": 2.0}),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_same_results_as_loss_and_grad(name, params, reduction):
    rng = np.random.default_rng(0)
    logits, target = _batch(rng)
    weight = rng.uniform(0.5, 2.0, size=4)
    target[1] = -100
    expected = losskit.loss_and_grad(name, logits, target, reduction=reduction, weight=weight, **params)
    with Loss(name, **params) as loss:
        for _ in range(2):  # the handle is reused
            got = loss(logits, target, reduction=reduction, weight=weight)
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])


def test_call_options_out_inplace_dloss_grad_false():
    rng = np.random.default_rng(1)
    logits, target = _batch(rng, dtype=np.float32)
    loss = Loss("squentropy")
    reference_loss, reference_grad = losskit.loss_and_grad("squentropy", logits, target, dloss=0.5)

    value, grad = loss(logits, target, grad=False)
    assert grad is None and value == pytest.approx(reference_loss, rel=1e-6)

    out = np.empty_like(logits)
    value, grad = loss(logits, target, dloss=0.5, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, reference_grad)

    buffer = logits.copy()
    value, grad = loss(buffer, target, dloss=0.5, inplace=True)
    assert grad is buffer
    np.testing.assert_array_equal(buffer, reference_grad)


def test_parameters_are_checked_once_at_construction():
    with pytest.raises(LossKitError) as error:
        Loss("cross_entropy", label_smoothing=2.0)
    assert error.value.status == Status.ERROR_BAD_PARAM
    with pytest.raises(LossKitError) as error:
        Loss("cross_entropy", margin=1.0)
    assert error.value.status == Status.ERROR_UNKNOWN_PARAM
    with pytest.raises(LossKitError) as error:
        Loss("no_such_loss")
    assert error.value.status == Status.ERROR_UNKNOWN_LOSS
    with pytest.raises(TypeError):
        Loss(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Loss("cross_entropy", label_smoothing={"a": 1})


def test_get_and_set_param():
    loss = Loss("hem", margin=0.3)
    assert loss.name == "hem"
    assert loss.get_param("margin") == pytest.approx(0.3)
    loss.set_param("margin", 0.7)
    assert loss.get_param("margin") == pytest.approx(0.7)
    assert loss.params == {"margin": 0.7}
    with pytest.raises(LossKitError):
        loss.set_param("margin", -1.0)
    assert loss.get_param("margin") == pytest.approx(0.7)  # kept on error
    assert "margin=0.7" in repr(loss)


def test_progress_of_a_scheduled_loss():
    rng = np.random.default_rng(2)
    logits, target = _batch(rng)
    params = {"schedule": "linear", "alpha_start": 0.0, "alpha_end": 1.0}
    loss = Loss("ce_expectation_mix", **params)
    assert loss.progress is None
    for t in (0.0, 0.3, 1.0):
        loss.progress = t
        assert loss.progress == t
        assert loss.get_param("progress") == pytest.approx(t)  # the loss's own parameter follows
        expected = losskit.loss_and_grad("ce_expectation_mix", logits, target, progress=t, **params)
        got = loss(logits, target)
        assert got[0] == expected[0]
        np.testing.assert_array_equal(got[1], expected[1])
    # A per-call progress wins over the stored one and does not change it.
    expected = losskit.loss_and_grad("ce_expectation_mix", logits, target, progress=0.6, **params)
    assert loss(logits, target, progress=0.6)[0] == expected[0]
    assert loss.progress == 1.0
    with pytest.raises(LossKitError) as error:
        loss.progress = 1.5
    assert error.value.status == Status.ERROR_BAD_PARAM
    with pytest.raises(TypeError):
        loss.progress = "half"  # type: ignore[assignment]
    assert loss.progress == 1.0


def test_progress_of_a_loss_without_schedule_changes_nothing():
    rng = np.random.default_rng(3)
    logits, target = _batch(rng)
    loss = Loss("cross_entropy")
    before = loss(logits, target)
    loss.progress = 0.5
    after = loss(logits, target)
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    with pytest.raises(LossKitError) as error:
        Loss("cross_entropy", progress=0.5)  # not a parameter of cross_entropy
    assert error.value.status == Status.ERROR_UNKNOWN_PARAM


def test_close_context_manager_and_del():
    rng = np.random.default_rng(4)
    logits, target = _batch(rng)
    with Loss("focal") as loss:
        loss(logits, target)
    assert loss.closed
    with pytest.raises(ValueError, match="closed"):
        loss(logits, target)
    loss.close()  # idempotent
    for _ in range(100):  # handles freed by __del__
        Loss("cross_entropy", label_smoothing=0.1)
    gc.collect()


def test_pickle_and_deepcopy_make_an_independent_loss():
    rng = np.random.default_rng(5)
    logits, target = _batch(rng)
    loss = Loss("ce_expectation_mix", schedule="cosine", beta=2.0)
    loss.progress = 0.4
    for clone in (pickle.loads(pickle.dumps(loss)), copy.deepcopy(loss)):
        assert clone._handle is not None and clone._handle is not loss._handle
        assert clone.params == loss.params and clone.progress == 0.4
        assert clone(logits, target)[0] == loss(logits, target)[0]
        clone.close()
        assert not loss.closed


def test_vector_parameter_is_copied():
    priors = np.array([0.1, 0.2, 0.3, 0.4])
    loss = Loss("logit_adjusted", priors=priors)
    priors[:] = 0.25
    assert loss.params["priors"] == [0.1, 0.2, 0.3, 0.4]


def test_vector_length_is_checked_at_compute():
    rng = np.random.default_rng(6)
    logits, target = _batch(rng)
    loss = Loss("logit_adjusted", priors=[0.5, 0.5])  # C = 4 in the batch
    with pytest.raises(LossKitError) as error:
        loss(logits, target)
    assert error.value.status == Status.ERROR_BAD_PARAM


def test_concurrent_calls_on_one_loss():
    rng = np.random.default_rng(7)
    logits, target = _batch(rng, n=256, c=10)
    loss = Loss("squentropy")
    expected = loss(logits, target)
    results = []

    def work():
        for _ in range(20):
            results.append(loss(logits, target))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    for value, grad in results:
        assert value == expected[0]
        np.testing.assert_array_equal(grad, expected[1])
