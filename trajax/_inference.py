"""Covariances of an estimate from the user's own data (docs/theory.md §9): observed, expected, outer
product of gradients, cluster-robust sandwich and within-trajectory HAC (Newey–West), for
trajectories of one length or of different lengths."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from ._checks import check_int, is_concrete
from ._fisher import design_information, exact_fishers
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
    "newey_west_lags",
]

KINDS = ("observed", "expected", "opg", "sandwich", "hac")


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


def _check_information(info: Array, name: str, remedy: str = "") -> None:
    """ValueError unless every concrete (p, p) matrix of `info` is finite and positive definite;
    `remedy` (what to use instead) ends each message."""
    if not is_concrete(info):
        return
    v = np.asarray(info, dtype=np.float64)
    end = f"; {remedy}" if remedy else ""
    if not np.all(np.isfinite(v)):
        raise ValueError(
            f"{name}: has NaN or inf entries; is θ inside the parameter space, with data it can explain?{end}"
        )
    eig = np.linalg.eigvalsh(v)
    lo, hi = eig[..., 0].min(), np.abs(eig).max()
    tol = v.shape[-1] * np.finfo(np.asarray(info).dtype).eps * max(hi, np.finfo(np.float64).tiny)
    if lo < -tol:
        raise ValueError(
            f"{name}: not positive definite (smallest eigenvalue {lo:.3g}); θ is not a maximum of the "
            f"likelihood of these data (pass a fitted model){end}"
        )
    if lo <= tol:
        raise ValueError(
            f"{name}: singular (eigenvalues from {lo:.3g} to {hi:.3g}); some parameter is not identified "
            "by these data (too few trajectories or transitions?), or the likelihood is non-smooth "
            f"(Laplace, absolute loss: its Hessian misses the kinks){end}"
        )


def inverse_information(
    info: Float[Array, "*batch p p"], name: str = "information", strict: bool = True, remedy: str = ""
):
    """info⁻¹ through a Cholesky factor, for (…, p, p) symmetric positive definite matrices.

    Concrete input that is not finite and positive definite raises ValueError naming `name`
    (and ending with `remedy`) when `strict`; otherwise (and always under jit) such a matrix
    gives NaN entries."""
    L_inv = _inverse_cholesky_factor(info, name, strict, remedy)
    return jnp.swapaxes(L_inv, -1, -2) @ L_inv


def _inverse_cholesky_factor(info, name: str, strict: bool, remedy: str = ""):
    """L⁻¹ for info = L Lᵀ (lower triangular L; NaN when not positive definite), so that
    info⁻¹ = L⁻ᵀ L⁻¹."""
    if strict:
        _check_information(info, name, remedy)
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


# ------------------------------------------------------------------ within-trajectory HAC
@eqx.filter_jit
def _transition_scores(model, data, lengths):
    """s_it = ∇_θ log p_θ(z_{t+1} | z_t) of every transition, (m, T − 1, p), zero past each
    trajectory's length. A `homogeneous_markov` model's transition term is the log-likelihood
    of the window (z_t, z_{t+1}) of two states, as in `masked_trajectory_log_likelihood`."""
    T = jax.tree.leaves(data)[0].shape[1]
    windows = jax.tree.map(lambda x: jnp.stack([x[:, :-1], x[:, 1:]], axis=2), data)  # (m, T−1, 2, …)
    grad = jax.grad(trajectory_log_likelihood_at, argnums=1)
    s = jax.vmap(jax.vmap(grad, in_axes=(None, None, 0)), in_axes=(None, None, 0))(
        model, model.theta, windows
    )
    if lengths is None:
        return s
    valid = jnp.arange(1, T)[None, :] < lengths[:, None]
    return jnp.where(valid[..., None], s, jnp.zeros((), s.dtype))


@eqx.filter_jit
def _hac_meat(s, lags: int):
    """Ω = Σ_i [Γ_i0 + Σ_{l=1}^{L} (1 − l/(L+1)) (Γ_il + Γ_ilᵀ)], Γ_il = Σ_t s_it s_{i,t−l}ᵀ, of
    transition scores s (m, n, p): Newey–West's Bartlett kernel within each trajectory."""
    meat = jnp.einsum("mtp,mtq->pq", s, s)
    for lag in range(1, lags + 1):
        gamma = jnp.einsum("mtp,mtq->pq", s[:, lag:], s[:, :-lag])
        meat = meat + (1.0 - lag / (lags + 1)) * (gamma + gamma.T)
    return meat


def _hac_information(model, data, lengths, lags: int) -> Array:
    """Ω over chunks of trajectories whose transition scores (chunk, T − 1, p) fit the Hessian's
    memory budget (Ω adds over trajectories)."""
    m, T = jax.tree.leaves(data)[0].shape[:2]
    size = max(1, HESSIAN_BUDGET // max(1, T * model.num_params))
    total = 0.0
    for start in range(0, m, size):
        part = jax.tree.map(lambda x: x[start : start + size], data)  # noqa: B023
        L = None if lengths is None else lengths[start : start + size]
        total = total + _hac_meat(_transition_scores(model, part, L), lags)
    return total


def newey_west_lags(num_transitions: int) -> int:
    """⌊4 (n/100)^{2/9}⌋, Newey and West's rule for the Bartlett bandwidth of n transitions
    (statsmodels' default in `S_hac_simple`), at most n − 1.

    Example:
        >>> from trajax._inference import newey_west_lags
        >>> newey_west_lags(1999), newey_west_lags(99)
        (7, 3)
    """
    return min(int(np.floor(4 * (num_transitions / 100) ** (2 / 9))), num_transitions - 1)


def _check_lags(lags, num_steps: int) -> int:
    if lags is None:
        return newey_west_lags(num_steps - 1)
    lags = check_int(lags, "lags", minimum=0)
    if lags > num_steps - 2:
        raise ValueError(
            f"lags: expected at most T − 2 = {num_steps - 2} (the longest lag between the T − 1 "
            f"transitions), got {lags}"
        )
    return lags


# ------------------------------------------------------------------ covariance
# what to use where a data-based matrix is singular or not positive definite (data that do not
# identify θ, a θ that is not a maximum, a non-smooth likelihood): the model's own information
_EXPECTED_REMEDY = (
    "use kind='expected' (the model's Fisher information: needs no maximum and no smooth likelihood)"
)


def _expected_covariance(model, m: int, T: int, lengths, key, num_samples) -> Array:
    """(Σ_i I_{T_i}(θ))⁻¹: closed form, or Monte Carlo with a key."""
    if lengths is not None and not is_concrete(lengths):
        raise ValueError(
            "lengths: kind='expected' needs concrete lengths (NumPy integers, outside jit); "
            "use kind='observed' under jit"
        )
    design = np.full(m, T) if lengths is None else np.asarray(lengths)
    if key is None and exact_fishers(model, tuple(int(t) for t in np.unique(design))) is None:
        raise ValueError(
            f"key: kind='expected' for {type(model).__name__} (no closed-form Fisher information) is "
            "Monte Carlo and needs a PRNG key (and num_samples); or use kind='observed'"
        )
    info = design_information(model, design, key=key, num_samples=num_samples)
    return inverse_information(info, "expected information", remedy="use kind='observed'")


def _refuse_too_little_data(model, kind: str, m: int) -> None:
    """The static refusals of 'opg', 'sandwich' and 'hac', each naming a kind that works."""
    name, p = type(model).__name__, model.num_params
    if kind == "opg" and m <= p:
        raise ValueError(
            f"data: kind='opg' needs more trajectories than parameters, got m = {m} <= p = {p} (the "
            "scores s_i sum to zero at the MLE, so Σ s_i s_iᵀ has rank < p); use kind='observed'"
        )
    if kind == "sandwich" and m < 2:
        hac = "kind='hac' (one long trajectory) or " if model.homogeneous_markov else ""
        instead = f"{hac}kind='observed'"
        raise ValueError(
            f"data: kind='sandwich' needs at least 2 trajectories (its clusters), got {m} (one "
            f"trajectory's score is zero at the MLE, so the sandwich would be ~0); use {instead}"
        )
    if kind == "hac" and not model.homogeneous_markov:
        instead = "kind='sandwich' (trajectories as clusters)" if m >= 2 else "kind='observed'"
        raise ValueError(
            f"model: kind='hac' needs per-transition log-likelihood terms, and {name} is not "
            f"homogeneous_markov; use {instead}"
        )


def covariance(
    model: AbstractModel,
    data: PyTree,
    *,
    kind: str = "observed",
    lengths: Int[Array, " m"] | None = None,
    key: PRNGKeyArray | None = None,
    num_samples: int | None = None,
    lags: int | None = None,
    correction: bool = True,
) -> Float[Array, "p p"]:
    """Covariance (p, p) of θ̂ at the model's θ; pass a fitted model (`result.model`).

    With ℓ_i the log-likelihood of trajectory i (of m), s_i = ∇ℓ_i, H = −Σ_i ∇²ℓ_i at θ and
    s_it = ∇ log p_θ(z_{t+1} | z_t) the score of transition t of trajectory i:
        "observed": H⁻¹ (the default);
        "expected": (Σ_i I_{T_i}(θ))⁻¹, i.e. (m·I_T)⁻¹ for one length (closed form when the
                    model has one, else Monte Carlo with `key` and `num_samples`);
        "opg":      (Σ_i s_i s_iᵀ)⁻¹; needs m > p (the s_i sum to zero at the MLE);
        "sandwich": c·H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹, cluster-robust with trajectories as clusters
                    (valid under misspecification, e.g. a wrong noise scale); needs m ≥ 2.
                    c = m/(m − 1), the small-sample factor of cluster-robust maximum
                    likelihood (c = 1 with `correction=False`). statsmodels' cluster-robust
                    OLS multiplies this by (N − 1)/(N − p), a least-squares degrees-of-freedom
                    term for N transitions that tends to 1 and has no likelihood analogue;
        "hac":      H⁻¹ Ω H⁻¹, Ω = Σ_i Σ_{|l|≤L} (1 − |l|/(L + 1)) Σ_t s_it s_{i,t−l}ᵀ:
                    Newey–West (Bartlett kernel, L = `lags`) within each trajectory, summed
                    over trajectories, no small-sample factor; valid for ONE long trajectory.
                    Needs a `homogeneous_markov` model (per-transition terms). Default
                    L = ⌊4((T − 1)/100)^{2/9}⌋ for T − 1 transitions (statsmodels' default).
    `lags` is for "hac" only, `correction` for "sandwich" only. With few trajectories, Wald
    intervals θ̂_j ± q·√Σ_jj from the sandwich reach 95% with q the Student-t quantile on
    m − 1 degrees of freedom (2.365 at m = 8) rather than 1.96.
    Natural coordinates; standard errors are √diag. `data` has leading axes (m, T); `lengths`
    (m,) as in `tj.log_likelihood`. A kind that cannot work on these data (too few
    trajectories, no per-transition terms, a singular or non-finite matrix) raises ValueError
    naming one that can.

    Example:
        >>> import jax, trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)
        >>> data = tj.simulate(chain, jax.random.key(0), 50, 41)
        >>> fitted = tj.fit(chain, data).model
        >>> tj.covariance(fitted, data).shape
        (1, 1)
        >>> tj.covariance(fitted, data[:1], kind="hac", lags=3).shape   # one trajectory
        (1, 1)
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if lags is not None and kind != "hac":
        raise ValueError(f"lags: only kind='hac' takes lags, got kind={kind!r}")
    if not isinstance(correction, bool):
        raise ValueError(f"correction: expected True or False, got {correction!r}")
    data, lengths = check_ragged_data(model, data, lengths)
    m, T = jax.tree.leaves(data)[0].shape[:2]
    if kind == "expected":
        return _expected_covariance(model, m, T, lengths, key, num_samples)
    _refuse_too_little_data(model, kind, m)
    if kind == "opg":
        return inverse_information(
            _outer_scores(model, data, lengths), "outer product of scores", remedy=_EXPECTED_REMEDY
        )
    num_lags = _check_lags(lags, T) if kind == "hac" else 0
    H = _information(model, data, lengths)
    H_inv = inverse_information(H, "observed information", remedy=_EXPECTED_REMEDY)
    if kind == "observed":
        return H_inv
    if kind == "hac":
        meat = _hac_information(model, data, lengths, num_lags)
    else:
        meat = _outer_scores(model, data, lengths) * (m / (m - 1) if correction else 1.0)
    return _symmetric(H_inv @ meat @ H_inv)
