"""The gradient is the derivative of the loss: float64 central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from batches import make_logits, make_target, make_weight
from reference import cross_entropy

STEP = 1e-6


def _library(logits, target, **options):
    return losskit.loss_and_grad("cross_entropy", logits, target, **options)


IMPLEMENTATIONS = {"library": _library, "reference": cross_entropy}


def _scalar_loss(implementation, logits, target, dloss, options):
    # For reduction "none" the gradient is that of Σ_i dloss_i·L_i.
    loss, _ = implementation(logits, target, **options)
    return float(np.sum(np.asarray(loss) * dloss))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["int64", "prob"])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2, 2)], ids=["NC", "NCdd"])
def test_gradient_matches_finite_differences(implementation, reduction, kind, shape):
    rng = np.random.default_rng(11)
    logits = make_logits(rng, shape, np.float64)
    target = make_target(rng, shape, kind, np.float64, ignore=kind != "prob")
    samples = (shape[0],) + shape[2:]
    dloss = rng.normal(size=samples) if reduction == "none" else 0.8
    options = dict(reduction=reduction, weight=make_weight(rng, shape[1], np.float64),
                   label_smoothing=0.15, z_loss=0.02)
    function = IMPLEMENTATIONS[implementation]

    _, grad = function(logits, target, dloss=dloss, **options)
    numeric = np.empty_like(logits)
    for index in np.ndindex(*shape):
        bumped = logits.copy()
        bumped[index] += STEP
        up = _scalar_loss(function, bumped, target, dloss, options)
        bumped[index] -= 2 * STEP
        down = _scalar_loss(function, bumped, target, dloss, options)
        numeric[index] = (up - down) / (2 * STEP)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
