"""The issue's acceptance check: a 3-layer MLP trained with losskit.torch.loss("squentropy", ...)
reaches the same test accuracy (within 0.5 %) as the same MLP, same seed, trained with a pure-torch
squentropy written from the formula."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import losskit.torch
from test_adapter import squentropy_reference


def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    as_tensor = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return as_tensor(x_train), torch.tensor(y_train), as_tensor(x_test), torch.tensor(y_test)


def _train(loss_fn, epochs: int = 10) -> float:
    """Test accuracy of a 64-128-64-10 MLP trained with Adam under a fixed seed."""
    x_train, y_train, x_test, y_test = _digits()
    torch.set_num_threads(1)  # small matrices: threads only add contention
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = np.random.default_rng(0)
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(x_train)), len(x_train) // 32):
            optimiser.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def test_squentropy_through_losskit_trains_like_pure_torch():
    with_losskit = _train(lambda z, y: losskit.torch.loss("squentropy", z, y))
    with_torch = _train(lambda z, y: squentropy_reference(z, y))
    assert with_torch > 0.9
    assert abs(with_losskit - with_torch) <= 0.005, (with_losskit, with_torch)
