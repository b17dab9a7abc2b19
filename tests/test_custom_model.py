"""A user-defined model is ONE class: simulate, score, Fisher and fit come for free."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj


class SechAR1(tj.AbstractModel):
    """AR(1) with Laplace-like (hyperbolic secant) noise: z_{t+1} = a z_t + w_t,
    p(w) = sech(w/s)/(π s). Location Fisher of the noise: 1/(2 s²); Var w = π² s²/4."""

    a: jax.Array
    scale: float = eqx.field(static=True)
    parameters = ("a",)

    def __init__(self, a, scale=1.0):
        self.a = jnp.asarray(a, dtype=float)
        self.scale = scale

    def initial_state(self, key):
        return jnp.zeros(())

    def transition(self, key, z, t):
        u = jax.random.uniform(key, dtype=z.dtype, minval=1e-12, maxval=1.0)
        return self.a * z + self.scale * jnp.log(jnp.tan(0.5 * math.pi * u))

    def transition_log_prob(self, z, z_next, t):
        r = (z_next - self.a * z) / self.scale
        log_cosh = jnp.abs(r) + jnp.log1p(jnp.exp(-2 * jnp.abs(r))) - math.log(2.0)
        return -log_cosh - math.log(math.pi * self.scale)


def _closed_form_fisher(a, s, T):
    # I_T = (1/(2s²)) Σ_{t=1}^{T−1} E z_t², E z_t² = v Σ_{k<t−1} a^{2k}, v = π² s²/4
    v = math.pi**2 * s**2 / 4
    return sum(v * sum(a ** (2 * k) for k in range(t - 1)) for t in range(1, T)) / (2 * s**2)


def test_custom_model_gets_the_whole_pipeline(key):
    model = SechAR1(a=0.7, scale=0.5)
    T = 30
    k_sim, k_outer, k_hess = jax.random.split(key, 3)

    data = tj.simulate(model, k_sim, 400, T)
    assert data.shape == (400, T)
    assert tj.log_likelihood(model, data).shape == (400,)

    theta, unravel = tj.ravel(model)
    np.testing.assert_allclose(theta, [0.7])
    eps = 1e-6
    fd = (tj.log_likelihood(unravel(theta + eps), data) - tj.log_likelihood(unravel(theta - eps), data)) / (
        2 * eps
    )
    np.testing.assert_allclose(tj.score(model, data)[:, 0], fd, rtol=1e-6, atol=1e-6)

    # error model: Monte-Carlo Fisher within 4 of its standard errors of the closed form
    exact = _closed_form_fisher(0.7, 0.5, T)
    for method, k in (("outer", k_outer), ("hessian", k_hess)):
        info, se = tj.fisher_information(model, T, method=method, key=k, num_samples=4000, return_stderr=True)
        assert abs(float(info[0, 0]) - exact) < 4 * float(se[0, 0]), (method, info, exact, se)
    with pytest.raises(ValueError, match="'exact' is not available for SechAR1"):
        tj.fisher_information(model, T, method="exact")

    # fit (Newton from the model's own θ, its default start) lands in a Cramér–Rao band:
    # m·I_T·Δ² ≈ χ²_1, which exceeds 16 with probability < 1e-4
    result = tj.fit(SechAR1(a=0.2, scale=0.5), data)
    assert bool(result.converged) and isinstance(result.model, SechAR1)
    delta = float(result.theta[0]) - 0.7
    assert 400 * exact * delta**2 < 16
