"""fit: maximum-likelihood estimation from all trajectories jointly.

Closed forms where the model has one (transition counts, least squares); otherwise a damped
Newton method (Levenberg–Marquardt on the exact Hessian, for small p) or optax L-BFGS, both
in the model's unconstrained coordinates, from the model's starting point (least squares where
it exists). Every path is jit- and vmap-compatible and reports `converged` instead of raising.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PyTree

from ._likelihood import check_data
from ._model import AbstractModel

__all__ = ["fit", "FitResult"]

METHODS = ("auto", "closed_form", "newton", "lbfgs", "recursive")
NEWTON_MAX_PARAMS = 64


class FitResult(eqx.Module):
    """Result of `fit`. Under `jax.vmap` every field gains the replicate axis."""

    model: AbstractModel  # the fitted model (θ = `theta`)
    theta: Float[Array, " p"]  # θ̂, natural coordinates
    log_likelihood: Float[Array, ""]  # Σ over trajectories of log p_θ̂(z_i)
    grad_norm: Float[Array, ""]  # ‖∇ mean per-transition log-lik‖_∞ at θ̂ (optimiser coordinates)
    num_steps: Int[Array, ""]  # optimiser iterations (0 for a closed form)
    converged: Bool[Array, ""]  # True iff the optimiser met its tolerance and θ̂ is finite


def _default_tol(dtype) -> float:
    return 1e-8 if jnp.finfo(dtype).bits == 64 else 1e-4


def _newton(value_grad_hess, u0, max_steps: int, tol: float):
    """Levenberg–Marquardt-damped Newton on the exact Hessian. Returns (u, steps, f(u), grad_inf).

    The terms at u0 are evaluated by the loop's first pass (which takes no step), so the
    program holds one copy of `value_grad_hess`: half the code to compile."""
    eye = jnp.eye(u0.shape[0], dtype=u0.dtype)

    def cond(state):
        _, _, g, _, lam, step = state
        return (step == 0) | ((step <= max_steps) & (jnp.max(jnp.abs(g)) > tol) & (lam < 1e10))

    def body(state):
        u, f, g, H, lam, step = state
        first = step == 0
        direction = -jnp.linalg.solve(H + lam * eye, g)
        u_new = jnp.where(first, u, u + direction)
        f_new, g_new, H_new = value_grad_hess(u_new)
        # near the optimum f is flat to rounding: a step that leaves f equal up to a few ulps but
        # shrinks the gradient is progress too (otherwise batched runs can stall at ‖g‖ ≈ tol)
        flat = f_new <= f + 16 * jnp.finfo(f.dtype).eps * jnp.abs(f)
        smaller = jnp.max(jnp.abs(g_new)) < jnp.max(jnp.abs(g))
        ok = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)) & ((f_new <= f) | (flat & smaller))
        ok = first | ok
        keep = lambda new, old: jnp.where(ok, new, old)
        lam = jnp.where(first, lam, jnp.where(ok, jnp.maximum(lam * 0.1, 1e-12), lam * 10.0))
        return (keep(u_new, u), keep(f_new, f), keep(g_new, g), keep(H_new, H), lam, step + 1)

    inf = jnp.asarray(jnp.inf, u0.dtype)
    state = (u0, inf, jnp.zeros_like(u0), eye, jnp.asarray(1e-6, u0.dtype), jnp.asarray(0))
    u, f, g, _, _, steps = jax.lax.while_loop(cond, body, state)
    return u, steps - 1, f, jnp.max(jnp.abs(g))


def _lbfgs(objective, u0, max_steps: int, tol: float, memory_size: int = 10):
    """optax L-BFGS with a zoom line search. Returns (u, steps, f(u), grad_inf)."""
    solver = optax.lbfgs(memory_size=memory_size)
    value_and_grad = optax.value_and_grad_from_state(objective)

    def cond(carry):
        _, state, step = carry
        g = optax.tree_utils.tree_get(state, "grad")
        return (step < max_steps) & ((step == 0) | (jnp.max(jnp.abs(g)) > tol))

    def body(carry):
        u, state, step = carry
        value, grad = value_and_grad(u, state=state)
        updates, state = solver.update(grad, state, u, value=value, grad=grad, value_fn=objective)
        return optax.apply_updates(u, updates), state, step + 1

    # optax's L-BFGS mixes int32 and int64 internally: allow standard promotion around it
    with jax.numpy_dtype_promotion("standard"):
        u, state, steps = jax.lax.while_loop(cond, body, (u0, solver.init(u0), jnp.asarray(0)))
        value, grad = value_and_grad(u, state=state)
    return u, steps, value, jnp.max(jnp.abs(grad))


@eqx.filter_jit
def _fit(model, data, theta0, method: str, max_steps: int, tol: float):
    m, T = jax.tree.leaves(data)[0].shape[:2]
    if method in ("closed_form", "recursive"):
        theta = model.closed_form_mle(data) if method == "closed_form" else model.recursive_estimate(data)
        value, grad = jax.value_and_grad(model.objective_value)(theta, data)
        mean_ll, steps, grad_inf, opt_ok = -value, jnp.asarray(0), jnp.max(jnp.abs(grad)), jnp.asarray(True)
    else:
        u0 = model.to_unconstrained(theta0)
        if method == "newton":
            terms = lambda u: model.objective_terms(u, data)
            u, steps, value, grad_inf = _newton(terms, u0, max_steps, tol)
        else:
            objective = lambda u: model.objective_value(model.from_unconstrained(u), data)
            u, steps, value, grad_inf = _lbfgs(objective, u0, max_steps, tol)
        theta = model.canonical_theta(model.from_unconstrained(u))
        mean_ll, opt_ok = -value, grad_inf <= tol
    return make_result(model, theta, mean_ll * (m * (T - 1)), grad_inf, steps, opt_ok)


def make_result(model, theta, log_likelihood, grad_inf, steps, optimiser_ok) -> FitResult:
    """A FitResult; `converged` also requires θ̂ and the log-likelihood to be finite."""
    finite = jnp.all(jnp.isfinite(theta)) & jnp.isfinite(log_likelihood)
    return FitResult(
        model=model.with_theta(theta),
        theta=theta,
        log_likelihood=log_likelihood,
        grad_norm=grad_inf,
        num_steps=steps,
        converged=optimiser_ok & finite,
    )


def fit(
    model: AbstractModel,
    data: PyTree,
    *,
    method: str = "auto",
    init=None,
    max_steps: int = 100,
    tol: float | None = None,
) -> FitResult:
    """Maximum-likelihood estimate of θ from all trajectories in `data` jointly.

    Args:
        model: supplies the model kind and its fixed settings (noise, features, ...). Its θ is
            ignored unless `init="model"`.
        data: leaves with leading axes (m, T), e.g. from `simulate`.
        method: "auto" (closed form if the model has one, else Newton for p <= 64, else
            L-BFGS), "closed_form", "newton", "lbfgs", or "recursive" (models with a
            `recursive_estimate`, e.g. MixedLinearRegression).
        init: starting θ for iterative methods: None (the model's `initial_theta(data)`, e.g.
            least squares), "model" (the model's own θ) or a (p,) array.
        max_steps: iteration cap of iterative methods.
        tol: convergence threshold on ‖∇ mean per-transition negative log-likelihood‖_∞ in the
            optimiser's coordinates (default 1e-8 in float64, 1e-4 in float32).

    Returns:
        A `FitResult`. Works under `jax.jit` and `jax.vmap` over a leading replicate axis of
        `data`; non-convergence is reported in `converged`, never raised.

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> true = tj.MarkovChain(P=jnp.array([[0.9, 0.1], [0.3, 0.7]]))
        >>> data = tj.simulate(true, jax.random.key(0), 100, 50)
        >>> tj.fit(true, data).theta.shape
        (2,)
    """
    _check_options(method, max_steps)
    data = check_data(model, data)
    return fit_unchecked(model, data, method=method, init=init, max_steps=max_steps, tol=tol)


def _check_options(method, max_steps) -> None:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps: expected a positive integer, got {max_steps!r}")


def fit_unchecked(model, data, *, method="auto", init=None, max_steps=100, tol=None) -> FitResult:
    """`fit` without the NaN/inf guard on `data`, for data the engine simulated itself (sweeps):
    non-finite data (an explosive model, say) then give a fit with `converged=False`, counted
    as failed, instead of an error that would stop the whole sweep."""
    _check_options(method, max_steps)
    has_closed_form = jax.eval_shape(model.closed_form_mle, data) is not None
    if method == "recursive" and not hasattr(model, "recursive_estimate"):
        raise ValueError(f"method: 'recursive' is not available for {type(model).__name__}")
    if method == "closed_form" and not has_closed_form:
        raise ValueError(f"method: {type(model).__name__} has no closed-form MLE for this noise")
    if method == "auto":
        if has_closed_form:
            method = "closed_form"
        else:
            method = "newton" if model.num_params <= NEWTON_MAX_PARAMS else "lbfgs"
    tol = resolve_tol(model, tol)
    theta0 = _initial_theta(model, data, init, method)
    return _fit(model, data, theta0, method, max_steps, tol)


def resolve_tol(model, tol) -> float:
    """The gradient tolerance: `tol` if positive, the dtype's default if None."""
    if tol is None:
        return _default_tol(model.theta.dtype)
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating | np.integer) or not tol > 0:
        raise ValueError(f"tol: expected a positive tolerance, got {tol!r}")
    return float(tol)


def _initial_theta(model, data, init, method):
    if method in ("closed_form", "recursive"):
        return model.theta
    if init is None:
        return model.initial_theta(data)
    if isinstance(init, str):
        if init != "model":
            raise ValueError(f"init: expected None, 'model' or a θ array, got {init!r}")
        return model.theta
    theta0 = jnp.asarray(init, model.theta.dtype)
    if theta0.shape != model.theta.shape:
        raise ValueError(f"init: expected shape {model.theta.shape}, got {theta0.shape}")
    return theta0
