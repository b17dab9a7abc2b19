"""The conformance kit (`trajax.testing.check_model`) over every built-in model, and its power:
it must catch a model whose likelihood is not its sampler's law, a broken prefix property and a
false `homogeneous_markov`, and warn (not fail) on a non-smooth likelihood."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from catalogue import MODELS

import trajax as tj
from trajax.testing import InformationIdentityWarning, check_model


@pytest.mark.parametrize("name", list(MODELS))
def test_every_builtin_model_passes_the_conformance_kit(name, key):
    # error model: the score and Fisher checks are 4.5-SE z-tests (false alarm < 1e-5 per entry)
    with jax.numpy_dtype_promotion("standard"):
        report = check_model(MODELS[name], key, num_samples=2000)
    assert report["score_z"] < 4.5


class AR1(tj.AbstractModel):
    """z_{t+1} = a z_t + w_t, w ~ N(0, 1); `shift` breaks the likelihood on purpose."""

    a: jax.Array
    shift: float = eqx.field(static=True, default=0.0)
    parameters = ("a",)

    def initial_state(self, key):
        return jnp.zeros(())

    def transition(self, key, z, t):
        return self.a * z + jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return -0.5 * (z_next - (self.a + self.shift) * z) ** 2


def test_check_model_accepts_a_correct_one_class_model(key):
    check_model(AR1(a=jnp.asarray(0.5)), key)


def test_check_model_catches_a_likelihood_that_is_not_the_samplers_law(key):
    with pytest.raises(AssertionError, match="score mean zero: .*not the law of the sampler"):
        check_model(AR1(a=jnp.asarray(0.5), shift=0.1), key)


class NoPrefix(AR1):
    def sample_trajectory(self, key, num_steps):  # fresh noise per length: no prefix property
        w = jax.random.normal(jax.random.fold_in(key, num_steps), (num_steps - 1,))
        return jnp.concatenate([jnp.zeros(1), jnp.cumsum(w)])


def test_check_model_catches_a_broken_prefix_property(key):
    with pytest.raises(AssertionError, match="prefix"):
        check_model(NoPrefix(a=jnp.asarray(1.0)), key)


class FalseMarkov(AR1):
    homogeneous_markov = True

    def trajectory_log_likelihood(self, z):  # depends on the whole path, not transitions alone
        return AR1.trajectory_log_likelihood(self, z) - 0.01 * jnp.sum(z) ** 2


def test_check_model_catches_a_false_homogeneous_markov_declaration(key):
    with pytest.raises(AssertionError, match="likelihood forms"):
        check_model(FalseMarkov(a=jnp.asarray(0.5)), key)


class LaplaceAR1(AR1):
    def transition(self, key, z, t):
        return self.a * z + jax.random.laplace(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return -jnp.abs(z_next - self.a * z)


def test_check_model_warns_on_the_information_identity_of_a_non_smooth_likelihood(key):
    with pytest.warns(InformationIdentityWarning, match="Hessian-based Fisher"):
        check_model(LaplaceAR1(a=jnp.asarray(0.5)), key)
