"""How loss_and_grad takes arrays: dtypes, layouts, zero copy, out=, in place, grad=False."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Status, _arrays
from batches import make_logits, make_target, make_weight


def ce(logits, target, **options):
    return losskit.loss_and_grad("cross_entropy", logits, target, **options)


@pytest.fixture
def batch():
    rng = np.random.default_rng(21)
    logits = make_logits(rng, (6, 4, 3), np.float64)
    target = make_target(rng, (6, 4, 3), "int64", np.float64, ignore=True)
    return logits, target


def test_contiguous_inputs_are_not_copied():
    logits = np.zeros((3, 4), np.float32)
    target = np.zeros(3, np.int32)
    assert _arrays.logits_buffer(logits) is logits
    assert _arrays.target_buffer(target, logits) is target
    weight = np.ones(4, np.float32)
    assert _arrays.weight_buffer(weight, logits) is weight


def test_non_contiguous_inputs_are_copied_once():
    logits = np.zeros((4, 6))[:, ::2]
    buffer = _arrays.logits_buffer(logits)
    assert buffer.flags.c_contiguous and not np.shares_memory(buffer, logits)


@pytest.mark.parametrize("view", ["strided", "fortran", "transposed"])
def test_non_contiguous_logits(batch, view):
    logits, target = batch
    expected = ce(logits, target, reduction="none", label_smoothing=0.1)
    if view == "strided":
        wide = np.zeros(logits.shape[:2] + (2 * logits.shape[2],))
        wide[..., ::2] = logits
        strange = wide[..., ::2]
    elif view == "fortran":
        strange = np.asfortranarray(logits)
    else:
        strange = np.ascontiguousarray(logits.transpose(2, 1, 0)).transpose(2, 1, 0)
    assert not strange.flags.c_contiguous
    loss, grad = ce(strange, target, reduction="none", label_smoothing=0.1)
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(grad, expected[1])


def test_non_contiguous_target_weight_dloss(batch):
    logits, target = batch
    rng = np.random.default_rng(1)
    weight, dloss = make_weight(rng, 4, np.float64), rng.normal(size=(6, 3))
    expected = ce(logits, target, reduction="none", weight=weight, dloss=dloss)
    loss, grad = ce(logits, np.asfortranarray(target), reduction="none",
                    weight=np.repeat(weight, 2)[::2], dloss=np.asfortranarray(dloss))
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(grad, expected[1])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64])
def test_other_integer_targets_are_int64(batch, dtype):
    logits, target = batch
    target = np.where(target < 0, 0, target)
    expected = ce(logits, target)
    assert _arrays.target_buffer(target.astype(dtype), logits).dtype == np.int64
    loss, grad = ce(logits, target.astype(dtype))
    assert loss == expected[0]
    np.testing.assert_array_equal(grad, expected[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_logits(dtype):
    logits = np.zeros((2, 3), dtype)
    loss, grad = ce(logits, np.array([0, 2]), reduction="none")
    assert loss.dtype == dtype and grad.dtype == dtype
    loss, grad = ce(logits, np.array([0, 2]))
    assert type(loss) is float


def test_other_logit_dtypes_become_float64():
    loss, grad = ce([[1, 2, 3], [0, 0, 0]], [2, 1])
    assert grad.dtype == np.float64
    expected = ce(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([2, 1]))
    assert loss == expected[0]
    _, grad8 = ce(np.zeros((2, 3), np.int8), np.array([0, 1]))
    assert grad8.dtype == np.float64


def test_float16_logits_are_computed_in_float32():
    # The library widens 16-bit logits exactly and computes in float32: the same results, bit for
    # bit, as float32 logits of the same values, the gradient rounded to float16 (or kept in float32
    # with out=). Weights, dloss, probabilities and the loss are float32.
    rng = np.random.default_rng(16)
    for shape in [(7, 5), (3, 4, 2, 3)]:
        logits16 = make_logits(rng, shape, np.float32).astype(np.float16)
        logits32 = logits16.astype(np.float32)
        for kind in ["int64", "prob"]:
            target = make_target(rng, shape, kind, np.float64, ignore=kind != "prob")
            options = dict(weight=make_weight(rng, shape[1], np.float64), reduction="none", dloss=1.5)
            loss32, grad32 = ce(logits32, target, **options)
            loss16, grad16 = ce(logits16, target, **options)
            assert loss16.dtype == np.float32 and grad16.dtype == np.float16
            np.testing.assert_array_equal(loss16, loss32)
            np.testing.assert_array_equal(grad16, grad32.astype(np.float16))
            out = np.empty(shape, np.float32)
            _, wide = ce(logits16, target, out=out, **options)
            assert wide is out
            np.testing.assert_array_equal(wide, grad32)
            work = logits16.copy()
            _, inplace = ce(work, target, inplace=True, **options)
            assert inplace is work
            np.testing.assert_array_equal(work, grad32.astype(np.float16))
    with pytest.raises(TypeError):
        ce(np.zeros((2, 3), np.float16), np.array([0, 1]), out=np.empty((2, 3), np.float64))


def test_bfloat16_logits_when_ml_dtypes_is_installed():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(17)
    logits = make_logits(rng, (6, 5), np.float32).astype(ml_dtypes.bfloat16)
    target = make_target(rng, (6, 5), "int32", np.float64, ignore=True)
    loss32, grad32 = ce(logits.astype(np.float32), target, reduction="none")
    loss, grad = ce(logits, target, reduction="none")
    assert loss.dtype == np.float32 and grad.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(loss, loss32)
    np.testing.assert_array_equal(grad, grad32.astype(ml_dtypes.bfloat16))


def test_probabilities_weight_and_dloss_are_cast_to_logits_dtype():
    rng = np.random.default_rng(2)
    logits = make_logits(rng, (5, 3), np.float32)
    q64 = make_target(rng, (5, 3), "prob", np.float64)
    w64, d64 = make_weight(rng, 3, np.float64), rng.normal(size=5)
    loss, grad = ce(logits, q64, weight=w64, dloss=d64, reduction="none")
    expected = ce(logits, q64.astype(np.float32), weight=w64.astype(np.float32),
                  dloss=d64.astype(np.float32), reduction="none")
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(grad, expected[1])


def test_grad_false_computes_loss_only(batch):
    logits, target = batch
    loss, grad = ce(logits, target, grad=False)
    assert grad is None
    assert loss == ce(logits, target)[0]


def test_out_receives_gradient(batch):
    logits, target = batch
    out = np.full_like(logits, np.nan)
    loss, grad = ce(logits, target, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, ce(logits, target)[1])


@pytest.mark.parametrize("shape", [(3, 5), (2, 21, 64, 64), (70000, 4), (0, 4)], ids=["small", "NCdd", "large", "empty"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_losskit_allocates_are_64_byte_aligned(shape, dtype):
    # Large numpy arrays start 16 bytes into a page; the gradient losskit allocates does not (an
    # empty one has no data to align).
    logits = np.zeros(shape, dtype)
    _, grad = ce(logits, np.zeros((shape[0],) + shape[2:], np.int64))
    assert grad.shape == shape and grad.dtype == dtype and grad.flags.c_contiguous and grad.flags.writeable
    made = losskit.empty_like(logits)
    assert made.shape == shape and made.dtype == dtype and made.flags.c_contiguous
    if logits.size:
        assert grad.ctypes.data % 64 == 0 and made.ctypes.data % 64 == 0
    assert losskit.empty_like(logits, np.float32).dtype == np.float32


def test_empty_like_serves_as_out(batch):
    logits, target = batch
    out = losskit.empty_like(logits)
    out.fill(np.nan)
    loss, grad = ce(logits, target, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, ce(logits, target)[1])
    # Two of them never overlap (each is a view into its own buffer).
    other = losskit.empty_like(logits)
    assert not np.shares_memory(out, other)


def test_out_is_checked(batch):
    logits, target = batch
    with pytest.raises(TypeError):
        ce(logits, target, out=np.empty(logits.shape, np.float32))
    with pytest.raises(LossKitError) as error:
        ce(logits, target, out=np.empty((6, 4)))
    assert error.value.status == Status.ERROR_BAD_SHAPE
    with pytest.raises(ValueError):
        ce(logits, target, out=np.empty(logits.shape, order="F"))
    with pytest.raises(TypeError):
        ce(logits, target, out=[[0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2)], ids=["NC", "NCdd"])
@pytest.mark.parametrize("kind", ["int32", "prob"])
def test_inplace_equals_out_of_place(dtype, shape, kind):
    rng = np.random.default_rng(5)
    logits = make_logits(rng, shape, dtype)
    target = make_target(rng, shape, kind, dtype, ignore=kind != "prob")
    options = dict(weight=make_weight(rng, shape[1], dtype), label_smoothing=0.1, z_loss=0.01, reduction="sum")
    expected_loss, expected_grad = ce(logits, target, **options)
    work = logits.copy()
    loss, grad = ce(work, target, inplace=True, **options)
    assert grad is work
    assert loss == expected_loss
    np.testing.assert_array_equal(work, expected_grad)


def test_inplace_refuses_what_it_cannot_overwrite():
    target = np.array([0, 1])
    with pytest.raises(TypeError):
        ce([[0.0, 1.0], [1.0, 0.0]], target, inplace=True)
    with pytest.raises(TypeError):
        ce(np.zeros((2, 2), np.int64), target, inplace=True)
    with pytest.raises(ValueError):
        ce(np.zeros((2, 4))[:, ::2], target, inplace=True)
    readonly = np.zeros((2, 2))
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        ce(readonly, target, inplace=True)
    with pytest.raises(ValueError):
        ce(np.zeros((2, 2)), target, inplace=True, grad=False)
    with pytest.raises(ValueError):
        ce(np.zeros((2, 2)), target, out=np.zeros((2, 2)), grad=False)
    with pytest.raises(ValueError):
        ce(np.zeros((2, 2)), target, inplace=True, out=np.zeros((2, 2)))


def test_misaligned_input_is_copied():
    # A float64 view at an odd byte offset: the binding realigns it rather than letting the call fail.
    raw = np.zeros(2 * 3 * 8 + 1, np.uint8)
    logits = raw[1:].view(np.float64).reshape(2, 3)
    assert not logits.flags.aligned
    loss, _ = ce(logits, np.array([0, 1]))
    assert loss == pytest.approx(np.log(3.0))


def test_results_do_not_depend_on_thread_count(restore_threads):
    rng = np.random.default_rng(9)
    logits = make_logits(rng, (4000, 10), np.float64)
    target = make_target(rng, (4000, 10), "int64", np.float64, ignore=True)
    results = []
    for count in (1, 2, 0):
        losskit.set_num_threads(count)
        assert losskit.get_num_threads() == count
        results.append(ce(logits, target, label_smoothing=0.1))
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])
