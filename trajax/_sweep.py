"""sweep: the rate-verification runner over an (m, T) grid (docs/theory.md §8).

Each cell (m, T) runs R replicates: simulate m trajectories of T states, fit the MLE, record
‖θ̂ − θ*‖², m·Δᵀ I_T Δ and whether the fit converged. Programs are compiled ahead of time
(`lower().compile()`, timed apart from the run) and vmap a fixed-width batch of replicates; the
replicate axis is split into one contiguous shard per local device by `shard_map`, so each
program compiles once for all devices. Two execution paths:

- `NestedCells` (nested design, `homogeneous_markov` models, data that fit in memory): one
  simulation of (max m, max T) per replicate, every cell fitted from windows of it with (m, T)
  as run-time values: one simulation program + one fit program per remainder class of T.
- `run_cell` (everything else): one program per cell that simulates and fits (or streams).

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
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import broadcast_one_to_all, process_allgather
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._checks import check_int
from ._estimate import describe_start
from ._fisher import _resolved, exact_fishers, fisher_information
from ._fit import check_fit_options, fit_streaming, fit_unchecked, make_plan
from ._keys import check_key
from ._model import AbstractModel
from ._records import check_out_dir
from ._replicates import cell_row, make_block, replicate_rows, shard_dir_name, shard_range
from ._report import device_summary as device_summary
from ._results import result_code
from ._simulate import simulate, trajectory_shapes
from ._stats import CSV_COLUMNS as CSV_COLUMNS
from ._stats import Z95, fit_slope
from ._windows import fit_prefix, plan_windows

__all__ = ["sweep", "SweepResult", "DESIGNS"]

DESIGNS = ("nested", "independent")


@dataclass
class SweepResult:
    """Outcome of `sweep`.

    table: one dict per (m, T) cell in grid order, with the columns `CSV_COLUMNS`
        (mse = mean ‖θ̂−θ*‖² over converged fits, theory = tr(I_T⁻¹)/m, ratio = mse/theory with
        a 95% CI, fisher_error = mean m·ΔᵀI_TΔ to compare with p, failed = non-converged fits,
        failed_<reason> = failed fits per `tj.RESULTS` member, e.g. failed_max_steps_reached).
    timings: one dict per cell: m, T, compile_s, run_s.
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


def _state_bytes(model, T) -> int:
    """Bytes of one simulated trajectory of T states."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(trajectory_shapes(model, T)))


def stream_chunk(model, m, T, batch, max_bytes) -> int | None:
    """None when a cell's data (for `batch` replicates at once) fits in `max_bytes`; otherwise
    the largest divisor of m whose chunk of trajectories does (streamed fit)."""
    per_trajectory = _state_bytes(model, T) * batch
    if per_trajectory * m <= max_bytes:
        return None
    fitting = [c for c in range(1, m + 1) if m % c == 0 and c * per_trajectory <= max_bytes]
    return max(fitting) if fitting else 1


def _cell_program(model, theta_star, info, data_key, m, T, design, fit_options, batch, chunk=None):
    """A function of (one device's) replicate indices returning per-replicate
    (‖Δ‖², m·ΔᵀI_TΔ, result code); replicates are vmapped `batch` at a time. With `chunk`, each
    replicate's trajectories are streamed `chunk` at a time (`fit_streaming`)."""

    def one(r):
        key = _replicate_key(data_key, r, m, T, design)
        if chunk is None:
            result = fit_unchecked(model, simulate(model, key, m, T), **fit_options)
        else:
            result = fit_streaming(model, key, m, T, chunk_size=chunk, **fit_options)
        return _replicate_errors(result, theta_star, info, m)

    def sweep_cell(indices):
        return jax.lax.map(one, indices, batch_size=batch)

    return sweep_cell


def _replicate_errors(result, theta_star, info, m):
    """One replicate's (‖Δ‖², m·ΔᵀI_TΔ, result code, Wald coverage, θ̂), Δ = θ̂ − θ* (m a Python
    or traced int); the Wald coverage is the fraction of coordinates with |Δ_j| ≤ 1.96·stderr_j
    (observed information; NaN stderr counts as not covered); θ̂ has shape (p,)."""
    delta = result.theta - theta_star
    stat = jnp.asarray(m, delta.dtype) * delta @ info @ delta
    wald = jnp.mean((jnp.abs(delta) <= Z95 * result.stderr).astype(delta.dtype))
    return jnp.sum(delta**2), stat, result_code(result.result), wald, result.theta


def _per_device(replicates, batch, num_devices) -> int:
    """Replicates per device: the processes' devices share R evenly, in multiples of `batch`."""
    return -(-replicates // (jax.process_count() * num_devices * batch)) * batch


def _compile_timed(program, *args):
    """(AOT executable, seconds spent lowering and compiling it)."""
    start = time.perf_counter()
    compiled = program.lower(*args).compile()
    return compiled, time.perf_counter() - start


def _replicate_indices(replicates, batch, mesh, offset=0):
    """Global replicate indices `offset + i` sharded over the mesh: each device a contiguous
    share, a multiple of `batch` (padded); in a multi-process run each process's devices take
    the process's share. `offset` is the first replicate of a job-array shard."""
    devices = list(mesh.devices.flat)
    local = _per_device(replicates, batch, len(devices))
    first = jax.process_index() * len(devices)  # global index of this process's first device
    shards = [
        jax.device_put(
            offset + jnp.arange((first + i) * local, (first + i + 1) * local, dtype=jnp.uint32), device
        )
        for i, device in enumerate(devices)
    ]
    sharding = NamedSharding(mesh, P("replicas"))
    return jax.make_array_from_single_device_arrays((local * len(devices),), sharding, shards)


def _over_replicas(local_fn, mesh, in_specs):
    """`local_fn` (one device's share of replicates) as one program over the local devices'
    mesh (`shard_map`): compiled once for all devices, and measured bit-identical to running
    it on one device (tests/test_sweep.py checks 1 against 2 devices)."""
    mapped = jax.shard_map(local_fn, mesh=mesh, in_specs=in_specs, out_specs=P("replicas"), check_vma=False)
    return jax.jit(mapped)


def _gather(outs, replicates):
    """Per-replicate outputs over this process's devices → host arrays over all replicates
    (leading axis; θ̂ keeps its trailing (p,) axis)."""
    results = [np.asarray(out) for out in outs]
    if jax.process_count() > 1:  # every process gets every replicate, in global device order
        results = [np.asarray(process_allgather(r)).reshape(-1, *r.shape[1:]) for r in results]
    return [r[:replicates] for r in results]


def run_cell(
    model,
    theta_star,
    info,
    data_key,
    m,
    T,
    replicates,
    design,
    fit_options,
    batch,
    devices,
    chunk=None,
    offset=0,
):
    """Runs replicates offset, ..., offset + replicates − 1 of one cell; returns ((sq_err,
    fisher_stat, result codes, Wald coverage, θ̂), compile_s, run_s).

    The replicate axis is split into contiguous shards, one per device, each a multiple of
    `batch` (padded; the padding is dropped), by one `shard_map` program (`_over_replicas`).
    """
    mesh = Mesh(np.array(devices), ("replicas",))
    local_fn = _cell_program(model, theta_star, info, data_key, m, T, design, fit_options, batch, chunk)
    indices = _replicate_indices(replicates, batch, mesh, offset)
    compiled, compile_s = _compile_timed(_over_replicas(local_fn, mesh, P("replicas")), indices)
    start = time.perf_counter()
    outs = _gather(jax.block_until_ready(compiled(indices)), replicates)
    return outs, compile_s, time.perf_counter() - start


class NestedCells:
    """Every cell of a nested sweep from ONE simulation per replicate, fitted by windows.

    Replicate r's data for cell (m, T) are the first m trajectories and T states of its run of
    (max m, max T) (the prefix property of `simulate`), so this simulates that run once per
    replicate, keeps it on the devices, and fits each cell with `fit_prefix`, whose (m, T) are
    run-time values: one simulation program and one fit program per remainder class of T
    (`WindowPlan.remainder`) serve the whole grid, instead of a program per cell. The estimator
    and tolerance are those of `fit`; only the summation order differs (ulp-level changes).

    The programs are `shard_map`s over a mesh of the local devices, each device taking its
    contiguous share of replicates: compiled once for all devices (per-device executables would
    compile once per device), and measured bit-identical to the single-device program.
    Used by `sweep` when the model is `homogeneous_markov`, the design nested, and the data of
    all replicates fit in `max_cell_bytes` per device.
    """

    def __init__(self, model, plan, data_key, m_max, T_max, replicates, batch, devices, offset=0):
        self.model, self.plan, self.offset = model, plan, offset
        self.data_key, self.m_max, self.T_max = data_key, m_max, T_max
        self.replicates, self.batch = replicates, batch
        self.mesh = Mesh(np.array(devices), ("replicas",))
        self.data = None
        self.pending = (0.0, 0.0, 0)  # (compile_s, run_s, compilations) not yet charged to a cell
        self.fits: dict[int, object] = {}

    def start(self) -> None:
        """Compiles the simulation and dispatches it without waiting (its compile and dispatch
        time are charged to the first cell run)."""
        model, key, M, T = self.model, self.data_key, self.m_max, self.T_max
        one = lambda r: simulate(model, jax.random.fold_in(key, r), M, T)

        def sweep_simulate(indices):
            return jax.lax.map(one, indices, batch_size=self.batch)

        program = _over_replicas(sweep_simulate, self.mesh, P("replicas"))
        indices = _replicate_indices(self.replicates, self.batch, self.mesh, self.offset)
        compiled, compile_s = _compile_timed(program, indices)
        start = time.perf_counter()
        self.data = compiled(indices)  # not awaited: the devices simulate while the host compiles fits
        self.pending = (compile_s, time.perf_counter() - start, 1)

    def _fit_program(self, r: int):
        model, plan = self.model, self.plan

        def one(data, m, T, info):
            return _replicate_errors(fit_prefix(model, data, m, T, plan, r), model.theta, info, m)

        def sweep_fit(data, m, T, info):
            return jax.lax.map(lambda d: one(d, m, T, info), data, batch_size=self.batch)

        return _over_replicas(sweep_fit, self.mesh, (P("replicas"), P(), P(), P()))

    def run(self, m: int, T: int, info):
        """(sq_err, fisher_stat, result codes, compile_s, run_s, compilations) of cell (m, T).

        The first cell compiles the fit program while the simulation runs (asynchronous
        dispatch), so its compile_s + run_s is its wall time, not the sum of both stages."""
        if self.data is None:
            self.start()
        compile_s, run_s, compilations = self.pending
        self.pending = (0.0, 0.0, 0)
        r = self.plan.remainder(T)
        replicated = NamedSharding(self.mesh, P())
        args = (self.data, *jax.device_put((jnp.int32(m), jnp.int32(T), info), replicated))
        if r not in self.fits:
            self.fits[r], seconds = _compile_timed(self._fit_program(r), *args)
            compile_s, compilations = compile_s + seconds, compilations + 1
        start = time.perf_counter()
        outs = jax.block_until_ready(self.fits[r](*args))
        outs = _gather(outs, self.replicates)
        return outs, compile_s, run_s + time.perf_counter() - start, compilations


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
            devices may differ: they change numbers by rounding at most, or by up to the fit's
            tolerance where a smaller budget moves a nested sweep off its shared windows.
            Bad paths raise a one-line ValueError before any work; nothing is written
            before the first cell is finished.
        resume: skip the cells `out` already holds for this sweep (False: refuse them).
        force: discard whatever `out` holds (another sweep's results too) and start afresh.
        fit_options: keyword arguments for `fit` (method, max_steps, tol, init).
        fisher_method / fisher_samples: how I_T is obtained ("auto" = exact when available).
        batch_size: replicates vmapped at once on each device (>= 2).
        devices: devices to shard replicates over (default: all local devices).
        max_cell_bytes: memory budget per device. A nested sweep of a `homogeneous_markov`
            model keeps one simulation of (max m, max T) per replicate on the devices and fits
            every cell from it (one compiled fit program) when those data fit in this budget;
            otherwise each cell has its own program, and a cell whose data for `batch_size`
            replicates exceed the budget is streamed over chunks of trajectories
            (`fit_streaming`) instead of materialised.
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
    from ._report import SweepWriter, describe_model, print_progress

    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    m_values, T_values = _check_grid(m, "m"), _check_grid(T, "T")
    R = check_int(replicates, "replicates", 2)
    if design not in DESIGNS:
        raise ValueError(f"design: expected one of {DESIGNS}, got {design!r}")
    batch = check_int(batch_size, "batch_size", 2)  # width 1 vmaps compile differently
    key = check_key(key)
    fit_options = check_fit_options(fit_options)
    fit_start = _describe_fit_start(model, fit_options, min(T_values))
    data_key, fisher_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
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
    theta_star = model.theta
    cells = [(mi, Ti) for Ti in T_values for mi in m_values]
    done = writer.finished() if writer else {}
    if jax.process_count() > 1:  # all processes must skip the same finished cells
        mask = broadcast_one_to_all(np.array([c in done for c in cells], dtype=np.int32))
        if not lead:
            done = {c: None for c, skip in zip(cells, np.asarray(mask), strict=True) if skip}
    table, timings, replicate_list = [], [], []
    infos: dict[int, jax.Array] = {}
    nested = _nested_cells(
        model, m_values, T_values, R, design, fit_options, batch, devices, data_key, max_cell_bytes,
        first, stop,
    )  # fmt: skip
    todo = [c for c in cells if c not in done]
    T_todo = tuple(sorted({Ti for _, Ti in todo}))
    if fisher_method in ("auto", "exact") and T_todo:
        exact = exact_fishers(model, T_todo)
        if exact is not None:
            exact = jax.block_until_ready(exact)
            infos.update({Ti: (info, jnp.zeros_like(info)) for Ti, info in zip(T_todo, exact, strict=True)})
    if nested is not None and todo:
        # dispatched now, so the devices simulate while the host compiles the fit programs (the
        # exact Fishers come first: queued behind the simulation they would wait for it)
        nested.start()
    work_left = sum(mi * Ti for mi, Ti in todo)
    compile_total, run_total, work_run, cells_run = 0.0, 0.0, 0, 0
    for index, (mi, Ti) in enumerate(cells):
        if (mi, Ti) in done:
            if done[(mi, Ti)] is None:  # finished in an earlier run; only process 0 has the row
                continue
            row, timing = done[(mi, Ti)]
            block = writer.blocks.get((mi, Ti)) if writer else None
        else:
            if Ti not in infos:
                infos[Ti] = fisher_information(
                    model, Ti, method=fisher_method, key=fisher_key, num_samples=fisher_samples,
                    return_stderr=True,
                )  # fmt: skip
            info, info_se = infos[Ti]
            theory, theory_se = _theory(info, info_se, mi)
            chunk = None
            if nested is not None:
                outs, compile_s, run_s, programs = nested.run(mi, Ti, info)
            else:
                chunk = stream_chunk(model, mi, Ti, batch, max_cell_bytes)
                outs, compile_s, run_s = run_cell(
                    model, theta_star, info, data_key, mi, Ti, stop - first, design, fit_options, batch,
                    devices, chunk, offset=first,
                )  # fmt: skip
                programs = 1
            block = make_block(first, *outs)  # rows come from blocks, as in `merge_shards`
            row = cell_row(mi, Ti, block, theory, theory_se, theta_star.shape[0])
            timing = {
                "m": mi, "T": Ti, "compile_s": compile_s, "run_s": run_s, "stream_chunk": chunk or 0,
                "compilations": programs,
            }  # fmt: skip
            compile_total, run_total = compile_total + compile_s, run_total + run_s
            work_run, cells_run, work_left = work_run + mi * Ti, cells_run + 1, work_left - mi * Ti
            if writer:
                writer.add(row, timing, block)
        table.append(row)
        if block is not None:
            replicate_list.extend(replicate_rows(mi, Ti, block))
        timings.append(timing)
        if progress and lead:
            report = progress if callable(progress) else print_progress
            # ETA: mean compile time per remaining cell + run time in proportion to m·T
            cells_left = len(todo) - cells_run
            eta = (
                compile_total / cells_run * cells_left + run_total / work_run * work_left
                if cells_run
                else float("nan")
            )
            report(index + 1, len(cells), row, timing, eta)
    result = SweepResult(table=table, timings=timings, config=resolved, replicates=replicate_list)
    if writer:
        writer.finish(result)
    return result


def _describe_fit_start(model, fit_options: dict, T: int) -> str:
    """Where the sweep's iterative fits start (recorded in summary.json); warns when that is the
    truth θ*, which makes the error of a non-convex fit look better than it is."""
    example = jax.tree.map(lambda s: jnp.zeros((2, *s.shape), s.dtype), trajectory_shapes(model, T))
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


def _nested_cells(
    model, m_values, T_values, R, design, fit_options, batch, devices, data_key, max_bytes, first=0, stop=None
):
    """A `NestedCells` runner of replicates [first, stop) when the grid can be fitted by windows
    of one nested simulation held in memory (at most `max_bytes` per device for all R
    replicates, so that a job-array shard takes the path of the full run), else None."""
    if design != "nested":
        return None
    plan = plan_windows(model, m_values, T_values, fit_options)
    if plan is None:
        return None
    m_max, T_max = max(m_values), max(T_values)
    if _per_device(R, batch, len(devices)) * m_max * _state_bytes(model, T_max) > max_bytes:
        return None
    stop = R if stop is None else stop
    return NestedCells(model, plan, data_key, m_max, T_max, stop - first, batch, devices, offset=first)
