"""One catalogue of every built-in model (and every noise family), shared by the tests that must
hold for all of them: the conformance kit (tests/test_conformance.py) and the property tests."""

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
