"""GPU check (`benchmarks/gpu.sh`): three measurements in one run, one JSON file.

(a) simulation throughput: Gaussian LDS, d = 4, m = 2^18 trajectories, T = 1024, float32,
    steps/s = m·(T − 1)/run time (best of 3, compilation timed apart);
(b) the main job: the Student-t LDS sweep (d = 3, ν = 5, m, T ∈ {32, 128, 512}) at R = 4096
    replicates through `tj.sweep`: fits/s = R·cells/run time, compile time, run time, failed fits;
(c) the 1-vs-n-device bit-identity check: a small sweep on one device and on every local
    device, cells.csv text compared (on a single-GPU machine n = 1 and the JSON says so).

`--quick` runs tiny sizes (CPU smoke test, tests/test_gpu_script.py). The JSON records the
backend, device kind and count, dtypes and shapes; on a CPU it says that no GPU figure was
measured. Sized for one H100/H200 in under 8 minutes (not yet run on one: none was lent).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)  # the main job runs in float64, as bench_main_job

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import trajax as tj  # noqa: E402
from trajax._records import csv_text  # noqa: E402
from trajax._sweep import CSV_COLUMNS  # noqa: E402

from ._common import cold_compiles, write_result  # noqa: E402
from .bench_simulate import time_simulation  # noqa: E402

NU = 5.0
A3 = np.array([[0.6, 0.1, 0.0], [0.0, 0.5, 0.2], [0.1, 0.0, 0.4]])
FULL = {
    "sim": (4, 1 << 18, 1024),
    "grid": [32, 128, 512],
    "replicates": 4096,
    "check": ([16, 64], [32, 64], 64),
}
QUICK = {"sim": (4, 1024, 64), "grid": [8, 16], "replicates": 8, "check": ([4, 8], [8], 6)}


def simulation(d, m, T) -> dict:
    _, _, compile_s, run_s, z = time_simulation(d, m, T)
    steps = m * (T - 1)
    return {
        "dtype": "float32",
        "shapes": {"d": d, "m": m, "T": T},
        "compile_s": compile_s,
        "run_s": run_s,
        "steps_per_s": steps / run_s,
        "bytes": z.size * z.dtype.itemsize,
    }


def main_job(grid, R) -> dict:
    model = tj.LinearSystem(A=jnp.asarray(A3), noise=tj.noise.StudentT(df=NU))
    start = time.perf_counter()
    result = tj.sweep(model, m=grid, T=grid, replicates=R, key=jax.random.key(0), progress=False)
    total_s = time.perf_counter() - start
    compile_s = sum(t["compile_s"] for t in result.timings)
    run_s = sum(t["run_s"] for t in result.timings)
    fits = R * len(result.table)
    return {
        "dtype": "float64",
        "shapes": {"d": 3, "m": grid, "T": grid, "replicates": R, "noise": f"student_t(df={NU})"},
        "total_s": total_s,
        "compile_s": compile_s,
        "run_s": run_s,
        "fits": fits,
        "fits_per_s": fits / run_s,
        "num_compilations": sum(int(t["compilations"]) for t in result.timings),
        "failed_fits": sum(r["failed"] for r in result.table),
        "ratio_to_theory": {f"m={r['m']},T={r['T']}": r["ratio"] for r in result.table},
    }


def device_identity(m, T, R) -> dict:
    model = tj.LinearSystem(A=jnp.asarray(A3), noise=tj.noise.StudentT(df=NU))
    devices = jax.local_devices()
    tables = {}
    for n in sorted({1, len(devices)}):
        result = tj.sweep(
            model, m=m, T=T, replicates=R, key=jax.random.key(1), devices=devices[:n], progress=False
        )
        tables[n] = csv_text(result.table, CSV_COLUMNS)
    identical = len(set(tables.values())) == 1
    return {
        "dtype": "float64",
        "shapes": {"d": 3, "m": m, "T": T, "replicates": R},
        "device_counts": sorted(tables),
        "bit_identical": identical,
        **({} if len(devices) > 1 else {"note": "one local device: 1 against 1, nothing to compare"}),
    }


def main(quick: bool = False, out=None) -> dict:
    sizes = QUICK if quick else FULL
    backend = jax.default_backend()
    start = time.perf_counter()
    record = {"dtype": "float32 simulation, float64 fits", "num_local_devices": len(jax.local_devices())}
    record["simulation"] = simulation(*sizes["sim"])
    print(f"gpu: simulation {record['simulation']['steps_per_s']:.3g} steps/s", flush=True)
    record["main_job"] = main_job(sizes["grid"], sizes["replicates"])
    print(f"gpu: main job {record['main_job']['fits_per_s']:.3g} fits/s", flush=True)
    record["device_identity"] = device_identity(*sizes["check"])
    record["shapes"] = {k: record[k]["shapes"] for k in ("simulation", "main_job", "device_identity")}
    record["wall_s"] = time.perf_counter() - start
    record["targets"] = (
        "on one H200: simulation >= 3e10 steps/s; main job >= 100x the CPU NumPy/SciPy pipeline; "
        "whole script under 8 minutes"
    )
    if backend != "gpu":
        record["note"] = (
            f"run on {backend}, not a GPU: no GPU figure is measured here (none was lent to this project "
            "when the script was written); run benchmarks/gpu.sh on an H100/H200 for them"
        )
    path = write_result("gpu" + ("_quick" if quick else ""), record, out)
    ok = record["device_identity"]["bit_identical"]
    print(f"gpu: 1-vs-n devices bit-identical: {ok}; {record['wall_s']:.0f}s in all  [{path}]", flush=True)
    return record


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU smoke run)")
    parser.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    parser.add_argument("--cpu-devices", type=int, default=None, help="CPU devices (default: one per core)")
    args = parser.parse_args()
    from trajax._cli import _use_cpu_cores

    _use_cpu_cores(args.cpu_devices)  # on a CPU, several devices so that (c) compares 1 against n
    cold_compiles()
    main(quick=args.quick, out=args.out)
