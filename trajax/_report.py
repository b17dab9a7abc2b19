"""Sweep outputs: the model description, summary.json, CSV tables and the rates plot
(the output directory itself is kept by `_records.SweepWriter`; files are written through
`_jsonio`)."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import jax
import numpy as np

from ._fingerprint import model_code
from ._jsonio import atomic_write, csv_text, jsonable
from ._stats import CSV_COLUMNS

__all__ = ["describe_model", "write_table_csv", "plot_rates"]


def write_table_csv(path, table) -> None:
    """Writes `table` as CSV atomically: the known columns first, then any others."""
    atomic_write(Path(path), csv_text(table, CSV_COLUMNS))


def describe_model(model) -> dict:
    """A JSON description of a model that identifies it: kind, dtype, code (`model_code`), θ,
    every array leaf, statics."""
    leaves, treedef = jax.tree.flatten(model)
    return {
        "name": type(model).__name__,
        "dtype": str(model.theta.dtype),
        "code": model_code(model),
        "theta": np.asarray(model.theta).tolist(),
        "leaves": [np.asarray(x).tolist() for x in leaves],
        "structure": re.sub(r" at 0x[0-9a-f]+", "", str(treedef)),
    }


def versions() -> dict:
    from importlib.metadata import version

    import equinox
    import jaxlib

    from . import __version__

    return {
        "trajax": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "equinox": equinox.__version__,
        "optax": version("optax"),  # from its metadata: a Newton sweep never imports optax
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def summary_text(result, config: dict, fingerprint: str) -> str:
    """summary.json: the config, every cell, the slopes, timings summed over the cells (of every
    run that computed them), the devices of this run and the package versions."""
    timings = [{k: v for k, v in t.items() if k != "resumed"} for t in result.timings if "run_s" in t]
    summary = {
        "config": config,
        "fingerprint": fingerprint,
        "cells": result.table,
        "slopes": result.slopes(),
        "timings": {
            "compile_s": sum(t["compile_s"] for t in timings),
            "run_s": sum(t["run_s"] for t in timings),
            "num_compilations": sum(int(t.get("compilations", 1)) for t in timings),
            "cells": timings,
        },
        "device": device_summary(),
        "versions": versions(),
    }
    return json.dumps(jsonable(summary), indent=2, sort_keys=True) + "\n"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten_label(value: float, minor_too: bool) -> str:
    """A log axis's tick label in plain text: 10³ at a decade, 2×10³ between decades (those only
    with `minor_too`), "" otherwise."""
    if not (value > 0 and math.isfinite(value)):
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0**exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if abs(mantissa - 1) < 1e-6:
        return power
    return f"{mantissa:.0f}×{power}" if minor_too and abs(mantissa - round(mantissa)) < 1e-6 else ""


def _log_axis_labels(axis) -> None:
    """Plain-text labels on a log axis (`_power_of_ten_label`): matplotlib's default formatter
    writes them as mathtext, whose parser took a large share of the rates plot's build time (under
    cProfile; the plot of the main job at R = 64). Between decades only where the axis spans less
    than two decades."""
    from matplotlib.ticker import FuncFormatter

    def minor(value, _pos):
        low, high = sorted(axis.get_view_interval())
        return _power_of_ten_label(value, low > 0 and high / low < 100)

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: _power_of_ten_label(value, False)))
    axis.set_minor_formatter(FuncFormatter(minor))


def preload_plotting() -> None:
    """Imports the matplotlib modules of `plot_rates`, so that the plot at the end of a sweep
    does not wait for them (a noticeable part of the command line's fixed cost): a sweep runs it in a daemon
    thread (`_execution.start_daemon`) when its run starts, while the main thread waits on XLA
    outside the GIL. Without matplotlib it does nothing; `plot_rates` reports that."""
    try:
        from matplotlib import colormaps, figure, ticker  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except ImportError:
        pass


def plot_rates(result, path) -> None:
    """Left: mse against m·T per T (error bars: ±1.96 SE) with the theory curves tr(I_T⁻¹)/m.
    Middle: mse/theory with its 95% CI against m·T; 1 is the Cramér–Rao prediction.
    Right: coverage (joint χ²_p test at I_T, solid) and Wald coverage (coordinate intervals from
    each fit's observed information, dotted) against m·T, with 0.95 marked."""
    # a bare Figure (Agg canvas) without pyplot: no backend machinery or global figure state
    # to import and tear down, about a third of the plot's cost in the CLI
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    table = result.table
    T_values = sorted({r["T"] for r in table})
    colors = colormaps["viridis"](np.linspace(0.1, 0.85, len(T_values)))
    fig = Figure(figsize=(16, 4.4))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.86, wspace=0.22)
    ax, ax_ratio, ax_cover = fig.subplots(1, 3)
    for color, T in zip(colors, T_values, strict=True):
        rows = sorted((r for r in table if r["T"] == T), key=lambda r: r["m"])
        mT = np.array([r["m"] * T for r in rows], float)
        mse = np.array([r["mse"] for r in rows])
        se = np.array([r["mse_se"] for r in rows])
        ax.plot(mT, [r["theory"] for r in rows], "--", color=color, lw=1.5)
        ax.errorbar(mT, mse, yerr=1.96 * se, fmt="o", color=color, capsize=3, label=f"T = {T}")
        ratio = np.array([r["ratio"] for r in rows])
        lo = np.array([r["ratio_lo"] for r in rows])
        hi = np.array([r["ratio_hi"] for r in rows])
        ax_ratio.errorbar(mT, ratio, yerr=[ratio - lo, hi - ratio], fmt="o-", color=color,
                          capsize=3, label=f"T = {T}")  # fmt: skip
        cover = np.array([r.get("coverage", np.nan) for r in rows], float)
        cover_se = np.array([r.get("coverage_se", np.nan) for r in rows], float)
        ax_cover.errorbar(mT, cover, yerr=1.96 * cover_se, fmt="o-", color=color, capsize=3, label=f"T = {T}")
        ax_cover.plot(mT, [r.get("wald_coverage", np.nan) for r in rows], ":", marker="s", color=color)
    ax.plot([], [], "k--", label="theory tr(I_T⁻¹)/m")
    finite = [r for r in table if np.isfinite(r["mse"]) and r["mse"] > 0]
    ax.set(xscale="log", yscale="log" if finite else "linear", xlabel="m·T (trajectories × length)",
           ylabel="E‖θ̂ − θ*‖²", title="Estimation error against the Fisher curve")  # fmt: skip
    if not finite:  # e.g. every fit failed: say so on the figure instead of failing to draw it
        ax.text(0.5, 0.5, "no finite results\n(see failed_<reason> in cells.csv)", ha="center",
                transform=ax.transAxes)  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax_ratio.axhline(1.0, color="k", lw=1)
    ax_ratio.set(xscale="log", xlabel="m·T", ylabel="empirical / theory (95% CI)",
                 ylim=None if any(np.isfinite(r["ratio"]) for r in table) else (0, 2),
                 title="Ratio to the Cramér–Rao value")  # fmt: skip
    ax_ratio.grid(True, which="both", alpha=0.3)
    ax_ratio.legend(fontsize=8)
    ax_cover.axhline(0.95, color="k", lw=1)
    ax_cover.plot([], [], "k:", marker="s", label="Wald (observed information)")
    ax_cover.set(xscale="log", xlabel="m·T", ylabel="coverage of 95% regions",
                 title="Coverage: χ²_p at I_T (solid), Wald (dotted)")  # fmt: skip
    ax_cover.grid(True, which="both", alpha=0.3)
    ax_cover.legend(fontsize=8)
    mT_all = [r["m"] * r["T"] for r in table]
    if mT_all:  # explicit limits: a log axis whose points are all NaN cannot autoscale
        for axis in (ax, ax_ratio, ax_cover):
            axis.set_xlim(min(mT_all) / 1.5, max(mT_all) * 1.5)
            _log_axis_labels(axis.xaxis)
            axis.xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a short decade
    if finite:
        _log_axis_labels(ax.yaxis)
    name = result.config.get("model", {}).get("name", "model")
    R = table[0]["replicates"] if table else 0
    fig.suptitle(f"{name}: {R} replicates per cell, design = {result.config.get('design', '?')}")
    fig.savefig(path, dpi=120)


def device_summary() -> dict:
    """Backend, device kinds and count, and JAX's persistent compilation cache (its directory,
    or None when off), for results files."""
    devices = jax.local_devices()
    cache = jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else None
    return {
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "num_local_devices": len(devices),
        "num_processes": jax.process_count(),
        "compilation_cache": cache or None,
    }
