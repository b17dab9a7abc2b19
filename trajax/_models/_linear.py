"""Linear dynamical systems and dependent regression with product noise (docs/theory.md §4)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._checks import as_float_array
from .._model import AbstractModel
from .._noise import AbstractNoise, Gaussian

__all__ = ["LinearSystem", "DependentRegression"]

_SMALL_WINDOW = 8192  # transitions: up to this, objective_terms puts coordinates first


def _check_noise(noise) -> AbstractNoise:
    if not isinstance(noise, AbstractNoise):
        raise ValueError(
            f"noise: expected a trajax.noise family (Gaussian, StudentT, SmoothedLaplace, "
            f"BangBang), got {type(noise).__name__}"
        )
    return noise


def matvec(M, x):
    """M @ x as a multiply-and-sum: unlike a dot, its rounding does not depend on the vmap
    batch width, so simulations are bit-identical whatever the chunking."""
    return jnp.sum(M * x, axis=-1)


def _linear_recursion(model, key, num_steps: int, mean):
    """z_1 = x0, z_{t+1} = mean(z_t) + w_t with w = noise.sample(fold_in(key, 1), (T−1, d))."""
    if not jax.config.jax_threefry_partitionable:
        raise ValueError(
            "jax_threefry_partitionable: trajax needs element-indexed random bits (the JAX "
            "default) for the prefix property; set jax.config.update('jax_threefry_partitionable', True)"
        )
    noise = model.noise.sample(jax.random.fold_in(key, 1), (num_steps - 1, model.dim), model.x0.dtype)
    return recurse(model.x0, noise, mean)


def recurse(x0, noise, mean):
    """z_1 = x0, z_{t+1} = mean(z_t) + w_t for the given noise (T − 1, d): one trajectory."""

    def step(z, w):
        z_next = mean(z) + w
        return z_next, z_next

    _, rest = jax.lax.scan(step, x0, noise)
    return jnp.concatenate([x0[None], rest])


def gram(data):
    """(Σ z_t z_tᵀ, Σ z_t z_{t+1}ᵀ) over the transitions of data (m, T, d): the least-squares
    statistics (einsums on the (m, T, d) layout, for small windows and large chunks alike)."""
    X, Y = data[:, :-1], data[:, 1:]
    return jnp.einsum("mti,mtj->ij", X, X), jnp.einsum("mti,mtj->ij", X, Y)


def solve_gram(G, rhs):
    """G⁻¹ rhs for a symmetric positive semi-definite Gram matrix G, or NaN when G is numerically
    singular (eigenvalues spanning more than the floating-point precision resolves, as for an
    explosive process whose states outgrow every other direction): then the least-squares
    estimate is not determined, and a NaN makes the fit report it (`RESULTS.nonfinite`, or
    `RESULTS.singular_start` for a Newton start) instead of returning rounding noise."""
    eigenvalues = jnp.linalg.eigvalsh(G)
    resolved = eigenvalues[0] > G.shape[0] * jnp.finfo(G.dtype).eps * eigenvalues[-1]
    return jnp.where(resolved, jnp.linalg.solve(G, rhs), jnp.nan)


def ols_from_gram(stats):
    """The least-squares A (row-major, flat) of z_{t+1} ≈ A z_t from summed `gram` (NaN when the
    Gram matrix is numerically singular, see `solve_gram`)."""
    XX, XY = stats
    return solve_gram(XX, XY).T.ravel()


def _check_vectors(data, dim: int) -> None:
    shape = jnp.shape(data)
    if len(shape) != 3 or shape[-1] != dim:
        raise ValueError(f"data: expected shape (m, T, {dim}), got {shape}")


class LinearSystem(AbstractModel):
    """Linear dynamical system z_{t+1} = A z_t + w_t, z ∈ R^d (docs/theory.md §4).

    w_t has iid coordinates from `noise` (density ∝ exp(−φ)). θ = A.ravel() (row-major,
    p = d²). z_1 = `x0` (default zeros). The MLE minimises Σ_t Σ_j φ(z_{t+1} − A z_t)_j:
    ordinary least squares when the noise is Gaussian, Newton from the OLS start otherwise.
    I_T = σ_φ^{-2} I_d ⊗ Σ_{t=1}^{T−1} E[z_t z_tᵀ], where E[z_t z_tᵀ] = Σ_t + μ_t μ_tᵀ,
    Σ_1 = 0, Σ_{t+1} = A Σ_t Aᵀ + v I (v = Var w), μ_t = A^{t−1} x0.

    Fields: `A` (d, d), `noise`, `x0` (d,), `dim` = d (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> lds = tj.LinearSystem(A=jnp.array([[0.6, 0.1], [0.0, 0.5]]),
        ...                       noise=tj.noise.StudentT(df=5.0))
        >>> data = tj.simulate(lds, jax.random.key(0), 64, 100)   # (64, 100, 2)
        >>> fit = tj.fit(lds, data)                              # Newton from OLS
    """

    A: Float[Array, "d d"]
    noise: AbstractNoise
    x0: Float[Array, " d"]
    dim: int = eqx.field(static=True)
    parameters = ("A",)
    homogeneous_markov = True
    scale_field = "noise.scale"

    def __init__(self, A, noise=None, x0=None):
        A = as_float_array(A, "A", ndim=2)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A: expected a square d×d matrix, got shape {A.shape}")
        d = A.shape[0]
        self.A = A
        self.noise = _check_noise(Gaussian(jnp.ones((), A.dtype)) if noise is None else noise)
        self.x0 = jax.device_put(np.zeros(d, A.dtype)) if x0 is None else as_float_array(x0, "x0", shape=(d,))
        self.dim = d

    def sample_trajectory(self, key, num_steps):
        """All T − 1 noise vectors are drawn at once (one vectorised draw instead of T small
        ones; far faster for rejection samplers such as Student-t), then the recursion is
        scanned. Element-indexed (partitionable) threefry keeps the prefix property in T."""
        return _linear_recursion(self, key, num_steps, lambda z: matvec(self.A, z))

    def transition_log_prob(self, z, z_next, t):
        return jnp.sum(self.noise.log_prob(z_next - self.A @ z))

    def trajectory_log_likelihood(self, z: Float[Array, "T d"]):
        residuals = z[1:] - z[:-1] @ self.A.T
        return jnp.sum(self.noise.log_prob(residuals))

    def validate_data(self, data):
        _check_vectors(data, self.dim)

    def second_moments(self, num_steps: int) -> Float[Array, "T d d"]:
        """E[z_t z_tᵀ] for t = 1..num_steps."""
        v = self.noise.variance()
        eye = jnp.eye(self.dim, dtype=self.A.dtype)

        def step(carry, _):
            Sigma, mu = carry
            nxt = (self.A @ Sigma @ self.A.T + v * eye, self.A @ mu)
            return nxt, Sigma + jnp.outer(mu, mu)

        _, moments = jax.lax.scan(step, (jnp.zeros_like(eye), self.x0), None, length=num_steps)
        return moments

    def exact_fisher(self, num_steps):
        gram = self.second_moments(num_steps - 1).sum(0)
        eye = jnp.eye(self.dim, dtype=self.A.dtype)
        return jnp.kron(self.noise.location_fisher() * eye, gram)

    def objective_terms(self, u, data):
        """Fused Newton terms of f(A) = mean Σ_j φ(z_{t+1} − A z_t)_j per transition: rows of A
        decouple, so ∇f_j = −Σ_t φ'(r_tj) z_t / n and ∇²f is block diagonal with blocks
        Σ_t φ''(r_tj) z_t z_tᵀ / n (one pass over the data instead of a dense autodiff Hessian).

        Two layouts of the same sums, picked by size (both measured in
        benchmarks/bench_kernels.py): the small windows of a windowed sweep
        (`trajax/_windows.py`) put coordinates first, so the reductions run along contiguous
        memory; whole data sets use einsums on the (m, T, d) layout, which avoid transposing a
        large array (faster there; figures in docs/performance.md)."""
        d = self.dim
        A = u.reshape(d, d)
        m, T = data.shape[:2]
        n = m * (T - 1)

        def derivatives(R):
            phi, psi, weight = self.noise.phi_derivatives(R)
            return jnp.sum(phi) / n, psi, weight

        if n <= _SMALL_WINDOW:
            Z = jnp.moveaxis(data, -1, 0)  # (d, m, T)
            X, Y = Z[:, :, :-1].reshape(d, n), Z[:, :, 1:].reshape(d, n)
            value, psi, weight = derivatives(Y - jnp.sum(A[:, :, None] * X[None, :, :], axis=1))
            grad = -(psi @ X.T).ravel() / n
            blocks = jnp.einsum("jn,in,kn->jik", weight, X, X) / n
        else:
            X, Y = data[:, :-1], data[:, 1:]
            value, psi, weight = derivatives(Y - jnp.einsum("mti,ji->mtj", X, A))
            grad = -jnp.einsum("mtj,mti->ji", psi, X).ravel() / n
            blocks = jnp.einsum("mtji,mtk->jik", weight[..., None] * X[..., None, :], X) / n
        return value, grad, jax.scipy.linalg.block_diag(*blocks)

    def sufficient_statistics(self, data):
        """(Σ z_t z_tᵀ, Σ z_t z_{t+1}ᵀ): sufficient for the Gaussian MLE (OLS)."""
        return gram(data) if isinstance(self.noise, Gaussian) else None

    def mle_from_statistics(self, stats):
        return ols_from_gram(stats)

    def initial_statistics(self, data):
        """The least-squares Gram matrices: OLS, the Newton start, from summed windows."""
        return gram(data)

    def initial_theta_from_statistics(self, stats):
        return ols_from_gram(stats)

    def least_squares_from_statistics(self, stats):
        """Ordinary least squares of z_{t+1} on z_t (the MLE only for Gaussian noise)."""
        return ols_from_gram(stats)


class DependentRegression(AbstractModel):
    """Dependent regression z_{t+1} = M(z_t) θ + w_t, z ∈ R^d, θ ∈ R^p (docs/theory.md §4).

    `features` is a known (possibly nonlinear) map z ↦ M(z) of shape (d, p); w_t has iid
    coordinates from `noise`. z_1 = `x0` (default zeros; give `x0` or `dim`). The MLE is least
    squares for Gaussian noise, Newton from the least-squares start otherwise.
    I_T = σ_φ^{-2} Σ_t E[M(z_t)ᵀ M(z_t)] has no closed form in general (Monte-Carlo Fisher).

    Fields: `coef` (p,) (the constructor's `theta`), `noise`, `x0` (d,), `features` (static),
    `dim` = d (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> features = lambda z: jnp.stack([z, jnp.sin(z)], axis=-1)   # M(z): (d, p) = (1, 2)
        >>> model = tj.DependentRegression(theta=jnp.array([0.5, 0.3]), features=features, dim=1)
        >>> data = tj.simulate(model, jax.random.key(0), 50, 100)      # (50, 100, 1)
        >>> tj.fit(model, data).theta.shape                 # least squares (Gaussian noise)
        (2,)
    """

    coef: Float[Array, " p"]
    noise: AbstractNoise
    x0: Float[Array, " d"]
    features: Callable = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    parameters = ("coef",)
    homogeneous_markov = True
    scale_field = "noise.scale"

    def __init__(self, theta, features, noise=None, x0=None, dim=None):
        coef = as_float_array(theta, "theta", ndim=1)
        if not callable(features):
            raise ValueError(f"features: expected a callable z ↦ M(z), got {type(features).__name__}")
        if x0 is None and dim is None:
            raise ValueError("x0: give the initial state x0 (d,) or the state dimension dim")
        if x0 is None:
            x0 = jnp.zeros(int(dim), coef.dtype)
        x0 = as_float_array(x0, "x0", ndim=1)
        d, p = x0.shape[0], coef.shape[0]
        out = jax.eval_shape(features, x0)
        if out.shape != (d, p):
            raise ValueError(f"features: expected M(z) of shape ({d}, {p}), got {out.shape}")
        self.coef = coef
        self.features = features
        self.noise = _check_noise(Gaussian(jnp.ones((), coef.dtype)) if noise is None else noise)
        self.x0 = x0
        self.dim = d

    def sample_trajectory(self, key, num_steps):
        """Noise drawn at once, recursion scanned (see `LinearSystem.sample_trajectory`)."""
        return _linear_recursion(self, key, num_steps, lambda z: matvec(self.features(z), self.coef))

    def transition_log_prob(self, z, z_next, t):
        return jnp.sum(self.noise.log_prob(z_next - self.features(z) @ self.coef))

    def validate_data(self, data):
        _check_vectors(data, self.dim)

    def _least_squares_statistics(self, data):
        """(Σ M(z_t)ᵀ M(z_t), Σ M(z_t)ᵀ z_{t+1}) over the transitions of data."""
        M = jax.vmap(jax.vmap(self.features))(data[:, :-1])  # (m, T-1, d, p)
        return jnp.einsum("mtdp,mtdq->pq", M, M), jnp.einsum("mtdp,mtd->p", M, data[:, 1:])

    def sufficient_statistics(self, data):
        """The least-squares statistics: sufficient for the Gaussian MLE."""
        return self._least_squares_statistics(data) if isinstance(self.noise, Gaussian) else None

    def mle_from_statistics(self, stats):
        gram, rhs = stats
        return solve_gram(gram, rhs)

    def initial_statistics(self, data):
        """The least-squares statistics, for the Newton start (summable over windows)."""
        return self._least_squares_statistics(data)

    def initial_theta_from_statistics(self, stats):
        return self.mle_from_statistics(stats)

    def least_squares_from_statistics(self, stats):
        """Least squares of z_{t+1} on M(z_t) (the MLE only for Gaussian noise)."""
        return self.mle_from_statistics(stats)
