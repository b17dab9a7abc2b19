"""`SweepResult`, and the one assembly of a sweep's result from its finished cells (`assemble`),
shared by `sweep` and `merge_shards`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._replicates import replicate_rows
from ._report import plot_rates, write_table_csv
from ._stats import fit_slope

__all__ = ["SweepResult", "assemble"]


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
        write_table_csv(path, self.table)

    def plot(self, path) -> None:
        """Draws error against m·T per T with error bars and the theory curves to `path`."""
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


def assemble(cells, finished: dict, config: dict) -> SweepResult:
    """The `SweepResult` of the cells `cells` (grid order) from `finished`: {cell: (row, timing,
    block)} (block None: a cell resumed from a record of an older trajax, without replicates);
    cells missing from it (finished in an earlier run of another process) are left out."""
    table, timings, replicates = [], [], []
    for cell in cells:
        if cell not in finished:
            continue
        row, timing, block = finished[cell]
        table.append(row)
        timings.append(timing)
        if block is not None:
            replicates.extend(replicate_rows(*cell, block))
    return SweepResult(table=table, timings=timings, config=config, replicates=replicates)
