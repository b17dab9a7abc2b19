"""The Cramér–Rao value of a ragged design, tr((Σ_i I_{T_i})⁻¹), with a Monte-Carlo Fisher: a
user's Poisson autoregression (one class, `transition_log_prob`), m = 100 trajectories of N
distinct lengths up to T = 100, 2000 samples. `tj.cramer_rao(..., lengths=...)` (one program:
one simulation per sample at max(lengths), prefix scores for every length) against the
per-length computation it replaced (one `fisher_information` program per distinct length), and
against one Monte-Carlo Fisher at max(lengths), measured again beside each row (so that the
ratio is taken under the same machine load). Each is timed cold (compile included, after
`jax.clear_caches()`; the best of 2 for the two single programs) and warm (best of 3);
compile = cold − warm.

python -m benchmarks.bench_ragged_fisher [--quick]
"""

from __future__ import annotations

import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import trajax as tj  # noqa: E402

from ._common import best_of, run_cli, write_result  # noqa: E402


class PoissonAR(tj.AbstractModel):
    """z_{t+1} ~ Poisson(exp(a + b log(1 + z_t))), z_1 = 1."""

    a: jax.Array
    b: jax.Array
    parameters = ("a", "b")

    def initial_state(self, key):
        return jnp.ones((), jnp.int32)

    def transition(self, key, z, t):
        return jax.random.poisson(key, self._rate(z), dtype=jnp.int32)

    def transition_log_prob(self, z, z_next, t):
        return jax.scipy.stats.poisson.logpmf(z_next.astype(self.a.dtype), self._rate(z))

    def _rate(self, z):
        return jnp.exp(self.a + self.b * jnp.log1p(z.astype(self.a.dtype)))


def _timed(fn, cold_repeats: int = 1) -> dict:
    """The best cold call (compile + run, after clearing JAX's caches), then the best warm run."""
    cold = float("inf")
    for _ in range(cold_repeats):
        jax.clear_caches()
        start = time.perf_counter()
        value = jax.block_until_ready(fn())
        cold = min(cold, time.perf_counter() - start)
    run_s, _ = best_of(fn)
    return {"total_s": cold, "compile_s": max(cold - run_s, 0.0), "run_s": run_s, "value": float(value)}


def _design(num_distinct: int, m: int, T: int) -> np.ndarray:
    distinct = np.unique(np.linspace(10, T, num_distinct).round().astype(int))
    rest = np.random.default_rng(0).choice(distinct, m - len(distinct))
    return np.concatenate([distinct, rest])


def main(quick: bool = False, out=None):
    m, T, n = 100, 100, (500 if quick else 2000)
    grid = (3,) if quick else (2, 5, 10, 20, 40)
    model = PoissonAR(a=jnp.asarray(0.5), b=jnp.asarray(0.6))
    key = jax.random.key(0)
    kw = dict(method="outer", key=key, num_samples=n)

    def per_length(lengths):  # what cramer_rao did before: one Fisher program per distinct length
        distinct, counts = np.unique(lengths, return_counts=True)
        info = sum(
            int(c) * tj.fisher_information(model, int(L), **kw) for L, c in zip(distinct, counts, strict=True)
        )
        return jnp.trace(jnp.linalg.inv(info))

    rows = []
    for N in grid:
        lengths = _design(N, m, T)
        baseline = _timed(lambda: jnp.trace(jnp.linalg.inv(tj.fisher_information(model, T, **kw))), 2)
        old = _timed(lambda lengths=lengths: per_length(lengths))
        new = _timed(lambda lengths=lengths: tj.cramer_rao(model, m, T, lengths=lengths, **kw), 2)
        rows.append({
            "distinct_lengths": int(len(np.unique(lengths))),
            "per_length": old,
            "one_program": new,
            "one_fisher_at_T_max": baseline,
            "speedup_total": old["total_s"] / new["total_s"],
            "one_program_over_one_fisher": new["total_s"] / baseline["total_s"],
            "max_rel_diff": abs(new["value"] / old["value"] - 1),
        })  # fmt: skip
        print(
            f"N = {N:3d}: per-length {old['total_s']:7.2f} s (compile {old['compile_s']:.2f}), one program "
            f"{new['total_s']:5.2f} s (compile {new['compile_s']:.2f}); one Fisher at T = {T}: "
            f"{baseline['total_s']:.2f} s; values differ by {rows[-1]['max_rel_diff']:.1e}"
        )
    last = rows[-1]
    record = {
        "dtype": "float64",
        "shapes": {"model": "PoissonAR (p = 2, user class)", "m": m, "T_max": T, "num_samples": n},
        "rows": rows,
        # the largest design's figures, in the fields every benchmark record has
        "trajax": {"total_s": last["one_program"]["total_s"], "compile_s": last["one_program"]["compile_s"]},
        "baseline": {
            "name": "one Fisher program per distinct length (cramer_rao before the one-program path)",
            "total_s": last["per_length"]["total_s"],
            "compile_s": last["per_length"]["compile_s"],
        },
    }
    path = write_result("ragged_fisher" + ("_quick" if quick else ""), record, out)
    print(f"wrote {path}")
    return record


if __name__ == "__main__":
    run_cli(main)
