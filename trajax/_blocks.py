"""Nested sweeps over blocks of replicates, within a memory budget.

`NestedBlocks` runs every cell of a nested sweep from one simulation of (max m, max T) per
replicate, fitting each cell from windows of it (`fit_prefix`, with (m, T) as run-time values).
The replicates are taken a *block* at a time: simulate a block whose data fit the budget, fit
every cell from it, keep the per-replicate results, go on to the next. All blocks have the same
shape (the last is padded), so one simulation program and one fit program per remainder class
serve every block and every cell: the number of compilations does not depend on R or on the
number of blocks. Block k + 1 is dispatched before block k's results are read back, so the host
gathers and writes while the devices compute.

Replicate r's data are `simulate(model, fold_in(data_key, r), M, T)` whatever block holds it, and
each fit is the body of a `lax.map` of fixed width `batch`, so the results are bit-identical
whatever the block size (tests/test_blocks.py).

The memory budget bounds the working set per device as XLA's memory analysis of the compiled
programs reports it: the data block(s) resident (two when there are several blocks: the one
being fitted and the next) plus the larger of the programs' temporaries. The block size is first
chosen from the data alone; when the compiled programs' temporaries push the working set over
the budget, the block shrinks and the programs are compiled again (rare: fit temporaries of the
windowed estimator are per window, small and independent of m).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._simulate import simulate, trajectory_shapes
from ._windows import fit_prefix

__all__ = ["NestedBlocks", "working_set", "state_bytes"]


def state_bytes(model, T) -> int:
    """Bytes of one simulated trajectory of T states."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(trajectory_shapes(model, T)))


def working_set(compiled) -> int:
    """Bytes one device needs to run `compiled`: its arguments, outputs and temporaries (XLA's
    memory analysis; 0 where the backend does not report it)."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 — some backends do not implement it
        return 0
    if stats is None:
        return 0
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)


def temporaries(compiled, outputs: bool = True) -> int:
    """Temporary (and, with `outputs`, output) bytes per device of `compiled` (XLA's memory
    analysis; 0 if unreported)."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001
        return 0
    if stats is None:
        return 0
    return int(stats.temp_size_in_bytes + (stats.output_size_in_bytes if outputs else 0))


def compile_timed(program, *args):
    """(AOT executable, seconds spent lowering and compiling it)."""
    start = time.perf_counter()
    compiled = program.lower(*args).compile()
    return compiled, time.perf_counter() - start


def over_replicas(local_fn, mesh, in_specs):
    """`local_fn` (one device's share of replicates) as one program over the local devices'
    mesh (`shard_map`): compiled once for all devices, and measured bit-identical to running
    it on one device (tests/test_sweep.py checks 1 against 2 devices)."""
    mapped = jax.shard_map(local_fn, mesh=mesh, in_specs=in_specs, out_specs=P("replicas"), check_vma=False)
    return jax.jit(mapped)


def replicate_indices(per_device: int, mesh, offset: int = 0):
    """Replicate indices `offset + i`, i < per_device·(devices of all processes), sharded over the
    mesh: each device a contiguous share of `per_device`; in a multi-process run each process's
    devices take the process's share."""
    devices = list(mesh.devices.flat)
    first = jax.process_index() * len(devices)  # global index of this process's first device
    shards = [
        jax.device_put(
            offset + jnp.arange((first + i) * per_device, (first + i + 1) * per_device, dtype=jnp.uint32),
            device,
        )
        for i, device in enumerate(devices)
    ]
    sharding = NamedSharding(mesh, P("replicas"))
    return jax.make_array_from_single_device_arrays((per_device * len(devices),), sharding, shards)


def _replicate_errors(result, theta_star, info, m):
    """One replicate's (‖Δ‖², m·ΔᵀI_TΔ, result code, Wald coverage, θ̂), Δ = θ̂ − θ* (m a Python
    or traced int); the Wald coverage is the fraction of coordinates with |Δ_j| ≤ 1.96·stderr_j
    (observed information; NaN stderr counts as not covered); θ̂ has shape (p,)."""
    from ._results import result_code
    from ._stats import Z95

    delta = result.theta - theta_star
    stat = jnp.asarray(m, delta.dtype) * delta @ info @ delta
    wald = jnp.mean((jnp.abs(delta) <= Z95 * result.stderr).astype(delta.dtype))
    return jnp.sum(delta**2), stat, result_code(result.result), wald, result.theta


class NestedBlocks:
    """Every cell of a nested sweep, from one simulation per replicate, a block of replicates at
    a time (see the module docstring).

    Args:
        model, plan: the true model and the `WindowPlan` of the grid.
        data_key: replicate r's data use `fold_in(data_key, r)`.
        m_max, T_max: the simulation's size (the largest cell).
        first, stop: the replicates [first, stop) to run (a job-array shard's share).
        batch: replicates vmapped at once (the `lax.map` width).
        devices: the local devices; replicates are split over them by `shard_map`.
        budget: working-set bytes per device (data resident + the programs' temporaries).
        block: replicates per device per block (a multiple of `batch`); None chooses the largest
            that fits `budget`.
    """

    def __init__(self, model, plan, data_key, m_max, T_max, first, stop, batch, devices, budget, block=None):
        self.model, self.plan, self.data_key = model, plan, data_key
        self.m_max, self.T_max, self.first, self.stop = m_max, T_max, first, stop
        self.batch, self.budget = batch, budget
        self.mesh = Mesh(np.array(devices), ("replicas",))
        self.slots = len(devices) * jax.process_count()  # devices of all processes
        self.data_bytes = m_max * state_bytes(model, T_max)  # one replicate's simulation
        self.per_device = block if block is not None else self._block_from_data()
        self.simulation = None
        self.fits: dict[int, object] = {}
        self.memory = 0  # the working set per device, as measured (bytes)

    # ---- sizes -------------------------------------------------------------------------------
    def _replicates_per_device(self) -> int:
        """Replicates per device to hold all of [first, stop) at once (a multiple of batch)."""
        return -(-(self.stop - self.first) // (self.slots * self.batch)) * self.batch

    def _blocks_for(self, per_device: int) -> int:
        return -(-(self.stop - self.first) // (per_device * self.slots))

    def _fit_block(self, room: int) -> int:
        """The largest block (multiple of batch, at most all replicates) whose data fit `room`
        bytes per device: one block resident when one block holds every replicate, else two."""
        whole = self._replicates_per_device()
        if whole * self.data_bytes <= room:
            return whole
        return min(whole, (room // (2 * self.data_bytes)) // self.batch * self.batch)

    def _block_from_data(self) -> int:
        return self._fit_block(self.budget)

    @property
    def feasible(self) -> bool:
        """Whether one batch per device fits the budget (otherwise the sweep runs per cell)."""
        return self.per_device >= self.batch

    @property
    def num_blocks(self) -> int:
        return self._blocks_for(self.per_device)

    @property
    def block_replicates(self) -> int:
        """Replicates per block, over all devices and processes."""
        return self.per_device * self.slots

    def blocks(self) -> list[tuple[int, int]]:
        """The blocks' replicate ranges [a, b) covering [first, stop)."""
        size = self.block_replicates
        return [(a, min(a + size, self.stop)) for a in range(self.first, self.stop, size)]

    # ---- programs ----------------------------------------------------------------------------
    def _indices(self, a: int):
        return replicate_indices(self.per_device, self.mesh, a)

    def _simulation_program(self):
        model, key, M, T = self.model, self.data_key, self.m_max, self.T_max
        one = lambda r: simulate(model, jax.random.fold_in(key, r), M, T)

        def sweep_simulate(indices):
            return jax.lax.map(one, indices, batch_size=self.batch)

        return over_replicas(sweep_simulate, self.mesh, P("replicas"))

    def _fit_program(self, r: int):
        model, plan = self.model, self.plan

        def one(data, m, T, info):
            return _replicate_errors(fit_prefix(model, data, m, T, plan, r), model.theta, info, m)

        def sweep_fit(data, m, T, info):
            return jax.lax.map(lambda d: one(d, m, T, info), data, batch_size=self.batch)

        return over_replicas(sweep_fit, self.mesh, (P("replicas"), P(), P(), P()))

    def _sharded(self, x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=NamedSharding(self.mesh, P("replicas")))

    def _fit_args(self, data, m, T, info):
        replicated = NamedSharding(self.mesh, P())
        return (data, *jax.device_put((jnp.int32(m), jnp.int32(T), info), replicated))

    def prepare(self, remainders, info, start: int | None = None) -> float:
        """Compiles the simulation and the fit programs of the remainder classes `remainders`
        (the fits in worker threads, concurrently with the simulation: XLA compiles outside the
        GIL, so a second core halves the wait), dispatches the simulation of the block starting
        at replicate `start` as soon as its program exists (so the devices simulate while the
        fits compile), and checks the working set against the budget: when over it, the block
        shrinks and the programs are compiled again. Returns the wall seconds spent compiling;
        after it `feasible` says whether nested blocks honour the budget at all, and
        `first_block` holds the (pending) data of the block at `start` (default `first`; a
        resumed sweep starts after its checkpoints)."""
        start = self.first if start is None else start
        total = 0.0
        while True:
            tick = time.perf_counter()
            program = self._simulation_program()
            data = jax.tree.map(self._sharded, jax.eval_shape(program, self._indices(start)))
            args = self._fit_args(data, 1, 2, info)
            with ThreadPoolExecutor(max_workers=max(1, len(remainders))) as pool:
                futures = {r: pool.submit(compile_timed, self._fit_program(r), *args) for r in remainders}
                self.simulation, _ = compile_timed(program, self._indices(start))
                self.first_block = self.simulation(self._indices(start)) if start < self.stop else None
                self.fits = {r: future.result()[0] for r, future in futures.items()}
            total += time.perf_counter() - tick
            resident = self.per_device * self.data_bytes * (1 if self.num_blocks == 1 else 2)
            # the simulation's output is the data block, counted as resident
            temp = max([temporaries(self.simulation, outputs=False), *map(temporaries, self.fits.values())])
            self.memory = resident + temp
            if self.memory <= self.budget:
                return total
            self.first_block = None
            self.per_device = min(self._fit_block(self.budget - temp), self.per_device - self.batch)
            if not self.feasible:  # not even one batch per device: the sweep runs per cell
                return total

    def simulate(self, a: int):
        """Dispatches the simulation of the block starting at replicate `a` (not awaited)."""
        return self.simulation(self._indices(a))

    def fit(self, data, m: int, T: int, info):
        """Dispatches the fit of cell (m, T) on a simulated block (not awaited)."""
        r = self.plan.remainder(T)
        return self.fits[r](*self._fit_args(data, m, T, info))
