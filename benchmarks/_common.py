"""Shared benchmark helpers: honest timing and JSON results with device, dtype and shapes."""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"


def best_of(fn, repeats: int = 3):
    """Best wall time of `repeats` calls of `fn()` (each blocked until ready); returns
    (seconds, last result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best, out


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": device.device_kind,
        "num_devices": jax.device_count(),
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "commit": git_commit(),
    }


def write_result(name: str, record: dict, out_dir=None) -> Path:
    """Writes `record` plus the environment to `<out_dir>/<name>.json`."""
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, **environment(), **record}, indent=2) + "\n")
    return path


def timed_sweep(command: list[str], out: Path, env=None) -> dict:
    """Runs `command` (a `trajax sweep` writing to `out`) in a fresh process from the checkout's
    root; returns its wall seconds, its peak resident memory (`os.wait4`'s rusage of that process
    alone) and timings.csv's compile and run seconds summed over cells (and the rows themselves).
    A failed run raises with the end of its stderr."""
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=Path(__file__).parent.parent, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(command[1:])} failed:\n{stderr.read()[-2000:]}")
    with open(Path(out) / "timings.csv") as f:
        timings = list(csv.DictReader(f))
    return {
        "wall_s": wall,
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # KiB on Linux
        "compile_s": sum(float(t["compile_s"]) for t in timings),
        "run_s": sum(float(t["run_s"]) for t in timings),
        "timings": timings,
    }


def compile_timed(fn, *args):
    """(AOT executable of `jax.jit(fn)` for `args`, seconds spent lowering and compiling it)."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def cold_compiles() -> None:
    """Benchmarks time compilation from scratch: JAX's persistent compilation cache (which
    JAX_COMPILATION_CACHE_DIR would enable) is switched off for this process."""
    jax.config.update("jax_enable_compilation_cache", False)


def run_cli(main) -> None:
    """`python -m benchmarks.bench_x [--quick]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    from trajax._cli import _use_cpu_cores

    _use_cpu_cores(None)  # one CPU device per core, as `trajax sweep` and `trajax bench` use
    cold_compiles()
    main(**vars(parser.parse_args()))
