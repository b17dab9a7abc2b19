"""One catalogue of every built-in model (and every noise family), shared by the tests that must
hold for all of them: the conformance kit (tests/test_conformance.py) and the property tests."""

import jax
import jax.numpy as jnp
import numpy as np

import trajax as tj


def _attention():
    rng = np.random.default_rng(0)
    d, K = 2, 3
    E = rng.normal(size=(K, d))
    E = E / np.maximum(1.0, np.linalg.norm(E, axis=1, keepdims=True))
    return tj.LinearAttention(W=0.5 * rng.normal(size=(d, d)), E=E, C=rng.normal(size=(K - 1, d)))


A2 = [[0.6, 0.1], [0.0, 0.5]]

MODELS = {
    "two_state_chain": tj.TwoStateChain(theta=0.7),
    "markov_chain": tj.MarkovChain(P=[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]),
    "two_state_mixture": tj.MarkovChainMixture.two_state(0.8, 0.4),
    "markov_chain_mixture": tj.MarkovChainMixture(
        jnp.stack([jnp.array([[0.7, 0.3], [0.4, 0.6]]), jnp.array([[0.2, 0.8], [0.5, 0.5]])]),
        weights=[0.6, 0.4],
    ),
    "lds_gaussian": tj.LinearSystem(A=A2, noise=tj.noise.Gaussian(0.8)),
    "lds_student_t": tj.LinearSystem(A=A2, noise=tj.noise.StudentT(df=5.0)),
    "lds_smoothed_laplace": tj.LinearSystem(A=A2, noise=tj.noise.SmoothedLaplace(scale=1.0, c=2.0)),
    "lds_bang_bang": tj.LinearSystem(A=A2, noise=tj.noise.BangBang(nu=0.5)),
    "dependent_regression": tj.DependentRegression(
        theta=[0.5, -0.3],
        features=lambda z: jnp.stack([z, jnp.tanh(z)], axis=-1),
        dim=2,
        noise=tj.noise.StudentT(df=5.0),
    ),  # fmt: skip
    "sinusoidal_glm": tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5),
    "linear_attention": _attention(),
    "mixed_linear_regression": tj.MixedLinearRegression(beta=[1.0, -0.5], p=0.6),
}


# ---------------------------------------------------------------------------------------------
# Models as users write them: one class, no shortcuts (no initial_theta, no statistics, no fused
# terms). Their default start is the origin of the optimiser's coordinates.


class GaussianHMM2(tj.AbstractModel):
    """Two-state hidden Markov model with Gaussian emissions: a hidden chain s_t with stay
    probabilities (p₀, p₁), started in its stationary law, and y_t = μ_{s_t} + σ_{s_t} ε_t.
    θ = (p₀, p₁, μ₀, μ₁, σ₀, σ₁); the likelihood is the forward algorithm, conditional on y_1.

    Its generic start from_unconstrained(0) = (½, ½, 0, 0, 1, 1) makes both states identical:
    every gradient along a separating direction vanishes there (a saddle point)."""

    stay: jax.Array
    means: jax.Array
    scales: jax.Array
    parameters = ("stay", "means", "scales")

    def to_unconstrained(self, theta):
        return jnp.concatenate([jnp.log(theta[:2]) - jnp.log1p(-theta[:2]), theta[2:4], jnp.log(theta[4:])])

    def from_unconstrained(self, u):
        return jnp.concatenate([jax.nn.sigmoid(u[:2]), u[2:4], jnp.exp(u[4:])])

    def _transition_matrix(self):
        p0, p1 = self.stay[0], self.stay[1]
        return jnp.stack([jnp.stack([p0, 1 - p0]), jnp.stack([1 - p1, p1])])

    def _stationary(self):
        p0, p1 = self.stay[0], self.stay[1]
        return jnp.stack([1 - p1, 1 - p0]) / (2 - p0 - p1)

    def sample_trajectory(self, key, num_steps):
        k_s, k_y = jax.random.split(key)
        P = self._transition_matrix()
        s1 = jax.random.categorical(jax.random.fold_in(k_s, 0), jnp.log(self._stationary()))

        def step(s, t):
            s_next = jax.random.categorical(jax.random.fold_in(k_s, t), jnp.log(P[s]))
            return s_next, s_next

        _, rest = jax.lax.scan(step, s1, jnp.arange(1, num_steps))
        states = jnp.concatenate([s1[None], rest])
        noise = jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(k_y, t), dtype=self.means.dtype))(
            jnp.arange(num_steps)
        )
        return self.means[states] + self.scales[states] * noise

    def trajectory_log_likelihood(self, y):
        P = self._transition_matrix()
        log_emission = jax.scipy.stats.norm.logpdf(y[:, None], self.means, self.scales)  # (T, 2)
        first = jnp.log(self._stationary()) + log_emission[0]
        filtered = first - jax.scipy.special.logsumexp(first)

        def step(log_alpha, log_e):
            predicted = jax.scipy.special.logsumexp(log_alpha[:, None] + jnp.log(P), axis=0) + log_e
            norm = jax.scipy.special.logsumexp(predicted)
            return predicted - norm, norm

        _, terms = jax.lax.scan(step, filtered, log_emission[1:])
        return jnp.sum(terms)


class OrderedGaussianHMM2(GaussianHMM2):
    """The same model with its labels fixed (state 0 has the lower mean), as a sweep needs: the
    likelihood is invariant under swapping the states, and without this a fit at the swapped
    maximum would count as a huge error."""

    def canonical_theta(self, theta):
        swap = theta[2] > theta[3]
        return jnp.where(swap, theta[jnp.array([1, 0, 3, 2, 5, 4])], theta)


def gaussian_hmm(ordered=False):
    cls = OrderedGaussianHMM2 if ordered else GaussianHMM2
    return cls(stay=jnp.array([0.9, 0.8]), means=jnp.array([-1.0, 1.5]), scales=jnp.array([0.7, 1.2]))


# Fits whose default start sits on a symmetry of the likelihood (identical components or states):
# the second-order acceptance and the escape from saddle points are tested on them.
SYMMETRIC_STARTS = {
    "gaussian_hmm": gaussian_hmm,
    "two_state_mixture_T4": lambda: tj.MarkovChainMixture.two_state(0.8, 0.4),
}
