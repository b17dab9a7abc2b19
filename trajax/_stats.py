"""Per-cell statistics and rate slopes of a sweep (docs/theory.md §8, §9), in NumPy on gathered results."""

from __future__ import annotations

import math

import numpy as np

from ._results import FAILURE_REASONS

__all__ = ["summarize_cell", "fit_slope", "Z95", "chi2_sf", "chi2_quantile", "CSV_COLUMNS"]

# The columns of a sweep's table and cells.csv, in order (rows may carry more, written after these).
CSV_COLUMNS = (
    "m", "T", "replicates", "converged", "failed", "mse", "mse_se", "theory", "theory_se", "ratio",
    "ratio_lo", "ratio_hi", "median_ratio", "trimmed_ratio", "fisher_error", "fisher_error_se",
    "coverage", "coverage_se", "wald_coverage", "wald_coverage_se", "p",
    *(f"failed_{reason}" for reason in FAILURE_REASONS),
)  # fmt: skip

Z95 = 1.959963984540054
TRIM = 0.1  # trimmed_ratio drops this fraction of replicates at each end


def chi2_sf(x: float, p: int) -> float:
    """P(χ²_p > x), exact for integer p: Q(k, y) = e^{−y} Σ_{j<k} y^j/j! (p = 2k) and
    Q(k + ½, y) = erfc(√y) + e^{−y} Σ_{j<k} y^{j+½}/Γ(j + 3/2) (p = 2k + 1), y = x/2, with the
    terms summed in log space (no SciPy at run time)."""
    if x <= 0:
        return 1.0
    y = 0.5 * x
    k, odd = divmod(int(p), 2)
    if odd:
        terms = ((j + 0.5) * math.log(y) - y - math.lgamma(j + 1.5) for j in range(k))
        return min(1.0, math.erfc(math.sqrt(y)) + sum(math.exp(t) for t in terms))
    return min(1.0, sum(math.exp(j * math.log(y) - y - math.lgamma(j + 1)) for j in range(k)))


def chi2_quantile(level: float, p: int) -> float:
    """The `level` quantile of χ²_p, by bisection on `chi2_sf` (relative accuracy ~1e-12)."""
    lo, hi = 0.0, p + 20.0 * math.sqrt(2.0 * p) + 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi2_sf(mid, p) > 1.0 - level else (lo, mid)
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _chi2_trimmed_mean(p: int, trim: float) -> float:
    """E[X | a < X < b] for X ~ χ²_p, a, b its `trim` and 1 − `trim` quantiles:
    E[X; X > c] = p·P(χ²_{p+2} > c)."""
    a, b = chi2_quantile(trim, p), chi2_quantile(1.0 - trim, p)
    return p * (chi2_sf(a, p + 2) - chi2_sf(b, p + 2)) / (1.0 - 2.0 * trim)


def _trimmed_mean(x: np.ndarray, trim: float) -> float:
    """Mean of x without its floor(trim·n) smallest and largest values (SciPy's trim_mean)."""
    x = np.sort(x)
    cut = int(trim * x.shape[0])
    return float(x[cut : x.shape[0] - cut].mean())


def _bootstrap_ratio(sq_err, theory, theory_se, num_bootstrap, seed):
    """95% percentile-bootstrap interval of mean(sq_err)/theory over replicates; a Monte-Carlo
    theory value is resampled on the log scale, log θ* ~ N(log theory, (theory_se/theory)²)
    (delta method), so its error widens the interval."""
    n = sq_err.shape[0]
    rng = np.random.default_rng(seed)
    ratios = np.empty(num_bootstrap)
    for start in range(0, num_bootstrap, 256):  # blocks of draws bound the memory to 256·n
        size = min(256, num_bootstrap - start)
        means = sq_err[rng.integers(0, n, size=(size, n))].mean(axis=1)
        ratios[start : start + size] = means / theory
    if theory_se > 0:
        ratios /= np.exp(rng.normal(0.0, theory_se / theory, size=num_bootstrap))
    return tuple(float(q) for q in np.quantile(ratios, [0.025, 0.975]))


def summarize_cell(
    m,
    T,
    sq_err,
    fisher_stat,
    converged,
    theory,
    p,
    *,
    wald_coverage=None,
    theory_se: float = 0.0,
    level: float = 0.95,
    num_bootstrap: int = 2000,
    seed: int = 0,
) -> dict:
    """One table row from per-replicate results of a cell.

    Args:
        sq_err: (R,) ‖θ̂ − θ*‖² per replicate.
        fisher_stat: (R,) m·Δᵀ I_T Δ per replicate (Δ = θ̂ − θ*), → χ²_p past the burn-in.
        converged: (R,) bool; non-converged fits are counted in `failed` and excluded.
        theory: tr(I_T⁻¹)/m.
        p: dim θ.
        wald_coverage: optional (R,) fraction of the p coordinates with |θ̂_j − θ*_j| ≤
            1.96·stderr_j (stderr from each fit's observed information); NaN column if None.
        theory_se: Monte-Carlo standard error of `theory` (0 for a closed form).

    Columns: `ratio` = mse/theory with a 95% percentile-bootstrap CI `ratio_lo`, `ratio_hi`
    over the converged replicates (fixed `seed`; never negative, asymmetric under heavy tails;
    carries `theory_se` on the log scale). Robust versions in the Fisher metric, both → 1 past
    the burn-in and insensitive to a few far-off fits (e.g. β̂ ≈ −β): `median_ratio` =
    median(fisher_stat)/median(χ²_p), `trimmed_ratio` = the 10%-trimmed mean of fisher_stat
    over that of χ²_p. `coverage`: the fraction of converged replicates with fisher_stat ≤
    χ²_{p,level} (the joint Wald region at I_T), with its binomial `coverage_se`;
    `wald_coverage` the mean of the given fractions (`wald_coverage_se` its SE).
    """
    sq_err, fisher_stat = np.asarray(sq_err, float), np.asarray(fisher_stat, float)
    ok = np.asarray(converged, bool) & np.isfinite(sq_err) & np.isfinite(fisher_stat)
    n = int(ok.sum())
    nan = float("nan")
    mse = float(sq_err[ok].mean()) if n else nan
    mse_se = float(sq_err[ok].std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    theory = float(theory) if math.isfinite(theory) and theory > 0 else nan  # e.g. overflowed I_T
    theory_se = float(theory_se) if math.isfinite(theory_se) else nan
    fe = float(fisher_stat[ok].mean()) if n else nan
    fe_se = float(fisher_stat[ok].std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    ratio_lo = ratio_hi = nan
    if n > 1 and math.isfinite(theory) and math.isfinite(theory_se):
        ratio_lo, ratio_hi = _bootstrap_ratio(sq_err[ok], theory, theory_se, num_bootstrap, seed)
    coverage = float(np.mean(fisher_stat[ok] <= chi2_quantile(level, p))) if n else nan
    wald = wald_se = nan
    if wald_coverage is not None and n:
        w = np.asarray(wald_coverage, float)[ok]
        wald = float(w.mean())
        wald_se = float(w.std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    return {
        "m": int(m),
        "T": int(T),
        "replicates": int(sq_err.shape[0]),
        "converged": n,
        "failed": int(sq_err.shape[0] - n),
        "mse": mse,
        "mse_se": mse_se,
        "theory": theory,
        "theory_se": theory_se,
        "ratio": float(np.divide(mse, theory)),
        "ratio_lo": ratio_lo,
        "ratio_hi": ratio_hi,
        "median_ratio": float(np.median(fisher_stat[ok]) / chi2_quantile(0.5, p)) if n else nan,
        "trimmed_ratio": _trimmed_mean(fisher_stat[ok], TRIM) / _chi2_trimmed_mean(p, TRIM) if n else nan,
        "fisher_error": fe,
        "fisher_error_se": fe_se,
        "coverage": coverage,
        "coverage_se": math.sqrt(coverage * (1 - coverage) / n) if n else nan,
        "wald_coverage": wald,
        "wald_coverage_se": wald_se,
        "p": int(p),
    }


def fit_slope(x, y, y_se=None) -> dict:
    """Slope of log y against log x by weighted least squares, with a 95% CI.

    Weights are 1/SE(log y)², SE(log y) = y_se/y (delta method), so the CI carries the
    Monte-Carlo error of each point; without `y_se`, or when some point's weight is not a
    positive number (an SE of 0: no Monte-Carlo spread to weigh by, all its replicates equal;
    or so small that 1/SE² overflows; or not finite), the points are weighted
    equally and the SE comes from the residuals (needs >= 3 points). A singular system gives
    NaN, never an exception.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    nan = float("nan")
    none = {"slope": nan, "se": nan, "lo": nan, "hi": nan, "points": int(keep.sum())}
    if keep.sum() < 2 or len(np.unique(x[keep])) < 2:
        return none
    X = np.stack([np.ones(keep.sum()), np.log(x[keep])], axis=1)
    ly = np.log(y[keep])
    w = None
    if y_se is not None:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            w = 1.0 / (np.asarray(y_se, float)[keep] / y[keep]) ** 2
        w = w if np.all(np.isfinite(w) & (w > 0)) else None
    try:
        if w is not None:
            cov = np.linalg.inv(X.T @ (w[:, None] * X))
            beta = cov @ (X.T @ (w * ly))
        else:
            cov0 = np.linalg.inv(X.T @ X)
            beta = cov0 @ (X.T @ ly)
            dof = len(ly) - 2
            sigma2 = np.sum((ly - X @ beta) ** 2) / dof if dof > 0 else nan
            cov = cov0 * sigma2
    except np.linalg.LinAlgError:  # e.g. weights spanning more than float64 resolves
        return none
    se = float(math.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1]) and cov[1, 1] >= 0 else nan
    slope = float(beta[1])
    return {
        "slope": slope,
        "se": se,
        "lo": slope - Z95 * se,
        "hi": slope + Z95 * se,
        "points": int(keep.sum()),
    }
