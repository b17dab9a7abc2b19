"""PRNG key handling: keys are explicit, never defaulted (docs/architecture.md)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._random import is_threefry, threefry2x32


def check_key(key, name: str = "key"):
    """Accepts a typed key (`jax.random.key`) or a raw uint32[2] key; rejects anything else."""
    if key is None:
        raise ValueError(f"{name}: a PRNG key is required, e.g. jax.random.key(0)")
    if isinstance(key, int):
        raise ValueError(f"{name}: expected a PRNG key such as jax.random.key({key}), got an int")
    arr = key
    if hasattr(arr, "dtype") and jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
        if arr.shape != ():
            raise ValueError(f"{name}: expected a single key, got a key array of shape {arr.shape}")
        return arr
    arr = jnp.asarray(arr)
    if arr.dtype != jnp.uint32 or arr.shape != (2,):
        raise ValueError(
            f"{name}: expected a PRNG key such as jax.random.key(0), got {arr.dtype}{list(arr.shape)}"
        )
    return arr


def _threefry(key) -> bool:
    """Whether `key` is a concrete typed threefry2x32 key, whose derived keys NumPy can compute."""
    return (
        hasattr(key, "dtype")
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.shape == ()
        and not isinstance(key, jax.core.Tracer)
        and is_threefry(key)
    )


def key_from_seed(seed: int):
    """`jax.random.key(seed)`, built from its two 32-bit words (threefry's seeding is the pair
    (seed >> 32, seed & 0xFFFFFFFF)) without compiling the two small programs JAX's own seeding
    runs eagerly (a noticeable part of a command-line sweep's start-up). Other PRNG implementations,
    and seeds outside [0, 2**32), take `jax.random.key`."""
    if str(jax.config.jax_default_prng_impl) != "threefry2x32" or not 0 <= seed < 2**32:
        return jax.random.key(seed)
    return jax.random.wrap_key_data(np.array([0, seed], np.uint32), impl="threefry2x32")


def fold_in(key, data: int):
    """`jax.random.fold_in(key, data)`, the same bits: for a concrete threefry key and a Python
    int in [0, 2**32), computed with NumPy (threefry2x32(key, (0, data)), as JAX's
    `threefry_fold_in`) instead of compiling and running two small programs at a sweep's
    start-up; otherwise `jax.random.fold_in`."""
    if not (_threefry(key) and isinstance(data, (int, np.integer)) and 0 <= data < 2**32):
        return jax.random.fold_in(key, data)
    k1, k2 = (np.array([word], np.uint32) for word in np.asarray(jax.random.key_data(key)))
    with np.errstate(over="ignore"):  # threefry's additions wrap around by design
        x1, x2 = threefry2x32(k1, k2, np.zeros(1, np.uint32), np.array([data], np.uint32))
    return jax.random.wrap_key_data(np.concatenate([x1, x2]), impl="threefry2x32")
