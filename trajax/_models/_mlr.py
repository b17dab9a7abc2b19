"""Mixed linear regression with two symmetric components (docs/theory.md §7) and its recursive estimator."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, Int

from .. import _random
from .._checks import as_float_array, check_open_interval, check_positive, is_concrete
from .._model import AbstractModel
from ._linear import matvec

__all__ = ["MixedLinearRegression"]


class MixedLinearRegression(AbstractModel):
    """y_{n+1} = s_{n+1} β*ᵀ φ_n + w_{n+1}, s = ±1 iid with P(s = +1) = p ≠ ½, w ~ N(0, σ²).

    The regressors follow φ_{n+1} = a φ_n + n^{−γ} e_{n+1}, e ~ N(0, I), from φ_1 ~ N(0, I)
    (choice); a = 0.8, γ = 0.1 is the seed paper's weakly exciting simulation. Data is a dict
    with `phi` (m, T, d), `y` (m, T) (y_1 = 0) and the latent signs `s` (m, T) (s_1 = 0), kept
    for clustering diagnostics only: no likelihood or estimator reads `s`.

    The log-likelihood (conditional on z_1; the regressor law does not depend on β) is
    Σ_n log[p N(y_{n+1}; βᵀφ_n, σ²) + (1−p) N(y_{n+1}; −βᵀφ_n, σ²)]. θ = β. The batch MLE
    runs Newton from the least-squares start θ̂_LS/(2p−1); `fit(..., method="recursive")` runs
    the paper's recursive estimator (`recursive_estimates`).

    Fields: `beta` (d,), `p`, `sigma`, `a`, `gamma` (scalars), `dim` = d (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> mlr = tj.MixedLinearRegression(beta=jnp.array([1.0, -0.5]), p=0.6)
        >>> data = tj.simulate(mlr, jax.random.key(0), 20, 200)
        >>> sorted(data), data["phi"].shape
        (['phi', 's', 'y'], (20, 200, 2))
        >>> tj.fit(mlr, data).theta.shape                    # Newton from LS/(2p − 1)
        (2,)
    """

    beta: Float[Array, " d"]
    p: Float[Array, ""]
    sigma: Float[Array, ""]
    a: Float[Array, ""]
    gamma: Float[Array, ""]
    dim: int = eqx.field(static=True)
    parameters = ("beta",)

    def __init__(self, beta, p=0.6, sigma=1.0, a=0.8, gamma=0.1):
        self.beta = as_float_array(beta, "beta", ndim=1)
        self.p = check_open_interval(as_float_array(p, "p", ndim=0), "p", 0.0, 1.0)
        if is_concrete(self.p) and abs(float(self.p) - 0.5) < 1e-12:
            raise ValueError("p: expected P(s = +1) != 0.5 (with p = 0.5 the sign of β is not identifiable)")
        self.sigma = check_positive(as_float_array(sigma, "sigma", ndim=0), "sigma")
        self.a = check_open_interval(as_float_array(a, "a", ndim=0), "a", -1.0, 1.0)
        self.gamma = as_float_array(gamma, "gamma", ndim=0)
        self.dim = self.beta.shape[0]

    # -- sampling and likelihood ---------------------------------------------------------
    def sample_trajectory(self, key, num_steps):
        dtype, d = self.beta.dtype, self.dim
        phi1 = _random.normal(jax.random.fold_in(key, 0), (d,), dtype)
        e = _random.normal(jax.random.fold_in(key, 1), (num_steps - 1, d), dtype)
        plus = jax.random.bernoulli(jax.random.fold_in(key, 2), self.p, (num_steps - 1,))
        s = jnp.where(plus, 1, -1).astype(jnp.int32)
        w = self.sigma * _random.normal(jax.random.fold_in(key, 3), (num_steps - 1,), dtype)
        n = jnp.arange(1, num_steps, dtype=dtype)

        def step(phi, inputs):
            e_next, n_t = inputs
            phi_next = self.a * phi + n_t ** (-self.gamma) * e_next
            return phi_next, phi_next

        _, rest = jax.lax.scan(step, phi1, (e, n))
        phi = jnp.concatenate([phi1[None], rest])
        y = s.astype(dtype) * matvec(phi[:-1], self.beta) + w
        return {
            "phi": phi,
            "y": jnp.concatenate([jnp.zeros((1,), dtype), y]),
            "s": jnp.concatenate([jnp.zeros((1,), jnp.int32), s]),
        }

    def trajectory_log_likelihood(self, z):
        mean = z["phi"][:-1] @ self.beta
        y = z["y"][1:]
        log_norm = -jnp.log(self.sigma) - 0.5 * math.log(2 * math.pi)
        plus = jnp.log(self.p) - 0.5 * ((y - mean) / self.sigma) ** 2
        minus = jnp.log1p(-self.p) - 0.5 * ((y + mean) / self.sigma) ** 2
        return jnp.sum(logsumexp(jnp.stack([plus, minus]), axis=0) + log_norm)

    def validate_data(self, data):
        if not isinstance(data, dict) or not {"phi", "y"} <= set(data):
            raise ValueError("data: expected a dict with 'phi' (m, T, d) and 'y' (m, T)")
        if jnp.shape(data["phi"])[-1] != self.dim or jnp.ndim(data["phi"]) != 3:
            raise ValueError(
                f"data: expected data['phi'] of shape (m, T, {self.dim}), got {jnp.shape(data['phi'])}"
            )

    # -- estimators ----------------------------------------------------------------------
    def _flat(self, data):
        phi = data["phi"][:, :-1].reshape(-1, self.dim)
        y = data["y"][:, 1:].reshape(-1)
        return phi, y

    def initial_theta(self, data):
        phi, y = self._flat(data)
        ls = jnp.linalg.solve(phi.T @ phi, phi.T @ y)
        return ls / (2 * self.p - 1)

    def recursive_estimates(
        self, data, *, delta: float = 0.0, rho: float = 0.6, q_scale: float = 4.0, p0: float = 100.0
    ):
        """The recursive two-step estimator over all transitions, trajectory after trajectory.

        For n = 1, 2, … with regressor φ_n and response y_{n+1}:
          1. recursive least squares for θ ≈ (2p−1)β with gain g = 1/(n^δ + φᵀPφ):
             θ ← θ + g P φ (y − θᵀφ),  P ← P − g P φ φᵀ P  (θ_0 = 0, P_0 = p0·I);
          2. q ≈ 1/(2p−1) by an EM-style stochastic approximation (Robbins–Monro on the EM
             fixed-point equation E[u·y·tanh(q·u·y/σ² + h) − q·u²] = 0): with u = θᵀφ,
             h = ½·log(p/(1−p)) and D = Σ u²,
             q ← Proj_[1, Q_n](q + n^{−ρ}·(u·y·tanh(q·u·y/σ² + h) − q·u²)/(D/n));
          3. β_n = q_n θ_n.
        Choices where the paper's gains are not recoverable: δ = 0 (plain RLS gain); ρ = 0.6
        (a step that forgets the poor early iterates faster than a running average); the prior
        offset h inside tanh (tanh(μy/σ² + h) = E[s | y], so E[y·tanh(·)] = βᵀφ exactly and
        q* = 1/(2p−1) is the fixed point; without h, as in the p = ½ formula, q is biased low
        when p ≠ ½); and the projection bound Q_n = q_scale·√log(n + e) instead of √log(n + e),
        which stays below 1/(2p−1) = 5 (p = 0.6) until n ≈ e^25 and would stall the estimate.

        Returns a dict of arrays over n: `theta` (N, d), `q` (N,), `beta` (N, d).
        """
        phi, y = self._flat(data)
        dtype, d = self.beta.dtype, self.dim
        sigma2 = self.sigma**2
        prior = 0.5 * (jnp.log(self.p) - jnp.log1p(-self.p))

        def step(carry, inputs):
            theta, P, den, q = carry
            phi_n, y_n, n = inputs
            Pphi = P @ phi_n
            g = 1.0 / (n**delta + phi_n @ Pphi)
            theta = theta + g * Pphi * (y_n - theta @ phi_n)
            P = P - g * jnp.outer(Pphi, Pphi)
            u = theta @ phi_n
            residual = u * y_n * jnp.tanh(q * u * y_n / sigma2 + prior) - q * u**2
            den = den + u**2  # running Σ u², normalises the step
            step_size = n ** (-rho) * n / jnp.maximum(den, jnp.finfo(dtype).tiny)
            bound = q_scale * jnp.sqrt(jnp.log(n + math.e))
            q = jnp.clip(q + step_size * residual, 1.0, bound)
            return (theta, P, den, q), (theta, q)

        n = jnp.arange(1, y.shape[0] + 1, dtype=dtype)
        init = (jnp.zeros(d, dtype), p0 * jnp.eye(d, dtype=dtype), jnp.zeros((), dtype), jnp.ones((), dtype))
        _, (thetas, qs) = jax.lax.scan(step, init, (phi, y, n))
        return {"theta": thetas, "q": qs, "beta": qs[:, None] * thetas}

    def recursive_estimate(self, data):
        """Final β of `recursive_estimates` (used by `fit(..., method="recursive")`)."""
        return self.recursive_estimates(data)["beta"][-1]

    def cluster_labels(self, data, beta=None) -> Int[Array, "m T1"]:
        """ŝ_{n+1} = sign(y_{n+1} βᵀφ_n) for every transition (β defaults to this model's)."""
        beta = self.beta if beta is None else beta
        score = data["y"][:, 1:] * (data["phi"][:, :-1] @ beta)
        return jnp.where(score >= 0, 1, -1)

    def bayes_labels(self, data) -> Int[Array, "m T1"]:
        """The Bayes classifier with the true β, p, σ: ŝ = +1 iff
        log(p/(1−p)) + 2 y βᵀφ/σ² > 0."""
        score = data["y"][:, 1:] * (data["phi"][:, :-1] @ self.beta)
        log_odds = jnp.log(self.p) - jnp.log1p(-self.p) + 2 * score / self.sigma**2
        return jnp.where(log_odds > 0, 1, -1)
