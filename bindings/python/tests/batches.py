"""Random test batches: logits with class indices or probability targets, any layout and dtype."""

from __future__ import annotations

import numpy as np

TARGET_DTYPES = {"int32": np.int32, "int64": np.int64}


def make_logits(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return (rng.normal(scale=2.0, size=shape)).astype(dtype)


def make_target(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    kind: str,
    dtype: type,
    *,
    ignore: bool = False,
    ignore_index: int = -100,
) -> np.ndarray:
    """`kind` "int32"/"int64": class indices of shape (N, d1..dk), about a third set to
    ignore_index when `ignore` (at least one ignored and one kept); "prob": probabilities
    of the logits' `shape` in `dtype`."""
    classes = shape[1]
    if kind == "prob":
        q = rng.random(shape) ** 2
        return (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    samples = (shape[0],) + shape[2:]
    y = rng.integers(0, classes, size=samples).reshape(-1)
    if ignore:
        dropped = rng.random(y.size) < 0.35
        dropped[0], dropped[-1] = True, False
        y[dropped] = ignore_index
    return y.reshape(samples).astype(TARGET_DTYPES[kind])


def make_weight(rng: np.random.Generator, classes: int, dtype: type) -> np.ndarray:
    """Class weights in [0.5, 2), with class 1 weighted 0 to cover a zero weight."""
    w = rng.uniform(0.5, 2.0, size=classes)
    w[1] = 0.0
    return w.astype(dtype)
