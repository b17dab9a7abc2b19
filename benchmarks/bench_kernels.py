"""Kernel micro-benchmarks behind design choices quoted in docstrings, each beside the
alternative it replaced, measured in the same run (compile excluded, best of 3):

- random bits: trajax._random.uniform (straight-line threefry) vs jax.random.uniform (same bits);
- cos(2πu): the Student-t sampler's polynomial vs jnp.cos;
- Student-t draws: Bailey's polar method (two uniforms) vs Z/√(χ²_ν/ν) from ν + 1 variates;
- float64 expm1 inside the Student-t sampler: the polynomial `_expm1` vs `jnp.expm1`;
- LDS Newton terms, d = 3: on sweep windows (16 replicates × windows of 32 × 32 transitions)
  the coordinates-first layout vs the einsum layout, and on a whole data set (2048 × 512 states)
  the einsum layout vs coordinates-first (`LinearSystem.objective_terms` picks by size).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import trajax as tj  # noqa: E402
from trajax import _random  # noqa: E402
from trajax._models import _linear  # noqa: E402
from trajax._noise import _cos_2pi, _expm1  # noqa: E402
from trajax._sources import Windows  # noqa: E402

from ._common import best_of, run_cli, write_result  # noqa: E402

NU = 5


def _chi2_student_t(key, shape, dtype):
    """The replaced sampler: t = Z / √(χ²_ν / ν), χ²_5 = Z'² − 2 log(U₁U₂)."""
    k_normal, k_uniform = jax.random.split(key)
    normals = _random.normal(k_normal, (*shape, 2), dtype)
    u = _random.uniform(k_uniform, (*shape, 2), dtype, minval=jnp.finfo(dtype).tiny)
    chi2 = normals[..., 1] ** 2 - 2.0 * jnp.sum(jnp.log(u), axis=-1)
    return normals[..., 0] * jnp.sqrt(NU / chi2)


def _student_t_with(expm1, key, shape, dtype):
    """StudentT(NU).sample with the given expm1 (the sampler before `_expm1`: jnp.expm1)."""
    u = _random.uniform(key, (*shape, 2), dtype)
    return _cos_2pi(u[..., 1]) * jnp.sqrt(NU * expm1(-2.0 / NU * jnp.log(1.0 - u[..., 0])))


def _time(fn, *args) -> float:
    compiled = jax.jit(fn).lower(*args).compile()
    seconds, _ = best_of(lambda: compiled(*args))
    return seconds


def main(quick: bool = False, out=None):
    n = 1 << 20 if quick else 1 << 24
    key = jax.random.key(0)
    student = tj.noise.StudentT(df=float(NU))
    lds = tj.LinearSystem(A=jnp.asarray([[0.6, 0.1, 0.0], [0.0, 0.5, 0.2], [0.1, 0.0, 0.4]]), noise=student)
    reps, M, T = (4, 256, 256) if quick else (16, 512, 512)
    windows = jax.random.normal(key, (reps, M, T, 3))
    r = (T - 1) % 32

    def window_terms():  # a new function per call: jit must trace it again, not reuse a cache
        terms = lambda w: lds.objective_terms(lds.theta, w)
        return lambda data: jax.vmap(
            lambda d: Windows(d, jnp.int32(M), jnp.int32(T), 32, 32, r).total(terms)
        )(data)

    u = _random.uniform(key, (n,))
    keys = jax.random.split(key, n // (511 * 3))
    per_trajectory = jax.vmap
    pairs = {
        "uniform_f32": (lambda k: _random.uniform(k, (n,), jnp.float32),
                        lambda k: jax.random.uniform(k, (n,), jnp.float32), key),
        "cos_2pi_f64": (_cos_2pi, lambda x: jnp.cos(2 * jnp.pi * x), u),
        "student_t_f64": (lambda k: student.sample(k, (n,), jnp.float64),
                          lambda k: _chi2_student_t(k, (n,), jnp.float64), key),
        # as in a simulation: one key per trajectory, noise of shape (T − 1, d) = (511, 3)
        "student_t_expm1_f64": (per_trajectory(lambda k: _student_t_with(_expm1, k, (511, 3), jnp.float64)),
                                per_trajectory(lambda k: _student_t_with(jnp.expm1, k, (511, 3), jnp.float64)), keys),
    }  # fmt: skip
    ours, theirs = {}, {}
    for name, (fast, slow, arg) in pairs.items():
        ours[name], theirs[name] = _time(fast, arg), _time(slow, arg)
    whole = windows[:4].reshape(-1, T, 3)  # one data set of 4M × (T − 1) transitions
    whole_terms = lambda: lambda data: lds.objective_terms(lds.theta, data)  # fresh per call
    ours["lds_window_terms"] = _time(window_terms(), windows)
    ours["lds_whole_terms"] = _time(whole_terms(), whole)
    small = _linear._SMALL_WINDOW
    try:
        _linear._SMALL_WINDOW = 0  # windows in the whole-data (einsum) layout
        theirs["lds_window_terms"] = _time(window_terms(), windows)
        _linear._SMALL_WINDOW = 1 << 62  # whole data in the coordinates-first layout
        theirs["lds_whole_terms"] = _time(whole_terms(), whole)
    finally:
        _linear._SMALL_WINDOW = small

    speedups = {name: theirs[name] / ours[name] for name in ours}
    record = {
        "dtype": "float32 (uniform) / float64 (others)",
        "shapes": {
            "draws": n,
            "trajectory_noise": [n // (511 * 3), 511, 3],
            "windows": [reps, M, T, 3],
            "window": [32, 32],
            "whole": [4 * M, T, 3],
        },
        "trajax": {"run_s": sum(ours.values()), "kernels_s": ours},
        "baseline": {
            "name": "jax.random.uniform; jnp.cos; Z/sqrt(chi2/nu); jnp.expm1; einsum layout on windows",
            "run_s": sum(theirs.values()),
            "kernels_s": theirs,
        },
        "speedups": speedups,
        "target": "none: explains design choices quoted in docstrings",
    }
    path = write_result("kernels" + ("_quick" if quick else ""), record, out)
    print("kernels: " + ", ".join(f"{k} {v:.1f}x" for k, v in speedups.items()) + f"  [{path}]")
    return record


if __name__ == "__main__":
    run_cli(main)
