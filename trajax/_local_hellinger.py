"""local_hellinger: d_H²(p_θ*, p_θ*+r·u) / (ΔᵀI_TΔ) along rays; the local expansion predicts ¼."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import as_float_array, check_int
from ._fisher import exact_fishers
from ._hellinger import check_method, hellinger_terms, log_ratios
from ._keys import check_key
from ._likelihood import _score
from ._model import AbstractModel
from ._simulate import simulate

__all__ = ["local_hellinger", "LocalHellinger", "FISHER_SOURCES"]

FISHER_SOURCES = ("auto", "exact", "monte_carlo")


@dataclass(frozen=True)
class LocalHellinger:
    """Outcome of `local_hellinger` for k directions and J radii (NumPy arrays).

    directions: (k, p) the unit (Euclidean) directions u.
    radii: (J,) the radii r; the step is Δ = r·u.
    d2, d2_se: (k, J) Monte-Carlo d_H²(p_θ*, p_θ*+Δ) and its standard error.
    fisher_form: (k, J) ΔᵀI_T(θ*)Δ (exact, or Monte Carlo on the same paths).
    ratio, ratio_lo, ratio_hi: (k, J) d2 / fisher_form with its `level` CI; ¼ near r = 0.
    level: the CI's coverage; fisher: "exact" or "monte_carlo", where I_T came from.
    """

    directions: np.ndarray
    radii: np.ndarray
    d2: np.ndarray
    d2_se: np.ndarray
    fisher_form: np.ndarray
    ratio: np.ndarray
    ratio_lo: np.ndarray
    ratio_hi: np.ndarray
    level: float
    fisher: str

    def rows(self) -> list[dict]:
        """One dict per (direction, radius): direction, r and the (k, J) fields at that cell."""
        names = ("d2", "d2_se", "fisher_form", "ratio", "ratio_lo", "ratio_hi")
        return [
            {"direction": k, "r": float(r), **{c: float(getattr(self, c)[k, j]) for c in names}}
            for k in range(self.directions.shape[0])
            for j, r in enumerate(self.radii)
        ]

    def plot(self, path, *, labels: Sequence[str] | None = None, title: str | None = None) -> None:
        """Draws the ratio with its CI against ΔᵀI_TΔ (log scale) per direction, and the line ¼."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
        for k in range(self.directions.shape[0]):
            x, y = self.fisher_form[k], self.ratio[k]
            err = [y - self.ratio_lo[k], self.ratio_hi[k] - y]
            label = labels[k] if labels is not None else f"u = {np.round(self.directions[k], 2)}"
            ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, ms=4, label=label)
        ax.axhline(0.25, color="k", lw=1, ls="--", label="¼ (local expansion)")
        ax.set(xscale="log", xlabel="ΔᵀI_TΔ", ylabel=f"d_H² / ΔᵀI_TΔ ({self.level:.0%} CI)")
        ax.set_title(title or "Hellinger localisation along rays θ* + r·u")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _directions(directions, p: int):
    U = as_float_array(directions, "directions")
    U = U[None] if U.ndim == 1 else U
    if U.ndim != 2 or U.shape[1] != p:
        raise ValueError(f"directions: expected shape ({p},) or (k, {p}), got shape {U.shape}")
    norms = jnp.linalg.norm(U, axis=1, keepdims=True)
    if not np.all(np.asarray(norms) > 0):
        raise ValueError("directions: every direction must be nonzero")
    return U / norms


def local_hellinger(
    model: AbstractModel,
    num_steps: int,
    directions: Float[Array, "k p"] | Float[Array, " p"],
    radii: Float[Array, " J"],
    key: PRNGKeyArray,
    *,
    num_samples: int = 20000,
    method: str = "score",
    fisher: str = "auto",
    level: float = 0.95,
) -> LocalHellinger:
    """The ratio d_H²(p_θ*, p_θ*+Δ) / (ΔᵀI_T(θ*)Δ), Δ = r·u, along rays from θ* = model.theta.

    d_H² ≈ ¼ΔᵀI_TΔ as Δ → 0, so the ratio tends to ¼; where it leaves ¼ shows how
    far the quadratic (Fisher) picture of the likelihood holds. Directions (k, p) or (p,)
    are scaled to unit Euclidean norm; radii (J,) are positive. One set of `num_samples`
    paths z ~ p_θ* (keyed as `simulate(model, key, ...)`) serves every (u, r): common random
    numbers, so the curves are smooth in r. d_H² uses `hellinger`'s `method`. I_T is the
    model's closed form (`fisher="exact"`), or the mean of (sᵀΔ)² over the same paths
    (`"monte_carlo"`, the ratio's CI then by the delta method for a ratio of means);
    `"auto"` takes the closed form when there is one. The CI is normal at `level`. Steps
    that leave the parameter space give NaN.

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.local_hellinger(tj.TwoStateChain(theta=0.7), 20, [1.0], [0.01, 0.1],
        ...                          jax.random.key(0), num_samples=4000)
        >>> res.ratio.shape
        (1, 2)
    """
    check_method(method)
    if fisher not in FISHER_SOURCES:
        raise ValueError(f"fisher: expected one of {FISHER_SOURCES}, got {fisher!r}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level!r}")
    T = check_int(num_steps, "num_steps", 2)
    n = check_int(num_samples, "num_samples", 2)
    theta = model.theta
    U = _directions(directions, theta.shape[0]).astype(theta.dtype)
    r = as_float_array(radii, "radii", ndim=1).astype(theta.dtype)
    if r.shape[0] == 0 or not np.all(np.asarray(r) > 0):
        raise ValueError("radii: expected a non-empty 1-d array of positive values")
    k, J = U.shape[0], r.shape[0]
    exact = exact_fishers(model, (T,)) if fisher != "monte_carlo" else None
    if fisher == "exact" and exact is None:
        raise ValueError(f"fisher: 'exact' is not available for {type(model).__name__}; use 'monte_carlo'")

    data = simulate(model, check_key(key), n, T)
    thetas = (theta[None, None] + r[None, :, None] * U[:, None, :]).reshape(k * J, -1)
    s_u = _score(model, data, None) @ U.T  # (n, k): sᵀu per path
    control = (r[None, :, None] * s_u.T[:, None, :]).reshape(k * J, n)  # sᵀΔ
    terms = hellinger_terms(log_ratios(model, thetas, data), control, method)
    terms = np.asarray(terms, float).reshape(k, J, n)
    d2 = terms.mean(-1)
    d2_se = terms.std(-1, ddof=1) / np.sqrt(n)
    r2 = np.asarray(r, float) ** 2
    if exact is not None:
        quad = np.einsum("kp,pq,kq->k", *(np.asarray(x, float) for x in (U, exact[0], U)))
        form = quad[:, None] * r2
        ratio, ratio_se = d2 / form, d2_se / form
    else:
        form_terms = np.asarray(s_u, float).T[:, None, :] ** 2 * r2[None, :, None]  # (k, J, n)
        form = form_terms.mean(-1)
        ratio = d2 / form
        resid = terms - ratio[..., None] * form_terms
        ratio_se = resid.std(-1, ddof=1) / np.sqrt(n) / form
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    return LocalHellinger(
        directions=np.asarray(U, float),
        radii=np.asarray(r, float),
        d2=d2,
        d2_se=d2_se,
        fisher_form=form,
        ratio=ratio,
        ratio_lo=ratio - z * ratio_se,
        ratio_hi=ratio + z * ratio_se,
        level=float(level),
        fisher="exact" if exact is not None else "monte_carlo",
    )
