"""The Fisher information of a ragged design, Σ_i I_{T_i}, in one compiled program: one
simulation per sample at max(lengths) whose prefixes serve every length. By the prefix property
its samples are those of the per-length computation with the same key, so the two agree up to
rounding; against a closed form it agrees within its Monte-Carlo standard error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax._fisher import design_information


class TanhAR(tj.AbstractModel):
    """z_{t+1} = a z_t + b tanh(z_t) + N(0, 1), z_1 = 0: a user's class, one transition at a
    time, not marked `homogeneous_markov` (its likelihood adds over `transition_log_prob`), with
    no closed-form Fisher."""

    a: jax.Array
    b: jax.Array
    parameters = ("a", "b")

    def initial_state(self, key):
        return jnp.zeros((), self.a.dtype)

    def transition(self, key, z, t):
        return self.a * z + self.b * jnp.tanh(z) + jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return jax.scipy.stats.norm.logpdf(z_next - self.a * z - self.b * jnp.tanh(z))


USER = TanhAR(a=jnp.asarray(0.5), b=jnp.asarray(0.3))
GLM = tj.SinusoidalGLM(A=jnp.array([[1.2, 0.3], [-0.2, 0.9]]), sigma=0.5)  # windows of 2 states
A = np.array([[0.6, 0.1], [0.0, 0.5]])
LDS = tj.LinearSystem(A=jnp.asarray(A))  # Gaussian, z_1 = 0: closed-form I_T


class WholeAR1(tj.AbstractModel):
    """z_{t+1} = a z_t + N(0, 1) with only a whole-trajectory likelihood (not homogeneous_markov)."""

    a: jax.Array
    parameters = ("a",)

    def initial_state(self, key):
        return jnp.zeros((), self.a.dtype)

    def transition(self, key, z, t):
        return self.a * z + jax.random.normal(key, dtype=z.dtype)

    def trajectory_log_likelihood(self, z):
        return jnp.sum(jax.scipy.stats.norm.logpdf(z[1:] - self.a * z[:-1]))


def _lds_fisher(T):
    """I_T of LDS in NumPy: I_d ⊗ Σ_{t=1}^{T−1} E[z_t z_tᵀ], E[z_1 z_1ᵀ] = 0, E[z_{t+1} z_{t+1}ᵀ] =
    A E[z_t z_tᵀ] Aᵀ + I."""
    d = A.shape[0]
    moment, gram = np.zeros((d, d)), np.zeros((d, d))
    for _ in range(T - 1):
        gram, moment = gram + moment, A @ moment @ A.T + np.eye(d)
    return np.kron(np.eye(d), gram)


def _design(distinct, m, seed=0):
    """m lengths taking every value of `distinct`, the rest drawn from it."""
    rest = np.random.default_rng(seed).choice(distinct, m - len(distinct))
    return np.concatenate([np.asarray(distinct), rest])


def _compilations(run, prefix):
    """How many XLA programs whose name starts with `prefix` `run()` compiles."""
    names = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            names.append(kwargs.get("fun_name", ""))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return out, {p: sum(n.startswith(p) for n in names) for p in prefix}


@pytest.mark.parametrize("method", ["outer", "hessian"])
def test_thirty_distinct_lengths_compile_one_program(method, key):
    # 30 distinct lengths; T = 53 is used by no other test, so the program is compiled here
    lengths = _design(np.arange(24, 54), 40)
    value, counts = _compilations(
        lambda: tj.cramer_rao(USER, 40, 53, lengths=lengths, method=method, key=key, num_samples=64),
        ("jit(_design_monte_carlo", "jit(_monte_carlo"),
    )
    assert counts == {"jit(_design_monte_carlo": 1, "jit(_monte_carlo": 0}
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize(
    "model, method",
    [
        pytest.param(USER, "outer", id="transition_log_prob-outer"),
        pytest.param(GLM, "hessian", id="homogeneous_markov-hessian"),
        pytest.param(USER, "hessian", id="transition_log_prob-hessian", marks=pytest.mark.slow),
        pytest.param(GLM, "outer", id="homogeneous_markov-outer", marks=pytest.mark.slow),
    ],
)
def test_equals_the_per_length_fisher_on_the_same_samples(model, method, key):
    # the same key gives the same trajectories (prefix property), so only rounding differs
    lengths = np.array([5, 20, 20, 5, 5])
    kw = dict(method=method, key=key, num_samples=48)
    by_length = sum(tj.fisher_information(model, int(L), **kw) for L in lengths)
    info = design_information(model, lengths, **kw)
    np.testing.assert_allclose(info, by_length, rtol=1e-10, atol=1e-10 * np.max(np.abs(by_length)))
    value = tj.cramer_rao(model, len(lengths), 20, lengths=lengths, **kw)
    np.testing.assert_allclose(value, np.trace(np.linalg.inv(by_length)), rtol=1e-10)


@pytest.mark.parametrize("method", ["outer", "hessian"])
def test_monte_carlo_design_within_its_standard_error_of_the_closed_form(method, key):
    # the Gaussian LDS forced to Monte Carlo: every entry of Σ_i I_{T_i} within 4.5 of its
    # Monte-Carlo standard errors (computed from the samples) of the closed-form sum
    lengths = _design(np.arange(3, 41, 3), 30)
    info, stderr = design_information(
        LDS, lengths, method=method, key=key, num_samples=1000, return_stderr=True
    )
    exact = design_information(LDS, lengths)
    z = np.abs(np.asarray(info - exact)) / np.maximum(np.asarray(stderr), 1e-12 * np.max(np.abs(exact)))
    assert np.max(z) < 4.5, z


def test_closed_form_design_is_exact_and_one_program(key):
    # exact I_T at every distinct length, in one program; equal to the hand sum of per-length
    # closed forms, and to the balanced value when every length is T
    lengths = _design(np.arange(22, 50, 3), 36)
    (value, info), counts = _compilations(
        lambda: (tj.cramer_rao(LDS, 36, 49, lengths=lengths), design_information(LDS, lengths)),
        ("jit(exact_fishers",),
    )
    assert counts["jit(exact_fishers"] <= 1  # 0 when an earlier test compiled the same lengths
    by_hand = sum(_lds_fisher(int(L)) for L in lengths)
    np.testing.assert_allclose(info, by_hand, rtol=1e-12)
    np.testing.assert_allclose(value, np.trace(np.linalg.inv(by_hand)), rtol=1e-12)
    np.testing.assert_allclose(
        tj.cramer_rao(LDS, 36, 49, lengths=[49] * 36), tj.cramer_rao(LDS, 36, 49), rtol=1e-12
    )


def test_whole_trajectory_likelihoods_fall_back_to_one_program_per_length(key):
    model, lengths = WholeAR1(a=jnp.asarray(0.5)), np.array([4, 9, 9])
    kw = dict(method="outer", key=key, num_samples=32)
    by_length = tj.fisher_information(model, 4, **kw) + 2 * tj.fisher_information(model, 9, **kw)
    np.testing.assert_allclose(design_information(model, lengths, **kw), by_length, rtol=1e-12)


def test_monte_carlo_arguments_are_checked(key):
    lengths = np.array([5, 9])
    with pytest.raises(ValueError, match="^key: method 'outer' is Monte-Carlo and needs a PRNG key"):
        tj.cramer_rao(GLM, 2, 9, lengths=lengths)
    with pytest.raises(ValueError, match="^method: 'exact' is not available for SinusoidalGLM"):
        tj.cramer_rao(GLM, 2, 9, lengths=lengths, method="exact", key=key)
    with pytest.raises(ValueError, match="^method: expected one of"):
        tj.cramer_rao(GLM, 2, 9, lengths=lengths, method="score", key=key)
