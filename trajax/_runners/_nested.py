"""`NestedWindows`: every cell of a nested sweep from one simulation of (max m, max T) per
replicate, a block of replicates at a time, within a memory budget.

Each cell is fitted from windows of the simulation (`fit_prefix`, with (m, T) as run-time
values). The replicates are taken a *block* at a time: simulate a block whose data fit the budget,
fit every cell from it, keep the per-replicate results, go on to the next. All blocks have the same
shape (the last is padded), so one simulation program and one fit program per remainder class
serve every block and every cell: the number of compilations does not depend on R or on the
number of blocks. Block k + 1 is dispatched before block k's results are read back, so the host
gathers and writes while the devices compute.

Replicate r's data are `simulate(model, fold_in(data_key, r), M, T)` whatever block holds it, and
each fit is the body of a loop over batches of fixed width `batch` that XLA cannot remove
(`map_batches`), so the results are bit-identical whatever the block size or the number of devices
(tests/test_blocks.py, tests/test_sweep.py).

The memory budget bounds the working set per device as XLA's memory analysis of the compiled
programs reports it: the data block(s) resident (two when there are several blocks: the one
being fitted and the next) plus the larger of the programs' temporaries. The first guess keeps
room for the simulation's temporaries; with several blocks the simulation compiles first and its
measured temporaries fix the block before the fits compile; when the fits' temporaries still
push the working set over the budget, the block shrinks and the programs are compiled again
(`shrink_to_budget`; rare: fit temporaries of the windowed estimator are per window, small and
independent of m). On the CPU a block also holds at most `_CPU_BLOCK_BYTES` of data per device
(at least one batch), whatever the budget allows: smaller blocks overlap better and reuse memory
already faulted in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from .. import _execution
from .._execution import (
    OnDevices,
    compile_pool,
    gather,
    map_batches,
    on_cpu,
    replicates_per_device,
    shrink_to_budget,
    state_bytes,
    temporaries,
)
from .._replicates import concatenate_blocks, make_block
from .._simulate import simulate, trajectory_shapes
from .._timing import Timing
from .._windows import fit_prefix, plan_windows
from ._base import AbstractRunner, CellOutcome, error_shapes, replicate_errors

__all__ = ["NestedWindows"]


class NestedWindows(AbstractRunner):
    """Runs every cell of a nested sweep from one simulation of (max m, max T) per replicate,
    fitting each cell from windows of it with (m, T) as run-time values, a block of replicates
    at a time within the memory budget: one simulation program and one fit program per
    remainder class of T − 1 (mod the time window), whatever R, the number of cells or of
    blocks. With several blocks, each finished block is checkpointed in `out` and a rerun
    resumes after it.

    Supports the nested design of a `homogeneous_markov` model with fit options that work on
    windows (not the recursive estimator, a given `init` array, or a closed form or start that
    only exists on whole data). When not even one batch per device fits the budget, `tj.sweep`
    runs the cells with `tj.PerCell` instead.

    Example:
        >>> import jax, trajax as tj
        >>> res = tj.sweep(tj.TwoStateChain(theta=0.8), m=[10, 20], T=[20], replicates=8,
        ...                key=jax.random.key(0), runner=tj.NestedWindows(), progress=False)
        >>> [t["compilations"] for t in res.timings]  # the simulation and one fit, shared
        [2, 0]
    """

    compiles_per_cell = False

    def __init__(self):
        self._planned = (None, None)

    def _plan(self, spec):
        if self._planned[0] is not spec:
            plan = None
            if spec.design == "nested":
                plan = plan_windows(spec.model, spec.m, spec.T, spec.fit_options)
            self._planned = (spec, plan)
        return self._planned[1]

    def supports(self, spec) -> bool:
        return self._plan(spec) is not None

    # ---- sizes -------------------------------------------------------------------------------
    def _setup(self, spec, execution) -> None:
        self.spec, self.execution, self.plan = spec, execution, self._plan(spec)
        self.batch, self.budget, self.devices = execution.batch, execution.budget, list(execution.devices)
        self.m_max, self.T_max = max(spec.m), max(spec.T)
        self.slots = len(self.devices) * jax.process_count()  # devices of all processes
        self.data_bytes = self.m_max * state_bytes(spec.model, self.T_max)  # one replicate's simulation
        self.simulation_batch = _execution.simulation_batch(self.batch, self.data_bytes, self.devices)
        self.per_device = execution.block if execution.block is not None else self._block_from_data()
        self.simulation, self.fits = None, {}
        self.memory = 0  # the working set per device, as measured (bytes)
        self.compilations = 0  # programs compiled by `prepare`, discarded ones included

    def _fit_block(self, room: int) -> int:
        """The largest block (multiple of batch, at most all replicates) whose data fit `room`
        bytes per device: one block resident when one block holds every replicate, else two.
        On the CPU, also at most `_CPU_BLOCK_BYTES` of data per device (at least one batch)."""
        total = self.spec.stop - self.spec.first
        whole = min(replicates_per_device(total, self.batch, len(self.devices)), self._cpu_cap())
        if whole * self.data_bytes <= room and whole * self.slots >= total:
            return whole
        return min(whole, (room // (2 * self.data_bytes)) // self.batch * self.batch)

    def _cpu_cap(self) -> int:
        """Replicates per device per block on the CPU: as many batches as keep a block's data
        within `_CPU_BLOCK_BYTES`, at least one. Smaller blocks let the next block's simulation
        run beside this block's fits and reuse memory already faulted in: the main job of
        benchmarks/bench_scaling.py ran faster with blocks of 16 replicates per device than of
        32 (interleaved pairs, the same bits), its working set halved. Accelerators have no cap."""
        if not on_cpu(self.devices):
            return 1 << 62
        return max(1, _execution._CPU_BLOCK_BYTES // (self.batch * max(1, self.data_bytes))) * self.batch

    def _block_from_data(self) -> int:
        """The first guess, before any program is compiled: the data within the budget less a
        reserve of three simulation batches' data for the simulation's temporaries (the random
        bits and noise of one batch: 3.0 batches' data for a Student-t linear system, as XLA
        measured it). The compiled programs' measured temporaries then decide (`prepare`); a
        guess that was too large costs one more compile of the simulation."""
        return self._fit_block(self.budget - 3 * self.simulation_batch * self.data_bytes)

    @property
    def feasible(self) -> bool:
        """Whether one batch per device fits the budget (otherwise the sweep runs per cell)."""
        return self.per_device >= self.batch

    @property
    def num_blocks(self) -> int:
        return -(-(self.spec.stop - self.spec.first) // self.block_replicates)

    @property
    def block_replicates(self) -> int:
        """Replicates per block, over all devices and processes."""
        return self.per_device * self.slots

    def _resident(self) -> int:
        """Bytes of simulated data held per device: the block being fitted, and the next one when
        there are several."""
        return self.per_device * self.data_bytes * (1 if self.num_blocks == 1 else 2)

    # ---- programs ----------------------------------------------------------------------------
    def _indices(self, a: int) -> list:
        """Each local device's replicate indices of the block starting at replicate `a`."""
        return self.execution.indices(self.per_device, a)

    def _simulation_program(self) -> OnDevices:
        model, key, M, T = self.spec.model, self.spec.data_key, self.m_max, self.T_max
        shapes = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((M, *x.shape), x.dtype), trajectory_shapes(model, T)
        )

        def sweep_simulate(indices):
            one = lambda r: simulate(model, jax.random.fold_in(key, r), M, T)
            return map_batches(one, indices, self.simulation_batch, shapes)

        return OnDevices(sweep_simulate, self.devices)

    def _fit_program(self, r: int) -> OnDevices:
        model, plan = self.spec.model, self.plan

        def sweep_fit(data, m, T, info):
            # replicate k's windows are cut from the block in place: slicing a batch of
            # replicates out first copied it whole (all of m_max × T_max, whatever the cell)
            fit = lambda k: fit_prefix(model, data, m, T, plan, r, replicate=k)
            one = lambda k: replicate_errors(fit(k), model.theta, info, m)
            n = jax.tree.leaves(data)[0].shape[0]
            return map_batches(one, jnp.arange(n, dtype=jnp.int32), self.batch, error_shapes(model.theta))

        return OnDevices(sweep_fit, self.devices)

    def _shared(self, m, T, info):
        return np.int32(m), np.int32(T), info  # NumPy scalars: an eager jnp.int32 compiles a program

    # ---- prepare -----------------------------------------------------------------------------
    def prepare(self, spec, execution, cells, store) -> bool:
        """Compiles the simulation and the fit programs of the cells' remainder classes (in
        threads, concurrently: XLA compiles outside the GIL, so a second core halves the wait)
        within the budget; False, having run nothing, when not even one batch per device fits
        it. With several blocks, the simulation's temporaries (a batch of noise draws: 300 MB at
        m = T = 512, d = 3) are checked before the fits compile, so a block they push over the
        budget costs one more simulation compile (and the fits' tracing) rather than every
        program's. Nothing runs before every program is compiled: simulating while the fits
        compiled saved no wall time on 2 cores (`make sweep` and the main job at R = 64,
        interleaved runs) and hid part of the run in the compile time."""
        self._setup(spec, execution)
        self.cells, self.store = list(cells), store
        if not self.feasible:  # the data of one batch per device exceed the budget
            return False
        self.saved, self.start = store.partials(self.cells, spec.first, spec.stop)
        remainders = sorted({self.plan.remainder(Ti) for _, Ti in self.cells})
        p = spec.model.theta.shape[0]
        info = np.zeros((p, p), spec.model.theta.dtype)
        self.compile_wall = 0.0

        def attempt(per_device):
            self.per_device = per_device
            tick = time.perf_counter()
            try:
                return self._compile(remainders, info)
            finally:
                self.compile_wall += time.perf_counter() - tick

        def smaller(per_device, memory):
            temp = memory - self._resident()
            self.per_device = min(self._fit_block(self.budget - temp), per_device - self.batch)
            return self.per_device if self.feasible else None

        _, self.memory, _ = shrink_to_budget(attempt, self.per_device, smaller, self.budget)
        if not self.feasible or self.memory > self.budget:
            return False
        self.remainders = remainders
        store.prepare_outputs()  # e.g. the plot's imports, while the blocks run
        return True

    def _compile(self, remainders, info) -> int:
        """Compiles the programs at the current block size; returns the working set per device
        (with several blocks, the resident data and the simulation's temporaries alone when they
        exceed the budget: the fits are then not compiled)."""
        self.simulation = self._simulation_program()
        data = self.simulation.lower(self._indices(self.start)[0])
        fits = {r: self._fit_program(r) for r in remainders}
        with compile_pool(len(remainders) + 1) as pool:
            # traced here, compiled in the threads: tracing must see the caller's JAX settings
            # (an `enable_x64` context is the calling thread's alone)
            simulation = pool.submit(self.simulation.compile)
            self.compilations += 1
            futures = []
            for fit in fits.values():  # traced while the simulation compiles
                fit.lower(data, *self._shared(1, 2, info))
                if self.num_blocks == 1:
                    futures.append(pool.submit(fit.compile))
            if self.num_blocks > 1:
                simulation.result()
                temp = temporaries(self.simulation.compiled, outputs=False)
                if self._resident() + temp > self.budget:
                    return self._resident() + temp
                futures = [pool.submit(fit.compile) for fit in fits.values()]
            simulation.result()
            for future in futures:
                future.result()
        self.fits = fits
        self.compilations += len(fits)
        # the simulation's output is the data block, counted as resident
        temp = max(
            [temporaries(self.simulation.compiled, outputs=False)]
            + [temporaries(fit.compiled) for fit in self.fits.values()]
        )
        return self._resident() + temp

    # ---- run ---------------------------------------------------------------------------------
    def simulate(self, a: int):
        """Dispatches the simulation of the block starting at replicate `a` (not awaited)."""
        return self.simulation(self._indices(a))

    def fit(self, data, m: int, T: int, info):
        """Dispatches the fit of cell (m, T) on a simulated block (not awaited)."""
        return self.fits[self.plan.remainder(T)](data, *self._shared(m, T, info))

    def _first_timings(self) -> tuple[dict, dict]:
        """({cell: compile seconds}, {cell: compilations}). The programs compile concurrently:
        the first cell is charged their wall time, each fit program is counted at the first
        cell that uses it, the simulation and any program compiled again for a smaller block
        at the first cell."""
        todo = self.cells
        compile_s = {cell: 0.0 for cell in todo}
        compile_s[todo[0]] = self.compile_wall
        compilations = {cell: 0 for cell in todo}
        compilations[todo[0]] += self.compilations - len(self.remainders)
        first_of_class = {}
        for cell in todo:
            first_of_class.setdefault(self.plan.remainder(cell[1]), cell)
        for cell in first_of_class.values():
            compilations[cell] += 1
        return compile_s, compilations

    def run(self, informations: Callable[[], dict], progress) -> Iterator[CellOutcome]:
        """Runs the cells block by block. A cell is finished when its last block is fitted, so
        with one block cells finish one by one; with several, each block's per-replicate results
        are checkpointed in the store and a rerun resumes after the last finished block."""
        todo, store, stop = self.cells, self.store, self.spec.stop
        infos = informations()
        pending = {cell: [self.saved[cell]] if cell in self.saved else [] for cell in todo}
        compile_s, compilations = self._first_timings()
        run_s = {cell: 0.0 for cell in todo}
        size = self.block_replicates
        blocks = [(a, min(a + size, stop)) for a in range(self.start, stop, size)]
        data = None
        for k, (a, b) in enumerate(blocks):
            last = k == len(blocks) - 1
            tick = time.perf_counter()
            data = self.simulate(a) if data is None else data
            outs = {(mi, Ti): self.fit(data, mi, Ti, infos[Ti][0]) for mi, Ti in todo}
            data = None if last else self.simulate(blocks[k + 1][0])  # overlaps the gathers
            results = {}
            for cell in todo:
                gathered = gather(jax.block_until_ready(outs.pop(cell)), b - a)
                now = time.perf_counter()
                run_s[cell] += now - tick
                tick = now
                results[cell] = make_block(a, *gathered)
                pending[cell].append(results[cell])
                if last:
                    timing = Timing(*cell, compile_s[cell], run_s[cell], 0, compilations[cell], self.memory,
                                    self.budget, self.num_blocks)  # fmt: skip
                    yield CellOutcome(cell, concatenate_blocks(pending.pop(cell)), timing)
            if not last:
                store.save_partial(a, b, results)
                progress.block(k + 1, len(blocks), a, b, sum(run_s.values()))
        store.remove_partials()
