"""Second-order acceptance: an iterative fit is `successful` only at a local maximum.

The solvers stop where the gradient test (or an objective test) holds: at a maximum of the
likelihood, but also at a saddle point or on a flat ridge. `solve` reads the curvature of the
objective f (mean negative log-likelihood per transition) at the solver's answer, in the
optimiser's coordinates u (the free directions; a change of coordinates does not change whether
a Hessian is positive definite). With λ₁ ≤ … ≤ λ_q the eigenvalues of ∇²f(û) and
rtol = eps^(2/3) of the dtype (3.7e-11 in float64, 2.4e-5 in float32):

- λ₁ > rtol·max|λ|: a maximum, accepted;
- λ₁ < −rtol·max|λ| (negative curvature): a saddle. Newton escapes by itself (it steps along
  λ₁'s eigenvector and carries on: `Newton`'s docstring); a solver that holds no Hessian
  (L-BFGS) is restarted here from the better of û ± α v₁ (α = max(1, ‖û‖_∞)·2⁻ʲ, j = 0…5,
  the lowest f wins), at most three times. A saddle left after the escapes is
  `not_a_maximum`;
- |λ₁| ≤ rtol·max|λ| where the gradient test held: a flat direction of a smooth objective (a
  parameter the data do not identify), `not_a_maximum`. Where the fit ended on an objective
  test instead (the vertex of a non-smooth objective: a sum of absolute values has ∇²f = 0
  almost everywhere), a flat direction is accepted.

L-BFGS's restarts are one `lax.while_loop` around the solver (one copy of it in the program);
under `vmap` the fits already at a maximum keep their answer bit for bit, and the loop goes
round again only while some fit of the batch is at a saddle.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from . import _solvers
from ._results import RESULTS
from ._solvers import ESCAPE_LENGTHS, Solution, curvature, curvature_rtol, escape_step

__all__ = ["solve", "solve_from_starts", "curvature_rtol"]

_SPREAD = 0.5  # extra starts: u₀ + 0.5·(1 + |u₀|)·N(0, 1), coordinate-wise
_STARTS_SEED = 20261208


def solve(
    minimise: Callable[[Array], Solution],
    hessian: Callable[[Array], Array] | None,
    objective_values: Callable[[Array], Array],
    u0: Float[Array, " q"],
    tol: float,
) -> Solution:
    """`minimise(u0)` with second-order acceptance (and restarts from saddles for a solver that
    holds no Hessian).

    Args:
        minimise: u₀ ↦ the solver's `Solution` from u₀.
        hessian: u ↦ ∇²f(u) for a solver whose `Solution` has no `hessian` (L-BFGS), or None
            for one that holds it and escapes saddles itself (Newton).
        objective_values: (k, q) points ↦ (k,) values of f.
        u0: the start, optimiser coordinates.
        tol: the gradient test's tolerance (a flat direction is refused only where it held).

    Returns:
        The solver's `Solution` with its `hessian` set, `num_steps` summed over restarts, and
        `result` `not_a_maximum` where the answer is not a local minimum of f.
    """
    rtol = curvature_rtol(u0.dtype)
    if hessian is None:  # Newton: it escapes saddles itself
        solution = minimise(u0)
        lam_min, lam_scale, _ = curvature(solution.hessian)
        return _classify(solution, lam_min, lam_scale, solution.num_steps, rtol, tol)

    def run(u):
        solution = minimise(u)
        H = hessian(solution.u)
        return Solution(solution.u, solution.value, solution.grad_inf, solution.num_steps, solution.result, H)

    def candidates(u, v):
        return u[None, :] + jax.vmap(lambda j: escape_step(u, v, j))(jnp.arange(2 * ESCAPE_LENGTHS))

    def body(carry):
        iteration, go, steps, old = carry
        # the iteration count is the same for every fit of a vmapped batch: a real branch
        u = jax.lax.cond(iteration > 0, lambda: _lowest(candidates(old.u, curvature(old.hessian)[2]),
                                                        objective_values), lambda: old.u)  # fmt: skip
        new = run(jnp.where(go, u, old.u))
        solution = jax.tree.map(lambda a, b: jnp.where(go, a, b), new, old)
        steps = steps + jnp.where(go, new.num_steps, 0)
        lam_min, lam_scale, _ = curvature(solution.hessian)
        saddle = (solution.result == RESULTS.successful) & (lam_min < -rtol * lam_scale)
        return iteration + 1, go & saddle & (iteration < _solvers.MAX_ESCAPES), steps, solution

    blank = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run, u0))
    blank = Solution(u0, blank.value, blank.grad_inf, blank.num_steps, blank.result, blank.hessian)
    carry = (jnp.asarray(0), jnp.asarray(True), jnp.asarray(0), blank)
    _, _, steps, solution = jax.lax.while_loop(lambda c: c[1], body, carry)
    lam_min, lam_scale, _ = curvature(solution.hessian)
    return _classify(solution, lam_min, lam_scale, steps, rtol, tol)


def _lowest(points, objective_values):
    values = objective_values(points)
    return points[jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))]


def _classify(solution: Solution, lam_min, lam_scale, steps, rtol: float, tol: float) -> Solution:
    """`solution` with `not_a_maximum` where its curvature says it is not a maximum."""
    saddle = lam_min < -rtol * lam_scale
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
