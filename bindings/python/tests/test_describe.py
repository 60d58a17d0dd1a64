"""losskit.describe: every loss's parameters, read from the library (lk_loss_param_*)."""

import pytest

import losskit


def test_every_loss_describes_its_parameters():
    for name in losskit.losses():
        params = losskit.describe(name)
        assert list(params)[-1] == "nan_policy", name
        for parameter, doc in params.items():
            assert "default" in doc, (name, parameter, doc)


def test_describe_names_the_documented_parameters():
    assert list(losskit.describe("cross_entropy")) == ["label_smoothing", "z_loss", "nan_policy"]
    hem = losskit.describe("hem")
    assert {"margin", "class_counts", "M"} <= set(hem)
    assert hem["margin"].startswith("number in [0.0, inf), default 0.5")
    assert "vector" in hem["class_counts"]
    assert losskit.describe("cross_entropy")["nan_policy"].startswith("one of error, propagate, default error")


def test_describe_unknown_loss_raises():
    with pytest.raises(losskit.LossKitError) as info:
        losskit.describe("no_such_loss")
    assert info.value.status == losskit.Status.ERROR_UNKNOWN_LOSS
