"""Monte-Carlo squared Hellinger distance between two models' path laws (SPEC §0).

All estimators average a per-path term over z ~ p_a, with L = log p_b(z) − log p_a(z)
(conditional on z_1, as every trajax likelihood):

- "affinity": 2 − 2e^{L/2}. Its mean is 2 − 2·BC (BC the Bhattacharyya affinity); bounded
  variance (≤ 4), but its standard deviation ~ |L| while its mean ~ L²/4, so the relative
  error blows up like 1/√(n·ΔᵀI_TΔ) as p_b → p_a.
- "squared": (1 − e^{L/2})² = (2 − 2e^{L/2}) + (e^L − 1). Adds the control variate e^L − 1,
  whose mean is exactly 0 (E_a e^L = 1), so the mean is still d_H²; the term is ≈ L²/4 ≥ 0 and
  its relative error stays O(1/√n) as the step shrinks. Needs E_a e^{2L} < ∞ (χ²(p_b‖p_a) < ∞).
- "control_variate" (default): (2 − 2e^{L/2}) − ĉ(e^L − 1) with ĉ the least-squares
  coefficient fitted on the same paths; ĉ → −1 (the "squared" term) for close models and
  → 0 (the "affinity" term) for far ones, so it is never much worse than either. Its bias is
  O(1/n).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_int
from ._keys import check_key
from ._likelihood import trajectory_log_likelihood_at
from ._model import AbstractModel
from ._simulate import simulate

__all__ = ["hellinger", "hellinger_terms", "log_ratios", "METHODS"]

METHODS = ("control_variate", "squared", "affinity")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return method


@eqx.filter_jit
def log_ratios(model: AbstractModel, thetas: Float[Array, "k p"], data) -> Float[Array, "k n"]:
    """L[j, i] = log p_{θ_j}(z_i) − log p_θ(z_i) for the n paths of `data` (leading axes (n, T)).
    One θ_j at a time (`lax.map`) so memory is that of one batched likelihood."""
    base = jax.vmap(model.trajectory_log_likelihood)(data)

    def one(theta):
        return jax.vmap(trajectory_log_likelihood_at, in_axes=(None, None, 0))(model, theta, data) - base

    return jax.lax.map(one, thetas)


def hellinger_terms(L: Float[Array, "... n"], method: str) -> Float[Array, "... n"]:
    """Per-path terms whose mean over the last axis estimates d_H² (module docstring)."""
    half = jnp.expm1(0.5 * L)  # e^{L/2} − 1, accurate for small L
    if method == "squared":
        return half**2
    affinity = -2.0 * half  # 2 − 2e^{L/2}
    if method == "affinity":
        return affinity
    g = jnp.expm1(L)  # e^L − 1: mean exactly 0 under p_a
    gc = g - g.mean(-1, keepdims=True)
    var = jnp.sum(gc**2, -1, keepdims=True)
    cov = jnp.sum(gc * affinity, -1, keepdims=True)
    c = jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 0.0)
    return affinity - c * g


def hellinger(
    model_a: AbstractModel,
    model_b: AbstractModel,
    num_steps: int,
    *,
    key: PRNGKeyArray,
    num_samples: int,
    method: str = "control_variate",
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """d_H²(p_a, p_b) = ∫(√p_a − √p_b)² ∈ [0, 2] between the laws of trajectories of
    `num_steps` states, conditional on z_1 (SPEC §0 convention; locally ≈ ¼ΔᵀI_TΔ).

    Estimated from `num_samples` paths z ~ p_a (trajectory i keyed `fold_in(key, i)` as in
    `simulate`) as the mean of a per-path function of L = log p_b(z) − log p_a(z):
    "control_variate" (default) (2 − 2e^{L/2}) − ĉ(e^L − 1), "squared" (1 − e^{L/2})², or
    "affinity" 2 − 2e^{L/2} (see the module docstring: the first two keep an O(1/√n)
    relative error as p_b → p_a, the last one does not). Returns (estimate, Monte-Carlo
    standard error), both scalars.

    Example:
        >>> import jax, trajax as tj
        >>> d2, se = tj.hellinger(tj.TwoStateChain(theta=0.8), tj.TwoStateChain(theta=0.7), 20,
        ...                       key=jax.random.key(0), num_samples=4000)
    """
    if type(model_a) is not type(model_b):
        raise ValueError(
            f"model_b: expected the same model kind as model_a ({type(model_a).__name__}), "
            f"got {type(model_b).__name__}"
        )
    check_method(method)
    T = check_int(num_steps, "num_steps", 2)
    n = check_int(num_samples, "num_samples", 2)
    data = simulate(model_a, check_key(key), n, T)
    L = jax.vmap(model_b.trajectory_log_likelihood)(data) - jax.vmap(model_a.trajectory_log_likelihood)(data)
    terms = hellinger_terms(L, method)
    return jnp.mean(terms), jnp.std(terms, ddof=1) / jnp.sqrt(n)
