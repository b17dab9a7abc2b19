"""Constrained ↔ unconstrained coordinates, written once for every model that needs them.

θ is always reported in natural coordinates; an optimiser works in the unconstrained ones.

- `logit` / `expit`: a probability in (0, 1) ↔ R (the two-state chains);
- `simplex_to_unconstrained` / `simplex_from_unconstrained`: the free entries p_1..p_{K−1} of
  probability vectors along the last axis (p_K = 1 − Σ p_j > 0) ↔ additive log-ratios
  log(p_j / p_K), inverted by a softmax with the last logit pinned at 0 (transition-matrix rows).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["logit", "expit", "simplex_to_unconstrained", "simplex_from_unconstrained"]


def logit(p: Float[Array, "..."]) -> Float[Array, "..."]:
    """log(p / (1 − p)).

    Example:
        >>> import jax.numpy as jnp
        >>> from trajax._bijections import expit, logit
        >>> float(expit(logit(jnp.asarray(0.8))))
        0.8...
    """
    return jnp.log(p) - jnp.log1p(-p)


def expit(u: Float[Array, "..."]) -> Float[Array, "..."]:
    """1 / (1 + e^{−u}): the inverse of `logit`."""
    return jax.nn.sigmoid(u)


def simplex_to_unconstrained(free: Float[Array, "... k"]) -> Float[Array, "... k"]:
    """log(p_j / p_K) for the free entries p_1..p_{K−1} (last axis) of probability vectors."""
    last = 1 - free.sum(-1, keepdims=True)
    return jnp.log(free) - jnp.log(last)


def simplex_from_unconstrained(u: Float[Array, "... k"]) -> Float[Array, "... k"]:
    """The free entries p_1..p_{K−1} from log-ratios u (last axis): softmax([u, 0]) without p_K."""
    logits = jnp.concatenate([u, jnp.zeros((*u.shape[:-1], 1), u.dtype)], axis=-1)
    return jax.nn.softmax(logits, axis=-1)[..., :-1]
