"""fit_streaming: the MLE from m·T transitions that never exist in memory at once.

Trajectories are simulated chunk by chunk from the same keys as `simulate` (trajectory i uses
`fold_in(key, i)`), so the data are exactly those of `simulate(model, key, m, T)`. Models with
additive sufficient statistics (`sufficient_statistics` / `mle_from_statistics`: the chains,
the Gaussian linear system) are fitted in one pass; the others by Newton, re-simulating the
chunks at every iteration and summing the fused objective terms over them.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from ._checks import check_int
from ._fit import FitResult, _newton, make_result, resolve_tol
from ._keys import check_key
from ._model import AbstractModel
from ._simulate import trajectory_key

__all__ = ["fit_streaming"]


def _chunk(model, key, c, chunk_size: int, num_steps: int):
    indices = (c * chunk_size + jnp.arange(chunk_size)).astype(jnp.uint32)
    return jax.vmap(lambda i: model.sample_trajectory(trajectory_key(key, i), num_steps))(indices)


def _sum_over_chunks(fn, model, key, num_chunks, chunk_size, num_steps):
    """Σ_c fn(chunk c) for a pytree-valued fn, one chunk in memory at a time."""
    first = fn(_chunk(model, key, 0, chunk_size, num_steps))

    def body(c, total):
        return jax.tree.map(jnp.add, total, fn(_chunk(model, key, c, chunk_size, num_steps)))

    return jax.lax.fori_loop(1, num_chunks, body, first)


@eqx.filter_jit
def _fit_streaming(model, key, num_chunks: int, chunk_size: int, num_steps: int, max_steps: int, tol: float):
    n = num_chunks * chunk_size * (num_steps - 1)
    run = lambda fn: _sum_over_chunks(fn, model, key, num_chunks, chunk_size, num_steps)
    probe = jax.eval_shape(lambda: _chunk(model, key, 0, chunk_size, num_steps))
    if jax.eval_shape(model.sufficient_statistics, probe) is not None:
        theta = model.mle_from_statistics(run(model.sufficient_statistics))
        steps, opt_ok = jnp.asarray(0), jnp.asarray(True)

        def ll_and_grad(data):
            f = lambda th: jnp.sum(jax.vmap(model.with_theta(th).trajectory_log_likelihood)(data))
            return jax.value_and_grad(f)(theta)

        ll, grad = run(ll_and_grad)
        grad_inf = jnp.max(jnp.abs(grad)) / n
    else:
        weight = chunk_size * (num_steps - 1) / n

        def terms(u):
            total = run(lambda data: model.objective_terms(u, data))
            return jax.tree.map(lambda x: x * weight, total)

        theta0 = model.initial_theta(_chunk(model, key, 0, chunk_size, num_steps))
        u, steps, value, grad_inf = _newton(terms, model.to_unconstrained(theta0), max_steps, tol)
        theta = model.canonical_theta(model.from_unconstrained(u))
        ll, opt_ok = -value * n, grad_inf <= tol
    return make_result(model, theta, ll, grad_inf, steps, opt_ok)


def fit_streaming(
    model: AbstractModel,
    key: PRNGKeyArray,
    num_trajectories: int,
    num_steps: int,
    *,
    chunk_size: int,
    max_steps: int = 100,
    tol: float | None = None,
) -> FitResult:
    """MLE from `num_trajectories` simulated trajectories of `num_steps` states, streamed in
    chunks of `chunk_size` trajectories (which must divide `num_trajectories`); peak memory is
    that of one chunk. Equals `fit(model, simulate(model, key, m, T))` up to rounding.

    Example:
        >>> import jax, trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)
        >>> res = tj.fit_streaming(chain, jax.random.key(0), 10_000, 100, chunk_size=1000)
    """
    key = check_key(key)
    m = check_int(num_trajectories, "num_trajectories")
    T = check_int(num_steps, "num_steps", 2)
    chunk = check_int(chunk_size, "chunk_size")
    if m % chunk:
        raise ValueError(f"chunk_size: expected a divisor of num_trajectories={m}, got {chunk}")
    tol = resolve_tol(model, tol)
    return _fit_streaming(model, key, m // chunk, chunk, T, check_int(max_steps, "max_steps"), tol)
