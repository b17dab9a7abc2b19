"""simulate: shapes, dtypes, bit-for-bit reproducibility across chunk sizes, prefix property."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj

MODELS = {
    "two_state": tj.TwoStateChain(theta=0.8),
    "markov": tj.MarkovChain(P=[[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]]),
    "lds_t": tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0)),
    "lds_bang": tj.LinearSystem(A=[[0.9, 0.2], [-0.1, 0.7]], noise=tj.noise.BangBang(0.5)),
}


@pytest.mark.parametrize("name", MODELS)
def test_same_key_same_numbers_whatever_the_chunking(name, key):
    model = MODELS[name]
    full = tj.simulate(model, key, 13, 9)
    for chunk in (1, 4, 13, 100):
        np.testing.assert_array_equal(tj.simulate(model, key, 13, 9, chunk_size=chunk), full)
    # streaming in pieces with `start` reproduces the same trajectories
    pieces = [tj.simulate(model, key, 5, 9, start=s) for s in (0, 5)]
    np.testing.assert_array_equal(jnp.concatenate(pieces), full[:10])


@pytest.mark.parametrize("name", MODELS)
def test_prefix_property(name, key):
    model = MODELS[name]
    full = tj.simulate(model, key, 12, 30)
    np.testing.assert_array_equal(tj.simulate(model, key, 5, 30), full[:5])
    np.testing.assert_array_equal(tj.simulate(model, key, 12, 7), full[:, :7])
    assert not np.array_equal(tj.simulate(model, jax.random.fold_in(key, 1), 12, 30), full)


def test_shapes_and_dtypes(key):
    assert tj.simulate(MODELS["two_state"], key, 4, 6).shape == (4, 6)
    assert tj.simulate(MODELS["markov"], key, 4, 6).dtype == jnp.int32
    z64 = tj.simulate(MODELS["lds_t"], key, 4, 6)
    assert z64.shape == (4, 6, 2) and z64.dtype == jnp.float64
    z32 = tj.simulate(MODELS["lds_t"], key, 4, 6, dtype=jnp.float32)
    assert z32.dtype == jnp.float32
    np.testing.assert_array_equal(z64[:, 0], 0.0)  # default z_1 = 0


def test_markov_chain_transition_frequencies(key):
    # error model: empirical transition frequencies from n ≈ 10⁵ transitions per row,
    # tolerance 4 binomial standard errors
    model = MODELS["markov"]
    z = tj.simulate(model, key, 200, 1500)
    counts = np.asarray(model.transition_counts(z))
    freq = counts / counts.sum(1, keepdims=True)
    P = np.asarray(model.P)
    se = np.sqrt(P * (1 - P) / counts.sum(1, keepdims=True))
    assert np.all(np.abs(freq - P) < 4 * se)
