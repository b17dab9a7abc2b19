"""sweep: the rate-verification runner over an (m, T) grid (docs/theory.md §8).

Each cell (m, T) runs R replicates: simulate m trajectories of T states, fit the MLE, record
‖θ̂ − θ*‖², m·Δᵀ I_T Δ and whether the fit converged. Programs are compiled ahead of time
(`lower().compile()`, timed apart from the run) and vmap a fixed-width batch of replicates; the
replicate axis is split into one contiguous share per local device, each device running the
same single-device program (`OnDevices`), so results do not depend on the device count, bit
for bit. Two execution paths:

- `NestedBlocks` (nested design, `homogeneous_markov` models): one simulation of (max m, max T)
  per replicate, every cell fitted from windows of it with (m, T) as run-time values, a block of
  replicates at a time within the memory budget: one simulation program + one fit program per
  remainder class of T, whatever R or the number of blocks (`_blocks.py`).
- `run_cell` (everything else, or when one batch of nested data exceeds the budget): one
  program per cell that simulates and fits (streaming trajectories in chunks when the
  program's measured working set exceeds the budget).

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
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import broadcast_one_to_all

from ._blocks import (
    NestedBlocks,
    OnDevices,
    _replicate_errors,
    error_shapes,
    gather,
    map_batches,
    on_cpu,
    replicate_indices,
    replicates_per_device,
    share_devices,
    state_bytes,
    working_set,
)
from ._checks import check_int
from ._estimate import describe_start
from ._fisher import _resolved, exact_fishers, fisher_information
from ._fit import check_fit_options, fit_streaming, fit_unchecked, make_plan
from ._keys import check_key, fold_in
from ._model import AbstractModel
from ._records import check_out_dir
from ._replicates import (
    cell_row,
    concatenate_blocks,
    make_block,
    replicate_rows,
    shard_dir_name,
    shard_range,
)
from ._report import device_summary as device_summary
from ._report import preload_plotting
from ._simulate import simulate, trajectory_shapes
from ._solvers import default_tol
from ._stats import CSV_COLUMNS as CSV_COLUMNS
from ._stats import fit_slope
from ._windows import plan_windows

__all__ = ["sweep", "SweepResult", "DESIGNS"]

DESIGNS = ("nested", "independent")


@dataclass
class SweepResult:
    """Outcome of `sweep`.

    table: one dict per (m, T) cell in grid order, with the columns `CSV_COLUMNS`
        (mse = mean ‖θ̂−θ*‖² over converged fits, theory = tr(I_T⁻¹)/m, ratio = mse/theory with
        a 95% CI, fisher_error = mean m·ΔᵀI_TΔ to compare with p, failed = non-converged fits,
        failed_<reason> = failed fits per `tj.RESULTS` member, e.g. failed_max_steps_reached).
    timings: one dict per cell: m, T, compile_s, run_s, stream_chunk, compilations,
        memory_bytes (measured working set per device), budget_bytes (the budget per device), blocks.
    config: the resolved settings of the sweep (model, grid, seed, design, fit options; and
        `shard` = {"index", "count", "first", "stop"} for a job-array shard).
    replicates: one dict per (cell, replicate), cells in table order, replicates in order:
        m, T, replicate (its index r: its data use `fold_in(fold_in(key, 0), r)`), theta (θ̂,
        a list of p floats), sq_err = ‖θ̂−θ*‖², fisher_stat = m·ΔᵀI_TΔ, code and reason (the
        fit's `tj.RESULTS` member), wald_coverage (fraction of coordinates whose 95% Wald
        interval covers θ*). Written to `out/replicates.csv` (theta as theta_0..theta_{p−1}).
        Empty for cells resumed from records of an older trajax.

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10, 40], T=[20], replicates=50,
        ...                key=jax.random.key(0), progress=False)
        >>> [(row["m"], row["T"], row["failed"], row["failed_nonfinite"]) for row in res.table]
        [(10, 20, 0, 0), (40, 20, 0, 0)]
        >>> [s["against"] for s in res.slopes()]  # log mse against log m (per T), log mT
        ['m', 'mT']
        >>> bad = [r for r in res.replicates if r["reason"] != "successful"]  # the failed fits
        >>> len(res.replicates), res.replicates[0]["replicate"], len(bad)
        (100, 0, 0)
    """

    table: list[dict]
    timings: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    replicates: list[dict] = field(default_factory=list)

    def slopes(self) -> list[dict]:
        """Slopes of log mse against log m (per T), log T (per m) and log mT (all cells), each
        with a 95% CI, beside the same slope of the theory curve."""
        rows = [r for r in self.table if math.isfinite(r["mse"])]
        out = []
        groups = [("m", "T"), ("T", "m")]
        for against, at in groups:
            for value in sorted({r[at] for r in rows}):
                sub = [r for r in rows if r[at] == value]
                if len({r[against] for r in sub}) >= 2:
                    out.append(_slope_record(against, f"{at}={value}", sub, lambda r, a=against: r[a]))
        if len({r["m"] * r["T"] for r in rows}) >= 2:
            out.append(_slope_record("mT", "all", rows, lambda r: r["m"] * r["T"]))
        return out

    def to_csv(self, path) -> None:
        """Writes the table (one row per cell, `CSV_COLUMNS`) atomically to `path`."""
        from ._report import write_table_csv

        write_table_csv(path, self.table)

    def plot(self, path) -> None:
        """Draws error against m·T per T with error bars and the theory curves to `path`."""
        from ._report import plot_rates

        plot_rates(self, path)

    def plot_burn_in(self, path, **kwargs) -> None:
        """Heat map of the ratio mse/theory over (m, T), cells whose ratio CI covers 1 outlined and
        the burn-in m of each T marked, beside the coverage map; `boundary=` draws a predicted
        burn-in boundary (a callable T ↦ m, or (T, m) points). See `tj.burn_in`."""
        from ._burnin import plot_burn_in

        plot_burn_in(self, path, **kwargs)


def _slope_record(against, at, rows, x_of) -> dict:
    x = [x_of(r) for r in rows]
    emp = fit_slope(x, [r["mse"] for r in rows], [r["mse_se"] for r in rows])
    theory = fit_slope(x, [r["theory"] for r in rows])
    return {"against": against, "at": at, **emp, "theory_slope": theory["slope"]}


def _replicate_key(data_key, r, m, T, design):
    key = jax.random.fold_in(data_key, r)
    if design == "independent":
        key = jax.random.fold_in(jax.random.fold_in(key, m), T)
    return key


def stream_chunk(model, m, T, batch, max_bytes) -> int | None:
    """None when a cell's data (for `batch` replicates at once) fits in `max_bytes`; otherwise
    the largest divisor of m whose chunk of trajectories does (streamed fit)."""
    per_trajectory = state_bytes(model, T) * batch
    if per_trajectory * m <= max_bytes:
        return None
    return max(_divisors_below(m, max(1, max_bytes // per_trajectory)))


def _cell_program(model, info, data_key, m, T, design, fit_options, batch, chunk=None):
    """A function of one device's replicate indices returning
    per-replicate (‖Δ‖², m·ΔᵀI_TΔ, result code, Wald coverage, θ̂); replicates are vmapped `batch`
    at a time. With `chunk`, each replicate's trajectories are streamed `chunk` at a time
    (`fit_streaming`)."""

    def sweep_cell(indices):
        def one(r):
            key = _replicate_key(data_key, r, m, T, design)
            if chunk is None:
                result = fit_unchecked(model, simulate(model, key, m, T), **fit_options)
            else:
                result = fit_streaming(model, key, m, T, chunk_size=chunk, **fit_options)
            return _replicate_errors(result, model.theta, info, m)

        return map_batches(one, indices, batch, error_shapes(model.theta))

    return sweep_cell


def _divisors_below(m: int, limit: int) -> list[int]:
    return [c for c in range(1, m + 1) if m % c == 0 and c <= limit]


def run_cell(
    model,
    info,
    data_key,
    m,
    T,
    replicates,
    design,
    fit_options,
    batch,
    devices,
    budget,
    offset=0,
):
    """Runs replicates offset, ..., offset + replicates − 1 of one cell in one program (each
    device a contiguous share, a multiple of `batch`, padded; the padding is dropped).

    Each replicate's data are simulated inside the program, `batch` replicates at a time, so
    the working set does not grow with R. When it exceeds `budget` bytes per device (XLA's
    memory analysis of the compiled program), the replicates' trajectories are streamed in
    chunks (`fit_streaming`): first the largest divisor of m whose data fit, then smaller ones
    in proportion to the measured excess, compiling again each time.

    Returns ((sq_err, fisher_stat, result codes, Wald coverage, θ̂), compile_s, run_s, chunk
    (None: not streamed), compilations, working set in bytes per device).
    """
    per_device = replicates_per_device(replicates, batch, len(devices))
    indices = replicate_indices(per_device, share_devices(devices), offset)
    chunk = stream_chunk(model, m, T, batch, budget)
    compile_s, compilations = 0.0, 0
    while True:
        local_fn = _cell_program(model, info, data_key, m, T, design, fit_options, batch, chunk)
        program = OnDevices(local_fn, devices)
        compile_s, compilations = compile_s + program.compile(indices[0]), compilations + 1
        memory = working_set(program.compiled)
        current = m if chunk is None else chunk
        if memory <= budget or current == 1 or compilations == 4:
            break
        chunk = max(_divisors_below(m, min(current - 1, max(1, current * budget // memory))))
    start = time.perf_counter()
    outs = gather(jax.block_until_ready(program(indices)), replicates)
    return outs, compile_s, time.perf_counter() - start, chunk, compilations, memory


def _check_grid(values, name) -> list[int]:
    if isinstance(values, int | np.integer):
        values = [values]
    if not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        raise ValueError(f"{name}: expected a non-empty list of integers, got {values!r}")
    minimum = 2 if name == "T" else 1
    out = [check_int(v, name, minimum) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: expected distinct values, got {out}")
    return sorted(out)


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
    progress: bool | Callable = True,
    config: dict | None = None,
    shard: tuple[int, int] | None = None,
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
        progress: print a progress line per cell to stderr (or a callable(done, total, row)).
        config: extra settings recorded with the results (the CLI passes the TOML config).
        shard: (I, N), 0 <= I < N: compute only the I-th of N contiguous shares of the
            replicates, ⌊I·R/N⌋ <= r < ⌊(I+1)·R/N⌋, each with the data of a full run (a job-array
            task). With `out`, it writes `out/shard-I-of-N/` (resumable on its own); once every
            shard is finished, `merge_shards(out)` writes out/cells.csv etc., equal bit for bit
            to a single run's. The table's rows then summarise this shard's replicates only.

    Returns:
        A `SweepResult`.

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10, 40], T=[20], replicates=200,
        ...                key=jax.random.key(0), progress=False)
        >>> [round(r["ratio"], 1) for r in res.table]  # doctest: +SKIP
        [1.0, 1.0]
    """
    from ._records import SweepWriter
    from ._report import describe_model, print_progress

    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    m_values, T_values = _check_grid(m, "m"), _check_grid(T, "T")
    R = check_int(replicates, "replicates", 2)
    if design not in DESIGNS:
        raise ValueError(f"design: expected one of {DESIGNS}, got {design!r}")
    batch = check_int(batch_size, "batch_size", 2)  # width 1 vmaps compile differently
    key = check_key(key)
    fit_options = check_fit_options(fit_options)
    _warn_unreachable_tol(fit_options.get("tol"), model.theta.dtype)
    fit_start = _describe_fit_start(model, fit_options, min(T_values))
    data_key, fisher_key = fold_in(key, 0), fold_in(key, 1)  # NumPy: no eager programs
    resolved = {
        "model": describe_model(model),
        "m": m_values,
        "T": T_values,
        "replicates": R,
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "design": design,
        "fit": fit_options,
        "fit_start": fit_start,  # where iterative fits start, in words
        "fisher": {"method": fisher_method, "samples": fisher_samples},
        "batch_size": batch,  # this and max_cell_bytes are left out of the fingerprint
        "max_cell_bytes": max_cell_bytes,
        **({"config": config} if config else {}),
    }
    first, stop = (0, R) if shard is None else shard_range(shard, R)
    if shard is not None:
        resolved["shard"] = {"index": int(shard[0]), "count": int(shard[1]), "first": first, "stop": stop}
        if out is not None:
            out = Path(check_out_dir(out)) / shard_dir_name(int(shard[0]), int(shard[1]))
    lead = jax.process_index() == 0  # with jax.distributed, process 0 alone writes and prints
    writer = SweepWriter(out, resolved, resume=resume, force=force) if out is not None and lead else None
    devices = list(devices) if devices is not None else jax.local_devices()
    budget = _device_budget(max_cell_bytes, devices)
    theta_star = model.theta
    cells = [(mi, Ti) for Ti in T_values for mi in m_values]
    done = writer.finished() if writer else {}
    if jax.process_count() > 1:  # all processes must skip the same finished cells
        mask = broadcast_one_to_all(np.array([c in done for c in cells], dtype=np.int32))
        if not lead:
            done = {c: None for c, skip in zip(cells, np.asarray(mask), strict=True) if skip}
    todo = [c for c in cells if c not in done]
    fishers = _Fishers(model, sorted({Ti for _, Ti in todo}), fisher_method, fisher_key, fisher_samples)
    rows: dict[tuple[int, int], tuple] = {}  # cell → (row, timing, block) of this run or resumed
    for cell in cells:
        if cell in done and done[cell] is not None:
            rows[cell] = (*done[cell], writer.blocks.get(cell) if writer else None)
    report = (progress if callable(progress) else print_progress) if progress and lead else None
    clock = _Clock(todo, len(cells) - len(todo))
    if report:  # cells finished in earlier runs are reported first, as resumed
        for count, cell in enumerate((c for c in cells if c in rows), start=1):
            report(count, len(cells), rows[cell][0], rows[cell][1], math.nan)

    def finish_cell(mi, Ti, block, timing):
        row = cell_row(mi, Ti, block, *_theory(*fishers.result()[Ti], mi), theta_star.shape[0])
        if writer:
            writer.add(row, timing, block)
        rows[(mi, Ti)] = (row, timing, block)
        clock.finished(mi, Ti, timing)
        if report:
            report(clock.count, len(cells), row, timing, clock.eta())

    nested = _nested_blocks(
        model, m_values, T_values, design, fit_options, batch, devices, data_key, budget, first, stop
    )
    if nested is not None and todo:
        verbose = progress is True and lead
        clock.compiling = False  # its cells share the programs `prepare` compiles up front
        nested = _run_nested(nested, todo, fishers, model, writer, finish_cell, verbose)
        clock.compiling = nested is None  # infeasible: the cells run (and compile) one by one
    if nested is None:
        for mi, Ti in todo:
            info = fishers.result()[Ti][0]
            outs, compile_s, run_s, chunk, programs, memory = run_cell(
                model, info, data_key, mi, Ti, stop - first, design, fit_options, batch,
                devices, budget, offset=first,
            )  # fmt: skip
            _warn_over_budget(memory, budget, f"cell m={mi}, T={Ti}")
            timing = {
                "m": mi, "T": Ti, "compile_s": compile_s, "run_s": run_s, "stream_chunk": chunk or 0,
                "compilations": programs, "memory_bytes": memory, "budget_bytes": budget,
            }  # fmt: skip
            finish_cell(mi, Ti, make_block(first, *outs), timing)
    table, timings, replicate_list = [], [], []
    for mi, Ti in cells:
        if (mi, Ti) not in rows:  # finished in an earlier run; only process 0 has the row
            continue
        row, timing, block = rows[(mi, Ti)]
        table.append(row)
        timings.append(timing)
        if block is not None:
            replicate_list.extend(replicate_rows(mi, Ti, block))
    result = SweepResult(table=table, timings=timings, config=resolved, replicates=replicate_list)
    if writer:
        writer.finish(result)
    return result


class _Clock:
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


def _device_budget(max_cell_bytes, devices) -> int:
    """Working-set bytes per device: `max_cell_bytes`, split evenly between CPU devices (which
    share the host's memory)."""
    budget = check_int(max_cell_bytes, "max_cell_bytes", 1)
    return budget // len(devices) if on_cpu(devices) else budget


class _Fishers:
    """{T: (I_T, its Monte-Carlo SE)} for a sweep's T values (zero SE for exact informations).

    The closed form's program (one for every T) is traced at once and compiled in a background
    thread, beside the sweep's own programs, instead of alone on one core before them (its
    XLA compile, 0.18 s for a Student-t linear system, was a tenth of `make sweep`'s start-up);
    `result()` runs it, or the Monte-Carlo estimate for models without one, when the fits or
    the table first need it."""

    def __init__(self, model, T_values, method, key, samples):
        self.args = (model, tuple(T_values), method, key, samples)
        self.infos = None
        self.compiling = None
        if method in ("auto", "exact") and T_values:
            lowered = exact_fishers.lower(model, tuple(T_values))  # traced here: the caller's settings
            self.compiling = _background().submit(lowered.compile)

    def result(self) -> dict:
        if self.infos is None:
            model, T_values, method, key, samples = self.args
            infos = {}
            if self.compiling is not None:
                exact = self.compiling.result()(model, T_values)
                if exact is not None:
                    exact = jax.block_until_ready(exact)
                    zero = jax.device_put(np.zeros(exact[0].shape, exact[0].dtype))  # no eager program
                    infos = {Ti: (info, zero) for Ti, info in zip(T_values, exact, strict=True)}
            for Ti in T_values:
                if Ti not in infos:
                    infos[Ti] = fisher_information(
                        model, Ti, method=method, key=key, num_samples=samples, return_stderr=True
                    )
            self.infos = infos
        return self.infos


_BACKGROUND: list = []
_BACKGROUND_LOCK = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """A thread for compiles that need not wait for the caller (created once, kept)."""
    with _BACKGROUND_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="trajax-compile"))
        return _BACKGROUND[0]


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _warn_unreachable_tol(tol, dtype) -> None:
    """A gradient tolerance under 10 eps of the model's dtype is out of reach of its rounding
    (float32 with tol = 1e-8: every fit runs to max_steps and fails, slowly)."""
    floor, name = 10 * float(jnp.finfo(dtype).eps), jnp.dtype(dtype).name
    if tol is not None and float(tol) < floor:
        warnings.warn(
            f"tol: {float(tol):g} is below what {name} gradients can reach (10 eps = {floor:.1e}; "
            f"the default for {name} is {default_tol(dtype):g}): fits will likely run to max_steps "
            "and fail",
            stacklevel=3,
        )


def _warn_over_budget(memory: int, budget: int, what: str) -> None:
    if memory > budget:
        warnings.warn(
            f"max_cell_bytes: {what} needs {_mib(memory)} per device at the smallest size trajax "
            f"tried (fewer trajectories streamed at a time), above the budget of {_mib(budget)} per "
            "device; it ran at that size (a smaller batch_size lowers it)",
            stacklevel=4,
        )


def _run_nested(nested, todo, fishers, model, writer, finish_cell, verbose):
    """Runs the cells `todo` block by block (see `NestedBlocks`); returns None, without running
    anything, when nested blocks cannot honour the budget (the caller then runs each cell on
    its own), else the runner.

    A cell is finished, recorded and reported when its last block is fitted, so with one block
    (data of all replicates within the budget) cells finish one by one; with several, each
    block's per-replicate results are checkpointed (`SweepWriter.save_partial`) and a rerun
    resumes after the last finished block."""
    if not nested.feasible:  # the data of one batch per device exceed the budget
        return None
    p = model.theta.shape[0]
    remainders = sorted({nested.plan.remainder(Ti) for _, Ti in todo})
    saved, start = {}, nested.first
    if writer is not None:
        saved, start = writer.partials(todo, nested.first, nested.stop)
    compile_wall = nested.prepare(remainders, np.zeros((p, p), model.theta.dtype), start)
    if not nested.feasible:
        return None
    if writer is not None:  # the plot's imports, while the blocks run
        preload_plotting()
    infos = fishers.result()
    pending = {cell: [saved[cell]] if cell in saved else [] for cell in todo}
    # the programs compile concurrently: the first cell is charged their wall time, each fit
    # program is counted at the first cell that uses it, the simulation and any program
    # compiled again for a smaller block at the first cell
    compile_s = {cell: 0.0 for cell in todo}
    compile_s[todo[0]] = compile_wall
    compilations = {cell: 0 for cell in todo}
    compilations[todo[0]] += nested.compilations - len(remainders)
    first_of_class = {}
    for cell in todo:
        first_of_class.setdefault(nested.plan.remainder(cell[1]), cell)
    for cell in first_of_class.values():
        compilations[cell] += 1
    run_s = {cell: 0.0 for cell in todo}
    size = nested.block_replicates
    todo_blocks = [(a, min(a + size, nested.stop)) for a in range(start, nested.stop, size)]
    data = None
    for k, (a, b) in enumerate(todo_blocks):
        last = k == len(todo_blocks) - 1
        tick = time.perf_counter()
        data = nested.simulate(a) if data is None else data
        outs = {(mi, Ti): nested.fit(data, mi, Ti, infos[Ti][0]) for mi, Ti in todo}
        data = None if last else nested.simulate(todo_blocks[k + 1][0])  # overlaps the gathers
        results = {}
        for mi, Ti in todo:
            gathered = gather(jax.block_until_ready(outs.pop((mi, Ti))), b - a)
            now = time.perf_counter()
            run_s[(mi, Ti)] += now - tick
            tick = now
            results[(mi, Ti)] = make_block(a, *gathered)
            pending[(mi, Ti)].append(results[(mi, Ti)])
            if last:
                timing = {
                    "m": mi, "T": Ti, "compile_s": compile_s[(mi, Ti)], "run_s": run_s[(mi, Ti)],
                    "stream_chunk": 0, "compilations": compilations[(mi, Ti)],
                    "memory_bytes": nested.memory, "budget_bytes": nested.budget, "blocks": nested.num_blocks,
                }  # fmt: skip
                finish_cell(mi, Ti, concatenate_blocks(pending.pop((mi, Ti))), timing)
        if not last:
            if writer is not None:
                writer.save_partial(a, b, results)
            if verbose:
                _print_block(k + 1, len(todo_blocks), a, b, run_s)
    if writer is not None:
        writer.remove_partials()
    return nested


def _print_block(k, n, a, b, run_s) -> None:
    total = sum(run_s.values())
    print(
        f"  block {k}/{n}: replicates {a}..{b - 1} fitted in every cell; run {total:.1f}s so far, "
        f"ETA {total / k * (n - k):.0f}s",
        file=sys.stderr,
        flush=True,
    )


def _describe_fit_start(model, fit_options: dict, T: int) -> str:
    """Where the sweep's iterative fits start (recorded in summary.json); warns when that is the
    truth θ*, which makes the error of a non-convex fit look better than it is."""
    shapes = trajectory_shapes(model, T)
    example = jax.tree.map(lambda s: jax.ShapeDtypeStruct((2, *s.shape), s.dtype), shapes)
    plan, _ = make_plan(model, example, **fit_options)  # the errors fit would give, before any work
    text = describe_start(model, plan, example)
    if plan.init == "model" and plan.method in ("newton", "lbfgs"):
        warnings.warn(f"sweep: fit_options init='model': {text}", stacklevel=3)
    return text


def _theory(info, info_se, m: int) -> tuple[float, float]:
    """(tr(I_T⁻¹)/m, its Monte-Carlo SE by the delta method: d tr(I⁻¹) = −tr(I⁻¹ dI I⁻¹), entries
    of I independent). NaN when I_T is singular to working precision (e.g. an explosive process)."""
    if not _resolved(info):
        return math.nan, math.nan
    inv = np.linalg.inv(np.asarray(info, np.float64))
    sensitivity = inv @ inv  # ∂ tr(I⁻¹)/∂I_ij = −(I⁻²)_ji
    se = float(np.sqrt(np.sum((sensitivity.T * np.asarray(info_se, np.float64)) ** 2)))
    return float(np.trace(inv)) / m, se / m


def _nested_blocks(
    model, m_values, T_values, design, fit_options, batch, devices, data_key, budget, first, stop
):
    """A `NestedBlocks` runner of replicates [first, stop) when the grid can be fitted by windows
    of one nested simulation (nested design, a `homogeneous_markov` model, fit options that
    work on windows), else None."""
    if design != "nested":
        return None
    plan = plan_windows(model, m_values, T_values, fit_options)
    if plan is None:
        return None
    return NestedBlocks(
        model, plan, data_key, max(m_values), max(T_values), first, stop, batch, devices, budget
    )
