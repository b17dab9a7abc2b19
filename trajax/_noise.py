"""Noise families for iid noise coordinates: density ∝ exp(−φ(w)).

Each family provides `log_prob(w)` (elementwise), `sample(key, shape)`, `variance()` and
`location_fisher()` = σ_φ^{-2} = E φ'(w)², the Fisher information of a location parameter of
one noise coordinate (docs/theory.md §4).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import betaln, gammaln, polygamma
from jaxtyping import Array, Float, PRNGKeyArray

from . import _random
from ._checks import as_float_array, check_positive

__all__ = ["AbstractNoise", "Gaussian", "StudentT", "SmoothedLaplace", "BangBang"]

_QUAD_POINTS = 8001


def _scalar(x, name):
    return check_positive(as_float_array(x, name, ndim=0), name)


def _cos_2pi(u):
    """cos(2πu) for u in [0, 1): reduction to x = 2π(u − k/4) ∈ [−π/4, π/4] and Taylor
    polynomials of degree 16/17 (truncation < 1e-17), max error 7e-16 in float64 against NumPy
    (tested). Faster than `jnp.cos` on CPU (benchmarks/bench_kernels.py; figures in
    docs/performance.md)."""
    v = 4.0 * u
    k = jnp.round(v)
    x = (v - k) * (jnp.pi / 2)
    x2 = x * x
    c = s = jnp.zeros_like(x)
    for n in range(8, -1, -1):
        c = c * x2 + (-1) ** n / math.factorial(2 * n)
        s = s * x2 + (-1) ** n / math.factorial(2 * n + 1)
    # lax.select_n, not jnp.select: jnp.select picks its case by an argmax over the stacked
    # conditions, a reduction that XLA materialises (an int64 index per element in float64)
    quadrant = k.astype(jnp.int32) & 3
    return jax.lax.select_n(quadrant, c, -s * x, -c, s * x)


_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (Cody–Waite): n·_LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


def _expm1(x):
    """expm1(x) = eˣ − 1 in float64 by x = n ln2 + r, |r| ≤ ln2/2, a Taylor polynomial of
    degree 13 for expm1(r) (truncation < 4e-18) and 2ⁿ(1 + p) − 1 = 2ⁿp + (2ⁿ − 1): max
    relative error 3e-16 against NumPy (tested). Inside the fused Student-t sampler XLA's float64
    expm1 cost more than the rest of the draw on CPU; this one makes the draws faster
    (benchmarks/bench_kernels.py; figures in docs/performance.md). Other dtypes use `jnp.expm1`."""
    if x.dtype != jnp.float64:
        return jnp.expm1(x)
    n = jnp.round(x * (1 / math.log(2)))
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = jnp.zeros_like(r)
    for k in range(13, 0, -1):
        p = p * r + 1.0 / math.factorial(k)
    p = p * r
    exponent = jnp.clip(n, -1022, 1023).astype(jnp.int64) + 1023
    scale = jax.lax.bitcast_convert_type(exponent << 52, jnp.float64)  # 2ⁿ
    return jnp.where(x > 709.78, jnp.inf, scale * p + (scale - 1.0))


class AbstractNoise(eqx.Module):
    """One coordinate of noise with density p(w) ∝ exp(−φ(w)).

    A family provides `log_prob`, `sample`, `variance` and `quadrature_range`; the location
    Fisher information σ_φ^{-2} = E φ'(w)² and the derivatives of φ then come by quadrature and
    autodiff (override `location_fisher` / `phi_derivatives` with closed forms where they
    exist). Models that take a `noise` (`LinearSystem`, `DependentRegression`) accept any family.

    Example:
        >>> import jax, jax.numpy as jnp, trajax as tj
        >>> class Logistic(tj.noise.AbstractNoise):      # p(w) = e^{−w} / (1 + e^{−w})²
        ...     def log_prob(self, w):
        ...         return -w - 2 * jax.nn.softplus(-w)
        ...     def sample(self, key, shape, dtype=None):
        ...         return jax.random.logistic(key, shape, dtype or jnp.float32)
        ...     def variance(self):
        ...         return jnp.pi**2 / 3
        ...     def quadrature_range(self):
        ...         return -60.0, 60.0
        >>> round(float(Logistic().location_fisher()), 4)   # 1/3 for the logistic law
        0.3333
        >>> lds = tj.LinearSystem(A=jnp.array([[0.5]]), noise=Logistic())
        >>> tj.fisher_information(lds, 100).shape           # closed form with σ_φ^{-2} = 1/3
        (1, 1)
    """

    def log_prob(self, w: Float[Array, "..."]) -> Float[Array, "..."]:
        """log p(w) elementwise, normalised (shape of `w`)."""
        raise NotImplementedError

    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype=None) -> Array:
        """Independent draws of the given `shape` (float `dtype`, default the family's)."""
        raise NotImplementedError

    def variance(self) -> Float[Array, ""]:
        """Var w (inf when it does not exist); the linear system's closed-form I_T uses it."""
        raise NotImplementedError

    def quadrature_range(self) -> tuple[Array, Array]:
        """An interval holding all but a negligible part of the mass of p(w)."""
        raise NotImplementedError

    def expect(self, f) -> Float[Array, ""]:
        """E f(w) by composite Simpson quadrature on `quadrature_range()` (jit-compatible)."""
        lo, hi = self.quadrature_range()
        x = jnp.linspace(lo, hi, _QUAD_POINTS)
        y = f(x) * jnp.exp(self.log_prob(x))
        h = (hi - lo) / (_QUAD_POINTS - 1)
        weights = jnp.ones(_QUAD_POINTS).at[1:-1:2].set(4.0).at[2:-1:2].set(2.0)
        return h / 3.0 * jnp.sum(weights * y)

    def location_fisher(self) -> Float[Array, ""]:
        """σ_φ^{-2} = E[φ'(w)²], by quadrature of `phi_derivatives` (families override with
        closed forms where they exist)."""
        return self.expect(lambda x: self.phi_derivatives(x)[1] ** 2)

    def phi_derivatives(self, w: Float[Array, "..."]):
        """(φ(w), φ'(w), φ''(w)) elementwise, φ = −log p: the per-residual terms of Newton fits
        of linear models. The default differentiates `log_prob`; families override it with
        closed forms (tested equal)."""
        phi = lambda x: -self.log_prob(x)
        flat = jnp.ravel(w)
        psi = jax.vmap(jax.grad(phi))(flat).reshape(jnp.shape(w))
        weight = jax.vmap(jax.grad(jax.grad(phi)))(flat).reshape(jnp.shape(w))
        return phi(w), psi, weight


class Gaussian(AbstractNoise):
    """w ~ N(0, scale²); φ(x) = x²/(2 scale²), σ_φ^{-2} = 1/scale².

    Example:
        >>> import trajax as tj
        >>> float(tj.noise.Gaussian(scale=2.0).location_fisher())   # 1/scale²
        0.25
    """

    scale: Float[Array, ""]

    def __init__(self, scale=1.0):
        self.scale = _scalar(scale, "scale")

    def log_prob(self, w):
        z = w / self.scale
        return -0.5 * z**2 - jnp.log(self.scale) - 0.5 * math.log(2 * math.pi)

    def sample(self, key, shape, dtype=None):
        dtype = dtype or self.scale.dtype
        return self.scale.astype(dtype) * _random.normal(key, shape, dtype)

    def variance(self):
        return self.scale**2

    def quadrature_range(self):
        return -12.0 * self.scale, 12.0 * self.scale

    def location_fisher(self):
        return 1.0 / self.scale**2

    def phi_derivatives(self, w):
        precision = 1.0 / self.scale**2
        return -self.log_prob(w), w * precision, jnp.broadcast_to(precision, jnp.shape(w)).astype(w.dtype)


class StudentT(AbstractNoise):
    """Student-t with `df` = ν degrees of freedom and `scale` s:
    φ(x) = ((ν+1)/2)·log(1 + x²/(ν s²)), σ_φ^{-2} = (ν+1)/((ν+3) s²).

    Example:
        >>> import jax, trajax as tj
        >>> noise = tj.noise.StudentT(df=5.0)
        >>> w = noise.sample(jax.random.key(0), (1000,))
        >>> noise.log_prob(w).shape
        (1000,)
        >>> float(noise.location_fisher())        # (ν+1)/((ν+3)s²) = 6/8
        0.75
    """

    df: Float[Array, ""]
    scale: Float[Array, ""]

    def __init__(self, df=5.0, scale=1.0):
        self.df = _scalar(df, "df")
        self.scale = _scalar(scale, "scale")

    def log_prob(self, w):
        nu, s = self.df, self.scale
        const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * jnp.pi) - jnp.log(s)
        return const - (nu + 1) / 2 * jnp.log1p((w / s) ** 2 / nu)

    def sample(self, key, shape, dtype=None):
        """Bailey's polar method (Math. Comp. 62, 1994) in its rejection-free form: for (U, V)
        uniform on the unit disk, W = U² + V² is Uniform(0, 1] and U/√W = cos Θ with Θ uniform,
        independent of W, so t = cos(2π U₂)·√(ν (W^(−2/ν) − 1)) from two uniforms, for any
        ν > 0. (Faster than Z/√(χ²_ν/ν) from ν+1 variates; benchmarks/bench_kernels.py, figures
        in docs/performance.md.)"""
        dtype = dtype or self.scale.dtype
        # the pair of uniforms is the trailing axis, so element i of `shape` uses random bits
        # 2i and 2i+1 whatever the leading sizes: the prefix property of `simulate`
        u = _random.uniform(key, (*shape, 2), dtype)
        w = 1.0 - u[..., 0]  # (0, 1]
        nu = self.df.astype(dtype)
        radius = jnp.sqrt(nu * _expm1(-2.0 / nu * jnp.log(w)))
        return self.scale.astype(dtype) * _cos_2pi(u[..., 1]) * radius

    def variance(self):
        nu = self.df
        return jnp.where(nu > 2, self.scale**2 * nu / jnp.maximum(nu - 2, 1e-12), jnp.inf)

    def quadrature_range(self):
        return -200.0 * self.scale, 200.0 * self.scale

    def location_fisher(self):
        return (self.df + 1) / ((self.df + 3) * self.scale**2)

    def phi_derivatives(self, w):
        """φ' = (ν+1) w / (ν s² + w²), φ'' = (ν+1)(ν s² − w²) / (ν s² + w²)² in closed form."""
        nu_s2 = self.df * self.scale**2
        w2 = w * w
        denominator = nu_s2 + w2
        psi = (self.df + 1) * w / denominator
        return -self.log_prob(w), psi, (self.df + 1) * (nu_s2 - w2) / (denominator * denominator)


class SmoothedLaplace(AbstractNoise):
    """Smoothed Laplace: p(x) ∝ cosh(c x / s)^{-1/c}, φ(x) = (1/c)·log cosh(c x / s).

    As c → 0 it tends to a Gaussian of scale s, as c grows its tails approach the Laplace law.
    Sampling: U = ½·logit(Beta(a/2, a/2)) = ½(log G₁ − log G₂), G_i ~ Gamma(a/2), a = 1/c, has
    density ∝ cosh(u)^{-a}; then w = s·U/c. σ_φ^{-2} is computed by quadrature (it equals
    c/((1 + c) s²), since E tanh²(U) = 1/(a + 1) under that density).

    Example:
        >>> import trajax as tj
        >>> round(float(tj.noise.SmoothedLaplace(scale=1.0, c=1.0).location_fisher()), 4)  # c/((1+c)s²)
        0.5
    """

    scale: Float[Array, ""]
    c: Float[Array, ""]

    def __init__(self, scale=1.0, c=1.0):
        self.scale = _scalar(scale, "scale")
        self.c = _scalar(c, "c")

    def log_prob(self, w):
        s, c = self.scale, self.c
        a = 1.0 / c
        u = c * w / s
        log_cosh = jnp.abs(u) + jnp.log1p(jnp.exp(-2 * jnp.abs(u))) - math.log(2.0)
        log_norm = jnp.log(s / c) + betaln(a / 2, 0.5)
        return -a * log_cosh - log_norm

    def sample(self, key, shape, dtype=None):
        dtype = dtype or self.scale.dtype
        a = (1.0 / self.c).astype(dtype)
        k1, k2 = jax.random.split(key)
        # logit(Beta(α, α)) = log G1 − log G2 with G_i ~ Gamma(α): stable for small α
        g1 = jax.random.loggamma(k1, a / 2, shape, dtype)
        g2 = jax.random.loggamma(k2, a / 2, shape, dtype)
        u = 0.5 * (g1 - g2)
        return self.scale.astype(dtype) * u / self.c.astype(dtype)

    def variance(self):
        a = 1.0 / self.c
        return self.scale**2 * polygamma(1, a / 2) / (2 * self.c**2)

    def quadrature_range(self):
        # φ(x) ≈ |x|/s in the tails, so ±60 s leaves out a mass of order e^{-60}
        return -60.0 * self.scale, 60.0 * self.scale


class BangBang(AbstractNoise):
    """Bimodal "bang-bang" noise ½N(+1, ν²) + ½N(−1, ν²): non-convex φ. Variance 1 + ν².
    σ_φ^{-2} by quadrature (ν = 0.5 gives σ_φ² ≈ 0.3445).

    Example:
        >>> import trajax as tj
        >>> noise = tj.noise.BangBang(nu=0.5)
        >>> round(1 / float(noise.location_fisher()), 4)    # σ_φ²
        0.3445
        >>> round(float(noise.variance() * noise.location_fisher()), 2)  # MLE's gain over OLS
        3.63
    """

    nu: Float[Array, ""]

    def __init__(self, nu=0.5):
        self.nu = _scalar(nu, "nu")

    def log_prob(self, w):
        nu = self.nu
        z1, z2 = (w - 1) / nu, (w + 1) / nu
        log_n = -jnp.log(nu) - 0.5 * math.log(2 * math.pi)
        return jnp.logaddexp(-0.5 * z1**2, -0.5 * z2**2) + log_n - math.log(2.0)

    def sample(self, key, shape, dtype=None):
        dtype = dtype or self.nu.dtype
        k_sign, k_normal = jax.random.split(key)
        heads = _random.uniform(k_sign, shape, jnp.result_type(float)) < 0.5  # jax.random.bernoulli(·, 0.5)
        sign = jnp.where(heads, 1.0, -1.0).astype(dtype)
        return sign + self.nu.astype(dtype) * _random.normal(k_normal, shape, dtype)

    def variance(self):
        return 1.0 + self.nu**2

    def quadrature_range(self):
        return -1.0 - 12.0 * self.nu, 1.0 + 12.0 * self.nu
