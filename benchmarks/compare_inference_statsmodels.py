"""Standard errors of trajax's `tj.covariance` against statsmodels on data shipped with
statsmodels (the figures quoted in the notes; tests/test_inference.py asserts them):

1. US quarterly inflation (macrodata), AR(1) with intercept, Gaussian noise with the scale set
   to σ̂ = √(RSS/n): observed SEs against the textbook σ̂²(XᵀX)⁻¹ (statsmodels' OLS covariance
   rescaled from RSS/(n−p) to RSS/n);
2. the same regression with Student-t errors (ν = 5, scale 1.75 fixed): the MLE and observed SEs
   against statsmodels' `GenericLikelihoodModel` (BFGS fit, numerical Hessian);
3. Grunfeld's 11 firms, log investment AR(1) pooled: the sandwich (trajectories as clusters)
   against statsmodels' cluster-robust OLS covariance without small-sample correction.

Run: python -m benchmarks.compare_inference_statsmodels
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy import stats  # noqa: E402
from statsmodels.base.model import GenericLikelihoodModel  # noqa: E402

import trajax as tj  # noqa: E402

DF, SCALE = 5.0, 1.75


def _ar1(theta, noise):
    features = lambda z: jnp.stack([jnp.ones_like(z), z], -1)  # noqa: E731
    return tj.DependentRegression(theta=jnp.asarray(theta, float), features=features, noise=noise, dim=1)


class StudentTAR1(GenericLikelihoodModel):
    def loglike(self, params):
        r = self.endog - self.exog @ params
        return float(np.sum(stats.t.logpdf(r / SCALE, DF) - np.log(SCALE)))


def _row(name, ours, theirs):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    rel = np.max(np.abs(ours / theirs - 1))
    print(
        f"{name:<34} trajax {np.array2string(ours, precision=8)}  statsmodels "
        f"{np.array2string(theirs, precision=8)}  max rel diff {rel:.1e}"
    )


def main():
    y = sm.datasets.macrodata.load_pandas().data["infl"].to_numpy(float)
    data, X, target = jnp.asarray(y[None, :, None]), np.stack([np.ones(y.size - 1), y[:-1]], 1), y[1:]
    beta = np.linalg.solve(X.T @ X, X.T @ target)
    n = target.size
    sigma = np.sqrt(np.sum((target - X @ beta) ** 2) / n)
    cov = tj.covariance(_ar1(beta, tj.noise.Gaussian(sigma)), data)
    ols = sm.OLS(target, X).fit()
    _row(
        "inflation AR(1), Gaussian, SE",
        np.sqrt(np.diag(cov)),
        np.sqrt(np.diag(ols.cov_params()) * (n - 2) / n),
    )

    noise = tj.noise.StudentT(df=DF, scale=SCALE)
    res = StudentTAR1(target, X).fit(start_params=beta, method="bfgs", maxiter=500, gtol=1e-10, disp=0)
    fitted = tj.fit(_ar1(beta, noise), data)
    _row("inflation AR(1), Student-t, θ̂", fitted.theta, res.params)
    _row(
        "inflation AR(1), Student-t, SE",
        np.sqrt(np.diag(tj.covariance(_ar1(res.params, noise), data))),
        res.bse,
    )

    frame = sm.datasets.grunfeld.load_pandas().data.sort_values(["firm", "year"])
    series = np.stack([np.log(g["invest"].to_numpy(float)) for _, g in frame.groupby("firm", sort=True)])
    Xp = np.concatenate([np.stack([np.ones(s.size - 1), s[:-1]], 1) for s in series])
    yp = np.concatenate([s[1:] for s in series])
    beta = np.linalg.solve(Xp.T @ Xp, Xp.T @ yp)
    groups = np.repeat(np.arange(series.shape[0]), series.shape[1] - 1)
    cluster = sm.OLS(yp, Xp).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    sandwich = tj.covariance(
        _ar1(beta, tj.noise.Gaussian(1.0)), jnp.asarray(series[:, :, None]), kind="sandwich"
    )
    _row("Grunfeld pooled AR(1), cluster SE", np.sqrt(np.diag(sandwich)), cluster.bse)


if __name__ == "__main__":
    main()
