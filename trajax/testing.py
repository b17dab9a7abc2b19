"""The conformance kit for a model class: `check_model(model, key)`.

Run it on a new model before trusting its fits or sweeps. Each property is checked on data the
model simulates itself; the first property that fails raises an `AssertionError` naming it, also
when the model's own code raises while the property is checked (the error is chained).
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ._checks import check_int
from ._estimate import overrides
from ._fisher import fisher_information
from ._keys import check_key
from ._likelihood import log_likelihood, ravel, score
from ._model import AbstractModel
from ._simulate import simulate

__all__ = ["check_model", "InformationIdentityWarning"]

Z_LIMIT = 4.5  # two-sided normal tail 6.8e-6 per coordinate: a false alarm is rare for p ≲ 100


class InformationIdentityWarning(UserWarning):
    """E[s sᵀ] ≠ −E[∇² log p]: legitimate for non-smooth likelihoods (Laplace, absolute loss), whose
    Hessian misses the kinks; then Hessian-based Fisher information and observed standard errors
    are wrong for that model, and Fisher methods "outer" or "exact" must be used."""


def _fail(prop: str, detail: str, cause: BaseException | None = None):
    raise AssertionError(f"check_model: {prop}: {detail}") from cause


def _call(prop: str, what: str, fn, *args):
    """`fn(*args)`, with an error it raises reported as a failure of property `prop`."""
    try:
        return fn(*args)
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 - the model's own code failed: name the property
        first_line = (str(err).strip().splitlines() or [""])[0]
        _fail(prop, f"{what} raised {type(err).__name__}: {first_line}", err)


def _tree_allclose(a, b, rtol, atol) -> bool:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol) for x, y in pairs)


def _tree_equal(a, b) -> bool:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in pairs)


def _cut(data, trajectories=slice(None), steps=slice(None)):
    return jax.tree.map(lambda x: x[trajectories, steps], data)


def _z_scores(samples) -> np.ndarray:
    """|mean| / standard error per column of (n, ...) samples (0 where the SE is 0 and mean 0)."""
    samples = np.asarray(samples, np.float64)
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, np.abs(mean) / se, np.where(mean == 0, 0.0, np.inf))


def check_model(
    model: AbstractModel,
    key: PRNGKeyArray,
    *,
    num_trajectories: int = 16,
    num_steps: int = 12,
    num_samples: int = 4000,
) -> dict:
    """Checks that `model` keeps the contracts the engine relies on; raises AssertionError naming
    the first property that fails, and returns the measured statistics otherwise.

    Properties, in order:

    1. parameters: every field named in `parameters` is a floating JAX array, all of one dtype
       (the model's: construction converts numbers and NumPy arrays, but a model changed with
       `eqx.tree_at` or `jax.tree.unflatten` skips that); `with_theta(θ).theta == θ`, keeping
       each field's shape and dtype; `from_unconstrained(to_unconstrained(θ)) ≈ θ`; `ravel`
       round trip.
    2. prefix: the first k trajectories and first T' states of a simulation equal a smaller
       simulation with the same key, bit for bit.
    3. likelihood forms: Σ_t `transition_log_prob` equals `trajectory_log_likelihood` where the
       class defines both; a `homogeneous_markov` model's log-likelihood adds over a split in time.
    4. additive statistics (`sufficient_statistics`, `initial_statistics`) add over a split of the
       trajectories (and, for `homogeneous_markov`, of time).
    5. score mean zero: the mean score at θ* over `num_samples` of the model's own trajectories is
       within 4.5 Monte-Carlo standard errors of 0 in every coordinate. This catches a likelihood
       that is not the law of the sampler.
    6. exact Fisher: `exact_fisher(T)`, where the model has one, within 4.5 Monte-Carlo standard
       errors of the mean of s sᵀ.
    7. bad data: data missing the time axis are refused with a ValueError.

    An error raised by the model's own code while a property is checked (by `simulate`: property
    "sampler", before 2; by the Hessian: "information identity") fails that property too, with the
    error's type and first line; the full traceback is chained to the AssertionError.

    The information identity E[s sᵀ] = −E[∇²] is checked too, but reported as an
    `InformationIdentityWarning`, not a failure: non-smooth likelihoods break it legitimately.

    Args:
        model: an instance of the class to check, at a θ* inside its parameter space.
        key: a PRNG key.
        num_trajectories, num_steps: the size of the data sets used for properties 2-4 and 7.
        num_samples: trajectories for the Monte-Carlo properties 5-6 (and the identity).

    Example:
        >>> import jax, trajax as tj
        >>> from trajax.testing import check_model
        >>> report = check_model(tj.TwoStateChain(theta=0.7), jax.random.key(0), num_samples=500)
        >>> sorted(report)  # the largest z-scores of properties 5, 6 and the information identity
        ['fisher_z', 'identity_z', 'score_z']
    """
    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    key = check_key(key)
    m = check_int(num_trajectories, "num_trajectories", 2)
    T = check_int(num_steps, "num_steps", 4)
    n = check_int(num_samples, "num_samples", 10)
    k_data, k_mc = jax.random.split(key)
    _check_parameter_fields(model)
    _check_parameters(model)
    data = _call("sampler", "simulate", simulate, model, k_data, m, T)
    _check_prefix(model, k_data, data, m, T)
    _check_likelihood_forms(model, data, T)
    _check_statistics(model, data, m, T)
    report = _check_score_and_fisher(model, k_mc, T, n)
    _check_bad_data(model, data)
    return report


def _describe(x) -> str:
    if isinstance(x, (jax.Array, np.ndarray)):
        return f"a {type(x).__name__} of {x.dtype}"
    return f"a {type(x).__name__}"


def _check_parameter_fields(model):
    cls = type(model)
    dtypes = {}
    for name in cls.parameters:
        value = getattr(model, name)
        if not isinstance(value, jax.Array) or not jnp.issubdtype(value.dtype, jnp.floating):
            _fail(
                "parameters",
                f"{cls.__name__}.{name} is {_describe(value)}, not a floating JAX array: build the "
                "model with its class, which converts numbers and NumPy arrays (eqx.tree_at and "
                "jax.tree.unflatten do not)",
            )
        dtypes[name] = value.dtype
    if len(set(dtypes.values())) > 1:
        found = ", ".join(f"{name}: {dtype}" for name, dtype in dtypes.items())
        _fail("parameters", f"the fields in `parameters` differ in dtype ({found}): give them one dtype")


def _check_parameters(model):
    theta = _call("parameters", "theta", lambda: model.theta)
    rebuilt = _call("parameters", "with_theta(theta)", model.with_theta, theta)
    for name in type(model).parameters:
        before, after = getattr(model, name), getattr(rebuilt, name)
        if (jnp.shape(before), before.dtype) != (jnp.shape(after), getattr(after, "dtype", None)):
            _fail(
                "parameters",
                f"with_theta changes {name} from {before.dtype}{list(jnp.shape(before))} to "
                f"{getattr(after, 'dtype', type(after).__name__)}{list(jnp.shape(after))}",
            )
    if not _tree_equal(rebuilt.theta, theta):
        _fail("parameters", "with_theta(theta).theta differs from theta")
    back = _call(
        "parameters",
        "from_unconstrained(to_unconstrained(theta))",
        lambda: model.from_unconstrained(model.to_unconstrained(theta)),
    )
    rtol = 1e-6 if theta.dtype == jnp.float64 else 1e-3
    if not np.allclose(np.asarray(back), np.asarray(theta), rtol=rtol, atol=rtol):
        _fail("parameters", f"from_unconstrained(to_unconstrained(θ)) = {back} differs from θ = {theta}")
    flat, unravel = ravel(model)
    if not _tree_equal(unravel(flat).theta, theta):
        _fail("parameters", "ravel's unravel(θ) does not give back θ")


def _check_prefix(model, key, data, m, T):
    small = simulate(model, key, m // 2, T // 2)
    if not _tree_equal(small, _cut(data, slice(None, m // 2), slice(None, T // 2))):
        _fail(
            "prefix",
            "the first trajectories / states of a simulation differ from a smaller one with the same "
            "key: draw the randomness of trajectory i and state t from fold_in(key, t)",
        )


def _check_likelihood_forms(model, data, T):
    total = np.asarray(_call("likelihood forms", "log_likelihood", log_likelihood, model, data))
    if not np.all(np.isfinite(total)):
        _fail("likelihood forms", "log_likelihood is not finite on the model's own samples")
    rtol = 1e-8 if model.theta.dtype == jnp.float64 else 1e-4
    if overrides(model, "trajectory_log_likelihood") and overrides(model, "transition_log_prob"):
        by_transitions = np.asarray(
            jax.vmap(lambda z: AbstractModel.trajectory_log_likelihood(model, z))(data)
        )
        if not np.allclose(by_transitions, total, rtol=rtol, atol=rtol):
            _fail(
                "likelihood forms",
                "Σ_t transition_log_prob differs from trajectory_log_likelihood "
                f"(max gap {np.max(np.abs(by_transitions - total)):.3g})",
            )
    if model.homogeneous_markov:
        t = T // 2
        split = log_likelihood(model, _cut(data, steps=slice(None, t + 1))) + log_likelihood(
            model, _cut(data, steps=slice(t, None))
        )
        if not np.allclose(np.asarray(split), total, rtol=rtol, atol=rtol):
            _fail(
                "likelihood forms",
                "homogeneous_markov is declared but the log-likelihood does not add over a split in "
                "time (a window's likelihood given its first state): set homogeneous_markov = False",
            )


def _check_statistics(model, data, m, T):
    rtol = 1e-8 if model.theta.dtype == jnp.float64 else 1e-4
    for hook in ("sufficient_statistics", "initial_statistics"):
        fn = functools.partial(_call, "additive statistics", hook, getattr(model, hook))
        whole = fn(data)
        if whole is None:
            continue
        k = m // 2
        parts = [(_cut(data, slice(None, k)), _cut(data, slice(k, None)), "trajectories")]
        if model.homogeneous_markov:
            t = T // 2
            parts.append((_cut(data, steps=slice(None, t + 1)), _cut(data, steps=slice(t, None)), "time"))
        for a, b, what in parts:
            summed = jax.tree.map(jnp.add, fn(a), fn(b))
            if not _tree_allclose(summed, whole, rtol, rtol):
                _fail("additive statistics", f"{hook} does not add over a split of the {what}")


def _check_score_and_fisher(model, key, T, n) -> dict:
    k_sim, k_hess = jax.random.split(key)
    data = simulate(model, k_sim, n, T)
    s = np.asarray(_call("score mean zero", "score", score, model, data), np.float64)
    if not np.all(np.isfinite(s)):
        _fail("score mean zero", "the score is not finite on the model's own samples")
    score_z = _z_scores(s)
    if np.max(score_z) > Z_LIMIT:
        _fail(
            "score mean zero",
            f"the mean score at θ* is {np.max(score_z):.1f} standard errors from 0 (coordinate "
            f"{int(np.argmax(score_z))}): the likelihood is not the law of the sampler",
        )
    outer = np.einsum("ni,nj->nij", s, s)
    report = {"score_z": float(np.max(score_z)), "fisher_z": float("nan")}
    exact = _call("exact Fisher", "exact_fisher", model.exact_fisher, T)
    if exact is not None:
        fisher_z = _z_scores(outer - np.asarray(exact, np.float64)[None])
        report["fisher_z"] = float(np.max(fisher_z))
        if np.max(fisher_z) > Z_LIMIT:
            _fail(
                "exact Fisher",
                f"exact_fisher({T}) is {np.max(fisher_z):.1f} standard errors from the Monte-Carlo "
                "mean of s sᵀ",
            )
    info_h, se_h = _call(
        "information identity",
        "fisher_information(method='hessian')",
        lambda: fisher_information(model, T, method="hessian", key=k_hess, num_samples=n, return_stderr=True),
    )
    gap = np.abs(np.asarray(info_h, np.float64) - outer.mean(0))
    se = np.sqrt(np.asarray(se_h, np.float64) ** 2 + (outer.std(0, ddof=1) / np.sqrt(n)) ** 2)
    identity_z = float(np.max(np.where(se > 0, gap / np.where(se > 0, se, 1), np.where(gap > 0, np.inf, 0))))
    report["identity_z"] = identity_z
    if identity_z > Z_LIMIT:
        warnings.warn(
            f"{type(model).__name__}: E[s sᵀ] and −E[∇² log p] differ by {identity_z:.1f} standard "
            "errors. Legitimate for a non-smooth likelihood (Laplace, absolute loss), but then "
            "Hessian-based Fisher information (method='hessian') and observed standard errors are "
            "wrong for this model: use method='outer' or 'exact'.",
            InformationIdentityWarning,
            stacklevel=3,
        )
    return report


def _check_bad_data(model, data):
    bad = jax.tree.map(lambda x: x[:, 0], data)  # the time axis removed
    try:
        log_likelihood(model, bad)
    except ValueError:
        return
    except Exception as err:  # noqa: BLE001 - any other error is the failure being reported
        _fail("bad data", f"data without a time axis raise {type(err).__name__}, not a one-line ValueError")
    _fail("bad data", "data without a time axis are accepted: define validate_data")
