"""Bit-identical, faster drop-ins for `jax.random.uniform` / `jax.random.normal` on threefry keys.

JAX lowers the threefry2x32 hash on CPU as a rolled `fori_loop` over its five key-injection
rounds (to keep compile times short for huge programs). Each round then streams the whole
counter array through memory and nothing fuses with the uniform/normal transform around it.
Written out straight-line, as below, the hash fuses into one vectorised elementwise kernel:
float32 uniforms several times faster on the CPU (benchmarks/bench_kernels.py; figures in
docs/performance.md).

The bits are the same as JAX's `threefry_partitionable` scheme (the default since JAX 0.5):
element i of `shape` (row-major) gets threefry2x32(key, (hi(i), lo(i))), xor-ed for 32-bit
draws and concatenated for 64-bit ones. The uniform and normal transforms copy
`jax.random.uniform` / `jax.random.normal`, so the numbers are identical bit for bit
(tests/test_random.py checks this). Other key implementations fall back to `jax.random`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["uniform", "normal"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash (20 rounds), unrolled: same output as JAX's threefry2x32."""
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotl(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def is_threefry(key) -> bool:
    """Whether the typed key `key` (concrete or traced) uses JAX's threefry2x32 implementation."""
    return str(jax.random.key_impl(key)) in ("threefry2x32", "fry")


def _fast(key) -> bool:
    return is_threefry(key) and bool(jax.config.jax_threefry_partitionable)


def _bits(key, nbits: int, shape: tuple[int, ...]):
    size = math.prod(shape)
    k1, k2 = jax.random.key_data(key)
    lo = jax.lax.iota(jnp.uint32, size).reshape(shape)
    hi = jnp.zeros(shape, jnp.uint32)
    b1, b2 = threefry2x32(k1, k2, hi, lo)
    if nbits == 32:
        return b1 ^ b2
    return (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)


def uniform(key, shape=(), dtype=float, minval=0.0, maxval=1.0):
    """`jax.random.uniform(key, shape, dtype, minval, maxval)` for a single (unbatched) key;
    vmap it over keys."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    shape = tuple(shape)
    finfo = jnp.finfo(dtype)
    if not _fast(key) or finfo.bits not in (32, 64) or math.prod(shape) >= 2**32 or not shape:
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    nbits, nmant = finfo.bits, finfo.nmant
    uint = jnp.uint32 if nbits == 32 else jnp.uint64
    minval = jnp.asarray(minval, dtype)
    maxval = jnp.asarray(maxval, dtype)
    float_bits = (_bits(key, nbits, shape) >> np.array(nbits - nmant, uint)) | np.array(1.0, dtype).view(uint)
    floats = jax.lax.bitcast_convert_type(float_bits, dtype) - jnp.array(1.0, dtype)
    return jax.lax.max(minval, floats * (maxval - minval) + minval)


def normal(key, shape=(), dtype=float):
    """`jax.random.normal(key, shape, dtype)` (real dtypes) for a single key; vmap over keys."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    if not _fast(key) or not shape:
        return jax.random.normal(key, shape, dtype)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = uniform(key, shape, dtype, lo, np.array(1.0, dtype))
    return np.array(np.sqrt(2), dtype) * jax.scipy.special.erfinv(u)
