"""Streaming cell: m·T = 10⁹ transitions of a d = 2 Gaussian LDS fitted in one pass over
chunks of trajectories, never materialised. Runs in its own process so that the peak resident
memory (VmHWM) is the cell's alone. Baseline: the size the data would take.

float64 by default: in float32 the sufficient statistics Σ z zᵀ over 10⁹ terms lose the
precision the estimate needs (measured: squared error 1.3e-4 against a Cramér–Rao value of
2.7e-9), so the sums must be accumulated in float64."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from ._common import cold_compiles, compile_timed, write_result


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the process image since its
    exec; ru_maxrss (the fallback elsewhere) also keeps the pages the parent had when it forked,
    which in `trajax bench` (many benchmarks in one process) can be far more than this cell's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(m: int, T: int, chunk: int, bits: int) -> dict:
    import jax

    jax.config.update("jax_enable_x64", bits == 64)
    cold_compiles()
    import jax.numpy as jnp

    import trajax as tj

    dtype = jnp.float64 if bits == 64 else jnp.float32
    model = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [-0.2, 0.5]], dtype),
                            noise=tj.noise.Gaussian(jnp.asarray(1.0, dtype)))  # fmt: skip
    key = jax.random.key(0)
    program, compile_s = compile_timed(
        lambda k: tj.fit_streaming(model, k, m, T, chunk_size=chunk).theta, key
    )
    start = time.perf_counter()
    theta = jax.block_until_ready(program(key))
    run_s = time.perf_counter() - start
    error = float(jnp.sum((theta - model.theta) ** 2))
    return {"compile_s": compile_s, "run_s": run_s, "peak_rss_mb": _peak_rss_mb(),
            "squared_error": error, "theory": tj.cramer_rao(model, m, T)}  # fmt: skip


def main(quick: bool = False, out=None, bits: int = 64):
    m, T, chunk = (100_000, 101, 10_000) if quick else (1_000_000, 1001, 10_000)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_streaming", "--child", str(m), str(T), str(chunk), str(bits)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    transitions = m * (T - 1)
    record = {
        "dtype": f"float{bits}",
        "shapes": {"d": 2, "m": m, "T": T, "chunk": chunk, "transitions": transitions},
        "trajax": {**res, "transitions_per_s": transitions / res["run_s"]},
        "baseline": {"name": "materialised data (not run)", "data_gb": m * T * 2 * bits / 8 / 1e9},
        "error_over_theory": res["squared_error"] / res["theory"],
        "target": "10^9 transitions with peak memory < 2 GiB",
    }
    path = write_result("streaming" + ("_quick" if quick else ""), record, out)
    print(f"streaming: {transitions:.2g} transitions in {res['run_s']:.1f}s ({transitions / res['run_s']:.3g}/s), "
          f"peak RSS {res['peak_rss_mb']:.0f} MB (data would be {m * T * bits / 4 / 1e9:.1f} GB), "
          f"error {res['squared_error']:.2e} vs theory {res['theory']:.2e}  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=4, type=int)
    parser.add_argument("--bits", type=int, default=64, choices=(32, 64))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
    else:
        main(quick=args.quick, bits=args.bits)
