"""ravel, log_likelihood and score: the per-trajectory likelihood and its gradient in θ."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from ._checks import check_finite_data, check_leading_axes, is_concrete
from ._model import AbstractModel
from ._simulate import trajectory_shapes

__all__ = ["ravel", "log_likelihood", "score", "check_data"]


def ravel(model: AbstractModel) -> tuple[Float[Array, " p"], Callable[..., AbstractModel]]:
    """Returns (θ, unravel): θ the flat natural-coordinate parameters, `unravel(θ)` a model of
    the same kind with those parameters (jit-compatible).

    Example:
        >>> import trajax as tj
        >>> theta, unravel = tj.ravel(tj.TwoStateChain(theta=0.7))
        >>> unravel(theta * 0.5).theta
        Array([0.35], dtype=float32)
    """
    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    return model.theta, model.with_theta


def check_data(model: AbstractModel, data: PyTree, name: str = "data") -> PyTree:
    """Shape, dtype, state-space and finiteness checks of data with leading axes (m, T).

    Leaves whose dtype differs from what the model simulates are cast to it (float32 data for a
    float64 model, integer arrays for a continuous model); floating values for a discrete model
    are cast only when they are whole numbers, else refused."""
    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    data = jax.tree.map(jnp.asarray, data)
    check_leading_axes(data, name)
    data = _cast_like_model(model, data, name)
    model.validate_data(data)
    return check_finite_data(data, name)


def _cast_like_model(model: AbstractModel, data: PyTree, name: str) -> PyTree:
    expected = trajectory_shapes(model, 2)
    if jax.tree.structure(expected) != jax.tree.structure(data):
        raise ValueError(
            f"{name}: expected the structure of the model's samples {jax.tree.structure(expected)}, "
            f"got {jax.tree.structure(data)}"
        )

    def cast(x, spec):
        if x.dtype == spec.dtype:
            return x
        if jnp.issubdtype(spec.dtype, jnp.integer) and jnp.issubdtype(x.dtype, jnp.inexact):
            if is_concrete(x) and not np.all(np.asarray(x) == np.round(np.asarray(x))):
                raise ValueError(
                    f"{name}: expected integer states ({spec.dtype}), got non-integral {x.dtype} values"
                )
        return x.astype(spec.dtype)

    return jax.tree.map(cast, data, expected)


def trajectory_log_likelihood_at(model: AbstractModel, theta, z) -> Float[Array, ""]:
    """log p_θ(z) of one trajectory as a function of natural-coordinate θ."""
    return model.with_theta(theta).trajectory_log_likelihood(z)


@eqx.filter_jit
def _log_likelihood(model, data):
    return jax.vmap(model.trajectory_log_likelihood)(data)


@eqx.filter_jit
def _score(model, data):
    grad = jax.grad(trajectory_log_likelihood_at, argnums=1)
    return jax.vmap(grad, in_axes=(None, None, 0))(model, model.theta, data)


def log_likelihood(model: AbstractModel, data: PyTree) -> Float[Array, " m"]:
    """Per-trajectory log-likelihood Σ_{t=1}^{T−1} log p_θ(z_{t+1} | z_{1:t}), conditional on
    the first state. `data` has leading axes (m, T). Rejects NaN/inf with ValueError."""
    data = check_data(model, data)
    return _log_likelihood(model, data)


def score(model: AbstractModel, data: PyTree) -> Float[Array, "m p"]:
    """Per-trajectory score ∇_θ log p_θ(z_{1:T}) in natural coordinates; shape (m, p)."""
    data = check_data(model, data)
    return _score(model, data)
