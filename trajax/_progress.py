"""How a sweep reports its progress: `NoProgress`, `TextProgress` (a line per cell on stderr),
`Callback` (a function of (done, total, row)), and the ETA model (`Clock`)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

__all__ = ["AbstractProgress", "NoProgress", "TextProgress", "Callback", "as_progress", "Clock"]


class AbstractProgress:
    """What a sweep tells about its progress; every method does nothing unless overridden.

    `cell(done, total, row, timing, eta)`: a cell finished (`done` of `total`; cells resumed from
    an earlier run are reported first, with `timing["resumed"]` and a NaN `eta`). `row` is the
    cell's table row, `timing` its timing row, `eta` the estimated seconds left (NaN: unknown).
    `block(k, n, first, stop, run_s)`: block k of n (replicates [first, stop)) of a nested sweep
    is fitted in every cell, `run_s` seconds of running so far.

    Example:
        >>> import trajax as tj
        >>> class Count(tj.AbstractProgress):
        ...     def cell(self, done, total, row, timing, eta):
        ...         print(f"{done}/{total}: m={row['m']}")
        >>> Count().cell(1, 2, {"m": 10}, {}, float("nan"))
        1/2: m=10
    """

    def cell(self, done: int, total: int, row: dict, timing: dict, eta: float) -> None:
        """A cell finished."""

    def block(self, k: int, n: int, first: int, stop: int, run_s: float) -> None:
        """A block of replicates is fitted in every cell."""


class NoProgress(AbstractProgress):
    """Reports nothing (`progress=False`).

    Example:
        >>> import trajax as tj
        >>> tj.NoProgress().cell(1, 1, {"m": 10}, {}, 0.0)  # prints nothing
    """


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total)
    return "█" * filled + "░" * (width - filled)


class TextProgress(AbstractProgress):
    """One line per finished cell on stderr (`progress=True`): bar, cell, error against theory,
    timings, ETA; with `blocks`, a line per block of a nested sweep too.

    Example:
        >>> import trajax as tj
        >>> progress = tj.TextProgress(blocks=False)  # a line per cell, none per block
        >>> progress.block(1, 4, 0, 16, 2.0)  # prints nothing
    """

    def __init__(self, blocks: bool = True):
        self.blocks = blocks

    def cell(self, done, total, row, timing, eta) -> None:
        timing_text = (
            "resumed"
            if timing.get("resumed") or "run_s" not in timing
            else f"compile {timing['compile_s']:.1f}s, run {timing['run_s']:.1f}s"
        )
        eta_text = f"ETA {eta:.0f}s" if math.isfinite(eta) else "ETA --"
        print(
            f"[{_bar(done, total)}] {done}/{total}  m={row['m']} T={row['T']}  "
            f"mse={row['mse']:.3e} theory={row['theory']:.3e} "
            f"ratio={row['ratio']:.3f} [{row['ratio_lo']:.3f}, {row['ratio_hi']:.3f}] "
            f"failed={row['failed']}  ({timing_text})  {eta_text}",
            file=sys.stderr,
            flush=True,
        )

    def block(self, k, n, first, stop, run_s) -> None:
        if self.blocks:
            print(
                f"  block {k}/{n}: replicates {first}..{stop - 1} fitted in every cell; run "
                f"{run_s:.1f}s so far, ETA {run_s / k * (n - k):.0f}s",
                file=sys.stderr,
                flush=True,
            )


class Callback(AbstractProgress):
    """Calls `fn(done, total, row)` once per finished cell (`progress=fn`): `done` cells of
    `total` are finished (cells resumed from an earlier run first), `row` is the finished cell's
    table row (a dict with the columns of `SweepResult.table`).

    Example:
        >>> import jax, trajax as tj
        >>> seen = []
        >>> def progress(done, total, row):
        ...     seen.append((done, total, row["m"]))
        >>> _ = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10, 20], T=[20], replicates=4,
        ...              key=jax.random.key(0), progress=progress)
        >>> seen
        [(1, 2, 10), (2, 2, 20)]
    """

    def __init__(self, fn: Callable[[int, int, dict], object]):
        self.fn = fn

    def cell(self, done, total, row, timing, eta) -> None:
        self.fn(done, total, row)


def as_progress(progress) -> AbstractProgress:
    """`tj.sweep`'s `progress` argument as an object: True → `TextProgress`, False or None →
    `NoProgress`, a progress object as it is, any other callable → `Callback`."""
    if isinstance(progress, AbstractProgress):
        return progress
    if progress is None or progress is False:
        return NoProgress()
    if progress is True:
        return TextProgress()
    if callable(progress):
        return Callback(progress)
    raise ValueError(f"progress: expected True, False, a progress object or a callable, got {progress!r}")


class Clock:
    """Progress accounting: cells finished and an ETA: the mean compile time per cell for each
    remaining cell that compiles its own program (none once a nested sweep has compiled the
    programs its cells share), plus run time from a + b·m·T fitted to the cells run so far (the
    mean per cell until two sizes are known: a small first cell carries fixed costs that m·T
    alone would blow up)."""

    def __init__(self, todo, done: int):
        self.count, self.left = done, list(todo)
        self.compile_total, self.runs = 0.0, []  # runs: (m·T, run seconds) of finished cells
        self.compiling = True  # whether each remaining cell compiles its own program

    def finished(self, m, T, timing) -> None:
        self.count += 1
        self.left.remove((m, T))
        self.compile_total += timing["compile_s"]
        self.runs.append((m * T, timing["run_s"]))

    def eta(self) -> float:
        if not self.runs:
            return math.nan
        compile_left = self.compile_total / len(self.runs) * len(self.left) if self.compiling else 0.0
        work, seconds = (np.array(x, float) for x in zip(*self.runs, strict=True))
        work_left = sum(m * T for m, T in self.left)
        run_left = seconds.mean() * len(self.left)
        if len(set(work)) >= 2:
            slope, intercept = np.polyfit(work, seconds, 1)
            if slope >= 0 and intercept >= 0:
                run_left = intercept * len(self.left) + slope * work_left
            elif slope >= 0:  # no fixed cost to speak of: proportional to m·T
                run_left = seconds.sum() / work.sum() * work_left
        return compile_left + run_left
