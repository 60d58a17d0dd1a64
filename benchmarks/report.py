"""Print the table and draw the chart of a benchmark run, from its CSV.

    python3 benchmarks/report.py /tmp/losskit-bench/<run>/results.csv [--png chart.png]

run.py calls the same functions at the end of a run; this script redraws them from a saved CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

COLUMNS = [
    "loss", "shape", "dtype", "threads", "elements", "bytes_moved", "repeats",
    "losskit_ms", "torch_ms", "copy_ms", "copy_torch_ms",
    "speedup", "speedup_paired", "losskit_gbps", "copy_gbps", "bw_fraction", "bw_fraction_torch_copy",
    "losskit_thread_speedup", "torch_thread_speedup",
    "losskit_spread", "torch_spread", "copy_spread",
    "check_loss_rel", "check_grad_rel",
]

INTS = {"threads", "elements", "bytes_moved", "repeats"}
TEXT = {"loss", "shape", "dtype"}


def read_csv(path: str | Path) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for key, value in raw.items():
                if key in TEXT:
                    row[key] = value
                elif key in INTS:
                    row[key] = int(value)
                else:
                    row[key] = float(value) if value not in ("", None) else math.nan
            rows.append(row)
    return rows


def write_csv(rows: list[dict], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in COLUMNS})


def _csv_value(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _f(value: float, digits: int = 2, width: int = 8) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(width)
    return f"{value:{width}.{digits}f}"


HEADER = (
    f"{'loss':<19}{'shape':<15}{'dtype':<8}{'thr':>3}{'reps':>5}"
    f"{'losskit ms':>11}{'torch ms':>10}{'copy ms':>9}{'speed-up':>9}{'paired':>8}"
    f"{'lk GB/s':>9}{'copy GB/s':>10}{'bw frac':>8}{'lk 1→2':>8}{'spread lk/pt':>14}"
)


def format_row(r: dict) -> str:
    flag = ""
    # losskit's loss and gradient against torch's on the same batch, relative (a flag, not a test):
    # the loss to rounding; the gradient looser, as hem's set of high errors can differ on a tie.
    loss_tol, grad_tol = (1e-4, 1e-2) if r["dtype"] == "float32" else (1e-10, 1e-6)
    if not (r.get("check_loss_rel", 0.0) <= loss_tol and r.get("check_grad_rel", 0.0) <= grad_tol):
        flag = "  (differs from torch: see check_* columns)"
    spread = f"{r['losskit_spread'] * 100:5.1f}%/{r['torch_spread'] * 100:4.1f}%"
    return (
        f"{r['loss']:<19}{r['shape']:<15}{r['dtype']:<8}{r['threads']:>3}{r['repeats']:>5}"
        f"{_f(r['losskit_ms'], 3, 11)}{_f(r['torch_ms'], 3, 10)}{_f(r['copy_ms'], 3, 9)}{_f(r['speedup'], 2, 8)}×{_f(r['speedup_paired'], 2, 7)}×"
        f"{_f(r['losskit_gbps'], 1, 9)}{_f(r['copy_gbps'], 1, 10)}{_f(r['bw_fraction'], 3, 8)}"
        f"{_f(r['losskit_thread_speedup'], 2, 8)}{spread:>14}{flag}"
    )


def print_table(rows: list[dict], out=sys.stdout) -> None:
    print(HEADER, file=out)
    print("-" * len(HEADER), file=out)
    previous = None
    for r in rows:
        if previous is not None and r["loss"] != previous:
            print(file=out)
        previous = r["loss"]
        print(format_row(r), file=out)


def plot(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Heatmaps: speed-up torch/losskit (top) and losskit bandwidth / copy bandwidth (bottom),
    one column per (dtype, threads), losses down, shapes across; a blank cell was not measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    losses = list(dict.fromkeys(r["loss"] for r in rows))
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    panels = sorted({(r["dtype"], r["threads"]) for r in rows})
    index = {(r["loss"], r["shape"], r["dtype"], r["threads"]): r for r in rows}

    # (column, title, colour map, scale, colour-bar ticks, cell format); both scales are logarithmic.
    metrics = [
        ("speedup", "speed-up torch / losskit (goal ≥ 3)", "RdYlGn", LogNorm(vmin=0.25, vmax=8.0),
         [0.25, 0.5, 1, 2, 3, 4, 8], "{:.2f}"),
        ("bw_fraction", "losskit bandwidth / np.copyto bandwidth", "viridis", LogNorm(vmin=0.005, vmax=1.0),
         [0.005, 0.01, 0.03, 0.1, 0.3, 1], "{:.3f}"),
    ]
    width = max(4.0, 1.0 + 0.95 * len(shapes))
    height = max(2.5, 0.42 * len(losses) + 1.2)
    fig, axes = plt.subplots(len(metrics), len(panels), figsize=(width * len(panels), height * len(metrics)),
                             squeeze=False)
    for m, (key, label, cmap, norm, ticks, fmt) in enumerate(metrics):
        for p, (dtype, threads) in enumerate(panels):
            ax = axes[m][p]
            grid = np.full((len(losses), len(shapes)), np.nan)
            for i, loss in enumerate(losses):
                for j, shape in enumerate(shapes):
                    r = index.get((loss, shape, dtype, threads))
                    if r is not None:
                        grid[i, j] = r[key]
            shown = np.ma.masked_invalid(grid)
            colours = plt.get_cmap(cmap).copy()
            colours.set_bad("#dddddd")
            image = ax.imshow(np.clip(shown, norm.vmin, norm.vmax), cmap=colours, norm=norm, aspect="auto")
            for i in range(len(losses)):
                for j in range(len(shapes)):
                    if not np.isnan(grid[i, j]):
                        dark = key == "bw_fraction" and norm(min(max(grid[i, j], norm.vmin), norm.vmax)) < 0.6
                        ax.text(j, i, fmt.format(grid[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
            ax.set_xticks(range(len(shapes)), shapes, rotation=35, ha="right", fontsize=7)
            ax.set_yticks(range(len(losses)), losses if p == 0 else [""] * len(losses), fontsize=7)
            ax.set_title(f"{label}\n{dtype}, {threads} thread{'s' if threads > 1 else ''}", fontsize=8)
            bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
            bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
            bar.minorticks_off()
            bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="results.csv of a run")
    parser.add_argument("--png", help="also draw the chart into this file")
    args = parser.parse_args(argv)
    rows = read_csv(args.csv)
    print_table(rows)
    if args.png:
        plot(rows, args.png)
        print(f"chart: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
