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


@eqx.filter_jit
def _monte_carlo(model, key, indices, num_steps: int, method: str, batch_size: int):
    mats = jax.lax.map(
        lambda i: _per_sample(model, key, i, num_steps, method), indices, batch_size=batch_size
    )
    n = mats.shape[0]
    mean = mats.mean(0)
    stderr = mats.std(0, ddof=1) / jnp.sqrt(n)
    return mean, stderr


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
        if method == "exact":
            raise ValueError(
                f"method: 'exact' is not available for {type(model).__name__}; "
                "use 'outer' or 'hessian' with a key"
            )
        method = "outer"
    if key is None:
        raise ValueError(f"key: method {method!r} is Monte-Carlo and needs a PRNG key")
    key = check_key(key)
    n = check_int(num_samples if num_samples is not None else DEFAULT_SAMPLES, "num_samples", 2)
    indices = jnp.arange(n, dtype=jnp.uint32)
    mean, stderr = _monte_carlo(model, key, indices, T, method, min(batch_size, n))
    mean = _check_finite_fisher(mean, T, None, lambda: _first_nonfinite_state(model, key, T))
    return (mean, stderr) if return_stderr else mean


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
) -> Float[Array, "p p"]:
    """Σ_i I_{T_i}(θ): the Fisher information of independent trajectories of T_i = lengths[i]
    states (concrete ints ≥ 2), with I_T computed once per distinct length (in one compiled
    program for closed forms; Monte-Carlo methods reuse `key` for every length)."""
    v = np.asarray(lengths)
    distinct, counts = np.unique(v, return_counts=True)
    T_values = tuple(int(T) for T in distinct)
    exact = exact_fishers(model, T_values) if method in ("auto", "exact") else None
    if exact is None:
        kw = dict(method=method, key=key, num_samples=num_samples)
        exact = [fisher_information(model, T, **kw) for T in T_values]
    return sum(int(c) * info for c, info in zip(counts, exact, strict=True))


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
    of that ragged design, tr((Σ_i I_{T_i})⁻¹), with I_T computed once per distinct length.

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
