"""Burn-in: from which number of trajectories m a sweep's error sits on the Fisher curve.

A cell (m, T) is "on the curve" when its ratio CI mse/tr(I_T⁻¹)/m covers 1. The burn-in of a
row T is the smallest m of the grid from which that cell and every larger-m cell are on the
curve: a single small-m cell that covers 1 by chance does not count when a larger one fails.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = ["burn_in", "plot_burn_in", "ratio_interval"]

Z95_LEVEL = 0.95


def _table(result) -> list[dict]:
    table = getattr(result, "table", None)
    if not isinstance(table, list):
        raise ValueError(f"result: expected a SweepResult (with a .table list), got {type(result).__name__}")
    for row in table:
        missing = [c for c in ("m", "T", "ratio_lo", "ratio_hi") if c not in row]
        if missing:
            raise ValueError(
                f"result: table rows need the columns m, T, ratio_lo, ratio_hi; missing {missing}"
            )
    return table


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level!r}")
    return float(level)


def ratio_interval(row: dict, level: float = Z95_LEVEL) -> tuple[float, float]:
    """The ratio CI of one table row: the stored (ratio_lo, ratio_hi) at 0.95, otherwise
    (mse ∓ z·mse_se)/theory with z the normal quantile of `level`."""
    if level == Z95_LEVEL:
        return float(row["ratio_lo"]), float(row["ratio_hi"])
    missing = [c for c in ("mse", "mse_se", "theory") if c not in row]
    if missing:
        raise ValueError(f"result: level={level} needs the columns mse, mse_se, theory; missing {missing}")
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    mse, se, theory = (float(row[c]) for c in ("mse", "mse_se", "theory"))
    return (mse - z * se) / theory, (mse + z * se) / theory


def _covers(row: dict, level: float) -> bool:
    lo, hi = ratio_interval(row, level)
    return math.isfinite(lo) and math.isfinite(hi) and lo <= 1.0 <= hi


def burn_in(result, *, level: float = Z95_LEVEL) -> list[dict]:
    """One record {"T": T, "m": m0} per trajectory length T of the sweep (ascending T).

    m0 is the smallest m of the grid such that for every m' ≥ m0 of that row the CI of
    mse/theory at `level` covers 1 (None when the largest m already fails). Cells with a
    non-finite CI (e.g. every fit failed) count as not covering.

    Example:
        >>> import trajax as tj
        >>> rows = [{"m": m, "T": 8, "ratio_lo": lo, "ratio_hi": hi}
        ...         for m, lo, hi in [(16, 1.2, 1.7), (64, 0.8, 1.1), (256, 0.9, 1.2)]]
        >>> tj.burn_in(tj.SweepResult(table=rows))
        [{'T': 8, 'm': 64}]
    """
    table = _table(result)
    level = _check_level(level)
    out = []
    for T in sorted({int(r["T"]) for r in table}):
        m0 = None
        for row in sorted((r for r in table if int(r["T"]) == T), key=lambda r: -int(r["m"])):
            if not _covers(row, level):
                break
            m0 = int(row["m"])
        out.append({"T": T, "m": m0})
    return out


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, the ends extended by the same factor."""
    logs = np.log(values)
    if len(values) == 1:
        return np.exp(logs[0] + np.array([-0.5, 0.5]) * math.log(4.0))
    mids = (logs[1:] + logs[:-1]) / 2
    return np.exp(np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]]))


def _grid(table, key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ms = np.array(sorted({int(r["m"]) for r in table}), float)
    Ts = np.array(sorted({int(r["T"]) for r in table}), float)
    Z = np.full((len(Ts), len(ms)), np.nan)
    for r in table:
        Z[np.searchsorted(Ts, r["T"]), np.searchsorted(ms, r["m"])] = float(r[key])
    return ms, Ts, Z


def _boundary_curves(boundary, label: str, Ts: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, T, m) per predicted boundary: a callable T ↦ m, (T, m) points, or a dict of those."""
    if boundary is None:
        return []
    items = boundary.items() if isinstance(boundary, Mapping) else [(label, boundary)]
    curves = []
    for name, b in items:
        if callable(b):
            T = np.geomspace(_edges(Ts)[0], _edges(Ts)[-1], 200)
            curves.append((name, T, np.asarray(b(T), float) * np.ones_like(T)))
            continue
        pts = np.asarray(b, float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"boundary: expected a callable T -> m or (T, m) points, got shape {pts.shape}")
        curves.append((name, pts[:, 0], pts[:, 1]))
    return curves


def _cell_text(ax, x, y, value, covered, dark) -> None:
    ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=8,
            fontweight="bold" if covered else "normal", color="w" if dark else "k")  # fmt: skip


def plot_burn_in(
    result,
    path,
    *,
    boundary: Callable | Sequence[tuple[float, float]] | Mapping | None = None,
    boundary_label: str = "predicted boundary",
    level: float = Z95_LEVEL,
    title: str | None = None,
) -> None:
    """Heat map of mse/theory over (m, T) (log colour scale centred on 1, saturating at ×/÷10;
    cells whose ratio CI at `level` covers 1 are outlined and bold, the burn-in m0 of each T
    marked by a gold bar) and, when the rows have a `coverage` column, a second panel of that
    coverage. `boundary` draws the theory's predicted burn-in on both panels: a callable
    T ↦ m, a list of (T, m) points, or a dict {label: either} for several."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, TwoSlopeNorm

    table = _table(result)
    level = _check_level(level)
    ms, Ts, _ = _grid(table, "ratio")
    me, Te = _edges(ms), _edges(Ts)
    curves = _boundary_curves(boundary, boundary_label, Ts)
    panels = ["ratio"] + (["coverage"] if table and all("coverage" in r for r in table) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.8 * len(panels), 5.0), constrained_layout=True)
    starts = {rec["T"]: rec["m"] for rec in burn_in(result, level=level)}
    for ax, panel in zip(np.atleast_1d(axes), panels, strict=True):
        _, _, Z = _grid(table, panel)
        if panel == "ratio":
            finite = np.abs(np.log(Z[np.isfinite(Z) & (Z > 0)]))
            span = min(math.log(10.0), max(math.log(2.0), float(finite.max()) if finite.size else 0.0))
            norm = LogNorm(vmin=math.exp(-span), vmax=math.exp(span), clip=True)
            mesh = ax.pcolormesh(me, Te, np.where(Z > 0, Z, np.nan), cmap="RdBu_r", norm=norm)
            fig.colorbar(mesh, ax=ax, label="mse / tr(I_T⁻¹)/m")
        else:
            norm = TwoSlopeNorm(vcenter=Z95_LEVEL, vmin=min(0.5, float(np.nanmin(Z))), vmax=1.0)
            mesh = ax.pcolormesh(me, Te, Z, cmap="RdBu", norm=norm)
            fig.colorbar(mesh, ax=ax, label="coverage (nominal 0.95)")
        for r in table:
            i, j = np.searchsorted(Ts, r["T"]), np.searchsorted(ms, r["m"])
            covered, value = _covers(r, level), float(r[panel])
            dark = math.isfinite(value) and abs(norm(value) - 0.5) > 0.35
            _cell_text(ax, math.sqrt(me[j] * me[j + 1]), math.sqrt(Te[i] * Te[i + 1]), value, covered, dark)
            if covered:
                ax.add_patch(plt.Rectangle((me[j], Te[i]), me[j + 1] - me[j], Te[i + 1] - Te[i],
                                           fill=False, ec="k", lw=1.5))  # fmt: skip
        for T, m0 in starts.items():
            if m0 is not None:
                i, j = np.searchsorted(Ts, T), np.searchsorted(ms, m0)
                ax.plot([me[j], me[j]], [Te[i], Te[i + 1]], color="gold", lw=4, solid_capstyle="butt")
        for (name, bT, bm), style in zip(curves, ["--", ":", "-.", "-"] * len(curves), strict=False):
            ax.plot(bm, bT, style, color="k", lw=2, label=name)
        if curves:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(curves))
        ax.set(xscale="log", yscale="log", xlim=(me[0], me[-1]), ylim=(Te[0], Te[-1]),
               xlabel="m (trajectories)", ylabel="T (states per trajectory)")  # fmt: skip
        ax.set_xticks(ms, [str(int(v)) for v in ms])
        ax.set_yticks(Ts, [str(int(v)) for v in Ts])
        ax.minorticks_off()
        ax.set_title("error ratio to the Fisher curve" if panel == "ratio" else "coverage", fontsize=10)
    name = getattr(result, "config", {}).get("model", {}).get("name", "")
    legend = f"outlined: ratio CI ({level:.0%}) covers 1; gold bar: burn-in m0 of each T"
    fig.suptitle(f"{title or ('Burn-in map ' + name).strip()}\n{legend}", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
