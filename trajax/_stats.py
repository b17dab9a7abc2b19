"""Per-cell statistics and rate slopes of a sweep (SPEC §8), in NumPy on gathered results."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["summarize_cell", "fit_slope", "Z95"]

Z95 = 1.959963984540054


def summarize_cell(m, T, sq_err, fisher_stat, converged, theory, p) -> dict:
    """One table row from per-replicate results of a cell.

    Args:
        sq_err: (R,) ‖θ̂ − θ*‖² per replicate.
        fisher_stat: (R,) m·Δᵀ I_T Δ per replicate.
        converged: (R,) bool; non-converged fits are counted in `failed` and excluded.
        theory: tr(I_T⁻¹)/m.
        p: dim θ.

    The ratio CI is mse/theory ± 1.96·SE(mse)/theory (normal approximation over replicates;
    the theory value is treated as exact).
    """
    sq_err, fisher_stat = np.asarray(sq_err, float), np.asarray(fisher_stat, float)
    ok = np.asarray(converged, bool) & np.isfinite(sq_err) & np.isfinite(fisher_stat)
    n = int(ok.sum())
    nan = float("nan")
    mse = float(sq_err[ok].mean()) if n else nan
    mse_se = float(sq_err[ok].std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    theory = float(theory) if math.isfinite(theory) and theory > 0 else nan  # e.g. overflowed I_T
    fe = float(fisher_stat[ok].mean()) if n else nan
    fe_se = float(fisher_stat[ok].std(ddof=1) / math.sqrt(n)) if n > 1 else nan
    return {
        "m": int(m),
        "T": int(T),
        "replicates": int(sq_err.shape[0]),
        "converged": n,
        "failed": int(sq_err.shape[0] - n),
        "mse": mse,
        "mse_se": mse_se,
        "theory": theory,
        "ratio": float(np.divide(mse, theory)),
        "ratio_lo": float(np.divide(mse - Z95 * mse_se, theory)),
        "ratio_hi": float(np.divide(mse + Z95 * mse_se, theory)),
        "fisher_error": fe,
        "fisher_error_se": fe_se,
        "p": int(p),
    }


def fit_slope(x, y, y_se=None) -> dict:
    """Slope of log y against log x by weighted least squares, with a 95% CI.

    Weights are 1/SE(log y)², SE(log y) = y_se/y (delta method), so the CI carries the
    Monte-Carlo error of each point; without `y_se` the points are weighted equally and the
    SE comes from the residuals (needs >= 3 points).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    nan = float("nan")
    if keep.sum() < 2 or len(np.unique(x[keep])) < 2:
        return {"slope": nan, "se": nan, "lo": nan, "hi": nan, "points": int(keep.sum())}
    X = np.stack([np.ones(keep.sum()), np.log(x[keep])], axis=1)
    ly = np.log(y[keep])
    if y_se is not None:
        se_log = np.asarray(y_se, float)[keep] / y[keep]
        w = 1.0 / np.maximum(se_log, 1e-300) ** 2
        cov = np.linalg.inv(X.T @ (w[:, None] * X))
        beta = cov @ (X.T @ (w * ly))
    else:
        cov0 = np.linalg.inv(X.T @ X)
        beta = cov0 @ (X.T @ ly)
        dof = len(ly) - 2
        sigma2 = np.sum((ly - X @ beta) ** 2) / dof if dof > 0 else nan
        cov = cov0 * sigma2
    se = float(math.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1]) else nan
    slope = float(beta[1])
    return {
        "slope": slope,
        "se": se,
        "lo": slope - Z95 * se,
        "hi": slope + Z95 * se,
        "points": int(keep.sum()),
    }
