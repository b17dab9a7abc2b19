"""Study: few trajectories of a marginally unstable system (docs/studies.md, study 2, m ≲ d).

d = 4, Gaussian noise (least squares = MLE), A = I (random walk) and A = a Jordan block with
eigenvalue 1. For m ∈ {1, 2, 4, 8, 16} trajectories of T states, R replicates (jax.vmap over
keys of `tj.simulate`), the mean squared error E‖Â − A‖²_F beside the Fisher curve
tr(I_T⁻¹)/m (exact I_T) and the Tu–Frostig–Soltanolkotabi worst-case rate d²/(m²T), whose
constant is not known: the table gives mse·m²T/d², constant in m and T where that rate holds.
Writes docs/figures/few_trajectories.png.

    PYTHONPATH=. python examples/study_few_trajectories.py
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
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "few_trajectories.png"
D, M, T, REPLICATES = 4, [1, 2, 4, 8, 16], [32, 256], 200
SYSTEMS = {"A = I": np.eye(D), "Jordan block, eigenvalue 1": np.eye(D) + np.eye(D, k=1)}


def cell(model, key, m: int, T: int, replicates: int):
    """(mse, its standard error, Fisher curve tr(I_T⁻¹)/m) of least squares in one (m, T) cell."""
    keys = jax.random.split(key, replicates)
    data = jax.vmap(lambda k: tj.simulate(model, k, m, T))(keys)
    theta = jax.vmap(lambda d: tj.fit(model, d, method="least_squares").theta)(data)
    err = np.asarray(jnp.sum((theta - model.theta) ** 2, axis=-1))
    fisher = float(jnp.trace(jnp.linalg.inv(tj.fisher_information(model, T, method="exact")))) / m
    return err.mean(), err.std(ddof=1) / np.sqrt(replicates), fisher


def slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main():
    key = jax.random.key(20261124)
    fig, axes = plt.subplots(1, len(SYSTEMS), figsize=(11, 4.4), constrained_layout=True)
    for (name, A), ax in zip(SYSTEMS.items(), axes, strict=True):
        model = tj.LinearSystem(A=A)
        start = time.perf_counter()
        print(f"\n### {name}\n")
        print("| m | T | mse [95% CI] | Fisher tr(I_T⁻¹)/m | mse / Fisher | d²/(m²T) | mse·m²T/d² |")
        print("|---|---|---|---|---|---|---|")
        for color, t in zip(("C0", "C1"), T, strict=True):
            res = [cell(model, jax.random.fold_in(key, 100 * m + t), m, t, REPLICATES) for m in M]
            mse, se, fisher = (np.array(v) for v in zip(*res, strict=True))
            bound = D**2 / (np.array(M, float) ** 2 * t)
            for m, a, s, f, b in zip(M, mse, se, fisher, bound, strict=True):
                ci = f"[{a - 1.96 * s:.2e}, {a + 1.96 * s:.2e}]"
                print(f"| {m} | {t} | {a:.3e} {ci} | {f:.3e} | {a / f:.2f} | {b:.3e} | {a / b:.4f} |")
            print(
                f"| slope in m | {t} | {slope(M, mse):.2f} | {slope(M, fisher):.2f} | "
                f"| {slope(M, bound):.2f} | |"
            )
            ax.errorbar(
                M, mse, yerr=1.96 * se, fmt="o-", color=color, capsize=2, label=f"least squares, T = {t}"
            )
            ax.plot(M, fisher, "--", color=color, lw=1, label=f"Fisher tr(I_T⁻¹)/m, T = {t}")
            ax.plot(M, bound * mse[0] / bound[0], ":", color=color, lw=1,
                    label=f"∝ d²/(m²T), T = {t} (matched at m = 1)")  # fmt: skip
        print(f"\n({time.perf_counter() - start:.1f} s)")
        ax.axvline(D, color="gray", lw=0.8, ls="-.")
        ax.set(xscale="log", yscale="log", xlabel="m (trajectories); dash-dot: m = d", ylabel="E‖Â − A‖²_F",
               title=f"{name}, d = {D}")  # fmt: skip
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Few trajectories of a marginally unstable LDS: {REPLICATES} replicates per point")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    print(f"\nwrote {FIGURE}")


if __name__ == "__main__":
    main()
