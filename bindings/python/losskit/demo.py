"""Compare losskit's classification losses on real data: one MLP, one optimiser, one learning rate.

    PYTHONPATH=bindings/python python3 -m losskit.demo [--quick] [--backend numpy|torch]
        [--datasets digits,wine,breast_cancer,synthetic] [--losses cross_entropy,squentropy,...]
        [--seeds 5] [--epochs 30] [--out demo-out] [--jobs J]

Every loss is trained at its default parameters with the same small MLP (inputs -> 128 ReLU ->
classes, PyTorch's default initialisation), the same optimiser (Adam, learning rate 1e-3, PyTorch's
defaults otherwise), the same minibatches of 32 and the same number of epochs, and evaluated on the
test set after the last epoch: the papers present these losses as drop-in replacements of
cross-entropy, so nothing is tuned per loss. Two losses need something from the run itself:
`ce_expectation_mix` follows its `linear` schedule, with `progress` = step / total steps;
`logit_adjusted` gets the training set's class frequencies as `priors`. For a given seed every loss
sees the same train/test split (stratified 75/25), the same initial weights and the same batch
order, so the losses are compared on paired runs.

Datasets (scikit-learn): `digits` (1797 8x8 images, 10 classes), `wine` (178, 3 classes),
`breast_cancer` (569, 2 classes) and `synthetic`: `make_classification` with 4000 samples, 20
classes and 10 % of the labels flipped at random.

Backends: `numpy` (default) backpropagates losskit's gradient of the logits through a numpy MLP;
`torch` runs the same MLP in PyTorch on the CPU, the loss entering autograd through a small
`torch.autograd.Function` that calls `loss_and_grad`.

Prints two tables, loss x dataset: test accuracy and ECE, mean ± std over the seeds, the best of
each column marked with *. Writes into --out: results.csv (one row per loss and dataset) and
runs.csv (one row per run), both in fractions rather than percent; results.md (the two tables);
accuracy.png and ece.png (means with their standard deviation over seeds); reliability.png (one
reliability diagram per loss, the test predictions of every seed pooled). ECE is the top-label
expected calibration error with 15 bins (losskit.metrics.ece). The runs are spread over --jobs
worker processes; a run depends only on its loss, dataset and seed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import importlib.util
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from . import metrics
from ._library import Status
from .api import loss_and_grad, losses, version
from .errors import LossKitError

# --- the experiment ------------------------------------------------------------------------------

# Every built-in loss, in the README's order. `dice` is a segmentation loss (one value per batch)
# but trains a classifier too, and it is one of the comparators of the HEM paper.
DEFAULT_LOSSES = ("cross_entropy", "expectation", "ce_expectation_mix", "squentropy", "square", "hem",
                  "multi_margin", "logit_norm", "logit_adjusted", "focal", "dice")
DATASETS = ("digits", "wine", "breast_cancer", "synthetic")
DEFAULT_SEEDS = 5
DEFAULT_EPOCHS = 30
# --quick: every loss on a smaller grid, in this process (starting workers would cost more than they save)
QUICK = {"datasets": ("digits", "breast_cancer"), "seeds": 2, "epochs": 10, "jobs": 1}

HIDDEN = 128
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
TEST_FRACTION = 0.25
ECE_BINS = 15
FOOTNOTE = ("Mean ± sample standard deviation over the seeds, in %; `*` marks the best of a column. Every loss "
            "at its defaults, except ce_expectation_mix (linear schedule over training) and logit_adjusted "
            "(priors = training class frequencies).")


# --- datasets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """A dataset split for one seed: float32 features standardised with the training set's
    statistics, int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


@functools.lru_cache(maxsize=None)
def _dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a dataset, loaded once per process."""
    from sklearn import datasets

    if name == "synthetic":
        return datasets.make_classification(
            n_samples=4000, n_features=40, n_informative=20, n_redundant=10, n_classes=20,
            n_clusters_per_class=1, flip_y=0.1, class_sep=1.0, random_state=0)
    loaders = {"digits": datasets.load_digits, "wine": datasets.load_wine,
               "breast_cancer": datasets.load_breast_cancer}
    return loaders[name](return_X_y=True)


def load_split(name: str, seed: int) -> Split:
    """Dataset `name` split (stratified, 25 % test) by `seed`."""
    from sklearn.model_selection import train_test_split

    x, y = _dataset(name)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # constant features (digits' border pixels) stay 0
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return Split(scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64),
                 classes=int(y.max()) + 1)


# --- losses --------------------------------------------------------------------------------------

LossParams = Callable[[float], dict]  # training progress in [0, 1) -> the loss's parameters


def loss_params(name: str, split: Split) -> LossParams:
    """The parameters of loss `name` at each point of training: the defaults, except the mix's
    schedule (linear, driven by the progress) and logit_adjusted's priors (class frequencies)."""
    if name == "ce_expectation_mix":
        return lambda progress: {"schedule": "linear", "progress": progress}
    if name == "logit_adjusted":
        priors = np.bincount(split.y_train, minlength=split.classes) / len(split.y_train)
        return lambda progress: {"priors": priors}
    return lambda progress: {}


# --- models --------------------------------------------------------------------------------------

def initial_weights(inputs: int, classes: int, rng: np.random.Generator) -> list[np.ndarray]:
    """[w1, b1, w2, b2] of inputs -> HIDDEN -> classes, as PyTorch initialises nn.Linear
    (uniform in ±1/sqrt(fan_in)); weights are stored (fan_in, fan_out)."""
    def layer(fan_in: int, fan_out: int) -> list[np.ndarray]:
        bound = 1.0 / math.sqrt(fan_in)
        return [rng.uniform(-bound, bound, size=shape).astype(np.float32)
                for shape in ((fan_in, fan_out), (fan_out,))]

    return layer(inputs, HIDDEN) + layer(HIDDEN, classes)


class Model(Protocol):
    """What training needs from a backend's MLP."""

    def step(self, x: np.ndarray, y: np.ndarray, loss: str, params: dict) -> float:
        """One optimiser step on a minibatch; returns the minibatch's mean loss."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The logits of `x` (float32, (N, classes))."""


class Adam:
    """torch.optim.Adam's update (betas 0.9/0.999, eps 1e-8, no weight decay), in place on one flat
    numpy vector holding every parameter (one pass of numpy operations per step, not one per layer)."""

    def __init__(self, params: np.ndarray, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.first = np.zeros_like(params)
        self.second = np.zeros_like(params)
        self.scratch = np.empty_like(params)
        self.steps = 0

    def step(self, grad: np.ndarray) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.steps)
        correction2 = math.sqrt(1 - beta2 ** self.steps)
        self.first *= beta1
        self.first += (1 - beta1) * grad
        self.second *= beta2
        self.second += (1 - beta2) * grad * grad
        # params -= step_size * first / (sqrt(second) / correction2 + eps), without temporaries
        denominator = self.scratch
        np.sqrt(self.second, out=denominator)
        denominator /= correction2
        denominator += self.eps
        np.divide(self.first, denominator, out=denominator)
        denominator *= step_size
        self.params -= denominator


def _flat_views(flat: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Consecutive views of `flat` with the given shapes."""
    ends = np.cumsum([math.prod(shape) for shape in shapes])
    return [flat[end - math.prod(shape):end].reshape(shape) for shape, end in zip(shapes, ends)]


class NumpyMLP:
    """The MLP in numpy: losskit gives the gradient of the logits, numpy backpropagates it. The
    weights and their gradients live in two flat vectors, which Adam updates in one go."""

    def __init__(self, weights: list[np.ndarray], lr: float) -> None:
        shapes = [w.shape for w in weights]
        self.flat = np.concatenate([w.ravel() for w in weights])
        self.flat_grad = np.zeros_like(self.flat)
        self.params = _flat_views(self.flat, shapes)
        self.grads = _flat_views(self.flat_grad, shapes)
        self.optimizer = Adam(self.flat, lr)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w1, b1, w2, b2 = self.params
        hidden = np.maximum(x @ w1 + b1, 0.0)
        return hidden @ w2 + b2, hidden

    def step(self, x: np.ndarray, y: np.ndarray, loss: str, params: dict) -> float:
        logits, hidden = self._forward(x)
        # The gradient of the batch-mean loss overwrites the logits, which are not needed again.
        value, dlogits = loss_and_grad(loss, logits, y, inplace=True, **params)
        dw1, db1, dw2, db2 = self.grads
        dhidden = (dlogits @ self.params[2].T) * (hidden > 0)
        np.matmul(x.T, dhidden, out=dw1)
        np.sum(dhidden, axis=0, out=db1)
        np.matmul(hidden.T, dlogits, out=dw2)
        np.sum(dlogits, axis=0, out=db2)
        self.optimizer.step(self.flat_grad)
        return value

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)[0]


@functools.lru_cache(maxsize=None)
def _torch_mlp_class() -> type:
    """TorchMLP, defined on first use so that torch is imported only for --backend torch."""
    import torch

    class LossKitLoss(torch.autograd.Function):
        """A losskit loss (mean reduction) in autograd: forward computes the loss and its gradient
        on CPU tensors through numpy; backward scales the saved gradient by the upstream one."""

        @staticmethod
        def forward(ctx, logits: torch.Tensor, target: torch.Tensor, loss: str, params: dict) -> torch.Tensor:
            value, grad = loss_and_grad(loss, logits.detach().numpy(), target.numpy(), **params)
            ctx.grad = torch.from_numpy(grad)
            return logits.new_tensor(value)

        @staticmethod
        def backward(ctx, dloss: torch.Tensor) -> tuple:
            return ctx.grad * dloss, None, None, None

    class TorchMLP:
        """The MLP in PyTorch (CPU), from the same initial weights, with torch.optim.Adam."""

        def __init__(self, weights: list[np.ndarray], lr: float) -> None:
            self.params = [torch.tensor(w, requires_grad=True) for w in weights]
            self.optimizer = torch.optim.Adam(self.params, lr=lr)

        def _forward(self, x: torch.Tensor) -> torch.Tensor:
            w1, b1, w2, b2 = self.params
            return torch.relu(x @ w1 + b1) @ w2 + b2

        def step(self, x: np.ndarray, y: np.ndarray, loss: str, params: dict) -> float:
            value = LossKitLoss.apply(self._forward(torch.from_numpy(x)), torch.from_numpy(y), loss, params)
            self.optimizer.zero_grad()
            value.backward()
            self.optimizer.step()
            return value.item()

        def logits(self, x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self._forward(torch.from_numpy(x)).numpy()

    return TorchMLP


@contextlib.contextmanager
def backend_threads(backend: str) -> Iterator[None]:
    """For torch: one intra-op thread while inside (the MLP's matrices are far too small for more,
    and on a busy machine torch's extra threads make each step many times slower); the previous
    setting is restored on leaving. Nothing for numpy."""
    if backend != "torch":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_model(backend: str, weights: list[np.ndarray]) -> Model:
    """A fresh MLP of `backend` ("numpy" or "torch") starting from `weights`."""
    return (NumpyMLP if backend == "numpy" else _torch_mlp_class())(weights, LEARNING_RATE)


# --- one run -------------------------------------------------------------------------------------

@dataclass
class Run:
    """One loss trained on one dataset with one seed, evaluated on the test set after the last epoch."""

    loss: str
    dataset: str
    seed: int
    accuracy: float  # NaN when the run diverged
    ece: float
    final_train_loss: float
    seconds: float
    diverged: bool = False
    test_probs: np.ndarray | None = field(default=None, repr=False)
    test_labels: np.ndarray | None = field(default=None, repr=False)


def train(backend: str, loss: str, dataset: str, seed: int, epochs: int) -> Run:
    """Train a new MLP with `loss` on `dataset` split by `seed`; return its test accuracy and ECE."""
    start = time.perf_counter()
    split = load_split(dataset, seed)
    rng = np.random.default_rng(seed)
    model = make_model(backend, initial_weights(split.x_train.shape[1], split.classes, rng))
    params = loss_params(loss, split)
    n = len(split.y_train)
    batches_per_epoch = -(-n // BATCH_SIZE)
    total_steps = epochs * batches_per_epoch
    step, epoch_loss = 0, math.nan
    try:
        for _ in range(epochs):
            order = rng.permutation(n)
            epoch_loss = 0.0
            for first in range(0, n, BATCH_SIZE):
                batch = order[first:first + BATCH_SIZE]
                value = model.step(split.x_train[batch], split.y_train[batch], loss, params(step / total_steps))
                epoch_loss += value * len(batch) / n
                step += 1
    except LossKitError as error:  # the library refuses non-finite logits: training diverged
        if error.status != Status.ERROR_NONFINITE_LOGIT:
            raise
        logits = None
    else:
        logits = model.logits(split.x_test)
    if logits is None or not np.isfinite(logits).all():
        return Run(loss, dataset, seed, math.nan, math.nan, math.nan, time.perf_counter() - start, diverged=True)
    probs = metrics.softmax(logits)
    return Run(loss, dataset, seed,
               accuracy=float((probs.argmax(axis=1) == split.y_test).mean()),
               ece=metrics.ece(probs, split.y_test, ECE_BINS),
               final_train_loss=epoch_loss, seconds=time.perf_counter() - start,
               test_probs=probs, test_labels=split.y_test)


# --- summaries and tables ------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """The runs of one loss on one dataset: means and sample standard deviations over the seeds
    that did not diverge (NaN when all did)."""

    loss: str
    dataset: str
    seeds: int
    diverged: int
    accuracy_mean: float
    accuracy_std: float
    ece_mean: float
    ece_std: float

    @classmethod
    def of(cls, runs: Sequence[Run]) -> Summary:
        done = [r for r in runs if not r.diverged]

        def mean_std(values: list[float]) -> tuple[float, float]:
            if not values:
                return math.nan, math.nan
            return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)

        return cls(runs[0].loss, runs[0].dataset, len(runs), len(runs) - len(done),
                   *mean_std([r.accuracy for r in done]), *mean_std([r.ece for r in done]))


@dataclass(frozen=True)
class Metric:
    """A column family of the tables: which summary fields, how shown, which end is best."""

    title: str
    key: str  # "accuracy" or "ece"
    higher_is_better: bool

    def mean(self, summary: Summary) -> float:
        return getattr(summary, f"{self.key}_mean")

    def std(self, summary: Summary) -> float:
        return getattr(summary, f"{self.key}_std")

    def cell(self, summary: Summary) -> str:
        """"97.2 ± 0.8" in percent, or "diverged" when no seed finished."""
        if math.isnan(self.mean(summary)):
            return "diverged"
        text = f"{100 * self.mean(summary):.1f} ± {100 * self.std(summary):.1f}"
        return text + (f" ({summary.diverged} div.)" if summary.diverged else "")

    def mean_shown(self, summary: Summary) -> float:
        """The mean as the tables show it: percent, one decimal."""
        return round(100 * self.mean(summary), 1)

    def best(self, summaries: dict[tuple[str, str], Summary]) -> set[tuple[str, str]]:
        """The (loss, dataset) cells holding the best mean of their dataset's column, as shown
        (ties are all best); a loss with a diverged seed is never the best."""
        result = set()
        for dataset in dict.fromkeys(d for _, d in summaries):
            column = {key: self.mean_shown(s) for key, s in summaries.items()
                      if key[1] == dataset and not s.diverged}
            if column:
                target = (max if self.higher_is_better else min)(column.values())
                result |= {key for key, value in column.items() if value == target}
        return result


METRICS = (Metric("Test accuracy (%)", "accuracy", higher_is_better=True),
           Metric("ECE (%, 15 bins)", "ece", higher_is_better=False))


def tables(summaries: dict[tuple[str, str], Summary], loss_names: Sequence[str],
           dataset_names: Sequence[str]) -> list[tuple[str, list[list[str]]]]:
    """For each metric: (title, rows), the first row the header, then one row per loss with
    "mean ± std" per dataset; the best of each column ends in " *"."""
    result = []
    for metric in METRICS:
        best = metric.best(summaries)
        rows = [["loss", *dataset_names]]
        for loss in loss_names:
            rows.append([loss] + [metric.cell(summaries[loss, d]) + (" *" if (loss, d) in best else "")
                                  for d in dataset_names])
        result.append((metric.title, rows))
    return result


def render_text(title: str, rows: list[list[str]]) -> str:
    """A table in aligned plain-text columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:  # the loss name left-aligned, the numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([title, line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def render_markdown(title: str, rows: list[list[str]]) -> str:
    """A table in GitHub Markdown, numbers right-aligned."""
    header = "| " + " | ".join(rows[0]) + " |"
    rule = "|---|" + "---:|" * (len(rows[0]) - 1)
    body = ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join([f"**{title}**", "", header, rule, *body])


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


# --- figures -------------------------------------------------------------------------------------

def bar_figure(metric: Metric, summaries: dict[tuple[str, str], Summary], loss_names: Sequence[str],
               dataset_names: Sequence[str], path: Path) -> None:
    """One panel per dataset, one bar per loss (mean over seeds, error bar ±1 std). Accuracy axes
    are zoomed to the range of the bars (they do not start at 0); ECE axes start at 0."""
    figure = metrics.new_figure(figsize=(3.2 * len(dataset_names) + 0.5, 4.6), layout="constrained")
    axes = figure.subplots(1, len(dataset_names), squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(loss_names))]
    positions = np.arange(len(loss_names))
    for ax, dataset in zip(axes, dataset_names):
        rows = [summaries[loss, dataset] for loss in loss_names]
        means = np.array([100 * metric.mean(s) for s in rows])
        stds = np.array([100 * metric.std(s) for s in rows])
        bars = ax.bar(positions, np.nan_to_num(means), yerr=np.nan_to_num(stds), capsize=3, color=colors,
                      edgecolor="black", linewidth=0.5, error_kw={"linewidth": 1})
        for bar in bars.patches[10:]:  # the colour cycle has 10 colours: hatch the bars that repeat one
            bar.set_hatch("//")
        finite = np.isfinite(means)
        if metric.higher_is_better and finite.any():
            low, high = np.min((means - stds)[finite]), np.max((means + stds)[finite])
            pad = max(0.5, 0.15 * (high - low))
            ax.set_ylim(max(0.0, low - pad), min(100.5, high + pad))
        else:
            ax.set_ylim(bottom=0)
        ax.set_xticks(positions, loss_names, rotation=60, ha="right", fontsize="small")
        ax.set_title(dataset)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylabel(metric.title)
    seeds = next(iter(summaries.values())).seeds
    zoomed = " (axes zoomed, not from 0)" if metric.higher_is_better else ""
    figure.suptitle(f"{metric.title}: mean ± std over {seeds} seed{'s' * (seeds != 1)}{zoomed}")
    figure.savefig(path, dpi=110)


def reliability_figure(runs: Sequence[Run], loss_names: Sequence[str], dataset: str, path: Path) -> None:
    """A grid of reliability diagrams, one per loss, on the test predictions of every seed pooled."""
    columns = math.ceil(math.sqrt(len(loss_names)))
    grid_rows = -(-len(loss_names) // columns)
    figure = metrics.new_figure(figsize=(2.6 * columns, 2.8 * grid_rows + 0.4), layout="constrained")
    axes = figure.subplots(grid_rows, columns, squeeze=False).ravel()
    for ax, loss in zip(axes, loss_names):
        done = [r for r in runs if r.loss == loss and r.dataset == dataset and not r.diverged]
        if not done:
            ax.set_title(f"{loss}: diverged", fontsize="small")
            ax.set_axis_off()
            continue
        metrics.draw_reliability(ax, np.concatenate([r.test_probs for r in done]),
                                 np.concatenate([r.test_labels for r in done]), ECE_BINS, title=loss)
        ax.title.set_fontsize("small")
        ax.xaxis.label.set_fontsize("x-small")
        ax.yaxis.label.set_fontsize("x-small")
        ax.tick_params(labelsize="x-small")
    for ax in axes[len(loss_names):]:
        ax.set_axis_off()
    figure.suptitle(f"Reliability on {dataset} (test predictions of all seeds pooled; "
                    f"{ECE_BINS} bins; blue: accuracy per bin, red hatched: gap to the mean confidence)",
                    fontsize="medium")
    figure.savefig(path, dpi=110)


def reliability_dataset(dataset_names: Sequence[str]) -> str:
    """The dataset of the reliability diagrams: the noisy synthetic task when it ran, else the first."""
    return "synthetic" if "synthetic" in dataset_names else dataset_names[0]


# --- progress and the runs ---------------------------------------------------------------------

class ProgressBar:
    """A one-line text progress bar on a stream (stderr): redrawn in place on a terminal, a line
    per tenth of the work otherwise (logs, pytest)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.width, self.done = total, width, 0
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self.start = time.perf_counter()
        self.reported_tenths = -1

    def advance(self, label: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        filled = self.width * self.done // self.total
        text = (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} runs "
                f"{elapsed:5.0f} s, ~{left:.0f} s left  {label}")
        if self.interactive:
            self.stream.write("\r" + text[:119].ljust(119))
            if self.done == self.total:
                self.stream.write("\n")
        elif 10 * self.done // self.total > self.reported_tenths:
            self.reported_tenths = 10 * self.done // self.total
            self.stream.write(text + "\n")
        self.stream.flush()


def _limit_torch_threads(backend: str) -> None:
    """Run once in each worker process: one torch thread per worker (the workers are the parallelism)."""
    if backend == "torch":
        import torch

        torch.set_num_threads(1)


def run_jobs(backend: str, jobs: Sequence[tuple[str, str, int]], epochs: int, workers: int,
             progress: ProgressBar) -> list[Run]:
    """Train every (loss, dataset, seed) job, in `workers` processes (1: in this one), and return the
    runs in the order of `jobs`. A run depends on its job alone, so the results do not depend on
    `workers`. Worker processes are spawned (not forked): safe with the threads of BLAS, torch and
    liblosskit in this process."""
    label = lambda job: f"{job[0]} on {job[1]}, seed {job[2]}"  # noqa: E731
    if workers == 1:
        runs = []
        with backend_threads(backend):
            for job in jobs:
                runs.append(train(backend, *job, epochs))
                progress.advance(label(job))
        return runs
    results: list[Run | None] = [None] * len(jobs)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_limit_torch_threads, initargs=(backend,))
    try:
        futures = {pool.submit(train, backend, *job, epochs): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            progress.advance(label(jobs[index]))
    finally:
        pool.shutdown(cancel_futures=True)  # on an error or Ctrl-C: drop the jobs not started
    return results


# --- command line --------------------------------------------------------------------------------

@dataclass
class Results:
    """What main() returns: every run, the summary per (loss, dataset), the files written."""

    runs: list[Run]
    summaries: dict[tuple[str, str], Summary]
    losses: list[str]
    datasets: list[str]
    files: dict[str, Path]
    seconds: float
    tables: list[tuple[str, list[list[str]]]]


def _names(allowed: Callable[[], Sequence[str]], what: str) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each in allowed()."""
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed()]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(allowed())}")
        return list(dict.fromkeys(names))
    return parse


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m losskit.demo", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[5:]))
    parser.add_argument("--datasets", type=_names(lambda: DATASETS, "dataset"), metavar="A,B",
                        help=f"comma-separated, from {','.join(DATASETS)} (default: all; --quick: "
                             f"{','.join(QUICK['datasets'])})")
    parser.add_argument("--losses", type=_names(losses, "loss"), metavar="A,B",
                        help="comma-separated losskit loss names (default: every built-in loss)")
    parser.add_argument("--seeds", type=_positive, metavar="N",
                        help=f"seeds 0..N-1 (default {DEFAULT_SEEDS}; --quick: {QUICK['seeds']})")
    parser.add_argument("--epochs", type=_positive, metavar="E",
                        help=f"passes over each training set (default {DEFAULT_EPOCHS}; "
                             f"--quick: {QUICK['epochs']})")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), metavar="DIR",
                        help="directory for the CSV, Markdown and PNG files (default demo-out)")
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                        help="numpy (default) or torch (CPU; needs PyTorch)")
    parser.add_argument("--jobs", type=_positive, metavar="J",
                        help=f"runs trained in parallel, each worker in its own process (default: one per CPU, "
                             f"{_cpus()}; --quick: 1); the results do not depend on it")
    parser.add_argument("--quick", action="store_true",
                        help="a small grid for a smoke test: fewer datasets, seeds and epochs (under 30 s)")
    args = parser.parse_args(argv)
    if args.backend == "torch" and importlib.util.find_spec("torch") is None:
        parser.error("--backend torch needs PyTorch: python3 -m pip install torch")
    preset = QUICK if args.quick else {"datasets": DATASETS, "seeds": DEFAULT_SEEDS, "epochs": DEFAULT_EPOCHS,
                                       "jobs": _cpus()}
    args.datasets = args.datasets or list(preset["datasets"])
    args.seeds = args.seeds or preset["seeds"]
    args.epochs = args.epochs or preset["epochs"]
    args.jobs = args.jobs or preset["jobs"]
    args.losses = args.losses or list(DEFAULT_LOSSES)
    return args


def _settings(args: argparse.Namespace) -> str:
    """The run's fixed choices and versions, for the printed header and results.md."""
    import sklearn

    return (f"MLP inputs-{HIDDEN}-classes (ReLU), Adam lr {LEARNING_RATE:g}, batch {BATCH_SIZE}, "
            f"{args.epochs} epochs, seeds 0..{args.seeds - 1}, backend {args.backend}; losskit {version()}, "
            f"numpy {np.__version__}, scikit-learn {sklearn.__version__}")


def write_outputs(out: Path, results: Results, settings: str, command: str) -> dict[str, Path]:
    """results.csv, runs.csv, results.md and the three figures; returns them by name."""
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in
             ("results.csv", "runs.csv", "results.md", "accuracy.png", "ece.png", "reliability.png")}
    best_accuracy, best_ece = (metric.best(results.summaries) for metric in METRICS)
    write_csv(files["results.csv"],
              ["loss", "dataset", "seeds", "diverged", "accuracy_mean", "accuracy_std", "ece_mean", "ece_std",
               "best_accuracy", "best_ece"],
              [[s.loss, s.dataset, s.seeds, s.diverged, s.accuracy_mean, s.accuracy_std, s.ece_mean, s.ece_std,
                int((s.loss, s.dataset) in best_accuracy), int((s.loss, s.dataset) in best_ece)]
               for s in results.summaries.values()])
    write_csv(files["runs.csv"],
              ["loss", "dataset", "seed", "diverged", "accuracy", "ece", "final_train_loss", "seconds"],
              [[r.loss, r.dataset, r.seed, int(r.diverged), r.accuracy, r.ece, r.final_train_loss,
                round(r.seconds, 3)] for r in results.runs])
    markdown = [f"# losskit demo: every loss, the same MLP and optimiser\n\n`{command}`\n\n{settings}.\n\n"
                f"{FOOTNOTE}\n"]
    markdown += [render_markdown(title, rows) + "\n" for title, rows in results.tables]
    files["results.md"].write_text("\n".join(markdown))
    for metric, name in zip(METRICS, ("accuracy.png", "ece.png")):
        bar_figure(metric, results.summaries, results.losses, results.datasets, files[name])
    reliability_figure(results.runs, results.losses, reliability_dataset(results.datasets),
                       files["reliability.png"])
    return files


def main(argv: Sequence[str] | None = None) -> Results:
    """Run the comparison, print the tables, write the files; return the results."""
    args = _arguments(argv)
    start = time.perf_counter()
    settings = _settings(args)
    jobs = [(loss, dataset, seed)
            for dataset in args.datasets for seed in range(args.seeds) for loss in args.losses]
    print(f"{len(args.losses)} losses x {len(args.datasets)} datasets x {args.seeds} seeds = {len(jobs)} runs; "
          f"{settings}", flush=True)
    runs = run_jobs(args.backend, jobs, args.epochs, min(args.jobs, len(jobs)), ProgressBar(len(jobs)))
    summaries = {(loss, dataset): Summary.of([r for r in runs if r.loss == loss and r.dataset == dataset])
                 for loss in args.losses for dataset in args.datasets}
    results = Results(runs, summaries, args.losses, args.datasets, {}, 0.0,
                      tables(summaries, args.losses, args.datasets))
    print()
    for title, rows in results.tables:
        print(render_text(title, rows) + "\n")
    print(FOOTNOTE)
    command = "python3 -m losskit.demo " + " ".join(sys.argv[1:] if argv is None else argv)
    results.files = write_outputs(args.out, results, settings, command.strip())
    results.seconds = time.perf_counter() - start
    print(f"wrote {', '.join(str(p) for p in results.files.values())}")
    print(f"{len(runs)} runs in {results.seconds:.1f} s")
    return results


if __name__ == "__main__":
    main()
