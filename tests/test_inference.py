"""Covariances of a fit (tj.covariance): textbook OLS, statsmodels' GenericLikelihoodModel and
cluster-robust OLS on real data shipped with statsmodels, hand NumPy sandwich and OPG, the
expected information, and the errors on singular or non-finite information."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax._inference import inverse_information, observed_information, stderr_from_information

sm = pytest.importorskip("statsmodels.api")
from statsmodels.base.model import GenericLikelihoodModel  # noqa: E402

DF, SCALE = 5.0, 1.75  # Student-t errors of the inflation AR(1): fixed degrees of freedom and scale


def _features(z):
    return jnp.stack([jnp.ones_like(z), z], -1)  # z_{t+1} = c + a z_t + w_t: M(z) = [[1, z]]


def _ar1(theta, noise):
    return tj.DependentRegression(theta=jnp.asarray(theta, float), features=_features, noise=noise, dim=1)


def _inflation():
    """US quarterly inflation 1959–2009 (statsmodels' macrodata) as one trajectory (1, 203, 1),
    and its AR(1) regression (X, y) with an intercept."""
    y = sm.datasets.macrodata.load_pandas().data["infl"].to_numpy(float)
    return jnp.asarray(y[None, :, None]), np.stack([np.ones(y.size - 1), y[:-1]], 1), y[1:]


def _grunfeld():
    """Grunfeld's 11 firms × 20 years of log investment (statsmodels) as (11, 20, 1), and the
    per-firm AR(1) regressions."""
    frame = sm.datasets.grunfeld.load_pandas().data.sort_values(["firm", "year"])
    series = np.stack([np.log(g["invest"].to_numpy(float)) for _, g in frame.groupby("firm", sort=True)])
    rows = [(np.stack([np.ones(s.size - 1), s[:-1]], 1), s[1:]) for s in series]
    return jnp.asarray(series[:, :, None]), rows


def test_gaussian_ols_standard_errors():
    """Gaussian noise with the scale set to σ̂ = √(RSS/n): the observed covariance is the
    textbook σ̂²(XᵀX)⁻¹, i.e. statsmodels' OLS covariance rescaled from RSS/(n−p) to RSS/n."""
    data, X, y = _inflation()
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    n = y.size
    sigma = np.sqrt(np.sum((y - X @ beta) ** 2) / n)
    model = _ar1(beta, tj.noise.Gaussian(sigma))
    textbook = sigma**2 * np.linalg.inv(X.T @ X)
    cov = tj.covariance(model, data)
    np.testing.assert_allclose(cov, textbook, rtol=1e-10)
    ols = sm.OLS(y, X).fit()
    np.testing.assert_allclose(cov, ols.cov_params() * (n - 2) / n, rtol=1e-8)
    np.testing.assert_allclose(
        stderr_from_information(observed_information(model, data)), np.sqrt(np.diag(textbook)), rtol=1e-10
    )
    # power: a wrong scale gives wrong standard errors
    assert not np.allclose(
        tj.covariance(_ar1(beta, tj.noise.Gaussian(1.1 * sigma)), data), textbook, rtol=0.1
    )


class _StudentTAR1(GenericLikelihoodModel):
    """y_{t+1} = c + a y_t + s·t_ν with fixed ν and s, in statsmodels' generic MLE."""

    def loglike(self, params):
        stats = pytest.importorskip("scipy.stats")
        r = self.endog - self.exog @ params
        return float(np.sum(stats.t.logpdf(r / SCALE, DF) - np.log(SCALE)))


def test_student_t_against_statsmodels_generic_likelihood():
    data, X, y = _inflation()
    noise = tj.noise.StudentT(df=DF, scale=SCALE)
    start = np.linalg.solve(X.T @ X, X.T @ y)
    res = _StudentTAR1(y, X).fit(start_params=start, method="bfgs", maxiter=500, gtol=1e-10, disp=0)
    fitted = tj.fit(_ar1(start, noise), data)
    assert bool(fitted.converged)
    np.testing.assert_allclose(fitted.theta, res.params, rtol=1e-5)
    # observed-information standard errors at the same θ̂ (statsmodels: numerical Hessian)
    stderr = np.sqrt(np.diag(tj.covariance(_ar1(res.params, noise), data)))
    np.testing.assert_allclose(stderr, res.bse, rtol=1e-6)  # agree to ~1e-8 (float64)
    # power: the Gaussian standard errors at the same scale differ by ≈ √((ν+3)/(ν+1)) − 1 ≈ 15%
    gaussian = np.sqrt(np.diag(tj.covariance(_ar1(res.params, tj.noise.Gaussian(SCALE)), data)))
    assert not np.allclose(stderr, gaussian, rtol=0.05)


def test_sandwich_and_opg_on_a_panel():
    """Trajectories as clusters: the sandwich without its small-sample factor is the CR0
    cluster-robust OLS covariance (XᵀX)⁻¹ Σ_i X_iᵀ r_i r_iᵀ X_i (XᵀX)⁻¹ whatever the noise scale,
    by hand and in statsmodels; by default it is m/(m − 1) times that."""
    data, rows = _grunfeld()
    X = np.concatenate([x for x, _ in rows])
    y = np.concatenate([y for _, y in rows])
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    scores = np.stack([x.T @ (y_i - x @ beta) for x, y_i in rows])  # × σ⁻²
    bread = np.linalg.inv(X.T @ X)
    hand = bread @ (scores.T @ scores) @ bread
    for sigma in (1.0, 0.37):
        model = _ar1(beta, tj.noise.Gaussian(sigma))
        np.testing.assert_allclose(
            tj.covariance(model, data, kind="sandwich", correction=False), hand, rtol=1e-9
        )
        m = len(rows)
        np.testing.assert_allclose(tj.covariance(model, data, kind="sandwich"), m / (m - 1) * hand, rtol=1e-9)
        np.testing.assert_allclose(
            tj.covariance(model, data, kind="opg"), sigma**4 * np.linalg.inv(scores.T @ scores), rtol=1e-9
        )
    groups = np.repeat(np.arange(len(rows)), [y_i.size for _, y_i in rows])
    cluster = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    np.testing.assert_allclose(hand, cluster.cov_params(), rtol=1e-9)


def test_expected_covariance(key):
    lds = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [0.0, 0.5]]), noise=tj.noise.StudentT(df=5.0))
    data = tj.simulate(lds, key, 40, 25)
    np.testing.assert_allclose(
        tj.covariance(lds, data, kind="expected"),
        np.linalg.inv(40 * tj.fisher_information(lds, 25)),
        rtol=1e-10,
    )
    ar1 = _ar1([0.2, 0.5], tj.noise.Gaussian(1.0))  # no closed form: Monte Carlo with a key
    data = tj.simulate(ar1, key, 40, 25)
    mc = tj.covariance(ar1, data, kind="expected", key=key, num_samples=200)
    np.testing.assert_allclose(
        mc, np.linalg.inv(40 * tj.fisher_information(ar1, 25, key=key, num_samples=200))
    )
    with pytest.raises(ValueError, match="^key: "):
        tj.covariance(ar1, data, kind="expected")


def test_kinds_agree_for_a_correct_model(key):
    """For a correct model and many trajectories all four covariances estimate the same matrix
    (the information equality), within a few Monte-Carlo standard errors of their spread."""
    chain = tj.TwoStateChain(theta=0.7)
    data = tj.simulate(chain, key, 4000, 6)
    fitted = tj.fit(chain, data).model
    var = {
        kind: float(tj.covariance(fitted, data, kind=kind)[0, 0]) for kind in ("observed", "opg", "sandwich")
    }
    var["expected"] = float(tj.covariance(fitted, data, kind="expected")[0, 0])
    # observed = expected exactly here (I_T is linear in the number of stays at the MLE)
    np.testing.assert_allclose(var["observed"], var["expected"], rtol=1e-10)
    # OPG and sandwich: ratios to the observed → 1 with relative SE ≈ √(2/m)-ish: allow 4·√(2/m)
    for kind in ("opg", "sandwich"):
        assert abs(var[kind] / var["observed"] - 1) < 4 * np.sqrt(2 / 4000), (kind, var)


def test_singular_and_non_finite_information(key):
    lds = tj.LinearSystem(A=jnp.eye(2) * 0.5)
    data = tj.simulate(lds, key, 2, 10).at[:, :, 1].set(0.0)  # the second coordinate never moves
    with pytest.raises(ValueError, match=r"^observed information: singular \(eigenvalues from"):
        tj.covariance(lds, data)
    data = tj.simulate(lds, key, 2, 10)  # p = 4 parameters, 2 scores
    with pytest.raises(ValueError, match="^data: kind='opg' needs more trajectories than parameters"):
        tj.covariance(lds, data, kind="opg")
    with pytest.raises(ValueError, match="^information: not positive definite"):
        inverse_information(jnp.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="^information: has NaN or inf"):
        stderr_from_information(jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]]))
    with pytest.raises(ValueError, match="^kind: expected one of"):
        tj.covariance(lds, data, kind="hessian")


def test_batched_and_traced_stderr():
    good = jnp.array([[4.0, 1.0], [1.0, 2.0]])
    batch = jnp.stack([good, jnp.array([[1.0, 0.0], [0.0, -1.0]])])
    out = stderr_from_information(batch, strict=False)
    np.testing.assert_allclose(out[0], np.sqrt(np.diag(np.linalg.inv(good))), rtol=1e-12)
    assert np.all(np.isnan(out[1]))
    traced = jax.jit(jax.vmap(stderr_from_information))(batch)  # no error under jit: NaN
    np.testing.assert_allclose(traced, out)


def test_information_in_chunks(monkeypatch, key):
    """Chunking the trajectories (a small memory budget) does not change the information."""
    import trajax._inference as inference

    lds = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [0.0, 0.5]]), noise=tj.noise.StudentT(df=5.0))
    data = tj.simulate(lds, key, 50, 30)
    lengths = np.random.default_rng(0).integers(2, 31, 50)
    whole = observed_information(lds, data, lengths)
    monkeypatch.setattr(inference, "HESSIAN_BUDGET", 30 * 2 * 4 * 7)  # chunks of 7 trajectories
    np.testing.assert_allclose(observed_information(lds, data, lengths), whole, rtol=1e-12)
