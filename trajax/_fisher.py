"""Trajectory Fisher information I_T(θ) three ways, and the Cramér–Rao value tr(I_T⁻¹)/m."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_int, is_concrete
from ._keys import check_key
from ._likelihood import check_lengths, trajectory_log_likelihood_at
from ._model import AbstractModel
from ._simulate import trajectory_key

__all__ = ["fisher_information", "cramer_rao", "design_information"]

METHODS = ("auto", "exact", "outer", "hessian")
DEFAULT_SAMPLES = 2000


def _per_sample(model, key, i, num_steps: int, method: str):
    z = model.sample_trajectory(trajectory_key(key, i), num_steps)
    if method == "outer":
        s = jax.grad(trajectory_log_likelihood_at, argnums=1)(model, model.theta, z)
        return jnp.outer(s, s)
    return -jax.hessian(trajectory_log_likelihood_at, argnums=1)(model, model.theta, z)


def _mean_and_stderr(mats):
    """The mean over the leading (sample) axis and its entrywise Monte-Carlo standard error."""
    return mats.mean(0), mats.std(0, ddof=1) / jnp.sqrt(mats.shape[0])


@eqx.filter_jit
def _monte_carlo(model, key, indices, num_steps: int, method: str, batch_size: int):
    mats = jax.lax.map(
        lambda i: _per_sample(model, key, i, num_steps, method), indices, batch_size=batch_size
    )
    return _mean_and_stderr(mats)


def _transitions(model: AbstractModel):
    """z ↦ (x, term): the T − 1 transitions of one trajectory z stacked along a leading axis, and
    term(model, x_t) = log p_θ(z_{t+1} | z_{1:t}), so that the log-likelihood of the first L
    states is the sum of the first L − 1 terms. From `transition_log_prob` where the class
    defines it (`check_model` checks that it sums to `trajectory_log_likelihood`), else from
    windows of two states of a `homogeneous_markov` model (as `masked_trajectory_log_likelihood`
    does); None for a model that gives only whole-trajectory likelihoods."""
    if type(model).transition_log_prob is not AbstractModel.transition_log_prob:

        def by_transition(z):
            T = jax.tree.leaves(z)[0].shape[0]
            x = (jax.tree.map(lambda a: a[:-1], z), jax.tree.map(lambda a: a[1:], z), jnp.arange(1, T))
            return x, lambda m, x_t: m.transition_log_prob(*x_t)

        return by_transition
    if model.homogeneous_markov:

        def by_window(z):
            windows = jax.tree.map(lambda a: jnp.stack([a[:-1], a[1:]], axis=1), z)
            return windows, lambda m, w: m.trajectory_log_likelihood(w)

        return by_window
    return None


def _design_per_sample(model, key, i, num_steps: int, method: str, last, counts):
    """Σ_j counts_j·J_j for trajectory i simulated once at `num_steps` states, J_j = s sᵀ or
    −∇² log p of its first last_j + 2 states. "outer": the score of every prefix is a cumulative
    sum of per-transition scores; "hessian": Σ_j counts_j·(−∇²) is the Hessian of the transition
    terms weighted by how many of the design's trajectories contain each transition."""
    z = model.sample_trajectory(trajectory_key(key, i), num_steps)
    x, term = _transitions(model)(z)
    theta = model.theta
    if method == "outer":
        g = jax.vmap(jax.grad(lambda th, x_t: term(model.with_theta(th), x_t)), in_axes=(None, 0))(theta, x)
        s = jnp.cumsum(g, axis=0)[last]  # (k, p): the score of each distinct length
        return jnp.einsum("j,jp,jq->pq", counts, s, s)
    t = jnp.arange(num_steps - 1, dtype=last.dtype)
    weights = jnp.sum(jnp.where(t[:, None] <= last[None, :], counts, 0), axis=1)  # (T − 1,)

    def weighted_log_likelihood(th):
        m = model.with_theta(th)
        return jnp.sum(weights * jax.vmap(lambda x_t: term(m, x_t))(x))

    return -jax.hessian(weighted_log_likelihood)(theta)


@eqx.filter_jit
def _design_monte_carlo(model, key, indices, num_steps: int, method: str, batch_size: int, last, counts):
    """(Σ_j counts_j·I_{last_j + 2}, its Monte-Carlo standard error) in one program: trajectory i
    is simulated once, at `num_steps` = max length, and every length uses its prefix."""
    mats = jax.lax.map(
        lambda i: _design_per_sample(model, key, i, num_steps, method, last, counts),
        indices,
        batch_size=batch_size,
    )
    return _mean_and_stderr(mats)


@eqx.filter_jit
def exact_fishers(model, num_steps: tuple[int, ...]):
    """The closed-form I_T for several T in one compiled program (a sweep needs one per T;
    jitted rather than a dozen eagerly dispatched and compiled small ops), as a tuple; None
    when the model has no closed form."""
    out = tuple(model.exact_fisher(T) for T in num_steps)
    return None if any(x is None for x in out) else out


def fisher_information(
    model: AbstractModel,
    num_steps: int,
    *,
    method: str = "auto",
    key: PRNGKeyArray | None = None,
    num_samples: int | None = None,
    batch_size: int = 256,
    return_stderr: bool = False,
) -> Float[Array, "p p"] | tuple[Float[Array, "p p"], Float[Array, "p p"]]:
    """I_T(θ) = E[s sᵀ] = −E[∇² log p_θ(z_{1:T})] of ONE trajectory of `num_steps` states.

    Methods:
        "exact": the model's closed form (error if it has none);
        "outer": Monte-Carlo mean of s sᵀ over `num_samples` simulated trajectories;
        "hessian": Monte-Carlo mean of −∇²_θ log p;
        "auto": exact when the model has a closed form, else "outer".
    Monte-Carlo methods need `key`; trajectory i uses `fold_in(key, i)` as in `simulate`.
    With `return_stderr=True` also returns the entrywise Monte-Carlo standard error
    (zeros for "exact").

    Example:
        >>> import trajax as tj
        >>> tj.fisher_information(tj.TwoStateChain(theta=0.8), 11)   # (T−1)/(θ(1−θ))
        Array([[62.5]], dtype=float32)
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    T = check_int(num_steps, "num_steps", minimum=2)
    if method in ("auto", "exact"):
        exact = exact_fishers(model, (T,))
        if exact is not None:
            info = _check_finite_fisher(exact[0], T, lambda t: exact_fishers(model, (t,))[0])
            return (info, jnp.zeros_like(info)) if return_stderr else info
    method, key, n = _monte_carlo_arguments(model, method, key, num_samples)
    indices = jnp.arange(n, dtype=jnp.uint32)
    mean, stderr = _monte_carlo(model, key, indices, T, method, min(batch_size, n))
    mean = _check_finite_fisher(mean, T, None, lambda: _first_nonfinite_state(model, key, T))
    return (mean, stderr) if return_stderr else mean


def _monte_carlo_arguments(model, method: str, key, num_samples) -> tuple[str, PRNGKeyArray, int]:
    """(method, key, n) of a Monte-Carlo Fisher of a model without a closed form: "auto" is
    "outer"; ValueError for "exact", a missing key or a bad `num_samples`."""
    if method == "exact":
        raise ValueError(
            f"method: 'exact' is not available for {type(model).__name__}; "
            "use 'outer' or 'hessian' with a key"
        )
    method = "outer" if method == "auto" else method
    if key is None:
        raise ValueError(f"key: method {method!r} is Monte-Carlo and needs a PRNG key")
    n = check_int(num_samples if num_samples is not None else DEFAULT_SAMPLES, "num_samples", 2)
    return method, check_key(key), n


def _first_nonfinite_state(model, key, T: int) -> int | None:
    """The first 1-based t at which a few of the model's trajectories are not finite, or None."""
    data = jax.vmap(lambda i: model.sample_trajectory(trajectory_key(key, i), T))(
        jnp.arange(8, dtype=jnp.uint32)
    )
    bad = np.zeros(T, bool)
    for leaf in jax.tree.leaves(data):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            bad |= ~np.all(np.isfinite(np.asarray(leaf)).reshape(leaf.shape[0], T, -1), axis=(0, 2))
    return int(np.argmax(bad)) + 1 if bad.any() else None


def _last_good_T(T: int, good) -> tuple[int, int]:
    """(lo, hi) = (T' − 1, T') by bisection over 2..T, where `good(t)` holds at lo (or lo = 2) and
    fails at hi = T' (`good(T)` is known to fail)."""
    lo, hi = 2, T
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if good(mid) else (lo, mid)
    return lo, hi


def _check_finite_fisher(info, T: int, exact_at=None, first_bad_state=None):
    """`info` if finite; else a ValueError naming the overflow and the T from which it happens
    (bisection over T for a closed form, the first non-finite simulated state otherwise)."""
    if not is_concrete(info) or np.all(np.isfinite(np.asarray(info))):
        return info
    where = ""
    if exact_at is not None:
        lo, hi = _last_good_T(T, lambda t: np.all(np.isfinite(np.asarray(exact_at(t)))))
        where = f"; I_T is finite up to T={lo} and overflows from T={hi}"
    elif first_bad_state is not None:
        t = first_bad_state()
        where = f"; simulated states overflow from t={t}" if t is not None else ""
    raise ValueError(
        f"num_steps: the Fisher information at T={T} is not finite: the process overflows the "
        f"floating-point range (explosive dynamics?){where}. Use shorter trajectories, a stable model "
        "or float64."
    )


def design_information(
    model: AbstractModel,
    lengths,
    *,
    method: str = "auto",
    key: PRNGKeyArray | None = None,
    num_samples: int | None = None,
    batch_size: int = 256,
    return_stderr: bool = False,
) -> Float[Array, "p p"] | tuple[Float[Array, "p p"], Float[Array, "p p"]]:
    """Σ_i I_{T_i}(θ): the Fisher information of independent trajectories of T_i = lengths[i]
    states (concrete ints ≥ 2), in one compiled program whatever the number of distinct lengths.

    Closed forms: I_T at each distinct length. Monte-Carlo methods with several distinct lengths:
    sample i is simulated once, at max(lengths), from `fold_in(key, i)`, and every length uses
    its prefix, so by the prefix property the value equals the sum of per-length
    `fisher_information(model, T_i, key=key)` up to rounding. This needs the log-likelihood as a
    sum of transition terms (`transition_log_prob`, or `homogeneous_markov`); a model that gives
    only whole-trajectory likelihoods gets one program per distinct length (and, with
    `return_stderr`, the sum of their standard errors: an upper bound, as they share samples)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    distinct, counts = np.unique(np.asarray(lengths), return_counts=True)
    T_values = tuple(int(T) for T in distinct)
    exact = exact_fishers(model, T_values) if method in ("auto", "exact") else None
    if exact is not None:
        info = sum(int(c) * I_T for c, I_T in zip(counts, exact, strict=True))
        return (info, jnp.zeros_like(info)) if return_stderr else info
    if len(T_values) == 1 or _transitions(model) is None:
        kw = dict(method=method, key=key, num_samples=num_samples, batch_size=batch_size, return_stderr=True)
        per_length = [fisher_information(model, T, **kw) for T in T_values]
        info = sum(int(c) * I_T for c, (I_T, _) in zip(counts, per_length, strict=True))
        stderr = sum(int(c) * se for c, (_, se) in zip(counts, per_length, strict=True))
    else:
        method, key, n = _monte_carlo_arguments(model, method, key, num_samples)
        T = T_values[-1]
        last = jnp.asarray(distinct - 2, jnp.int32)  # the index of each length's last transition
        indices, weights = jnp.arange(n, dtype=jnp.uint32), jnp.asarray(counts, model.theta.dtype)
        info, stderr = _design_monte_carlo(model, key, indices, T, method, min(batch_size, n), last, weights)
        info = _check_finite_fisher(info, T, None, lambda: _first_nonfinite_state(model, key, T))
    return (info, stderr) if return_stderr else info


def cramer_rao(
    model: AbstractModel,
    num_trajectories: int,
    num_steps: int,
    *,
    method: str = "auto",
    key: PRNGKeyArray | None = None,
    num_samples: int | None = None,
    lengths=None,
) -> float:
    """tr(I_T(θ)⁻¹)/m: the asymptotic E‖θ̂ − θ*‖² from m trajectories of T states.

    With `lengths` ((m,) ints, 2 ≤ lengths ≤ T, trajectory i of lengths[i] states) the value
    of that ragged design, tr((Σ_i I_{T_i})⁻¹), in one compiled program whatever the number of
    distinct lengths: closed forms give I_T at each of them; a Monte-Carlo Fisher simulates
    each of its `num_samples` trajectories once, at max(lengths), and takes the score (or the
    Hessian) of every prefix from per-transition terms, at about the cost of one
    `fisher_information` at max(lengths). By the prefix property these are the trajectories that
    `fisher_information(model, T_i, key=key)` draws, so the value equals the per-length sum up
    to rounding. Models that give only whole-trajectory likelihoods (neither
    `transition_log_prob` nor `homogeneous_markov`) take one program per distinct length.

    Example:
        >>> import trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)       # I_T = (T−1)/(θ(1−θ))
        >>> round(tj.cramer_rao(chain, 2, 11, lengths=[11, 6]), 6)   # 0.16/(10 + 5)
        0.010667
    """
    m = check_int(num_trajectories, "num_trajectories")
    T = check_int(num_steps, "num_steps", minimum=2)
    kw = dict(method=method, key=key, num_samples=num_samples)
    if lengths is None:
        info, scale = fisher_information(model, T, **kw), m
    else:
        info, scale = design_information(model, check_lengths(lengths, m, T), **kw), 1
    value = float(jnp.trace(jnp.linalg.inv(info))) / scale
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"num_steps: {_singular_message(model, info, T, method)}")
    return value


def _resolved(info) -> bool:
    """Whether a symmetric I_T is non-singular to working precision."""
    eigenvalues = np.linalg.eigvalsh(np.asarray(info, np.float64))
    eps = float(jnp.finfo(jnp.asarray(info).dtype).eps)
    return bool(eigenvalues[0] > info.shape[0] * eps * eigenvalues[-1])


def _singular_message(model, info, T: int, method: str) -> str:
    """Why I_T cannot be inverted: exactly singular, or outgrowing the precision (and from which T)."""
    eigenvalues = np.linalg.eigvalsh(np.asarray(info, np.float64))
    largest = float(np.max(np.abs(eigenvalues)))
    if largest == 0 or eigenvalues[0] < -1e-8 * largest:
        return f"the Fisher information at T={T} is singular; no finite Cramér–Rao value"
    text = (
        f"the Fisher information at T={T} is numerically singular (eigenvalues from {eigenvalues[0]:.2g} "
        f"to {eigenvalues[-1]:.2g}): the information in one direction outgrows the floating-point "
        "precision, as for an explosive process"
    )
    if method in ("auto", "exact") and exact_fishers(model, (2,)) is not None:
        lo, hi = _last_good_T(T, lambda t: _resolved(exact_fishers(model, (t,))[0]))
        text += f"; I_T is resolved up to T={lo} and not from T={hi}"
    return text + "; no finite Cramér–Rao value"
