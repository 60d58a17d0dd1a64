"""Named parameters of every kind reach the library: numbers, text and vectors."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import LossKitError, Status
from batches import make_logits, make_target

pytestmark = pytest.mark.skipif("logit_adjusted" not in losskit.losses(), reason="no vector-parameter loss built")


@pytest.fixture
def batch():
    rng = np.random.default_rng(31)
    return make_logits(rng, (6, 3), np.float64), make_target(rng, (6, 3), "int64", np.float64, ignore=True)


@pytest.mark.parametrize("priors", [[0.5, 0.3, 0.2], (0.5, 0.3, 0.2), np.array([0.5, 0.3, 0.2], np.float32)],
                         ids=["list", "tuple", "float32-array"])
def test_vector_param(batch, priors):
    # logit_adjusted is cross-entropy of z + τ·log π: the vector must arrive intact.
    logits, target = batch
    loss, grad = losskit.loss_and_grad("logit_adjusted", logits, target, priors=priors, tau=1.0)
    shifted = logits + np.log(np.asarray(priors, np.float64))
    expected_loss, expected_grad = losskit.loss_and_grad("cross_entropy", shifted, target)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-12)


def test_vector_param_of_wrong_length(batch):
    logits, target = batch
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad("logit_adjusted", logits, target, priors=[0.5, 0.5])
    assert info.value.status == Status.ERROR_BAD_PARAM
    assert "priors" in info.value.message


def test_vector_param_given_to_a_number(batch):
    logits, target = batch
    with pytest.raises(LossKitError) as info:
        losskit.loss_and_grad("cross_entropy", logits, target, z_loss=[0.1])
    assert info.value.status == Status.ERROR_BAD_PARAM
