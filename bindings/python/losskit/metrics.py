"""Calibration of a classifier: expected calibration error and the reliability diagram.

    >>> from losskit.metrics import ece, reliability_diagram
    >>> ece(logits, labels)                               # top-label ECE, 15 bins
    >>> reliability_diagram(logits, labels, "reliability.png", title="cross_entropy")

Both take class probabilities or logits of shape (N, C) and integer labels of
shape (N,). The ECE is torchmetrics' default ("top-label", ``norm="l1"``): the
top-label confidences are put into ``n_bins`` equal-width bins ``(k/n_bins,
(k+1)/n_bins]`` of [0, 1] and

    ECE = Σ_b (n_b / n) · |acc_b - conf_b|,

where ``n_b`` is the number of samples in bin b, ``acc_b`` the fraction of them
whose top-label prediction is right and ``conf_b`` their mean confidence.

Only numpy is needed to compute; matplotlib is imported when a diagram is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # matplotlib is optional: only drawing needs it.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CalibrationBins", "as_probabilities", "calibration_bins", "ece", "draw_reliability",
           "new_figure", "reliability_diagram", "softmax"]

# A row is read as probabilities when its entries are in [0, 1] and sum to 1 within this.
_SUM_TOLERANCE = 1e-3


def as_probabilities(probs_or_logits: npt.ArrayLike) -> np.ndarray:
    """Class probabilities (float64, shape (N, C)) from probabilities or logits.

    The array is taken as probabilities when every row has entries in [0, 1]
    summing to 1 (within 1e-3); otherwise every row is read as logits and
    softmaxed (with the row maximum subtracted). The decision is made for the
    whole array, so a batch of logits in which some row happens to look like a
    probability vector is still softmaxed as a whole.

    Raises:
        ValueError: not an (N, C) array of finite real numbers with C >= 1.
    """
    scores = np.asarray(probs_or_logits)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"expected probabilities or logits of shape (N, C) with C >= 1; got shape {scores.shape}")
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"expected real probabilities or logits; got dtype {scores.dtype}")
    scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("probabilities or logits contain NaN or infinity")
    if ((scores >= 0) & (scores <= 1)).all() and np.allclose(scores.sum(axis=1), 1.0, rtol=0, atol=_SUM_TOLERANCE):
        return scores
    return softmax(scores)


def softmax(logits: npt.ArrayLike) -> np.ndarray:
    """Row-wise softmax of (N, C) logits in float64, computed with each row's maximum subtracted."""
    scores = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class CalibrationBins:
    """Top-label statistics per confidence bin; bin k covers ``(edges[k], edges[k+1]]``.

    Attributes:
        edges: the n_bins + 1 bin edges, 0 to 1.
        counts: samples per bin.
        accuracy: fraction of right top-label predictions per bin (0 when empty).
        confidence: mean top-label confidence per bin (0 when empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        """Σ_b (n_b / n)·|acc_b - conf_b|; 0 for no samples."""
        total = self.counts.sum()
        if total == 0:
            return 0.0
        return float(np.sum(self.counts / total * np.abs(self.accuracy - self.confidence)))


def calibration_bins(probs_or_logits: npt.ArrayLike, target: npt.ArrayLike, n_bins: int = 15) -> CalibrationBins:
    """Bin the top-label confidences into ``n_bins`` equal-width bins of [0, 1].

    Args:
        probs_or_logits: shape (N, C), probabilities or logits (see ``as_probabilities``).
        target: integer class labels, shape (N,), each in [0, C).
        n_bins: number of bins (>= 1).

    Raises:
        ValueError: bad shapes, labels or bin count.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    probs = as_probabilities(probs_or_logits)
    labels = np.asarray(target)
    if labels.shape != (probs.shape[0],):
        raise ValueError(
            f"target has shape {labels.shape}; expected ({probs.shape[0]},) for scores of shape {probs.shape}")
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError(f"target must hold integer class labels; got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"target labels must be in [0, {probs.shape[1]}); got {labels.min()}..{labels.max()}")

    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" finds k with edges[k-1] < c <= edges[k]: right-closed bins, as torch.bucketize.
    # A confidence of exactly 0 (impossible for a top label) joins the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    occupied = np.maximum(counts, 1.0)
    return CalibrationBins(
        edges=edges,
        counts=counts,
        accuracy=np.bincount(index, weights=correct, minlength=n_bins) / occupied,
        confidence=np.bincount(index, weights=confidence, minlength=n_bins) / occupied,
    )


def ece(probs_or_logits: npt.ArrayLike, target: npt.ArrayLike, n_bins: int = 15) -> float:
    """Expected calibration error of the top-label confidence (torchmetrics' definition).

    Args:
        probs_or_logits: shape (N, C). Rows that are probability vectors are
            used as they are; otherwise the array is softmaxed (see
            ``as_probabilities``).
        target: integer class labels, shape (N,).
        n_bins: equal-width bins of [0, 1] (default 15).

    Returns:
        ECE in [0, 1]; 0 for an empty batch.
    """
    return calibration_bins(probs_or_logits, target, n_bins).ece


def draw_reliability(
    ax: Axes,
    probs_or_logits: npt.ArrayLike,
    target: npt.ArrayLike,
    n_bins: int = 15,
    title: str | None = None,
) -> float:
    """Draw a reliability diagram into a matplotlib ``Axes``; return the ECE it shows.

    Blue bars: the accuracy of each non-empty bin; red hatched boxes: the gap
    between it and the bin's mean confidence (above the bar: over-confident;
    inside it: under-confident); dashed line: perfect calibration. The title is
    `title` followed by the ECE.
    """
    bins = calibration_bins(probs_or_logits, target, n_bins)
    width = 1.0 / n_bins
    left = bins.edges[:-1][bins.counts > 0]
    accuracy = bins.accuracy[bins.counts > 0]
    confidence = bins.confidence[bins.counts > 0]
    ax.bar(left, accuracy, width=width, align="edge", color="tab:blue", alpha=0.75,
           edgecolor="navy", linewidth=0.5, label="accuracy")
    ax.bar(left, np.abs(confidence - accuracy), bottom=np.minimum(accuracy, confidence), width=width,
           align="edge", facecolor="none", edgecolor="tab:red", hatch="///", linewidth=0.8,
           label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ece_text = f"ECE {100 * bins.ece:.1f}%"
    ax.set_title(f"{title} ({ece_text})" if title else ece_text)
    return bins.ece


def new_figure(**kwargs: object) -> Figure:
    """A matplotlib ``Figure`` outside pyplot (no window, no global state), for ``savefig``.

    Keyword arguments go to ``matplotlib.figure.Figure`` (e.g. ``figsize``).

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("drawing figures needs matplotlib: python3 -m pip install matplotlib") from error
    return Figure(**kwargs)


def reliability_diagram(
    probs_or_logits: npt.ArrayLike,
    target: npt.ArrayLike,
    path: str | PathLike[str],
    n_bins: int = 15,
    title: str | None = None,
) -> float:
    """Write a reliability diagram as a PNG file at `path`; return the ECE it shows.

    Args:
        probs_or_logits: shape (N, C), probabilities or logits.
        target: integer class labels, shape (N,).
        path: the PNG file to write.
        n_bins: equal-width confidence bins (default 15).
        title: optional title above the plot.

    Raises:
        ImportError: matplotlib is not installed.
    """
    figure = new_figure(figsize=(4, 4), layout="constrained")
    ax = figure.subplots()
    value = draw_reliability(ax, probs_or_logits, target, n_bins, title)
    ax.legend(loc="lower right", fontsize="small")
    figure.savefig(path, dpi=120, format="png")
    return value
