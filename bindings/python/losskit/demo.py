"""Train a small classifier on scikit-learn's digits with a losskit loss.

    PYTHONPATH=bindings/python python3 -m losskit.demo [--epochs 20] [--loss cross_entropy] [--seed 0]
                                                      [--param label_smoothing=0.1 ...]

A one-hidden-layer numpy MLP (64 -> 128 ReLU -> 10, float32). losskit computes
the loss and its gradient with respect to the logits; numpy backpropagates it
through the two layers; SGD with momentum updates the weights.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from ._library import Status
from .api import loss_and_grad
from .errors import LossKitError


def load_digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """digits as (x_train, y_train, x_test, y_test): a stratified 75/25 split, features
    standardised with the training set's statistics, float32 inputs and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # some border pixels are always 0
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64)


class MLP:
    """input -> hidden (ReLU) -> logits, trained by SGD with momentum."""

    def __init__(self, inputs: int, hidden: int, classes: int, rng: np.random.Generator) -> None:
        he = lambda fan_in, shape: (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)  # noqa: E731
        self.params = [he(inputs, (inputs, hidden)), np.zeros(hidden, np.float32),
                       he(hidden, (hidden, classes)), np.zeros(classes, np.float32)]
        self.velocity = [np.zeros_like(p) for p in self.params]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, hidden activations kept for backward)."""
        w1, b1, w2, b2 = self.params
        hidden = np.maximum(x @ w1 + b1, 0.0)
        return hidden @ w2 + b2, hidden

    def backward(self, x: np.ndarray, hidden: np.ndarray, dlogits: np.ndarray) -> list[np.ndarray]:
        """Gradients of the parameters from the loss's gradient with respect to the logits."""
        w2 = self.params[2]
        dhidden = (dlogits @ w2.T) * (hidden > 0)
        return [x.T @ dhidden, dhidden.sum(axis=0), hidden.T @ dlogits, dlogits.sum(axis=0)]

    def step(self, grads: list[np.ndarray], lr: float, momentum: float = 0.9) -> None:
        for param, velocity, grad in zip(self.params, self.velocity, grads):
            velocity *= momentum
            velocity -= lr * grad
            param += velocity

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.forward(x)[0].argmax(axis=1) == y).mean())


def _param(text: str) -> tuple[str, float | str | list[float]]:
    """NAME=VALUE: a number, comma-separated numbers (a vector) or text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        numbers = [float(part) for part in value.split(",")]
    except ValueError:
        return name, value
    return name, numbers if "," in value else numbers[0]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m losskit.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training set (default 20)")
    parser.add_argument("--loss", default="cross_entropy", help="a losskit loss name (default cross_entropy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches")
    parser.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the loss, e.g. label_smoothing=0.1 (repeatable)")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> float:
    """Train, print loss and train/test accuracy per epoch; return the final test accuracy."""
    args = _arguments(argv)
    params = dict(args.param)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    x_train, y_train, x_test, y_test = load_digits_split(args.seed)
    model = MLP(x_train.shape[1], 128, int(y_train.max()) + 1, rng)
    print(f"digits: {len(x_train)} train, {len(x_test)} test; loss {args.loss} {params or ''}".rstrip())

    test_accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        total = 0.0
        for first in range(0, len(order), args.batch_size):
            batch = order[first:first + args.batch_size]
            x, y = x_train[batch], y_train[batch]
            logits, hidden = model.forward(x)
            try:
                # The gradient (mean over the batch) overwrites the logits, which are not needed again.
                loss, dlogits = loss_and_grad(args.loss, logits, y, inplace=True, **params)
            except LossKitError as error:
                if error.status != Status.ERROR_NONFINITE_LOGIT:
                    raise
                message = f"training diverged in epoch {epoch} (non-finite logits); try a smaller --lr"
                raise SystemExit(message) from None
            total += loss * len(batch)
            model.step(model.backward(x, hidden, dlogits), args.lr)
        train_accuracy = model.accuracy(x_train, y_train)
        test_accuracy = model.accuracy(x_test, y_test)
        print(f"epoch {epoch:3d}/{args.epochs}  loss {total / len(x_train):.4f}  "
              f"train {100 * train_accuracy:5.1f}%  test {100 * test_accuracy:5.1f}%")
    print(f"final test accuracy {100 * test_accuracy:.1f}% in {time.perf_counter() - start:.1f} s")
    return test_accuracy


if __name__ == "__main__":
    main()
