"""Study: the ¼ constant of d_H² ≈ ¼ΔᵀI_TΔ, and where it bends (docs/studies.md, study 4).

For each model and direction u, `tj.local_hellinger` estimates d_H²(p_θ*, p_θ*+r·u)/(ΔᵀI_TΔ)
at radii chosen so that ΔᵀI_TΔ runs over 1e-3 … 30. Prints a Markdown table and writes
docs/figures/hellinger_quarter.png.

    PYTHONPATH=. python examples/study_quarter.py
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib
import numpy as np

import trajax as tj
from hellinger_estimators import gaussian_lds_exact  # the exact Gaussian-LDS d_H², one copy for both scripts

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

jax.config.update("jax_enable_x64", True)
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "hellinger_quarter.png"
Q = np.geomspace(1e-3, 30.0, 12)  # target values of ΔᵀI_TΔ
BAND = 0.1  # "bends" = the first ΔᵀI_TΔ where the ratio's CI leaves ¼ ± 10%
A = np.array([[0.6, 0.1], [0.0, 0.5]])


CASES = [
    # (panel title, model, T, {direction label: u})
    ("Gaussian LDS (log-concave), T = 50", tj.LinearSystem(A=A), 50,
     {"A₁₁": [1, 0, 0, 0], "mixed": [1, -1, 0.5, 1]}),
    ("Student-t ν=5 LDS (unimodal, heavy tails), T = 50",
     tj.LinearSystem(A=A, noise=tj.noise.StudentT(5.0)), 50,
     {"A₁₁": [1, 0, 0, 0], "mixed": [1, -1, 0.5, 1]}),
    ("two-chain mixture (0.8, 0.4) (not log-concave), T = 32",
     tj.MarkovChainMixture.two_state(0.8, 0.4), 32,
     {"θ₀": [1, 0], "θ₁": [0, 1], "merge (−1, 1)": [-1, 1]}),
]  # fmt: skip


def radii_for(model, T, u):
    u = np.asarray(u, float) / np.linalg.norm(u)
    quad = float(u @ np.asarray(tj.fisher_information(model, T)) @ u)
    r = np.sqrt(Q / quad)
    if isinstance(model, tj.MarkovChainMixture):  # stay inside (0, 1)²; the merge ray runs past the swap
        theta = np.asarray(model.theta)
        pairs = [(t, c) for t, c in zip(theta, u, strict=True) if c != 0]
        room = min((0.995 - t) / c if c > 0 else (t - 0.005) / -c for t, c in pairs)
        r = np.unique(np.concatenate([r[r < room], np.linspace(0.1, 1.0, 10) * room]))
    return r


def main():
    key = jax.random.key(20261122)
    fig, axes = plt.subplots(1, len(CASES), figsize=(16, 4.6), constrained_layout=True, sharey=True)
    print("| model | direction | ratio at ΔᵀI_TΔ = 1e-3 [95% CI] | ratio at ≈ 1 | bends at ΔᵀI_TΔ ≈ | s |")
    print("|---|---|---|---|---|---|")
    for ax, (title, model, T, dirs) in zip(axes, CASES, strict=True):
        for j, (label, u) in enumerate(dirs.items()):
            start = time.perf_counter()
            res = tj.local_hellinger(model, T, u, radii_for(model, T, u), jax.random.fold_in(key, j),
                                     num_samples=20000)  # fmt: skip
            x, y, lo, hi = res.fisher_form[0], res.ratio[0], res.ratio_lo[0], res.ratio_hi[0]
            line = ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o-", ms=4, capsize=2, label=label)
            if isinstance(model, tj.LinearSystem) and model.noise.__class__.__name__ == "Gaussian":
                U = res.directions[0].reshape(2, 2)
                exact = [gaussian_lds_exact(A, A + r * U, T) for r in res.radii]
                ax.plot(x, np.array(exact) / x, ":", color=line[0].get_color(), lw=2)
            out = (lo > 0.25 * (1 + BAND)) | (hi < 0.25 * (1 - BAND))
            bend = f"{x[np.argmax(out)]:.2g}" if out.any() else "not within the range"
            near1 = int(np.argmin(np.abs(np.log(x))))
            seconds = time.perf_counter() - start
            print(f"| {title.split(' (')[0]} | {label} | {y[0]:.4f} [{lo[0]:.4f}, {hi[0]:.4f}] | "
                  f"{y[near1]:.3f} (at {x[near1]:.2g}) | {bend} | {seconds:.1f} |")  # fmt: skip
        ax.axhline(0.25, color="k", lw=1, ls="--")
        ax.axhspan(0.25 * (1 - BAND), 0.25 * (1 + BAND), color="0.85", zorder=0)
        ax.set(xscale="log", xlabel="ΔᵀI_TΔ", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("d_H² / ΔᵀI_TΔ (95% CI); dotted: exact")
    fig.suptitle("Hellinger localisation: d_H² ≈ ¼·ΔᵀI_TΔ near θ* (grey band: ¼ ± 10%)")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
