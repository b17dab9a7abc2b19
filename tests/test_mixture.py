"""Mixture of Markov chains (docs/theory.md §3): exact Fisher reference values, Monte-Carlo agreement,
label ordering and recovery within a Cramér–Rao band."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj


@pytest.mark.parametrize(
    "T, reference, tol",
    [(5, [[1.64, 0.01], [0.01, 1.24]], 0.006), (100, [[3.124, -0.0008], [-0.0008, 2.083]], 0.0006)],
)
def test_two_state_mixture_fisher_matches_spec_reference(T, reference, tol):
    mix = tj.MarkovChainMixture.two_state(0.8, 0.4)
    np.testing.assert_allclose(tj.fisher_information(mix, T) / (T - 1), reference, atol=tol)


def test_two_state_mixture_fisher_tends_to_half_diagonal():
    mix = tj.MarkovChainMixture.two_state(0.8, 0.4)
    limit = 0.5 * np.diag([1 / (0.8 * 0.2), 1 / (0.4 * 0.6)])
    np.testing.assert_allclose(tj.fisher_information(mix, 2000) / 1999, limit, rtol=2e-3, atol=1e-4)


def test_mixture_exact_fisher_agrees_with_monte_carlo(key):
    # error model: entrywise within 4.5 Monte-Carlo SEs (4000 trajectories)
    mix = tj.MarkovChainMixture.two_state(0.8, 0.4)
    exact = tj.fisher_information(mix, 12)
    for method in ("outer", "hessian"):
        mc, se = tj.fisher_information(mix, 12, method=method, key=key, num_samples=4000, return_stderr=True)
        assert jnp.all(jnp.abs(mc - exact) <= 4.5 * se), (method, mc, exact)


def test_general_mixture_outer_and_hessian_agree(key):
    P = jnp.array(
        [
            [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]],
            [[0.3, 0.4, 0.3], [0.4, 0.3, 0.3], [0.3, 0.3, 0.4]],
        ]
    )
    mix = tj.MarkovChainMixture(P, weights=[0.6, 0.4])
    assert mix.theta.shape == (12,)
    k1, k2 = jax.random.split(key)
    a, sa = tj.fisher_information(mix, 15, method="outer", key=k1, num_samples=3000, return_stderr=True)
    b, sb = tj.fisher_information(mix, 15, method="hessian", key=k2, num_samples=3000, return_stderr=True)
    assert jnp.all(jnp.abs(a - b) <= 4.5 * jnp.sqrt(sa**2 + sb**2))
    assert tj.fisher_information(mix, 15, method="auto", key=k1, num_samples=10).shape == (12, 12)


def test_labels_are_drawn_once_per_trajectory(key):
    mix = tj.MarkovChainMixture.two_state(0.95, 0.05)
    z = tj.simulate(mix, key, 400, 60)
    stays = jnp.mean((z[:, 1:] == z[:, :-1]).astype(float), axis=1)
    # each trajectory is wholly one chain: stay fractions cluster near 0.95 or 0.05, about half each
    assert bool(jnp.all((stays > 0.75) | (stays < 0.25)))
    assert 150 < int(jnp.sum(stays > 0.5)) < 250


def test_mixture_fit_is_ordered_and_within_cramer_rao_band(key):
    # error model: m·ΔᵀI_TΔ ≈ χ²_2 once m ≳ T; it exceeds 20 with probability < 5e-5
    mix = tj.MarkovChainMixture.two_state(0.8, 0.4)
    m, T = 2000, 30
    data = tj.simulate(mix, key, m, T)
    result = tj.fit(mix, data)
    assert bool(result.converged) and result.theta[0] > result.theta[1]
    delta = result.theta - mix.theta
    assert float(m * delta @ tj.fisher_information(mix, T) @ delta) < 20
    swapped = tj.fit(mix, data, init=jnp.array([0.3, 0.9]))  # start with the labels switched
    np.testing.assert_allclose(swapped.theta, result.theta, rtol=1e-6)


def test_mixture_validation():
    with pytest.raises(ValueError, match=r"theta0, theta1: expected values in \(0.0, 1.0\)"):
        tj.MarkovChainMixture.two_state(1.2, 0.3)
    with pytest.raises(ValueError, match="weights: expected rows summing to 1"):
        tj.MarkovChainMixture(jnp.stack([jnp.eye(2)] * 2), weights=[0.3, 0.3])
    with pytest.raises(ValueError, match="P: expected k × K × K"):
        tj.MarkovChainMixture(jnp.ones((2, 2, 3)) / 3)


def test_general_mixture_fit_from_data_driven_start(key):
    # K = 3, k = 2 with distinct components; the start ignores the model's θ (we pass a model
    # whose θ is far off). error model: m·ΔᵀI_TΔ ≈ χ²_12; P(χ²_12 > 45) < 1e-5
    P = jnp.array(
        [
            [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]],
            [[0.2, 0.4, 0.4], [0.4, 0.3, 0.3], [0.3, 0.4, 0.3]],
        ]
    )
    truth = tj.MarkovChainMixture(P)
    k1, k2 = jax.random.split(key)
    m, T = 1500, 40
    data = tj.simulate(truth, k1, m, T)
    wrong = tj.MarkovChainMixture(jnp.full((2, 3, 3), 1 / 3))
    result = tj.fit(wrong, data)
    assert bool(result.converged)
    info = tj.fisher_information(truth, T, method="hessian", key=k2, num_samples=2000)
    delta = result.theta - truth.theta
    assert float(m * delta @ info @ delta) < 45
