"""PRNG key handling: keys are explicit, never defaulted (docs/architecture.md)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
