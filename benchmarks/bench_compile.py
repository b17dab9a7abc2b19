"""Compile time against run time of sweep programs, with and without XLA's CPU fusion emitters.

trajax compiles its sweep programs on the CPU with XLA's older loop emitters
(`xla_cpu_use_fusion_emitters=False`, `trajax._execution.compiler_options`); the baseline is XLA's
default (`TRAJAX_CPU_FUSION_EMITTERS=1`), measured in the same run. Each run is `trajax sweep
CONFIG --no-cache` in a fresh process (cold compile), the two settings interleaved `repeats`
times; the JSON keeps every run and the medians, and the largest relative difference between
the two settings' cells.csv (rounding: the emitters may order floating-point operations
differently; each setting alone is deterministic).

Configs: `configs/default.toml` (what `make sweep` runs, R = 1000) and the main job of
`bench_scaling` at R = 256 (Student-t LDS, d = 3, m, T ∈ {32, 128, 512}).

python -m benchmarks.bench_compile [--quick]
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
import sys
import tempfile
import tomllib
from pathlib import Path

from ._common import run_cli, timed_sweep, write_result
from .bench_scaling import config_text

ROOT = Path(__file__).parent.parent


def run_once(config: Path, out: Path, fusion_emitters: bool) -> dict:
    env = dict(os.environ, TRAJAX_CPU_FUSION_EMITTERS="1" if fusion_emitters else "0")
    command = [sys.executable, "-m", "trajax", "sweep", str(config), "--out", str(out), "--quiet", "--no-cache", "--force"]  # fmt: skip
    run = timed_sweep(command, out, env)
    return {
        **{k: run[k] for k in ("wall_s", "compile_s", "run_s")},
        "cells_csv": (out / "cells.csv").read_text(),
    }


def max_relative_difference(a: str, b: str) -> float:
    """The largest relative difference between two cells.csv texts' numeric fields."""
    worst = 0.0
    for row_a, row_b in zip(csv.DictReader(io.StringIO(a)), csv.DictReader(io.StringIO(b)), strict=True):
        for key, x in row_a.items():
            try:
                x, y = float(x), float(row_b[key])
            except ValueError:
                continue
            if x != y and not (math.isnan(x) and math.isnan(y)):
                worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return worst


def _shapes(config: Path) -> dict:
    """The model, grid and replicates of a sweep config (for the JSON record)."""
    parsed = tomllib.loads(config.read_text())
    model, sweep = parsed["model"], parsed["sweep"]
    return {
        "model": model["name"],
        "d": len(model["A"]) if "A" in model else None,
        "noise": model.get("noise"),
        **{key: sweep[key] for key in ("m", "T", "replicates")},
    }


def main(quick: bool = False, out=None) -> dict:
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        main_job = work / "main_job.toml"
        if quick:
            main_job.write_text(config_text([8, 16], [16, 32], 8))
            configs = {"main_job_quick": main_job}
        else:
            main_job.write_text(config_text([32, 128, 512], [32, 128, 512], 256))
            configs = {"make_sweep_default": ROOT / "configs" / "default.toml", "main_job_R256": main_job}
        record = {
            "repeats": repeats,
            "dtype": "float64",
            "shapes": {name: _shapes(config) for name, config in configs.items()},
            "trajax": {"setting": "loop emitters (xla_cpu_use_fusion_emitters=False)"},
            "baseline": {"setting": "XLA's default: fusion emitters (TRAJAX_CPU_FUSION_EMITTERS=1)"},
            "same_cells_csv": {},
            "max_relative_difference": {},
        }
        settings = (("trajax", False), ("baseline", True))
        for name, config in configs.items():
            runs = {label: [] for label, _ in settings}
            for _ in range(repeats):  # interleaved, so both settings see the same machine load
                for label, fusion in settings:
                    runs[label].append(run_once(config, work / f"{name}-{label}", fusion))
            tables = {run["cells_csv"] for rs in runs.values() for run in rs}
            record["same_cells_csv"][name] = len(tables) == 1
            record["max_relative_difference"][name] = max_relative_difference(
                runs["trajax"][0]["cells_csv"], runs["baseline"][0]["cells_csv"]
            )
            for label, rs in runs.items():
                medians = {
                    key: statistics.median(r[key] for r in rs) for key in ("wall_s", "compile_s", "run_s")
                }
                record[label][name] = medians | {"runs": [{k: r[k] for k in medians} for r in rs]}
                print(
                    f"{name:20s} {label:8s} wall {medians['wall_s']:6.2f}s  compile {medians['compile_s']:5.2f}s  "
                    f"run {medians['run_s']:6.2f}s"
                )
            print(
                f"{name:20s} same cells.csv: {len(tables) == 1}, max relative difference "
                f"{record['max_relative_difference'][name]:.1e}"
            )
        for label, _ in settings:
            record[label]["run_s"] = sum(record[label][name]["run_s"] for name in configs)
    write_result("compile_options" + ("_quick" if quick else ""), record, out)
    return record


if __name__ == "__main__":
    run_cli(main)
