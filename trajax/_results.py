"""Why a fit stopped (`RESULTS`) and what it returns (`FitResult`).

Every estimator path (closed forms, Newton, L-BFGS, the recursive estimator; whole data, windows
of a nested simulation, re-simulated chunks) ends in one `FitResult` whose `result` is a member
of `RESULTS`. Failures are codes, not exceptions: a batch of fits under `jax.vmap` carries one code
per replicate, and a sweep counts its failed fits by reason.
"""

from __future__ import annotations

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Float, Int

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
