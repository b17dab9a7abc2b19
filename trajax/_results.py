"""Why a fit stopped (`RESULTS`) and what it returns (`FitResult`).

Every estimator path (closed forms, Newton, L-BFGS, the recursive estimator; whole data, windows
of a nested simulation, re-simulated chunks) ends in one `FitResult` whose `result` is a member
of `RESULTS`. Failures are codes, not exceptions: a batch of fits under `jax.vmap` carries one code
per replicate, and a sweep counts its failed fits by reason.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from equinox._enum import EnumerationItem
from jaxtyping import Array, Bool, Float, Int, Real

from ._model import AbstractModel

__all__ = ["RESULTS", "FitResult", "FAILURE_REASONS", "reason_name"]


class RESULTS(eqx.Enumeration):
    """Why a fit stopped. `FitResult.result` holds one member (one per replicate under vmap);
    `FitResult.converged` is `result == RESULTS.successful`. Each member's message says what to
    do about it: `RESULTS[member]`.

    Example:
        >>> import trajax as tj
        >>> tj.RESULTS[tj.RESULTS.max_steps_reached][:39]
        'The iteration cap was reached before th'
    """

    successful = ""
    max_steps_reached = (
        "The iteration cap was reached before the gradient test or the stalled-objective test "
        "was met: raise `max_steps` or loosen `tol` (fit options)."
    )
    nonfinite = (
        "The data, the objective or the estimate is NaN or infinite, or the least-squares statistics "
        "are numerically singular: an explosive process overflowing the floating-point range, data "
        "with NaN/inf, or a likelihood that is -inf somewhere. Check the data and the model's "
        "stability; use float64 or shorter trajectories for explosive systems."
    )
    damping_limit = (
        "Newton's damping reached its limit without finding a step that lowers the objective: the "
        "Hessian does not describe the objective here. Try method='lbfgs' or another start (`init`)."
    )
    singular_start = (
        "The starting point is not finite, or the objective is not finite there (e.g. a singular "
        "least-squares Gram matrix, or a start outside the parameter space): give `init`, or more "
        "informative data."
    )
    not_a_maximum = (
        "The gradient vanishes but θ̂ is not a local maximum of the likelihood: the observed "
        "information there is not positive definite in the free directions (a saddle point, "
        "e.g. two identical mixture components or hidden states, or a flat ridge: a parameter "
        "the data do not identify). Try several starts (`starts=`), another `init`, or more "
        "informative data."
    )


class _Member(EnumerationItem):  # equinox does not export its item class: the one private import
    """A `RESULTS` member that prints its name: `RESULTS.successful` (a batch under vmap:
    `RESULTS['successful', 'nonfinite']`; traced: `RESULTS<traced>`). Equinox's items print their
    message, empty for `successful`; this subclass only changes the repr, so members compare,
    `jit`, `vmap` and `RESULTS[member]` as before."""

    def __repr__(self):
        name = self._enumeration.__qualname__
        if isinstance(self._value, jax.core.Tracer):
            return f"{name}<traced>"
        names = list(self._enumeration._name_to_item)
        value = np.asarray(self._value)
        if value.ndim == 0:
            return f"{name}.{names[int(value)]}"
        return f"{name}{np.vectorize(names.__getitem__, otypes=[object])(value).tolist()}"


# Members made by the class statement and by `RESULTS.where` are `_Member`s (equinox's `where`
# builds plain items; every RESULTS item must be of one class, or `lax.cond` and `while_loop`
# would see two pytree structures).
for _name, _item in RESULTS._name_to_item.items():
    RESULTS._name_to_item[_name] = _Member(_item._value, RESULTS)
_enumeration_where = eqx.Enumeration.__dict__["where"].__func__


def _where(cls, pred, a, b):
    item = _enumeration_where(cls, pred, a, b)
    return item if isinstance(item, _Member) else _Member(item._value, cls)


_where.__doc__ = _enumeration_where.__doc__
RESULTS.where = classmethod(_where)


# The members other than `successful`, in declaration order: a sweep's `failed_<reason>` columns.
FAILURE_REASONS: tuple[str, ...] = tuple(name for name in RESULTS._name_to_item if name != "successful")


def reason_name(code: int) -> str:
    """The member name of an integer result code (as stored in a sweep's per-replicate results)."""
    return list(RESULTS._name_to_item)[int(code)]


def result_code(result) -> Int[Array, "..."]:
    """The integer code of a `RESULTS` member (an int array under vmap)."""
    return result._value


def failure_counts(codes) -> dict[str, int]:
    """{`failed_<reason>`: count} over integer result codes, every reason present (zeros too)."""
    codes = np.asarray(codes)
    names = list(RESULTS._name_to_item)
    return {f"failed_{name}": int(np.sum(codes == names.index(name))) for name in FAILURE_REASONS}


class FitResult(eqx.Module):
    """Result of `fit` and `fit_streaming`. Under `jax.vmap` every field gains the replicate axis.

    Example:
        >>> import jax, trajax as tj
        >>> chain = tj.TwoStateChain(theta=0.8)
        >>> res = tj.fit(chain, tj.simulate(chain, jax.random.key(0), 50, 40))
        >>> bool(res.converged), res.result == tj.RESULTS.successful
        (True, Array(True, dtype=bool))
    """

    model: AbstractModel  # the fitted model (θ = `theta`)
    theta: Float[Array, " p"]  # θ̂, natural coordinates
    log_likelihood: Float[Array, ""]  # Σ over trajectories of log p_θ̂(z_i)
    grad_norm: Float[Array, ""]  # ‖∇ mean per-transition log-lik‖_∞ at θ̂ (optimiser coordinates)
    num_steps: Int[Array, ""]  # optimiser iterations (0 for a closed form)
    result: RESULTS  # why the fit stopped; RESULTS.successful when it converged
    information: Float[Array, "p p"]  # observed information −∇²_θ Σ_i log p_θ(z_i) at θ̂ (natural θ)
    num_transitions: Real[Array, ""] | None = None  # n: transitions the fit summed over (None: unknown)
    num_trajectories: Int[Array, ""] | None = None  # m: trajectories of the data (None: unknown)
    successful_starts: Int[Array, ""] | None = None  # of `fit(starts=k)`'s k (None: not iterative)

    @property
    def stderr(self) -> Float[Array, " p"]:
        """Standard errors √diag(information⁻¹) of θ̂ (NaN where the information is not positive
        definite). For other covariances (sandwich, OPG, expected) see `tj.covariance`."""
        from ._inference import stderr_from_information

        return stderr_from_information(self.information, "information", strict=False)

    @property
    def converged(self) -> Bool[Array, ""]:
        """True iff `result == RESULTS.successful` (θ̂ finite and a stop test met)."""
        return self.result == RESULTS.successful

    @property
    def message(self) -> str:
        """What `result` means and what to do about it (one fit, not a vmapped batch)."""
        return RESULTS[self.result]

    def conf_int(self, alpha: float = 0.05) -> Float[Array, "p 2"]:
        """Wald intervals θ̂_j ± z_{1−α/2}·SE_j (SE from `information`, as `stderr`), one row
        [lower, upper] per θ entry: the (1 − alpha) intervals of `summary`. One fit, not a
        vmapped batch (take one first: `jax.tree.map(lambda x: x[i], result)`).

        Example:
            >>> import jax, trajax as tj
            >>> chain = tj.TwoStateChain(theta=0.8)
            >>> res = tj.fit(chain, tj.simulate(chain, jax.random.key(0), 50, 40))
            >>> res.conf_int().shape
            (1, 2)
        """
        from ._summary import conf_int

        return conf_int(self, alpha)

    def summary(self, alpha: float = 0.05) -> str:
        """A statsmodels-like table of this fit: per θ entry its name (`tj.parameter_names`),
        estimate, standard error (`stderr`), z = θ̂/SE, two-sided normal p-value of θ_j = 0 and
        (1 − alpha) Wald interval; then the log-likelihood ℓ, AIC = 2p − 2ℓ, BIC = p·log n − 2ℓ
        (p = dim θ, n = the number of transitions: each trajectory's likelihood is conditional
        on its first state, so n = Σ_i (T_i − 1) observations enter it), the condition number of
        the information, the numbers of trajectories and transitions, and `result` with its
        message when the fit did not succeed. One fit, not a vmapped batch.

        Example:
            >>> import jax, trajax as tj
            >>> chain = tj.TwoStateChain(theta=0.8)
            >>> res = tj.fit(chain, tj.simulate(chain, jax.random.key(0), 50, 40))
            >>> print(res.summary())  # doctest: +ELLIPSIS
            trajax fit: TwoStateChain...
        """
        from ._summary import summary

        return summary(self, alpha)
