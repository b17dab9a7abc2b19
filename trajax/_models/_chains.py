"""Finite-state Markov chains: the two-state chain and the K-state chain (docs/theory.md §1, §2)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._bijections import expit, logit, simplex_from_unconstrained, simplex_to_unconstrained
from .._checks import as_float_array, check_open_interval, check_stochastic_rows, is_concrete
from .._model import AbstractModel

__all__ = ["TwoStateChain", "MarkovChain"]


def _check_states(data, num_states: int) -> None:
    z = data
    if not jnp.issubdtype(jnp.asarray(z).dtype, jnp.integer):
        raise ValueError(f"data: expected integer states, got dtype {jnp.asarray(z).dtype}")
    if is_concrete(z):
        v = np.asarray(z)
        if v.size and (v.min() < 0 or v.max() >= num_states):
            raise ValueError(
                f"data: expected states in 0..{num_states - 1}, got values in {v.min()}..{v.max()}"
            )


class TwoStateChain(AbstractModel):
    """Two-state chain on {0, 1}: stay with probability θ, flip with 1 − θ (docs/theory.md §1).

    z_1 is uniform on {0, 1}. log p_θ(z_{1:T} | z_1) = N log θ + (T−1−N) log(1−θ), N = number
    of stays; I_T(θ) = (T−1)/(θ(1−θ)); the MLE is ΣN_i / (m(T−1)).

    Fields: `theta` (scalar stay probability, 0 < θ < 1). θ (flat) = `[theta]`.

    Example:
        >>> import jax, trajax as tj
        >>> data = tj.simulate(tj.TwoStateChain(theta=0.8), jax.random.key(0), 100, 50)
        >>> float(tj.fit(tj.TwoStateChain(theta=0.5), data).theta[0])  # doctest: +SKIP
        0.79...
    """

    stay: Float[Array, ""]
    homogeneous_markov = True

    def __init__(self, theta=0.7):
        stay = as_float_array(theta, "theta")
        if stay.size != 1:
            raise ValueError(f"theta: expected a scalar stay probability, got shape {stay.shape}")
        # a strongly typed parameter: a Python float would otherwise give a weak-typed θ
        stay = jnp.asarray(jnp.reshape(stay, ()), dtype=stay.dtype)
        self.stay = check_open_interval(stay, "theta", 0.0, 1.0)

    @property
    def theta(self):
        return self.stay[None]

    def with_theta(self, theta):
        return eqx.tree_at(lambda m: m.stay, self, jnp.reshape(theta, ()).astype(self.stay.dtype))

    def to_unconstrained(self, theta):
        return logit(theta)

    def from_unconstrained(self, u):
        return expit(u)

    def initial_state(self, key):
        return jax.random.bernoulli(key, 0.5).astype(jnp.int32)

    def transition(self, key, z, t):
        stay = jax.random.uniform(key, dtype=self.stay.dtype) < self.stay
        return jnp.where(stay, z, 1 - z)

    def transition_log_prob(self, z, z_next, t):
        return jnp.where(z == z_next, jnp.log(self.stay), jnp.log1p(-self.stay))

    def trajectory_log_likelihood(self, z: Int[Array, " T"]):
        dtype = self.stay.dtype
        num_stays = jnp.sum(z[1:] == z[:-1], dtype=dtype)
        num_flips = (z.shape[0] - 1) - num_stays
        return num_stays * jnp.log(self.stay) + num_flips * jnp.log1p(-self.stay)

    def validate_data(self, data):
        _check_states(data, 2)

    def exact_fisher(self, num_steps):
        return jnp.reshape((num_steps - 1) / (self.stay * (1 - self.stay)), (1, 1))

    def sufficient_statistics(self, data: Int[Array, "m T"]):
        num_stays = jnp.sum(data[:, 1:] == data[:, :-1], dtype=self.stay.dtype)
        num_transitions = jnp.asarray(data.shape[0] * (data.shape[1] - 1), self.stay.dtype)
        return num_stays, num_transitions

    def mle_from_statistics(self, stats):
        num_stays, num_transitions = stats
        return (num_stays / num_transitions)[None]


class MarkovChain(AbstractModel):
    """K-state Markov chain with transition matrix P (docs/theory.md §2).

    P(z_{t+1} = j | z_t = k) = P[k, j]; z_1 ~ `initial` (default uniform).
    θ = the first K−1 entries of each row of P, row-major (p = K(K−1)); the last column is
    1 − (row sum of the free entries). Optimisers work in per-row log-odds against the last
    state. I_T = Σ_{t=1}^{T−1} Σ_k P(z_t = k)·F_k with F_k = diag(1/P_k[:K−1]) + 11ᵀ/P_k[K−1]
    and the time-t marginals ρP^{t−1}; the MLE is the row-normalised transition counts.

    Fields: `P` (K, K), `initial` (K,), `num_states` = K (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> chain = tj.MarkovChain(P=jnp.array([[0.9, 0.1], [0.3, 0.7]]))
        >>> chain.theta                                      # first K − 1 entries of each row
        Array([0.9, 0.3], dtype=float32)
        >>> data = tj.simulate(chain, jax.random.key(0), 100, 50)   # (100, 50) int32 states
        >>> tj.fit(chain, data).theta.shape                  # row-normalised transition counts
        (2,)
    """

    P: Float[Array, "K K"]
    initial: Float[Array, " K"]
    num_states: int = eqx.field(static=True)
    homogeneous_markov = True

    def __init__(self, P, initial=None):
        P = as_float_array(P, "P", ndim=2)
        if P.shape[0] != P.shape[1] or P.shape[0] < 2:
            raise ValueError(f"P: expected a square K×K matrix with K >= 2, got shape {P.shape}")
        self.P = check_stochastic_rows(P, "P")
        K = P.shape[0]
        if initial is None:
            initial = jnp.full((K,), 1.0 / K, dtype=P.dtype)
        initial = as_float_array(initial, "initial", shape=(K,))
        self.initial = check_stochastic_rows(initial[None], "initial")[0]
        self.num_states = K

    @property
    def theta(self):
        return self.P[:, :-1].ravel()

    def with_theta(self, theta):
        K = self.num_states
        free = jnp.reshape(theta, (K, K - 1)).astype(self.P.dtype)
        P = jnp.concatenate([free, 1 - free.sum(1, keepdims=True)], axis=1)
        return eqx.tree_at(lambda m: m.P, self, P)

    def to_unconstrained(self, theta):
        return simplex_to_unconstrained(jnp.reshape(theta, (self.num_states, -1))).ravel()

    def from_unconstrained(self, u):
        return simplex_from_unconstrained(jnp.reshape(u, (self.num_states, -1))).ravel()

    def initial_state(self, key):
        return jax.random.categorical(key, jnp.log(self.initial)).astype(jnp.int32)

    def transition(self, key, z, t):
        return jax.random.categorical(key, jnp.log(self.P[z])).astype(jnp.int32)

    def transition_log_prob(self, z, z_next, t):
        return jnp.log(self.P[z, z_next])

    def trajectory_log_likelihood(self, z: Int[Array, " T"]):
        return jnp.sum(jnp.log(self.P[z[:-1], z[1:]]))

    def validate_data(self, data):
        _check_states(data, self.num_states)

    def marginals(self, num_steps: int) -> Float[Array, "T K"]:
        """Laws of z_1..z_T: row t is ρ P^{t}, starting from ρ = `initial`."""

        def step(mu, _):
            return mu @ self.P, mu

        _, mus = jax.lax.scan(step, self.initial, None, length=num_steps)
        return mus

    def exact_fisher(self, num_steps):
        K = self.num_states
        occupancy = self.marginals(num_steps - 1).sum(0)  # Σ_{t=1}^{T-1} P(z_t = k)
        blocks = [
            occupancy[k] * (jnp.diag(1 / self.P[k, :-1]) + jnp.ones((K - 1, K - 1)) / self.P[k, -1])
            for k in range(K)
        ]
        return jax.scipy.linalg.block_diag(*blocks)

    def transition_counts(self, data: Int[Array, "m T"]) -> Float[Array, "K K"]:
        """C[k, j] = number of k → j transitions in all trajectories."""
        K = self.num_states
        pair = (data[:, :-1] * K + data[:, 1:]).ravel()
        counts = jnp.zeros(K * K, self.P.dtype).at[pair].add(1.0)
        return counts.reshape(K, K)

    def sufficient_statistics(self, data):
        return self.transition_counts(data)

    def mle_from_statistics(self, counts):
        P_hat = counts / counts.sum(1, keepdims=True)  # an unvisited row gives NaN: a failed fit
        return P_hat[:, :-1].ravel()
