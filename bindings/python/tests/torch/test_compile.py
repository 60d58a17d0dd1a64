"""torch.compile: a LossModule compiles into the graph (custom operator losskit::loss_and_grad)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import losskit.torch as lt


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_compiled_step_has_no_graph_break_and_matches_eager(reduction):
    x = torch.randn(10, 6)
    y = torch.randint(0, 4, (10,))
    y[3] = -100
    sample_weight = torch.linspace(0.5, 2.0, 10)
    criterion = lt.LossModule("squentropy", reduction=reduction, weight=[1.0, 2.0, 0.5, 1.0])

    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = criterion(torch.sigmoid(model(x)), y)
        return (loss * sample_weight).mean() if reduction == "none" else loss

    eager, compiled_model = _model(), _model()
    # fullgraph=True: a graph break at the loss would be an error. aot_eager traces forward and
    # backward through AOTAutograd (the operator's fake and autograd registrations) without
    # spending minutes in a C++ compiler.
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    expected = step(eager, x, y)
    got = compiled(compiled_model, x, y)
    torch.testing.assert_close(got, expected)
    expected.backward()
    got.backward()
    for a, b in zip(compiled_model.parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad)


def test_operator_registration_passes_opcheck():
    criterion = lt.LossModule("cross_entropy")
    for reduction in ("mean", "none"):
        logits = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
        target = torch.randint(0, 3, (5, 2))
        args = (logits, target, None, criterion._loss_key, reduction, -100, None, True)
        torch.library.opcheck(torch.ops.losskit.loss_and_grad.default, args)
