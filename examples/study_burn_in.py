"""Study: burn-in maps against the theory's predicted boundaries (docs/studies.md, study 3).

One sweep per model over a grid of (m, T) with small m; `tj.burn_in` gives, per T, the
smallest m from which every larger m has a ratio CI covering 1; `plot_burn_in` draws the map
with the predicted boundary. Prints the cells and the burn-in against the prediction.

    PYTHONPATH=. python examples/study_burn_in.py mixture    # or glm, student_t
    PYTHONPATH=. python examples/study_burn_in.py mixture --no-escape   # saddles left as they are
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import numpy as np

import trajax as tj
from trajax._burnin import plot_burn_in

jax.config.update("jax_enable_x64", True)
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
RUNS = Path("runs") / "burn_in"  # cells.csv per study, to redraw the maps without rerunning
A_LDS = [[0.6, 0.1], [0.0, 0.5]]

STUDIES = {
    # name: (model, sweep keywords, {boundary label: predicted m as a function of T})
    "mixture": (
        tj.MarkovChainMixture.two_state(0.8, 0.4),
        dict(m=[2, 4, 8, 16, 32, 64, 128], T=[4, 8, 16, 32, 64], replicates=200),
        {"predicted m ≳ T": lambda T: T},
    ),
    "glm": (
        tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5),
        dict(m=[1, 2, 4, 8, 16, 32, 64], T=[4, 8, 16, 32, 64, 128, 256], replicates=200,
             fisher_method="hessian", fisher_samples=4000),
        {"predicted m ≳ T": lambda T: T},
    ),
    "student_t": (
        tj.LinearSystem(A=A_LDS, noise=tj.noise.StudentT(5.0)),
        dict(m=[1, 2, 4, 8, 16, 32, 64], T=[4, 8, 16, 64, 256], replicates=200),
        {"m ≳ p = 4 (convex φ)": lambda T: 4.0 + 0 * T, "m ≳ p·T (non-convex φ)": lambda T: 4.0 * T},
    ),
}  # fmt: skip


def main(name: str) -> None:
    model, grid, boundaries = STUDIES[name]
    start = time.perf_counter()
    result = tj.sweep(model, key=jax.random.key(20261122), progress=False, **grid)
    seconds = time.perf_counter() - start
    (RUNS / name).mkdir(parents=True, exist_ok=True)
    result.to_csv(RUNS / name / "cells.csv")
    print(f"### {name}: {seconds:.1f} s wall\n")
    print("| T \\ m | " + " | ".join(str(m) for m in grid["m"]) + " |")
    print("|---" * (len(grid["m"]) + 1) + "|")
    for T in grid["T"]:
        cells = []
        for m in grid["m"]:
            r = next(r for r in result.table if r["m"] == m and r["T"] == T)
            mark = "**" if r["ratio_lo"] <= 1 <= r["ratio_hi"] else ""
            lost = r["failed_not_a_maximum"]
            fail = f" ({r['failed']} failed: {lost} not a maximum)" if r["failed"] else ""
            cells.append(f"{mark}{r['ratio']:.2f}{mark} [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}]{fail}")
        print(f"| {T} | " + " | ".join(cells) + " |")
    print("\n| T | measured burn-in m0 | " + " | ".join(boundaries) + " |")
    print("|---|---|" + "---|" * len(boundaries))
    for rec in tj.burn_in(result):
        preds = [float(np.asarray(f(np.array([rec["T"]], float)))[0]) for f in boundaries.values()]
        looseness = [f"{p:g}" + (f" ({p / rec['m']:.2g}×)" if rec["m"] else "") for p in preds]
        print(f"| {rec['T']} | {rec['m']} | " + " | ".join(looseness) + " |")
    path = FIGURES / f"burn_in_{name}.png"
    plot_burn_in(result, path, boundary=boundaries, title=f"Burn-in map: {name}")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    names = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    if "--no-escape" in sys.argv:  # what the fits were before escapes: saddles are not_a_maximum
        import trajax._solvers

        trajax._solvers.MAX_ESCAPES = 0
        RUNS = RUNS.with_name("burn_in_no_escape")
        FIGURES = Path("runs") / "burn_in_no_escape"
        FIGURES.mkdir(parents=True, exist_ok=True)
    for name in names or list(STUDIES):
        main(name)
