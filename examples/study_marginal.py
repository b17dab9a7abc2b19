"""Study: marginal stability. The random walk A = I against a stable A (docs/studies.md, study 2).

For a stable A, I_T grows like T and the error like 1/(mT); for A = I, I_T grows like T² and the
error like 1/(mT²). Two sweeps (Gaussian noise, OLS = MLE) over the same grid; prints the cell
tables and the slopes in T, and writes docs/figures/marginal_stability.png.

    PYTHONPATH=. python examples/study_marginal.py
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib
import numpy as np

import trajax as tj

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

jax.config.update("jax_enable_x64", True)
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "marginal_stability.png"
M, T, REPLICATES = [1, 4, 16, 64, 256], [16, 64, 256, 1024], 200
SYSTEMS = {
    "random walk A = I": np.eye(2),
    "stable A = [[0.6, 0.1], [0, 0.5]]": np.array([[0.6, 0.1], [0.0, 0.5]]),
}


def table(result) -> None:
    print("| m | T | mse | theory tr(I_T⁻¹)/m | ratio [95% CI] | mean m·ΔᵀI_TΔ (p = 4) |")
    print("|---|---|---|---|---|---|")
    for r in result.table:
        print(f"| {r['m']} | {r['T']} | {r['mse']:.3e} | {r['theory']:.3e} | {r['ratio']:.2f} "
              f"[{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}] | {r['fisher_error']:.2f} |")  # fmt: skip


def main():
    key = jax.random.key(20261122)
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    for (name, A), marker in zip(SYSTEMS.items(), "os", strict=True):
        start = time.perf_counter()
        result = tj.sweep(tj.LinearSystem(A=A), m=M, T=T, replicates=REPLICATES, key=key, progress=False)
        print(f"\n### {name} ({time.perf_counter() - start:.1f} s)\n")
        table(result)
        for s in result.slopes():
            if s["against"] == "T":
                print(f"- slope of log mse in log T at {s['at']}: {s['slope']:.2f} "
                      f"[{s['lo']:.2f}, {s['hi']:.2f}] (theory curve {s['theory_slope']:.2f})")  # fmt: skip
        for color, m in zip(("C0", "C1", "C2", "C3", "C4"), M, strict=True):
            rows = [r for r in result.table if r["m"] == m]
            Ts = np.array([r["T"] for r in rows], float)
            mse, se = np.array([r["mse"] for r in rows]), np.array([r["mse_se"] for r in rows])
            ax.errorbar(Ts, m * mse, yerr=1.96 * m * se, fmt=marker, color=color, capsize=2,
                        label=f"{name.split(' A')[0]}, m = {m}")  # fmt: skip
            ax.plot(Ts, [m * r["theory"] for r in rows], "--", color=color, lw=1)
            ratio = np.array([r["ratio"] for r in rows])
            err = [ratio - [r["ratio_lo"] for r in rows], [r["ratio_hi"] for r in rows] - ratio]
            ax_ratio.errorbar(Ts * (1.04 if marker == "s" else 1), ratio, yerr=err, fmt=marker + "-",
                              color=color, capsize=2, label=f"{name.split(' A')[0]}, m = {m}")  # fmt: skip
    Tline = np.array([16, 1024], float)
    ax.plot(Tline, 8 / Tline, "k:", lw=1, label="∝ 1/T")
    ax.plot(Tline, 40 / Tline**2, "k-.", lw=1, label="∝ 1/T²")
    ax.set(xscale="log", yscale="log", xlabel="T", ylabel="m · E‖Â − A‖²_F  (dashed: m·tr(I_T⁻¹)/m)",
           title="Error × m against T")  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    ax_ratio.axhline(1, color="k", lw=1)
    ax_ratio.set(xscale="log", yscale="log", xlabel="T", ylabel="mse / tr(I_T⁻¹)/m (95% CI)",
                 title="Ratio to the Fisher curve")  # fmt: skip
    ax_ratio.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Marginal stability: Gaussian LDS, d = 2, {REPLICATES} replicates per cell")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    print(f"\nwrote {FIGURE}")


if __name__ == "__main__":
    main()
