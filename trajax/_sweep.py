"""sweep: the rate-verification runner over an (m, T) grid (docs/theory.md §8).

Each cell (m, T) runs R replicates: simulate m trajectories of T states, fit the MLE, record
‖θ̂ − θ*‖², m·Δᵀ I_T Δ and whether the fit converged. Programs are compiled ahead of time
(`lower().compile()`, timed apart from the run) and vmap a fixed-width batch of replicates; the
replicate axis is split into one contiguous share per local device, each device running the
same single-device program (`_execution.OnDevices`), so results do not depend on the device
count, bit for bit. `sweep` is a driver: it builds the spec (`_spec.SweepSpec`: what fixes the
numbers) and the execution (`_execution.Execution`: how it runs), opens the store (`_store`) and
the progress (`_progress`), chooses a runner (`_runners`):

- `NestedWindows` (nested design, `homogeneous_markov` models): one simulation of (max m, max T)
  per replicate, every cell fitted from windows of it with (m, T) as run-time values, a block of
  replicates at a time within the memory budget: one simulation program + one fit program per
  remainder class of T, whatever R or the number of blocks.
- `PerCell` (everything else, or when one batch of nested data exceeds the budget): one
  program per cell that simulates and fits (streaming trajectories in chunks when the
  program's measured working set exceeds the budget).

and turns each `CellOutcome` into a table row, hands it to the store and the progress, and
assembles the `SweepResult` (`_sweep_result.assemble`, shared with `merge_shards`).

Randomness: replicate r of the nested design uses `fold_in(data_key, r)` in every cell, so by
the prefix property of `simulate` cell (m, T) sees exactly the first m trajectories and first
T states of one long run per replicate (common random numbers). The independent design folds
in (m, T) as well. Results therefore do not depend on the batch width or device count.

Multi-host: after `jax.distributed.initialize`, each process takes a contiguous share of the
replicates on its local devices; per-replicate results are gathered with `process_allgather`,
so every process returns the same table, identical to a single-process run. Process 0 alone
writes `out/` and prints progress (the output directory should be on a shared filesystem for
resume).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import numpy as np

from ._execution import Execution, background
from ._fisher import _resolved, exact_fishers, fisher_information
from ._model import AbstractModel
from ._progress import AbstractProgress, Clock, NoProgress, as_progress
from ._replicates import cell_row
from ._runners import AbstractRunner, PerCell, choose_runner
from ._spec import DESIGNS as DESIGNS
from ._spec import SweepSpec, _checked
from ._stats import CSV_COLUMNS as CSV_COLUMNS
from ._store import finished_cells, open_store
from ._sweep_result import SweepResult as SweepResult
from ._sweep_result import assemble

__all__ = ["sweep", "SweepResult", "DESIGNS"]


def sweep(
    model: AbstractModel,
    *,
    m: Sequence[int],
    T: Sequence[int],
    replicates: int,
    key,
    design: str = "nested",
    out=None,
    resume: bool = True,
    force: bool = False,
    fit_options: dict | None = None,
    fisher_method: str = "auto",
    fisher_samples: int = 2000,
    batch_size: int = 16,
    devices=None,
    max_cell_bytes: int = 1 << 30,
    progress: bool | Callable | AbstractProgress = True,
    config: dict | None = None,
    shard: tuple[int, int] | None = None,
    runner: AbstractRunner | None = None,
) -> SweepResult:
    """Rate-verification sweep over the grid m × T with `replicates` replicates per cell.

    Args:
        model: the true model θ* (also the model kind and fixed settings for fitting).
        m, T: lists of numbers of trajectories and of states per trajectory.
        replicates: R, replicates per cell.
        key: PRNG key; data use `fold_in(key, 0)`, Monte-Carlo Fisher `fold_in(key, 1)`.
        design: "nested" (common random numbers across cells) or "independent".
        out: optional directory; each finished cell is committed there as one record
            (`records/`), from which `cells.csv` and `timings.csv` are rewritten, and
            `summary.json` and `rates.png` are written at the end. A rerun of the same sweep
            resumes from the records. "The same sweep" is its fingerprint: the model's
            parameters, dtype and code (or the `version` its class declares), the grid,
            replicates, key, design, fit and Fisher options. batch_size, max_cell_bytes and
            devices may differ: the devices and the replicate blocks change no number, the batch
            width numbers by rounding at most, and a budget too small for a nested sweep's shared
            windows (per-cell fits instead) numbers by up to the fit's tolerance.
            Bad paths raise a one-line ValueError before any work; nothing is written
            before the first cell is finished.
        resume: skip the cells `out` already holds for this sweep (False: refuse them).
        force: discard whatever `out` holds (another sweep's results too) and start afresh.
        fit_options: keyword arguments for `fit` (method, max_steps, tol, init).
        fisher_method / fisher_samples: how I_T is obtained ("auto" = exact when available).
        batch_size: replicates vmapped at once on each device (>= 2).
        devices: devices to shard replicates over (default: all local devices).
        max_cell_bytes: memory budget: the working set per device (data held + the programs'
            temporaries, as XLA's memory analysis of the compiled programs reports it; CPU
            devices share the host's memory, so on the CPU it is split between them). A nested
            sweep of a `homogeneous_markov` model simulates blocks of replicates whose data and
            fits fit the budget, fitting every cell from each block (two blocks are held when
            there are several, so the next is simulated while one is fitted; each finished block
            is checkpointed in `out` and a rerun resumes after it). When one batch per device does
            not fit, each cell has its own program, which streams trajectories in chunks
            (`fit_streaming`) until its working set fits; a warning says when even that cannot.
            `timings` records each cell's `memory_bytes` (its measured working set per device)
            beside `budget_bytes` (the budget per device), and `blocks`.
        progress: True: a progress line per cell on stderr (`tj.TextProgress`); False: none; a
            callable: called as `progress(done, total, row)` after each cell (`done` cells of
            `total` finished, resumed cells first; `row` the cell's table row); or a progress
            object (`tj.NoProgress`, `tj.TextProgress`, `tj.Callback`).
        config: extra settings recorded with the results (the CLI passes the TOML config).
        shard: (I, N), 0 <= I < N: compute only the I-th of N contiguous shares of the
            replicates, ⌊I·R/N⌋ <= r < ⌊(I+1)·R/N⌋, each with the data of a full run (a job-array
            task). With `out`, it writes `out/shard-I-of-N/` (resumable on its own); once every
            shard is finished, `merge_shards(out)` writes out/cells.csv etc., equal bit for bit
            to a single run's. The table's rows then summarise this shard's replicates only.
        runner: how the cells are computed: `tj.NestedWindows()` or `tj.PerCell()`; None
            (default) takes `tj.choose_runner`'s choice. Either moves to `PerCell` when not even
            one batch of nested data per device fits `max_cell_bytes`.

    Returns:
        A `SweepResult`.

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10, 40], T=[20], replicates=200,
        ...                key=jax.random.key(0), progress=False)
        >>> [round(r["ratio"], 1) for r in res.table]  # doctest: +SKIP
        [1.0, 1.0]
    """
    spec = SweepSpec.make(model, m=m, T=T, replicates=replicates, key=key, design=design,
                          fit_options=fit_options, fisher_method=fisher_method,
                          fisher_samples=fisher_samples, shard=shard, config=config)  # fmt: skip
    execution = _checked("run", Execution.build, devices, batch_size, max_cell_bytes)
    resolved = spec.resolved({"batch_size": execution.batch, "max_cell_bytes": max_cell_bytes})
    store = open_store(out, resolved, spec.shard, resume=resume, force=force)
    progress = as_progress(progress) if execution.lead else NoProgress()
    cells = spec.cells
    finished = finished_cells(store, cells)  # {cell: (row, timing, block), or None elsewhere}
    todo = [cell for cell in cells if cell not in finished]
    fishers = _Fishers(spec, sorted({Ti for _, Ti in todo}))
    rows = {cell: done for cell, done in finished.items() if done is not None}
    for count, cell in enumerate((c for c in cells if c in rows), start=1):  # resumed cells first
        progress.cell(count, len(cells), rows[cell][0], rows[cell][1], math.nan)
    clock = Clock(todo, len(cells) - len(todo))
    runner = _prepared(runner, spec, execution, todo, store)
    clock.compiling = runner.compiles_per_cell
    for outcome in runner.run(fishers.result, progress) if todo else ():
        theory = fishers.theory(*outcome.cell)
        row = cell_row(*outcome.cell, outcome.block, *theory, spec.model.theta.shape[0])
        timing = outcome.timing.as_dict()
        store.add(row, timing, outcome.block)
        rows[outcome.cell] = (row, timing, outcome.block)
        clock.finished(*outcome.cell, timing)
        progress.cell(clock.count, len(cells), row, timing, clock.eta())
    result = assemble(cells, rows, resolved)
    store.finish(result)
    return result


def _prepared(runner, spec, execution, cells, store) -> AbstractRunner:
    """`runner` (None: `choose_runner`'s) prepared for `cells`; `PerCell` instead when it cannot
    honour the memory budget."""
    chosen = runner if runner is not None else choose_runner(spec, execution)
    if not isinstance(chosen, AbstractRunner):
        raise ValueError(f"runner: expected tj.NestedWindows(), tj.PerCell() or None, got {runner!r}")
    if not chosen.supports(spec):
        raise ValueError(
            f"runner: {type(chosen).__name__} does not support this sweep (it needs the nested "
            "design, a homogeneous_markov model and fit options that work on windows); use "
            "tj.PerCell() or runner=None"
        )
    if not cells or chosen.prepare(spec, execution, cells, store):
        return chosen
    fallback = PerCell()  # not even one batch of nested data per device fits the budget
    fallback.prepare(spec, execution, cells, store)
    return fallback


class _Fishers:
    """{T: (I_T, its Monte-Carlo SE)} for a sweep's T values (zero SE for exact informations).

    The closed form's program (one for every T) is traced at once and compiled in a background
    thread, beside the sweep's own programs, instead of alone on one core before them (its
    XLA compile was a noticeable part of `make sweep`'s start-up);
    `result()` runs it, or the Monte-Carlo estimate for models without one, when the fits or
    the table first need it. Errors name the `fisher` section (`SpecError`)."""

    def __init__(self, spec: SweepSpec, T_values):
        self.spec, self.T_values = spec, tuple(T_values)
        self.infos = None
        self.compiling = None
        if spec.fisher_method in ("auto", "exact") and T_values:
            lowered = exact_fishers.lower(spec.model, self.T_values)  # traced here: the caller's settings
            self.compiling = background().submit(lowered.compile)

    def result(self) -> dict:
        if self.infos is None:
            self.infos = _checked("fisher", self._compute)
        return self.infos

    def _compute(self) -> dict:
        spec, infos = self.spec, {}
        if self.compiling is not None:
            exact = self.compiling.result()(spec.model, self.T_values)
            if exact is not None:
                exact = jax.block_until_ready(exact)
                zero = jax.device_put(np.zeros(exact[0].shape, exact[0].dtype))  # no eager program
                infos = {Ti: (info, zero) for Ti, info in zip(self.T_values, exact, strict=True)}
        for Ti in self.T_values:
            if Ti not in infos:
                infos[Ti] = fisher_information(
                    spec.model, Ti, method=spec.fisher_method, key=spec.fisher_key,
                    num_samples=spec.fisher_samples, return_stderr=True,
                )  # fmt: skip
        return infos

    def theory(self, m: int, T: int) -> tuple[float, float]:
        """(tr(I_T⁻¹)/m, its Monte-Carlo SE by the delta method: d tr(I⁻¹) = −tr(I⁻¹ dI I⁻¹),
        entries of I independent). NaN when I_T is singular to working precision (e.g. an
        explosive process)."""
        info, info_se = self.result()[T]
        if not _resolved(info):
            return math.nan, math.nan
        inv = np.linalg.inv(np.asarray(info, np.float64))
        sensitivity = inv @ inv  # ∂ tr(I⁻¹)/∂I_ij = −(I⁻²)_ji
        se = float(np.sqrt(np.sum((sensitivity.T * np.asarray(info_se, np.float64)) ** 2)))
        return float(np.trace(inv)) / m, se / m
