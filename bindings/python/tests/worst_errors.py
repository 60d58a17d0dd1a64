"""The worst relative error of each (loss, dtype) seen by the tests against the JAX reference.

Filled by test_losses_vs_jax.py, printed by conftest.py's terminal summary (shown with or without -s).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Worst:
    """The largest error of one (loss, dtype), the case it came from and how many cases were checked."""

    error: float
    case: str
    cases: int


WORST: dict[tuple[str, str], Worst] = {}


def record(loss: str, dtype: str, error: float, case: str) -> None:
    """Keep `error` if it is the worst so far for (loss, dtype)."""
    entry = WORST.get((loss, dtype))
    if entry is None:
        WORST[(loss, dtype)] = Worst(error, case, 1)
        return
    entry.cases += 1
    if error > entry.error:
        entry.error, entry.case = error, case


def summary_lines() -> list[str]:
    """A table of WORST, one line per (loss, dtype); empty when nothing was recorded."""
    if not WORST:
        return []
    lines = [f"{'loss':<20} {'dtype':<8} {'cases':>5}  {'worst error':>11}  worst case"]
    for (loss, dtype), entry in sorted(WORST.items()):
        lines.append(f"{loss:<20} {dtype:<8} {entry.cases:>5}  {entry.error:>11.3e}  {entry.case}")
    return lines
