"""Covariances of an estimate from the user's own data (docs/theory.md §9): observed, expected, outer
product of gradients and sandwich, for trajectories of one length or of different lengths."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from ._checks import is_concrete
from ._fisher import design_information
from ._likelihood import (
    _score,
    check_ragged_data,
    length_groups,
    trajectory_log_likelihood_at,
)
from ._model import AbstractModel

__all__ = [
    "covariance",
    "observed_information",
    "inverse_information",
    "stderr_from_information",
    "KINDS",
]

KINDS = ("observed", "expected", "opg", "sandwich")


def _symmetric(M: Array) -> Array:
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))


@eqx.filter_jit
def _negative_hessian(model, data, lengths):
    """−∇²_θ Σ_i ℓ_i of one chunk (one Hessian of the summed log-likelihood)."""

    def total(theta):
        if lengths is None:
            per = jax.vmap(lambda z: trajectory_log_likelihood_at(model, theta, z))(data)
        else:
            per = jax.vmap(lambda z, L: trajectory_log_likelihood_at(model, theta, z, L))(data, lengths)
        return jnp.sum(per)

    return _symmetric(-jax.hessian(total)(model.theta))


HESSIAN_BUDGET = 2**24  # p × (numbers per chunk of data): bounds the memory of a forward-over-reverse Hessian


def _information(model, data, lengths) -> Array:
    """H = −Σ_i ∇²ℓ_i (data already checked), over length groups and over chunks of
    trajectories small enough that p tangents of a chunk fit the budget (≤ 2 compilations per
    group: equal chunks and the remainder)."""
    total = 0.0
    for _, d, L in length_groups(model, data, lengths):
        leaves = jax.tree.leaves(d)
        m = leaves[0].shape[0]
        per_trajectory = sum(x.size for x in leaves) // max(m, 1)
        size = max(1, HESSIAN_BUDGET // max(1, per_trajectory * model.num_params))
        for start in range(0, m, size):
            part = jax.tree.map(lambda x: x[start : start + size], d)  # noqa: B023
            total = total + _negative_hessian(model, part, None if L is None else L[start : start + size])
    return total


def observed_information(
    model: AbstractModel, data: PyTree, lengths: Int[Array, " m"] | None = None
) -> Float[Array, "p p"]:
    """H = −Σ_i ∇²_θ ℓ_i(θ): the observed information of the data at the model's θ, natural
    coordinates (autodiff). `data` has leading axes (m, T); `lengths` (m,) as in
    `tj.log_likelihood`.

    Example:
        >>> import jax.numpy as jnp
        >>> from trajax import TwoStateChain
        >>> from trajax._inference import observed_information
        >>> data = jnp.array([[0, 0, 1, 1], [1, 1, 0, 0]])      # 4 stays, 2 flips
        >>> observed_information(TwoStateChain(0.5), data).tolist()   # N/θ² + (n−N)/(1−θ)²
        [[24.0]]
    """
    data, lengths = check_ragged_data(model, data, lengths)
    return _information(model, data, lengths)


def _outer_scores(model, data, lengths) -> Array:
    """Σ_i s_i s_iᵀ over trajectories (data already checked)."""
    chunks = length_groups(model, data, lengths)
    scores = [_score(model, d, L) for _, d, L in chunks]
    return sum(s.T @ s for s in scores)


def _check_information(info: Array, name: str) -> None:
    """ValueError unless every concrete (p, p) matrix of `info` is finite and positive definite."""
    if not is_concrete(info):
        return
    v = np.asarray(info, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(
            f"{name}: has NaN or inf entries; is θ inside the parameter space, with data it can explain?"
        )
    eig = np.linalg.eigvalsh(v)
    lo, hi = eig[..., 0].min(), np.abs(eig).max()
    tol = v.shape[-1] * np.finfo(np.asarray(info).dtype).eps * max(hi, np.finfo(np.float64).tiny)
    if lo < -tol:
        raise ValueError(
            f"{name}: not positive definite (smallest eigenvalue {lo:.3g}); θ is not a maximum of the "
            "likelihood of these data (pass a fitted model)"
        )
    if lo <= tol:
        raise ValueError(
            f"{name}: singular (eigenvalues from {lo:.3g} to {hi:.3g}); some parameter is not identified "
            "by these data (too few trajectories or transitions?), or the likelihood is non-smooth "
            "(Laplace, absolute loss: its Hessian misses the kinks; use kind='opg' or 'expected')"
        )


def inverse_information(info: Float[Array, "*batch p p"], name: str = "information", strict: bool = True):
    """info⁻¹ through a Cholesky factor, for (…, p, p) symmetric positive definite matrices.

    Concrete input that is not finite and positive definite raises ValueError naming `name`
    when `strict`; otherwise (and always under jit) such a matrix gives NaN entries."""
    L_inv = _inverse_cholesky_factor(info, name, strict)
    return jnp.swapaxes(L_inv, -1, -2) @ L_inv


def _inverse_cholesky_factor(info, name: str, strict: bool):
    """L⁻¹ for info = L Lᵀ (lower triangular L; NaN when not positive definite), so that
    info⁻¹ = L⁻ᵀ L⁻¹."""
    if strict:
        _check_information(info, name)
    info = _symmetric(jnp.asarray(info))
    eye = jnp.broadcast_to(jnp.eye(info.shape[-1], dtype=info.dtype), info.shape)
    L = jnp.linalg.cholesky(info, symmetrize_input=False)  # NaN when not positive definite
    return jax.scipy.linalg.solve_triangular(L, eye, lower=True)


def stderr_from_information(
    info: Float[Array, "*batch p p"], name: str = "information", strict: bool = True
) -> Float[Array, "*batch p"]:
    """Standard errors √diag(info⁻¹) of an information matrix (…, p, p); non-positive-definite
    matrices raise (concrete, `strict`) or give NaN, as in `inverse_information`.

    Example:
        >>> import jax.numpy as jnp
        >>> from trajax._inference import stderr_from_information
        >>> stderr_from_information(jnp.array([[4.0, 0.0], [0.0, 16.0]])).tolist()
        [0.5, 0.25]
    """
    # diag(L⁻ᵀ L⁻¹)_j = Σ_i (L⁻¹)_ij²: no product of the two factors, no diagonal gather (part of
    # every sweep's fit program, through `FitResult.stderr`: less to compile)
    return jnp.sqrt(jnp.sum(_inverse_cholesky_factor(info, name, strict) ** 2, axis=-2))


def covariance(
    model: AbstractModel,
    data: PyTree,
    *,
    kind: str = "observed",
    lengths: Int[Array, " m"] | None = None,
    key: PRNGKeyArray | None = None,
    num_samples: int | None = None,
) -> Float[Array, "p p"]:
    """Covariance of θ̂ at the model's θ (pass a fitted model, e.g. `result.model`).

    With ℓ_i the log-likelihood of trajectory i, s_i = ∇ℓ_i and H = −Σ_i ∇²ℓ_i at θ:
        "observed": H⁻¹;
        "expected": (Σ_i I_{T_i}(θ))⁻¹, i.e. (m·I_T)⁻¹ for one length (closed form when the
                    model has one, else Monte Carlo with `key` and `num_samples`);
        "opg":      (Σ_i s_i s_iᵀ)⁻¹;
        "sandwich": H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹, trajectories as independent clusters, no
                    small-sample factor (valid under a misspecified noise scale).
    Natural coordinates; standard errors are √diag. `data` has leading axes (m, T); `lengths`
    (m,) as in `tj.log_likelihood`. A singular or non-finite information raises ValueError.

    Example:
        >>> import jax, trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)
        >>> data = tj.simulate(chain, jax.random.key(0), 50, 41)
        >>> fitted = tj.fit(chain, data).model
        >>> tj.covariance(fitted, data).shape
        (1, 1)
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    data, lengths = check_ragged_data(model, data, lengths)
    if kind == "expected":
        m, T = jax.tree.leaves(data)[0].shape[:2]
        if lengths is not None and not is_concrete(lengths):
            raise ValueError("lengths: kind='expected' needs concrete lengths (NumPy integers, outside jit)")
        design = np.full(m, T) if lengths is None else np.asarray(lengths)
        info = design_information(model, design, key=key, num_samples=num_samples)
        return inverse_information(info, "expected information")
    if kind == "opg":
        return inverse_information(_outer_scores(model, data, lengths), "outer product of scores")
    H = _information(model, data, lengths)
    H_inv = inverse_information(H, "observed information")
    if kind == "observed":
        return H_inv
    return _symmetric(H_inv @ _outer_scores(model, data, lengths) @ H_inv)
