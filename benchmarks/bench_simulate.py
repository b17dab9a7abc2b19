"""Simulation throughput: LDS d = 4, m = 4096, T = 1024, float32, against vectorised NumPy
(a loop over time, vectorised over trajectories, Generator.standard_normal in float32).

Also records where each side's time goes, measured in the same run: for trajax the noise draw
alone (every trajectory's `noise.sample`) and the recursion alone (the model's scan over
trajectories, given that noise); for NumPy the normals alone (one draw of all of them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import trajax as tj
from trajax._models import _linear
from trajax._simulate import cast

from ._common import best_of, compile_timed, run_cli, write_result


def time_simulation(d: int, m: int, T: int):
    """(model, key, compile_s, best run_s, data) of `tj.simulate` for a float32 Gaussian LDS with
    A = 0.5 I + 0.1·11ᵀ (d×d), m trajectories of T states (also bench_gpu's simulation)."""
    A = (0.5 * np.eye(d) + 0.1 * np.ones((d, d))).astype(np.float32)
    model = tj.LinearSystem(A=jnp.asarray(A), noise=tj.noise.Gaussian(jnp.float32(1.0)))
    key = jax.random.key(0)
    compiled, compile_s = compile_timed(lambda k: tj.simulate(model, k, m, T, dtype=jnp.float32), key)
    run_s, z = best_of(lambda: compiled(key))
    assert z.shape == (m, T, d) and z.dtype == jnp.float32
    return model, key, compile_s, run_s, z


def main(quick: bool = False, out=None):
    d, m, T = (4, 512, 256) if quick else (4, 4096, 1024)
    model, key, compile_s, run_s, z = time_simulation(d, m, T)
    A = np.asarray(model.A)  # the NumPy baseline simulates the same system

    # the two stages of LinearSystem.sample_trajectory, each timed on its own
    cast_model = cast(model, jnp.float32)
    noise_keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(key, i), 1))(
        jnp.arange(m, dtype=jnp.uint32)
    )
    draw = jax.jit(jax.vmap(lambda k: cast_model.noise.sample(k, (T - 1, d), jnp.float32)))
    noise_s, noise = best_of(lambda: draw(noise_keys))
    recursion = jax.jit(
        jax.vmap(lambda w: _linear.recurse(cast_model.x0, w, lambda z: _linear.matvec(cast_model.A, z)))
    )
    recursion_s, z_again = best_of(lambda: recursion(noise))
    assert bool(jnp.all(z_again == z)), "the staged simulation must equal tj.simulate bit for bit"

    rng = np.random.default_rng(0)

    def numpy_simulate():
        z = np.zeros((T, m, d), np.float32)
        for t in range(1, T):
            z[t] = z[t - 1] @ A.T + rng.standard_normal((m, d), dtype=np.float32)
        return z

    numpy_s, _ = best_of(numpy_simulate)
    numpy_normals_s, _ = best_of(lambda: rng.standard_normal((T - 1, m, d), dtype=np.float32))
    steps = m * (T - 1)
    record = {
        "dtype": "float32",
        "shapes": {"d": d, "m": m, "T": T},
        "trajax": {
            "compile_s": compile_s,
            "run_s": run_s,
            "steps_per_s": steps / run_s,
            "breakdown_s": {"noise_draw": noise_s, "recursion_given_noise": recursion_s},
        },
        "baseline": {
            "name": "NumPy loop over time, vectorised over trajectories",
            "run_s": numpy_s,
            "steps_per_s": steps / numpy_s,
            "breakdown_s": {"normals_alone": numpy_normals_s},
        },  # fmt: skip
        "speedup_run_only": numpy_s / run_s,
        "target": "speedup_run_only >= 1.5 on the 2-core CPU; >= 1e10 steps/s on an H100",
    }
    path = write_result("simulate" + ("_quick" if quick else ""), record, out)
    print(f"simulate: trajax {run_s * 1e3:.0f} ms ({steps / run_s:.3g} steps/s, compile {compile_s:.1f}s; "
          f"noise {noise_s * 1e3:.0f} ms + recursion {recursion_s * 1e3:.0f} ms) vs NumPy {numpy_s * 1e3:.0f} ms "
          f"(normals {numpy_normals_s * 1e3:.0f} ms) -> {numpy_s / run_s:.2f}x  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    run_cli(main)
