"""Standard errors: VAR(1) OLS covariance from statsmodels against trajax's Fisher-based
covariance (inverse observed information at the MLE) on the same Gaussian LDS data, d = 3,
one trajectory of T = 100 000 states. Both are timed; the SEs must agree (they differ only by
statsmodels' per-equation, degrees-of-freedom-corrected noise variance against trajax's pooled
MLE variance, so to O(1/√T))."""

from __future__ import annotations

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import trajax as tj  # noqa: E402

from ._common import best_of, compile_timed, run_cli, write_result  # noqa: E402


def trajax_standard_errors(data):
    """θ̂ by OLS, σ̂² pooled, SE = √diag((−∇² log-lik at θ̂)⁻¹)."""
    d = data.shape[-1]
    ols = tj.fit(tj.LinearSystem(A=jnp.eye(d)), data)
    residuals = data[:, 1:] - data[:, :-1] @ ols.model.A.T
    fitted = tj.LinearSystem(A=ols.model.A, noise=tj.noise.Gaussian(jnp.sqrt(jnp.mean(residuals**2))))
    n = data.shape[0] * (data.shape[1] - 1)
    _, _, hessian = fitted.objective_terms(fitted.theta, data)  # of the mean negative log-lik
    return ols.theta, jnp.sqrt(jnp.diag(jnp.linalg.inv(n * hessian)))


def main(quick: bool = False, out=None):
    try:
        from statsmodels.tsa.api import VAR
    except ImportError:
        print("stderr: skipped, statsmodels is not installed (pip install -e '.[bench]' or make bench)")
        return None

    d, T = 3, (20_000 if quick else 100_000)
    A = np.array([[0.6, 0.1, 0.0], [0.0, 0.5, 0.2], [0.1, 0.0, 0.4]])
    data = tj.simulate(tj.LinearSystem(A=jnp.asarray(A)), jax.random.key(0), 1, T)
    series = np.asarray(data[0])

    compiled, compile_s = compile_timed(trajax_standard_errors, data)
    run_s, (theta, se) = best_of(lambda: compiled(data))

    def statsmodels_se():
        res = VAR(series).fit(1, trend="n")
        return res.params.T.ravel(), np.asarray(res.bse).T.ravel()  # row i = equation i

    sm_s, (sm_theta, sm_se) = best_of(statsmodels_se)
    rel = float(np.max(np.abs(np.asarray(se) / sm_se - 1)))
    record = {
        "dtype": "float64",
        "shapes": {"d": d, "m": 1, "T": T},
        "trajax": {
            "compile_s": compile_s,
            "run_s": run_s,
            "method": "inverse observed information (fused Hessian)",
        },
        "baseline": {"name": "statsmodels VAR(1).fit(trend='n').bse", "run_s": sm_s},
        "max_abs_theta_difference": float(np.max(np.abs(np.asarray(theta) - sm_theta))),
        "max_relative_se_difference": rel,
        "speedup_run_only": sm_s / run_s,
        "target": "standard errors agree; both timed",
    }
    path = write_result("stderr" + ("_quick" if quick else ""), record, out)
    print(f"stderr: trajax {run_s * 1e3:.1f} ms vs statsmodels {sm_s * 1e3:.1f} ms -> {sm_s / run_s:.1f}x; "
          f"SEs agree to {rel:.1e} (relative), θ̂ to {record['max_abs_theta_difference']:.1e}  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    run_cli(main)
