"""Why a fit stopped: the `RESULTS` codes, their names, and counts of failures by reason (a leaf:
imports nothing from trajax, so the result container and its summaries can both use it)."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from equinox._enum import EnumerationItem
from jaxtyping import Array, Int

__all__ = ["RESULTS", "FAILURE_REASONS", "reason_name", "result_code", "failure_counts"]


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
