"""Simulation throughput: LDS d = 4, m = 4096, T = 1024, float32, against vectorised NumPy
(a loop over time, vectorised over trajectories, Generator.standard_normal in float32)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import trajax as tj

from ._common import best_of, run_cli, write_result


def main(quick: bool = False, out=None):
    d, m, T = (4, 512, 256) if quick else (4, 4096, 1024)
    A = (0.5 * np.eye(d) + 0.1 * np.ones((d, d))).astype(np.float32)
    model = tj.LinearSystem(A=jnp.asarray(A), noise=tj.noise.Gaussian(jnp.float32(1.0)))
    key = jax.random.key(0)

    program = jax.jit(lambda k: tj.simulate(model, k, m, T, dtype=jnp.float32))
    start = time.perf_counter()
    compiled = program.lower(key).compile()
    compile_s = time.perf_counter() - start
    run_s, z = best_of(lambda: compiled(key))
    assert z.shape == (m, T, d) and z.dtype == jnp.float32

    rng = np.random.default_rng(0)

    def numpy_simulate():
        z = np.zeros((T, m, d), np.float32)
        for t in range(1, T):
            z[t] = z[t - 1] @ A.T + rng.standard_normal((m, d), dtype=np.float32)
        return z

    numpy_s, _ = best_of(numpy_simulate)
    steps = m * (T - 1)
    record = {
        "dtype": "float32",
        "shapes": {"d": d, "m": m, "T": T},
        "trajax": {"compile_s": compile_s, "run_s": run_s, "steps_per_s": steps / run_s},
        "baseline": {
            "name": "NumPy loop over time, vectorised over trajectories",
            "run_s": numpy_s,
            "steps_per_s": steps / numpy_s,
        },  # fmt: skip
        "speedup_run_only": numpy_s / run_s,
        "target": "speedup_run_only >= 1.5 on the 2-core CPU; >= 1e10 steps/s on an H100",
    }
    path = write_result("simulate" + ("_quick" if quick else ""), record, out)
    print(f"simulate: trajax {run_s * 1e3:.0f} ms ({steps / run_s:.3g} steps/s, compile {compile_s:.1f}s) "
          f"vs NumPy {numpy_s * 1e3:.0f} ms -> {numpy_s / run_s:.2f}x  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    run_cli(main)
