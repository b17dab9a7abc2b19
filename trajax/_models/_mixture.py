"""Mixture of Markov chains (docs/theory.md §3, paper case 4.1): a hidden label per trajectory."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, logsumexp
from jaxtyping import Array, Float, Int

from .._bijections import expit, logit, simplex_from_unconstrained, simplex_to_unconstrained
from .._checks import as_float_array, check_open_interval, check_stochastic_rows, is_concrete
from .._model import AbstractModel
from ._chains import _check_states

__all__ = ["MarkovChainMixture"]

_LABEL_STREAM = 0x7FFFFFFF  # fold_in index of the label's key, apart from the states' indices


class MarkovChainMixture(AbstractModel):
    """Mixture of k Markov chains on K states (docs/theory.md §3).

    Each trajectory draws a hidden label B ~ `weights` (default uniform) once, then evolves with
    P^{(B)}; z_1 ~ `initial` (default uniform) whatever B. The likelihood conditional on z_1 is
    log Σ_b π_b Π_t P^{(b)}(z_t, z_{t+1}). The family is not log-concave and not mixing (the
    label persists forever).

    θ: the free entries (first K − 1 of each row) of each component, component-major. The
    two-state baseline `MarkovChainMixture.two_state(theta0, theta1)` ties each component to a
    symmetric chain (stay with θ_b in both states), θ = [θ_0, θ_1]; its exact I_T is a sum
    over the sufficient statistic N (number of stays).

    Label switching: with equal weights the components are exchangeable; fits report them
    ordered by their first free entry, descending (θ_0 > θ_1 for the two-state baseline).

    Fields: `P` (k, K, K), `weights` (k,), `initial` (K,), `tied` (static: two-state symmetric).

    Example:
        >>> import jax.numpy as jnp, trajax as tj
        >>> mixture = tj.MarkovChainMixture.two_state(0.8, 0.4)
        >>> mixture.theta
        Array([0.8, 0.4], dtype=float32)
        >>> jnp.round(tj.fisher_information(mixture, 5) / 4, 2)   # exact I_T/(T − 1) at T = 5
        Array([[1.64, 0.01],
               [0.01, 1.24]], dtype=float32)
    """

    P: Float[Array, "k K K"]
    weights: Float[Array, " k"]
    initial: Float[Array, " K"]
    tied: bool = eqx.field(static=True)
    exchangeable: bool = eqx.field(static=True)

    def __init__(self, P, weights=None, initial=None, *, tied: bool = False):
        P = as_float_array(P, "P", ndim=3)
        k, K = P.shape[0], P.shape[1]
        if P.shape[2] != K or K < 2 or k < 1:
            raise ValueError(f"P: expected k × K × K transition matrices with K >= 2, got shape {P.shape}")
        self.P = check_stochastic_rows(P, "P")
        if weights is None:
            weights = jnp.full((k,), 1.0 / k, P.dtype)
        weights = as_float_array(weights, "weights", shape=(k,))
        self.weights = check_stochastic_rows(weights[None], "weights")[0]
        if initial is None:
            initial = jnp.full((K,), 1.0 / K, P.dtype)
        initial = as_float_array(initial, "initial", shape=(K,))
        self.initial = check_stochastic_rows(initial[None], "initial")[0]
        if tied and K != 2:
            raise ValueError(f"P: tied (symmetric two-state) components need K = 2, got K = {K}")
        self.tied = tied
        self.exchangeable = bool(is_concrete(weights) and np.allclose(np.asarray(weights), 1.0 / k))

    @classmethod
    def two_state(cls, theta0, theta1, weights=None):
        """The baseline of docs/theory.md §3: two symmetric two-state chains with stay probabilities
        θ_0 > θ_1; θ = [theta0, theta1]."""
        stay = as_float_array([theta0, theta1], "theta0, theta1", ndim=1)
        check_open_interval(stay, "theta0, theta1", 0.0, 1.0)
        P = jnp.stack([jnp.array([[s, 1 - s], [1 - s, s]]) for s in stay])
        return cls(P, weights=weights, tied=True)

    @property
    def num_components(self) -> int:
        return self.P.shape[0]

    @property
    def num_states(self) -> int:
        return self.P.shape[1]

    # -- parameters ----------------------------------------------------------------------
    @property
    def theta(self):
        return self.P[:, 0, 0] if self.tied else self.P[:, :, :-1].ravel()

    def with_theta(self, theta):
        k, K = self.num_components, self.num_states
        if self.tied:
            stay = theta.astype(self.P.dtype)
            row0 = jnp.stack([stay, 1 - stay], axis=1)
            P = jnp.stack([row0, row0[:, ::-1]], axis=1)
        else:
            free = theta.reshape(k, K, K - 1).astype(self.P.dtype)
            P = jnp.concatenate([free, 1 - free.sum(-1, keepdims=True)], axis=-1)
        return eqx.tree_at(lambda m: m.P, self, P)

    def to_unconstrained(self, theta):
        if self.tied:
            return logit(theta)
        return simplex_to_unconstrained(theta.reshape(self.num_components, self.num_states, -1)).ravel()

    def from_unconstrained(self, u):
        if self.tied:
            return expit(u)
        k, K = self.num_components, self.num_states
        return simplex_from_unconstrained(u.reshape(k, K, K - 1)).ravel()

    def canonical_theta(self, theta):
        """Orders exchangeable components by their first free entry, descending."""
        if not self.exchangeable:
            return theta
        blocks = theta.reshape(self.num_components, -1)
        return blocks[jnp.argsort(-blocks[:, 0])].ravel()

    # -- sampling and likelihood ---------------------------------------------------------
    def sample_trajectory(self, key, num_steps):
        label = jax.random.categorical(jax.random.fold_in(key, _LABEL_STREAM), jnp.log(self.weights))
        P = self.P[label]
        z1 = jax.random.categorical(jax.random.fold_in(key, 0), jnp.log(self.initial)).astype(jnp.int32)

        def step(z, t):
            z_next = jax.random.categorical(jax.random.fold_in(key, t), jnp.log(P[z])).astype(jnp.int32)
            return z_next, z_next

        _, rest = jax.lax.scan(step, z1, jnp.arange(1, num_steps))
        return jnp.concatenate([z1[None], rest])

    def component_log_likelihoods(self, z: Int[Array, " T"]) -> Float[Array, " k"]:
        """log Π_t P^{(b)}(z_t, z_{t+1}) for each component b."""
        return jnp.sum(jnp.log(self.P[:, z[:-1], z[1:]]), axis=1)

    def trajectory_log_likelihood(self, z):
        return logsumexp(jnp.log(self.weights) + self.component_log_likelihoods(z))

    def posterior(self, data: Int[Array, "m T"]) -> Float[Array, "m k"]:
        """P(B = b | z_i) for each trajectory (the E-step of EM)."""
        logits = jnp.log(self.weights) + jax.vmap(self.component_log_likelihoods)(data)
        return jax.nn.softmax(logits, axis=-1)

    def validate_data(self, data):
        _check_states(data, self.num_states)

    # -- Fisher and estimation -----------------------------------------------------------
    def exact_fisher(self, num_steps):
        """Two-state baseline only: N (stays) is sufficient; given z_1 each of the C(T−1, N)
        paths with N stays has probability Σ_b π_b θ_b^N (1−θ_b)^{T−1−N}, so
        I_T = Σ_N C(T−1, N) p_N s_N s_Nᵀ with s_N = ∇ log p_N."""
        if not self.tied:
            return None
        n = num_steps - 1
        N = jnp.arange(n + 1, dtype=self.P.dtype)
        log_binom = gammaln(n + 1.0) - gammaln(N + 1) - gammaln(n - N + 1)

        def log_p(theta):
            per = N[:, None] * jnp.log(theta) + (n - N[:, None]) * jnp.log1p(-theta)
            return logsumexp(jnp.log(self.weights) + per, axis=1)

        scores = jax.jacobian(log_p)(self.theta)  # (n + 1, 2)
        probs = jnp.exp(log_binom + log_p(self.theta))
        return jnp.einsum("n,ni,nj->ij", probs, scores, scores)

    def initial_theta(self, data):
        """A data-driven spread start (the model's own θ is not used).

        Two-state baseline: components at centre ± spread/2 of the per-trajectory stay
        fractions (spread = their interquartile range, at least 0.1). General case: trajectories
        are ranked by their empirical P̂_i[z, z'] for the most frequent transition, split into k
        equal groups, and each group's pooled (add-one smoothed) counts give one component.
        """
        dtype = self.P.dtype
        if self.tied:
            stays = jnp.mean((data[:, 1:] == data[:, :-1]).astype(dtype), axis=1)
            hi, lo = jnp.quantile(stays, 0.75), jnp.quantile(stays, 0.25)
            spread = jnp.maximum(hi - lo, 0.1)
            centre = jnp.clip(jnp.mean(stays), 0.15, 0.85)
            return jnp.clip(jnp.stack([centre + spread / 2, centre - spread / 2]), 0.02, 0.98)
        k, K, m = self.num_components, self.num_states, data.shape[0]
        pair = data[:, :-1] * K + data[:, 1:]
        counts = jax.vmap(lambda p: jnp.zeros(K * K, dtype).at[p].add(1.0))(pair).reshape(m, K, K)
        pooled = counts.sum(0)
        top = jnp.argmax(pooled.ravel())
        row, col = top // K, top % K
        rate = (counts[:, row, col] + 1) / (counts[:, row].sum(-1) + K)
        group = jnp.argsort(jnp.argsort(-rate)) * k // m  # rank → group 0..k−1, high rate first
        grouped = jax.vmap(lambda g: jnp.sum(jnp.where((group == g)[:, None, None], counts, 0.0), 0))(
            jnp.arange(k)
        )
        P0 = (grouped + 1) / (grouped + 1).sum(-1, keepdims=True)
        return P0[:, :, :-1].ravel()
