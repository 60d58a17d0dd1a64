"""The ctypes declarations that loss_and_grad does not use, exercised against the library:
lk_loss_compute_at, lk_mix_create, user losses (lk_loss_callbacks), lk_plugin_load."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Status, _library
from losskit.errors import raise_for_status

lib = _library.library()
LOGITS = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0], [0.0, 0.3, -0.2]])
TARGET = np.array([0, 2, 1])


def create(name: str, **params) -> _library.LossHandle:
    handle = _library.LossHandle()
    raise_for_status(lib.lk_loss_create(name.encode(), ctypes.byref(handle)))
    for key, value in params.items():
        setter = lib.lk_loss_set_param_string if isinstance(value, str) else lib.lk_loss_set_param
        raise_for_status(setter(handle, key.encode(), value.encode() if isinstance(value, str) else value))
    return handle


def compute(handle, progress: float | None = None) -> tuple[float, np.ndarray]:
    """(mean loss, grad) of LOGITS/TARGET through a hand-filled lk_batch."""
    shape = (ctypes.c_int64 * 2)(*LOGITS.shape)
    loss, grad = np.zeros(1), np.zeros_like(LOGITS)
    batch = _library.LkBatch()
    lib.lk_batch_init(ctypes.byref(batch))
    batch.ndim, batch.shape = 2, shape
    batch.logits_dtype, batch.target_dtype = _library.DType.FLOAT64, _library.DType.INT64
    batch.logits, batch.target = LOGITS.ctypes.data, TARGET.ctypes.data
    batch.loss, batch.grad = loss.ctypes.data, grad.ctypes.data
    if progress is None:
        raise_for_status(lib.lk_loss_compute(handle, ctypes.byref(batch)))
    else:
        raise_for_status(lib.lk_loss_compute_at(handle, ctypes.byref(batch), progress))
    return float(loss[0]), grad


def test_hand_filled_batch_equals_loss_and_grad():
    handle = create("cross_entropy", label_smoothing=0.2)
    try:
        loss, grad = compute(handle)
    finally:
        lib.lk_loss_destroy(handle)
    expected = losskit.loss_and_grad("cross_entropy", LOGITS, TARGET, label_smoothing=0.2)
    assert loss == expected[0]
    np.testing.assert_array_equal(grad, expected[1])


@pytest.mark.skipif("ce_expectation_mix" not in losskit.losses(), reason="no scheduled loss built")
def test_compute_at_equals_progress_param():
    handle = create("ce_expectation_mix", schedule="linear")
    try:
        loss, grad = compute(handle, progress=0.3)
        with pytest.raises(LossKitError) as info:
            compute(handle, progress=1.5)
        assert info.value.status == Status.ERROR_BAD_PARAM
    finally:
        lib.lk_loss_destroy(handle)
    expected = losskit.loss_and_grad("ce_expectation_mix", LOGITS, TARGET, schedule="linear", progress=0.3)
    assert loss == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12)


def test_mix_is_the_weighted_sum():
    # Fails against a3c9ce9: Mix.evaluate accumulates into `total` inside StagedOutputs.run(total),
    # which then copies the component's own output over the sum, so the mix returns the last
    # component's unweighted loss and gradient whatever the weights.
    components = [create("cross_entropy"), create("cross_entropy", label_smoothing=0.4)]
    mix = _library.LossHandle()
    try:
        array = (_library.LossHandle * 2)(*components)
        raise_for_status(lib.lk_mix_create(array, 2, ctypes.byref(mix)))
        raise_for_status(lib.lk_loss_set_param(mix, b"w0", 0.25))
        raise_for_status(lib.lk_loss_set_param(mix, b"w1", 0.75))
        loss, grad = compute(mix)
        refused = _library.LossHandle()
        assert lib.lk_mix_create(array, 0, ctypes.byref(refused)) == Status.ERROR_BAD_PARAM
        assert not refused
    finally:
        for handle in components + [mix]:
            lib.lk_loss_destroy(handle)
    plain = losskit.loss_and_grad("cross_entropy", LOGITS, TARGET)
    smooth = losskit.loss_and_grad("cross_entropy", LOGITS, TARGET, label_smoothing=0.4)
    assert loss == pytest.approx(0.25 * plain[0] + 0.75 * smooth[0], rel=1e-12)
    np.testing.assert_allclose(grad, 0.25 * plain[1] + 0.75 * smooth[1], rtol=1e-12)


class PythonRowLoss:
    """Plain cross-entropy as a user row callback, registered under a name for the test's duration."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail, self.destroyed = name, fail, 0
        # The CFUNCTYPE objects must outlive the registration: keep them on self.
        self.row = _library.RowLossFn(self._row)
        self.destroy = _library.DestroyFn(self._destroy)
        self.callbacks = _library.LkLossCallbacks(
            struct_size=ctypes.sizeof(_library.LkLossCallbacks), abi_version=_library.LOSS_ABI_VERSION,
            row=self.row, destroy=self.destroy,
        )

    def _row(self, user_data, logits, classes, target, out_loss, out_grad):
        if self.fail:
            lib.lk_set_callback_error(b"the python row loss was told to fail")
            return 1
        z = np.ctypeslib.as_array(logits, shape=(classes,))
        lse = z.max() + np.log(np.exp(z - z.max()).sum())
        out_loss[0] = lse - z[target]
        grad = np.ctypeslib.as_array(out_grad, shape=(classes,))
        grad[:] = np.exp(z - lse)
        grad[target] -= 1.0
        return 0

    def _destroy(self, user_data):
        self.destroyed += 1

    def __enter__(self) -> "PythonRowLoss":
        raise_for_status(lib.lk_register_loss(self.name.encode(), ctypes.byref(self.callbacks)))
        return self

    def __exit__(self, *exc) -> None:
        raise_for_status(lib.lk_unregister_loss(self.name.encode()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_user_loss_through_loss_and_grad(dtype):
    logits = LOGITS.astype(dtype)
    weight = np.array([1.0, 2.0, 0.5])
    with PythonRowLoss("python_test_ce") as user:
        assert "python_test_ce" in losskit.losses()
        loss, grad = losskit.loss_and_grad("python_test_ce", logits, TARGET, weight=weight)
    assert user.destroyed == 1 and "python_test_ce" not in losskit.losses()
    expected = losskit.loss_and_grad("cross_entropy", logits, TARGET, weight=weight)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert loss == pytest.approx(expected[0], rel=tol)
    np.testing.assert_allclose(grad, expected[1], rtol=tol, atol=tol)


def test_user_loss_failure_is_reported():
    out = np.full_like(LOGITS, 7.0)
    with PythonRowLoss("python_test_fail", fail=True):
        with pytest.raises(LossKitError) as info:
            losskit.loss_and_grad("python_test_fail", LOGITS, TARGET, out=out)
    assert info.value.status == Status.ERROR_CALLBACK_FAILED
    assert "told to fail" in info.value.message
    np.testing.assert_array_equal(out, 7.0)


def test_register_errors():
    with PythonRowLoss("python_test_dup") as user:
        assert lib.lk_register_loss(b"python_test_dup", ctypes.byref(user.callbacks)) == Status.ERROR_DUPLICATE_NAME
        assert lib.lk_register_loss(b"bad name!", ctypes.byref(user.callbacks)) == Status.ERROR_BAD_NAME
    assert lib.lk_unregister_loss(b"python_test_dup") == Status.ERROR_UNKNOWN_LOSS


def test_plugin_load_failure(tmp_path):
    missing = str(tmp_path / "no_plugin.so").encode()
    assert lib.lk_plugin_load(missing) == Status.ERROR_PLUGIN
    assert "no_plugin.so" in lib.lk_last_error_message().decode()
