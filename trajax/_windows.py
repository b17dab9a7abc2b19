"""Fits on a prefix (m, T) of a larger array, with m and T as run-time values: one compiled
program serves every cell of a nested sweep.

For a time-homogeneous first-order Markov model (`AbstractModel.homogeneous_markov`) the
log-likelihood of the prefix data[:m, :T] is a sum over its m(T − 1) transitions, and any
window of trajectories × consecutive states (conditioned on its first state) contributes the
sum of its own transitions. So the prefix is cut into windows of `bm` trajectories ×
`bt` transitions (`bt + 1` states), plus one column of windows of `r` = (T − 1) mod bt
transitions (the `Windows` data source), and the estimator sums its additive quantities
(Newton's value, gradient and Hessian; sufficient statistics; least-squares Gram matrices) over
windows in a `fori_loop` whose trip count depends on (m, T) at run time. Only bm, bt and r are
static: a grid whose T − 1 share one remainder mod bt compiles one program for all its cells,
where fitting each cell's shape directly would compile one per cell. The estimator, its "auto"
policy and its start are `fit`'s (`_estimate.py`); only the summation order differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np

from ._estimate import Plan, estimate, has_initial_statistics, overrides
from ._fit import check_fit_options, make_plan
from ._model import AbstractModel
from ._results import FitResult
from ._simulate import trajectory_shapes
from ._sources import Windows

__all__ = ["WindowPlan", "plan_windows", "fit_prefix"]

_TIME_WINDOWS = (64, 32, 16, 8)
_MAX_TRAJECTORY_BLOCK = 128


@dataclass(frozen=True)
class WindowPlan:
    """Static layout of the windows (`bm` trajectories × `bt` transitions) and the fit's plan."""

    bm: int
    bt: int
    fit: Plan

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
    when the model or the fit options need whole data per cell (a likelihood that is not
    homogeneous Markov, the recursive estimator, a closed form or start that only exists on whole
    data, or a given init array)."""
    options = check_fit_options(fit_options)  # same errors as `fit`, on every path
    if not model.homogeneous_markov:
        return None
    init = options.get("init")
    if not (init is None or (isinstance(init, str) and init == "model")):
        return None
    zeros = lambda s: jax.device_put(np.zeros((2, *s.shape), s.dtype))  # eager jnp.zeros compiles
    example = jax.tree.map(zeros, trajectory_shapes(model, 3))
    try:
        plan, _ = make_plan(model, example, whole=False, **options)
    except ValueError:
        return None  # e.g. a closed form only on whole data: the per-cell path gives fit's error
    if plan.method == "recursive":
        return None
    if (
        plan.init == "data"
        and not has_initial_statistics(model, example)
        and overrides(model, "initial_theta")
    ):
        return None  # the model's own start needs whole data
    bm, bt = _trajectory_block(m_values), _time_window(T_values)
    return WindowPlan(bm, bt, plan)


def fit_prefix(model: AbstractModel, data, m, T, plan: WindowPlan, r: int, replicate=None) -> FitResult:
    """The MLE from data[:m, :T] (one replicate; m, T traced int32 scalars), as `fit` gives it;
    with `replicate`, from data[replicate, :m, :T] (data holding many replicates)."""
    return estimate(model, Windows(data, m, T, plan.bm, plan.bt, r, replicate), plan.fit)
