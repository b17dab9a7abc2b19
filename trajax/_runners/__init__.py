"""Runners: how a sweep's cells are computed (`AbstractRunner`), and the automatic choice.

- `NestedWindows` (`_nested.py`): one simulation per replicate block, every cell fitted from
  windows of it; a fixed small number of programs.
- `PerCell` (`_per_cell.py`): one program per cell, streaming trajectories inside when the
  budget asks for it.
"""

from __future__ import annotations

from ._base import AbstractRunner as AbstractRunner
from ._base import CellOutcome as CellOutcome
from ._nested import NestedWindows as NestedWindows
from ._per_cell import PerCell as PerCell

__all__ = ["AbstractRunner", "CellOutcome", "NestedWindows", "PerCell", "choose_runner"]


def choose_runner(spec, execution=None) -> AbstractRunner:
    """The runner `tj.sweep(..., runner=None)` uses for the sweep `spec`: `NestedWindows` when it
    supports the sweep (the nested design of a `homogeneous_markov` model whose fit options work
    on windows), else `PerCell`. `tj.sweep` still moves to `PerCell` when not even one batch
    of nested data per device fits the memory budget (`execution`: how the sweep runs; the
    choice does not depend on it before the programs are compiled).

    `spec` is a `SweepSpec` (`tj.SweepSpec.make(model, m=..., T=..., replicates=..., key=...)`).

    Example:
        >>> import jax, trajax as tj
        >>> spec = tj.SweepSpec.make(tj.TwoStateChain(theta=0.8), m=[10], T=[20], replicates=4,
        ...                          key=jax.random.key(0))
        >>> type(tj.choose_runner(spec)).__name__
        'NestedWindows'
        >>> independent = tj.SweepSpec.make(tj.TwoStateChain(theta=0.8), m=[10], T=[20],
        ...                                 replicates=4, key=jax.random.key(0), design="independent")
        >>> type(tj.choose_runner(independent)).__name__
        'PerCell'
    """
    nested = NestedWindows()
    return nested if nested.supports(spec) else PerCell()
