"""fit: closed forms, Newton and L-BFGS agree; exact two-state variance; SciPy baseline;
jit/vmap compatibility; the slow CLT check of docs/theory.md §0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

import trajax as tj

A2 = jnp.array([[0.6, 0.1], [0.0, 0.5]])


def test_two_state_mle_has_exact_binomial_variance(key):
    # ΣN ~ Binomial(m(T−1), θ*) exactly, so E(θ̂−θ*)² = θ*(1−θ*)/(m(T−1)) with no asymptotics.
    # error model: mean of R iid squared errors, tolerance 4 Monte-Carlo SEs.
    model, m, T, R = tj.TwoStateChain(theta=0.8), 20, 50, 4000
    keys = jax.random.split(key, R)
    data = jax.vmap(lambda k: tj.simulate(model, k, m, T))(keys)
    result = jax.vmap(lambda d: tj.fit(model, d))(data)
    sq = (result.theta[:, 0] - 0.8) ** 2
    assert bool(jnp.all(result.converged))
    exact = 0.8 * 0.2 / (m * (T - 1))
    se = float(jnp.std(sq) / np.sqrt(R))
    assert abs(float(jnp.mean(sq)) - exact) < 4 * se
    assert tj.cramer_rao(model, m, T) == pytest.approx(exact)


@pytest.mark.parametrize(
    "model",
    [tj.TwoStateChain(theta=0.7), tj.MarkovChain(P=[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])],
    ids=["two_state", "markov"],
)
@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_iterative_fit_in_unconstrained_coordinates_matches_counts(model, method, key):
    data = tj.simulate(model, key, 50, 40)
    closed = tj.fit(model, data)
    assert int(closed.num_steps) == 0 and bool(closed.converged)
    # from the generic start (θ = ½ in logit coordinates), not the truth
    other = tj.fit(model, data, method=method, max_steps=500)
    assert bool(other.converged), other
    np.testing.assert_allclose(other.theta, closed.theta, rtol=1e-6)
    assert float(other.log_likelihood) == pytest.approx(float(closed.log_likelihood), rel=1e-12)
    assert float(closed.grad_norm) < 1e-10  # the closed form is a stationary point


def test_gaussian_lds_ols_is_the_newton_optimum(key):
    model = tj.LinearSystem(A=A2, noise=tj.noise.Gaussian(0.5))
    data = tj.simulate(model, key, 30, 60)
    ols = tj.fit(model, data)
    newton = tj.fit(model, data, method="newton", init=jnp.zeros(4))
    np.testing.assert_allclose(newton.theta, ols.theta, rtol=1e-9, atol=1e-12)
    assert isinstance(ols.model, tj.LinearSystem)
    np.testing.assert_array_equal(ols.model.A, ols.theta.reshape(2, 2))


def _student_t_lds_scipy(data, nu, scale):
    """Careful NumPy/SciPy baseline: L-BFGS-B with the analytic gradient from the OLS start."""
    X = np.asarray(data[:, :-1]).reshape(-1, 2)
    Y = np.asarray(data[:, 1:]).reshape(-1, 2)
    n = X.shape[0]

    def objective(theta):
        R = Y - X @ theta.reshape(2, 2).T
        value = (nu + 1) / 2 * np.sum(np.log1p(R**2 / (nu * scale**2)))
        psi = (nu + 1) * R / (nu * scale**2 + R**2)
        return value / n, -(psi.T @ X).ravel() / n

    start = np.linalg.lstsq(X, Y, rcond=None)[0].T.ravel()
    res = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15}
    )
    return res.x


def test_student_t_lds_mle_matches_scipy_lbfgs(key):
    model = tj.LinearSystem(A=A2, noise=tj.noise.StudentT(df=5.0, scale=1.0))
    data = tj.simulate(model, key, 40, 80)
    ours = tj.fit(model, data)
    assert bool(ours.converged) and int(ours.num_steps) < 20
    np.testing.assert_allclose(ours.theta, _student_t_lds_scipy(data, 5.0, 1.0), atol=1e-7)
    lbfgs = tj.fit(model, data, method="lbfgs", max_steps=500)
    assert bool(lbfgs.converged)
    np.testing.assert_allclose(lbfgs.theta, ours.theta, atol=1e-7)


def test_fit_under_vmap_and_jit_equals_one_by_one(key):
    model = tj.LinearSystem(A=A2, noise=tj.noise.StudentT(df=5.0))
    keys = jax.random.split(key, 3)
    data = jax.vmap(lambda k: tj.simulate(model, k, 10, 30))(keys)
    batched = jax.jit(jax.vmap(lambda d: tj.fit(model, d)))(data)
    assert batched.theta.shape == (3, 4) and batched.converged.shape == (3,)
    for r in range(3):
        single = tj.fit(model, data[r])
        np.testing.assert_allclose(batched.theta[r], single.theta, rtol=1e-10, atol=1e-12)


def test_non_convergence_is_reported_not_raised(key):
    model = tj.LinearSystem(A=A2, noise=tj.noise.BangBang(0.5))
    data = tj.simulate(model, key, 20, 30)
    result = tj.fit(model, data, method="lbfgs", max_steps=1)
    assert not bool(result.converged)
    assert int(result.num_steps) == 1


@pytest.mark.parametrize(
    "noise", [tj.noise.StudentT(5.0), tj.noise.BangBang(0.5), tj.noise.SmoothedLaplace(1.0, 1.0)]
)
def test_fit_recovers_theta_within_cramer_rao_band(noise, key):
    # error model: Δᵀ(m I_T)Δ ≈ χ²_p asymptotically; χ²_4 exceeds 25 with probability < 1e-4
    model = tj.LinearSystem(A=A2, noise=noise)
    m, T = 100, 100
    result = tj.fit(model, tj.simulate(model, key, m, T))
    assert bool(result.converged)
    delta = result.theta - model.theta
    assert float(m * delta @ tj.fisher_information(model, T) @ delta) < 25.0


@pytest.mark.slow
def test_student_t_lds_normalised_error_is_chi_squared(key):
    # docs/theory.md §0: m·Δᵀ I_T Δ → χ²_p, mean p = 4. 200 replicates at m = 200, T = 100.
    # error model: the mean over R replicates has Monte-Carlo SE = sample std / √R; within 3 SEs.
    model = tj.LinearSystem(A=A2, noise=tj.noise.StudentT(df=5.0, scale=1.0))
    m, T, R = 200, 100, 200
    info = tj.fisher_information(model, T)

    @jax.jit
    def one(k):
        result = tj.fit(model, tj.simulate(model, k, m, T))
        delta = result.theta - model.theta
        return m * delta @ info @ delta, result.converged

    stats, ok = jax.lax.map(one, jax.random.split(key, R), batch_size=25)
    assert bool(jnp.all(ok))
    mean, se = float(jnp.mean(stats)), float(jnp.std(stats, ddof=1) / np.sqrt(R))
    print(f"mean m·ΔᵀI_TΔ = {mean:.3f} ± {se:.3f} (p = 4)")
    assert abs(mean - 4.0) < 3 * se


@pytest.mark.parametrize("noise", [tj.noise.Gaussian(0.7), tj.noise.StudentT(5.0), tj.noise.BangBang(0.5)])
def test_fused_lds_newton_terms_equal_autodiff(noise, key):
    model = tj.LinearSystem(A=[[0.6, 0.1, 0.0], [0.0, 0.5, 0.2], [0.1, 0.0, 0.4]], noise=noise)
    data = tj.simulate(model, key, 7, 20)
    u = model.theta + 0.05
    fused = model.objective_terms(u, data)
    generic = tj.AbstractModel.objective_terms(model, u, data)
    for a, b in zip(fused, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_batched_newton_converges_in_every_replicate(key):
    # regression: under a wide vmap one of 1000 replicates used to stall at ‖g‖ ≈ 1.6e-8 > tol,
    # because steps that left f unchanged to rounding were rejected
    model = tj.LinearSystem(A=A2, noise=tj.noise.StudentT(df=5.0))
    data_key = jax.random.fold_in(jax.random.key(0), 0)
    fits = jax.jit(
        jax.vmap(lambda r: tj.fit(model, tj.simulate(model, jax.random.fold_in(data_key, r), 16, 32)))
    )
    result = fits(jnp.arange(1000, dtype=jnp.uint32))
    assert bool(jnp.all(result.converged)) and int(jnp.max(result.num_steps)) < 10
