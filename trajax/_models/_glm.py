"""Sinusoidal GLM (docs/theory.md §5, paper case 4.3): z_{t+1} = sin(A z_t) + w_t."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _random
from .._checks import as_float_array, check_positive, is_concrete
from .._model import AbstractModel
from ._linear import _check_vectors, gram, matvec, ols_from_gram

__all__ = ["SinusoidalGLM"]

_START_SCALES = (1.0, 1.5, 2.0, 3.0)


class SinusoidalGLM(AbstractModel):
    """Sinusoidal GLM z_{t+1} = sin(A z_t) + w_t, w_t ~ N(0, σ² I), z ∈ R^d (docs/theory.md §5).

    θ = A.ravel(); no stability constraint (A = cI with c > 1 is allowed); rows of A must be
    non-zero. z_1 ~ N(0, σ² I) (choice). The MLE is non-convex nonlinear least squares:
    Newton (Levenberg–Marquardt damped) from the best of the starts s·Â_OLS, s ∈ {1, 1.5, 2, 3}
    (OLS is biased towards 0 because |sin x| < |x|); non-convergence is reported in
    `FitResult.converged`. I_T = σ^{-2} Σ_t E[diag(cos²(A z_t)) ⊗ z_t z_tᵀ] (Monte Carlo).

    Fields: `A` (d, d), `sigma` (scalar), `dim` = d (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> glm = tj.SinusoidalGLM(A=jnp.array([[1.2, 0.3], [-0.2, 1.1]]), sigma=0.5)
        >>> data = tj.simulate(glm, jax.random.key(0), 64, 32)    # (64, 32, 2)
        >>> bool(tj.fit(glm, data).converged)                    # Newton from scaled OLS
        True
    """

    A: Float[Array, "d d"]
    sigma: Float[Array, ""]
    dim: int = eqx.field(static=True)
    parameters = ("A",)
    homogeneous_markov = True
    least_squares_is_mle = True  # Gaussian noise: nonlinear least squares is the MLE
    scale_field = "sigma"

    def __init__(self, A, sigma=1.0):
        A = as_float_array(A, "A", ndim=2)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A: expected a square d×d matrix, got shape {A.shape}")
        if is_concrete(A) and np.any(np.all(np.asarray(A) == 0, axis=1)):
            raise ValueError("A: expected non-zero rows (a zero row makes its coordinate pure noise)")
        self.A = A
        self.sigma = check_positive(as_float_array(sigma, "sigma", ndim=0), "sigma")
        self.dim = A.shape[0]

    def sample_trajectory(self, key, num_steps):
        dtype = self.A.dtype
        z1 = self.sigma * _random.normal(jax.random.fold_in(key, 0), (self.dim,), dtype)
        noise = self.sigma * _random.normal(jax.random.fold_in(key, 1), (num_steps - 1, self.dim), dtype)

        def step(z, w):
            z_next = jnp.sin(matvec(self.A, z)) + w
            return z_next, z_next

        _, rest = jax.lax.scan(step, z1, noise)
        return jnp.concatenate([z1[None], rest])

    def trajectory_log_likelihood(self, z):
        r = (z[1:] - jnp.sin(z[:-1] @ self.A.T)) / self.sigma
        n = r.size
        return -0.5 * jnp.sum(r**2) - n * (jnp.log(self.sigma) + 0.5 * math.log(2 * math.pi))

    def validate_data(self, data):
        _check_vectors(data, self.dim)

    def initial_statistics(self, data):
        """The least-squares Gram matrices of z_{t+1} ≈ A z_t (summable over windows)."""
        return gram(data)

    def initial_theta_from_statistics(self, stats):
        return ols_from_gram(stats)

    def initial_candidates_from_statistics(self, stats):
        """s·Â_OLS for s in (1, 1.5, 2, 3): OLS is biased towards 0 because |sin x| < |x|."""
        ols = ols_from_gram(stats)
        return jnp.stack([s * ols for s in _START_SCALES])
