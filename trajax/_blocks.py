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
each fit is the body of a loop over batches of fixed width `batch` that XLA cannot remove
(`map_batches`), so the results are bit-identical whatever the block size or the number of devices
(tests/test_blocks.py, tests/test_sweep.py).

The memory budget bounds the working set per device as XLA's memory analysis of the compiled
programs reports it: the data block(s) resident (two when there are several blocks: the one
being fitted and the next) plus the larger of the programs' temporaries. The first guess keeps
room for the simulation's temporaries; with several blocks the simulation compiles first and its
measured temporaries fix the block before the fits compile (`NestedBlocks.prepare`); when the
fits' temporaries still push the working set over the budget, the block shrinks and the
programs are compiled again (rare: fit temporaries of the windowed estimator are per window,
small and independent of m). On the CPU a block also holds at most `_CPU_BLOCK_BYTES` of data
per device (at least one batch), whatever the budget allows: smaller blocks overlap better and
reuse memory already faulted in.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import SingleDeviceSharding

from ._results import RESULTS, result_code
from ._simulate import simulate, trajectory_shapes
from ._stats import Z95
from ._windows import fit_prefix

__all__ = [
    "NestedBlocks",
    "OnDevices",
    "working_set",
    "state_bytes",
    "map_batches",
    "gather",
    "share_devices",
]


def state_bytes(model, T) -> int:
    """Bytes of one simulated trajectory of T states."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(trajectory_shapes(model, T)))


def _memory_stats(compiled):
    """XLA's memory analysis of `compiled` (None where the backend does not report it)."""
    try:
        return compiled.memory_analysis()
    except Exception:  # noqa: BLE001 — some backends do not implement it
        return None


def working_set(compiled) -> int:
    """Bytes one device needs to run `compiled`: its arguments, outputs and temporaries (XLA's
    memory analysis; 0 where the backend does not report it)."""
    stats = _memory_stats(compiled)
    if stats is None:
        return 0
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)


def temporaries(compiled, outputs: bool = True) -> int:
    """Temporary (and, with `outputs`, output) bytes per device of `compiled` (XLA's memory
    analysis; 0 if unreported)."""
    stats = _memory_stats(compiled)
    if stats is None:
        return 0
    return int(stats.temp_size_in_bytes + (stats.output_size_in_bytes if outputs else 0))


def map_batches(fn, xs, batch: int, out_shapes=None):
    """`fn` over the leading axis of `xs`, `batch` at a time (vmapped), in a loop that XLA keeps.

    Like `lax.map(fn, xs, batch_size=batch)`, except that the loop's trip count passes through an
    optimisation barrier: XLA inlines a loop it knows runs once, and the code it then compiles can
    round differently from the loop body's. Here a device holding one batch runs the same loop as
    a device holding many. The leading axis must be a multiple of `batch` (the sweeps pad it so).
    `out_shapes`, the shapes of `fn`'s output for one item (`jax.ShapeDtypeStruct` leaves), saves
    tracing `fn` a second time to find them (`make sweep`'s fit program: 0.47 → 0.41 s to lower)."""
    n = jax.tree.leaves(xs)[0].shape[0]
    if n % batch:
        raise ValueError(f"batch: {n} replicates are not a multiple of the batch width {batch}")
    count = n // batch
    batched = jax.tree.map(lambda x: x.reshape(count, batch, *x.shape[1:]), xs)
    vfn = jax.vmap(fn)
    if out_shapes is None:
        out_shapes = jax.eval_shape(fn, jax.tree.map(lambda x: x[0, 0], batched))
    out = jax.tree.map(lambda s: jnp.zeros((count, batch, *s.shape), s.dtype), out_shapes)

    def body(i, out):
        y = vfn(jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), batched))
        return jax.tree.map(lambda o, v: jax.lax.dynamic_update_index_in_dim(o, v, i, 0), out, y)

    out = jax.lax.fori_loop(0, jax.lax.optimization_barrier(jnp.int32(count)), body, out)
    return jax.tree.map(lambda o: o.reshape(n, *o.shape[2:]), out)


def compiler_options(device) -> dict | None:
    """XLA options for a sweep program on `device`. On the CPU, XLA's older loop emitters instead
    of its fusion emitters: they compile a windowed fit program faster, for a run about 10% longer
    (`make sweep`: compile 1.3 s against 1.7 s, run 2.8 s against 2.6 s, 5.6 s end to end against
    5.9 s; the main job at 256 replicates: 10.9 s against 10.3 s; `benchmarks/bench_compile.py`,
    results in benchmarks/results/compile_options.json). For sweeps that run longer than about
    ten seconds, `TRAJAX_CPU_FUSION_EMITTERS=1` in the environment keeps XLA's default. Both gave
    the same cells.csv on the shipped configs, but they may order floating-point operations
    differently, so their numbers are only promised to agree to rounding (each alone is
    deterministic)."""
    if device.platform != "cpu" or os.environ.get("TRAJAX_CPU_FUSION_EMITTERS", "") not in ("", "0"):
        return None
    return {"xla_cpu_use_fusion_emitters": False}


class OnDevices:
    """`fn(local, *shared)` run on every device at once: `local` is the device's own share of the
    replicates, `shared` the same on every device.

    Every share runs the same single-device program, rather than one SPMD program over a mesh
    (`shard_map`, `pmap`): XLA compiles a partitioned module through other passes, and its results
    differed from one device's in the last bit (measured: 9 of 128 θ̂ of a Student-t linear
    system). So a replicate's numbers are the same, bit for bit, on 1 or n devices and in any
    process (tests/test_sweep.py).

    CPU devices share the host's cores and memory, so on the CPU the program is compiled once
    and every share runs on the first device, each dispatched from its own worker thread: XLA
    runs executions dispatched from different threads concurrently (from one thread, in order),
    so n CPU devices keep n cores busy for the compile time of one. Accelerators each compile
    their own copy (in threads: XLA compiles outside the GIL) and run their own share."""

    def __init__(self, fn, devices):
        self.jitted = jax.jit(fn)
        self.devices = list(devices)
        self.homes = share_devices(self.devices)  # where each share lives and runs
        self.targets = list(dict.fromkeys(self.homes))  # one compile per distinct device
        self.lowered: list = []
        self.executables: dict = {}

    def lower(self, local, *shared):
        """Traces and lowers for every target device from the shapes of one share's `local` and of
        `shared` (arrays or `jax.ShapeDtypeStruct`s); returns the shapes of one share's outputs."""

        def lower(device):
            where = SingleDeviceSharding(device)
            spec = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=where)
            return self.jitted.lower(*jax.tree.map(spec, (local, *shared)))

        self.lowered = [lower(device) for device in self.targets]  # one trace serves every device
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), self.lowered[0].out_info)

    def compile(self, local=None, *shared) -> float:
        """Compiles for every target device (lowering first from `local` and `shared` unless
        `lower` ran), the devices' compiles in threads; returns the wall seconds."""
        start = time.perf_counter()
        if local is not None:
            self.lower(local, *shared)
        options = [compiler_options(device) for device in self.targets]
        with ThreadPoolExecutor(max_workers=len(self.targets)) as pool:
            executables = list(pool.map(lambda lo, opt: lo.compile(opt), self.lowered, options))
        self.executables = dict(zip(self.targets, executables, strict=True))
        self.lowered = []
        return time.perf_counter() - start

    def __call__(self, locals_: list, *shared) -> list:
        """Dispatches share i's run on `locals_[i]` (not awaited), each share from its worker
        thread; returns the shares' outputs."""
        placed = {device: jax.device_put(shared, device) for device in self.targets}

        def run(i):
            home = self.homes[i]
            return self.executables[home](locals_[i], *placed[home])

        if len(self.homes) == 1:
            return [run(0)]
        futures = [_worker(i).submit(run, i) for i in range(len(self.homes))]
        return [future.result() for future in futures]

    @property
    def compiled(self):
        """One share's executable (all run the same program, hence the same memory analysis)."""
        return self.executables[self.targets[0]]


def on_cpu(devices) -> bool:
    """Whether every device is a CPU device (they then share the host's cores and memory)."""
    return all(device.platform == "cpu" for device in devices)


def share_devices(devices) -> list:
    """The device each share of the replicates lives and runs on: every CPU device's share on the
    first CPU device (one compile for all, see `OnDevices`), an accelerator's on itself."""
    devices = list(devices)
    if on_cpu(devices):
        return [devices[0]] * len(devices)
    return devices


_WORKERS: list = []
_WORKERS_LOCK = threading.Lock()


def _worker(i: int) -> ThreadPoolExecutor:
    """Share i's dispatch thread (one per share, kept for the process: what a thread dispatches
    runs in order, the threads' work concurrently)."""
    with _WORKERS_LOCK:  # sweeps started from several threads share the workers
        while len(_WORKERS) <= i:
            name = f"trajax-share-{len(_WORKERS)}"
            _WORKERS.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=name))
        return _WORKERS[i]


def replicates_per_device(replicates: int, batch: int, num_devices: int) -> int:
    """Replicates per device for `replicates` over the local devices of every process: an even
    share, rounded up to a multiple of `batch` (the last devices' padding is dropped)."""
    return -(-replicates // (jax.process_count() * num_devices * batch)) * batch


def replicate_indices(per_device: int, devices, offset: int = 0) -> list:
    """Each device's replicate indices: `per_device` contiguous indices from `offset`, device i
    of process p taking share p·(local devices) + i."""
    first = jax.process_index() * len(devices)  # global index of this process's first device
    # NumPy, not jnp: an eager jnp op compiles a small program on first use (0.1 s on the CPU)
    starts = [offset + (first + i) * per_device for i in range(len(devices))]
    return [
        jax.device_put(np.arange(start, start + per_device, dtype=np.uint32), device)
        for start, device in zip(starts, devices, strict=True)
    ]


def gather(outs: list, replicates: int) -> list:
    """The devices' per-replicate outputs (one tuple per device) → host arrays over all replicates
    of all processes, in replicate order (leading axis; θ̂ keeps its trailing (p,) axis)."""
    results = [np.concatenate([np.asarray(out[k]) for out in outs]) for k in range(len(outs[0]))]
    if jax.process_count() > 1:  # every process gets every replicate, in global device order
        results = [np.asarray(process_allgather(r)).reshape(-1, *r.shape[1:]) for r in results]
    return [r[:replicates] for r in results]


def error_shapes(theta_star):
    """Shapes of `_replicate_errors`' output for one replicate (for `map_batches`)."""
    scalar = jax.ShapeDtypeStruct((), theta_star.dtype)
    code = jax.ShapeDtypeStruct((), result_code(RESULTS.successful).dtype)
    return scalar, scalar, code, scalar, jax.ShapeDtypeStruct(theta_star.shape, theta_star.dtype)


def _replicate_errors(result, theta_star, info, m):
    """One replicate's (‖Δ‖², m·ΔᵀI_TΔ, result code, Wald coverage, θ̂), Δ = θ̂ − θ* (m a Python
    or traced int); the Wald coverage is the fraction of coordinates with |Δ_j| ≤ 1.96·stderr_j
    (observed information; NaN stderr counts as not covered); θ̂ has shape (p,)."""
    delta = result.theta - theta_star
    stat = jnp.asarray(m, delta.dtype) * delta @ info @ delta
    wald = jnp.mean((jnp.abs(delta) <= Z95 * result.stderr).astype(delta.dtype))
    return jnp.sum(delta**2), stat, result_code(result.result), wald, result.theta


_SIMULATION_BATCH_BYTES = 8 * 2**20
_CPU_BLOCK_BYTES = 128 * 2**20  # data of one block per device on the CPU (`NestedBlocks._cpu_cap`)


def simulation_batch(batch: int, data_bytes: int, devices) -> int:
    """Replicates a nested sweep simulates at once (the vmap width of its simulation program).

    On the CPU, the largest divisor of `batch` whose data (`data_bytes` a replicate) stay within
    8 MiB, at least 1: the simulation draws a batch's noise before it runs the recursion, so
    its temporaries are a few times the batch's data, and wide batches of large replicates
    only add memory to fault in and to carry through the caches. The main job of
    benchmarks/bench_scaling.py (6.3 MB a replicate, R = 64): peak RSS 1.32 → 0.75 GB, system
    time 1.7 → 0.5 s, end to end 5.4–6.1 → 4.9 s with 1 replicate at a time instead of 16.
    Accelerators take `batch`: they need the parallel work, and their memory is their own.
    A deterministic function of the configuration (never of the devices' number or the
    budget), so a sweep's numbers do not depend on how it runs."""
    if not on_cpu(devices):
        return batch
    fits = max(1, _SIMULATION_BATCH_BYTES // max(1, data_bytes))
    return max(d for d in range(1, batch + 1) if batch % d == 0 and d <= fits)


class NestedBlocks:
    """Every cell of a nested sweep, from one simulation per replicate, a block of replicates at
    a time (see the module docstring).

    Args:
        model, plan: the true model and the `WindowPlan` of the grid.
        data_key: replicate r's data use `fold_in(data_key, r)`.
        m_max, T_max: the simulation's size (the largest cell).
        first, stop: the replicates [first, stop) to run (a job-array shard's share).
        batch: replicates vmapped at once by the fits (the `map_batches` width); the simulation
            takes `simulation_batch` of them at a time.
        devices: the local devices; each runs the programs on its share of a block (`OnDevices`).
        budget: working-set bytes per device (data resident + the programs' temporaries).
        block: replicates per device per block (a multiple of `batch`); None chooses the largest
            that fits `budget`.
    """

    def __init__(self, model, plan, data_key, m_max, T_max, first, stop, batch, devices, budget, block=None):
        self.model, self.plan, self.data_key = model, plan, data_key
        self.m_max, self.T_max, self.first, self.stop = m_max, T_max, first, stop
        self.batch, self.budget = batch, budget
        self.devices = list(devices)
        self.slots = len(devices) * jax.process_count()  # devices of all processes
        self.data_bytes = m_max * state_bytes(model, T_max)  # one replicate's simulation
        self.simulation_batch = simulation_batch(batch, self.data_bytes, self.devices)
        self.per_device = block if block is not None else self._block_from_data()
        self.simulation = None
        self.fits: dict[int, object] = {}
        self.memory = 0  # the working set per device, as measured (bytes)
        self.compilations = 0  # programs compiled by `prepare`, discarded ones included

    # ---- sizes -------------------------------------------------------------------------------
    def _fit_block(self, room: int) -> int:
        """The largest block (multiple of batch, at most all replicates) whose data fit `room`
        bytes per device: one block resident when one block holds every replicate, else two.
        On the CPU, also at most `_CPU_BLOCK_BYTES` of data per device (at least one batch)."""
        whole = min(
            replicates_per_device(self.stop - self.first, self.batch, len(self.devices)), self._cpu_cap()
        )
        if whole * self.data_bytes <= room and whole * self.slots >= self.stop - self.first:
            return whole
        return min(whole, (room // (2 * self.data_bytes)) // self.batch * self.batch)

    def _cpu_cap(self) -> int:
        """Replicates per device per block on the CPU: as many batches as keep a block's data
        within `_CPU_BLOCK_BYTES`, at least one. Smaller blocks let the next block's simulation
        run beside this block's fits and reuse memory already faulted in: the main job of
        benchmarks/bench_scaling.py (6.3 MB a replicate) ran its fits and simulations 7-8% faster
        with blocks of 16 replicates per device than of 32 (R = 64 and 256, interleaved pairs,
        the same bits; equal at R = 1024), its working set halved. Accelerators have no cap."""
        if not on_cpu(self.devices):
            return 1 << 62
        return max(1, _CPU_BLOCK_BYTES // (self.batch * max(1, self.data_bytes))) * self.batch

    def _block_from_data(self) -> int:
        """The first guess, before any program is compiled: the data within the budget less a
        reserve of three simulation batches' data for the simulation's temporaries (the random
        bits and noise of one batch: 3.0 batches' data for a Student-t linear system, as XLA
        measured it).
        The compiled programs' measured temporaries then decide (`prepare`); a guess that was
        too large costs one more compile of the simulation."""
        return self._fit_block(self.budget - 3 * self.simulation_batch * self.data_bytes)

    @property
    def feasible(self) -> bool:
        """Whether one batch per device fits the budget (otherwise the sweep runs per cell)."""
        return self.per_device >= self.batch

    @property
    def num_blocks(self) -> int:
        return -(-(self.stop - self.first) // self.block_replicates)

    @property
    def block_replicates(self) -> int:
        """Replicates per block, over all devices and processes."""
        return self.per_device * self.slots

    # ---- programs ----------------------------------------------------------------------------
    def _indices(self, a: int) -> list:
        """Each local device's replicate indices of the block starting at replicate `a`."""
        return replicate_indices(self.per_device, share_devices(self.devices), a)

    def _simulation_program(self) -> OnDevices:
        model, key, M, T = self.model, self.data_key, self.m_max, self.T_max
        shapes = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((M, *x.shape), x.dtype), trajectory_shapes(model, T)
        )

        def sweep_simulate(indices):
            one = lambda r: simulate(model, jax.random.fold_in(key, r), M, T)
            return map_batches(one, indices, self.simulation_batch, shapes)

        return OnDevices(sweep_simulate, self.devices)

    def _fit_program(self, r: int) -> OnDevices:
        model, plan = self.model, self.plan

        def sweep_fit(data, m, T, info):
            # replicate k's windows are cut from the block in place: slicing a batch of
            # replicates out first copied it whole (all of m_max × T_max, whatever the cell)
            fit = lambda k: fit_prefix(model, data, m, T, plan, r, replicate=k)
            one = lambda k: _replicate_errors(fit(k), model.theta, info, m)
            n = jax.tree.leaves(data)[0].shape[0]
            return map_batches(one, jnp.arange(n, dtype=jnp.int32), self.batch, error_shapes(model.theta))

        return OnDevices(sweep_fit, self.devices)

    def prepare(self, remainders, info, start: int | None = None) -> float:
        """Compiles the simulation and the fit programs of the remainder classes `remainders`
        (in worker threads, concurrently: XLA compiles outside the GIL, so a second core halves
        the wait) and checks the working set against the budget: when over it, the block
        shrinks and the programs are compiled again. The fits are traced while the simulation
        compiles. With several blocks, the simulation's temporaries (a batch of noise draws:
        300 MB at m = T = 512, d = 3) are checked before the fits compile, so a block they push
        over the budget costs one more simulation compile (and the fits' tracing) rather than
        every program's. Returns the wall seconds spent
        compiling; after it `feasible` says whether nested blocks honour the budget at all.
        Nothing runs before every program is compiled: simulating while the fits compiled saved
        no wall time on 2 cores (`make sweep` and the main job at R = 64, interleaved runs) and
        hid part of the run in the compile time. `start` (default `first`) is the first
        replicate to run (a resumed sweep starts after its checkpoints)."""
        start = self.first if start is None else start
        total = 0.0
        while True:
            tick = time.perf_counter()
            self.simulation = self._simulation_program()
            data = self.simulation.lower(self._indices(start)[0])
            fits = {r: self._fit_program(r) for r in remainders}
            with ThreadPoolExecutor(max_workers=len(remainders) + 1) as pool:
                # traced here, compiled in the threads: tracing must see the caller's JAX
                # settings (an `enable_x64` context is the calling thread's alone)
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
                        total += time.perf_counter() - tick
                        if not self._shrink(temp):
                            return total
                        continue
                    futures = [pool.submit(fit.compile) for fit in fits.values()]
                simulation.result()
                for future in futures:
                    future.result()
            self.fits = fits
            self.compilations += len(fits)
            total += time.perf_counter() - tick
            # the simulation's output is the data block, counted as resident
            temp = max(
                [temporaries(self.simulation.compiled, outputs=False)]
                + [temporaries(fit.compiled) for fit in self.fits.values()]
            )
            self.memory = self._resident() + temp
            if self.memory <= self.budget:
                return total
            if not self._shrink(temp):
                return total

    def _resident(self) -> int:
        """Bytes of simulated data held per device: the block being fitted, and the next one when
        there are several."""
        return self.per_device * self.data_bytes * (1 if self.num_blocks == 1 else 2)

    def _shrink(self, temp: int) -> bool:
        """Shrinks the block so that its data and `temp` bytes of temporaries fit the budget;
        returns `feasible` (False: not even one batch per device, the sweep runs per cell)."""
        self.per_device = min(self._fit_block(self.budget - temp), self.per_device - self.batch)
        return self.feasible

    def _shared(self, m, T, info):
        return np.int32(m), np.int32(T), info  # NumPy scalars: an eager jnp.int32 compiles a program

    def simulate(self, a: int):
        """Dispatches the simulation of the block starting at replicate `a` (not awaited)."""
        return self.simulation(self._indices(a))

    def fit(self, data, m: int, T: int, info):
        """Dispatches the fit of cell (m, T) on a simulated block (not awaited)."""
        r = self.plan.remainder(T)
        return self.fits[r](data, *self._shared(m, T, info))
