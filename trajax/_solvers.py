"""The iterative solvers of the estimator, as objects: damped Newton and L-BFGS.

Each minimises an objective f(u) in the model's unconstrained coordinates and returns a
`Solution` whose `result` is a `RESULTS` member. The stop rules are shared:

- the gradient test: ‖∇f(u)‖_∞ ≤ tol (f = mean negative log-likelihood per transition);
- the stalled-objective test (SciPy's ftol/xtol idea, for non-smooth likelihoods such as Laplace
  or absolute loss, where the gradient test cannot be met): a trial step that is below
  `xtol·(1 + ‖u‖_∞)` and still fails to lower f beyond rounding means f can no longer be
  decreased: the fit is successful.

Newton takes (f, ∇f, ∇²f) at u (a model's fused `objective_terms`, summed over a data source);
L-BFGS takes f alone.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._results import RESULTS

__all__ = ["Newton", "LBFGS", "NewtonState", "Solution", "default_tol", "default_xtol"]

_MAX_DAMPING = 1e10
_NEGLIGIBLE_CURVATURE = 1e-3  # max |H_ij| below this fraction of λ: the step is a gradient step
_BOUNCES = 10  # steps taken right after a rejection, before λ is kept after every rejection


def default_tol(dtype) -> float:
    """Gradient tolerance: 1e-8 in float64, 1e-4 in float32."""
    return 1e-8 if jnp.finfo(dtype).bits == 64 else 1e-4


def default_xtol(dtype) -> float:
    """Step tolerance of the stalled-objective test: √eps (1.5e-8 in float64, 3.5e-4 in float32)."""
    return float(jnp.finfo(dtype).eps) ** 0.5


class Solution(eqx.Module):
    """What a solver returns."""

    u: Float[Array, " q"]  # the minimiser, optimiser coordinates
    value: Float[Array, ""]  # f(u)
    grad_inf: Float[Array, ""]  # ‖∇f(u)‖_∞
    num_steps: Int[Array, ""]  # iterations taken
    result: RESULTS
    hessian: Float[Array, "q q"] | None = None  # ∇²f(u) where the solver holds it (Newton)


class NewtonState(eqx.Module):
    """The state of damped Newton between iterations."""

    u: Float[Array, " q"]  # current point
    f: Float[Array, ""]  # f(u)
    g: Float[Array, " q"]  # ∇f(u)
    H: Float[Array, "q q"]  # ∇²f(u)
    damping: Float[Array, ""]  # Levenberg–Marquardt λ: the step solves (H + λI) δ = −g
    step: Int[Array, ""]  # iterations so far + 1 (0: the terms at u0 are not evaluated yet)
    stalled: Bool[Array, ""]  # a step below xtol failed to lower f: f cannot decrease further
    rejected: Bool[Array, ""]  # the last trial step was rejected
    bounces: Int[Array, ""]  # steps taken right after a rejected one, so far


class Newton(eqx.Module):
    """Levenberg–Marquardt-damped Newton on the exact Hessian (for small p).

    A step that lowers f (or leaves it flat to rounding and shrinks the gradient) is taken and
    λ shrinks tenfold; otherwise λ grows tenfold. One exception, for non-smooth likelihoods
    (Laplace, absolute loss), whose Hessian misses the kinks: a step taken right after a rejected
    one keeps λ, instead of going back to the λ just rejected, when

    - the Hessian carries no curvature against the damping (max |H_ij| < 10⁻³ λ: the step is a
      gradient step −g/λ and λ only sets its length; a piecewise-linear objective has H = 0), or
    - this has happened (a step taken right after a rejection) 10 times already in this fit:
      the damping keeps bouncing between two values, so the Hessian does not describe f at the
      scale of the steps.

    A smooth fit whose Hessian carries curvature and that bounces fewer times follows the plain
    rule's path exactly: every fit of the shipped configs does (λ stays below 14·max |H_ij| and
    bounces at most 8 times in each). Stops on the gradient test, the stalled-objective test,
    `max_steps`, or λ > 1e10 (`RESULTS.damping_limit`).
    """

    max_steps: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    xtol: float = eqx.field(static=True)

    def minimise(self, terms: Callable, u0: Float[Array, " q"]) -> Solution:
        """Minimises f from `u0`; `terms(u)` returns (f, ∇f, ∇²f). The terms at u0 are evaluated
        by the loop's first pass (which takes no step), so the program holds one copy of
        `terms`: half the code to compile."""
        eye = jnp.eye(u0.shape[0], dtype=u0.dtype)
        eps = jnp.finfo(u0.dtype).eps

        def cond(s: NewtonState):
            running = (s.step <= self.max_steps) & (jnp.max(jnp.abs(s.g)) > self.tol)
            running = running & (s.damping < _MAX_DAMPING) & ~s.stalled & jnp.isfinite(s.f)
            return (s.step == 0) | running

        def body(s: NewtonState):
            first = s.step == 0
            direction = -jnp.linalg.solve(s.H + s.damping * eye, s.g)
            u_new = jnp.where(first, s.u, s.u + direction)
            f_new, g_new, H_new = terms(u_new)
            # near the optimum f is flat to rounding: a step that leaves f equal up to a few ulps but
            # shrinks the gradient is progress too (otherwise batched runs can stall at ‖g‖ ≈ tol)
            flat = f_new <= s.f + 16 * eps * jnp.abs(s.f)
            smaller = jnp.max(jnp.abs(g_new)) < jnp.max(jnp.abs(s.g))
            ok = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)) & ((f_new <= s.f) | (flat & smaller))
            tiny = jnp.max(jnp.abs(direction)) <= self.xtol * (1 + jnp.max(jnp.abs(s.u)))
            stalled = ~first & ~ok & tiny & jnp.isfinite(f_new)
            ok = first | ok
            keep = lambda new, old: jnp.where(ok, new, old)
            bounce = ~first & ok & s.rejected
            flat_curvature = jnp.max(jnp.abs(s.H)) < _NEGLIGIBLE_CURVATURE * s.damping
            hold = bounce & (flat_curvature | (s.bounces + 1 >= _BOUNCES))
            damping = jnp.where(
                ok, jnp.where(hold, s.damping, jnp.maximum(s.damping * 0.1, 1e-12)), s.damping * 10.0
            )
            return NewtonState(
                u=keep(u_new, s.u),
                f=keep(f_new, s.f),
                g=keep(g_new, s.g),
                H=keep(H_new, s.H),
                damping=jnp.where(first, s.damping, damping),
                step=s.step + 1,
                stalled=stalled,
                rejected=~ok,
                bounces=s.bounces + bounce.astype(s.bounces.dtype),
            )

        state = NewtonState(
            u=u0,
            f=jnp.asarray(jnp.inf, u0.dtype),
            g=jnp.zeros_like(u0),
            H=eye,
            damping=jnp.asarray(1e-6, u0.dtype),
            step=jnp.asarray(0),
            stalled=jnp.asarray(False),
            rejected=jnp.asarray(False),
            bounces=jnp.asarray(0),
        )
        s = jax.lax.while_loop(cond, body, state)
        grad_inf = jnp.max(jnp.abs(s.g))
        result = RESULTS.where(s.damping >= _MAX_DAMPING, RESULTS.damping_limit, RESULTS.max_steps_reached)
        result = _stop_reason(grad_inf <= self.tol, s.stalled, s.u, s.f, s.g, result)
        return Solution(u=s.u, value=s.f, grad_inf=grad_inf, num_steps=s.step - 1, result=result, hessian=s.H)


def _stop_reason(gradient_met, stalled, u, f, g, otherwise) -> RESULTS:
    """successful when a stop test was met, else `otherwise`; nonfinite overrides both."""
    result = RESULTS.where(gradient_met | stalled, RESULTS.successful, otherwise)
    ok = jnp.all(jnp.isfinite(u)) & jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
    return RESULTS.where(ok, result, RESULTS.nonfinite)


class LBFGS(eqx.Module):
    """optax L-BFGS with a zoom line search (for large p). Stops on the gradient test, on a
    step below xtol that no longer lowers f (stalled), or at `max_steps`."""

    max_steps: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    xtol: float = eqx.field(static=True)
    memory_size: int = eqx.field(static=True, default=10)

    def minimise(self, objective: Callable, u0: Float[Array, " q"]) -> Solution:
        import optax  # here, not at the top: Newton fits (most sweeps) never pay for its import

        solver = optax.lbfgs(memory_size=self.memory_size)
        value_and_grad = optax.value_and_grad_from_state(objective)
        eps = jnp.finfo(u0.dtype).eps

        def cond(carry):
            _, state, step, stalled = carry
            g = optax.tree_utils.tree_get(state, "grad")
            return (step < self.max_steps) & ((step == 0) | (jnp.max(jnp.abs(g)) > self.tol)) & ~stalled

        def body(carry):
            u, state, step, _ = carry
            value, grad = value_and_grad(u, state=state)
            updates, state = solver.update(grad, state, u, value=value, grad=grad, value_fn=objective)
            u_new = optax.apply_updates(u, updates)
            new_value = optax.tree_utils.tree_get(state, "value")
            tiny = jnp.max(jnp.abs(updates)) <= self.xtol * (1 + jnp.max(jnp.abs(u)))
            flat = jnp.abs(new_value - value) <= 16 * eps * jnp.abs(value)
            return u_new, state, step + 1, (step > 0) & tiny & flat

        # optax's L-BFGS mixes int32 and int64 internally: allow standard promotion around it
        with jax.numpy_dtype_promotion("standard"):
            init = (u0, solver.init(u0), jnp.asarray(0), jnp.asarray(False))
            u, state, steps, stalled = jax.lax.while_loop(cond, body, init)
            value, grad = value_and_grad(u, state=state)
        grad_inf = jnp.max(jnp.abs(grad))
        result = _stop_reason(grad_inf <= self.tol, stalled, u, value, grad, RESULTS.max_steps_reached)
        return Solution(u=u, value=value, grad_inf=grad_inf, num_steps=steps, result=result)
