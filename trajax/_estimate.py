"""THE estimator: statistics → closed form, else start → Newton or L-BFGS → canonical θ → FitResult.

Every fit goes through `estimate`, whatever its data source (`_sources.py`: whole data, windows
of a nested simulation, re-simulated chunks), so `fit`, `fit_streaming` and the sweeps share one
"auto" policy, one start rule and one result shape. The static choices live in a `Plan`.

The start of an iterative fit (`init=None`), in this order:

1. summed `initial_statistics` (least squares for linear systems, dependent regression and the
   GLM; several `initial_candidates_from_statistics`: the best on the data wins), over every
   piece of the source;
2. the model's own `initial_theta(data)` when its class overrides it (the mixture's spread start,
   the attention model, mixed regression): whole data only; a streamed fit uses the first chunk;
3. otherwise the generic start: the origin of the optimiser's coordinates,
   θ₀ = `from_unconstrained(0)` (0 for identity coordinates, ½ for a logit-coordinate
   probability). Never the model's own θ, which in a sweep is the truth θ*.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._model import AbstractModel
from ._results import RESULTS, FitResult
from ._second_order import solve, solve_from_starts
from ._solvers import LBFGS, Newton, default_ftol, default_max_steps, default_tol, default_xtol
from ._sources import AbstractSource, Chunks, Groups, Whole

__all__ = ["Plan", "estimate", "resolve_method", "describe_start", "NEWTON_MAX_PARAMS"]

NEWTON_MAX_PARAMS = 64
ITERATIVE = ("newton", "lbfgs")


@dataclass(frozen=True)
class Plan:
    """The static choices of one fit."""

    method: str  # "closed_form", "recursive", "newton" or "lbfgs" ("auto" already resolved)
    init: str  # "data" (the start rule above), "model" (the model's θ) or "given" (an array)
    max_steps: int  # evaluations of the objective after the start
    tol: float  # gradient test on ‖∇ mean per-transition negative log-likelihood‖_∞
    xtol: float  # Newton's step size below which a failed step hands over to BFGS (× 1 + ‖u‖_∞)
    ftol: float  # objective test: an accepted step lowering f by ≤ ftol·max(|f|, 1) ends the fit
    starts: int = 1  # iterative fits from this many starts (the data-driven one and k − 1 around it)

    @classmethod
    def make(cls, model: AbstractModel, method: str, init: str, max_steps: int | None, tol: float | None):
        """The plan with the defaults filled in: `max_steps` None → `default_max_steps`
        (100 + 20 p), `tol` None → the dtype's `default_tol`."""
        dtype = model.theta.dtype
        tol = default_tol(dtype) if tol is None else tol
        max_steps = default_max_steps(model.num_params) if max_steps is None else max_steps
        return cls(method, init, max_steps, tol, default_xtol(dtype), default_ftol(dtype))

    def solver(self):
        if self.method == "newton":
            return Newton(self.max_steps, self.tol, self.xtol, self.ftol)
        return LBFGS(self.max_steps, self.tol, self.ftol)


def has_statistics(model: AbstractModel, example) -> bool:
    """Whether the model gives additive sufficient statistics for data like `example`."""
    return jax.eval_shape(model.sufficient_statistics, example) is not None


def has_initial_statistics(model: AbstractModel, example) -> bool:
    """Whether the model gives additive initial (least-squares) statistics."""
    return jax.eval_shape(model.initial_statistics, example) is not None


def overrides(model: AbstractModel, hook: str) -> bool:
    """Whether the model's class overrides the base's optional `hook`."""
    return getattr(type(model), hook) is not getattr(AbstractModel, hook)


def resolve_method(model: AbstractModel, method: str, example, whole: bool = True) -> str:
    """The one "auto" policy: a closed form when the model has one (sufficient statistics, or an
    overridden `closed_form_mle` on whole data), else Newton for p ≤ 64, else L-BFGS."""
    closed = has_statistics(model, example) or (whole and overrides(model, "closed_form_mle"))
    if method == "auto":
        if closed:
            return "closed_form"
        return "newton" if model.num_params <= NEWTON_MAX_PARAMS else "lbfgs"
    if method == "closed_form" and not closed:
        raise ValueError(f"method: {type(model).__name__} has no closed-form MLE for this noise")
    if method == "recursive" and not (whole and overrides(model, "recursive_estimate")):
        raise ValueError(f"method: 'recursive' is not available for {type(model).__name__}")
    if method == "least_squares":
        if model.least_squares_is_mle:  # Gaussian noise: least squares is the likelihood's optimum
            return resolve_method(model, "auto", example, whole)
        if not (overrides(model, "least_squares_from_statistics") and has_initial_statistics(model, example)):
            raise ValueError(f"method: 'least_squares' is not available for {type(model).__name__}")
    return method


def describe_start(model: AbstractModel, plan: Plan, example) -> str:
    """Where an iterative fit starts, in words (recorded in a sweep's summary.json)."""
    if plan.method not in ITERATIVE:
        return f"none ({plan.method})"
    if plan.init == "model":
        return "the model's own θ (init='model'): in a sweep, the truth θ*"
    if plan.init == "given":
        return "the θ given as init"
    if has_initial_statistics(model, example):
        return "data-driven: initial_statistics (e.g. least squares)"
    if overrides(model, "initial_theta"):
        return "data-driven: the model's initial_theta"
    return "generic: the origin of the optimiser's coordinates, from_unconstrained(0)"


def start(model: AbstractModel, source: AbstractSource, plan: Plan, given) -> Float[Array, " p"]:
    """θ₀ by the start rule of the module docstring."""
    if plan.init == "model":
        return model.theta
    if plan.init == "given":
        return given
    # shapes only: a traced example would add a window (or a streamed chunk's simulation) to the program
    if has_initial_statistics(model, jax.eval_shape(source.example)):

        def objective_values(candidates):
            one = lambda d: jax.vmap(lambda theta: model.objective_value(theta, d))(candidates)
            return source.mean(one)

        return model.start_from_statistics(source.total(model.initial_statistics), objective_values)
    if overrides(model, "initial_theta"):
        if isinstance(source, Whole):
            return model.initial_theta(source.data)
        if isinstance(source, Chunks):
            return model.initial_theta(source.chunk(0))
        if isinstance(source, Groups):
            return model.initial_theta(source.largest())
        raise ValueError(f"init: {type(model).__name__}'s initial_theta needs whole data")
    return model.generic_start()


def estimate(model: AbstractModel, source: AbstractSource, plan: Plan, given=None) -> FitResult:
    """The MLE of θ from `source` (trace-compatible: call it under jit/vmap)."""
    n = source.num_transitions()
    if plan.method in ITERATIVE:
        theta0 = start(model, source, plan, given)
        u0 = model.to_unconstrained(theta0)
        if plan.method == "newton":
            minimise = lambda u: plan.solver().minimise(
                lambda v: source.mean(lambda d: model.objective_terms(v, d)), u
            )
        else:
            # (f, ∇f) piece by piece: no reverse-mode derivative through a source's loop
            piece = jax.value_and_grad(lambda u, d: model.objective_value(model.from_unconstrained(u), d))
            objective = lambda u: source.mean(lambda d: piece(u, d))
            minimise = lambda u: plan.solver().minimise(objective, u)
        f = lambda u, d: model.objective_value(model.from_unconstrained(u), d)
        solve_from = lambda u: solve(
            minimise,
            None if plan.method == "newton" else lambda v: source.mean(lambda d: jax.hessian(f)(v, d)),
            # one pass over the data per point (only when escaping a saddle): no k-fold temporaries
            lambda points: jax.lax.map(lambda v: source.mean(lambda d: f(v, d)), points),
            u,
            plan.tol,
        )
        solution, successful_starts, steps = solve_from_starts(solve_from, u0, plan.starts)
        theta = model.canonical_theta(model.from_unconstrained(solution.u))
        result = RESULTS.where(jnp.all(jnp.isfinite(theta0)), solution.result, RESULTS.singular_start)
        value, grad_inf = solution.value, solution.grad_inf
        hessian = _natural_hessian(model, solution)
    else:
        if plan.method == "recursive":
            theta = model.recursive_estimate(source.data)
        elif plan.method == "least_squares":
            theta = model.least_squares_from_statistics(source.total(model.initial_statistics))
        elif isinstance(source, Whole):
            theta = model.closed_form_mle(source.data)
        else:
            theta = model.mle_from_statistics(source.total(model.sufficient_statistics))
        # value, gradient and Hessian at θ̂ in one pass over the data
        value, grad, hessian = source.mean(lambda d: _value_grad_hessian(model.objective_value, theta, d))
        grad_inf, steps = jnp.max(jnp.abs(grad)), jnp.asarray(0)
        successful_starts = None
        result = RESULTS.successful
    if hessian is None:  # autodiff: one more pass over the data
        hessian = source.mean(lambda d: jax.hessian(model.objective_value)(theta, d))
    log_likelihood = -value * n.astype(value.dtype)
    ok = jnp.all(jnp.isfinite(theta)) & jnp.isfinite(log_likelihood) & jnp.isfinite(grad_inf)
    result = RESULTS.where(
        ok, result, RESULTS.where(result == RESULTS.singular_start, result, RESULTS.nonfinite)
    )
    return FitResult(
        model=model.with_theta(theta),
        theta=theta,
        log_likelihood=log_likelihood,
        grad_norm=grad_inf,
        num_steps=steps,
        result=result,
        information=n.astype(value.dtype) * hessian,
        num_transitions=n,
        successful_starts=successful_starts,
    )


def _value_grad_hessian(f, theta, data):
    """(f, ∇f, ∇²f) at θ of f(θ, data), by one forward-over-reverse pass (the value and gradient
    are the primal outputs of the Hessian's forward pass)."""

    def grad_and_primal(t):
        value, grad = jax.value_and_grad(f)(t, data)
        return grad, (value, grad)

    hessian, (value, grad) = jax.jacfwd(grad_and_primal, has_aux=True)(theta)
    return value, grad, hessian


def _natural_hessian(model: AbstractModel, solution):
    """∇²_θ of the mean objective at θ̂ from the solver's Hessian in optimiser coordinates u:
    J⁻ᵀ H_u J⁻¹ with J = dθ̂/du, θ̂(u) = canonical_theta(from_unconstrained(u)) (the gradient term
    vanishes at a stationary point). `canonical_theta` maps θ to an equivalent θ (a symmetry of
    the likelihood: exchangeable components reordered, a sign flipped), so J is the local linear
    map of that symmetry composed with the coordinates' (a permutation for the mixtures): no second
    pass over the data. None (then autodiff at θ̂) when the solver holds no Hessian or the
    coordinates change dimension."""
    if solution.hessian is None:
        return None
    if not (overrides(model, "from_unconstrained") or overrides(model, "canonical_theta")):
        return solution.hessian  # identity coordinates: H_θ = H_u
    J = jax.jacfwd(lambda u: model.canonical_theta(model.from_unconstrained(u)))(solution.u)
    if J.shape[0] != J.shape[1]:
        return None
    J_inv = jnp.linalg.inv(J)
    return J_inv.T @ solution.hessian @ J_inv
