"""Test configuration: float64, strict dtype promotion, and a key fixture that prints its seed."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

SEED = 20261122


@pytest.fixture
def key(request):
    """A fixed PRNG key per test; the seed is printed so a failure can be replayed."""
    seed = SEED + sum(map(ord, request.node.name))
    print(f"[trajax test seed] {request.node.name}: jax.random.key({seed})")
    return jax.random.key(seed)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long statistical tests (run with `make test-slow`)")
