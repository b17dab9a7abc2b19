"""`PerCell`: one program per cell that simulates and fits its replicates (streaming trajectories
in chunks when the program's working set exceeds the memory budget). Any model, any design."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import jax

from .._execution import (
    OnDevices,
    gather,
    map_batches,
    replicates_per_device,
    shrink_to_budget,
    state_bytes,
    warn_over_budget,
    working_set,
)
from .._fit import fit_streaming, fit_unchecked
from .._replicates import make_block
from .._simulate import simulate
from .._timing import Timing
from ._base import AbstractRunner, CellOutcome, error_shapes, replicate_errors

__all__ = ["PerCell", "stream_chunk"]


class PerCell(AbstractRunner):
    """Runs each cell in its own compiled program: each device simulates and fits its contiguous
    share of the replicates, `batch_size` at a time (padded to a multiple of it; the padding is
    dropped), so the working set does not grow with R. When the compiled program's working set
    (XLA's memory analysis) exceeds the budget per device, each replicate's trajectories are
    streamed in chunks (`tj.fit_streaming`): first the largest divisor of m whose data fit,
    then smaller ones in proportion to the measured excess, compiling again each time (at most
    4 programs; a warning says when even the smallest does not fit).

    Works for every model and both designs; a nested sweep that `tj.NestedWindows` supports is
    faster with it (one simulation per replicate for all cells, fewer programs).

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10], T=[20], replicates=8,
        ...                key=jax.random.key(0), runner=tj.PerCell(), progress=False)
        >>> res.timings[0]["compilations"]
        1
    """

    compiles_per_cell = True

    def supports(self, spec) -> bool:
        return True

    def prepare(self, spec, execution, cells, store) -> bool:
        self.spec, self.execution, self.cells = spec, execution, list(cells)
        return True

    def run(self, informations: Callable[[], dict], progress) -> Iterator[CellOutcome]:
        for m, T in self.cells:
            yield self.run_cell(m, T, informations()[T][0])

    def run_cell(self, m: int, T: int, info) -> CellOutcome:
        """Compiles (within the budget) and runs cell (m, T) with the information I_T `info`."""
        spec, ex = self.spec, self.execution
        per_device = replicates_per_device(spec.stop - spec.first, ex.batch, len(ex.devices))
        indices = ex.indices(per_device, spec.first)
        compile_s, programs = 0.0, {}

        def attempt(chunk):
            nonlocal compile_s
            program = OnDevices(_cell_program(spec, m, T, info, ex.batch, chunk), ex.devices)
            compile_s += program.compile(indices[0])
            programs[chunk] = program
            return working_set(program.compiled)

        def smaller(chunk, memory):
            current = m if chunk is None else chunk
            if current == 1:
                return None
            return max(_divisors_below(m, min(current - 1, max(1, current * ex.budget // memory))))

        first = stream_chunk(spec.model, m, T, ex.batch, ex.budget)
        chunk, memory, compilations = shrink_to_budget(attempt, first, smaller, ex.budget, tries=4)
        warn_over_budget(memory, ex.budget, f"cell m={m}, T={T}")
        start = time.perf_counter()
        outs = gather(jax.block_until_ready(programs[chunk](indices)), spec.stop - spec.first)
        timing = Timing(m, T, compile_s, time.perf_counter() - start, chunk or 0, compilations, memory,
                        ex.budget)  # fmt: skip
        return CellOutcome((m, T), make_block(spec.first, *outs), timing)


def stream_chunk(model, m, T, batch, max_bytes) -> int | None:
    """None when a cell's data (for `batch` replicates at once) fits in `max_bytes`; otherwise
    the largest divisor of m whose chunk of trajectories does (streamed fit)."""
    per_trajectory = state_bytes(model, T) * batch
    if per_trajectory * m <= max_bytes:
        return None
    return max(_divisors_below(m, max(1, max_bytes // per_trajectory)))


def _divisors_below(m: int, limit: int) -> list[int]:
    return [c for c in range(1, m + 1) if m % c == 0 and c <= limit]


def _replicate_key(data_key, r, m, T, design):
    key = jax.random.fold_in(data_key, r)
    if design == "independent":
        key = jax.random.fold_in(jax.random.fold_in(key, m), T)
    return key


def _cell_program(spec, m, T, info, batch, chunk=None):
    """A function of one device's replicate indices returning per-replicate (‖Δ‖², m·ΔᵀI_TΔ,
    result code, Wald coverage, θ̂); replicates are vmapped `batch` at a time. With `chunk`, each
    replicate's trajectories are streamed `chunk` at a time (`fit_streaming`)."""
    model, data_key, design, fit_options = spec.model, spec.data_key, spec.design, spec.fit_options

    def sweep_cell(indices):
        def one(r):
            key = _replicate_key(data_key, r, m, T, design)
            if chunk is None:
                result = fit_unchecked(model, simulate(model, key, m, T), **fit_options)
            else:
                result = fit_streaming(model, key, m, T, chunk_size=chunk, **fit_options)
            return replicate_errors(result, model.theta, info, m)

        return map_batches(one, indices, batch, error_shapes(model.theta))

    return sweep_cell
