"""Study: the MLE against least squares on a 2×2 linear system (docs/studies.md, study 1).

For z_{t+1} = A z_t + w_t with iid non-Gaussian noise, least squares has asymptotic covariance
Var(w)·(Σ E z_t z_tᵀ)⁻¹ ⊗ I and the MLE σ_φ²·(same), so the ratio of their mean squared errors
tends to Var(w)·σ_φ⁻² ≥ 1 (σ_φ⁻² = E φ'(w)², the location Fisher information of the noise).
R replicates of m trajectories of T states, simulated with jax.vmap over keys; both estimators
on the same data. Prints a table of the measured ratio mse_LS / mse_MLE with a delta-method 95%
CI (paired replicates) beside the prediction, and writes docs/figures/study_least_squares.png.

    PYTHONPATH=. python examples/study_least_squares.py
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

import trajax as tj

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

jax.config.update("jax_enable_x64", True)
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "study_least_squares.png"
A = np.array([[0.6, 0.1], [0.0, 0.5]])
NOISES = {
    "Student-t ν = 5": tj.noise.StudentT(df=5.0),
    "smoothed Laplace c = 2": tj.noise.SmoothedLaplace(scale=1.0, c=2.0),
    "bang-bang ν = 0.5": tj.noise.BangBang(nu=0.5),
}
CELLS, REPLICATES = [(16, 128), (4, 512)], 200


def ratio_ci(a, b, z=1.96):
    """mean(a)/mean(b) with a delta-method CI for paired samples (a_r, b_r)."""
    a, b = np.asarray(a), np.asarray(b)
    n, ma, mb = len(a), a.mean(), b.mean()
    r = ma / mb
    cov = np.cov(a, b)
    se = r * np.sqrt((cov[0, 0] / ma**2 + cov[1, 1] / mb**2 - 2 * cov[0, 1] / (ma * mb)) / n)
    return r, r - z * se, r + z * se


def compare(model, key, m: int, T: int, replicates: int):
    """Squared errors ‖θ̂ − θ‖² of the MLE and of least squares, (replicates,) each, and the
    fraction of MLE fits that converged."""
    keys = jax.random.split(key, replicates)
    data = jax.vmap(lambda k: tj.simulate(model, k, m, T))(keys)  # (R, m, T, d)
    mle = jax.vmap(lambda d: tj.fit(model, d))(data)
    ls = jax.vmap(lambda d: tj.fit(model, d, method="least_squares").theta)(data)
    err = lambda th: np.asarray(jnp.sum((th - model.theta) ** 2, axis=-1))
    return err(mle.theta), err(ls), float(np.mean(np.asarray(mle.converged)))


def main():
    key = jax.random.key(20261123)
    rows = []
    print("| noise | m | T | mse MLE | mse LS | measured mse_LS/mse_MLE [95% CI] | predicted Var(w)·σ_φ⁻² "
          "| MLE converged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, noise in NOISES.items():
        model = tj.LinearSystem(A=A, noise=noise)
        predicted = float(noise.variance() * noise.location_fisher())
        for m, T in CELLS:
            start = time.perf_counter()
            e_mle, e_ls, conv = compare(model, jax.random.fold_in(key, 1000 * m + T), m, T, REPLICATES)
            r, lo, hi = ratio_ci(e_ls, e_mle)
            rows.append((name, m, T, r, lo, hi, predicted))
            print(f"| {name} | {m} | {T} | {e_mle.mean():.3e} | {e_ls.mean():.3e} "
                  f"| {r:.2f} [{lo:.2f}, {hi:.2f}] | {predicted:.3f} | {conv:.2f} |"
                  f"  ({time.perf_counter() - start:.1f} s)")  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for j, (name, _noise) in enumerate(NOISES.items()):
        sub = [r for r in rows if r[0] == name]
        for k, (_, m, T, r, lo, hi, _pred) in enumerate(sub):
            x = j + 0.15 * (k - (len(sub) - 1) / 2)
            ax.errorbar(x, r, yerr=[[r - lo], [hi - r]], fmt="os"[k], color=f"C{k}", capsize=3,
                        label=f"measured, m = {m}, T = {T}" if j == 0 else None)  # fmt: skip
        ax.hlines(
            sub[0][6], j - 0.3, j + 0.3, color="k", lw=2, label="predicted Var(w)·σ_φ⁻²" if j == 0 else None
        )
    ax.axhline(1, color="gray", lw=0.8, ls=":")
    ax.set_xticks(range(len(NOISES)), list(NOISES))
    ax.set(ylabel="mse least squares / mse MLE (95% CI)",
           title=f"MLE against least squares, 2×2 LDS, {REPLICATES} replicates")  # fmt: skip
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    print(f"\nwrote {FIGURE}")


if __name__ == "__main__":
    main()
