"""Seed-paper simulation of mixed linear regression: the recursive estimator against the batch
MLE over time, and clustering accuracy against the oracle and Bayes rules.

    .venv/bin/python docs/mlr_recursive.py   # writes docs/figures/mlr_recursive.png, prints numbers
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import trajax as tj  # noqa: E402

N = 100_000
CHECKPOINTS = [300, 1000, 3000, 10_000, 30_000, 100_000]
SEEDS = range(5)


def _windowed_accuracy(labels, truth, width=1000):
    """Fraction of correct labels in consecutive windows of `width` samples."""
    usable = len(truth) // width * width
    return (labels[:usable] == truth[:usable]).reshape(-1, width).mean(1)


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = tj.MixedLinearRegression(beta=[1.0, -0.5, 0.8], p=0.6, sigma=1.0, a=0.8, gamma=0.1)
    rec_err, batch_err, acc_rec, acc_oracle, acc_bayes = [], [], [], [], []
    for seed in SEEDS:
        data = tj.simulate(model, jax.random.key(seed), 1, N)
        path = model.recursive_estimates(data)
        rec_err.append(np.asarray(jnp.sum((path["beta"] - model.beta) ** 2, axis=1)))
        errs = []
        for n in CHECKPOINTS:  # the batch MLE on the first n states (prefix of the same run)
            prefix = jax.tree.map(lambda x, n=n: x[:, :n], data)
            errs.append(float(jnp.sum((tj.fit(model, prefix).theta - model.beta) ** 2)))
        batch_err.append(errs)
        truth = np.asarray(data["s"][0, 1:])
        # labels assigned online with the current estimate β_n, accuracy over windows of 1000
        online = np.sign(
            np.asarray(data["y"][0, 1:])
            * np.einsum("nd,nd->n", np.asarray(data["phi"][0, :-1]), np.asarray(path["beta"]))
        )
        oracle = np.asarray(model.cluster_labels(data))[0]
        bayes = np.asarray(model.bayes_labels(data))[0]
        acc_rec.append(_windowed_accuracy(online, truth))
        acc_oracle.append(_windowed_accuracy(oracle, truth))
        acc_bayes.append(_windowed_accuracy(bayes, truth))
    rec_err, batch_err = np.mean(rec_err, 0), np.mean(batch_err, 0)
    acc_rec, acc_oracle, acc_bayes = (np.mean(a, 0) for a in (acc_rec, acc_oracle, acc_bayes))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    n = np.arange(1, N)
    ax.loglog(n, rec_err, label="recursive estimator β_n")
    ax.loglog(CHECKPOINTS, batch_err, "o-", label="batch MLE on the first n")
    ax.set(
        xlabel="n (samples)",
        ylabel=f"‖β − β*‖² (mean of {len(SEEDS)} runs)",
        title="Estimation error over time",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    centres = np.arange(len(acc_rec)) * 1000 + 500
    ax2.plot(centres, acc_rec, label="sign(y·β_nᵀφ), online β_n")
    ax2.plot(centres, acc_oracle, label="sign(y·β*ᵀφ), true β")
    ax2.plot(centres, acc_bayes, label="Bayes rule (true β, prior)")
    ax2.set(xscale="log", xlabel="n", ylabel="clustering accuracy (windows of 1000)", title="Cluster labels")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend()
    fig.suptitle("Mixed linear regression, p = 0.6, σ² = 1, φ' = 0.8φ + n^(-1/10) e")
    out = Path(__file__).parent / "figures" / "mlr_recursive.png"
    fig.savefig(out, dpi=120)
    print("n        recursive   batch MLE")
    for i, c in enumerate(CHECKPOINTS):
        print(f"{c:>7}  {rec_err[c - 2]:.3e}   {batch_err[i]:.3e}")
    print(
        f"accuracy, last 10 windows: online {acc_rec[-10:].mean():.4f}, "
        f"true-β sign rule {acc_oracle[-10:].mean():.4f}, Bayes {acc_bayes[-10:].mean():.4f}"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
