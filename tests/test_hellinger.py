"""Squared Hellinger distance between path laws (SPEC §0 convention, range [0, 2])."""

import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj


def test_two_state_hellinger_matches_exact_value(key):
    # given z_1 the path law is a product over T−1 steps, so the affinity is
    # (√(θθ') + √((1−θ)(1−θ')))^{T−1} and d_H² = 2 − 2·affinity exactly.
    # error model: the Monte-Carlo mean within 4 of its standard errors.
    a, b, T = 0.8, 0.65, 20
    exact = 2 - 2 * (np.sqrt(a * b) + np.sqrt((1 - a) * (1 - b))) ** (T - 1)
    d2, se = tj.hellinger(tj.TwoStateChain(theta=a), tj.TwoStateChain(theta=b), T, key=key, num_samples=20000)
    assert abs(float(d2) - exact) < 4 * float(se) and float(se) < 0.05 * exact


def test_local_hellinger_is_a_quarter_of_the_fisher_form(key):
    # d_H² ≈ ¼ ΔᵀI_TΔ for small Δ (the local expansion of SPEC §0)
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    delta = jnp.array([0.01, -0.01, 0.005, 0.01])
    other = lds.with_theta(lds.theta + delta)
    d2, se = tj.hellinger(lds, other, 50, key=key, num_samples=20000)
    local = 0.25 * float(delta @ tj.fisher_information(lds, 50) @ delta)
    assert abs(float(d2) - local) < 4 * float(se) + 0.05 * local


def test_hellinger_of_identical_models_is_zero_and_kinds_must_match(key):
    chain = tj.TwoStateChain(theta=0.7)
    d2, se = tj.hellinger(chain, chain, 10, key=key, num_samples=100)
    assert float(d2) == 0.0 and float(se) == 0.0
    with pytest.raises(ValueError, match="model_b: expected the same model kind"):
        tj.hellinger(chain, tj.LinearSystem(A=jnp.eye(1)), 10, key=key, num_samples=10)
