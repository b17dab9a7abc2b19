"""The one estimator: result codes, the stalled-objective rule on a non-smooth likelihood, the start
rule, incomplete models refused, dtype handling, explosive data, and every data source agreeing."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog

import trajax as tj
from trajax._estimate import Plan, describe_start
from trajax._fit import fit_unchecked
from trajax._solvers import Newton, default_xtol


class LaplaceAR(tj.AbstractModel):
    """The README's one-class AR(1), with Laplace noise: z_{t+1} = a z_t + w_t, p(w) ∝ e^{−|w|/b}."""

    a: jax.Array
    scale: float = eqx.field(static=True)
    parameters = ("a",)

    def initial_state(self, key):
        return jnp.zeros(())

    def transition(self, key, z, t):
        return self.a * z + self.scale * jax.random.laplace(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        r = (z_next - self.a * z) / self.scale
        return -jnp.abs(r) - jnp.log(2 * self.scale)


LAPLACE = LaplaceAR(a=jnp.asarray(0.5), scale=1.0)


def _least_absolute_deviation(data) -> float:
    """The exact LAD slope of z_{t+1} on z_t by a linear program (SciPy's HiGHS)."""
    x, y = np.asarray(data[:, :-1]).ravel(), np.asarray(data[:, 1:]).ravel()
    n = x.size
    cost = np.concatenate([[0.0], np.ones(2 * n)])  # min Σ(e⁺ + e⁻), y − a x = e⁺ − e⁻
    A_eq = np.hstack([x[:, None], np.eye(n), -np.eye(n)])
    bounds = [(None, None)] + [(0, None)] * (2 * n)
    solution = linprog(cost, A_eq=A_eq, b_eq=y, bounds=bounds, method="highs")
    assert solution.status == 0
    return float(solution.x[0])


def test_laplace_ar_fits_the_exact_least_absolute_deviation_optimum(key):
    data = tj.simulate(LAPLACE, key, 40, 30)
    result = tj.fit(LAPLACE, data)
    assert bool(result.converged), result.message
    lad = _least_absolute_deviation(data)
    # power: the Laplace MLE is not least squares, and the two differ by far more than the tolerance
    ols = float(jnp.sum(data[:, :-1] * data[:, 1:]) / jnp.sum(data[:, :-1] ** 2))
    assert abs(ols - lad) > 1e-4
    assert float(result.theta[0]) == pytest.approx(lad, abs=1e-7)


def test_laplace_ar_sweep_has_no_failures_and_reaches_the_fisher_rate(key):
    # error model: mse over R = 128 replicates (SE from the replicates) against the Monte-Carlo
    # Fisher curve (4000 paths: a few % relative error); |ratio − 1| within 4 SE of the ratio
    sweep = tj.sweep(
        LAPLACE, m=[32], T=[64], replicates=128, key=key, fisher_method="outer", fisher_samples=4000,
        progress=False,
    )  # fmt: skip
    (row,) = sweep.table
    assert row["failed"] == 0 and row["failed_max_steps_reached"] == 0
    se = row["mse_se"] / row["theory"]
    assert abs(row["ratio"] - 1.0) < 4 * se + 0.05, row
    assert se < 0.2  # the check has power: a ratio of 2 would fail it


def _rosenbrock_terms(u):
    f = lambda u: (1.0 - u[0]) ** 2 + 100.0 * (u[1] - u[0] ** 2) ** 2
    return f(u), jax.grad(f)(u), jax.hessian(f)(u)


def _plain_levenberg_marquardt(u, max_steps=100, tol=1e-8):
    """The plain damping rule (λ ÷ 10 after every accepted step, × 10 after a rejected one), in
    NumPy: (u, steps, "A"/"R" per trial step)."""
    u, damping, trials = np.asarray(u, float), 1e-6, ""
    f, g, H = (np.asarray(x) for x in _rosenbrock_terms(jnp.asarray(u)))
    eps = np.finfo(float).eps
    while len(trials) < max_steps and np.max(np.abs(g)) > tol and damping < 1e10:
        step = -np.linalg.solve(H + damping * np.eye(u.size), g)
        f_new, g_new, H_new = (np.asarray(x) for x in _rosenbrock_terms(jnp.asarray(u + step)))
        flat = f_new <= f + 16 * eps * abs(f) and np.max(np.abs(g_new)) < np.max(np.abs(g))
        ok = f_new <= f or flat
        trials += "A" if ok else "R"
        if ok:
            u, f, g, H, damping = u + step, f_new, g_new, H_new, max(damping * 0.1, 1e-12)
        else:
            damping *= 10.0
    return u, len(trials), trials


@pytest.mark.parametrize("u0", [(2.0, -1.0), (0.0, 5.0)])
def test_newton_follows_the_plain_damping_rule_on_a_smooth_objective(u0):
    # The exception to the plain rule (λ kept after a rejection, for non-smooth likelihoods) must
    # not touch a smooth objective whose Hessian carries curvature: the same trial steps as the
    # plain rule, to rounding (u equal to 1e-12; the steps NumPy and XLA take differ by ulps).
    u_plain, steps, trials = _plain_levenberg_marquardt(u0)
    assert "RA" in trials  # power: the path has steps taken right after a rejection
    solution = jax.jit(lambda u: Newton(100, 1e-8, default_xtol(jnp.float64)).minimise(_rosenbrock_terms, u))(
        jnp.asarray(u0)
    )
    assert bool(solution.result == tj.RESULTS.successful)
    assert int(solution.num_steps) == steps, trials
    np.testing.assert_allclose(np.asarray(solution.u), u_plain, rtol=0, atol=1e-12)


def test_max_steps_reached_is_reported(key):
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    data = tj.simulate(lds, key, 20, 50)
    result = tj.fit(lds, data, max_steps=1)
    assert bool(result.result == tj.RESULTS.max_steps_reached) and not bool(result.converged)
    assert "max_steps" in result.message
    assert int(result.num_steps) == 1
    assert bool(tj.fit(lds, data).result == tj.RESULTS.successful)


def test_results_vmap_and_count_by_reason(key):
    from trajax._results import failure_counts, result_code

    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    data = jax.vmap(lambda k: tj.simulate(lds, k, 10, 30))(jax.random.split(key, 4))
    results = jax.vmap(lambda d: tj.fit(lds, d, max_steps=1))(data)
    codes = np.asarray(result_code(results.result))
    assert codes.shape == (4,)
    counts = failure_counts(codes)
    assert counts["failed_max_steps_reached"] == 4 and counts["failed_nonfinite"] == 0


class NoLikelihood(tj.AbstractModel):
    a: jax.Array
    parameters = ("a",)

    def initial_state(self, key):
        return jnp.zeros(())

    def transition(self, key, z, t):
        return self.a * z + jax.random.normal(key)


class NoSampler(tj.AbstractModel):
    a: jax.Array
    parameters = ("a",)

    def transition_log_prob(self, z, z_next, t):
        return -0.5 * (z_next - self.a * z) ** 2


def test_incomplete_models_are_refused_at_construction():
    with pytest.raises(
        TypeError, match="NoLikelihood.*a likelihood: define trajectory_log_likelihood or transition_log_prob"
    ):
        NoLikelihood(a=jnp.asarray(0.5))
    with pytest.raises(
        TypeError, match="NoSampler.*a sampler: define sample_trajectory or initial_state and transition"
    ):
        NoSampler(a=jnp.asarray(0.5))
    LaplaceAR(a=jnp.asarray(0.5), scale=1.0)  # complete: accepted


def test_models_without_a_data_driven_start_start_at_the_origin_not_at_their_theta(key):
    data = tj.simulate(LAPLACE, key, 10, 20)
    assert float(LAPLACE.initial_theta(data)[0]) == 0.0
    plan = Plan.make(LAPLACE, "newton", "data", 100, None)
    assert describe_start(LAPLACE, plan, data).startswith("generic")
    assert "truth" in describe_start(LAPLACE, Plan.make(LAPLACE, "newton", "model", 100, None), data)
    # a logit-coordinate probability starts at ½
    chain = tj.TwoStateChain(theta=0.9)
    np.testing.assert_allclose(chain.generic_start(), [0.5])


def test_explosive_system_is_reported_not_averaged(key):
    # spectral radius 1.05 at T = 4096: states reach 1e87 and the Gram matrix is singular to
    # working precision; the closed form used to return rounding noise as a converged fit
    A = jnp.array([[1.05, 0.0], [0.1, 0.5]])
    gaussian, student = tj.LinearSystem(A=A), tj.LinearSystem(A=A, noise=tj.noise.StudentT(5.0))
    data = tj.simulate(gaussian, key, 4, 4096)
    assert bool(fit_unchecked(gaussian, data).result == tj.RESULTS.nonfinite)
    assert bool(fit_unchecked(student, data).result == tj.RESULTS.singular_start)
    with pytest.raises(ValueError, match=r"T=4096 is numerically singular.*explosive.*from T=\d+"):
        tj.cramer_rao(gaussian, 4, 4096)
    # a stable system of the same size is unaffected
    stable = tj.LinearSystem(A=jnp.array([[0.5, 0.0], [0.1, 0.5]]))
    assert bool(tj.fit(stable, tj.simulate(stable, key, 4, 4096)).converged)


def test_overflowing_fisher_names_the_overflow_and_its_T():
    lds = tj.LinearSystem(A=jnp.array([[3.0, 0.0], [0.0, 0.5]], dtype=jnp.float32))
    with pytest.raises(
        ValueError, match=r"T=200 is not finite.*overflows.*finite up to T=\d+ and overflows from T=\d+"
    ):
        tj.fisher_information(lds, 200)


def test_data_of_another_dtype_are_cast(key):
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    data = tj.simulate(lds, key, 30, 40)
    reference = tj.fit(lds, data)
    single = tj.fit(lds, np.asarray(data, np.float32))  # e.g. loaded from a float32 file
    assert bool(single.converged)
    np.testing.assert_allclose(single.theta, reference.theta, atol=1e-5)
    gaussian = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]])
    as_int = np.round(np.asarray(data) * 10).astype(np.int32)
    for method in ("auto", "newton"):
        assert bool(tj.fit(gaussian, as_int, method=method).converged)
    chain = tj.TwoStateChain(theta=0.7)
    states = tj.simulate(chain, key, 10, 20)
    np.testing.assert_array_equal(
        tj.fit(chain, np.asarray(states, np.float64)).theta, tj.fit(chain, states).theta
    )
    with pytest.raises(ValueError, match="data: expected integer states"):
        tj.fit(chain, np.asarray(states, np.float64) + 0.5)


def test_fit_options_typos_are_rejected_on_every_path(key):
    for design in ("nested", "independent"):
        with pytest.raises(
            ValueError, match="fit_options: unknown option 'max_step' \\(did you mean 'max_steps'\\?\\)"
        ):
            tj.sweep(
                LAPLACE,
                m=[4],
                T=[8],
                replicates=2,
                key=key,
                design=design,
                fit_options={"max_step": 5},
                progress=False,
            )


def test_streamed_fit_equals_materialised_fit_on_the_sinusoidal_glm(key):
    glm = tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5)
    m, T = 24, 40
    whole = tj.fit(glm, tj.simulate(glm, key, m, T))
    streamed = tj.fit_streaming(glm, key, m, T, chunk_size=6)
    assert bool(whole.converged) and bool(streamed.converged)
    np.testing.assert_allclose(streamed.theta, whole.theta, rtol=0, atol=1e-9)
    assert float(streamed.log_likelihood) == pytest.approx(float(whole.log_likelihood), rel=1e-10)


def test_streamed_fit_with_autodiff_newton_terms(key):
    # DependentRegression has no fused objective_terms: Newton sums autodiff terms over chunks
    model = tj.DependentRegression(
        theta=[0.5, -0.3], features=lambda z: jnp.stack([z, jnp.tanh(z)], axis=-1), dim=2,
        noise=tj.noise.StudentT(5.0),
    )  # fmt: skip
    whole = tj.fit(model, tj.simulate(model, key, 20, 30))
    streamed = tj.fit_streaming(model, key, 20, 30, chunk_size=5)
    assert bool(streamed.converged) and int(streamed.num_steps) > 0
    np.testing.assert_allclose(streamed.theta, whole.theta, rtol=0, atol=1e-9)


def test_auto_switches_to_lbfgs_above_64_parameters(key):
    d = 9  # p = 81 > 64
    A = 0.5 * jnp.eye(d) + 0.05 * jnp.ones((d, d))
    lds = tj.LinearSystem(A=A, noise=tj.noise.StudentT(5.0))
    data = tj.simulate(lds, key, 40, 60)
    auto = tj.fit(lds, data)
    newton = tj.fit(lds, data, method="newton")
    assert bool(auto.converged) and bool(newton.converged)
    assert int(auto.num_steps) > int(newton.num_steps)  # L-BFGS takes more, cheaper steps
    np.testing.assert_allclose(auto.theta, newton.theta, atol=1e-6)


def test_fused_lds_terms_above_the_small_window_equal_autodiff(key):
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    data = tj.simulate(lds, key, 100, 120)  # 11,900 transitions > 8192: the (m, T, d) layout
    u = lds.theta + 0.05
    fused = lds.objective_terms(u, data)
    autodiff = tj.AbstractModel.objective_terms(lds, u, data)
    for a, b in zip(fused, autodiff, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # power: the terms at another point differ
    assert not np.allclose(lds.objective_terms(u + 0.1, data)[1], fused[1])


def test_float32_fits_and_sweeps(key):
    from trajax._simulate import cast

    lds = cast(tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0)), jnp.float32)
    data = tj.simulate(lds, key, 50, 60)
    assert data.dtype == jnp.float32
    result = tj.fit(lds, data)
    assert bool(result.converged) and result.theta.dtype == jnp.float32
    sweep = tj.sweep(lds, m=[8, 16], T=[16], replicates=16, key=key, progress=False)
    assert all(row["failed"] == 0 for row in sweep.table)
    assert all(0.2 < row["ratio"] < 5 for row in sweep.table)


LDS_T = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))


def test_ragged_fits_equal_fits_of_the_valid_parts(key):
    data = tj.simulate(LDS_T, key, 12, 40)
    whole = tj.fit(LDS_T, data)
    full = tj.fit(LDS_T, data, lengths=np.full(12, 40))
    np.testing.assert_allclose(full.theta, whole.theta, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        tj.fit(LDS_T, data, lengths=np.full(12, 20)).theta, tj.fit(LDS_T, data[:, :20]).theta, atol=1e-10
    )
    # NaN padding beyond each length is ignored; the fit maximises the ragged log-likelihood
    lengths = np.array([40, 25, 9, 2] * 3)
    padded = jnp.where(jnp.arange(40)[None, :, None] < lengths[:, None, None], data, jnp.nan)
    ragged = tj.fit(LDS_T, padded, lengths=lengths)
    assert bool(ragged.converged)
    total = tj.log_likelihood(ragged.model, padded, lengths=lengths)
    assert float(ragged.log_likelihood) == pytest.approx(float(jnp.sum(total)), rel=1e-12)
    gradient = jnp.sum(tj.score(ragged.model, padded, lengths=lengths), axis=0)
    assert float(jnp.max(jnp.abs(gradient))) < 1e-6 * float(jnp.sum(lengths - 1))
    # power: ignoring the lengths (cutting every trajectory at 9 states) gives another estimate
    assert float(jnp.max(jnp.abs(ragged.theta - tj.fit(LDS_T, data[:, :9]).theta))) > 1e-3


def test_ragged_gaussian_fit_is_pooled_ols_on_the_valid_rows(key):
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]])
    data = tj.simulate(lds, key, 10, 30)
    lengths = np.array([30, 5, 17, 2, 30, 11, 8, 30, 3, 21])
    X = np.concatenate([np.asarray(data[i, : L - 1]) for i, L in enumerate(lengths)])
    Y = np.concatenate([np.asarray(data[i, 1:L]) for i, L in enumerate(lengths)])
    ols = np.linalg.lstsq(X, Y, rcond=None)[0].T.ravel()
    np.testing.assert_allclose(tj.fit(lds, data, lengths=lengths).theta, ols, rtol=1e-10)


def test_ragged_fit_of_a_non_markov_model_groups_by_length(key):
    mixture = tj.MarkovChainMixture.two_state(0.8, 0.4)
    data = tj.simulate(mixture, key, 60, 30)
    lengths = np.array([30, 15, 8] * 20)
    ragged = tj.fit(mixture, data, lengths=lengths)
    assert bool(ragged.converged)
    gradient = jnp.sum(tj.score(ragged.model, data, lengths=lengths), axis=0)
    assert float(jnp.max(jnp.abs(gradient))) < 1e-6 * float(jnp.sum(lengths - 1))


def test_least_squares_method(key):
    data = tj.simulate(LDS_T, key, 20, 30)
    X, Y = np.asarray(data[:, :-1]).reshape(-1, 2), np.asarray(data[:, 1:]).reshape(-1, 2)
    ols = np.linalg.lstsq(X, Y, rcond=None)[0].T.ravel()
    ls = tj.fit(LDS_T, data, method="least_squares")
    np.testing.assert_allclose(ls.theta, ols, rtol=1e-10)
    assert float(jnp.max(jnp.abs(ls.theta - tj.fit(LDS_T, data).theta))) > 1e-4  # not the Student-t MLE
    glm = tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5)
    glm_data = tj.simulate(glm, key, 10, 30)
    np.testing.assert_array_equal(
        tj.fit(glm, glm_data, method="least_squares").theta, tj.fit(glm, glm_data).theta
    )  # Gaussian noise: least squares is the MLE
    with pytest.raises(ValueError, match="'least_squares' is not available for TwoStateChain"):
        tj.fit(
            tj.TwoStateChain(theta=0.7),
            tj.simulate(tj.TwoStateChain(theta=0.7), key, 4, 10),
            method="least_squares",
        )


def test_fit_result_information_and_stderr(key):
    data = tj.simulate(LDS_T, key, 30, 50)
    result = tj.fit(LDS_T, data)  # Newton: its Hessian mapped to natural coordinates
    observed = tj.covariance(result.model, data, kind="observed")  # autodiff, independently
    np.testing.assert_allclose(jnp.linalg.inv(result.information), observed, rtol=1e-6)
    np.testing.assert_allclose(result.stderr, jnp.sqrt(jnp.diag(observed)), rtol=1e-6)
    # exchangeable mixture started with its labels swapped: Newton ends at (θ̂_1, θ̂_0), and
    # canonical_theta reorders it; the information must follow the reordering
    mixture = tj.MarkovChainMixture.two_state(0.8, 0.4)
    mixture_data = tj.simulate(mixture, key, 200, 30)
    swapped = tj.fit(mixture, mixture_data, init=jnp.array([0.4, 0.8]))
    assert bool(swapped.converged) and float(swapped.theta[0]) > float(swapped.theta[1])
    autodiff = tj.covariance(swapped.model, mixture_data, kind="observed")
    np.testing.assert_allclose(jnp.linalg.inv(swapped.information), autodiff, rtol=1e-6)
    assert abs(float(autodiff[0, 0] - autodiff[1, 1])) > 0.1 * float(autodiff[0, 0])  # power: not symmetric
    chain = tj.MarkovChain(P=[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])
    chain_data = tj.simulate(chain, key, 40, 30)
    closed = tj.fit(chain, chain_data)  # logit coordinates, closed form: autodiff information
    np.testing.assert_allclose(
        jnp.linalg.inv(closed.information), tj.covariance(closed.model, chain_data), rtol=1e-8
    )


def test_estimate_scale_gives_ols_with_textbook_standard_errors(key):
    # Gaussian noise of unknown scale: θ̂ = OLS, σ̂² = RSS/(n d), stderr = √diag(σ̂² (XᵀX)⁻¹ per row)
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.Gaussian(1.0))  # true σ = 1.7 below
    data = tj.simulate(tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.Gaussian(1.7)), key, 50, 60)
    result = tj.fit(lds, data, estimate_scale=True)
    assert bool(result.converged)
    X, Y = np.asarray(data[:, :-1]).reshape(-1, 2), np.asarray(data[:, 1:]).reshape(-1, 2)
    B = np.linalg.lstsq(X, Y, rcond=None)[0]
    s2 = np.sum((Y - X @ B) ** 2) / Y.size
    np.testing.assert_allclose(result.theta, B.T.ravel(), rtol=1e-8)
    assert float(result.model.noise.scale) == pytest.approx(np.sqrt(s2), rel=1e-8)
    textbook = np.sqrt(np.diag(np.kron(np.eye(2), s2 * np.linalg.inv(X.T @ X))))
    np.testing.assert_allclose(result.stderr, textbook, rtol=1e-6)
    # power: with the scale fixed at 1 the standard errors are off by the factor σ̂ ≈ 1.7
    assert not np.allclose(tj.fit(lds, data).stderr, textbook, rtol=0.2)
    with pytest.raises(ValueError, match="estimate_scale: TwoStateChain has no noise scale"):
        tj.fit(
            tj.TwoStateChain(theta=0.7),
            tj.simulate(tj.TwoStateChain(theta=0.7), key, 4, 10),
            estimate_scale=True,
        )


def test_estimate_scale_recovers_a_student_t_scale(key):
    true = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0, 2.0))
    start = tj.LinearSystem(A=[[0.1, 0.0], [0.0, 0.1]], noise=tj.noise.StudentT(5.0, 1.0))
    result = tj.fit(start, tj.simulate(true, key, 50, 60), estimate_scale=True)
    assert bool(result.converged)
    # error model: ŝ from 5900 transitions × 2 coordinates has a relative SE of about 1.2%
    assert float(result.model.noise.scale) == pytest.approx(2.0, rel=0.05)
    assert np.all(np.abs(result.theta - true.theta) < 4 * result.stderr)


def test_glm_and_mixed_regression_log_likelihoods_against_scipy(key):
    from scipy import stats

    glm = tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5)
    z = np.asarray(tj.simulate(glm, key, 3, 7))
    mean = np.sin(np.einsum("ij,mtj->mti", np.asarray(glm.A), z[:, :-1]))
    expected = stats.norm.logpdf(z[:, 1:], mean, 0.5).sum(axis=(1, 2))
    np.testing.assert_allclose(tj.log_likelihood(glm, z), expected, rtol=1e-12)
    mlr = tj.MixedLinearRegression(beta=[1.0, -0.5], p=0.6, sigma=0.8)
    data = tj.simulate(mlr, key, 3, 9)
    phi, y = np.asarray(data["phi"]), np.asarray(data["y"])
    m_t = np.einsum("mtd,d->mt", phi[:, :-1], [1.0, -0.5])
    per_step = 0.6 * stats.norm.pdf(y[:, 1:], m_t, 0.8) + 0.4 * stats.norm.pdf(y[:, 1:], -m_t, 0.8)
    np.testing.assert_allclose(tj.log_likelihood(mlr, data), np.log(per_step).sum(1), rtol=1e-12)
    # the hidden labels the sampler also returns are not needed
    np.testing.assert_allclose(
        tj.log_likelihood(mlr, {"phi": data["phi"], "y": data["y"]}), np.log(per_step).sum(1), rtol=1e-12
    )
