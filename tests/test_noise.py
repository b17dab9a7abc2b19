"""Noise families: normalisation, variance and location Fisher against SciPy quadrature,
and samplers against their moments (docs/theory.md §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import trajax as tj

FAMILIES = [
    tj.noise.Gaussian(scale=1.3),
    tj.noise.StudentT(df=5.0, scale=0.7),
    tj.noise.SmoothedLaplace(scale=1.2, c=0.5),
    tj.noise.SmoothedLaplace(scale=0.8, c=3.0),
    tj.noise.BangBang(nu=0.5),
]


def _quad(noise, f):
    """∫ f(x) p(x) dx by adaptive SciPy quadrature over the real line."""
    grad = jax.grad(lambda w: noise.log_prob(w))
    compiled = jax.jit(lambda x: f(x, grad(x)) * jnp.exp(noise.log_prob(x)))

    def integrand(x):
        return float(compiled(jnp.asarray(x, dtype=jnp.float64)))

    pieces = [(-np.inf, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, np.inf)]
    return sum(integrate.quad(integrand, a, b, epsabs=1e-12, epsrel=1e-11, limit=200)[0] for a, b in pieces)


@pytest.mark.parametrize("noise", FAMILIES, ids=lambda n: type(n).__name__)
def test_density_normalised_and_moments_match_quadrature(noise):
    assert _quad(noise, lambda x, g: 1.0) == pytest.approx(1.0, abs=1e-9)
    assert float(noise.variance()) == pytest.approx(_quad(noise, lambda x, g: x**2), rel=1e-8)
    assert float(noise.location_fisher()) == pytest.approx(_quad(noise, lambda x, g: g**2), rel=1e-7)


def test_location_fisher_reference_values():
    # docs/theory.md §4: Student-t (ν+1)/((ν+3)s²); bang-bang ν = 0.5 has σ_φ² ≈ 0.3445 (efficiency ≈ 3.6)
    assert float(tj.noise.StudentT(df=5.0, scale=1.0).location_fisher()) == pytest.approx(6 / 8)
    bang = tj.noise.BangBang(nu=0.5)
    assert 1 / float(bang.location_fisher()) == pytest.approx(0.3445, abs=5e-4)
    assert float(bang.variance() * bang.location_fisher()) == pytest.approx(3.63, abs=0.01)
    # smoothed Laplace: E tanh²(U) = 1/(a+1), a = 1/c, so σ_φ^{-2} = c/((1+c) s²) exactly
    s, c = 1.2, 0.5
    fisher = float(tj.noise.SmoothedLaplace(scale=s, c=c).location_fisher())
    assert fisher == pytest.approx(c / ((1 + c) * s**2), rel=1e-8)


@pytest.mark.parametrize("noise", FAMILIES, ids=lambda n: type(n).__name__)
def test_sampler_matches_variance_and_fisher(noise, key):
    # error model: sample means of w² and φ'(w)² over n draws, tolerance 4 Monte-Carlo SEs
    n = 200_000
    w = noise.sample(key, (n,))
    assert w.dtype == jnp.float64
    g2 = jax.vmap(jax.grad(lambda x: noise.log_prob(x)))(w) ** 2
    for values, target in [(w**2, noise.variance()), (g2, noise.location_fisher())]:
        if isinstance(noise, tj.noise.StudentT) and values is not g2:
            continue  # w² has infinite fourth moment at ν = 5: its SE is not reliable
        se = float(jnp.std(values) / jnp.sqrt(n))
        assert abs(float(jnp.mean(values)) - float(target)) < 4 * se
    assert abs(float(jnp.mean(w))) < 4 * float(jnp.std(w)) / np.sqrt(n)


@pytest.mark.parametrize("df", [5.0, 3.5, 0.7, 40.0])
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_student_t_sampler_matches_scipy_distribution(df, dtype, key):
    # Bailey's polar sampler must follow the t law for integer and non-integer ν, heavy and light
    # tails: Kolmogorov–Smirnov on 20000 draws, fixed seed, rejecting only at p < 1e-3
    from scipy import stats

    noise = tj.noise.StudentT(df=df, scale=2.0)
    w = noise.sample(key, (20000,), dtype)
    assert w.dtype == dtype and bool(jnp.all(jnp.isfinite(w)))
    assert stats.kstest(np.asarray(w, np.float64) / 2.0, stats.t(df).cdf).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_cos_2pi_polynomial_matches_numpy(dtype):
    # the Student-t sampler's cos(2πu): every quadrant, both ends of [0, 1)
    from trajax._noise import _cos_2pi

    u = np.concatenate([np.linspace(0.0, 1.0, 100_001)[:-1], [np.nextafter(1.0, 0.0)]]).astype(dtype)
    got = np.asarray(_cos_2pi(jnp.asarray(u)), np.float64)
    exact = np.cos(2 * np.pi * u.astype(np.float64))
    assert np.max(np.abs(got - exact)) < (1e-15 if dtype == jnp.float64 else 2e-7)


def test_expm1_polynomial_matches_numpy():
    # the Student-t sampler's float64 expm1: near 0 (where eˣ − 1 cancels), across the reduction
    # boundaries n ln2 ± ln2/2, large arguments and overflow
    from trajax._noise import _expm1

    x = np.concatenate([
        np.linspace(-40.0, 40.0, 200_001), np.linspace(-1e-3, 1e-3, 20_001),
        np.geomspace(1e-300, 1.0, 1000), -np.geomspace(1e-300, 1.0, 1000), np.linspace(40.0, 709.0, 1000),
    ])  # fmt: skip
    got = np.asarray(jax.jit(_expm1)(jnp.asarray(x, jnp.float64)))
    exact = np.expm1(x)
    assert np.max(np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)) < 5e-16  # exact at x = 0
    assert np.isposinf(np.asarray(_expm1(jnp.asarray([710.0, 1e4])))).all()
    assert _expm1(jnp.asarray([0.5], jnp.float32)).dtype == jnp.float32


@pytest.mark.parametrize("noise", FAMILIES, ids=lambda n: type(n).__name__)
def test_phi_derivatives_equal_autodiff_of_log_prob(noise):
    # the closed forms some families give Newton fits against jax.grad of −log p
    w = jnp.linspace(-6.0, 6.0, 243).reshape(3, 81)
    phi, psi, weight = noise.phi_derivatives(w)
    minus_logp = lambda x: -noise.log_prob(x)
    assert phi.shape == psi.shape == weight.shape == w.shape
    np.testing.assert_allclose(phi, minus_logp(w), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(
        psi, jax.vmap(jax.grad(minus_logp))(w.ravel()).reshape(w.shape), rtol=1e-12, atol=1e-14
    )
    second = jax.vmap(jax.grad(jax.grad(minus_logp)))(w.ravel()).reshape(w.shape)
    np.testing.assert_allclose(weight, second, rtol=1e-12, atol=1e-14)
