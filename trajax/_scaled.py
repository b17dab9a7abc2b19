"""The noise scale estimated with θ: `fit(..., estimate_scale=True)`.

A model whose noise has a scale s names it in `scale_field` (a dotted path such as "noise.scale").
`Scaled(model)` is the same model with s appended to θ (natural coordinates; log s in the
optimiser's), so the one estimator maximises the likelihood over (θ, s) jointly. The fit then
reports θ̂ alone, with `result.model` carrying ŝ, and the observed information of θ profiled over
s (the Schur complement I_θθ − I_θs I_ss⁻¹ I_sθ), so that standard errors account for ŝ.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ._model import AbstractModel
from ._results import FitResult

__all__ = ["Scaled", "has_scale", "unscale_result"]


def _get(model, path: str):
    for name in path.split("."):
        model = getattr(model, name, None)
    return model


def has_scale(model: AbstractModel) -> bool:
    """Whether the model names a noise scale it can estimate (`scale_field`)."""
    return model.scale_field is not None and _get(model, model.scale_field) is not None


def with_scale(model: AbstractModel, s) -> AbstractModel:
    """`model` with its noise scale set to s (same dtype and shape as the stored scale)."""
    old = _get(model, model.scale_field)
    return eqx.tree_at(
        lambda m: _get(m, m.scale_field), model, jnp.reshape(s, jnp.shape(old)).astype(old.dtype)
    )


class Scaled(AbstractModel):
    """`inner` with θ = (θ_inner, s): its noise scale s estimated too."""

    inner: AbstractModel

    @property
    def homogeneous_markov(self):  # a property, not a ClassVar: it is the inner model's
        return self.inner.homogeneous_markov

    @property
    def theta(self):
        s = jnp.reshape(_get(self.inner, self.inner.scale_field), (1,)).astype(self.inner.theta.dtype)
        return jnp.concatenate([self.inner.theta, s])

    def with_theta(self, theta):
        inner = with_scale(self.inner.with_theta(theta[:-1]), theta[-1])
        return Scaled(inner)

    def to_unconstrained(self, theta):
        return jnp.concatenate([self.inner.to_unconstrained(theta[:-1]), jnp.log(theta[-1:])])

    def from_unconstrained(self, u):
        return jnp.concatenate([self.inner.from_unconstrained(u[:-1]), jnp.exp(u[-1:])])

    def sample_trajectory(self, key, num_steps):
        return self.inner.sample_trajectory(key, num_steps)

    def trajectory_log_likelihood(self, z):
        return self.inner.trajectory_log_likelihood(z)

    def validate_data(self, data):
        self.inner.validate_data(data)

    def initial_statistics(self, data):
        return self.inner.initial_statistics(data)

    def initial_theta_from_statistics(self, stats):
        return jnp.concatenate([self.inner.initial_theta_from_statistics(stats), self.theta[-1:]])

    def initial_candidates_from_statistics(self, stats):
        candidates = self.inner.initial_candidates_from_statistics(stats)
        if candidates is None:
            return None
        s = jnp.broadcast_to(self.theta[-1:], (candidates.shape[0], 1))
        return jnp.concatenate([candidates, s], axis=1)

    def initial_theta(self, data):
        return jnp.concatenate([self.inner.initial_theta(data), self.theta[-1:]])

    def canonical_theta(self, theta):
        return jnp.concatenate([self.inner.canonical_theta(theta[:-1]), theta[-1:]])


def unscale_result(result: FitResult) -> FitResult:
    """The fit of a `Scaled` model as a fit of its inner model: θ̂ without ŝ, `model` carrying ŝ,
    the information of θ profiled over s."""
    info = result.information
    I_tt, I_ts, I_ss = info[:-1, :-1], info[:-1, -1:], info[-1:, -1:]
    profiled = I_tt - I_ts @ jnp.linalg.solve(I_ss, I_ts.T)
    return FitResult(
        model=result.model.inner,
        theta=result.theta[:-1],
        log_likelihood=result.log_likelihood,
        grad_norm=result.grad_norm,
        num_steps=result.num_steps,
        result=result.result,
        information=profiled,
        num_transitions=result.num_transitions,
        num_trajectories=result.num_trajectories,
        successful_starts=result.successful_starts,
    )
