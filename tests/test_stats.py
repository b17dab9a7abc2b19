"""Per-cell summaries (trajax/_stats.py): the χ² quantiles, coverage and Wald coverage of a
correct model and of a burn-in cell, and the bootstrap ratio CI (never negative, nominal
coverage in a small simulation study, the Monte-Carlo error of the theory folded in)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax._inference import observed_information
from trajax._stats import Z95, _chi2_trimmed_mean, chi2_quantile, chi2_sf, summarize_cell

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("p", [1, 2, 3, 4, 9, 16, 101])
def test_chi2_against_scipy(p):
    for level in (0.1, 0.5, 0.95, 0.999):
        np.testing.assert_allclose(chi2_quantile(level, p), stats.chi2.ppf(level, p), rtol=1e-10)
    for x in (0.3, p, 3.0 * p):
        np.testing.assert_allclose(chi2_sf(x, p), stats.chi2.sf(x, p), rtol=1e-10, atol=1e-300)
    a, b = stats.chi2.ppf([0.1, 0.9], p)
    integral = stats.chi2.expect(lambda x: x, args=(p,), lb=a, ub=b, conditional=True)
    np.testing.assert_allclose(_chi2_trimmed_mean(p, 0.1), integral, rtol=1e-7)


def _binomial_se(q, n):
    return math.sqrt(q * (1 - q) / n)


def test_coverage_of_a_correct_model(key):
    """Gaussian AR(1) past its burn-in (m = 200 trajectories of T = 20): both coverages within
    3 binomial SE of 0.95; the robust ratios within a few SE of 1."""
    a, m, T, R = 0.5, 200, 20, 1000
    lds = tj.LinearSystem(A=[[a]])
    data = np.asarray(tj.simulate(lds, key, R * m, T))[..., 0].reshape(R, m, T)
    x, y = data[:, :, :-1], data[:, :, 1:]
    sxx = np.einsum("rmt,rmt->r", x, x)
    theta = np.einsum("rmt,rmt->r", x, y) / sxx  # the MLE (OLS)
    np.testing.assert_allclose(
        observed_information(lds, jnp.asarray(data[0, :, :, None])), [[sxx[0]]], rtol=1e-10
    )
    I_T = float(tj.fisher_information(lds, T)[0, 0])
    sq_err, fisher_stat = (theta - a) ** 2, m * (theta - a) ** 2 * I_T
    wald = (np.abs(theta - a) <= Z95 / np.sqrt(sxx)).astype(float)
    row = summarize_cell(m, T, sq_err, fisher_stat, np.ones(R, bool), 1 / (m * I_T), 1, wald_coverage=wald)
    tol = 3 * _binomial_se(0.95, R)
    assert abs(row["coverage"] - 0.95) < tol, row
    assert abs(row["wald_coverage"] - 0.95) < tol, row
    assert row["ratio_lo"] < 1 < row["ratio_hi"], row
    # median(χ²_1) ≈ 0.455: the sample median's SE ≈ √(q(1−q)/R)/f(median) ≈ 0.034 relative
    assert abs(row["median_ratio"] - 1) < 0.12, row
    assert abs(row["trimmed_ratio"] - 1) < 0.1, row


def test_coverage_below_nominal_in_a_burn_in_cell(key):
    """Two-state chain with θ = 0.97 and ONE trajectory of 6 states: exactly, the χ² (score)
    region covers with probability 0.859 and the Wald interval 0.141 (θ̂ = 1 has stderr 0)."""
    theta, T, R = 0.97, 6, 2000
    data = np.asarray(tj.simulate(tj.TwoStateChain(theta=theta), key, R, T))
    n = T - 1
    hat = np.sum(data[:, 1:] == data[:, :-1], axis=1) / n
    fisher_stat = n * (hat - theta) ** 2 / (theta * (1 - theta))
    stderr = np.sqrt(hat * (1 - hat) / n)
    wald = (np.abs(hat - theta) <= Z95 * stderr).astype(float)
    row = summarize_cell(
        1,
        T,
        (hat - theta) ** 2,
        fisher_stat,
        np.ones(R, bool),
        theta * (1 - theta) / n,
        1,
        wald_coverage=wald,
    )
    assert abs(row["coverage"] - 0.859) < 3 * _binomial_se(0.859, R), row
    assert abs(row["wald_coverage"] - 0.141) < 3 * _binomial_se(0.141, R), row
    assert row["coverage"] < 0.95 - 3 * row["coverage_se"]


def test_ratio_ci_is_never_negative_under_outliers():
    """The mixed regression failure mode: a few fits at β̂ ≈ −β. The normal CI goes negative;
    the bootstrap CI stays positive, the mean ratio is inflated and the robust ratios are not."""
    rng = np.random.default_rng(0)
    p, m, R, theory = 2, 4, 200, 0.05
    fisher_stat = rng.chisquare(p, R)
    sq_err = theory * fisher_stat / p  # I_T ∝ identity: ‖Δ‖² = theory·χ²_p/p
    sq_err[:2], fisher_stat[:2] = 30.0, 30.0 * p / theory  # two far-off fits
    row = summarize_cell(m, 64, sq_err, fisher_stat, np.ones(R, bool), theory, p)
    normal_lo = (row["mse"] - Z95 * row["mse_se"]) / theory
    assert normal_lo < 0 < row["ratio_lo"] < row["ratio"] < row["ratio_hi"], row
    assert row["ratio"] > 5, row
    assert abs(row["median_ratio"] - 1) < 0.25 and abs(row["trimmed_ratio"] - 1) < 0.25, row
    assert math.isnan(row["wald_coverage"])
    # with 10 far-off fits of 200 the coverage falls below 0.95 too
    sq_err[:10], fisher_stat[:10] = 4.0, 4.0 * p / theory
    row = summarize_cell(m, 64, sq_err, fisher_stat, np.ones(R, bool), theory, p)
    assert row["coverage"] < 0.95 - 2 * row["coverage_se"], row


def _study_coverage(claimed, theory_rel_se, fold=True, num_studies=300, R=100, p=2, seed=1):
    """Fraction of simulated cells whose ratio CI covers `claimed`, the true ratio being 1: each
    cell's replicates have sq_err = χ²_p/p (true MSE 1) and a theory value 1 + rel·N(0, 1)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(num_studies):
        sq_err = rng.chisquare(p, R) / p
        theory = 1 + theory_rel_se * rng.standard_normal()
        ones = np.ones(R, bool)
        row = summarize_cell(
            4, 16, sq_err, sq_err * p, ones, theory, p, theory_se=theory_rel_se * fold, num_bootstrap=500
        )
        hits += row["ratio_lo"] <= claimed <= row["ratio_hi"]
    return hits / num_studies


def test_bootstrap_ci_has_nominal_coverage():
    """300 cells of 100 replicates with χ²_2 errors: the CI covers the true ratio at ≈ 0.95
    (within 3 binomial SE ≈ 0.038), and a wrong ratio (1.3) far less often (power)."""
    tol = 3 * _binomial_se(0.95, 300)
    assert abs(_study_coverage(1.0, 0.0) - 0.95) < tol  # measured: 0.94
    assert _study_coverage(1.3, 0.0) < 0.5  # measured: 0.19


def test_theory_error_is_folded_in():
    """A Monte-Carlo theory value with 10% relative SE: folded into the CI the coverage stays
    nominal; ignoring it (theory_se = 0) would cover ≈ 0.75 of the time."""
    tol = 3 * _binomial_se(0.95, 300)
    assert abs(_study_coverage(1.0, 0.1) - 0.95) < tol  # measured: 0.94
    assert _study_coverage(1.0, 0.1, fold=False) < 0.95 - tol  # measured: 0.79
    rng = np.random.default_rng(2)
    sq_err = rng.chisquare(2, 100) / 2
    wide = summarize_cell(4, 16, sq_err, sq_err * 2, np.ones(100, bool), 1.0, 2, theory_se=0.1)
    narrow = summarize_cell(4, 16, sq_err, sq_err * 2, np.ones(100, bool), 1.0, 2)
    assert wide["ratio_hi"] - wide["ratio_lo"] > 1.3 * (narrow["ratio_hi"] - narrow["ratio_lo"])


def test_positional_call_and_failed_cells():
    row = summarize_cell(4, 16, [0.1, 0.2, np.nan], [1.0, 2.0, np.nan], [True, True, True], 0.1, 1)
    assert row["converged"] == 2 and row["failed"] == 1 and row["ratio_lo"] > 0
    empty = summarize_cell(4, 16, [0.1, 0.2], [1.0, 2.0], [False, False], 0.1, 1, wald_coverage=[1.0, 0.0])
    assert empty["converged"] == 0
    for col in ("mse", "ratio", "ratio_lo", "coverage", "wald_coverage", "median_ratio", "trimmed_ratio"):
        assert math.isnan(empty[col]), col
