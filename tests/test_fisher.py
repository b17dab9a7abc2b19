"""Fisher information: closed forms of docs/theory.md §1, §2, §4 against independent computations;
scores against finite differences; exact, outer and hessian agree within Monte-Carlo error."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj

P3 = [[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.25, 0.25, 0.5]]
A2 = [[0.6, 0.1], [-0.2, 0.5]]


def test_two_state_exact_fisher_and_cramer_rao():
    model = tj.TwoStateChain(theta=0.8)
    np.testing.assert_allclose(tj.fisher_information(model, 11), [[10 / (0.8 * 0.2)]], rtol=1e-14)
    assert tj.cramer_rao(model, 7, 11) == pytest.approx(0.8 * 0.2 / (7 * 10), rel=1e-14)


@pytest.mark.parametrize("initial", [None, [0.6, 0.3, 0.1]])
def test_markov_chain_fisher_equals_brute_force_over_all_paths(initial):
    # I_T = Σ_paths p(path) s sᵀ, enumerating all K^T paths: no Monte Carlo, no closed form
    model = tj.MarkovChain(P=P3, initial=initial)
    K, T = 3, 5
    paths = jnp.array(list(itertools.product(range(K), repeat=T)), dtype=jnp.int32)
    log_p = jnp.log(model.initial[paths[:, 0]]) + tj.log_likelihood(model, paths)
    assert float(jnp.sum(jnp.exp(log_p))) == pytest.approx(1.0, abs=1e-12)
    s = tj.score(model, paths)
    brute = jnp.einsum("n,ni,nj->ij", jnp.exp(log_p), s, s)
    np.testing.assert_allclose(tj.fisher_information(model, T, method="exact"), brute, rtol=1e-10, atol=1e-12)


def _lds_fisher_numpy(A, x0, v, fisher, T):
    """I_T = σ_φ^{-2} I ⊗ Σ_{t=1}^{T−1} (Σ_t + μ_t μ_tᵀ), Σ_t = v Σ_{k<t−1} A^k A^kᵀ, μ_t = A^{t−1}x0."""
    A, x0 = np.asarray(A), np.asarray(x0)
    d = A.shape[0]
    gram = np.zeros((d, d))
    for t in range(1, T):
        Sigma = sum(v * np.linalg.matrix_power(A, k) @ np.linalg.matrix_power(A, k).T for k in range(t - 1))
        mu = np.linalg.matrix_power(A, t - 1) @ x0
        gram += Sigma + np.outer(mu, mu)
    return fisher * np.kron(np.eye(d), gram)


# (noise, Var w, σ_φ⁻²) from the closed forms of docs/theory.md §4, not from trajax: Gaussian s:
# (s², 1/s²); Student-t ν, s: (ν s²/(ν − 2), (ν + 1)/((ν + 3) s²)); bang-bang ν = 0.5:
# Var = 1 + ν², σ_φ² ≈ 0.3445 (quadrature reference, 4 digits, hence the looser tolerance)
LDS_NOISES = [
    (tj.noise.Gaussian(0.7), 0.49, 1 / 0.49, 1e-12),
    (tj.noise.StudentT(5.0, 1.0), 5 / 3, 6 / 8, 1e-12),
    (tj.noise.BangBang(0.5), 1.25, 1 / 0.3445, 2e-3),
]


@pytest.mark.parametrize("noise, variance, location_fisher, rtol", LDS_NOISES)
def test_lds_fisher_recursion(noise, variance, location_fisher, rtol):
    x0 = jnp.array([1.0, -2.0])
    model = tj.LinearSystem(A=A2, noise=noise, x0=x0)
    expected = _lds_fisher_numpy(A2, x0, variance, location_fisher, 12)
    np.testing.assert_allclose(tj.fisher_information(model, 12), expected, rtol=rtol)


def test_monte_carlo_fisher_standard_error_is_std_over_root_n(key):
    # the MC tests take their tolerance from return_stderr: check it against the per-sample
    # outer products recomputed here from the same trajectories (trajectory i: fold_in(key, i))
    model, T, n = tj.LinearSystem(A=A2, noise=tj.noise.StudentT(5.0)), 10, 500
    mean, se = tj.fisher_information(model, T, method="outer", key=key, num_samples=n, return_stderr=True)
    data = jax.vmap(lambda i: model.sample_trajectory(jax.random.fold_in(key, i), T))(
        jnp.arange(n, dtype=jnp.uint32)
    )
    s = np.asarray(tj.score(model, data))
    outer = np.einsum("ni,nj->nij", s, s)
    np.testing.assert_allclose(mean, outer.mean(0), rtol=1e-10)
    np.testing.assert_allclose(se, outer.std(0, ddof=1) / np.sqrt(n), rtol=1e-10)


def test_lds_fisher_marginally_stable_grows_like_T_squared():
    model = tj.LinearSystem(A=jnp.eye(2))
    ratio = tj.fisher_information(model, 201)[0, 0] / tj.fisher_information(model, 101)[0, 0]
    # Σ_t = (t−1)I, so I_T ∝ Σ_{t<T}(t−1) = (T−1)(T−2)/2
    assert float(ratio) == pytest.approx(200 * 199 / (100 * 99), rel=1e-12)


def _finite_difference_score(model, data, eps=1e-6):
    theta, unravel = tj.ravel(model)
    cols = []
    for i in range(theta.shape[0]):
        step = jnp.zeros_like(theta).at[i].set(eps)
        up = tj.log_likelihood(unravel(theta + step), data)
        down = tj.log_likelihood(unravel(theta - step), data)
        cols.append((up - down) / (2 * eps))
    return jnp.stack(cols, axis=1)


SCORE_MODELS = {
    "two_state": tj.TwoStateChain(theta=0.65),
    "markov": tj.MarkovChain(P=P3),
    "lds_gauss": tj.LinearSystem(A=A2, noise=tj.noise.Gaussian(0.8)),
    "lds_t": tj.LinearSystem(A=A2, noise=tj.noise.StudentT(4.0, 1.1)),
    "lds_laplace": tj.LinearSystem(A=A2, noise=tj.noise.SmoothedLaplace(1.0, 0.7)),
    "lds_bang": tj.LinearSystem(A=A2, noise=tj.noise.BangBang(0.5)),
    "regression": tj.DependentRegression(
        theta=jnp.array([0.5, -0.3]),
        features=lambda z: jnp.stack([jnp.tanh(z), jnp.sin(z)], axis=1),
        noise=tj.noise.StudentT(5.0),
        dim=3,
    ),
}


@pytest.mark.parametrize("name", SCORE_MODELS)
def test_score_matches_finite_differences(name, key):
    model = SCORE_MODELS[name]
    data = tj.simulate(model, key, 6, 15)
    np.testing.assert_allclose(
        tj.score(model, data), _finite_difference_score(model, data), rtol=1e-6, atol=1e-6
    )


FISHER_MODELS = {
    "two_state": (tj.TwoStateChain(theta=0.7), 20),
    "markov": (tj.MarkovChain(P=P3, initial=[0.5, 0.25, 0.25]), 15),
    "lds_gauss": (tj.LinearSystem(A=A2, noise=tj.noise.Gaussian(0.8)), 25),
    "lds_t": (tj.LinearSystem(A=A2, noise=tj.noise.StudentT(5.0)), 25),
    "lds_bang": (tj.LinearSystem(A=A2, noise=tj.noise.BangBang(0.5)), 25),
}


@pytest.mark.parametrize("name", FISHER_MODELS)
def test_outer_hessian_and_exact_agree_within_monte_carlo_error(name, key):
    # error model: each Monte-Carlo entry is a mean over n iid trajectories; it must lie within
    # 4.5 of its own standard errors of the exact value (p² entries, fixed seed)
    model, T = FISHER_MODELS[name]
    exact = tj.fisher_information(model, T, method="exact")
    scale = float(jnp.max(jnp.abs(exact)))
    for method in ("outer", "hessian"):
        mc, se = tj.fisher_information(model, T, method=method, key=key, num_samples=4000, return_stderr=True)
        assert jnp.all(jnp.abs(mc - exact) <= 4.5 * se + 1e-10 * scale), (method, mc, exact, se)
        assert float(jnp.max(se)) < 0.1 * scale  # the comparison has power


def test_dependent_regression_fisher_outer_vs_hessian(key):
    # no closed form (M nonlinear): the two Monte-Carlo estimators must agree, entrywise within
    # 4.5 standard errors of their difference (independent keys)
    model = SCORE_MODELS["regression"]
    k1, k2 = jax.random.split(key)
    a, sa = tj.fisher_information(model, 20, method="outer", key=k1, num_samples=4000, return_stderr=True)
    b, sb = tj.fisher_information(model, 20, method="hessian", key=k2, num_samples=4000, return_stderr=True)
    assert jnp.all(jnp.abs(a - b) <= 4.5 * jnp.sqrt(sa**2 + sb**2))
    assert tj.cramer_rao(model, 10, 20, key=k1) > 0
