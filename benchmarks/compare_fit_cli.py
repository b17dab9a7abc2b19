"""`trajax fit CONFIG DATA` on real panels shipped with statsmodels, beside statsmodels' summary of
the same model (the closing note of the issue that added `trajax fit`).

1. Grunfeld: log investment of 11 firms over 20 years, demeaned per firm: a panel of m = 11
   trajectories of T = 20 states. The model z_{i,t+1} = a z_{i,t} + w, w ~ N(0, σ²), pooled
   over firms (a 1×1 `linear_system`), against statsmodels' OLS of z_{t+1} on z_t without an
   intercept on the stacked transitions. σ is set in the config to its MLE √(RSS/n) (a pilot
   least-squares fit in NumPy): trajax's noise scale is a fixed setting of the model.
2. macrodata: quarterly growth of real GDP and real consumption (100·Δlog), demeaned, as ONE
   trajectory (m = 1, T = 202) of a 2×2 `linear_system` = a VAR(1) without trend, against
   statsmodels' `VAR(...).fit(1, trend="n")`. Each series is divided by its equation's residual
   scale (MLE, from a pilot least-squares fit) so that the VAR's noise covariance has unit
   diagonal and trajax's N(0, I) noise is the model statsmodels fits (the VAR's MLE of A does not
   depend on the noise covariance).

Both conditional likelihoods leave out the first state, so the estimates agree to rounding. The
standard errors differ by a known factor: trajax's are the MLE's, √diag(I(θ̂)⁻¹) with the noise
scale as given (σ̂² = RSS/n), statsmodels' use the degrees-of-freedom corrected RSS/(n − k)
(k = 1 regressor in (1), 2 per equation in (2)); their ratio is √(n/(n − k)). In (2) the VAR also
estimates the correlation of the two noises (0.62) that trajax's independent noise coordinates
leave out: it changes neither Â (equation-by-equation least squares either way) nor the standard
errors (the diagonal blocks Σ_kk (XᵀX)⁻¹ of cov(vec Â) = Σ ⊗ (XᵀX)⁻¹), only the cross-equation
covariances and the log-likelihood, so the two log-likelihoods and criteria of (2) differ.

Run: python -m benchmarks.compare_fit_cli
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.api import VAR


def _trajax_fit(config: str, data: np.ndarray, workdir: Path, name: str) -> dict:
    """Writes the config and the data, runs `trajax fit` as a user would, prints its output and
    returns its --json record."""
    (workdir / f"{name}.toml").write_text(config)
    np.savez(workdir / f"{name}.npz", z=data)
    argv = [sys.executable, "-m", "trajax", "fit", f"{name}.toml", f"{name}.npz", "--json", f"{name}.json"]
    print("$ trajax fit " + " ".join(argv[4:]))
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    print(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"trajax fit exited with {done.returncode}")
    return json.loads((workdir / f"{name}.json").read_text())


def _compare(record: dict, params, bse, n: int, k: int) -> None:
    ours, theirs = np.asarray(record["theta"]), np.asarray(params, float)
    se, se_sm = np.asarray(record["stderr"]), np.asarray(bse, float)
    factor = np.sqrt(n / (n - k))
    print(f"max |θ̂ trajax − statsmodels|               {np.max(np.abs(ours - theirs)):.2e}")
    print(f"max |SE trajax − SE statsmodels|           {np.max(np.abs(se - se_sm)):.2e}")
    print(f"SE statsmodels / SE trajax                 {np.array2string(se_sm / se, precision=6)}")
    print(f"√(n/(n − k)), n = {n}, k = {k}                {factor:.6f}")
    print(f"max |SE trajax·√(n/(n−k)) − SE statsmodels| {np.max(np.abs(se * factor - se_sm)):.2e}\n")


def grunfeld(workdir: Path) -> None:
    frame = sm.datasets.grunfeld.load_pandas().data.sort_values(["firm", "year"])
    series = np.stack([np.log(g["invest"].to_numpy(float)) for _, g in frame.groupby("firm", sort=True)])
    z = series - series.mean(axis=1, keepdims=True)  # (11, 20): one trajectory per firm
    x, y = z[:, :-1].ravel(), z[:, 1:].ravel()
    a = (x @ y) / (x @ x)
    sigma = np.sqrt(np.mean((y - a * x) ** 2))  # the MLE of the noise scale
    config = (
        "# Grunfeld: pooled AR(1) of demeaned log investment, Gaussian noise at its MLE scale\n"
        '[model]\nname = "linear_system"\nA = [[0.0]]\n'
        f'noise = {{ family = "gaussian", scale = {float(sigma)!r} }}\n'
    )
    print("=" * 100 + "\n1. Grunfeld panel (m = 11 firms, T = 20 years), pooled AR(1)\n" + "=" * 100)
    record = _trajax_fit(config, z[:, :, None], workdir, "grunfeld")
    ols = sm.OLS(y, x[:, None]).fit()
    print(ols.summary(xname=["A[0,0]"], yname="z_{t+1}").tables[1])
    print(
        f"statsmodels: log-likelihood {ols.llf:.4f}, AIC {ols.aic:.4f}, BIC {ols.bic:.4f}, n = {int(ols.nobs)}\n"
    )
    _compare(record, ols.params, ols.bse, n=y.size, k=1)


def macrodata(workdir: Path) -> None:
    frame = sm.datasets.macrodata.load_pandas().data
    growth = 100 * np.diff(np.log(frame[["realgdp", "realcons"]].to_numpy(float)), axis=0)
    growth -= growth.mean(axis=0)
    X, Y = growth[:-1], growth[1:]
    residuals = Y - X @ np.linalg.lstsq(X, Y, rcond=None)[0]
    z = growth / np.sqrt(np.mean(residuals**2, axis=0))  # each equation's residual scale (MLE) is 1
    config = (
        "# macrodata: VAR(1) without trend of GDP and consumption growth, N(0, I) noise\n"
        '[model]\nname = "linear_system"\nA = [[0.0, 0.0], [0.0, 0.0]]\n'
    )
    print(
        "=" * 100
        + "\n2. macrodata (m = 1, T = 202 quarters), VAR(1) of (GDP, consumption) growth\n"
        + "=" * 100
    )
    record = _trajax_fit(config, z[None], workdir, "macrodata")
    var = VAR(z).fit(1, trend="n")
    text = str(var.summary())
    print(text[text.index("Results for equation") : text.index("Correlation matrix")].rstrip() + "\n")
    params = np.asarray(var.params).T.ravel()  # A[k, j] = coefficient of series j in equation k
    bse = np.asarray(var.bse).T.ravel()
    _compare(record, params, bse, n=z.shape[0] - 1, k=2)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        grunfeld(Path(tmp))
        macrodata(Path(tmp))


if __name__ == "__main__":
    main()
