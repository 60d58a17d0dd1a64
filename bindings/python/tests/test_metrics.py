"""losskit.metrics: the ECE against a hand-computed example and an independent loop, the binning
rule at the edges, probabilities versus logits, errors, and the reliability diagram's PNG."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from losskit import metrics

# Five samples, two classes, confidences away from the 15 bin edges (k/15):
#   conf 0.95 right -> bin 14; 0.90 right and 0.92 wrong -> bin 13; 0.65 wrong -> bin 9; 0.70 right -> bin 10.
HAND_PROBS = np.array([[0.95, 0.05], [0.10, 0.90], [0.92, 0.08], [0.35, 0.65], [0.30, 0.70]])
HAND_LABELS = np.array([0, 1, 1, 0, 1])
# (1/5)|1 - .95| + (2/5)|(1 + 0)/2 - (.90 + .92)/2| + (1/5)|0 - .65| + (1/5)|1 - .70|
HAND_ECE = 0.2 * 0.05 + 0.4 * 0.41 + 0.2 * 0.65 + 0.2 * 0.30  # = 0.364


def loop_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """The textbook definition, one sample and one bin at a time (Guo et al. 2017): bins (lo, hi]."""
    edges = [k / n_bins for k in range(n_bins + 1)]
    n = len(labels)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        members = [i for i in range(n) if lo < max(probs[i]) <= hi]
        if members:
            accuracy = sum(int(np.argmax(probs[i]) == labels[i]) for i in members) / len(members)
            confidence = sum(max(probs[i]) for i in members) / len(members)
            total += len(members) / n * abs(accuracy - confidence)
    return total


def test_hand_computed_example():
    assert metrics.ece(HAND_PROBS, HAND_LABELS) == pytest.approx(HAND_ECE, abs=1e-12)
    assert HAND_ECE == pytest.approx(0.364)


def test_hand_computed_example_with_one_bin():
    # One bin: |accuracy - mean confidence| = |3/5 - (.95 + .90 + .92 + .65 + .70)/5|.
    assert metrics.ece(HAND_PROBS, HAND_LABELS, n_bins=1) == pytest.approx(abs(0.6 - 4.12 / 5), abs=1e-12)


def test_logits_give_the_ece_of_their_softmax():
    logits = np.log(HAND_PROBS) + np.array([[3.0], [-1.0], [0.5], [2.0], [0.0]])  # a shift per row
    assert metrics.ece(logits, HAND_LABELS) == pytest.approx(HAND_ECE, abs=1e-12)
    assert metrics.ece(logits.astype(np.float32), HAND_LABELS) == pytest.approx(HAND_ECE, abs=1e-6)


@pytest.mark.parametrize("n_bins", [1, 2, 7, 15, 30])
@pytest.mark.parametrize("classes", [2, 10])
def test_matches_an_independent_loop(n_bins, classes):
    rng = np.random.default_rng(n_bins * 100 + classes)
    logits = rng.normal(scale=3.0, size=(400, classes))
    labels = rng.integers(0, classes, size=400)
    probs = metrics.softmax(logits)
    expected = loop_ece(probs, labels, n_bins)
    assert metrics.ece(logits, labels, n_bins) == pytest.approx(expected, abs=1e-12)
    assert metrics.ece(probs, labels, n_bins) == pytest.approx(expected, abs=1e-12)


def test_bins_are_closed_on_the_right():
    # Confidence exactly 1 belongs to the last bin, exactly 0.5 to the bin ending at 0.5.
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    assert metrics.ece(one_hot, np.array([0, 1, 2, 0])) == 0.0
    assert metrics.ece(one_hot, np.array([1, 1, 2, 0])) == pytest.approx(0.25)
    bins = metrics.calibration_bins(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 0]), n_bins=2)
    np.testing.assert_array_equal(bins.counts, [1, 1])
    np.testing.assert_array_equal(bins.confidence, [0.5, 1.0])


def test_calibration_bins():
    bins = metrics.calibration_bins(HAND_PROBS, HAND_LABELS)
    assert bins.edges.shape == (16,) and bins.edges[0] == 0 and bins.edges[-1] == 1
    assert bins.counts.sum() == 5
    assert list(np.nonzero(bins.counts)[0]) == [9, 10, 13, 14]
    assert bins.accuracy[13] == 0.5 and bins.confidence[13] == pytest.approx(0.91)
    assert bins.accuracy[0] == 0 and bins.confidence[0] == 0  # empty bins
    assert bins.ece == pytest.approx(HAND_ECE)


def test_probabilities_or_logits_is_decided_for_the_whole_array():
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(metrics.as_probabilities(probs), probs)
    np.testing.assert_allclose(metrics.as_probabilities(probs.astype(np.float32)), probs, atol=1e-7)
    mixed = np.array([[0.2, 0.8], [0.6, 0.6]])  # the second row is not a distribution: all are logits
    np.testing.assert_allclose(metrics.as_probabilities(mixed), metrics.softmax(mixed))
    np.testing.assert_allclose(metrics.softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])  # no overflow


def test_empty_batch():
    assert metrics.ece(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)) == 0.0


@pytest.mark.parametrize("scores,labels,n_bins,match", [
    (np.zeros(4), np.zeros(4, dtype=int), 15, "shape"),
    (np.zeros((4, 0)), np.zeros(4, dtype=int), 15, "shape"),
    (np.zeros((4, 2)), np.zeros(3, dtype=int), 15, "target has shape"),
    (np.zeros((4, 2)), np.array([0, 1, 2, 0]), 15, r"labels must be in \[0, 2\)"),
    (np.zeros((4, 2)), np.array([0, 1, -1, 0]), 15, "labels must be in"),
    (np.zeros((4, 2)), np.zeros(4), 15, "integer class labels"),
    (np.array([[np.nan, 0.0]]), np.array([0]), 15, "NaN or infinity"),
    (np.zeros((4, 2)), np.zeros(4, dtype=int), 0, "n_bins"),
    (np.zeros((4, 2)), np.zeros(4, dtype=int), 2.5, "n_bins"),
])
def test_bad_input(scores, labels, n_bins, match):
    with pytest.raises(ValueError, match=match):
        metrics.ece(scores, labels, n_bins)


def _read_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def test_reliability_diagram_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(300, 5))
    labels = rng.integers(0, 5, size=300)
    path = tmp_path / "reliability.png"
    value = metrics.reliability_diagram(logits, labels, path, title="random")
    assert value == pytest.approx(metrics.ece(logits, labels))
    image = _read_png(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something was drawn


def test_reliability_diagram_says_how_to_get_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install matplotlib"):
        metrics.reliability_diagram(HAND_PROBS, HAND_LABELS, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
