"""Second-order acceptance: an iterative fit is `successful` only at a local maximum.

The solvers stop where the gradient test (or the stalled-objective test) holds: at a maximum of
the likelihood, but also at a saddle point or on a flat ridge. `solve` runs a solver and then
reads the curvature of the objective f (mean negative log-likelihood per transition) at its
answer, in the optimiser's coordinates u (the free directions: a change of coordinates does
not change whether a Hessian is positive definite). With λ₁ ≤ … ≤ λ_q the eigenvalues of
∇²f(û) and `rtol = eps^(2/3)` of the dtype (3.7e-11 in float64, 2.4e-5 in float32):

- λ₁ ≥ −rtol·max|λ| and (λ₁ > rtol·max|λ| or no curvature at all): a maximum, accepted;
- λ₁ < −rtol·max|λ| (negative curvature, a saddle): escape. The objective is evaluated at
  û ± α v₁ (v₁ the eigenvector of λ₁, both signs, α = max(1, ‖û‖_∞)·2⁻ʲ, j = 0…5), the solver
  restarts from the lowest of these, and the answer is read again; at most `MAX_ESCAPES` times.
  Default starts that sit on a symmetry of the likelihood (identical mixture components or
  hidden states: every separating direction has zero gradient there) reach the maximum this way;
- |λ₁| ≤ rtol·max|λ| where the gradient test held (a flat direction of a smooth objective: a
  parameter the data do not identify), or a saddle left after the escapes: `not_a_maximum`.

A fit stopped by the stalled-objective test with no curvature in some direction is accepted: it
is the vertex of a non-smooth objective (a sum of absolute values has ∇²f = 0 almost everywhere).

The escape loop is one `lax.while_loop` around the solver, so the program holds one copy of it;
under `vmap` the fits that are already at a maximum keep their answer bit for bit, and the loop
runs again only while some fit of the batch is at a saddle.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._results import RESULTS
from ._solvers import Solution

__all__ = ["solve", "solve_from_starts", "curvature_rtol", "MAX_ESCAPES"]

MAX_ESCAPES = 3
_ESCAPE_LENGTHS = 6  # α = max(1, ‖û‖_∞)·2⁻ʲ, j = 0…5, each with both signs
_SPREAD = 0.5  # extra starts: u₀ + 0.5·(1 + |u₀|)·N(0, 1), coordinate-wise
_STARTS_SEED = 20261208


def curvature_rtol(dtype) -> float:
    """Relative tolerance of the positive-definiteness test: eps^(2/3) of the dtype."""
    return float(jnp.finfo(dtype).eps) ** (2 / 3)


def _curvature(H: Float[Array, "q q"]):
    """(λ₁, max|λ|, v₁) of the symmetric part of H."""
    lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
    return lam[0], jnp.max(jnp.abs(lam)), V[:, 0]


def _escape_point(u, v, objective_values: Callable) -> Float[Array, " q"]:
    """The lowest of f(û ± α v) over the lengths α of the module docstring."""
    alphas = jnp.maximum(1.0, jnp.max(jnp.abs(u))) * 2.0 ** -jnp.arange(_ESCAPE_LENGTHS, dtype=u.dtype)
    steps = jnp.concatenate([alphas, -alphas])[:, None] * v[None, :]
    candidates = u[None, :] + steps
    values = objective_values(candidates)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    return candidates[jnp.argmin(values)]


def solve(
    minimise: Callable[[Array], Solution],
    hessian: Callable[[Array], Array],
    objective_values: Callable[[Array], Array],
    u0: Float[Array, " q"],
    tol: float,
) -> Solution:
    """`minimise(u0)`, then second-order acceptance with escapes from saddle points.

    Args:
        minimise: u₀ ↦ the solver's `Solution` from u₀.
        hessian: u ↦ ∇²f(u) (used when the solver holds none).
        objective_values: (k, q) points ↦ (k,) values of f.
        u0: the start, optimiser coordinates.
        tol: the gradient test's tolerance (a flat direction is refused only where it held).

    Returns:
        The `Solution` of the last run, its `hessian` set, `num_steps` summed over the runs, and
        `result` `not_a_maximum` where the answer is not a local minimum of f.
    """
    rtol = curvature_rtol(u0.dtype)

    def run(u):
        solution = minimise(u)
        H = solution.hessian if solution.hessian is not None else hessian(solution.u)
        lam_min, lam_scale, v = _curvature(H)
        saddle = (solution.result == RESULTS.successful) & (lam_min < -rtol * lam_scale)
        return Solution(solution.u, solution.value, solution.grad_inf, solution.num_steps, solution.result, H), (
            saddle,
            lam_min,
            lam_scale,
            v,
        )

    def body(carry):
        iteration, u_prev, v_prev, go, steps, old, old_check = carry
        # the iteration count is the same for every fit of a vmapped batch: a real branch
        u = jax.lax.cond(
            iteration > 0,
            lambda: jnp.where(go, _escape_point(u_prev, v_prev, objective_values), u_prev),
            lambda: u_prev,
        )
        new, check = run(u)
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(go, x, y), a, b)
        solution, check = keep(new, old), keep(check, old_check)
        steps = steps + jnp.where(go, new.num_steps, 0)
        saddle, _, _, v = check
        go = go & saddle & (iteration < MAX_ESCAPES)
        return iteration + 1, solution.u, v, go, steps, solution, check

    shapes = jax.eval_shape(run, u0)
    blank = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    carry = (jnp.asarray(0), u0, jnp.zeros_like(u0), jnp.asarray(True), jnp.asarray(0), *blank)
    _, _, _, _, steps, solution, (saddle, lam_min, lam_scale, _) = jax.lax.while_loop(
        lambda c: c[3], body, carry
    )
    flat = (lam_min <= rtol * lam_scale) & (lam_scale > 0) & (solution.grad_inf <= tol)
    not_a_maximum = (solution.result == RESULTS.successful) & (saddle | flat)
    result = RESULTS.where(not_a_maximum, RESULTS.not_a_maximum, solution.result)
    return Solution(solution.u, solution.value, solution.grad_inf, steps, result, solution.hessian)


def solve_from_starts(solve_from: Callable[[Array], Solution], u0: Float[Array, " q"], starts: int):
    """`solve_from` from u₀ and `starts − 1` points spread around it (u₀ + ½(1 + |u₀|)·N(0, 1),
    from a fixed key: the same starts every time). The best successful answer (lowest f) wins,
    else the lowest of all. Returns (solution, number of successful starts, steps over all)."""
    if starts == 1:
        solution = solve_from(u0)
        return solution, (solution.result == RESULTS.successful).astype(jnp.int32), solution.num_steps
    noise = jax.random.normal(jax.random.key(_STARTS_SEED), (starts - 1, u0.shape[0]), u0.dtype)
    points = jnp.concatenate([u0[None], u0 + _SPREAD * (1 + jnp.abs(u0)) * noise])
    solutions = jax.vmap(solve_from)(points)
    ok = solutions.result == RESULTS.successful
    values = jnp.where(jnp.isfinite(solutions.value), solutions.value, jnp.inf)
    best = jnp.where(jnp.any(ok), jnp.argmin(jnp.where(ok, values, jnp.inf)), jnp.argmin(values))
    solution = jax.tree.map(lambda leaf: leaf[best], solutions)
    return solution, jnp.sum(ok.astype(jnp.int32)), jnp.sum(solutions.num_steps)
