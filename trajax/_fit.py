"""fit and fit_streaming: the public maximum-likelihood estimators.

Both validate their arguments, pick a data source (`_sources.py`) and call THE estimator
(`_estimate.estimate`): closed forms where the model has one (transition counts, least
squares); otherwise damped Newton (Levenberg–Marquardt on the exact Hessian, p ≤ 64) or optax
L-BFGS, in the model's unconstrained coordinates, from a data-driven start. Every path is jit-
and vmap-compatible and reports why it stopped in `FitResult.result` instead of raising.
"""

from __future__ import annotations

import dataclasses
import difflib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from ._checks import check_int, is_concrete
from ._estimate import Plan, estimate, resolve_method
from ._keys import check_key
from ._likelihood import check_data, check_ragged_data
from ._model import AbstractModel
from ._results import FitResult
from ._scaled import Scaled, has_scale, unscale_result
from ._simulate import trajectory_shapes
from ._sources import Chunks, Whole, ragged_source

__all__ = ["fit", "fit_streaming", "FitResult", "check_fit_options", "make_plan"]

METHODS = ("auto", "closed_form", "newton", "lbfgs", "recursive", "least_squares")
FIT_OPTIONS = ("method", "init", "max_steps", "tol", "starts")


def check_fit_options(options: dict | None, name: str = "fit_options") -> dict:
    """Rejects unknown keys of a fit-options dict (with a did-you-mean hint) and bad values."""
    options = dict(options or {})
    for key in options:
        if key not in FIT_OPTIONS:
            close = difflib.get_close_matches(str(key), FIT_OPTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{name}: unknown option {key!r}{hint}; expected some of {FIT_OPTIONS}")
    _check_method(options.get("method", "auto"))
    if options.get("max_steps") is not None:
        check_int(options["max_steps"], "max_steps")
    resolve_tol(options.get("tol"))
    check_int(options.get("starts", 1), "starts")
    return options


def _check_method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")


def resolve_tol(tol) -> float | None:
    """`tol` as a float if positive; None (the dtype's default) stays None."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating | np.integer) or not tol > 0:
        raise ValueError(f"tol: expected a positive tolerance, got {tol!r}")
    return float(tol)


def _init_kind(model: AbstractModel, init):
    """("data" | "model" | "given", θ₀ array or None) from the user's `init`."""
    if init is None:
        return "data", None
    if isinstance(init, str):
        if init != "model":
            raise ValueError(f"init: expected None, 'model' or a θ array, got {init!r}")
        return "model", None
    theta0 = jnp.asarray(init, model.theta.dtype)
    if theta0.shape != model.theta.shape:
        raise ValueError(f"init: expected shape {model.theta.shape}, got {theta0.shape}")
    return "given", theta0


def make_plan(
    model: AbstractModel, example, *, method="auto", init=None, max_steps=None, tol=None, starts=1, whole=True
):
    """(Plan, θ₀ or None) for fitting `model` to data like `example`, with fit's errors."""
    _check_method(method)
    max_steps = None if max_steps is None else check_int(max_steps, "max_steps")
    tol = resolve_tol(tol)
    kind, theta0 = _init_kind(model, init)
    starts = check_int(starts, "starts")
    chosen = resolve_method(model, method, example, whole=whole)
    if starts > 1 and chosen not in ("newton", "lbfgs"):
        raise ValueError(f"starts: several starts need an iterative method, and {method!r} chose {chosen!r}")
    plan = Plan.make(model, chosen, kind, max_steps, tol)
    return dataclasses.replace(plan, starts=starts), theta0


@eqx.filter_jit
def _fit(model, source, theta0, plan: Plan):
    return estimate(model, source, plan, theta0)


def fit(
    model: AbstractModel,
    data: PyTree,
    *,
    method: str = "auto",
    init=None,
    max_steps: int | None = None,
    tol: float | None = None,
    lengths=None,
    estimate_scale: bool = False,
    starts: int = 1,
) -> FitResult:
    """Maximum-likelihood estimate of θ from all trajectories in `data` jointly:
    θ̂ = argmax Σ_i log p_θ(z_i), each term conditional on the trajectory's first state.

    Args:
        model: supplies the model kind and its fixed settings (noise, features, ...). Its θ is
            ignored unless `init="model"`.
        data: leaves with leading axes (m, T), e.g. from `simulate`. Leaves whose dtype differs
            from the model's (float32 data for a float64 model, integer arrays loaded from disk)
            are cast to it; non-integral values for a discrete model are refused.
        method: "auto" (closed form if the model has one, else Newton for p <= 64, else
            L-BFGS), "closed_form", "newton", "lbfgs", "recursive" (models with a
            `recursive_estimate`, e.g. MixedLinearRegression), or "least_squares" (linear
            systems, dependent regression, the GLM: the estimator the MLE is compared with).
        init: starting θ of iterative methods: None (data-driven: the model's least-squares
            statistics or its `initial_theta`; for a model with neither, the origin of its
            optimiser coordinates, never its own θ), "model" (the model's own θ) or a (p,) array.
        max_steps: iteration cap of iterative methods (a Newton trial step, or a quasi-Newton
            step with its line search); default None: 100 + 20 p.
        tol: the gradient test ‖∇ mean per-transition negative log-likelihood‖_∞ ≤ tol in the
            optimiser's coordinates (default 1e-8 in float64, 1e-4 in float32). A fit is
            successful too where the objective stops improving: an accepted quasi-Newton step
            lowers it by at most 4 eps·max(|f|, 1), or a line search bisects to rounding without
            lowering it. The latter is how the vertex of a non-smooth likelihood (Laplace,
            absolute loss) is recognised; Newton hands such an objective, whose Hessian misses
            the kinks, to BFGS (see `trajax._solvers`).
        lengths: optional (m,) integers ≥ 2 (concrete, not traced): trajectory i is its first
            lengths[i] states; whatever lies beyond (NaN padding included) is ignored. The pooled
            MLE maximises Σ_i of the log-likelihoods of the valid parts.
        estimate_scale: also maximise over the noise scale s (models with a `scale_field`:
            linear systems and dependent regression with a scaled noise family, the GLM's σ),
            from the model's s. θ̂ is reported as usual; `result.model` carries ŝ, and
            `information` is θ's profiled over s, so `stderr` accounts for estimating s.
        starts: iterative fits from this many starts: the data-driven θ₀ and `starts − 1`
            points spread around it in the optimiser's coordinates (u₀ + ½(1 + |u₀|)·N(0, 1),
            from a fixed key, so the same every time); the best successful fit (highest
            likelihood) wins, and `result.successful_starts` counts the starts that succeeded.

    Returns:
        A `FitResult`; `result` says why the fit stopped (`tj.RESULTS`), `converged` is
        `result == RESULTS.successful`. An iterative fit is successful only at a local maximum:
        where the gradient test holds and the observed information is positive definite in the
        free directions (to a relative tolerance eps^(2/3) of the dtype). At a saddle point (a
        start on a symmetry: identical mixture components or hidden states) the fit steps along
        the direction of negative curvature and carries on; where that fails, or along a flat
        ridge, `result` is `RESULTS.not_a_maximum`. Works under `jax.jit` and `jax.vmap` over a leading
        replicate axis of `data`; failures are reported, never raised.

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> true = tj.MarkovChain(P=jnp.array([[0.9, 0.1], [0.3, 0.7]]))
        >>> data = tj.simulate(true, jax.random.key(0), 100, 50)
        >>> res = tj.fit(true, data)
        >>> res.theta.shape, bool(res.converged)
        ((2,), True)
    """
    if estimate_scale:
        if not has_scale(model):
            raise ValueError(f"estimate_scale: {type(model).__name__} has no noise scale to estimate")
        if method not in ("auto", "newton", "lbfgs"):
            raise ValueError(f"method: estimate_scale needs an iterative method, got {method!r}")
        if init is not None and not isinstance(init, str):
            init = jnp.concatenate([jnp.asarray(init, model.theta.dtype), Scaled(model).theta[-1:]])
        options = dict(method=method, init=init, max_steps=max_steps, tol=tol, lengths=lengths, starts=starts)
        return unscale_result(fit(Scaled(model), data, **options))
    if lengths is None:
        data = check_data(model, data)
        return fit_unchecked(
            model, data, method=method, init=init, max_steps=max_steps, tol=tol, starts=starts
        )
    data, lengths = check_ragged_data(model, data, lengths)
    if not is_concrete(lengths):
        raise ValueError("lengths: fit needs concrete lengths (NumPy integers), not traced values")
    source = ragged_source(model, data, lengths)
    plan, theta0 = make_plan(
        model, source.example(), method=method, init=init, max_steps=max_steps, tol=tol, starts=starts,
        whole=isinstance(source, Whole),
    )  # fmt: skip
    if plan.method == "recursive":
        raise ValueError("method: 'recursive' needs trajectories of one length")
    return _with_trajectories(_fit(model, source, theta0, plan), lengths.shape[0])


def fit_unchecked(model, data, *, method="auto", init=None, max_steps=None, tol=None, starts=1) -> FitResult:
    """`fit` without the NaN/inf guard on `data`, for data the engine simulated itself (sweeps):
    non-finite data (an explosive model, say) then give `RESULTS.nonfinite`, counted as such,
    instead of an error that would stop the whole sweep."""
    plan, theta0 = make_plan(
        model, data, method=method, init=init, max_steps=max_steps, tol=tol, starts=starts
    )
    return _with_trajectories(_fit(model, Whole(data), theta0, plan), jax.tree.leaves(data)[0].shape[0])


@eqx.filter_jit
def _fit_streaming(model, key, theta0, plan: Plan, num_chunks: int, chunk_size: int, num_steps: int):
    return estimate(model, Chunks(model, key, num_chunks, chunk_size, num_steps), plan, theta0)


def fit_streaming(
    model: AbstractModel,
    key: PRNGKeyArray,
    num_trajectories: int,
    num_steps: int,
    *,
    chunk_size: int,
    method: str = "auto",
    init=None,
    max_steps: int | None = None,
    tol: float | None = None,
    starts: int = 1,
) -> FitResult:
    """`fit(model, simulate(model, key, m, T))` without ever holding the data: trajectories are
    simulated `chunk_size` at a time (which must divide `num_trajectories`) from the keys
    `simulate` uses, and every sum the estimator needs (sufficient statistics, least-squares
    statistics, Newton's terms) is accumulated over chunks; peak memory is one chunk's.

    The estimator, "auto" policy and start are those of `fit`, so the two agree up to rounding
    (summation order). One exception: a model whose start is its own `initial_theta(data)`
    (not additive statistics) starts from the first chunk's.

    Example:
        >>> import jax, trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)
        >>> res = tj.fit_streaming(chain, jax.random.key(0), 10_000, 100, chunk_size=1000)
        >>> bool(res.converged)
        True
    """
    key = check_key(key)
    m = check_int(num_trajectories, "num_trajectories")
    T = check_int(num_steps, "num_steps", 2)
    chunk = check_int(chunk_size, "chunk_size")
    if m % chunk:
        raise ValueError(f"chunk_size: expected a divisor of num_trajectories={m}, got {chunk}")
    example = _example(model, T)
    plan, theta0 = make_plan(
        model, example, method=method, init=init, max_steps=max_steps, tol=tol, starts=starts, whole=False
    )
    if plan.method == "recursive":
        raise ValueError("method: 'recursive' needs whole data; use fit")
    return _with_trajectories(_fit_streaming(model, key, theta0, plan, m // chunk, chunk, T), m)


def _with_trajectories(result: FitResult, m: int) -> FitResult:
    """`result` recording the number of trajectories m (the estimator sees pieces of the data)."""
    m = jax.device_put(np.asarray(m))  # a JAX array without compiling a program
    return eqx.tree_at(lambda r: r.num_trajectories, result, m, is_leaf=lambda x: x is None)


def _example(model, num_steps: int):
    """Zeros shaped like data of 2 trajectories × `num_steps` states (for eval_shape probes)."""
    shapes = trajectory_shapes(model, num_steps)
    return jax.tree.map(lambda s: jnp.zeros((2, *s.shape), s.dtype), shapes)
