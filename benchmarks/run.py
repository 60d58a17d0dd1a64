#!/usr/bin/env python3
"""Benchmark losskit's fused loss+gradient against PyTorch CPU autograd and a plain memory copy.

    python3 benchmarks/run.py [--quick] [--out DIR] [--library PATH]

For every case (loss, shape, dtype) it times, interleaved in the same rounds:
  - losskit: ``losskit.Loss(name, **params)(logits, target, out=grad)`` (loss and gradient in one
    call, the gradient written into a preallocated buffer), at each thread count;
  - torch: the loss in PyTorch (``F.cross_entropy`` for cross_entropy, a pure-torch autograd version
    written from the formulas for the others, see torch_losses.py) followed by
    ``torch.autograd.grad(loss, logits)``, with ``torch.set_num_threads`` set to the same count;
  - copy: ``np.copyto`` of the logits into a preallocated buffer (one read + one write of the same
    bytes: the bandwidth ceiling), and ``Tensor.copy_`` at each thread count (a threaded copy).
It prints one row per (case, thread count) with the medians, the speed-up torch/losskit, losskit's
effective bandwidth (read logits + write gradient) and its fraction of the copy's bandwidth, and
losskit's 1→N thread speed-up; then writes results.csv, results.png, table.txt and meta.json into
--out (default: a new directory under /tmp/losskit-bench/). This is a measurement, not a test:
nothing here asserts anything about time. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SHAPES = {
    "4096x1000": (4096, 1000),
    "256x32000": (256, 32000),
    "32x128000": (32, 128000),
    "65536x10": (65536, 10),
    "8x21x128x128": (8, 21, 128, 128),
    "40960x100": (40960, 100),  # not among the issue's shapes: a classifier of 100 classes (CIFAR-100's)
}
LOSSES = [
    "cross_entropy", "expectation", "ce_expectation_mix", "squentropy", "square", "hem",
    "multi_margin", "logit_norm", "logit_adjusted", "focal", "dice",
]
DTYPES = ["float32", "float64"]
HEADLINE_SHAPE = "4096x1000"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Default plan: cross_entropy at every shape in float32 and float64; every other loss at "
               "every shape in float32 and at 4096x1000 in float64; threads 1 and 2 (~10 min). "
               "--all: every loss at every shape and dtype (~25 min). "
               "--quick: cross_entropy at 4096x1000 (float32, float64) and 8x21x128x128 (float32), squentropy "
               "and hem at 4096x1000 float32 (about a minute).",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller plan and time budget (under a minute)")
    parser.add_argument("--all", action="store_true", help="every loss at every shape and dtype")
    parser.add_argument("--out", help="output directory (default: /tmp/losskit-bench/<date-time>)")
    parser.add_argument("--library", help="liblosskit.so to measure (default: $LOSSKIT_LIBRARY, else the "
                                          "binding's own search: the package, then .build/release)")
    parser.add_argument("--losses", help="comma-separated losses (overrides the plan's)")
    parser.add_argument("--shapes", help=f"comma-separated shapes among {', '.join(SHAPES)} or any AxBx..")
    parser.add_argument("--dtypes", help="comma-separated dtypes: float32,float64")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--budget", type=float,
                        help="seconds for the whole plan, shared out among the cases as they run "
                             "(default 480, --quick 30); each case still gets --min-repeats rounds")
    parser.add_argument("--min-repeats", type=int, default=5, help="timed rounds per case at least (default 5)")
    parser.add_argument("--max-repeats", type=int, default=41, help="timed rounds per case at most (default 41)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed calls of each contestant before timing, besides the one that checks "
                             "losskit against torch (default 1)")
    parser.add_argument("--settle-ms", type=float, default=0,
                        help="pause before each timed call (default 0). A pause lets the previous contestant's "
                             "spinning threads (torch's OpenMP workers) go to sleep, but on a virtual machine it "
                             "also lets the idle vCPU be descheduled, and waking it costs a millisecond: both "
                             "libraries' 2-thread times then suffer")
    parser.add_argument("--nan-policy", default="error", choices=["error", "propagate"],
                        help="losskit's nan_policy (default 'error', the library's default: one extra read)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    return parser.parse_args(argv)


def parse_shape(text: str) -> tuple[int, ...]:
    if text in SHAPES:
        return SHAPES[text]
    shape = tuple(int(part) for part in text.lower().split("x"))
    if len(shape) < 2:
        raise SystemExit(f"shape {text!r}: expected (N, C, ...) written as NxC or NxCxHxW")
    return shape


def shape_name(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def make_plan(args: argparse.Namespace) -> list[tuple[str, tuple[int, ...], str]]:
    """The cases (loss, shape, dtype), in the order they run and are printed."""
    explicit = bool(args.losses or args.shapes or args.dtypes)
    if args.quick and not explicit:
        return [("cross_entropy", SHAPES["4096x1000"], "float32"), ("cross_entropy", SHAPES["4096x1000"], "float64"),
                ("cross_entropy", SHAPES["8x21x128x128"], "float32"),
                ("squentropy", SHAPES["4096x1000"], "float32"), ("hem", SHAPES["4096x1000"], "float32")]
    losses = args.losses.split(",") if args.losses else LOSSES
    shapes = args.shapes.split(",") if args.shapes else list(SHAPES)
    dtypes = args.dtypes.split(",") if args.dtypes else DTYPES
    for loss in losses:
        if loss not in LOSSES:
            raise SystemExit(f"loss {loss!r}: expected one of {', '.join(LOSSES)}")
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise SystemExit(f"dtype {dtype!r}: expected float32 or float64")
    plan = []
    for loss in losses:
        for shape in shapes:
            for dtype in dtypes:
                full = explicit or args.all or loss == "cross_entropy"
                if full or dtype == "float32" or shape == HEADLINE_SHAPE:
                    plan.append((loss, parse_shape(shape), dtype))
    return plan


def weight(loss: str, shape: tuple[int, ...], dtype: str) -> float:
    """The case's share of the time budget: more rounds for the cases the headline table reports."""
    if loss == "cross_entropy":
        return 3.0
    return 2.0 if shape_name(shape) == HEADLINE_SHAPE and dtype == "float32" else 1.0


def median(values):
    import numpy as np

    return float(np.median(values))


def spread(values) -> float:
    """Inter-quartile range over median: how noisy the samples were."""
    import numpy as np

    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / q2) if q2 > 0 else float("nan")


class Case:
    """One (loss, shape, dtype): the buffers, and one timed call per contestant.

    Contestants are keys (kind, threads): ("losskit", n), ("torch", n), ("copy", 1) for np.copyto,
    ("copy_torch", n) for Tensor.copy_. Each has a setup (thread count; untimed) and a call (timed).
    """

    def __init__(self, loss, shape, dtype, threads, rng, nan_policy):
        import numpy as np
        import torch

        import losskit
        from torch_losses import REFERENCES, params_for

        self.loss, self.shape, self.dtype = loss, shape, dtype
        classes = shape[1]
        sample_shape = (shape[0],) + shape[2:]
        self.logits = rng.standard_normal(shape, dtype=np.float64).astype(dtype)
        self.target = rng.integers(0, classes, size=sample_shape, dtype=np.int64)
        # Every buffer written is allocated and touched now, so no page fault is timed. The
        # gradient as the README advises for out= (64-byte aligned, as PyTorch's own gradients are).
        self.grad = losskit.empty_like(self.logits)
        self.grad.fill(0)
        self.copy_np = np.zeros_like(self.logits)
        self.copy_pt = np.zeros_like(self.logits)
        params = params_for(loss, classes)
        # One loss object per case, made before timing, as a training loop holds one: its parameters
        # (logit_adjusted's priors, one per class) are set once, not at every call.
        self.lk_loss = losskit.Loss(loss, **dict(params, nan_policy=nan_policy))
        torch_dtype = getattr(torch, dtype)
        self.pt_params = {k: torch.as_tensor(v, dtype=torch_dtype) if isinstance(v, np.ndarray) else v
                          for k, v in params.items()}
        self.reference = REFERENCES[loss]
        # The torch leaf shares the logits' memory (losskit only reads them).
        self.x = torch.from_numpy(self.logits).requires_grad_(True)
        self.y = torch.from_numpy(self.target)
        self.x_plain = torch.from_numpy(self.logits)
        self.copy_dst = torch.from_numpy(self.copy_pt)
        self.losskit, self.torch, self.np = losskit, torch, np
        self.contestants = {}
        for n in threads:
            self.contestants[("losskit", n)] = (lambda n=n: losskit.set_num_threads(n), self.call_losskit)
            self.contestants[("torch", n)] = (lambda n=n: torch.set_num_threads(n), self.call_torch)
            self.contestants[("copy_torch", n)] = (lambda n=n: torch.set_num_threads(n), self.call_copy_torch)
        self.contestants[("copy", 1)] = (lambda: None, self.call_copy)

    def call_losskit(self):
        return self.lk_loss(self.logits, self.target, out=self.grad)

    def call_torch(self):
        loss = self.reference(self.x, self.y, **self.pt_params)
        (grad,) = self.torch.autograd.grad(loss, self.x)
        return loss, grad

    def call_copy(self):
        self.np.copyto(self.copy_np, self.logits)

    def call_copy_torch(self):
        with self.torch.no_grad():
            self.copy_dst.copy_(self.x_plain)

    def check(self) -> tuple[float, float]:
        """Relative differences of losskit's loss and gradient from torch's (recorded, never asserted)."""
        import numpy as np

        loss_lk, grad_lk = self.call_losskit()
        loss_pt, grad_pt = self.call_torch()
        loss_pt = float(loss_pt.detach())
        grad_pt = grad_pt.numpy()
        loss_rel = abs(loss_lk - loss_pt) / max(abs(loss_pt), 1e-30)
        grad_rel = float(np.max(np.abs(grad_lk - grad_pt))) / max(float(np.max(np.abs(grad_pt))), 1e-30)
        return loss_rel, grad_rel

    def measure(self, *, warmup, min_repeats, max_repeats, budget, rng, settle):
        """Warm up every contestant, then run rounds (each contestant once, in a fresh random order
        each round, so the machine's noise hits all of them alike) until at least min_repeats rounds
        are done and the case's time budget is spent, or max_repeats rounds. Returns the samples."""
        start = time.perf_counter()
        for setup, call in self.contestants.values():
            for _ in range(warmup):
                setup()
                call()
        samples = {key: [] for key in self.contestants}
        keys = list(self.contestants)
        clock = time.perf_counter
        gc.collect()
        gc.disable()
        try:
            for done in range(1, max_repeats + 1):
                rng.shuffle(keys)
                for key in keys:
                    setup, call = self.contestants[key]
                    setup()
                    # A pause so that the previous contestant's idle worker threads (torch's OpenMP
                    # threads spin-wait after a parallel region) are asleep and every call starts
                    # with the cores free.
                    time.sleep(settle)
                    t0 = clock()
                    call()
                    samples[key].append(clock() - t0)
                if done >= min_repeats and clock() - start >= budget:
                    break
        finally:
            gc.enable()
        return samples


def summarise(case: Case, samples, threads, check) -> list[dict]:
    nbytes = 2 * case.logits.nbytes  # read the logits + write the gradient (same for the copy)
    copy_s = median(samples[("copy", 1)])
    base = min(threads)
    rows = []
    for n in threads:
        lk, pt = samples[("losskit", n)], samples[("torch", n)]
        lk_s, pt_s = median(lk), median(pt)
        copy_torch_s = median(samples[("copy_torch", n)])
        rows.append({
            "loss": case.loss, "shape": shape_name(case.shape), "dtype": case.dtype, "threads": n,
            "elements": case.logits.size, "bytes_moved": nbytes, "repeats": len(lk),
            "losskit_ms": lk_s * 1e3, "torch_ms": pt_s * 1e3, "copy_ms": copy_s * 1e3,
            "copy_torch_ms": copy_torch_s * 1e3,
            "speedup": pt_s / lk_s,
            # The median of the per-round ratios: each pair ran in the same round.
            "speedup_paired": median([p / l for p, l in zip(pt, lk)]),
            "losskit_gbps": nbytes / lk_s / 1e9, "copy_gbps": nbytes / copy_s / 1e9,
            "bw_fraction": copy_s / lk_s, "bw_fraction_torch_copy": copy_torch_s / lk_s,
            "losskit_thread_speedup": median(samples[("losskit", base)]) / lk_s if n != base else float("nan"),
            "torch_thread_speedup": median(samples[("torch", base)]) / pt_s if n != base else float("nan"),
            "losskit_spread": spread(lk), "torch_spread": spread(pt), "copy_spread": spread(samples[("copy", 1)]),
            "check_loss_rel": check[0], "check_grad_rel": check[1],
        })
    return rows


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=20).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.library:
        library = Path(args.library).resolve()
        if not library.is_file():
            raise SystemExit(f"--library {args.library}: no such file")
        os.environ["LOSSKIT_LIBRARY"] = str(library)
    sys.path.insert(0, str(REPO / "bindings" / "python"))
    sys.path.insert(0, str(HERE))

    import numpy as np
    import torch

    import losskit
    import report
    from losskit._library import find_library

    threads = sorted({int(t) for t in args.threads.split(",")})
    plan = make_plan(args)
    budget = args.budget if args.budget is not None else (30.0 if args.quick else 480.0)
    out = Path(args.out) if args.out else Path("/tmp/losskit-bench") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)

    library_path = find_library().resolve()
    meta = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "library": str(library_path), "library_sha256": sha256(library_path),
        "losskit_version": losskit.version(), "simd_level": losskit.simd_level(),
        "git_head": git("rev-parse", "HEAD"),
        "git_uncommitted_sources": git("status", "--porcelain", "--", "Sources").splitlines(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "cpu": cpu_model(), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
        "threads": threads, "budget_s": budget, "min_repeats": args.min_repeats,
        "max_repeats": args.max_repeats, "warmup": args.warmup, "nan_policy": args.nan_policy,
        "seed": args.seed, "cases": len(plan), "settle_ms": args.settle_ms,
    }
    print(f"losskit {meta['losskit_version']} ({meta['simd_level']} kernels) from {library_path} "
          f"(sha256 {meta['library_sha256'][:12]})")
    print(f"torch {torch.__version__}, numpy {np.__version__}, {meta['cpu']}, {meta['cpus']} CPUs, "
          f"load average {meta['loadavg_start'][0]:.1f}")
    print(f"{len(plan)} cases × threads {threads}, budget {budget:.0f} s, "
          f"repeats {args.min_repeats}..{args.max_repeats}, output {out}", flush=True)

    rng = np.random.default_rng(args.seed)
    order_rng = np.random.default_rng(args.seed + 1)
    rows = []
    start = time.perf_counter()
    for i, (loss, shape, dtype) in enumerate(plan):
        remaining = sum(weight(*later) for later in plan[i:])
        case_budget = max(0.0, budget - (time.perf_counter() - start)) * weight(loss, shape, dtype) / remaining
        t0 = time.perf_counter()
        case = Case(loss, shape, dtype, threads, rng, args.nan_policy)
        check = case.check()
        samples = case.measure(warmup=args.warmup, min_repeats=args.min_repeats, max_repeats=args.max_repeats,
                               settle=args.settle_ms / 1000,
                               budget=case_budget, rng=order_rng)
        new = summarise(case, samples, threads, check)
        rows.extend(new)
        del case, samples
        gc.collect()
        speedups = " ".join(f"{r['speedup']:.2f}×@{r['threads']}" for r in new)
        print(f"[{i + 1}/{len(plan)}] {loss} {shape_name(shape)} {dtype}: {new[0]['repeats']} rounds, "
              f"{time.perf_counter() - t0:.1f} s, torch/losskit {speedups}", file=sys.stderr, flush=True)
    meta["duration_s"] = round(time.perf_counter() - start, 1)
    meta["loadavg_end"] = os.getloadavg()

    report.write_csv(rows, out / "results.csv")
    with open(out / "table.txt", "w") as f:
        report.print_table(rows, out=f)
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print()
    report.print_table(rows)
    if not args.no_plot:
        try:
            report.plot(rows, out / "results.png",
                        title=f"losskit {meta['losskit_version']} vs torch {torch.__version__} "
                              f"({meta['cpu']}, {meta['started']})")
        except ImportError as error:
            print(f"no chart ({error}); pip install matplotlib", file=sys.stderr)
    print(f"\n{len(plan)} cases in {meta['duration_s']:.0f} s; wrote {out}/results.csv, table.txt, meta.json"
          + ("" if args.no_plot else ", results.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
