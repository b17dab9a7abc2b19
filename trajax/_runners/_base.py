"""The runner interface: `AbstractRunner`, the `CellOutcome` every runner yields, and the
per-replicate errors both runners compute."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._codes import RESULTS, result_code
from .._stats import Z95
from .._timing import Timing

__all__ = ["AbstractRunner", "CellOutcome", "error_shapes", "replicate_errors"]


class CellOutcome(NamedTuple):
    """One finished cell, whatever the runner.

    cell: (m, T).
    block: the cell's per-replicate results, a dict of equal-length lists over replicates
        `first, first + 1, ...`: theta (θ̂, p floats each), sq_err (‖θ̂ − θ*‖²), fisher_stat
        (m·ΔᵀI_TΔ), code (the fit's `tj.RESULTS` code), wald_coverage.
    timing: how the cell ran (`Timing`).

    Example:
        >>> import trajax as tj
        >>> outcome = tj.CellOutcome((10, 20), {"first": 0, "sq_err": [0.1]}, tj.Timing(10, 20))
        >>> outcome.cell, outcome.timing.compilations
        ((10, 20), 0)
    """

    cell: tuple[int, int]
    block: dict
    timing: Timing


class AbstractRunner(abc.ABC):
    """How a sweep's cells are computed: `prepare` compiles (within the memory budget), then
    `run` yields one `CellOutcome` per cell. Runners change how the work is laid out, never a
    number beyond rounding (see `tj.sweep`).

    Implementations: `tj.NestedWindows` (one simulation per replicate block, every cell fitted
    from windows of it) and `tj.PerCell` (one program per cell). `tj.choose_runner` picks one;
    `tj.sweep(..., runner=...)` pins one.

    Example:
        >>> import trajax as tj
        >>> isinstance(tj.PerCell(), tj.AbstractRunner), tj.NestedWindows.compiles_per_cell
        (True, False)
    """

    #: whether each cell compiles its own programs (the progress ETA counts a compile per cell)
    compiles_per_cell: bool = True

    @abc.abstractmethod
    def supports(self, spec) -> bool:
        """Whether this runner can compute the sweep `spec` (a `SweepSpec`) at all."""

    @abc.abstractmethod
    def prepare(self, spec, execution, cells, store) -> bool:
        """Compiles what the cells `cells` need (resuming from `store`'s checkpoints); returns
        False, having run nothing, when it cannot honour `execution`'s memory budget."""

    @abc.abstractmethod
    def run(self, informations: Callable[[], dict], progress) -> Iterator[CellOutcome]:
        """Runs the prepared cells; `informations()` gives {T: (I_T, its SE)} when first needed.
        Yields each cell's outcome as it finishes."""


def error_shapes(theta_star):
    """Shapes of `replicate_errors`' output for one replicate (for `map_batches`)."""
    scalar = jax.ShapeDtypeStruct((), theta_star.dtype)
    code = jax.ShapeDtypeStruct((), result_code(RESULTS.successful).dtype)
    return scalar, scalar, code, scalar, jax.ShapeDtypeStruct(theta_star.shape, theta_star.dtype)


def replicate_errors(result, theta_star, info, m):
    """One replicate's (‖Δ‖², m·ΔᵀI_TΔ, result code, Wald coverage, θ̂), Δ = θ̂ − θ* (m a Python
    or traced int); the Wald coverage is the fraction of coordinates with |Δ_j| ≤ 1.96·stderr_j
    (observed information; NaN stderr counts as not covered); θ̂ has shape (p,)."""
    delta = result.theta - theta_star
    stat = jnp.asarray(m, delta.dtype) * delta @ info @ delta
    wald = jnp.mean((jnp.abs(delta) <= Z95 * result.stderr).astype(delta.dtype))
    return jnp.sum(delta**2), stat, result_code(result.result), wald, result.theta
