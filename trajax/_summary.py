"""Names of θ's entries (`parameter_names`) and the statsmodels-like report of one fit
(`FitResult.summary`, `FitResult.conf_int`, and the numbers behind them for `trajax fit --json`)."""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._checks import is_concrete
from ._codes import reason_name, result_code
from ._model import AbstractModel
from ._models import MarkovChain, MarkovChainMixture, TwoStateChain

__all__ = ["parameter_names", "summary_values", "summary", "conf_int"]


@functools.singledispatch
def parameter_names(model: AbstractModel) -> list[str]:
    """Names of the entries of θ, in θ's order: `A[0,1]` for entry (0, 1) of a field `A`, a
    scalar field by its own name, `coef[2]` for a vector; a field holding a module names its
    leaves by their path (`net.weight[0,1]`). The names follow the fields of `parameters` when θ
    is their row-major concatenation (the default `theta`); a model that overrides `theta` gets
    `theta[0]`, `theta[1]`, … unless names are registered for its class:

        @tj.parameter_names.register
        def _(model: MyModel) -> list[str]:
            return ["a", "log_q"]

    The built-in chains are registered: MarkovChain's θ = the free entries `P[i,j]`, j < K − 1;
    TwoStateChain's is `theta`.

    Example:
        >>> import trajax as tj
        >>> tj.parameter_names(tj.LinearSystem(A=[[0.5, 0.1], [0.0, 0.4]]))
        ['A[0,0]', 'A[0,1]', 'A[1,0]', 'A[1,1]']
    """
    if not isinstance(model, AbstractModel):
        raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
    num_params = int(jnp.size(model.theta))
    fallback = [f"theta[{k}]" for k in range(num_params)]
    cls = type(model)
    if cls.theta is not AbstractModel.theta or cls.with_theta is not AbstractModel.with_theta:
        return fallback  # θ is not the plain ravel of `parameters`: no field names to give
    names = [name for field in model.parameters for name in _field_names(model, field)]
    return names if len(names) == num_params else fallback


def _field_names(model: AbstractModel, field: str) -> list[str]:
    """Entry names of the inexact array leaves of one `parameters` field (a dotted path)."""
    value = functools.reduce(getattr, field.split("."), model)
    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(value)[0]:
        if not eqx.is_inexact_array(leaf):
            continue
        base = field + jax.tree_util.keystr(path)
        names += [base + _index(i) for i in np.ndindex(jnp.shape(leaf))]
    return names


def _index(i: tuple[int, ...]) -> str:
    return f"[{','.join(map(str, i))}]" if i else ""


@parameter_names.register
def _(model: TwoStateChain) -> list[str]:
    return ["theta"]


@parameter_names.register
def _(model: MarkovChain) -> list[str]:
    K = model.num_states
    return [f"P[{i},{j}]" for i in range(K) for j in range(K - 1)]


@parameter_names.register
def _(model: MarkovChainMixture) -> list[str]:
    k, K = model.num_components, model.num_states
    if model.tied:  # two-state symmetric components: θ_c = P[c,0,0] = P[c,1,1]
        return [f"P[{c},0,0]" for c in range(k)]
    return [f"P[{c},{i},{j}]" for c in range(k) for i in range(K) for j in range(K - 1)]


# ---------------------------------------------------------------------------- the numbers
def _check_one_fit(result, alpha: float, what: str) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), e.g. 0.05, got {alpha!r}")
    if not is_concrete(result.theta, result.information):
        raise ValueError(f"{what}: needs concrete values; call it outside jit and vmap")
    if jnp.ndim(result.theta) != 1:
        raise ValueError(
            f"{what}: this FitResult holds a batch of fits (θ̂ of shape {tuple(jnp.shape(result.theta))}); "
            "take one first, e.g. jax.tree.map(lambda x: x[i], result)"
        )


def conf_int(result, alpha: float = 0.05) -> Float[Array, "p 2"]:
    """`FitResult.conf_int`: rows [θ̂_j − q·SE_j, θ̂_j + q·SE_j], q = z_{1−α/2}."""
    _check_one_fit(result, alpha, "conf_int")
    q = NormalDist().inv_cdf(1 - alpha / 2)
    theta, half = np.asarray(result.theta), q * np.asarray(result.stderr)  # host arithmetic: no compiles
    return jnp.asarray(np.stack([theta - half, theta + half], axis=-1))


def _count(x) -> int | None:
    return None if x is None else int(np.asarray(x))


def summary_values(result, alpha: float = 0.05) -> dict:
    """The numbers of `FitResult.summary` as plain Python values (NaN where undefined, e.g.
    standard errors of a non-positive-definite information, BIC without n)."""
    _check_one_fit(result, alpha, "summary")
    theta = np.asarray(result.theta, dtype=np.float64)
    stderr = np.asarray(result.stderr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = theta / stderr
    p_value = np.array([math.erfc(abs(v) / math.sqrt(2)) if math.isfinite(v) else math.nan for v in z])
    interval = np.asarray(conf_int(result, alpha), dtype=np.float64)
    ll = float(result.log_likelihood)
    p = theta.size
    n = _count(result.num_transitions)
    eig = np.linalg.eigvalsh(np.asarray(result.information, dtype=np.float64))
    finite = bool(np.all(np.isfinite(eig)))
    cond = float(eig[-1] / eig[0]) if finite and p and eig[0] > 0 else math.nan
    return {
        "model": type(result.model).__name__,
        "names": parameter_names(result.model),
        "theta": theta.tolist(),
        "stderr": stderr.tolist(),
        "z": z.tolist(),
        "p_value": p_value.tolist(),
        "alpha": float(alpha),
        "conf_int": interval.tolist(),
        "log_likelihood": ll,
        "aic": 2 * p - 2 * ll,
        "bic": p * math.log(n) - 2 * ll if n else math.nan,
        "condition_number": cond,
        "num_params": p,
        "num_trajectories": _count(result.num_trajectories),
        "num_transitions": n,
        "num_steps": int(result.num_steps),
        "grad_norm": float(result.grad_norm),
        "result": reason_name(result_code(result.result)),
        "message": result.message,
    }


# ---------------------------------------------------------------------------- the table
def _num(x: float, width: int = 11) -> str:
    """A number in `width` columns: fixed point for moderate magnitudes, else scientific."""
    if not math.isfinite(x):
        return f"{'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf'):>{width}}"
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:>{width}.4f}"
    return f"{x:>{width}.3e}"


def summary(result, alpha: float = 0.05) -> str:
    """`FitResult.summary`: the table of `summary_values`."""
    v = summary_values(result, alpha)
    lo, hi = f"[{alpha / 2:.3g}", f"{1 - alpha / 2:.3g}]"
    width = max([8, *(len(name) for name in v["names"])])
    head = f"{'':<{width}} {'estimate':>11} {'std err':>11} {'z':>9} {'P>|z|':>7} {lo:>11} {hi:>11}"
    rule = "=" * len(head)
    title = f"trajax fit: {v['model']} (p = {v['num_params']})"
    lines = [title, rule, head, "-" * len(head)]
    rows = zip(v["names"], v["theta"], v["stderr"], v["z"], v["p_value"], v["conf_int"], strict=True)
    for name, est, se, z, p, (a, b) in rows:
        z_text = f"{z:>9.3f}" if math.isfinite(z) else f"{'nan':>9}"
        p_text = f"{p:>7.3f}" if math.isfinite(p) else f"{'nan':>7}"
        lines.append(f"{name:<{width}} {_num(est)} {_num(se)} {z_text} {p_text} {_num(a)} {_num(b)}")
    lines.append("-" * len(head))
    m, n = v["num_trajectories"], v["num_transitions"]
    pairs = [
        (
            "log-likelihood",
            _num(v["log_likelihood"], 14).strip(),
            "trajectories",
            "unknown" if m is None else str(m),
        ),
        ("AIC", _num(v["aic"], 14).strip(), "transitions", "unknown" if n is None else str(n)),
        ("BIC", _num(v["bic"], 14).strip(), "steps", str(v["num_steps"])),
        ("cond(information)", f"{v['condition_number']:.3g}", "result", v["result"]),
    ]
    lines += [f"{a:<18} {b:>16}    {c:<13} {d}" for a, b, c, d in pairs]
    if v["message"]:
        lines.append(f"message: {v['message']}")
    if not all(math.isfinite(se) for se in v["stderr"]):
        lines.append(
            "note: NaN standard errors: the observed information is not positive definite at θ̂ "
            "(not a maximum, or a parameter the data do not identify)."
        )
    lines.append(rule)
    return "\n".join(lines)
