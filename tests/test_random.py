"""trajax._random must reproduce jax.random.uniform / normal bit for bit (threefry keys)."""

import jax
import jax.numpy as jnp
import pytest

from trajax import _random


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (1023, 3), (7, 2, 5)])
def test_uniform_and_normal_equal_jax_random_bitwise(shape, dtype, key):
    # compared under jit, where both are used (eagerly, x·s + b may round apart from a fused FMA)
    tiny = jnp.finfo(dtype).tiny
    both = lambda f: (jax.jit(f(_random))(key), jax.jit(f(jax.random))(key))
    pairs = [
        both(lambda r: lambda k: r.uniform(k, shape, dtype)),
        both(lambda r: lambda k: r.uniform(k, shape, dtype, tiny, 3.0)),
        both(lambda r: lambda k: r.normal(k, shape, dtype)),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert bool(jnp.all(ours == theirs))


def test_vmapped_and_jitted_keys_equal_jax_random(key):
    keys = jax.random.split(key, 5)
    ours = jax.jit(jax.vmap(lambda k: _random.normal(k, (10, 3), jnp.float32)))(keys)
    theirs = jax.vmap(lambda k: jax.random.normal(k, (10, 3), jnp.float32))(keys)
    assert bool(jnp.all(ours == theirs))


def test_other_key_implementations_fall_back_to_jax_random():
    key = jax.random.key(3, impl="rbg")
    assert bool(jnp.all(_random.normal(key, (4, 2)) == jax.random.normal(key, (4, 2))))


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1])
def test_keys_from_numpy_equal_jax_random_bitwise(seed):
    # the sweep's keys are derived with NumPy (no eager programs): the same bits as jax.random
    from trajax._keys import fold_in, key_from_seed

    key = key_from_seed(seed)
    assert jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(seed))
    assert bool(jnp.all(jax.random.key_data(key) == jax.random.key_data(jax.random.key(seed))))
    for data in (0, 1, 7, 2**31 + 3, 2**32 - 1):
        ours, theirs = fold_in(key, data), jax.random.fold_in(jax.random.key(seed), data)
        assert bool(jnp.all(jax.random.key_data(ours) == jax.random.key_data(theirs))), (seed, data)
    rbg = jax.random.key(seed, impl="rbg")  # other implementations: jax.random itself
    assert bool(
        jnp.all(jax.random.key_data(fold_in(rbg, 5)) == jax.random.key_data(jax.random.fold_in(rbg, 5)))
    )
