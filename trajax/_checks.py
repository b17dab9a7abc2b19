"""Input validation shared by models and pipeline functions.

Three layers (docs/architecture.md, "Conventions the code keeps"): `ValueError` naming the
argument for problems visible on concrete values; `eqx.error_if` for value checks under `jit`;
nothing at all for traced parameters of models rebuilt inside a transformation (those were
validated when first constructed).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(*xs) -> bool:
    """True when no leaf of `xs` is a tracer, i.e. its values can be inspected."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(xs))


def _describe(x) -> str:
    x = np.asarray(x)
    if x.size <= 6:
        return np.array2string(x, precision=4, separator=", ").replace("\n", "")
    return f"an array of shape {x.shape}"


def as_float_array(x, name: str, ndim: int | None = None, shape: tuple | None = None):
    """Converts `x` to a floating JAX array and checks its shape; raises ValueError naming `name`.

    Lists and NumPy arrays are converted by NumPy and placed with `jax.device_put` (the same
    values and dtype as `jnp.asarray`, whose eager conversion compiles a small program for each
    new shape); Python scalars keep `jnp.asarray`'s weak type."""
    try:
        if isinstance(x, (jax.Array, int, float, complex)):
            arr = jnp.asarray(x)
        else:
            host = np.asarray(x)
            if not (np.issubdtype(host.dtype, np.number) or host.dtype == np.bool_):
                raise TypeError
            dtype = host.dtype if np.issubdtype(host.dtype, np.inexact) else jnp.result_type(float)
            arr = jax.device_put(host.astype(jax.dtypes.canonicalize_dtype(dtype), copy=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}") from err
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(jnp.result_type(float))
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got shape {arr.shape}")
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name}: expected finite values, got {_describe(arr)}")
    return arr


def check_positive(x, name: str):
    """Raises ValueError unless every entry of `x` is > 0 (skipped for traced values)."""
    if is_concrete(x) and not np.all(np.asarray(x) > 0):
        raise ValueError(f"{name}: expected a positive value, got {_describe(x)}")
    return x


def check_open_interval(x, name: str, lo: float, hi: float):
    """Raises ValueError unless lo < x < hi entrywise (skipped for traced values)."""
    if is_concrete(x):
        v = np.asarray(x)
        if not np.all((v > lo) & (v < hi)):
            raise ValueError(f"{name}: expected values in ({lo}, {hi}), got {_describe(v)}")
    return x


def check_stochastic_rows(P, name: str, atol: float = 1e-6):
    """Raises ValueError unless the rows (last axis) of `P` are non-negative and sum to one."""
    if not is_concrete(P):
        return P
    v = np.asarray(P)
    if np.any(v < 0):
        raise ValueError(f"{name}: expected non-negative transition probabilities, got {_describe(v)}")
    sums = v.sum(-1)
    if not np.allclose(sums, 1.0, atol=atol):
        raise ValueError(
            f"{name}: expected rows summing to 1 (a stochastic matrix), got row sums {_describe(sums)}"
        )
    return P


def check_finite_data(data, name: str = "data"):
    """Rejects NaN or inf anywhere in `data`.

    Concrete data raise ValueError at once; traced data (inside `jit`/`vmap`) are guarded with
    `eqx.error_if`, which raises at run time instead of letting a NaN propagate silently.
    """
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(f"{name}: expected arrays, got an empty pytree")
    out = []
    for leaf in leaves:
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            if is_concrete(leaf):
                if not np.all(np.isfinite(np.asarray(leaf))):
                    bad = int(np.sum(~np.isfinite(np.asarray(leaf))))
                    raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entries")
            else:
                leaf = eqx.error_if(leaf, ~jnp.all(jnp.isfinite(leaf)), f"{name}: NaN or inf in data")
        out.append(leaf)
    return jax.tree.unflatten(jax.tree.structure(data), out)


def check_leading_axes(data, name: str = "data", min_steps: int = 2):
    """Checks that every leaf of `data` has leading axes (m, T) with T >= `min_steps`."""
    leaves = jax.tree.leaves(data)
    shapes = [jnp.shape(x) for x in leaves]
    if any(len(s) < 2 for s in shapes):
        raise ValueError(f"{name}: expected leading axes (num_trajectories, num_steps), got {shapes}")
    if len({s[:2] for s in shapes}) != 1:
        raise ValueError(f"{name}: leaves disagree on leading axes (m, T): {shapes}")
    m, T = shapes[0][:2]
    if T < min_steps:
        raise ValueError(f"{name}: expected at least {min_steps} states per trajectory, got {T}")
    return m, T


def check_int(x, name: str, minimum: int = 1) -> int:
    """Returns `x` as a Python int >= `minimum`, or raises ValueError naming `name`."""
    if isinstance(x, bool) or not isinstance(x, int | np.integer):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x!r}")
    if x < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x}")
    return int(x)
