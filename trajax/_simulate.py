"""simulate: m independent trajectories of T states, chunked over trajectories."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray, PyTree

from ._checks import check_int
from ._keys import check_key, key_from_seed
from ._model import AbstractModel

__all__ = ["simulate", "trajectory_key", "cast"]

DEFAULT_CHUNK = 4096


def trajectory_key(key: PRNGKeyArray, index) -> PRNGKeyArray:
    """The key of trajectory `index`: `fold_in(key, index)`, independent of chunking."""
    return jax.random.fold_in(key, index)


_SHAPES: dict = {}  # (id(model), x64) → (model, shapes of a 2-state trajectory), a few models


def trajectory_shapes(model: AbstractModel, num_steps: int):
    """Shapes and dtypes (`jax.ShapeDtypeStruct` leaves) of one trajectory of `num_steps` states.

    Found by tracing the model's sampler once per model (a sweep asks several times, for several
    T, and each trace adds to its start-up): trajectories whose every leaf has
    leading axis T (the contract of `sample_trajectory`) take the 2-state shapes with T in front;
    others are traced at `num_steps`."""
    key = (id(model), bool(jax.config.jax_enable_x64))
    cached = _SHAPES.get(key)
    if cached is None or cached[0] is not model:
        two = jax.eval_shape(lambda k: model.sample_trajectory(k, 2), key_from_seed(0))
        if len(_SHAPES) >= 16:
            _SHAPES.pop(next(iter(_SHAPES)))
        cached = _SHAPES[key] = (model, two)
    two = cached[1]
    if all(x.ndim >= 1 and x.shape[0] == 2 for x in jax.tree.leaves(two)):
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((num_steps, *x.shape[1:]), x.dtype), two)
    return jax.eval_shape(lambda k: model.sample_trajectory(k, num_steps), key_from_seed(0))


def cast(model: AbstractModel, dtype) -> AbstractModel:
    """`model` with every floating-point array leaf converted to `dtype`."""
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype: expected a floating dtype such as float32, got {dtype}")
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)


@eqx.filter_jit
def _simulate(model, key, indices, num_steps: int, chunk_size: int):
    def one(i):
        return model.sample_trajectory(trajectory_key(key, i), num_steps)

    return jax.lax.map(one, indices, batch_size=chunk_size)


def simulate(
    model: AbstractModel,
    key: PRNGKeyArray,
    num_trajectories: int,
    num_steps: int,
    *,
    chunk_size: int | None = None,
    dtype=None,
    start: int = 0,
) -> PyTree:
    """Simulates `num_trajectories` independent trajectories of `num_steps` states.

    Trajectory i (0-based, counting from `start`) uses the key `fold_in(key, i)` and state t
    the key `fold_in(·, t)`, so the same key gives the same numbers bit for bit whatever
    `chunk_size`, and the prefix property holds: the first k trajectories (or first T'
    states) of a larger run equal a smaller run. Trajectories are vmapped in chunks of
    `chunk_size` (default 4096) to bound the memory of intermediates.

    Args:
        model: any trajax model.
        key: a PRNG key, e.g. `jax.random.key(0)`.
        num_trajectories: m.
        num_steps: T, the number of states per trajectory (T − 1 transitions).
        chunk_size: trajectories vmapped at once.
        dtype: optional floating dtype to simulate in (float32 or float64).
        start: index of the first trajectory (for streaming a long run in pieces).

    Returns:
        data whose every leaf has leading axes (num_trajectories, num_steps).

    Example:
        >>> import jax, trajax as tj
        >>> z = tj.simulate(tj.TwoStateChain(theta=0.8), jax.random.key(0), 8, 20)
        >>> z.shape
        (8, 20)
    """
    key = check_key(key)
    m = check_int(num_trajectories, "num_trajectories")
    T = check_int(num_steps, "num_steps")
    chunk = check_int(chunk_size, "chunk_size") if chunk_size is not None else DEFAULT_CHUNK
    start = check_int(start, "start", minimum=0)
    if dtype is not None:
        model = cast(model, dtype)
    indices = jnp.arange(start, start + m, dtype=jnp.uint32)
    return _simulate(model, key, indices, T, min(chunk, m))
