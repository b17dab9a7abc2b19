"""Monte-Carlo squared Hellinger distance between two models' path laws (SPEC §0)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_int
from ._keys import check_key
from ._model import AbstractModel
from ._simulate import simulate

__all__ = ["hellinger"]


def hellinger(
    model_a: AbstractModel,
    model_b: AbstractModel,
    num_steps: int,
    *,
    key: PRNGKeyArray,
    num_samples: int,
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """d_H²(p_a, p_b) = ∫(√p_a − √p_b)² ∈ [0, 2] between the laws of trajectories of
    `num_steps` states, conditional on z_1 (SPEC §0 convention; locally ≈ ¼ΔᵀI_TΔ).

    Estimated as 2 − 2·E_{z~p_a}[exp(½(log p_b(z) − log p_a(z)))] from `num_samples` paths of
    `model_a`. Returns (estimate, Monte-Carlo standard error).

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
    T = check_int(num_steps, "num_steps", 2)
    n = check_int(num_samples, "num_samples", 2)
    data = simulate(model_a, check_key(key), n, T)
    log_ratio = jax.vmap(model_b.trajectory_log_likelihood)(data) - jax.vmap(
        model_a.trajectory_log_likelihood
    )(data)
    terms = 2.0 - 2.0 * jnp.exp(0.5 * log_ratio)
    return jnp.mean(terms), jnp.std(terms, ddof=1) / jnp.sqrt(n)
