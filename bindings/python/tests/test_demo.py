"""The main job: `python3 -m losskit.demo` compares every loss on real data. One --quick run is
checked end to end (tables, CSV, Markdown, PNGs); the pieces are checked on their own."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re

import numpy as np
import pytest

from losskit import demo, metrics


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One `--quick` run into a temporary directory: (results, printed output)."""
    out = tmp_path_factory.mktemp("demo-out")
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        results = demo.main(["--quick", "--out", str(out)])
    return results, capture.getvalue()


def test_quick_trains_every_loss_on_every_quick_dataset(quick):
    results, _ = quick
    assert results.losses == list(demo.DEFAULT_LOSSES)
    assert results.datasets == list(demo.QUICK["datasets"])
    assert len(results.runs) == len(demo.DEFAULT_LOSSES) * len(demo.QUICK["datasets"]) * demo.QUICK["seeds"]
    assert not [r for r in results.runs if r.diverged]
    assert results.summaries["cross_entropy", "digits"].accuracy_mean > 0.9
    for summary in results.summaries.values():
        assert 0 <= summary.ece_mean <= 1 and summary.accuracy_mean > 0.5


def test_quick_prints_both_tables(quick):
    results, output = quick
    assert [title for title, _ in results.tables] == ["Test accuracy (%)", "ECE (%, 15 bins)"]
    for title, rows in results.tables:
        assert demo.render_text(title, rows) in output
        assert rows[0] == ["loss", *results.datasets]
        assert [row[0] for row in rows[1:]] == results.losses
        for row in rows[1:]:
            assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d( \*)?", cell) for cell in row[1:]), row
        for column in range(1, len(rows[0])):  # a best per column
            assert any(row[column].endswith(" *") for row in rows[1:])
    accuracy = results.summaries["cross_entropy", "digits"].accuracy_mean
    ce_row = next(line for line in output.splitlines() if line.startswith("cross_entropy"))
    assert f"{100 * accuracy:.1f} ±" in ce_row


def test_quick_writes_csv_and_markdown(quick):
    results, _ = quick
    with results.files["results.csv"].open() as stream:
        rows = list(csv.DictReader(stream))
    assert {(r["loss"], r["dataset"]) for r in rows} == {(l, d) for l in results.losses for d in results.datasets}
    for row in rows:
        summary = results.summaries[row["loss"], row["dataset"]]
        assert float(row["accuracy_mean"]) == pytest.approx(summary.accuracy_mean)
        assert float(row["ece_std"]) == pytest.approx(summary.ece_std)
    for dataset in results.datasets:
        assert sum(int(r["best_accuracy"]) for r in rows if r["dataset"] == dataset) >= 1
        assert sum(int(r["best_ece"]) for r in rows if r["dataset"] == dataset) >= 1
    with results.files["runs.csv"].open() as stream:
        assert len(list(csv.DictReader(stream))) == len(results.runs)

    markdown = results.files["results.md"].read_text()
    for title, rows in results.tables:
        assert f"**{title}**" in markdown
        assert "| " + " | ".join(rows[0]) + " |" in markdown
        for row in rows[1:]:
            assert "| " + " | ".join(row) + " |" in markdown


def test_quick_draws_valid_pngs(quick):
    import matplotlib.image  # the test command installs matplotlib: missing, this test fails

    results, _ = quick
    for name in ("accuracy.png", "ece.png", "reliability.png"):
        path = results.files[name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
        assert image.std() > 0


def test_chosen_losses_datasets_seeds_and_epochs(tmp_path, capsys):
    results = demo.main(["--losses", "squentropy,cross_entropy", "--datasets", "breast_cancer",
                         "--seeds", "2", "--epochs", "3", "--jobs", "1", "--out", str(tmp_path)])
    assert results.losses == ["squentropy", "cross_entropy"]
    assert results.datasets == ["breast_cancer"]
    assert sorted((r.loss, r.seed) for r in results.runs) == [
        ("cross_entropy", 0), ("cross_entropy", 1), ("squentropy", 0), ("squentropy", 1)]
    assert "3 epochs" in capsys.readouterr().out
    assert results.summaries["cross_entropy", "breast_cancer"].accuracy_mean > 0.9


@pytest.mark.parametrize("argv,message", [
    (["--losses", "cross_entropy,nope"], "unknown loss nope"),
    (["--datasets", "mnist"], "unknown dataset mnist"),
    (["--seeds", "0"], "positive integer"),
])
def test_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        demo.main(argv)
    assert message in capsys.readouterr().err


def test_same_seed_same_run():
    first = demo.train("numpy", "squentropy", "wine", 3, 2)
    second = demo.train("numpy", "squentropy", "wine", 3, 2)
    same = ("accuracy", "ece", "final_train_loss")
    assert [getattr(first, key) for key in same] == [getattr(second, key) for key in same]
    np.testing.assert_array_equal(first.test_probs, second.test_probs)


def test_worker_processes_give_the_same_runs(tmp_path, capsys):
    argv = ["--losses", "cross_entropy,ce_expectation_mix", "--datasets", "wine", "--seeds", "2", "--epochs", "2"]
    serial = demo.main([*argv, "--jobs", "1", "--out", str(tmp_path / "serial")])
    parallel = demo.main([*argv, "--jobs", "2", "--out", str(tmp_path / "parallel")])
    key = lambda r: (r.loss, r.dataset, r.seed, r.accuracy, r.ece, r.final_train_loss)  # noqa: E731
    assert [key(r) for r in serial.runs] == [key(r) for r in parallel.runs]
    for a, b in zip(serial.runs, parallel.runs):
        np.testing.assert_array_equal(a.test_probs, b.test_probs)


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch", reason="the torch backend needs PyTorch (not installed by the test command)")
    with demo.backend_threads("torch"):
        for loss in ("cross_entropy", "ce_expectation_mix", "hem"):
            a = demo.train("numpy", loss, "wine", 0, 3)
            b = demo.train("torch", loss, "wine", 0, 3)
            # The same initial weights, batches and Adam: only float32 rounding differs.
            assert a.accuracy == b.accuracy
            assert a.ece == pytest.approx(b.ece, abs=1e-5)
            np.testing.assert_allclose(a.test_probs, b.test_probs, atol=1e-5)


def test_loss_params():
    split = demo.load_split("breast_cancer", 0)
    mix = demo.loss_params("ce_expectation_mix", split)
    assert mix(0.25) == {"schedule": "linear", "progress": 0.25}
    priors = demo.loss_params("logit_adjusted", split)(0.5)["priors"]
    np.testing.assert_allclose(priors, np.bincount(split.y_train) / len(split.y_train))
    assert demo.loss_params("squentropy", split)(0.5) == {}


def test_split_is_standardised_and_stratified():
    split = demo.load_split("digits", 1)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert len(split.y_test) == pytest.approx(0.25 * 1797, abs=1)
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0, atol=1e-5)
    assert split.classes == 10 and set(split.y_test) == set(range(10))
    synthetic = demo.load_split("synthetic", 0)
    assert synthetic.classes == 20 and len(synthetic.y_train) + len(synthetic.y_test) == 4000


def _run(loss, seed, accuracy, ece, diverged=False):
    return demo.Run(loss, "d", seed, accuracy, ece, 0.0, 0.0, diverged=diverged)


def test_summary_and_best_marks():
    summaries = {
        ("a", "d"): demo.Summary.of([_run("a", 0, 0.90, 0.10), _run("a", 1, 0.92, 0.20)]),
        ("b", "d"): demo.Summary.of([_run("b", 0, 0.91, 0.05), _run("b", 1, 0.91, 0.05)]),
        ("c", "d"): demo.Summary.of([_run("c", 0, math.nan, math.nan, True), _run("c", 1, 0.99, 0.01)]),
    }
    a = summaries["a", "d"]
    assert a.accuracy_mean == pytest.approx(0.91) and a.accuracy_std == pytest.approx(np.std([0.9, 0.92], ddof=1))
    assert summaries["c", "d"].diverged == 1 and summaries["c", "d"].accuracy_mean == 0.99
    (_, accuracy), (_, ece) = demo.tables(summaries, ["a", "b", "c"], ["d"])
    # Ties (as shown, one decimal) are all marked; a loss with a diverged seed is never the best.
    assert [row[1] for row in accuracy[1:]] == ["91.0 ± 1.4 *", "91.0 ± 0.0 *", "99.0 ± 0.0 (1 div.)"]
    assert [row[1] for row in ece[1:]] == ["15.0 ± 7.1", "5.0 ± 0.0 *", "1.0 ± 0.0 (1 div.)"]


def test_progress_bar_without_a_terminal():
    stream = io.StringIO()
    bar = demo.ProgressBar(40, stream=stream)
    for i in range(40):
        bar.advance(f"run {i}")
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 11 and "\r" not in stream.getvalue()
    assert lines[-1].startswith("[" + "#" * 30 + "] 40/40 runs") and lines[-1].endswith("run 39")


def test_ece_of_the_runs_is_metrics_ece():
    run = demo.train("numpy", "focal", "wine", 0, 2)
    assert run.ece == metrics.ece(run.test_probs, run.test_labels)
