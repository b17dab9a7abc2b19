"""Covariances that cannot be silently wrong (tj.covariance): the within-trajectory HAC kind
against statsmodels' `HAC` and `hac-panel` OLS covariances, the sandwich's small-sample factor
m/(m − 1) against NumPy and in a coverage study at m = 8, and every refusal naming a kind that
then works on the same data."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
import trajax._inference as inference
from trajax._inference import _transition_scores, newey_west_lags

sm = pytest.importorskip("statsmodels.api")
stats = pytest.importorskip("scipy.stats")


def _features(z):
    return jnp.stack([jnp.ones_like(z), z], -1)  # z_{t+1} = c + a z_t + w_t: M(z) = [[1, z]]


def _ar1(theta, sigma=1.0):
    noise = tj.noise.Gaussian(sigma)
    return tj.DependentRegression(theta=jnp.asarray(theta, float), features=_features, noise=noise, dim=1)


def _regression(y):
    """The AR(1) regression with an intercept of one series y (T,): X (T − 1, 2), target (T − 1,)."""
    return np.stack([np.ones(y.size - 1), y[:-1]], 1), y[1:]


def _ols(X, y):
    return np.linalg.solve(X.T @ X, X.T @ y)


def _var1(key, A, num_trajectories: int, num_steps: int, c=0.0, scale=1.0) -> np.ndarray:
    """(m, T, d) trajectories of z_{t+1} = c + A z_t + scale·w_t from z_1 = 0, w_t iid N(0, I)
    drawn from `key` (NumPy recursion: no simulation program to compile)."""
    A = np.atleast_2d(A)
    w = scale * np.asarray(jax.random.normal(key, (num_trajectories, num_steps - 1, A.shape[0])))
    z = np.zeros((num_trajectories, num_steps, A.shape[0]))
    for t in range(num_steps - 1):
        z[:, t + 1] = c + z[:, t] @ A.T + w[:, t]
    return z


class AR1(tj.AbstractModel):
    """The README's one-class AR(1): per-transition terms, but not declared homogeneous_markov."""

    a: jax.Array
    scale: float = eqx.field(static=True)
    parameters = ("a",)

    def initial_state(self, key):
        return jnp.zeros((), self.a.dtype)

    def transition(self, key, z, t):
        return self.a * z + self.scale * jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        r = (z_next - self.a * z) / self.scale
        return -0.5 * r**2 - jnp.log(self.scale) - 0.5 * jnp.log(2 * jnp.pi)


# ---------------------------------------------------------------------------- one trajectory
def test_one_long_trajectory_hac_instead_of_a_zero_sandwich(key):
    """The issue's case: one trajectory of T = 2000 at its MLE (least squares). The sandwich
    used to return standard errors ~1e-15 (the trajectory's score is zero at the MLE); it now
    refuses, and the HAC it recommends gives standard errors of the size of the observed ones
    (a correct model, so both estimate the same matrix: the band 0.7–1.4 on their ratio is wide
    against the HAC's sampling error at L = 7 lags, about √(2·(2L+1)/(3n)) ≈ 6% for n = 1999
    transitions)."""
    data = _var1(key, 0.6, 1, 2000, c=0.3)
    fitted = _ar1(_ols(*_regression(data[0, :, 0])))
    with pytest.raises(ValueError, match=r"^data: kind='sandwich' needs at least 2 trajectories.*kind='hac'"):
        tj.covariance(fitted, data, kind="sandwich")
    hac = np.sqrt(np.diag(tj.covariance(fitted, data, kind="hac")))
    observed = np.sqrt(np.diag(tj.covariance(fitted, data)))
    assert np.all((hac / observed > 0.7) & (hac / observed < 1.4)), (hac, observed)


@pytest.mark.parametrize("lags", [0, 1, 4, None])
def test_hac_equals_statsmodels_on_inflation(lags):
    """US quarterly inflation (statsmodels' macrodata) as one trajectory, an AR(1) with intercept
    at its OLS estimate: the HAC kind is statsmodels' OLS `HAC` covariance without correction.
    With Gaussian noise of scale σ, s_t = x_t r_t/σ² and H = XᵀX/σ², so H⁻¹ Ω H⁻¹ is free of σ
    and equals (XᵀX)⁻¹ Ω_OLS (XᵀX)⁻¹ exactly: σ = 0.37 shows the scale cancels. `lags=None` is
    the Newey–West rule, ⌊4(202/100)^{2/9}⌋ = 4 for the 202 transitions."""
    y = sm.datasets.macrodata.load_pandas().data["infl"].to_numpy(float)
    X, target = _regression(y)
    beta = _ols(X, target)
    maxlags = newey_west_lags(target.size) if lags is None else lags
    assert lags is not None or maxlags == 4
    ols = sm.OLS(target, X).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": False})
    for sigma in (1.0, 0.37):
        cov = tj.covariance(_ar1(beta, sigma), jnp.asarray(y[None, :, None]), kind="hac", lags=lags)
        np.testing.assert_allclose(cov, ols.cov_params(), rtol=1e-8)
    if maxlags:  # power: the lags matter
        white = sm.OLS(target, X).fit(cov_type="HC0").cov_params()
        assert not np.allclose(ols.cov_params(), white, rtol=1e-3)


def test_hac_of_a_var1_is_statsmodels_equation_by_equation(key):
    """A Gaussian VAR(1) (LinearSystem, d = 2, noise scale 0.6) at its OLS estimate. θ = vec(A)
    row-major, so H = (I_d ⊗ XᵀX)/σ² is block diagonal and the (j, j) block of H⁻¹ Ω H⁻¹ is
    statsmodels' HAC covariance of equation j's regression of z_{t+1, j} on z_t."""
    data = _var1(key, [[0.6, 0.2], [-0.1, 0.4]], 1, 400, scale=0.6)
    z = data[0]
    X, Y = z[:-1], z[1:]
    A_hat = np.linalg.solve(X.T @ X, X.T @ Y).T  # z_{t+1} = A z_t: rows of A are the equations
    cov = tj.covariance(tj.LinearSystem(A=A_hat, noise=tj.noise.Gaussian(0.6)), data, kind="hac", lags=5)
    for j in range(2):
        ols = sm.OLS(Y[:, j], X).fit(cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": False})
        np.testing.assert_allclose(cov[2 * j : 2 * j + 2, 2 * j : 2 * j + 2], ols.cov_params(), rtol=1e-8)


@pytest.mark.parametrize("ragged", [False, True])
def test_hac_of_a_panel_equals_statsmodels_hac_panel(ragged, monkeypatch):
    """Grunfeld's 11 firms of log investment (statsmodels), each an AR(1) trajectory, balanced
    or cut to ragged lengths (NaN padding): the HAC kind sums Newey–West within trajectories,
    statsmodels' `hac-panel` covariance without correction on the stacked regressions, in one
    piece or in chunks of trajectories."""
    frame = sm.datasets.grunfeld.load_pandas().data.sort_values(["firm", "year"])
    series = np.stack([np.log(g["invest"].to_numpy(float)) for _, g in frame.groupby("firm", sort=True)])
    lengths = np.array([20, 18, 15, 12, 20, 9, 17, 20, 6, 14, 11]) if ragged else np.full(11, 20)
    rows = [_regression(s[:L]) for s, L in zip(series, lengths, strict=True)]
    X, target = np.concatenate([x for x, _ in rows]), np.concatenate([t for _, t in rows])
    groups = np.repeat(np.arange(11), lengths - 1)
    ols = sm.OLS(target, X).fit(
        cov_type="hac-panel", cov_kwds={"groups": groups, "maxlags": 2, "use_correction": False}
    )
    padded = np.where(np.arange(20)[None, :] < lengths[:, None], series, np.nan)[:, :, None]
    model = _ar1(_ols(X, target), 0.5)
    cov = tj.covariance(model, jnp.asarray(padded), kind="hac", lags=2, lengths=lengths if ragged else None)
    np.testing.assert_allclose(cov, ols.cov_params(), rtol=1e-8)
    monkeypatch.setattr(inference, "HESSIAN_BUDGET", 20 * 2 * 3)  # chunks of 3 trajectories
    chunked = tj.covariance(
        model, jnp.asarray(padded), kind="hac", lags=2, lengths=lengths if ragged else None
    )
    np.testing.assert_allclose(chunked, cov, rtol=1e-12)


def test_transition_scores_sum_to_the_trajectory_scores(key):
    """Per-transition scores (zero past each length) add up to tj.score, trajectory by trajectory."""
    lds = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [0.0, 0.5]]), noise=tj.noise.StudentT(df=5.0))
    data = _var1(key, lds.A, 6, 12)
    lengths = jnp.array([12, 2, 7, 12, 5, 9])
    s = _transition_scores(lds, data, lengths)
    assert s.shape == (6, 11, 4)
    assert np.all(np.asarray(s)[1, 1:] == 0.0)
    np.testing.assert_allclose(s.sum(1), tj.score(lds, data, lengths=lengths), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- the sandwich's factor
def test_sandwich_factor_against_numpy(key):
    """Gaussian VAR(1) (d = 2, p = 4, σ = 0.8) of m = 5 trajectories at its OLS estimate, in
    NumPy: s_i = vec(R_iᵀ X_i)/σ² row-major, H = (I ⊗ XᵀX)/σ²; the sandwich is
    m/(m − 1)·H⁻¹ (Σ s_i s_iᵀ) H⁻¹ by default and without the factor with correction=False."""
    sigma, m = 0.8, 5
    data = _var1(key, [[0.5, 0.2], [0.1, 0.3]], m, 30, scale=sigma)
    X, Y = data[:, :-1], data[:, 1:]
    gram = np.einsum("mti,mtj->ij", X, X)
    A_hat = np.linalg.solve(gram, np.einsum("mti,mtj->ij", X, Y)).T
    R = Y - X @ A_hat.T
    s = np.einsum("mtj,mtk->mjk", R, X).reshape(m, 4) / sigma**2
    H_inv = np.linalg.inv(np.kron(np.eye(2), gram) / sigma**2)
    uncorrected = H_inv @ (s.T @ s) @ H_inv
    model = tj.LinearSystem(A=A_hat, noise=tj.noise.Gaussian(sigma))
    np.testing.assert_allclose(
        tj.covariance(model, data, kind="sandwich"), m / (m - 1) * uncorrected, rtol=1e-9
    )
    np.testing.assert_allclose(
        tj.covariance(model, data, kind="sandwich", correction=False), uncorrected, rtol=1e-9
    )


def test_sandwich_coverage_at_eight_trajectories(key):
    """Wald 95% intervals â ± 1.96·se from the sandwich, R = 2000 replicates of m = 8 trajectories
    of a Gaussian AR(1) (a = 0.5, T = 50), fitted by least squares. For many transitions per
    trajectory, (â − a)/se is Student-t with m − 1 degrees of freedom scaled by √((m − 1)/m)
    without the factor and unscaled with it, so coverage is P(|t_7| ≤ 1.96·√(7/8)) = 0.891
    without and P(|t_7| ≤ 1.96) = 0.909 with it (20 000 replicates gave 0.885 and 0.904 at
    T = 50); with t_7's quantile 2.365 instead of 1.96 it is 0.95. Each coverage is checked within
    3 binomial standard errors √(c(1 − c)/R) ≈ 0.007 of its prediction; the factor's gain, the
    fraction of |z| in (1.833, 1.96], within 3 of its own."""
    R, m, T, a = 2000, 8, 50, 0.5
    data = _var1(key, a, R * m, T).reshape(R, m, T, 1)
    x, y = data[:, :, :-1, 0], data[:, :, 1:, 0]
    a_hat = np.sum(x * y, (1, 2)) / np.sum(x * x, (1, 2))  # the MLE (least squares)

    @jax.jit
    @jax.vmap
    def sandwich(a_r, data_r):
        return tj.covariance(tj.LinearSystem(A=a_r[None, None]), data_r, kind="sandwich")[0, 0]

    z = np.abs(a_hat - a) / np.sqrt(np.asarray(sandwich(a_hat, data)))
    t7 = stats.t(m - 1)
    coverage = {
        "with factor": ((z <= 1.96).mean(), 2 * t7.cdf(1.96) - 1),
        "without": ((z <= 1.96 * np.sqrt((m - 1) / m)).mean(), 2 * t7.cdf(1.96 * np.sqrt((m - 1) / m)) - 1),
        "t quantile": ((z <= t7.ppf(0.975)).mean(), 0.95),
    }
    print({k: round(float(c), 4) for k, (c, _) in coverage.items()})
    for name, (c, predicted) in coverage.items():
        assert abs(c - predicted) < 3 * np.sqrt(predicted * (1 - predicted) / R), (name, coverage)
    gain = coverage["with factor"][0] - coverage["without"][0]
    predicted = coverage["with factor"][1] - coverage["without"][1]
    assert abs(gain - predicted) < 3 * np.sqrt(predicted / R), (gain, predicted)
    assert abs(0.95 - coverage["with factor"][0]) < abs(0.95 - coverage["without"][0])


# ---------------------------------------------------------------------------- refusals
def _recommended(message: str) -> list[str]:
    """The kinds a refusal recommends: those named after its last '; use' or '; or use'."""
    tail = re.split(r"; (?:or )?use ", message)[-1]
    return re.findall(r"kind='(\w+)'", tail)


def _refusal_case(label: str, key):
    """(model, data, kwargs, message regex) of one refusal of tj.covariance."""
    one = _var1(key, 0.6, 1, 300, c=0.3)
    readme = _var1(key, 0.5, 3, 200)[..., 0]  # the README AR(1)'s scalar states, (3, 200)
    readme_fit = AR1(
        a=jnp.asarray(np.sum(readme[:, :-1] * readme[:, 1:]) / np.sum(readme[:, :-1] ** 2)), scale=1.0
    )
    lds, still = tj.LinearSystem(A=jnp.eye(2) * 0.5), _var1(key, np.eye(2) * 0.5, 8, 10)
    still[:, :, 1] = 0.0  # the second coordinate never moves: A[:, 1] is not identified
    heavy = tj.LinearSystem(A=jnp.array([[5.0]]), noise=tj.noise.StudentT(df=3.0))  # far from the MLE
    cases = {
        "sandwich, one trajectory": (_ar1(_ols(*_regression(one[0, :, 0]))), one, {"kind": "sandwich"},
                                     r"^data: kind='sandwich' needs at least 2"),
        "sandwich, one, no terms": (readme_fit, readme[:1], {"kind": "sandwich"},
                                    r"^data: kind='sandwich'.* use kind='observed'$"),
        "hac, no terms, one": (readme_fit, readme[:1], {"kind": "hac"}, r"^model: kind='hac' needs per-transition"),
        "hac, no terms, several": (readme_fit, readme, {"kind": "hac"}, r"^model: kind='hac'.*kind='sandwich'"),
        "opg, m <= p": (_ar1([0.3, 0.6]), one, {"kind": "opg"},
                        r"^data: kind='opg' needs more trajectories than parameters"),
        "opg, singular": (lds, still, {"kind": "opg"}, r"^outer product of scores: singular"),
        "observed, singular": (lds, still, {}, r"^observed information: singular"),
        "sandwich, singular": (lds, still, {"kind": "sandwich"}, r"^observed information: singular"),
        "observed, not a maximum": (heavy, _var1(key, 0.5, 20, 30), {},
                                    r"^observed information: not positive definite"),
        "expected, no key": (_ar1([0.3, 0.6]), one, {"kind": "expected"},
                             r"^key: kind='expected' for DependentRegression"),
        # first states away from x0 = 0 and T = 2: the design's I_2(θ) = E[z_1²] = 0
        "expected, singular": (tj.LinearSystem(A=jnp.array([[0.5]])), 1.0 + _var1(key, 0.5, 6, 2),
                               {"kind": "expected"}, r"^expected information: singular"),
    }  # fmt: skip
    return cases[label]


REFUSALS = [
    "sandwich, one trajectory",
    "sandwich, one, no terms",
    "hac, no terms, one",
    "hac, no terms, several",
    "opg, m <= p",
    "opg, singular",
    "observed, singular",
    "sandwich, singular",
    "observed, not a maximum",
    "expected, no key",
    "expected, singular",
]


@pytest.mark.parametrize("label", REFUSALS)
def test_every_refusal_names_a_kind_that_works(label, key):
    """Each refusal is one line, starts with the argument at fault, and recommends at least one
    kind; every kind it recommends then works on the same model and data (finite, positive
    definite)."""
    model, data, kwargs, pattern = _refusal_case(label, key)
    with pytest.raises(ValueError, match=pattern) as info:
        tj.covariance(model, data, **kwargs)
    message = str(info.value)
    kinds = _recommended(message)
    assert "\n" not in message and kinds, message
    for kind in kinds:
        extra = {"key": key, "num_samples": 64} if kind == "expected" else {}
        cov = np.asarray(tj.covariance(model, data, kind=kind, **extra))
        assert np.all(np.isfinite(cov)) and np.linalg.eigvalsh(cov)[0] > 0, (kind, message)


def test_expected_refuses_traced_lengths_and_observed_works_under_jit(key):
    chain = tj.TwoStateChain(theta=0.7)
    data = jax.random.bernoulli(key, 0.5, (4, 10)).astype(jnp.int32)
    lengths = jnp.array([10, 4, 7, 10])
    with pytest.raises(ValueError, match="^lengths: kind='expected' needs concrete lengths") as info:
        jax.jit(lambda L: tj.covariance(chain, data, kind="expected", lengths=L))(lengths)
    assert _recommended(str(info.value)) == ["observed"]
    traced = jax.jit(lambda L: tj.covariance(chain, data, kind="observed", lengths=L))(lengths)
    np.testing.assert_allclose(traced, tj.covariance(chain, data, lengths=lengths), rtol=1e-12)


def test_argument_errors(key):
    data = _var1(key, 0.6, 2, 30, c=0.3)
    model = _ar1([0.3, 0.6])
    with pytest.raises(ValueError, match=r"^lags: only kind='hac' takes lags, got kind='sandwich'$"):
        tj.covariance(model, data, kind="sandwich", lags=3)
    with pytest.raises(ValueError, match=r"^lags: expected at most T − 2 = 28"):
        tj.covariance(model, data, kind="hac", lags=29)
    with pytest.raises(ValueError, match=r"^lags: expected an integer >= 0"):
        tj.covariance(model, data, kind="hac", lags=-1)
    with pytest.raises(ValueError, match=r"^correction: expected True or False"):
        tj.covariance(model, data, kind="sandwich", correction=0)
    with pytest.raises(ValueError, match=r"^kind: expected one of .*'hac'"):
        tj.covariance(model, data, kind="newey-west")
    assert [newey_west_lags(n) for n in (1, 2, 99, 202, 1999)] == [0, 1, 3, 4, 7]
