"""Linear-attention sequence model (docs/theory.md §6, paper case 4.4)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._checks import as_float_array, is_concrete
from .._model import AbstractModel
from ._chains import _check_states

__all__ = ["LinearAttention"]


class LinearAttention(AbstractModel):
    """Next-token model with one linear-attention layer (docs/theory.md §6).

    Tokens x_0, x_1, … ∈ {0..K−1} with embeddings z_t = E[x_t] (‖e_k‖ ≤ 1). Given z_0..z_t
    (t ≥ 1), the next token is k with probability softmax(ℓ_t)_k,

        ℓ_t = J C (1/t) Σ_{s<t} z_s (z_sᵀ W z_t),

    where C ((K−1)×d) is a fixed head and J appends a zero last logit. θ = W.ravel() (p = d²).
    x_0 and x_1 are uniform on the K tokens (the fixed law), so the log-likelihood is
    conditional on the first two tokens. It is concave in θ, its Hessian does not depend on
    the next token, and `fit` uses Newton from W = 0.

    Fields: `W` (d, d), `E` (K, d), `C` (K−1, d); `num_tokens` = K, `dim` = d (static).

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> E = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])   # K = 3 tokens in d = 2
        >>> C = jnp.array([[1.0, 0.0], [0.0, 1.0]])               # (K − 1, d)
        >>> model = tj.LinearAttention(W=jnp.array([[1.0, 0.5], [0.0, 1.0]]), E=E, C=C)
        >>> tokens = tj.simulate(model, jax.random.key(0), 64, 32)  # (64, 32) int32 tokens
        >>> bool(tj.fit(model, tokens).converged)                 # Newton from W = 0 (concave)
        True
    """

    W: Float[Array, "d d"]
    E: Float[Array, "K d"]
    C: Float[Array, "K1 d"]
    num_tokens: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    parameters = ("W",)

    def __init__(self, W, E, C):
        W = as_float_array(W, "W", ndim=2)
        d = W.shape[0]
        if W.shape != (d, d):
            raise ValueError(f"W: expected a square d×d matrix, got shape {W.shape}")
        E = as_float_array(E, "E", ndim=2)
        if E.shape[1] != d or E.shape[0] < 2:
            raise ValueError(f"E: expected K × {d} token embeddings with K >= 2, got shape {E.shape}")
        if is_concrete(E) and np.any(np.linalg.norm(np.asarray(E), axis=1) > 1 + 1e-9):
            raise ValueError("E: expected embeddings of norm <= 1")
        K = E.shape[0]
        self.C = as_float_array(C, "C", shape=(K - 1, d))
        self.W, self.E = W, E
        self.num_tokens, self.dim = K, d

    def _logits(self, S_t, z_t, t):
        """ℓ_t from S_t = Σ_{s<t} z_s z_sᵀ and the current embedding z_t."""
        v = S_t @ (self.W @ z_t) / jnp.asarray(t, S_t.dtype)
        return jnp.concatenate([self.C @ v, jnp.zeros((1,), v.dtype)])

    def sample_trajectory(self, key, num_steps):
        K = self.num_tokens
        x0 = jax.random.randint(jax.random.fold_in(key, 0), (), 0, K)
        x1 = jax.random.randint(jax.random.fold_in(key, 1), (), 0, K)
        S1 = jnp.outer(self.E[x0], self.E[x0])

        def step(carry, t):
            S, x = carry
            z = self.E[x]
            x_next = jax.random.categorical(jax.random.fold_in(key, t + 1), self._logits(S, z, t))
            return (S + jnp.outer(z, z), x_next), x_next

        _, rest = jax.lax.scan(step, (S1, x1), jnp.arange(1, num_steps - 1))
        return jnp.concatenate([jnp.stack([x0, x1]), rest]).astype(jnp.int32)

    def trajectory_log_likelihood(self, x: Int[Array, " T"]):
        Z = self.E[x]  # (T, d)
        outer = Z[:, :, None] * Z[:, None, :]
        S = jnp.cumsum(outer, axis=0) - outer  # S_t = Σ_{s<t} z_s z_sᵀ
        t = jnp.arange(1, x.shape[0] - 1)
        logits = jax.vmap(self._logits)(S[1:-1], Z[1:-1], t)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        return jnp.sum(jnp.take_along_axis(log_probs, x[2:, None], axis=1))

    def validate_data(self, data):
        _check_states(data, self.num_tokens)

    def initial_theta(self, data):
        return jnp.zeros_like(self.W).ravel()
