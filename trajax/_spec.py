"""`SweepSpec`: everything that fixes a sweep's numbers, frozen and validated; its fingerprint.

The model, the grid, the replicates (and the job-array shard of them this run computes), the key,
the design, the fit and Fisher options. How the sweep runs (devices, batch width, memory budget:
`_execution.Execution`), where its results go (`_store`) and how it reports (`_progress`) live
elsewhere and change no number. Errors name their config section (`SpecError.section`), so the
command line names the offending key without reading messages.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_int
from ._estimate import describe_start
from ._fingerprint import fingerprint, identity
from ._fit import check_fit_options, make_plan
from ._jsonio import jsonable
from ._keys import check_key, fold_in
from ._model import AbstractModel
from ._replicates import shard_range
from ._report import describe_model
from ._simulate import trajectory_shapes
from ._solvers import default_tol

__all__ = ["SweepSpec", "SpecError", "DESIGNS"]

DESIGNS = ("nested", "independent")


class SpecError(ValueError):
    """A bad sweep setting; `section` is its config section ("sweep", "fit", "fisher", "run"),
    the message starts with the setting's name."""

    def __init__(self, section: str, message: str):
        super().__init__(message)
        self.section = section


def _checked(section: str, check, *args, **kwargs):
    """`check(*args, **kwargs)`, its ValueError as a `SpecError` of `section`."""
    try:
        return check(*args, **kwargs)
    except SpecError:
        raise
    except ValueError as err:
        raise SpecError(section, str(err)) from None


def _check_grid(values, name) -> tuple[int, ...]:
    if isinstance(values, int | np.integer):
        values = [values]
    if not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        raise ValueError(f"{name}: expected a non-empty list of integers, got {values!r}")
    minimum = 2 if name == "T" else 1
    out = [check_int(v, name, minimum) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: expected distinct values, got {out}")
    return tuple(sorted(out))


@dataclass(frozen=True)
class SweepSpec:
    """The settings that fix a sweep's numbers (see `tj.sweep`), checked; build with `make`.

    cells: the grid's (m, T) cells in table order (T outer, m inner).
    first, stop: the replicates [first, stop) this run computes (a job-array shard's share).
    data_key, fisher_key: `fold_in(key, 0)` (replicate r: `fold_in(data_key, r)`) and
        `fold_in(key, 1)` (Monte-Carlo Fisher informations).
    fit_start: where the sweep's iterative fits start, in words (summary.json).

    Example:
        >>> import jax, trajax as tj
        >>> spec = tj.SweepSpec.make(tj.TwoStateChain(theta=0.8), m=[10, 20], T=[20], replicates=4,
        ...                          key=jax.random.key(0))
        >>> spec.cells, len(spec.fingerprint)
        ([(10, 20), (20, 20)], 64)
    """

    model: AbstractModel
    m: tuple[int, ...]
    T: tuple[int, ...]
    replicates: int
    key: object
    design: str
    fit_options: dict = field(hash=False)
    fisher_method: str = "auto"
    fisher_samples: int = 2000
    shard: tuple[int, int] | None = None
    first: int = 0
    stop: int = 0
    fit_start: str = ""
    data_key: object = None
    fisher_key: object = None
    config: dict | None = field(default=None, hash=False)  # extra settings recorded (the TOML)

    @classmethod
    def make(cls, model, *, m, T, replicates, key, design="nested", fit_options=None,
             fisher_method="auto", fisher_samples=2000, shard=None, config=None) -> SweepSpec:  # fmt: skip
        """Checks every setting (one-line `SpecError` naming it, before any work)."""
        if not isinstance(model, AbstractModel):
            raise ValueError(f"model: expected a trajax model, got {type(model).__name__}")
        m_values, T_values = _checked("sweep", _check_grid, m, "m"), _checked("sweep", _check_grid, T, "T")
        R = _checked("sweep", check_int, replicates, "replicates", 2)
        if design not in DESIGNS:
            raise SpecError("sweep", f"design: expected one of {DESIGNS}, got {design!r}")
        key = check_key(key)
        fit_options = _checked("fit", check_fit_options, fit_options)
        _warn_unreachable_tol(fit_options.get("tol"), model.theta.dtype)
        fit_start = _checked("fit", _describe_fit_start, model, fit_options, min(T_values))
        first, stop = (0, R) if shard is None else shard_range(shard, R)
        shard = None if shard is None else (int(shard[0]), int(shard[1]))
        return cls(model, m_values, T_values, R, key, design, fit_options, fisher_method, fisher_samples,
                   shard, first, stop, fit_start, fold_in(key, 0), fold_in(key, 1), config)  # fmt: skip

    @property
    def cells(self) -> list[tuple[int, int]]:
        """The grid's (m, T) cells in table order: T outer, m inner."""
        return [(mi, Ti) for Ti in self.T for mi in self.m]

    def resolved(self, run: dict | None = None) -> dict:
        """The settings as recorded in config.json and `SweepResult.config`, with `run` (how the
        sweep ran: batch_size, max_cell_bytes; left out of the fingerprint) after the fit and
        Fisher options."""
        out = {
            "model": describe_model(self.model),
            "m": list(self.m),
            "T": list(self.T),
            "replicates": self.replicates,
            "key": np.asarray(jax.random.key_data(self.key)).tolist(),
            "design": self.design,
            "fit": self.fit_options,
            "fit_start": self.fit_start,  # where iterative fits start, in words
            "fisher": {"method": self.fisher_method, "samples": self.fisher_samples},
            **(run or {}),
            **({"config": self.config} if self.config else {}),
        }
        if self.shard is not None:
            index, count = self.shard
            out["shard"] = {"index": index, "count": count, "first": self.first, "stop": self.stop}
        return out

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the settings that can change a number (`_fingerprint.identity`)."""
        return fingerprint(identity(jsonable(self.resolved())))


def _warn_unreachable_tol(tol, dtype) -> None:
    """A gradient tolerance under 10 eps of the model's dtype is out of reach of its rounding
    (float32 with tol = 1e-8: every fit runs to max_steps and fails, slowly)."""
    floor, name = 10 * float(jnp.finfo(dtype).eps), jnp.dtype(dtype).name
    if tol is not None and float(tol) < floor:
        warnings.warn(
            f"tol: {float(tol):g} is below what {name} gradients can reach (10 eps = {floor:.1e}; "
            f"the default for {name} is {default_tol(dtype):g}): fits will likely run to max_steps "
            "and fail",
            stacklevel=4,
        )


def _describe_fit_start(model, fit_options: dict, T: int) -> str:
    """Where the sweep's iterative fits start (recorded in summary.json); warns when that is the
    truth θ*, which makes the error of a non-convex fit look better than it is."""
    shapes = trajectory_shapes(model, T)
    example = jax.tree.map(lambda s: jax.ShapeDtypeStruct((2, *s.shape), s.dtype), shapes)
    plan, _ = make_plan(model, example, **fit_options)  # the errors fit would give, before any work
    text = describe_start(model, plan, example)
    if plan.init == "model" and plan.method in ("newton", "lbfgs"):
        warnings.warn(f"sweep: fit_options init='model': {text}", stacklevel=5)
    return text
