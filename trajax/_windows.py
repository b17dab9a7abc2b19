"""Fits on a prefix (m, T) of a larger array, with m and T as runtime values: one compiled
program serves every cell of a nested sweep.

For a time-homogeneous first-order Markov model (`AbstractModel.homogeneous_markov`) the
log-likelihood of the prefix data[:m, :T] is a sum over its m(T − 1) transitions, and any
window of trajectories × consecutive states (conditioned on its first state) contributes the
sum of its own transitions. So the prefix is cut into windows of `bm` trajectories ×
`bt` transitions (`bt + 1` states), plus one column of windows of `r` = (T − 1) mod bt
transitions, and additive quantities (Newton's value, gradient and Hessian; sufficient
statistics; least-squares Gram matrices) are summed over windows in a `fori_loop` whose trip
count depends on (m, T) at run time. Only bm, bt and r are static: a grid whose T − 1 share one
remainder mod bt compiles one program for all its cells, where fitting each cell's shape
directly would compile one per cell. The windows are small enough to stay in cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from ._fit import NEWTON_MAX_PARAMS, _check_options, _newton, resolve_tol
from ._model import AbstractModel
from ._simulate import trajectory_shapes

__all__ = ["WindowPlan", "plan_windows", "fit_prefix"]

_TIME_WINDOWS = (64, 32, 16, 8)
_MAX_TRAJECTORY_BLOCK = 128


@dataclass(frozen=True)
class WindowPlan:
    """Static layout of the windows: `bm` trajectories × `bt` transitions, and the fit."""

    bm: int
    bt: int
    method: str  # "statistics" (closed form from summed sufficient statistics) or "newton"
    init: str | None  # None: the model's summed initial statistics; "model": the model's θ
    max_steps: int
    tol: float

    def remainder(self, T: int) -> int:
        """Transitions in the last window column of a cell with T states (static per program)."""
        return (T - 1) % self.bt


def _trajectory_block(m_values) -> int:
    g = math.gcd(*m_values)
    return max(d for d in range(1, min(g, _MAX_TRAJECTORY_BLOCK) + 1) if g % d == 0)


def _time_window(T_values) -> int:
    # fewest distinct remainders (= compiled programs), then the longest window
    candidates = [bt for bt in _TIME_WINDOWS if bt < max(T_values)] or [max(T_values) - 1]
    return min(candidates, key=lambda bt: (len({(T - 1) % bt for T in T_values}), -bt))


def plan_windows(model: AbstractModel, m_values, T_values, fit_options: dict) -> WindowPlan | None:
    """The window layout for fitting every cell of the grid from one nested simulation, or None
    when the model or the fit options need the per-cell path (non-Markov likelihood, L-BFGS,
    the recursive estimator, or no additive starting point)."""
    method, max_steps = fit_options.get("method", "auto"), fit_options.get("max_steps", 100)
    _check_options(method, max_steps)  # same errors as `fit`
    tol = resolve_tol(model, fit_options.get("tol"))
    if not model.homogeneous_markov:
        return None
    init = fit_options.get("init")
    if not (init is None or (isinstance(init, str) and init == "model")):
        return None
    example = jax.tree.map(lambda s: jnp.zeros((2, *s.shape), s.dtype), trajectory_shapes(model, 3))
    has_stats = jax.eval_shape(model.sufficient_statistics, example) is not None
    has_start = jax.eval_shape(model.initial_statistics, example) is not None
    if method in ("auto", "closed_form") and has_stats:
        chosen = "statistics"
    elif method == "newton" or (method == "auto" and model.num_params <= NEWTON_MAX_PARAMS):
        if not (has_start or init == "model"):
            return None
        chosen = "newton"
    else:
        return None
    bm, bt = _trajectory_block(m_values), _time_window(T_values)
    return WindowPlan(bm, bt, chosen, init, max_steps, tol)


def _window(data, j0, t0, bm: int, length: int):
    def cut(x):
        start = tuple(jnp.asarray(i, jnp.int32) for i in (j0, t0) + (0,) * (x.ndim - 2))
        return lax.dynamic_slice(x, start, (bm, length, *x.shape[2:]))

    return jax.tree.map(cut, data)


def sum_over_windows(fn, data, m, T, bm: int, bt: int, r: int):
    """Σ fn(window, transitions_in_window) over a partition of the transitions of data[:m, :T]
    into windows of bm trajectories × bt transitions plus a last column of r transitions.
    `m` must be a multiple of bm and (T − 1) mod bt must equal r."""
    blocks = m // bm
    full = jnp.maximum((T - 1) // bt, 1)  # full windows per trajectory block (≥ 1: no 0 divisor)
    add = lambda a, b: jax.tree.map(jnp.add, a, b)
    probe = _window(data, 0, 0, bm, (r or bt) + 1)
    acc = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, probe, bm * (r or bt)))

    def full_body(i, acc):
        return add(acc, fn(_window(data, (i // full) * bm, (i % full) * bt, bm, bt + 1), bm * bt))

    if bt + 1 <= jax.tree.leaves(data)[0].shape[1]:  # else no full window fits: every T − 1 = r
        acc = lax.fori_loop(0, blocks * ((T - 1) // bt), full_body, acc)
    if r:

        def rest_body(j, acc):
            return add(acc, fn(_window(data, j * bm, T - 1 - r, bm, r + 1), bm * r))

        acc = lax.fori_loop(0, blocks, rest_body, acc)
    return acc


def fit_prefix(model: AbstractModel, data, m, T, plan: WindowPlan, r: int):
    """(θ̂, converged) of the MLE from data[:m, :T] (one replicate; m, T traced int32 scalars)."""
    windows = lambda fn: sum_over_windows(fn, data, m, T, plan.bm, plan.bt, r)
    if plan.method == "statistics":
        theta = model.mle_from_statistics(windows(lambda w, _: model.sufficient_statistics(w)))
        return theta, jnp.all(jnp.isfinite(theta))
    if plan.init == "model":
        theta0 = model.theta
    else:

        def objective_values(candidates):
            # Σ over windows of count × window mean = each candidate's total objective on the prefix
            values = lambda w: jax.vmap(lambda theta: model.objective_value(theta, w))(candidates)
            return windows(lambda w, count: count * values(w))

        stats = windows(lambda w, _: model.initial_statistics(w))
        theta0 = model.start_from_statistics(stats, objective_values)
    n = (m * (T - 1)).astype(theta0.dtype)

    def terms(u):
        # objective_terms gives means over a window's transitions: weight them by its count
        sums = windows(lambda w, count: [count * x for x in model.objective_terms(u, w)])
        return tuple(s / n for s in sums)

    u, _, value, grad_inf = _newton(terms, model.to_unconstrained(theta0), plan.max_steps, plan.tol)
    theta = model.canonical_theta(model.from_unconstrained(u))
    ok = (grad_inf <= plan.tol) & jnp.all(jnp.isfinite(theta)) & jnp.isfinite(value)
    return theta, ok
