"""A fit is `successful` only at a local maximum: second-order acceptance, escapes from saddle
points, several starts, and `not_a_maximum` counted like every other failure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catalogue import SYMMETRIC_STARTS

import trajax as tj
from trajax import _second_order, _solvers
from trajax._estimate import estimate
from trajax._fit import make_plan
from trajax._simulate import simulate
from trajax._solvers import Newton
from trajax._sources import Whole

DEFAULT_ESCAPES = _solvers.MAX_ESCAPES


def _double_well(u):
    """f(u) = u₀² + (u₁² − 1)²: a saddle at the origin (curvature −4 along u₁), minima at u₁ = ±1."""
    return u[0] ** 2 + (u[1] ** 2 - 1) ** 2


def _solve_double_well(u0):
    terms = lambda u: (_double_well(u), jax.grad(_double_well)(u), jax.hessian(_double_well)(u))
    return _second_order.solve(
        lambda u: Newton(100, 1e-10, 1.5e-8).minimise(terms, u),
        None,  # Newton holds the Hessian
        jax.vmap(_double_well),
        u0,
        1e-10,
    )


def test_a_saddle_is_escaped_along_negative_curvature():
    solution = _solve_double_well(jnp.zeros(2))
    assert solution.result == tj.RESULTS.successful
    np.testing.assert_allclose(jnp.abs(solution.u), [0.0, 1.0], atol=1e-8)
    assert float(solution.value) < 1e-15


def test_a_saddle_left_unescaped_is_not_a_maximum(monkeypatch):
    monkeypatch.setattr(_solvers, "MAX_ESCAPES", 0)
    solution = _solve_double_well(jnp.zeros(2))
    assert solution.result == tj.RESULTS.not_a_maximum
    assert float(solution.grad_inf) == 0.0  # the gradient test alone would have called it a success


class RidgeAR(tj.AbstractModel):
    """z_{t+1} = (a + b) z_t + w_t: only a + b is identified, every point of the line a + b = ĉ is
    a maximum with a flat direction."""

    ab: jax.Array
    parameters = ("ab",)

    def initial_state(self, key):
        return jax.random.normal(key, dtype=self.ab.dtype)

    def transition(self, key, z, t):
        return (self.ab[0] + self.ab[1]) * z + jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return -0.5 * (z_next - (self.ab[0] + self.ab[1]) * z) ** 2 - 0.5 * jnp.log(2 * jnp.pi)


def test_a_flat_ridge_is_not_a_maximum(key):
    model = RidgeAR(ab=jnp.array([0.3, 0.2]))
    result = tj.fit(model, tj.simulate(model, key, 20, 50))
    assert float(result.grad_norm) < 1e-8  # the gradient test holds ...
    assert result.result == tj.RESULTS.not_a_maximum  # ... but θ̂ is not identified
    assert "starts" in result.message and "not a local maximum" in result.message
    assert not bool(result.converged)


def test_hmm_from_its_symmetric_default_start_reaches_the_maximum():
    """The one-class Gaussian HMM starts at from_unconstrained(0), where both hidden states are
    identical and the gradient vanishes (a saddle: the observed information there has a negative
    eigenvalue). The fit escapes and reaches the MLE that a start at the truth finds."""
    model = SYMMETRIC_STARTS["gaussian_hmm"]()
    data = tj.simulate(model, jax.random.key(0), 100, 30)
    result = tj.fit(model, data)
    from_truth = tj.fit(model, data, init="model")
    assert result.result == tj.RESULTS.successful and from_truth.result == tj.RESULTS.successful
    # the same maximum up to labels: likelihoods equal to the solver's tolerance
    np.testing.assert_allclose(result.log_likelihood, from_truth.log_likelihood, rtol=1e-9)
    assert np.linalg.eigvalsh(np.asarray(result.information))[0] > 0
    assert np.all(np.isfinite(result.stderr))
    # the symmetric point it escaped from: separated means
    assert abs(float(result.theta[2] - result.theta[3])) > 1.0
    # several starts: the same maximum, every start counted
    several = tj.fit(model, data, starts=3)
    assert several.result == tj.RESULTS.successful and int(several.successful_starts) >= 1
    assert int(several.num_steps) >= int(result.num_steps)
    np.testing.assert_allclose(several.log_likelihood, from_truth.log_likelihood, rtol=1e-9)


def _mixture_fit(max_escapes, monkeypatch):
    """Replicate 180 of 200 (key 2) of the two-state mixture at T = 4, m = 2048: its fit from the
    spread start stops at θ₀ = θ₁, a saddle. A fresh trace per call (the escape count is read
    when the program is traced)."""
    monkeypatch.setattr(_solvers, "MAX_ESCAPES", max_escapes)
    mix = SYMMETRIC_STARTS["two_state_mixture_T4"]()
    data = simulate(mix, jax.random.split(jax.random.key(2), 200)[180], 2048, 4)
    plan, _ = make_plan(mix, data)
    return jax.jit(lambda d: estimate(mix, Whole(d), plan))(data)


def test_mixture_at_its_symmetric_point(monkeypatch):
    stuck = _mixture_fit(0, monkeypatch)
    assert stuck.result == tj.RESULTS.not_a_maximum  # was `successful` before second-order acceptance
    np.testing.assert_allclose(stuck.theta[0], stuck.theta[1], atol=1e-6)
    escaped = _mixture_fit(DEFAULT_ESCAPES, monkeypatch)
    assert escaped.result == tj.RESULTS.successful
    assert float(escaped.log_likelihood) > float(stuck.log_likelihood)
    assert abs(float(escaped.theta[0] - escaped.theta[1])) > 0.1


def test_not_a_maximum_is_counted_in_a_sweep(key):
    model = RidgeAR(ab=jnp.array([0.3, 0.2]))
    result = tj.sweep(model, m=[8], T=[20], replicates=4, key=key, progress=False, fisher_samples=64)
    row = result.table[0]
    assert row["failed_not_a_maximum"] == 4 and row["failed"] == 4


def test_starts_option_is_checked():
    model = SYMMETRIC_STARTS["gaussian_hmm"]()
    data = jnp.zeros((2, 5))
    with pytest.raises(ValueError, match="starts"):
        tj.fit(model, data, starts=0)
    chain = tj.TwoStateChain(theta=0.7)
    with pytest.raises(ValueError, match="starts: several starts need an iterative method"):
        tj.fit(chain, tj.simulate(chain, jax.random.key(0), 4, 5), starts=2)
    with pytest.raises(ValueError, match="starts"):
        tj.sweep(model, m=[2], T=[5], replicates=2, key=jax.random.key(0), fit_options={"starts": -1})


@pytest.mark.slow
def test_hmm_sweep_counts_no_saddle_as_a_success():
    """The sweep of the one-class HMM that reported 10 of 10 fits converged at the saddle and a
    ratio of 1370: every fit now escapes to the maximum. Error model: with R = 10 replicates the
    ratio's sampling spread is wide, so the bound is loose (≤ 5) but far below a saddle's 1370.
    The labels are fixed by `canonical_theta` (states ordered by their means)."""
    model = SYMMETRIC_STARTS["gaussian_hmm"](ordered=True)
    result = tj.sweep(model, m=[100], T=[30], replicates=10, key=jax.random.key(3), progress=False,
                      fisher_samples=500)  # fmt: skip
    row = result.table[0]
    assert row["failed"] == 0, row
    assert row["ratio"] < 5, row


def test_starts_in_a_config(tmp_path):
    from trajax._config import ConfigError, read_config

    head = '[model]\nname = "two_state_mixture"\ntheta0 = 0.8\ntheta1 = 0.4\n[sweep]\nm = [4]\nT = [4]\nreplicates = 2\n'
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(head + "[fit]\nstarts = 3\n")
    bad.write_text(head + "[fit]\nstarts = 0\n")
    assert read_config(good)["fit"]["starts"] == 3
    with pytest.raises(ConfigError, match=r"^fit\.starts: expected an integer >= 1, got 0$"):
        read_config(bad)
