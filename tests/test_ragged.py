"""Ragged trajectories (`lengths`): each model's masked likelihood against slicing, NaN padding,
validation, the ragged Cramér–Rao value, and an unbalanced real panel against pooled OLS."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax._fisher import design_information
from trajax._inference import observed_information
from trajax._likelihood import masked_trajectory_log_likelihood

M, T = 12, 30
LDS = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [0.0, 0.5]]), noise=tj.noise.StudentT(df=5.0))
MODELS = {  # homogeneous_markov (masked transitions) and not (grouped by length)
    "lds": LDS,
    "chain": tj.MarkovChain(P=[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]),
    "glm": tj.SinusoidalGLM(A=jnp.array([[1.2, 0.3], [-0.2, 0.9]]), sigma=0.5),
    "mixture": tj.MarkovChainMixture.two_state(0.8, 0.3),
    "mlr": tj.MixedLinearRegression(beta=[1.0, -0.5], p=0.6),
}


LENGTH_SET = (2, 11, 30)  # few distinct lengths: the slicing references compile once per length


def _lengths(seed=0):
    out = np.random.default_rng(seed).choice(LENGTH_SET, size=M)
    out[np.random.default_rng(seed).permutation(M)[: len(LENGTH_SET)]] = LENGTH_SET
    return out


def _slice(data, i, L):
    return jax.tree.map(lambda x: x[i : i + 1, :L], data)


def _pad(data, lengths, value):
    """Overwrites every state past lengths[i] (float leaves with `value`, int leaves with -1)."""
    mask = np.arange(T)[None, :] >= np.asarray(lengths)[:, None]

    def pad(x):
        x = np.array(x)
        fill = value if np.issubdtype(x.dtype, np.floating) else -1
        x[mask] = fill
        return jnp.asarray(x)

    return jax.tree.map(pad, data)


@pytest.mark.parametrize("name", list(MODELS))
def test_lengths_against_slicing(name, key):
    model = MODELS[name]
    data = tj.simulate(model, key, M, T)
    full = tj.log_likelihood(model, data)
    np.testing.assert_allclose(tj.log_likelihood(model, data, lengths=np.full(M, T)), full, rtol=1e-12)
    np.testing.assert_allclose(
        tj.score(model, data, lengths=np.full(M, T)), tj.score(model, data), rtol=1e-10
    )
    short = jax.tree.map(lambda x: x[:, :20], data)
    np.testing.assert_allclose(
        tj.log_likelihood(model, data, lengths=np.full(M, 20)), tj.log_likelihood(model, short), rtol=1e-12
    )
    lengths = _lengths()
    ll = tj.log_likelihood(model, data, lengths=lengths)
    s = tj.score(model, data, lengths=lengths)
    ref_ll = [tj.log_likelihood(model, _slice(data, i, L))[0] for i, L in enumerate(lengths)]
    ref_s = np.concatenate([tj.score(model, _slice(data, i, L)) for i, L in enumerate(lengths)])
    np.testing.assert_allclose(ll, ref_ll, rtol=1e-10)
    np.testing.assert_allclose(s, ref_s, rtol=1e-8, atol=1e-10)
    assert not np.allclose(ll, full)  # the lengths matter
    if name in ("mixture", "mlr"):  # grouped by length: the same slices as the references
        return
    H = observed_information(model, data, lengths=lengths)
    ref_H = sum(observed_information(model, _slice(data, i, L)) for i, L in enumerate(lengths))
    np.testing.assert_allclose(H, ref_H, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", list(MODELS))
def test_padding_is_ignored(name, key):
    model = MODELS[name]
    data, lengths = tj.simulate(model, key, M, T), _lengths(1)
    ref = tj.log_likelihood(model, data, lengths=lengths)
    padded = _pad(data, lengths, np.nan)
    np.testing.assert_array_equal(tj.log_likelihood(model, padded, lengths=lengths), ref)
    s = tj.score(model, padded, lengths=lengths)
    assert np.all(np.isfinite(s))
    np.testing.assert_array_equal(s, tj.score(model, _pad(data, lengths, 1e6), lengths=lengths))
    for kind in ("observed", "opg", "sandwich") if model.homogeneous_markov else ("observed",):
        assert np.all(np.isfinite(tj.covariance(model, padded, kind=kind, lengths=lengths)))
    with pytest.raises(ValueError, match="^data: "):  # without lengths the padding is data
        tj.log_likelihood(model, padded)


def test_any_lengths_against_scipy(key):
    """Every length from 2 to T, against the Student-t log-density of the residuals in SciPy."""
    stats = pytest.importorskip("scipy.stats")
    data = tj.simulate(LDS, key, T - 1, T)
    lengths = np.arange(2, T + 1)
    r = np.asarray(data[:, 1:] - data[:, :-1] @ LDS.A.T)
    terms = stats.t.logpdf(r, df=5.0).sum(-1)
    expected = [terms[i, : L - 1].sum() for i, L in enumerate(lengths)]
    np.testing.assert_allclose(tj.log_likelihood(LDS, data, lengths=lengths), expected, rtol=1e-10)


def test_masked_function_under_jit_and_grad(key):
    """The masked likelihood itself (no filling by the caller) keeps NaN out of values and
    gradients, with traced lengths, for a homogeneous Markov model."""
    data, lengths = tj.simulate(LDS, key, M, T), _lengths(2)
    padded = _pad(data, lengths, np.nan)

    @jax.jit
    def total(theta, data, lengths):
        model = LDS.with_theta(theta)
        return jnp.sum(jax.vmap(lambda z, L: masked_trajectory_log_likelihood(model, z, L))(data, lengths))

    value, grad = jax.value_and_grad(total)(LDS.theta, padded, jnp.asarray(lengths))
    np.testing.assert_allclose(value, tj.log_likelihood(LDS, data, lengths=lengths).sum(), rtol=1e-12)
    np.testing.assert_allclose(grad, tj.score(LDS, data, lengths=lengths).sum(0), rtol=1e-10)
    hess = jax.hessian(total)(LDS.theta, padded, jnp.asarray(lengths))
    assert np.all(np.isfinite(hess))


def test_traced_lengths_refused_for_non_markov_models(key):
    model = MODELS["mixture"]
    data = tj.simulate(model, key, M, T)
    with pytest.raises(ValueError, match="^lengths: MarkovChainMixture is not homogeneous_markov"):
        jax.jit(lambda L: tj.log_likelihood(model, data, lengths=L))(jnp.asarray(_lengths()))


def test_integer_padding_passes_state_checks(key):
    chain = tj.TwoStateChain(theta=0.7)
    data, lengths = tj.simulate(chain, key, M, T), _lengths(3)
    padded = _pad(data, lengths, np.nan)  # int leaves: -1, outside the state space
    np.testing.assert_array_equal(
        tj.log_likelihood(chain, padded, lengths=lengths), tj.log_likelihood(chain, data, lengths=lengths)
    )
    with pytest.raises(ValueError, match="^data: expected states in 0..1"):
        tj.log_likelihood(chain, padded)


@pytest.mark.parametrize(
    "lengths, message",
    [
        (np.full(M - 1, 5), r"expected shape \(12,\)"),
        (np.full(M, 5.0), "expected integers"),
        (np.full(M, 1), "expected 2 <= lengths <= T = 30"),
        (np.full(M, T + 1), "expected 2 <= lengths <= T = 30"),
        ("abc", "expected an integer array"),
    ],
)
def test_bad_lengths(lengths, message, key):
    data = tj.simulate(LDS, key, M, T)
    with pytest.raises(ValueError, match=f"^lengths: {message}"):
        tj.log_likelihood(LDS, data, lengths=lengths)


def test_nan_inside_a_trajectory_is_refused(key):
    data, lengths = np.array(tj.simulate(LDS, key, M, T)), _lengths(4)
    data[3, lengths[3] - 1, 0] = np.nan  # the last valid state of trajectory 3
    with pytest.raises(ValueError, match="^data: expected finite values, got 1 NaN/inf"):
        tj.score(LDS, jnp.asarray(data), lengths=lengths)


def test_cramer_rao_ragged_design(key):
    chain = tj.TwoStateChain(theta=0.8)  # I_T = (T−1)/(θ(1−θ))
    lengths = [30, 2, 17, 17, 9]
    expected = 0.8 * 0.2 / sum(L - 1 for L in lengths)
    np.testing.assert_allclose(tj.cramer_rao(chain, 5, 30, lengths=lengths), expected, rtol=1e-12)
    # a matrix I_T: the hand sum of closed forms, and lengths = T against the balanced value
    by_hand = sum(tj.fisher_information(LDS, L) for L in lengths)
    np.testing.assert_allclose(
        tj.cramer_rao(LDS, 5, 30, lengths=lengths), np.trace(np.linalg.inv(by_hand)), rtol=1e-10
    )
    np.testing.assert_allclose(
        tj.cramer_rao(LDS, 5, 30, lengths=[30] * 5), tj.cramer_rao(LDS, 5, 30), rtol=1e-10
    )
    # Monte-Carlo I_T: each distinct length from the same key
    mc = design_information(chain, np.array([9, 17, 17]), method="outer", key=key, num_samples=64)
    kw = dict(method="outer", key=key, num_samples=64)
    by_hand = tj.fisher_information(chain, 9, **kw) + 2 * tj.fisher_information(chain, 17, **kw)
    np.testing.assert_allclose(mc, by_hand, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^lengths: expected 2 <= lengths <= T = 30"):
        tj.cramer_rao(chain, 2, 30, lengths=[31, 5])
    with pytest.raises(ValueError, match=r"^lengths: expected shape \(3,\)"):
        tj.cramer_rao(chain, 3, 30, lengths=[30, 5])


def test_expected_covariance_of_a_ragged_design(key):
    chain = tj.TwoStateChain(theta=0.8)
    data, lengths = tj.simulate(chain, key, M, T), _lengths(5)
    cov = tj.covariance(chain, data, kind="expected", lengths=lengths)
    np.testing.assert_allclose(cov, [[0.8 * 0.2 / np.sum(lengths - 1)]], rtol=1e-12)


# -- an unbalanced real panel: Grunfeld's firms, log investment as AR(1) with an intercept ----
GRUNFELD_LENGTHS = np.array([20, 18, 15, 12, 20, 9, 17, 20, 6, 14, 11])


def _grunfeld():
    sm = pytest.importorskip("statsmodels.api")
    frame = sm.datasets.grunfeld.load_pandas().data.sort_values(["firm", "year"])
    series = np.stack([np.log(g["invest"].to_numpy(float)) for _, g in frame.groupby("firm", sort=True)])
    data = _pad_panel(series[:, :, None], GRUNFELD_LENGTHS)
    rows = [
        (np.stack([np.ones(L - 1), s[: L - 1]], 1), s[1:L])
        for s, L in zip(series, GRUNFELD_LENGTHS, strict=True)
    ]
    return data, rows


def _pad_panel(series, lengths):
    out = series.copy()
    out[np.arange(out.shape[1])[None, :] >= lengths[:, None]] = np.nan
    return jnp.asarray(out)


def _ar1(theta, sigma):
    return tj.DependentRegression(
        theta=jnp.asarray(theta),
        features=lambda z: jnp.stack([jnp.ones_like(z), z], -1),
        noise=tj.noise.Gaussian(sigma),
        dim=1,
    )


def test_unbalanced_panel_against_pooled_ols():
    data, rows = _grunfeld()
    X = np.concatenate([x for x, _ in rows])
    y = np.concatenate([y for _, y in rows])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]  # pooled OLS on the valid rows
    sigma = np.sqrt(np.sum((y - X @ beta) ** 2) / y.shape[0])
    model = _ar1(beta, sigma)
    ll = tj.log_likelihood(model, data, lengths=GRUNFELD_LENGTHS)
    s = tj.score(model, data, lengths=GRUNFELD_LENGTHS)
    for i, (x_i, y_i) in enumerate(rows):
        r = y_i - x_i @ beta
        np.testing.assert_allclose(
            ll[i], np.sum(-0.5 * (r / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))), rtol=1e-12
        )
        np.testing.assert_allclose(s[i], x_i.T @ r / sigma**2, rtol=1e-9, atol=1e-9)
    assert np.abs(s.sum(0)).max() < 1e-9 * np.abs(s).max()  # the pooled OLS solves the score equation
    np.testing.assert_allclose(
        tj.covariance(model, data, lengths=GRUNFELD_LENGTHS), sigma**2 * np.linalg.inv(X.T @ X), rtol=1e-9
    )
    # power: the OLS of the balanced panel cut to the shortest firm does not solve it
    cut = np.concatenate([x[:5] for x, _ in rows]), np.concatenate([y[:5] for _, y in rows])
    other = np.linalg.lstsq(*cut, rcond=None)[0]
    assert np.abs(tj.score(_ar1(other, sigma), data, lengths=GRUNFELD_LENGTHS).sum(0)).max() > 1e-2
