"""Why a fit stopped (`RESULTS`) and what it returns (`FitResult`).

Every estimator path (closed forms, Newton, L-BFGS, the recursive estimator; whole data, windows
of a nested simulation, re-simulated chunks) ends in one `FitResult` whose `result` is a member
of `RESULTS`. Failures are codes, not exceptions: a batch of fits under `jax.vmap` carries one code
per replicate, and a sweep counts its failed fits by reason.
"""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Bool, Float, Int, Real

from ._codes import FAILURE_REASONS as FAILURE_REASONS
from ._codes import RESULTS as RESULTS
from ._codes import failure_counts as failure_counts
from ._codes import reason_name as reason_name
from ._codes import result_code as result_code
from ._inference import stderr_from_information
from ._model import AbstractModel
from ._summary import conf_int, summary

__all__ = ["RESULTS", "FitResult", "FAILURE_REASONS", "reason_name"]


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
        return summary(self, alpha)
