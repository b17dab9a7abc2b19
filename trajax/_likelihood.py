"""ravel, log_likelihood and score: the per-trajectory likelihood and its gradient in θ, for
trajectories of one length or of different lengths (`lengths`, docs/theory.md §10)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PyTree

from ._checks import check_finite_data, check_leading_axes, is_concrete
from ._model import AbstractModel
from ._simulate import trajectory_shapes

__all__ = [
    "ravel",
    "log_likelihood",
    "score",
    "check_data",
    "check_lengths",
    "check_ragged_data",
    "fill_padding",
    "masked_trajectory_log_likelihood",
    "length_groups",
]


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
        return data  # e.g. a dict without the hidden labels a sampler also returns: validate_data judges

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


def check_lengths(lengths, num_trajectories: int, num_steps: int, name: str = "lengths") -> Int[Array, " m"]:
    """`lengths` as an int array of shape (m,) with 2 ≤ lengths ≤ T, or ValueError naming it.

    Values are checked at once when concrete and with `eqx.error_if` when traced."""
    try:
        arr = jnp.asarray(lengths)
    except TypeError as err:
        raise ValueError(
            f"{name}: expected an integer array of shape (m,), got {type(lengths).__name__}"
        ) from err
    if not jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == jnp.bool_:
        raise ValueError(f"{name}: expected integers (numbers of states), got dtype {arr.dtype}")
    if arr.shape != (num_trajectories,):
        raise ValueError(
            f"{name}: expected shape ({num_trajectories},) (one per trajectory), got {arr.shape}"
        )
    if is_concrete(arr):
        v = np.asarray(arr)
        if v.size and (v.min() < 2 or v.max() > num_steps):
            raise ValueError(
                f"{name}: expected 2 <= lengths <= T = {num_steps}, got values in {v.min()}..{v.max()}"
            )
    else:
        bad = jnp.any((arr < 2) | (arr > num_steps))
        arr = eqx.error_if(arr, bad, f"{name}: expected 2 <= lengths <= T = {num_steps}")
    return arr


def _mask(valid: Array, leaf: Array) -> Array:
    """`valid` of shape (m, T) or (T,) broadcast against a leaf with the same leading axes."""
    return jnp.reshape(valid, valid.shape + (1,) * (leaf.ndim - valid.ndim))


def fill_padding(data: PyTree, lengths: Int[Array, " m"]) -> PyTree:
    """Data (m, T, …) with every state past trajectory i's `lengths[i]` replaced by its first
    state, so that padding (NaN included) never reaches a computation."""
    T = jax.tree.leaves(data)[0].shape[1]
    valid = jnp.arange(T)[None, :] < lengths[:, None]
    return jax.tree.map(lambda x: jnp.where(_mask(valid, x), x, x[:, :1]), data)


def check_ragged_data(model: AbstractModel, data: PyTree, lengths=None, name: str = "data"):
    """(data, lengths) checked; with `lengths` the padding is replaced by `fill_padding` first,
    so the state-space and finiteness checks look only at each trajectory's first lengths[i]
    states. Returns lengths as an int array (m,), or None."""
    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    if lengths is None:
        return check_data(model, data, name), None
    m, T = check_leading_axes(data, name)
    lengths = check_lengths(lengths, m, T)
    return check_data(model, fill_padding(data, lengths), name), lengths


def masked_trajectory_log_likelihood(model: AbstractModel, z: PyTree, length) -> Float[Array, ""]:
    """Σ_{t=1}^{L−1} log p_θ(z_{t+1} | z_{1:t}) of the first L = `length` states of ONE
    trajectory z (leading axis T ≥ L); states past L are ignored, NaN included (values and
    gradients stay finite).

    Models with `homogeneous_markov` sum the transition terms log p_θ(z_{t+1} | z_t), each the
    log-likelihood of a window of two states, with the windows past L swapped for the first
    (always valid) window before evaluation and then dropped: `length` may be traced. Other
    models are evaluated on the slice z[:L], which needs a concrete `length`; a traced one
    raises ValueError (group trajectories by length instead, as `length_groups` does).

    Example:
        >>> import jax.numpy as jnp, trajax as tj
        >>> from trajax._likelihood import masked_trajectory_log_likelihood
        >>> z = jnp.array([0, 0, 1, 1, 1])          # stay, flip, stay, stay
        >>> float(masked_trajectory_log_likelihood(tj.TwoStateChain(0.5), z, 3))  # 2 log ½
        -1.38...
    """
    T = jax.tree.leaves(z)[0].shape[0]
    if not model.homogeneous_markov:
        if not is_concrete(length):
            raise ValueError(
                f"lengths: {type(model).__name__} is not homogeneous_markov, so ragged trajectories need "
                "concrete lengths (NumPy integers, outside jit)"
            )
        return model.trajectory_log_likelihood(jax.tree.map(lambda x: x[: int(length)], z))
    valid = jnp.arange(1, T) < length  # transition z_t -> z_{t+1} (0-based t) lies inside

    def windows(x):
        v = _mask(valid, x[1:])
        return jnp.stack([jnp.where(v, x[:-1], x[:1]), jnp.where(v, x[1:], x[1:2])], axis=1)

    terms = jax.vmap(model.trajectory_log_likelihood)(jax.tree.map(windows, z))
    return jnp.sum(jnp.where(valid, terms, jnp.zeros((), terms.dtype)))


def length_groups(
    model: AbstractModel, data: PyTree, lengths
) -> list[tuple[np.ndarray | None, PyTree, Array | None]]:
    """How to evaluate (data, lengths): a list of (indices, data, lengths) chunks whose
    per-trajectory results, put back at `indices` (None: all, in order), give the whole.

    No lengths: one chunk. `homogeneous_markov` models: one masked chunk (lengths may be
    traced). Other models: one unmasked chunk data[idx, :L] per distinct length L (concrete
    lengths only: ValueError otherwise)."""
    if lengths is None:
        return [(None, data, None)]
    if model.homogeneous_markov:
        return [(None, data, lengths)]
    if not is_concrete(lengths):
        raise ValueError(
            f"lengths: {type(model).__name__} is not homogeneous_markov, so ragged trajectories need "
            "concrete lengths (NumPy integers, outside jit)"
        )
    v = np.asarray(lengths)

    def chunk(L):
        idx = np.nonzero(v == L)[0]
        return idx, jax.tree.map(lambda x: x[idx, : int(L)], data), None

    return [chunk(L) for L in np.unique(v)]


def merge_groups(chunks, outputs: list[Array]) -> Array:
    """The per-trajectory outputs of `length_groups` chunks back in trajectory order."""
    if len(chunks) == 1 and chunks[0][0] is None:
        return outputs[0]
    order = np.concatenate([idx for idx, _, _ in chunks])
    return jnp.concatenate(outputs)[np.argsort(order)]


def trajectory_log_likelihood_at(model: AbstractModel, theta, z, length=None) -> Float[Array, ""]:
    """log p_θ(z) of one trajectory (its first `length` states) as a function of natural θ."""
    model = model.with_theta(theta)
    if length is None:
        return model.trajectory_log_likelihood(z)
    return masked_trajectory_log_likelihood(model, z, length)


@eqx.filter_jit
def _log_likelihood(model, data, lengths=None):
    if lengths is None:
        return jax.vmap(model.trajectory_log_likelihood)(data)
    return jax.vmap(lambda z, L: masked_trajectory_log_likelihood(model, z, L))(data, lengths)


@eqx.filter_jit
def _score(model, data, lengths=None):
    grad = jax.grad(trajectory_log_likelihood_at, argnums=1)
    if lengths is None:
        return jax.vmap(grad, in_axes=(None, None, 0))(model, model.theta, data)
    return jax.vmap(grad, in_axes=(None, None, 0, 0))(model, model.theta, data, lengths)


def log_likelihood(
    model: AbstractModel, data: PyTree, lengths: Int[Array, " m"] | None = None
) -> Float[Array, " m"]:
    """Per-trajectory log-likelihood ℓ_i = Σ_{t=1}^{T_i−1} log p_θ(z_{t+1} | z_{1:t}),
    conditional on the first state. `data` has leading axes (m, T); `lengths` (m,) ints in
    [2, T] makes trajectory i its first T_i = lengths[i] states (the rest, NaN padding
    included, is ignored). Rejects NaN/inf inside the trajectories with ValueError.

    Example:
        >>> import jax.numpy as jnp, trajax as tj
        >>> data = jnp.array([[0, 0, 1, 1], [1, 1, 0, 0]])
        >>> tj.log_likelihood(tj.TwoStateChain(0.5), data, lengths=[4, 2]).round(3)
        Array([-2.079, -0.693], dtype=float32)
    """
    data, lengths = check_ragged_data(model, data, lengths)
    chunks = length_groups(model, data, lengths)
    return merge_groups(chunks, [_log_likelihood(model, d, L) for _, d, L in chunks])


def score(model: AbstractModel, data: PyTree, lengths: Int[Array, " m"] | None = None) -> Float[Array, "m p"]:
    """Per-trajectory score s_i = ∇_θ ℓ_i in natural coordinates; shape (m, p). `lengths` as
    in `log_likelihood`.

    Example:
        >>> import jax.numpy as jnp, trajax as tj
        >>> data = jnp.array([[0, 0, 1, 1], [1, 1, 0, 0]])
        >>> tj.score(tj.TwoStateChain(0.5), data, lengths=[4, 2]).tolist()   # N/θ − (n−N)/(1−θ)
        [[2.0], [2.0]]
    """
    data, lengths = check_ragged_data(model, data, lengths)
    chunks = length_groups(model, data, lengths)
    return merge_groups(chunks, [_score(model, d, L) for _, d, L in chunks])
