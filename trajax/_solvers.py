"""The iterative solvers of the estimator, as objects: damped Newton and L-BFGS.

Each minimises an objective f(u) in the model's unconstrained coordinates (f = mean negative
log-likelihood per transition: its scale does not grow with the data) and returns a `Solution`
whose `result` is a `RESULTS` member. `num_steps` counts evaluations of f after the start (a
Newton trial step, or one trial of a line search). The stop tests, shared:

- the gradient test: ‖∇f(u)‖_∞ ≤ tol;
- the objective test (SciPy's ftol): an accepted quasi-Newton step that lowers f by no more
  than ftol·max(|f_k|, |f_{k+1}|, 1), with ftol a few ulps: f has stopped improving;
- the stalled-objective test, for objectives with kinks (Laplace or absolute loss, whose optimum
  is a vertex where the gradient test never holds): a weak Wolfe line search whose bracket
  shrinks to rounding, (t_hi − t_lo)·‖d‖_∞ ≤ eps·(1 + ‖u‖_∞), finds no step that lowers f
  along a quasi-Newton direction. Quasi-Newton with this line search is Lewis and Overton's
  method for non-smooth objectives ("Nonsmooth optimization via quasi-Newton methods", Math.
  Program. 2013): its inverse-Hessian estimate learns the kinks, and it converges to a vertex
  to rounding where gradient steps zigzag along a kink and stop short of it.

All three give `successful`; otherwise `max_steps_reached` (or `nonfinite`, and `damping_limit`
for Newton). Newton takes (f, ∇f, ∇²f) at u (a model's fused `objective_terms`, summed over a
data source); L-BFGS takes (f, ∇f), each computed piece by piece inside the source's reduction,
so no reverse-mode derivative passes through a source's loop (windows, chunks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._results import RESULTS

__all__ = [
    "Newton",
    "LBFGS",
    "NewtonState",
    "Solution",
    "default_tol",
    "default_xtol",
    "default_ftol",
    "default_max_steps",
]

_MAX_DAMPING = 1e10
_NEGLIGIBLE_CURVATURE = 1e-3  # max |H_ij| below this fraction of λ: the step is a gradient step
_BOUNCES = 10  # steps taken right after a rejection, before the Hessian is given up for BFGS
_C1, _C2 = 1e-4, 0.9  # weak Wolfe: sufficient decrease, curvature
_MAX_TRIALS = 200  # evaluations of one line search (bisection to rounding takes about 55)
MAX_ESCAPES = 3  # escapes from saddle points in one fit
ESCAPE_LENGTHS = 6  # escape steps α = max(1, ‖u‖_∞)·2⁻ʲ, j = 0…5, each tried with both signs


def curvature_rtol(dtype) -> float:
    """Relative tolerance of the positive-definiteness test: eps^(2/3) of the dtype (3.7e-11 in
    float64, 2.4e-5 in float32)."""
    return float(jnp.finfo(dtype).eps) ** (2 / 3)


def curvature(H: Float[Array, "q q"]):
    """(λ₁, max|λ|, v₁): the smallest eigenvalue of the symmetric part of H, the largest in
    magnitude, and λ₁'s unit eigenvector."""
    lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
    return lam[0], jnp.max(jnp.abs(lam)), V[:, 0]


def escape_step(u: Float[Array, " q"], v: Float[Array, " q"], trial) -> Float[Array, " q"]:
    """The `trial`-th escape step from a saddle at u along its negative-curvature direction v:
    ±α v with α = max(1, ‖u‖_∞)·2^-(trial // 2), + for even trials, − for odd ones."""
    alpha = jnp.maximum(1.0, jnp.max(jnp.abs(u))) * 2.0 ** -(trial // 2).astype(u.dtype)
    return jnp.where(trial % 2 == 0, alpha, -alpha) * v


def default_tol(dtype) -> float:
    """Gradient tolerance: 1e-8 in float64, 1e-4 in float32."""
    return 1e-8 if jnp.finfo(dtype).bits == 64 else 1e-4


def default_xtol(dtype) -> float:
    """Step tolerance of Newton's stalled test: √eps (1.5e-8 in float64, 3.5e-4 in float32)."""
    return float(jnp.finfo(dtype).eps) ** 0.5


def default_ftol(dtype) -> float:
    """Objective tolerance: 4 eps (8.9e-16 in float64, 4.8e-7 in float32): f stopped improving
    beyond rounding. SciPy's L-BFGS-B default (2.2e-9) stops far from a vertex of a non-smooth
    objective, and its gap to the optimum is comparable with the statistical error of a fit of
    10⁹ transitions."""
    return 4 * float(jnp.finfo(dtype).eps)


def default_max_steps(num_params: int) -> int:
    """The default iteration cap, 100 + 20 p. A smooth Newton fit converges quadratically in
    10–30 steps; a quasi-Newton method needs of the order of p steps to learn the curvature of p
    directions, more at kinks: BFGS took up to 157 iterations to the vertex of a p = 5
    least-absolute-deviation objective, L-BFGS about 4000 for p = 625 (SciPy's L-BFGS-B allows
    15000 at any p)."""
    return 100 + 20 * num_params


class Solution(eqx.Module):
    """What a solver returns."""

    u: Float[Array, " q"]  # the minimiser, optimiser coordinates
    value: Float[Array, ""]  # f(u)
    grad_inf: Float[Array, ""]  # ‖∇f(u)‖_∞
    num_steps: Int[Array, ""]  # evaluations of f after the start
    result: RESULTS
    hessian: Float[Array, "q q"] | None = None  # ∇²f(u) where the solver holds it (Newton)


class _LineSearch(eqx.Module):
    """A weak Wolfe line search along d from u: trial steps t, doubled while f decreases enough
    and the slope stays steep, then bisected in the bracket [lo, hi] (Lewis and Overton's)."""

    d: Float[Array, " q"]  # the direction
    gd: Float[Array, ""]  # ∇f(u)·d < 0
    t: Float[Array, ""]  # the next trial step
    lo: Float[Array, ""]
    hi: Float[Array, ""]  # +inf until a trial fails the sufficient decrease
    trials: Int[Array, ""]

    @classmethod
    def along(cls, d, g) -> _LineSearch:
        """From a point with gradient g along d (along −g when d is not a descent direction)."""
        gd = jnp.dot(g, d)
        descent = jnp.isfinite(gd) & (gd < 0) & jnp.all(jnp.isfinite(d))
        d = jnp.where(descent, d, -g)
        gd = jnp.where(descent, gd, -jnp.dot(g, g))
        one, inf = jnp.ones_like(gd), jnp.full_like(gd, jnp.inf)
        return cls(d, gd, one, jnp.zeros_like(gd), inf, jnp.asarray(0))

    def trial(self, f, u, f_t, g_t):
        """(accepted, bracket collapsed to rounding, the search for the next trial)."""
        decrease = f_t <= f + _C1 * self.t * self.gd  # False for NaN
        slope = jnp.dot(g_t, self.d)
        accepted = decrease & (slope >= _C2 * self.gd) & jnp.isfinite(slope)
        hi = jnp.where(decrease, self.hi, self.t)
        lo = jnp.where(decrease & ~accepted, self.t, self.lo)
        t = jnp.where(jnp.isfinite(hi), 0.5 * (lo + hi), 2.0 * lo)
        eps = jnp.finfo(u.dtype).eps
        width = (hi - lo) * jnp.max(jnp.abs(self.d))
        collapsed = ~accepted & jnp.isfinite(hi) & (width <= eps * (1 + jnp.max(jnp.abs(u))))
        return accepted, collapsed, _LineSearch(self.d, self.gd, t, lo, hi, self.trials + 1)


def _negligible(f_old, f_new, ftol):
    """The objective test: f lowered by no more than ftol·max(|f_k|, |f_{k+1}|, 1)."""
    return f_old - f_new <= ftol * jnp.maximum(jnp.maximum(jnp.abs(f_old), jnp.abs(f_new)), 1.0)


def _bfgs_inverse(Hinv, s, y):
    """The BFGS update of an inverse-Hessian estimate by the step s and gradient change y (kept
    when sᵀy ≤ 0, which a weak Wolfe step excludes up to rounding)."""
    sy = jnp.dot(s, y)
    rho = jnp.where(sy > 0, 1.0 / jnp.where(sy > 0, sy, 1.0), 0.0)
    V = jnp.eye(s.shape[0], dtype=s.dtype) - rho * jnp.outer(s, y)
    updated = V @ Hinv @ V.T + rho * jnp.outer(s, s)
    return jnp.where(sy > 0, updated, Hinv)


def _stop_reason(gradient_met, stalled, u, f, g, otherwise) -> RESULTS:
    """successful when a stop test was met, else `otherwise`; nonfinite overrides both."""
    result = RESULTS.where(gradient_met | stalled, RESULTS.successful, otherwise)
    ok = jnp.all(jnp.isfinite(u)) & jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
    return RESULTS.where(ok, result, RESULTS.nonfinite)


class NewtonState(eqx.Module):
    """The state of damped Newton (and of its BFGS phase) between iterations."""

    u: Float[Array, " q"]  # current point
    f: Float[Array, ""]  # f(u)
    g: Float[Array, " q"]  # ∇f(u)
    H: Float[Array, "q q"]  # ∇²f(u)
    damping: Float[Array, ""]  # Levenberg–Marquardt λ: the step solves (H + λI) δ = −g
    step: Int[Array, ""]  # evaluations so far + 1 (0: the terms at u0 are not evaluated yet)
    done: Bool[Array, ""]  # the objective or the stalled-objective test was met
    rejected: Bool[Array, ""]  # the last trial step was rejected
    bounces: Int[Array, ""]  # steps taken right after a rejected one, so far
    bfgs: Bool[Array, ""]  # the Hessian was given up: BFGS steps with a line search from here
    Hinv: Float[Array, "q q"]  # BFGS inverse-Hessian estimate (BFGS phase)
    search: _LineSearch  # the line search under way (BFGS phase)
    exhausted: Bool[Array, ""]  # a line search ran out of trials
    escapes: Int[Array, ""]  # escapes from saddle points taken so far
    escape_trial: Int[Array, ""]  # the next escape step to try from the current saddle
    trial: tuple  # (u, f, g, H) of the last "+" escape step, compared with its "−" twin
    at_saddle: Bool[Array, ""]  # the gradient test holds at a saddle that may still be escaped
    escape_dir: Float[Array, " q"]  # there, the eigenvector of the most negative curvature


class Newton(eqx.Module):
    """Levenberg–Marquardt-damped Newton on the exact Hessian (for small p), with a BFGS phase
    for objectives with kinks.

    A step that lowers f (or leaves it flat to rounding and shrinks the gradient) is taken and
    λ shrinks tenfold; otherwise λ grows tenfold. Non-smooth likelihoods (Laplace, absolute
    loss), whose Hessian misses the kinks, are recognised by the damping: the fit gives up the
    Hessian for BFGS with a weak Wolfe line search (the module docstring) when a step taken
    right after a rejected one finds

    - a Hessian that carries no curvature against the damping (max |H_ij| < 10⁻³ λ: the step is
      a gradient step −g/λ; a piecewise-linear objective has H = 0), or
    - that this has happened 10 times already in this fit: λ keeps bouncing between two values,
      so the Hessian does not describe f at the scale of the steps;

    and when a step below `xtol·(1 + ‖u‖_∞)` fails to lower f (a gradient step stopped by a
    kink, or f flat to rounding). The BFGS phase starts from H⁻¹ ≈ I/λ and stops on the tests of
    the module docstring. A smooth fit whose Hessian carries curvature, and that bounces fewer
    times and meets the gradient test, follows the plain damping rule exactly: every fit of the
    shipped configs does (λ stays below 14·max |H_ij| and bounces at most 8 times in each).
    Newton mode stops on the gradient test, `max_steps`, or λ > 1e10 (`RESULTS.damping_limit`).

    Saddle points: where the gradient test holds but the Hessian has a negative eigenvalue
    (λ₁ < −eps^(2/3)·max|λ|), Newton does not stop. It tries steps ±α v₁ along λ₁'s eigenvector,
    α = max(1, ‖u‖_∞)·2⁻ʲ for j = 0…5, both signs of each length, takes the better of the two as
    soon as it lowers f, and carries on from there with the damping reset; at most three escapes
    in a fit. A start on a symmetry of the likelihood (identical mixture components or hidden
    states, where every separating direction has zero gradient) reaches the maximum this way.
    """

    max_steps: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    xtol: float = eqx.field(static=True)
    ftol: float = eqx.field(static=True, default=4 * 2.220446049250313e-16)

    def minimise(self, terms: Callable, u0: Float[Array, " q"]) -> Solution:
        """Minimises f from `u0`; `terms(u)` returns (f, ∇f, ∇²f). The terms at u0 are evaluated
        by the loop's first pass (which takes no step), and the BFGS phase evaluates the same
        `terms`, so the program holds one copy of them: half the code to compile."""
        eye = jnp.eye(u0.shape[0], dtype=u0.dtype)
        eps = jnp.finfo(u0.dtype).eps

        rtol = curvature_rtol(u0.dtype)

        def saddle(s: NewtonState) -> NewtonState:
            """`s` with `at_saddle` and `escape_dir` read from its Hessian (one eigendecomposition
            an iteration, in the body: the loop's condition reads the flag)."""
            lam_min, lam_scale, v = curvature(s.H)
            at_saddle = ~s.bfgs & (jnp.max(jnp.abs(s.g)) <= self.tol) & (lam_min < -rtol * lam_scale)
            at_saddle = at_saddle & (s.escapes < MAX_ESCAPES) & (s.escape_trial < 2 * ESCAPE_LENGTHS)
            return eqx.tree_at(lambda t: (t.at_saddle, t.escape_dir), s, (at_saddle, v))

        def cond(s: NewtonState):
            running = (s.step <= self.max_steps) & ((jnp.max(jnp.abs(s.g)) > self.tol) | s.at_saddle)
            running = running & (s.damping < _MAX_DAMPING) & ~s.done & ~s.exhausted & jnp.isfinite(s.f)
            return (s.step == 0) | running

        def body(s: NewtonState):
            first = s.step == 0
            escaping, v = s.at_saddle, s.escape_dir
            direction = -jnp.linalg.solve(s.H + s.damping * eye, s.g)
            u_new = jnp.where(s.bfgs, s.u + s.search.t * s.search.d, s.u + direction)
            u_new = jnp.where(
                first, s.u, jnp.where(escaping, s.u + escape_step(s.u, v, s.escape_trial), u_new)
            )
            f_new, g_new, H_new = terms(u_new)
            newton = _newton_update(self, s, first, direction, u_new, f_new, g_new, H_new, eps)
            bfgs = _bfgs_update(self, s, u_new, f_new, g_new, H_new)
            escape = _escape_update(s, u_new, f_new, g_new, H_new)
            state = jax.tree.map(lambda a, b: jnp.where(s.bfgs, a, b), bfgs, newton)
            return saddle(jax.tree.map(lambda a, b: jnp.where(escaping, a, b), escape, state))

        state = NewtonState(
            u=u0,
            f=jnp.asarray(jnp.inf, u0.dtype),
            g=jnp.zeros_like(u0),
            H=eye,
            damping=jnp.asarray(1e-6, u0.dtype),
            step=jnp.asarray(0),
            done=jnp.asarray(False),
            rejected=jnp.asarray(False),
            bounces=jnp.asarray(0),
            bfgs=jnp.asarray(False),
            Hinv=eye,
            search=_LineSearch.along(jnp.zeros_like(u0), jnp.zeros_like(u0)),
            exhausted=jnp.asarray(False),
            escapes=jnp.asarray(0),
            escape_trial=jnp.asarray(0),
            trial=(u0, jnp.asarray(jnp.inf, u0.dtype), jnp.zeros_like(u0), eye),
            at_saddle=jnp.asarray(False),
            escape_dir=jnp.zeros_like(u0),
        )
        s = jax.lax.while_loop(cond, body, state)
        grad_inf = jnp.max(jnp.abs(s.g))
        result = RESULTS.where(s.damping >= _MAX_DAMPING, RESULTS.damping_limit, RESULTS.max_steps_reached)
        result = _stop_reason(grad_inf <= self.tol, s.done, s.u, s.f, s.g, result)
        return Solution(u=s.u, value=s.f, grad_inf=grad_inf, num_steps=s.step - 1, result=result, hessian=s.H)


def _newton_update(solver: Newton, s: NewtonState, first, direction, u_new, f_new, g_new, H_new, eps):
    """The state after a Newton trial step (the plain damping rule), entering the BFGS phase
    where the Hessian does not describe f (the class docstring)."""
    # near the optimum f is flat to rounding: a step that leaves f equal up to a few ulps but
    # shrinks the gradient is progress too (otherwise batched runs can stall at ‖g‖ ≈ tol)
    flat = f_new <= s.f + 16 * eps * jnp.abs(s.f)
    smaller = jnp.max(jnp.abs(g_new)) < jnp.max(jnp.abs(s.g))
    ok = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)) & ((f_new <= s.f) | (flat & smaller))
    tiny = jnp.max(jnp.abs(direction)) <= solver.xtol * (1 + jnp.max(jnp.abs(s.u)))
    stalled = ~first & ~ok & tiny & jnp.isfinite(f_new)
    ok = first | ok
    keep = lambda new, old: jnp.where(ok, new, old)
    bounce = ~first & ok & s.rejected
    flat_curvature = jnp.max(jnp.abs(s.H)) < _NEGLIGIBLE_CURVATURE * s.damping
    kinks = (bounce & (flat_curvature | (s.bounces + 1 >= _BOUNCES))) | stalled
    damping = jnp.where(ok, jnp.maximum(s.damping * 0.1, 1e-12), s.damping * 10.0)
    damping = jnp.where(first | kinks, s.damping, damping)
    u, g = keep(u_new, s.u), keep(g_new, s.g)
    # the BFGS phase starts with H⁻¹ ≈ I/λ: its first step is the gradient step Newton just took
    Hinv = jnp.eye(u.shape[0], dtype=u.dtype) / s.damping
    return dataclasses.replace(
        s,
        u=u,
        f=keep(f_new, s.f),
        g=g,
        H=keep(H_new, s.H),
        damping=damping,
        step=s.step + 1,
        done=jnp.asarray(False),
        rejected=~ok,
        bounces=s.bounces + bounce.astype(s.bounces.dtype),
        bfgs=kinks,
        Hinv=Hinv,
        search=_LineSearch.along(-Hinv @ g, g),
        exhausted=jnp.asarray(False),
    )


def _bfgs_update(solver: Newton, s: NewtonState, u_new, f_new, g_new, H_new):
    """The state after one line-search trial of the BFGS phase."""
    accepted, collapsed, search = s.search.trial(s.f, s.u, f_new, g_new)
    step_s, y = u_new - s.u, g_new - s.g
    Hinv = jnp.where(accepted, _bfgs_inverse(s.Hinv, step_s, y), s.Hinv)
    keep = lambda new, old: jnp.where(accepted, new, old)
    g = keep(g_new, s.g)
    search = jax.tree.map(keep, _LineSearch.along(-Hinv @ g, g), search)
    done = collapsed | (accepted & _negligible(s.f, f_new, solver.ftol))
    exhausted = ~accepted & (search.trials >= _MAX_TRIALS)
    return dataclasses.replace(
        s,
        u=keep(u_new, s.u),
        f=keep(f_new, s.f),
        g=g,
        H=keep(H_new, s.H),
        damping=s.damping,
        step=s.step + (accepted | done | exhausted).astype(s.step.dtype),
        done=done,
        rejected=~accepted,
        bounces=s.bounces,
        bfgs=jnp.asarray(True),
        Hinv=Hinv,
        search=search,
        exhausted=exhausted,
    )


def _escape_update(s: NewtonState, u_new, f_new, g_new, H_new) -> NewtonState:
    """The state after an escape trial from a saddle: a "+" step is kept aside; after its "−"
    twin the better of the two is taken if it lowers f (Newton carries on from it with the
    damping reset), else the next, halved, length is tried."""
    plus = s.escape_trial % 2 == 0
    f_new = jnp.where(jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)), f_new, jnp.inf)
    u_t, f_t, g_t, H_t = s.trial
    use_plus = f_t < f_new
    best = jax.tree.map(
        lambda a, b: jnp.where(use_plus, a, b), (u_t, f_t, g_t, H_t), (u_new, f_new, g_new, H_new)
    )
    accepted = ~plus & (best[1] < s.f)
    keep = lambda new, old: jnp.where(accepted, new, old)
    return dataclasses.replace(
        s,
        u=keep(best[0], s.u),
        f=keep(best[1], s.f),
        g=keep(best[2], s.g),
        H=keep(best[3], s.H),
        damping=jnp.where(accepted, jnp.asarray(1e-6, s.damping.dtype), s.damping),
        step=s.step + 1,
        rejected=jnp.asarray(False),
        escapes=s.escapes + accepted.astype(s.escapes.dtype),
        escape_trial=jnp.where(accepted, 0, s.escape_trial + 1),
        trial=jax.tree.map(lambda a, b: jnp.where(plus, a, b), (u_new, f_new, g_new, H_new), s.trial),
    )


class LBFGSState(eqx.Module):
    """The state of L-BFGS between evaluations."""

    u: Float[Array, " q"]
    f: Float[Array, ""]
    g: Float[Array, " q"]
    memory: tuple  # optax's scale_by_lbfgs state (the last `memory_size` steps and gradient changes)
    search: _LineSearch
    step: Int[Array, ""]  # evaluations so far + 1 (0: f at u0 is not evaluated yet)
    done: Bool[Array, ""]  # the objective or the stalled-objective test was met
    exhausted: Bool[Array, ""]  # a line search ran out of trials


class LBFGS(eqx.Module):
    """L-BFGS (for large p): optax's `scale_by_lbfgs` directions, a weak Wolfe line search
    (the module docstring's, which also finds vertices of non-smooth objectives). Stops on the
    gradient test, the objective test, the stalled-objective test, or at `max_steps`."""

    max_steps: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    ftol: float = eqx.field(static=True, default=4 * 2.220446049250313e-16)
    memory_size: int = eqx.field(static=True, default=10)

    def minimise(self, value_and_grad: Callable, u0: Float[Array, " q"]) -> Solution:
        """Minimises f from `u0`; `value_and_grad(u)` returns (f, ∇f). As in Newton, the loop's
        first pass evaluates f at u0: one copy of `value_and_grad` in the program."""
        import optax  # here, not at the top: Newton fits (most sweeps) never pay for its import

        directions = optax.scale_by_lbfgs(memory_size=self.memory_size)

        def cond(s: LBFGSState):
            running = (s.step <= self.max_steps) & (jnp.max(jnp.abs(s.g)) > self.tol)
            return (s.step == 0) | (running & ~s.done & ~s.exhausted & jnp.isfinite(s.f))

        def body(s: LBFGSState):
            first = s.step == 0
            u_new = jnp.where(first, s.u, s.u + s.search.t * s.search.d)
            f_new, g_new = value_and_grad(u_new)
            accepted, collapsed, search = s.search.trial(s.f, s.u, f_new, g_new)
            accepted = first | accepted
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(accepted, a, b), new, old)
            d, memory = directions.update(g_new, s.memory, u_new)
            search = keep(_LineSearch.along(-d, g_new), search)
            done = ~first & (collapsed | (accepted & _negligible(s.f, f_new, self.ftol)))
            exhausted = ~accepted & (search.trials >= _MAX_TRIALS)
            return LBFGSState(
                u=keep(u_new, s.u),
                f=keep(f_new, s.f),
                g=keep(g_new, s.g),
                memory=keep(memory, s.memory),
                search=search,
                step=s.step + (accepted | done | exhausted).astype(s.step.dtype),
                done=done,
                exhausted=exhausted,
            )

        # optax's L-BFGS mixes int32 and int64 internally: allow standard promotion around it
        with jax.numpy_dtype_promotion("standard"):
            state = LBFGSState(
                u=u0,
                f=jnp.asarray(jnp.inf, u0.dtype),
                g=jnp.zeros_like(u0),
                memory=directions.init(u0),
                search=_LineSearch.along(jnp.zeros_like(u0), jnp.zeros_like(u0)),
                step=jnp.asarray(0),
                done=jnp.asarray(False),
                exhausted=jnp.asarray(False),
            )
            s = jax.lax.while_loop(cond, body, state)
        grad_inf = jnp.max(jnp.abs(s.g))
        result = _stop_reason(grad_inf <= self.tol, s.done, s.u, s.f, s.g, RESULTS.max_steps_reached)
        return Solution(u=s.u, value=s.f, grad_inf=grad_inf, num_steps=s.step - 1, result=result)
