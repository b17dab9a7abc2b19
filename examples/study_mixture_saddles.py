"""Study: the two-chain mixture at T = 4, where fits from the spread start can stop at the
symmetric point θ₀ = θ₁ (a saddle of the likelihood). With second-order acceptance those fits
are `not_a_maximum`; with the escapes (the default) they reach the maximum. Prints, per m, the
cell's ratio to the Fisher curve, its coverage and the fits lost to `not_a_maximum`, for the
default fit and for a fit whose escapes are switched off (docs/studies.md, study 3).

    PYTHONPATH=. python examples/study_mixture_saddles.py
"""

from __future__ import annotations

import time

import jax

import trajax as tj
import trajax._solvers

jax.config.update("jax_enable_x64", True)
GRID = dict(m=[512, 2048, 8192], T=[4], replicates=200)


def main() -> None:
    model = tj.MarkovChainMixture.two_state(0.8, 0.4)
    default_escapes = trajax._solvers.MAX_ESCAPES
    print("| fit | m | ratio [95% CI] | coverage | not a maximum | other failures |")
    print("|---|---|---|---|---|---|")
    for label, escapes in (("escapes (default)", default_escapes), ("no escape", 0)):
        trajax._solvers.MAX_ESCAPES = escapes  # read when the fit is traced: a fresh sweep retraces
        jax.clear_caches()
        start = time.perf_counter()
        result = tj.sweep(model, key=jax.random.key(20261122), progress=False, **GRID)
        for r in result.table:
            lost = r["failed_not_a_maximum"]
            print(
                f"| {label} | {r['m']} | {r['ratio']:.2f} [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}] | "
                f"{r['coverage']:.3f} | {lost} | {r['failed'] - lost} |"
            )
        print(f"<!-- {label}: {time.perf_counter() - start:.0f} s -->")
    trajax._solvers.MAX_ESCAPES = default_escapes


if __name__ == "__main__":
    main()
