"""Measurement: relative standard error of tj.hellinger's three estimators (docs/studies.md).

2×2 Gaussian LDS (A = [[0.6, 0.1], [0, 0.5]], z_1 = 0, T = 50), steps Δ scaled so that
ΔᵀI_TΔ = q, 40,000 paths each; the exact d_H² comes from the joint covariance of z_2..z_T.

    PYTHONPATH=. python examples/hellinger_estimators.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import trajax as tj

jax.config.update("jax_enable_x64", True)
A, T, N = np.array([[0.6, 0.1], [0.0, 0.5]]), 50, 40_000


def gaussian_lds_exact(A, B, T):
    """Exact d_H² = 2(1 − BC) between Gaussian LDS path laws from z_1 = 0."""
    d, n = A.shape[0], T - 1

    def cov(M):
        L = np.zeros((n * d, n * d))
        powers = [np.linalg.matrix_power(M, k) for k in range(n)]
        for i in range(n):
            for k in range(i + 1):
                L[i * d : (i + 1) * d, k * d : (k + 1) * d] = powers[i - k]
        return L @ L.T

    S_a, S_b = cov(A), cov(B)
    logdet = [np.linalg.slogdet(X)[1] for X in (S_a, S_b, (S_a + S_b) / 2)]
    return 2 - 2 * np.exp(0.25 * logdet[0] + 0.25 * logdet[1] - 0.5 * logdet[2])


def main():
    lds = tj.LinearSystem(A=A)
    info = np.asarray(tj.fisher_information(lds, T))
    u = np.array([1.0, -1.0, 0.5, 1.0])
    u = u / np.sqrt(u @ info @ u)
    print("| ΔᵀI_TΔ | exact d_H² | method | estimate ± SE | relative SE | (estimate − exact)/SE |")
    print("|---|---|---|---|---|---|")
    for q in [1e-3, 1e-2, 1e-1, 1.0, 4.6, 12.0, 30.0]:
        delta = u * np.sqrt(q)
        other = lds.with_theta(lds.theta + jnp.asarray(delta))
        exact = gaussian_lds_exact(A, A + delta.reshape(2, 2), T)
        for method in tj._hellinger.METHODS:
            d2, se = (float(x) for x in tj.hellinger(lds, other, T, key=jax.random.key(1), num_samples=N,
                                                      method=method))  # fmt: skip
            print(f"| {q:g} | {exact:.4g} | {method} | {d2:.4g} ± {se:.2g} | {se / exact:.2%} | "
                  f"{(d2 - exact) / se:+.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
