"""The main job: the digits demo trains to > 90 % test accuracy with the library's cross-entropy."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("sklearn")

from losskit import demo  # noqa: E402


def test_demo_reaches_90_percent(capsys):
    accuracy = demo.main(["--epochs", "4", "--seed", "0"])
    output = capsys.readouterr().out
    assert accuracy > 0.9
    epochs = re.findall(r"epoch +(\d+)/4 +loss ([\d.]+) +train +([\d.]+)% +test +([\d.]+)%", output)
    assert [int(e[0]) for e in epochs] == [1, 2, 3, 4]
    assert float(epochs[-1][3]) == pytest.approx(100 * accuracy, abs=0.05)
    assert float(epochs[-1][1]) < float(epochs[0][1])  # the loss went down


def test_demo_passes_named_params(capsys):
    assert demo.main(["--epochs", "2", "--param", "label_smoothing=0.1", "--param", "nan_policy=error"]) > 0.9
    assert "label_smoothing" in capsys.readouterr().out


@pytest.mark.parametrize("text,expected", [
    ("label_smoothing=0.1", ("label_smoothing", 0.1)),
    ("nan_policy=propagate", ("nan_policy", "propagate")),
    ("priors=0.25,0.75", ("priors", [0.25, 0.75])),
])
def test_param_parsing(text, expected):
    assert demo._param(text) == expected
