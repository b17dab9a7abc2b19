"""The one abstract base every model derives from: the extension point of trajax.

A model is an immutable `eqx.Module`. To add a model write ONE class that provides

- parameters: list the estimated array fields in the class variable `parameters`
  (θ is their row-major concatenation; numbers, lists and NumPy arrays given for them become
  JAX arrays of the model's dtype at construction), or override `theta` / `with_theta`;
- sampling: either `initial_state(key)` and `transition(key, z_t, t)`, or a whole
  `sample_trajectory(key, num_steps)`;
- likelihood: either `transition_log_prob(z_t, z_next, t)`, or a whole
  `trajectory_log_likelihood(z)` (conditional on the first state).

The engine then supplies `simulate`, `log_likelihood`, `score`, `fisher_information`
(Monte-Carlo `outer` / `hessian`), `fit` (Newton or L-BFGS) and `sweep`. Optional hooks give
the engine shortcuts: `exact_fisher` (closed-form I_T), `closed_form_mle`, `initial_theta`
(a good starting point, e.g. least squares) and `to_unconstrained` / `from_unconstrained`
(the coordinates an optimiser works in; θ is always reported in natural coordinates).
Additive statistics (`sufficient_statistics` / `mle_from_statistics`, `initial_statistics` /
`initial_theta_from_statistics`, optionally `initial_candidates_from_statistics` for several
starts) give `closed_form_mle` and `initial_theta` by default, and also streaming fits and
compile-once windowed sweeps (with `homogeneous_markov`).
"""

from __future__ import annotations

import dataclasses
import functools
import reprlib
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

__all__ = ["AbstractModel", "best_candidate"]


def best_candidate(candidates: Float[Array, "k p"], values: Float[Array, " k"]) -> Float[Array, " p"]:
    """The candidate start with the lowest objective value (NaN values never win)."""
    return candidates[jnp.argmin(jnp.where(jnp.isnan(values), jnp.inf, values))]


def _defines(cls, names: tuple[str, ...]) -> bool:
    """Whether `cls` overrides every one of the base's methods (or class variables) `names`."""
    return all(getattr(cls, n) is not getattr(AbstractModel, n) for n in names)


# What a model must give, each in either of its forms: {what: (form, ...)}, a form a tuple of names.
_REQUIRED = {
    "parameters": (("parameters",), ("theta", "with_theta")),
    "a sampler": (("sample_trajectory",), ("initial_state", "transition")),
    "a likelihood": (("trajectory_log_likelihood",), ("transition_log_prob",)),
}


def _prefix(tree, start: int | None, stop: int | None):
    return jax.tree.map(lambda x: x[start:stop], tree)


# ------------------------------------------------------------------ parameter fields
def _asked_dtype(x):
    """The floating dtype a parameter field's value asks for, or None: Python numbers, lists,
    integer arrays and weakly typed JAX scalars take whatever dtype the model has."""
    if isinstance(x, jax.Array):
        return None if x.weak_type or not jnp.issubdtype(x.dtype, jnp.floating) else x.dtype
    if isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.floating):
        return jax.dtypes.canonicalize_dtype(x.dtype)
    return None


def _real_array(x, where: str):
    """`x` as a JAX array (left as it is, tracers included) or a NumPy array of real numbers;
    a one-line ValueError naming the field `where` for anything else (booleans included)."""
    array = x
    if not isinstance(x, jax.Array):
        try:
            array = np.asarray(x)
        except (TypeError, ValueError):  # e.g. a ragged nested list
            array = None
    if array is not None and (
        jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)
    ):
        return array
    if x is None:
        got = "None"
    elif isinstance(x, (bool, complex, str, bytes, np.generic)):
        got = f"{type(x).__name__} {reprlib.repr(x)}"
    elif array is None or array.dtype == object:
        got = f"a {type(x).__name__} that is not a rectangular array of numbers"
    else:
        got = f"a {type(x).__name__} of {array.dtype}"
    raise ValueError(
        f"{where}: a parameter field holds real numbers (a float, an int or an array of them), got {got}"
    )


def _as_dtype(x, dtype):
    """`x` (a JAX or NumPy array) as a JAX array of `dtype`, strongly typed (so a model and the
    copies `with_theta` makes share their compiled programs). Concrete values are cast by NumPy
    and placed with `jax.device_put`, so construction compiles no eager program; tracers (a model
    built inside `jit` or `vmap`) are cast in the trace."""
    if isinstance(x, jax.Array):
        if x.dtype == dtype and not x.weak_type:
            return x
        if isinstance(x, jax.core.Tracer):
            return x.astype(dtype)
    return jax.device_put(np.asarray(x).astype(dtype))


def _convert_parameter_fields(model: AbstractModel) -> None:
    """Makes every field named in `parameters` a JAX array of the model's dtype: the promotion of
    the floating dtypes the fields ask for (`_asked_dtype`), else JAX's default float (float64
    with x64 enabled). Called once, at construction; models JAX rebuilds (tree_unflatten,
    eqx.tree_at, hence `with_theta`) skip `__init__` and keep their already converted fields."""
    cls = type(model)
    fields = {f.name: f for f in dataclasses.fields(model)}
    names = [name for name in cls.parameters if name in fields]  # others: properties of fields
    for name in names:
        if fields[name].metadata.get("static", False):
            raise TypeError(
                f"{cls.__name__}.{name}: `parameters` lists a static field; an estimated parameter "
                "must be an array field (drop `eqx.field(static=True)`)"
            )
    given = {name: getattr(model, name) for name in names}
    arrays = {name: _real_array(value, f"{cls.__name__}.{name}") for name, value in given.items()}
    asked = [d for d in map(_asked_dtype, given.values()) if d is not None]
    with jax.numpy_dtype_promotion("standard"):  # float32 and float64 fields make a float64 model
        dtype = jax.dtypes.canonicalize_dtype(
            functools.reduce(jnp.promote_types, asked) if asked else np.float64
        )
    for name, value in given.items():
        converted = _as_dtype(arrays[name], dtype)
        if converted is not value:
            # equinox applies its own field converters the same way, once `__init__` has run
            object.__setattr__(model, name, converted)


class AbstractModel(eqx.Module):
    """Base class of trajax models: a law p_θ(z_{2:T} | z_1) = Π_t p_θ(z_{t+1} | z_{1:t}) of
    trajectories z_1, …, z_T, with θ ∈ R^p in natural coordinates. See the module docstring for
    what a subclass provides, and docs/architecture.md for every optional hook.

    A class missing its parameters, its sampler or its likelihood is refused when it is
    instantiated, with a `TypeError` naming what to define. `trajax.testing.check_model`
    checks a new class against the rules the engine relies on.

    The fields named in `parameters` are converted when the model is constructed: Python numbers,
    lists, NumPy scalars or arrays (integers included) and weakly typed JAX scalars become strongly
    typed JAX arrays of the model's dtype, the promotion of the floating dtypes the fields are
    given in (float32 arrays make a float32 model), else JAX's default float (float64 when x64 is
    enabled). A value that is not real numbers (a string, None, a complex number, a boolean) is
    refused with a one-line `ValueError` naming the field. A subclass's own `__check_init__` runs
    before this conversion, on the values as given; models that JAX rebuilds (`with_theta`,
    `eqx.tree_at`, `jax.tree.unflatten`) are not converted again.

    Example (an AR(1) with standard normal noise, as one class; data have shape (m, T)):
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> class AR1(tj.AbstractModel):
        ...     a: jax.Array
        ...     parameters = ("a",)
        ...     def initial_state(self, key):
        ...         return jnp.zeros(())
        ...     def transition(self, key, z, t):
        ...         return self.a * z + jax.random.normal(key, dtype=z.dtype)
        ...     def transition_log_prob(self, z, z_next, t):
        ...         return -0.5 * (z_next - self.a * z) ** 2 - 0.5 * jnp.log(2 * jnp.pi)
        >>> model = AR1(a=0.5)  # a becomes a JAX array of the default float dtype
        >>> data = tj.simulate(model, jax.random.key(0), 200, 50)
        >>> data.shape, tj.score(model, data).shape
        ((200, 50), (200, 1))
        >>> round(float(tj.fit(model, data).theta[0]), 1)
        0.5
    """

    def __check_init__(self):
        cls = type(self)
        missing = [what for what, forms in _REQUIRED.items() if not any(_defines(cls, f) for f in forms)]
        if missing:
            needs = "; ".join(
                f"{what}: define {' or '.join(' and '.join(f) for f in _REQUIRED[what])}" for what in missing
            )
            raise TypeError(f"{cls.__name__} is not a complete trajax model: {needs}")
        # Here because equinox calls this base's `__check_init__` at every construction, whatever
        # `__init__` or `__check_init__` a subclass defines, and never when JAX rebuilds a model.
        _convert_parameter_fields(self)

    parameters: ClassVar[tuple[str, ...]] = ()
    # True when the model is first-order Markov with the same transition law at every t, so the
    # log-likelihood of any window of consecutive states (given its first) is the sum of its
    # transition terms: sweeps then fit every cell from windows of one nested simulation
    # (trajax/_windows.py) with one compiled program. Leave False if unsure (always correct).
    homogeneous_markov: ClassVar[bool] = False

    # ------------------------------------------------------------------ parameters θ
    @property
    def theta(self) -> Float[Array, " p"]:
        """θ: the flat vector of estimated parameters, natural coordinates, row-major."""
        if not self.parameters:
            raise NotImplementedError(
                f"{type(self).__name__}: list the estimated fields in `parameters` "
                "or override `theta` and `with_theta`"
            )
        return jnp.concatenate([jnp.ravel(getattr(self, name)) for name in self.parameters])

    def with_theta(self, theta: Float[Array, " p"]) -> AbstractModel:
        """A copy of this model whose parameters are `theta` (natural coordinates)."""
        fields = [getattr(self, name) for name in self.parameters]
        pieces, start = [], 0
        for f in fields:
            size = jnp.size(f)
            pieces.append(jnp.reshape(theta[start : start + size], jnp.shape(f)).astype(f.dtype))
            start += size
        return eqx.tree_at(lambda m: [getattr(m, name) for name in self.parameters], self, pieces)

    @property
    def num_params(self) -> int:
        """p = dim θ."""
        return int(self.theta.shape[0])

    def to_unconstrained(self, theta: Float[Array, " p"]) -> Float[Array, " q"]:
        """Optimiser coordinates of θ (default: identity)."""
        return theta

    def from_unconstrained(self, u: Float[Array, " q"]) -> Float[Array, " p"]:
        """Inverse of `to_unconstrained`."""
        return u

    # ------------------------------------------------------------------ sampling
    def initial_state(self, key: PRNGKeyArray) -> PyTree:
        """z_1 of one trajectory."""
        raise NotImplementedError(
            f"{type(self).__name__}: define `initial_state` and `transition`, or override `sample_trajectory`"
        )

    def transition(self, key: PRNGKeyArray, z: PyTree, t: Array) -> PyTree:
        """z_{t+1} given z_t (t is the 1-based index of z_t)."""
        raise NotImplementedError(
            f"{type(self).__name__}: define `initial_state` and `transition`, or override `sample_trajectory`"
        )

    def sample_trajectory(self, key: PRNGKeyArray, num_steps: int) -> PyTree:
        """z_1..z_T of one trajectory; every leaf has leading axis `num_steps`.

        The randomness of state t comes from `fold_in(key, t)`, so the first T' states of a
        longer trajectory equal a trajectory of T' states (the prefix property).
        """
        z1 = self.initial_state(jax.random.fold_in(key, 0))

        def step(z, t):
            z_next = self.transition(jax.random.fold_in(key, t), z, t)
            return z_next, z_next

        _, rest = jax.lax.scan(step, z1, jnp.arange(1, num_steps))
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), z1, rest)

    # ------------------------------------------------------------------ likelihood
    def transition_log_prob(self, z: PyTree, z_next: PyTree, t: Array) -> Float[Array, ""]:
        """log p_θ(z_{t+1} | z_t) (t is the 1-based index of z_t)."""
        raise NotImplementedError(
            f"{type(self).__name__}: define `transition_log_prob` or override `trajectory_log_likelihood`"
        )

    def trajectory_log_likelihood(self, z: PyTree) -> Float[Array, ""]:
        """Σ_{t=1}^{T−1} log p_θ(z_{t+1} | z_{1:t}) of one trajectory (leading axis T)."""
        num_steps = jax.tree.leaves(z)[0].shape[0]
        t = jnp.arange(1, num_steps)
        terms = jax.vmap(self.transition_log_prob)(_prefix(z, None, -1), _prefix(z, 1, None), t)
        return jnp.sum(terms)

    def mean_log_likelihood(self, data: PyTree) -> Float[Array, ""]:
        """Σ_i log p_θ(z_i) / (m(T − 1)): the log-likelihood per transition of data (m, T, …)."""
        m, T = jax.tree.leaves(data)[0].shape[:2]
        return jnp.sum(jax.vmap(self.trajectory_log_likelihood)(data)) / (m * (T - 1))

    def validate_data(self, data: PyTree) -> None:
        """Static checks of data with leading axes (m, T); raise ValueError naming `data`."""

    # ------------------------------------------------------------------ optional shortcuts
    def exact_fisher(self, num_steps: int) -> Float[Array, "p p"] | None:
        """Closed-form I_T(θ) of ONE trajectory of `num_steps` states, or None."""
        return None

    def closed_form_mle(self, data: PyTree) -> Float[Array, " p"] | None:
        """Closed-form MLE of θ from all trajectories jointly, or None (default: through
        `sufficient_statistics` / `mle_from_statistics` when the model has them)."""
        stats = self.sufficient_statistics(data)
        return None if stats is None else self.mle_from_statistics(stats)

    def objective_terms(self, u: Float[Array, " q"], data: PyTree):
        """(f, ∇f, ∇²f) at optimiser coordinates u, f = mean negative log-likelihood per
        transition over all trajectories of `data`. Used by Newton; the default is autodiff,
        models with structure override it with a fused closed form."""

        def f(v):
            return self.objective_value(self.from_unconstrained(v), data)

        value, grad = jax.value_and_grad(f)(u)
        return value, grad, jax.hessian(f)(u)

    def sufficient_statistics(self, data: PyTree) -> PyTree | None:
        """Statistics of data (leading axes (m, T)) that add over trajectories and determine the
        MLE through `mle_from_statistics`, or None (enables one-pass streaming fits)."""
        return None

    def mle_from_statistics(self, stats: PyTree) -> Float[Array, " p"]:
        """The MLE from summed `sufficient_statistics`."""
        raise NotImplementedError(f"{type(self).__name__} has no sufficient statistics")

    def initial_statistics(self, data: PyTree) -> PyTree | None:
        """Statistics of data that add over trajectories and over windows of time and determine
        `initial_theta` through `initial_theta_from_statistics` (e.g. least-squares Gram
        matrices), or None. Lets windowed sweeps start Newton where `fit` does."""
        return None

    def initial_theta_from_statistics(self, stats: PyTree) -> Float[Array, " p"]:
        """The starting point from summed `initial_statistics`."""
        raise NotImplementedError(f"{type(self).__name__} has no initial statistics")

    def initial_candidates_from_statistics(self, stats: PyTree) -> Float[Array, "k p"] | None:
        """Several starting points from summed `initial_statistics`, or None (default: the one
        point `initial_theta_from_statistics`). Iterative fits start at the candidate with the
        lowest objective (mean negative log-likelihood) on the data, for non-convex
        likelihoods where a single start can land in the wrong basin."""
        return None

    def canonical_theta(self, theta: Float[Array, " p"]) -> Float[Array, " p"]:
        """Resolves non-identifiability (e.g. label switching) after a fit (default: none)."""
        return theta

    def initial_theta(self, data: PyTree) -> Float[Array, " p"]:
        """Starting point for iterative fits. Default: from `initial_statistics` when the model
        has them, else `generic_start()`; never the model's own θ (in a sweep, the truth).
        Override it for a data-driven start that is not additive statistics."""
        stats = self.initial_statistics(data)
        if stats is None:
            return self.generic_start()
        return self.start_from_statistics(
            stats, lambda candidates: jax.vmap(lambda theta: self.objective_value(theta, data))(candidates)
        )

    def generic_start(self) -> Float[Array, " p"]:
        """The start of models without a data-driven one: the origin of the optimiser's
        coordinates, θ₀ = from_unconstrained(0) (θ₀ = 0 for identity coordinates, ½ for a
        logit-coordinate probability)."""
        return self.from_unconstrained(jnp.zeros_like(self.to_unconstrained(self.theta)))

    # The dotted path of the noise scale that `fit(..., estimate_scale=True)` estimates with θ
    # (e.g. "noise.scale"), or None when the model has none.
    scale_field: ClassVar[str | None] = None

    # True when the model's noise is Gaussian with a known scale, so that least squares is its MLE
    # (`fit(..., method="least_squares")` then runs the MLE).
    least_squares_is_mle: ClassVar[bool] = False

    def least_squares_from_statistics(self, stats: PyTree) -> Float[Array, " p"]:
        """The least-squares estimate from summed `initial_statistics`, for
        `fit(..., method="least_squares")`: the estimator the MLE is compared with (optional)."""
        raise NotImplementedError(f"{type(self).__name__} has no least-squares estimator")

    def recursive_estimate(self, data: PyTree) -> Float[Array, " p"]:
        """A recursive (online) estimate of θ from data, for `fit(..., method="recursive")`
        (optional; e.g. MixedLinearRegression)."""
        raise NotImplementedError(f"{type(self).__name__} has no recursive estimator")

    def start_from_statistics(self, stats: PyTree, objective_values) -> Float[Array, " p"]:
        """The start from summed `initial_statistics`: `initial_theta_from_statistics`, or of
        several `initial_candidates_from_statistics` the one whose `objective_values(candidates)`
        (a (k,) array; however the caller sums the objective over the data) is lowest."""
        candidates = self.initial_candidates_from_statistics(stats)
        if candidates is None:
            return self.initial_theta_from_statistics(stats)
        return best_candidate(candidates, objective_values(candidates))

    def objective_value(self, theta: Float[Array, " p"], data: PyTree) -> Float[Array, ""]:
        """The fit's objective at θ: the mean negative log-likelihood per transition of data."""
        return -self.with_theta(theta).mean_log_likelihood(data)
