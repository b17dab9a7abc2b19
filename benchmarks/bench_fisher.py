"""Observed Fisher information (−∇² of the log-likelihood), p = 16 (Student-t LDS, d = 4):
trajax autodiff against numerical differentiation of the same log-likelihood in NumPy
(statsmodels' approx_hess3 when installed, else central differences), at equal accuracy."""

from __future__ import annotations

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import trajax as tj  # noqa: E402

from ._common import best_of, compile_timed, run_cli, write_result  # noqa: E402

NU = 5.0


def main(quick: bool = False, out=None):
    d, m, T = (4, 32, 64) if quick else (4, 256, 256)
    A = 0.4 * np.eye(d) + 0.05 * np.ones((d, d))
    model = tj.LinearSystem(A=jnp.asarray(A), noise=tj.noise.StudentT(df=NU))
    data = tj.simulate(model, jax.random.key(0), m, T)
    theta = model.theta

    def total_log_likelihood(th):
        return jnp.sum(tj.log_likelihood(model.with_theta(th), data))

    compiled, compile_s = compile_timed(lambda th: -jax.hessian(total_log_likelihood)(th), theta)
    run_s, info = best_of(lambda: compiled(theta))
    # the model's fused closed-form Hessian (what Newton and the standard-error path use)
    n = m * (T - 1)
    fused = jax.jit(lambda th: n * model.objective_terms(th, data)[2]).lower(theta).compile()
    fused_s, fused_info = best_of(lambda: fused(theta))

    X = np.asarray(data[:, :-1]).reshape(-1, d)
    Y = np.asarray(data[:, 1:]).reshape(-1, d)
    const = float(tj.noise.StudentT(df=NU).log_prob(0.0))

    def numpy_log_likelihood(th):
        R = Y - X @ th.reshape(d, d).T
        return np.sum(const - (NU + 1) / 2 * np.log1p(R**2 / NU))

    try:
        from statsmodels.tools.numdiff import approx_hess3

        name = "statsmodels.tools.numdiff.approx_hess3, step 1e-4 (NumPy log-likelihood)"
        # step 1e-4: its default (relative to |θ| ≈ 0.05) rounds to 2.7e-6 away from the autodiff
        # Hessian; 1e-4 agrees to 4e-8 at the same cost, so the comparison is at equal accuracy
        numdiff = lambda: -approx_hess3(np.asarray(theta), numpy_log_likelihood, epsilon=1e-4)
    except ImportError:
        name = "central second differences (statsmodels not installed)"

        def numdiff():
            th0, p = np.asarray(theta), theta.shape[0]
            h = 1e-4 * np.maximum(np.abs(th0), 1.0)
            H = np.empty((p, p))
            for i in range(p):
                for j in range(p):
                    e_i, e_j = np.eye(p)[i] * h[i], np.eye(p)[j] * h[j]
                    H[i, j] = (numpy_log_likelihood(th0 + e_i + e_j) - numpy_log_likelihood(th0 + e_i - e_j)
                               - numpy_log_likelihood(th0 - e_i + e_j) + numpy_log_likelihood(th0 - e_i - e_j)
                               ) / (4 * h[i] * h[j])  # fmt: skip
            return -H

    numdiff_s, numeric = best_of(numdiff, repeats=2)
    rel_error = float(np.max(np.abs(numeric - np.asarray(info))) / np.max(np.abs(np.asarray(info))))
    record = {
        "dtype": "float64",
        "shapes": {"p": d * d, "m": m, "T": T, "noise": f"student_t(df={NU})"},
        "trajax": {
            "compile_s": compile_s,
            "run_s": run_s,
            "method": "jax.hessian (forward-over-reverse)",
            "fused_run_s": fused_s,
            "fused_vs_autodiff_max_rel_diff": float(
                np.max(np.abs(np.asarray(fused_info) - np.asarray(info))) / np.max(np.abs(np.asarray(info)))
            ),
        },  # fmt: skip
        "baseline": {"name": name, "run_s": numdiff_s},
        "max_relative_difference": rel_error,
        "speedup_run_only": numdiff_s / run_s,
        "speedup_fused": numdiff_s / fused_s,
        "target": "speedup >= 10 with agreement to 1e-6",
    }
    path = write_result("fisher" + ("_quick" if quick else ""), record, out)
    print(f"fisher: trajax {run_s * 1e3:.1f} ms autodiff, {fused_s * 1e3:.1f} ms fused (compile {compile_s:.1f}s) vs numerical {numdiff_s * 1e3:.0f} ms "
          f"-> {numdiff_s / run_s:.1f}x, max rel. difference {rel_error:.1e}  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    run_cli(main)
