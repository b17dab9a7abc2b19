"""Sweep outputs: atomic cell-by-cell CSVs, summary.json, progress lines and the rates plot."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

__all__ = ["SweepWriter", "describe_model", "print_progress", "write_table_csv", "plot_rates"]

TIMING_COLUMNS = ("m", "T", "compile_s", "run_s", "stream_chunk", "compilations")


def _atomic_write(path: Path, text: str) -> None:
    """Writes `text` to `path` via a temporary file and `os.replace`: never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_text(rows, columns) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return buf.getvalue()


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        parsed = {}
        for k, v in row.items():
            try:
                parsed[k] = int(v)
            except ValueError:
                parsed[k] = float(v)
        out.append(parsed)
    return out


def write_table_csv(path, table) -> None:
    from ._sweep import CSV_COLUMNS

    _atomic_write(Path(path), _csv_text(table, CSV_COLUMNS))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def describe_model(model) -> dict:
    """A JSON description of a model that identifies it: kind, θ, every array leaf, statics."""
    leaves, treedef = jax.tree.flatten(model)
    return {
        "name": type(model).__name__,
        "theta": np.asarray(model.theta).tolist(),
        "leaves": [np.asarray(x).tolist() for x in leaves],
        "structure": re.sub(r" at 0x[0-9a-f]+", "", str(treedef)),
    }


def versions() -> dict:
    import equinox
    import jaxlib
    import optax

    from . import __version__

    return {
        "trajax": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "equinox": equinox.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


class SweepWriter:
    """Keeps `out/` in step with a sweep: `config.json` (the resolved config), `cells.csv` and
    `timings.csv` rewritten atomically after every cell, `summary.json` and `rates.png` at the
    end. cells.csv holds only deterministic columns, so a resumed sweep reproduces it exactly."""

    def __init__(self, out, config: dict, *, resume: bool, force: bool):
        self.dir = Path(out)
        self.config = _jsonable(config)
        self.rows: dict[tuple[int, int], tuple[dict, dict]] = {}
        self.dir.mkdir(parents=True, exist_ok=True)
        config_path = self.dir / "config.json"
        cells_path = self.dir / "cells.csv"
        if config_path.exists() and not force:
            old = json.loads(config_path.read_text())
            if old != self.config:
                raise ValueError(
                    f"out: {self.dir} holds results of a different sweep config; "
                    "pass --force (force=True) to overwrite or choose another --out"
                )
        if cells_path.exists() and not force:
            if not resume:
                raise ValueError(
                    f"out: {self.dir} already holds finished cells; pass --resume to continue "
                    "or --force to start over"
                )
            timings = {}
            if (self.dir / "timings.csv").exists():
                timings = {(t["m"], t["T"]): t for t in _read_csv(self.dir / "timings.csv")}
                for t in timings.values():
                    t.setdefault("stream_chunk", 0)
                    t.setdefault("compilations", 1)
            for row in _read_csv(cells_path):
                cell = (row["m"], row["T"])
                self.rows[cell] = (row, timings.get(cell, {"m": row["m"], "T": row["T"]}))
        elif force:
            for name in ("cells.csv", "timings.csv", "summary.json", "rates.png"):
                (self.dir / name).unlink(missing_ok=True)
        _atomic_write(config_path, json.dumps(self.config, indent=2, sort_keys=True) + "\n")

    def finished(self) -> dict:
        return dict(self.rows)

    def add(self, row: dict, timing: dict) -> None:
        self.rows[(row["m"], row["T"])] = (row, timing)
        from ._sweep import CSV_COLUMNS

        ordered = sorted(self.rows.values(), key=lambda rt: (rt[0]["T"], rt[0]["m"]))
        _atomic_write(self.dir / "cells.csv", _csv_text([r for r, _ in ordered], CSV_COLUMNS))
        timing_rows = [t for _, t in ordered if "run_s" in t]
        _atomic_write(self.dir / "timings.csv", _csv_text(timing_rows, TIMING_COLUMNS))

    def finish(self, result) -> None:
        from ._sweep import device_summary

        timings = [t for t in result.timings if "run_s" in t]
        summary = {
            "config": self.config,
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
        text = json.dumps(_jsonable(summary), indent=2, sort_keys=True) + "\n"
        _atomic_write(self.dir / "summary.json", text)
        try:
            plot_rates(result, self.dir / "rates.png")
        except ImportError:
            print("trajax: matplotlib is not installed; skipping rates.png "
                  "(pip install -e '.[plot]')", file=sys.stderr)  # fmt: skip


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total)
    return "█" * filled + "░" * (width - filled)


def print_progress(done, total, row, timing, eta) -> None:
    """One line per finished cell on stderr: bar, cell, error against theory, timings, ETA."""
    timing_text = (
        f"compile {timing['compile_s']:.1f}s, run {timing['run_s']:.1f}s" if "run_s" in timing else "resumed"
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


def plot_rates(result, path) -> None:
    """Left: mse against m·T per T (error bars: ±1.96 SE) with the theory curves tr(I_T⁻¹)/m.
    Right: mse/theory with its 95% CI against m·T; 1 is the Cramér–Rao prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    T_values = sorted({r["T"] for r in table})
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(T_values)))
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
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
    ax.plot([], [], "k--", label="theory tr(I_T⁻¹)/m")
    ax.set(xscale="log", yscale="log", xlabel="m·T (trajectories × length)",
           ylabel="E‖θ̂ − θ*‖²", title="Estimation error against the Fisher curve")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax_ratio.axhline(1.0, color="k", lw=1)
    ax_ratio.set(xscale="log", xlabel="m·T", ylabel="empirical / theory (95% CI)",
                 title="Ratio to the Cramér–Rao value")  # fmt: skip
    ax_ratio.grid(True, which="both", alpha=0.3)
    ax_ratio.legend(fontsize=8)
    name = result.config.get("model", {}).get("name", "model")
    R = table[0]["replicates"] if table else 0
    fig.suptitle(f"{name}: {R} replicates per cell, design = {result.config.get('design', '?')}")
    fig.savefig(path, dpi=120)
    plt.close(fig)
