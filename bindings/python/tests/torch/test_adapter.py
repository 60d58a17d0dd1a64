"""losskit.torch against pure-PyTorch losses, autograd's own checks, and the tensors autograd keeps."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lt
from losskit import LossKitError, Status

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-11, atol=1e-13)}


# ------------------------------------------------------------------------ pure-PyTorch references

def _rows(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, d1..dk) -> (S, C) rows and (S,) targets."""
    c = z.shape[1]
    return z.movedim(1, -1).reshape(-1, c), y.reshape(-1)


def _reduce(per_sample: torch.Tensor, weights: torch.Tensor, shape: torch.Size, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return per_sample.reshape(shape)
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.sum() / weights.sum()


def squentropy_reference(z, y, weight=None, ignore_index=-100, reduction="mean"):
    """Hui, Belkin & Wright: lse - z_y + (1/(C-1))·Σ_{j≠y} z_j², weighted like F.cross_entropy."""
    rows, targets = _rows(z, y)
    c = rows.shape[1]
    valid = targets != ignore_index
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    z_y = rows.gather(1, safe[:, None])[:, 0]
    ce = torch.logsumexp(rows, dim=1) - z_y
    wrong = torch.ones_like(rows).scatter(1, safe[:, None], 0.0)
    square = (rows.square() * wrong).sum(dim=1) / (c - 1) if c > 1 else torch.zeros_like(ce)
    w = (weight[safe] if weight is not None else torch.ones_like(ce)) * valid
    return _reduce((ce + square) * w, w, y.shape, reduction)


def cross_entropy_reference(z, y, weight=None, ignore_index=-100, reduction="mean"):
    return F.cross_entropy(z, y, weight=weight, ignore_index=ignore_index, reduction=reduction)


REFERENCES = {"cross_entropy": cross_entropy_reference, "squentropy": squentropy_reference}


def _batch(shape, dtype, ignore=True, weighted=True):
    n, c = shape[0], shape[1]
    z = (torch.randn(shape, dtype=dtype) * 2).requires_grad_()
    y = torch.randint(0, c, (n, *shape[2:]))
    if ignore:
        y.view(-1)[::5] = -100
    weight = torch.rand(c, dtype=dtype) + 0.5 if weighted else None
    return z, y, weight


def _upstream(loss: torch.Tensor) -> torch.Tensor:
    """A non-trivial function of the loss: non-uniform weighting per sample for reduction none."""
    if loss.dim() == 0:
        return 3.0 * loss
    g = torch.Generator().manual_seed(1)
    per_sample = torch.rand(loss.shape, generator=g, dtype=loss.dtype) * 4 - 1  # also negative weights
    return (loss * per_sample).sum()


# ------------------------------------------------------------------------ values and gradients

@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5, 2)], ids=["NC", "NCd1d2"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_pure_torch(name, dtype, reduction, shape, weighted):
    z, y, weight = _batch(shape, dtype, weighted=weighted)
    z_ref = z.detach().clone().requires_grad_()

    got = lt.loss(name, z, y, reduction=reduction, weight=weight)
    expected = REFERENCES[name](z_ref, y, weight=weight, reduction=reduction)
    assert got.dtype == dtype and got.shape == expected.shape
    torch.testing.assert_close(got, expected.detach(), **TOL[dtype])

    _upstream(got).backward()
    _upstream(expected).backward()
    torch.testing.assert_close(z.grad, z_ref.grad, **TOL[dtype])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_custom_ignore_index_and_module(name):
    z, y, weight = _batch((6, 3, 4), torch.float64, ignore=False)
    y[0, :2] = 2  # a class index used as ignore_index
    module = lt.LossModule(name, weight=weight, ignore_index=2)
    z_ref = z.detach().clone().requires_grad_()
    got = module(z, y)
    expected = REFERENCES[name](z_ref, y, weight=weight, ignore_index=2)
    torch.testing.assert_close(got, expected.detach(), **TOL[torch.float64])
    got.backward()
    expected.backward()
    torch.testing.assert_close(z.grad, z_ref.grad, **TOL[torch.float64])
    assert torch.all(z.grad.movedim(1, -1)[y == 2] == 0)


def test_label_smoothing_and_probability_targets_match_torch():
    z, y, weight = _batch((8, 5), torch.float64, ignore=True)
    z_ref = z.detach().clone().requires_grad_()
    got = lt.loss("cross_entropy", z, y, weight=weight, label_smoothing=0.2)
    expected = F.cross_entropy(z_ref, y, weight=weight, label_smoothing=0.2)
    torch.testing.assert_close(got, expected.detach())
    got.backward()
    expected.backward()
    torch.testing.assert_close(z.grad, z_ref.grad)

    probabilities = torch.softmax(torch.randn(8, 5, dtype=torch.float64), dim=1)
    z.grad, z_ref.grad = None, None
    got = lt.loss("cross_entropy", z, probabilities, reduction="sum")
    expected = F.cross_entropy(z_ref, probabilities, reduction="sum")
    torch.testing.assert_close(got, expected.detach())
    got.backward()
    expected.backward()
    torch.testing.assert_close(z.grad, z_ref.grad)


def test_all_ignored_mean_is_zero_with_zero_gradient():
    z = torch.randn(4, 3, requires_grad=True)
    y = torch.full((4,), -100)
    loss = lt.loss("squentropy", z, y)
    assert loss.item() == 0.0  # PyTorch's F.cross_entropy gives NaN here
    loss.backward()
    assert torch.all(z.grad == 0)


SMOOTH = [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.1, "z_loss": 0.01}),
    ("squentropy", {}),
    ("expectation", {}),
    ("ce_expectation_mix", {"alpha": 0.3}),
    ("square", {"k": 2.0, "M": 3.0}),
    ("focal", {"gamma": 2.0}),
    ("logit_norm", {"tau": 0.5}),
    ("logit_adjusted", {"priors": [0.1, 0.2, 0.3, 0.4]}),
]


@pytest.mark.parametrize("name, params", SMOOTH, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SMOOTH)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_float64(name, params, reduction):
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, -100])
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda logits: lt.loss(name, logits, y, reduction=reduction, weight=weight, **params), (z,)
    )


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_float64_spatial(reduction):
    z = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, 2, 2))
    y[0, 0, 1] = -100
    module = lt.LossModule("squentropy", reduction=reduction, weight=[1.0, 2.0, 0.5])
    assert torch.autograd.gradcheck(lambda logits: module(logits, y), (z,))


def test_reduction_none_then_non_uniform_weighting():
    # What a per-sample reweighting (hard-example mining, curriculum, ...) does after reduction="none".
    z, y, _ = _batch((10, 6), torch.float64)
    z_ref = z.detach().clone().requires_grad_()
    sample_weight = torch.linspace(0.0, 3.0, 10, dtype=torch.float64)
    per_sample = lt.loss("squentropy", z, y, reduction="none")
    reference = squentropy_reference(z_ref, y, reduction="none")
    (per_sample * sample_weight).sum().div(sample_weight.sum()).backward()
    (reference * sample_weight).sum().div(sample_weight.sum()).backward()
    torch.testing.assert_close(z.grad, z_ref.grad)
    assert torch.all(z.grad[0] == 0)  # weight 0: no gradient


def test_every_loss_matches_the_numpy_api():
    rng = np.random.default_rng(0)
    extra = {"logit_adjusted": {"priors": [0.1, 0.2, 0.3, 0.4]}}
    for name in losskit.losses():
        for reduction in (["mean"] if name == "dice" else ["mean", "sum", "none"]):
            logits = rng.normal(size=(5, 4))
            target = rng.integers(0, 4, size=5)
            z = torch.tensor(logits, requires_grad=True)
            got = lt.loss(name, z, torch.tensor(target), reduction=reduction, **extra.get(name, {}))
            value, grad = losskit.loss_and_grad(name, logits, target, reduction=reduction, **extra.get(name, {}))
            np.testing.assert_array_equal(got.detach().numpy(), value)
            got.sum().backward()
            np.testing.assert_array_equal(z.grad.numpy(), grad)


# ------------------------------------------------------------------------ autograd's saved tensors

def _grads(make_logits, loss_fn, *leaves):
    for leaf in leaves:
        leaf.grad = None
    logits = make_logits()
    before = logits.detach().clone()
    version = logits._version
    loss = loss_fn(logits)
    assert logits._version == version  # not modified in place
    torch.testing.assert_close(logits.detach(), before, rtol=0, atol=0)
    loss.backward()
    return [leaf.grad.clone() for leaf in leaves]


@pytest.mark.parametrize("build", ["mul", "sigmoid", "exp", "reused"])
def test_saved_tensors_of_other_ops_stay_intact(build):
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (6,))
    make = {
        "mul": lambda: x * w,                         # mul's backward needs x and w
        "sigmoid": lambda: torch.sigmoid(x * w),     # sigmoid's backward needs its own output
        "exp": lambda: torch.exp(x) * 0.5 + w,       # exp's backward needs its own output
        "reused": lambda: x * w,
    }[build]

    def extra(logits):  # a second consumer that saves the logits themselves
        return (logits.square() * 0.1).sum() if build == "reused" else 0.0

    got = _grads(make, lambda z: lt.loss("squentropy", z, y) + extra(z), x, w)
    expected = _grads(make, lambda z: squentropy_reference(z, y) + extra(z), x, w)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_logits_are_never_written_and_backward_can_run_twice():
    x = torch.randn(5, 3, requires_grad=True)
    logits = torch.exp(x)
    snapshot = logits.detach().clone()
    loss = lt.loss("cross_entropy", logits, torch.tensor([0, 1, 2, 0, 1]))
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()  # the saved gradient was not consumed in place
    torch.testing.assert_close(x.grad, 2 * first)
    assert torch.equal(logits, snapshot)


def test_inputs_reach_the_library_without_a_copy(monkeypatch):
    seen = {}
    evaluate = losskit.api.evaluate

    def spy(loss, logits, target, **options):
        seen.update(logits=logits.ctypes.data, target=target.ctypes.data, out=options["out"].ctypes.data)
        return evaluate(loss, logits, target, **options)

    monkeypatch.setattr(losskit.api, "evaluate", spy)
    for dtype in DTYPES:
        for target_dtype in (torch.int64, torch.int32):
            z = torch.randn(8, 5, dtype=dtype, requires_grad=True)
            y = torch.randint(0, 5, (8,), dtype=target_dtype)
            lt.loss("cross_entropy", z, y).backward()
            assert seen["logits"] == z.data_ptr() and seen["target"] == y.data_ptr()
    # Non-contiguous logits are made contiguous once; results are unchanged.
    base = torch.randn(5, 8, dtype=torch.float64)
    z = base.t().requires_grad_()
    z_ref = base.t().contiguous().requires_grad_()
    y = torch.randint(0, 5, (8,))
    lt.loss("squentropy", z, y).backward()
    squentropy_reference(z_ref, y).backward()
    torch.testing.assert_close(z.grad, z_ref.grad)


def test_no_graph_when_no_gradient_is_needed():
    z = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 1])
    loss = lt.loss("cross_entropy", z, y)
    assert loss.grad_fn is None and not loss.requires_grad
    with torch.no_grad():
        loss = lt.loss("cross_entropy", z.requires_grad_(), y)
    assert loss.grad_fn is None
    assert loss.item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)


# ------------------------------------------------------------------------ errors

def test_other_devices_and_dtypes_are_refused_clearly():
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="CPU"):
        lt.loss("cross_entropy", torch.randn(2, 3, device="meta"), y)
    with pytest.raises(ValueError, match="CPU"):
        lt.loss("cross_entropy", torch.randn(2, 3), torch.tensor([0, 1], device="meta"))
    with pytest.raises(ValueError, match="CPU"):
        lt.loss("cross_entropy", torch.randn(2, 3), y, weight=torch.ones(3, device="meta"))
    for dtype in (torch.float16, torch.bfloat16, torch.int64, torch.int32):
        with pytest.raises(TypeError, match="float32 or torch.float64"):
            lt.loss("cross_entropy", torch.zeros(2, 3, dtype=dtype), y)
    with pytest.raises(TypeError):
        lt.loss("cross_entropy", np.zeros((2, 3)), y)
    with pytest.raises(TypeError):
        lt.loss("cross_entropy", torch.zeros(2, 3), torch.tensor([True, False]))


def test_refused_arguments():
    z = torch.randn(2, 3, requires_grad=True)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="reduction"):
        lt.loss("cross_entropy", z, y, reduction="average")
    with pytest.raises(ValueError, match="reduction"):
        lt.LossModule("cross_entropy", reduction="average")
    with pytest.raises(ValueError, match="target requires grad"):
        lt.loss("cross_entropy", z, torch.full((2, 3), 1 / 3, requires_grad=True))
    with pytest.raises(ValueError, match="weight requires grad"):
        lt.loss("cross_entropy", z, y, weight=torch.ones(3, requires_grad=True))
    with pytest.raises(LossKitError) as error:
        lt.loss("cross_entropy", z, torch.tensor([0, 3]))
    assert error.value.status == Status.ERROR_TARGET_OUT_OF_RANGE
    with pytest.raises(LossKitError) as error:
        lt.LossModule("cross_entropy", label_smoothing=-1)  # checked once, at construction
    assert error.value.status == Status.ERROR_BAD_PARAM
    with pytest.raises(LossKitError) as error:
        lt.loss("cross_entropy", torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))
    assert error.value.status == Status.ERROR_NONFINITE_LOGIT
    with pytest.raises(TypeError):
        lt.loss(losskit.Loss("cross_entropy"), z, y, label_smoothing=0.1)


# ------------------------------------------------------------------------ LossModule

def test_module_weight_buffer_state_dict_and_dtype():
    module = lt.LossModule("cross_entropy", weight=[1.0, 2.0, 3.0], label_smoothing=0.1)
    assert set(module.state_dict()) == {"weight"}
    assert module.weight.dtype == torch.float32
    module = module.double()
    assert module.weight.dtype == torch.float64
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 2])
    expected = F.cross_entropy(z, y, weight=module.weight, label_smoothing=0.1)
    torch.testing.assert_close(module(z, y), expected)
    assert "label_smoothing=0.1" in repr(module)
    assert lt.LossModule("focal").weight is None


def test_module_progress_follows_the_schedule():
    params = {"schedule": "linear", "alpha_start": 0.0, "alpha_end": 1.0}
    module = lt.LossModule("ce_expectation_mix", **params)
    logits = np.random.default_rng(3).normal(size=(6, 4))
    target = np.array([0, 1, 2, 3, 0, 1])
    for t in (0.0, 0.5, 1.0):
        module.progress = t
        got = module(torch.tensor(logits), torch.tensor(target))
        expected, _ = losskit.loss_and_grad("ce_expectation_mix", logits, target, progress=t, **params)
        assert got.item() == expected
    expected, _ = losskit.loss_and_grad("ce_expectation_mix", logits, target, progress=0.25, **params)
    assert module(torch.tensor(logits), torch.tensor(target), progress=0.25).item() == expected
    with pytest.raises(LossKitError):
        module.progress = 2.0


def test_module_with_a_mix_and_a_loss_object():
    logits = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0])
    mix = losskit.mix(["cross_entropy", "squentropy"], weights=[{"schedule": "linear", "start": 1, "end": 0}, 0.5])
    module = lt.LossModule(mix, progress=0.25)
    expected, grad = mix.loss_and_grad(logits.detach().numpy(), y.numpy(), progress=0.25)
    got = module(logits, y)
    assert got.item() == expected
    got.backward()
    np.testing.assert_array_equal(logits.grad.numpy(), grad)

    focal = losskit.Loss("focal", gamma=1.0)
    expected, _ = focal(logits.detach().numpy(), y.numpy(), reduction="sum")
    assert lt.loss(focal, logits, y, reduction="sum").item() == expected
    assert lt.LossModule(focal, reduction="sum")(logits, y).item() == expected


def test_module_pickles_and_deep_copies():
    module = lt.LossModule("hem", margin=0.3, weight=[1.0, 2.0, 1.0], reduction="sum")
    z = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert clone.loss is not module.loss and clone._loss_key != module._loss_key
        assert clone.loss.params == {"margin": 0.3}
        assert torch.equal(clone(z, y), module(z, y))


def test_tiny_training_loop_matches_pure_torch():
    torch.manual_seed(0)
    x = torch.randn(32, 6)
    y = torch.randint(0, 3, (32,))
    models = [torch.nn.Linear(6, 3) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    criterion = lt.LossModule("cross_entropy", label_smoothing=0.05)
    for model, loss_fn in zip(models, [criterion, lambda z, t: F.cross_entropy(z, t, label_smoothing=0.05)]):
        optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(10):
            optimiser.zero_grad()
            loss_fn(model(x), y).backward()
            optimiser.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
