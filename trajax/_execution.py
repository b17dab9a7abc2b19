"""Everything that places work: devices and their shares of the replicates, replicate indices,
gathers, the dispatch and compile threads (the only module of trajax that starts threads), XLA's
compiler options, `map_batches`, the memory budget and the one loop that shrinks a program's
size until its working set fits the budget (`shrink_to_budget`, used by both runners).

`Execution` holds how a sweep runs (devices, batch width, memory budget, block policy): none of it
changes a number, so none of it is part of the sweep's fingerprint (`SweepSpec`).

Every share of the replicates runs the same single-device program (`OnDevices`), so results do
not depend on the device count, bit for bit. Multi-host: after `jax.distributed.initialize`, each
process takes a contiguous share of the replicates on its local devices; per-replicate results
are gathered with `process_allgather`, so every process gets the same arrays.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import SingleDeviceSharding

from ._checks import check_int
from ._simulate import trajectory_shapes

__all__ = [
    "Execution",
    "OnDevices",
    "working_set",
    "temporaries",
    "state_bytes",
    "map_batches",
    "gather",
    "share_devices",
    "replicate_indices",
    "replicates_per_device",
    "shrink_to_budget",
    "background",
    "compile_pool",
    "start_daemon",
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
    tracing `fn` a second time to find them (a shorter lowering of every sweep's fit program)."""
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
    of its fusion emitters: they compile a windowed fit program faster, for a somewhat longer
    run, a trade that favours short sweeps such as `make sweep` (docs/performance.md has the
    figures, from `benchmarks/bench_compile.py`). For long sweeps,
    `TRAJAX_CPU_FUSION_EMITTERS=1` in the environment keeps XLA's default. Both gave
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


_SIMULATION_BATCH_BYTES = 8 * 2**20
_CPU_BLOCK_BYTES = 128 * 2**20  # data of one block per device on the CPU (`NestedWindows._cpu_cap`)


def simulation_batch(batch: int, data_bytes: int, devices) -> int:
    """Replicates a nested sweep simulates at once (the vmap width of its simulation program).

    On the CPU, the largest divisor of `batch` whose data (`data_bytes` a replicate) stay within
    8 MiB, at least 1: the simulation draws a batch's noise before it runs the recursion, so
    its temporaries are a few times the batch's data, and wide batches of large replicates
    only add memory to fault in and to carry through the caches (the main job's peak memory,
    system time and wall time all fell with one replicate at a time instead of 16).
    Accelerators take `batch`: they need the parallel work, and their memory is their own.
    A deterministic function of the configuration (never of the devices' number or the
    budget), so a sweep's numbers do not depend on how it runs."""
    if not on_cpu(devices):
        return batch
    fits = max(1, _SIMULATION_BATCH_BYTES // max(1, data_bytes))
    return max(d for d in range(1, batch + 1) if batch % d == 0 and d <= fits)


@dataclass(frozen=True)
class Execution:
    """How a sweep runs; nothing here changes a number (see `tj.sweep`'s `batch_size`,
    `devices`, `max_cell_bytes`).

    devices: the local devices the replicates are shared over (each runs the same program).
    batch: replicates vmapped at once on each device (the `map_batches` width, >= 2).
    budget: the working-set bytes per device (`max_cell_bytes`, split between CPU devices).
    max_cell_bytes: the budget as the caller gave it (all devices together).
    block: replicates per device per block of a nested sweep (a multiple of `batch`); None
        (default) takes the largest block that fits the budget.
    """

    devices: tuple
    batch: int = 16
    budget: int = 1 << 30
    max_cell_bytes: int = 1 << 30
    block: int | None = None

    @classmethod
    def build(
        cls, devices=None, batch_size: int = 16, max_cell_bytes: int = 1 << 30, block=None
    ) -> Execution:
        """Checks the arguments (one-line ValueError naming them) and resolves the defaults:
        every local device, the budget split evenly between CPU devices (which share the
        host's memory)."""
        batch = check_int(batch_size, "batch_size", 2)  # width 1 vmaps compile differently
        devices = tuple(devices) if devices is not None else tuple(jax.local_devices())
        total = check_int(max_cell_bytes, "max_cell_bytes", 1)
        budget = total // len(devices) if on_cpu(devices) else total
        return cls(devices, batch, budget, max_cell_bytes, block)

    @property
    def lead(self) -> bool:
        """Whether this process writes and reports (process 0 of a multi-process run)."""
        return jax.process_index() == 0

    def indices(self, per_device: int, offset: int) -> list:
        """Each local device's `per_device` replicate indices from `offset` (`replicate_indices`)."""
        return replicate_indices(per_device, share_devices(self.devices), offset)


def shrink_to_budget(attempt: Callable, size, smaller: Callable, budget: int, tries: int | None = None):
    """The one loop that fits a program to the memory budget, for both runners.

    `attempt(size)` compiles the program(s) at `size` and returns the working set it measured
    (bytes per device); while that exceeds `budget`, `smaller(size, memory)` gives the next size
    to try (None: nothing smaller helps) and the loop compiles again, at most `tries` times in
    all. Returns (size, memory, attempts): the last size compiled and its working set (above the
    budget when nothing smaller fitted)."""
    attempts = 0
    while True:
        memory = attempt(size)
        attempts += 1
        if memory <= budget or (tries is not None and attempts >= tries):
            return size, memory, attempts
        following = smaller(size, memory)
        if following is None:
            return size, memory, attempts
        size = following


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def warn_over_budget(memory: int, budget: int, what: str) -> None:
    """Warns that `what` runs with a working set above the budget (nothing smaller fitted)."""
    if memory > budget:
        warnings.warn(
            f"max_cell_bytes: {what} needs {_mib(memory)} per device at the smallest size trajax "
            f"tried (fewer trajectories streamed at a time), above the budget of {_mib(budget)} per "
            "device; it ran at that size (a smaller batch_size lowers it)",
            stacklevel=5,
        )


# ---- threads: every thread trajax starts is started here --------------------------------------
_BACKGROUND: list = []
_BACKGROUND_LOCK = threading.Lock()


def background() -> ThreadPoolExecutor:
    """A thread for compiles that need not wait for the caller (created once, kept)."""
    with _BACKGROUND_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="trajax-compile"))
        return _BACKGROUND[0]


def compile_pool(workers: int) -> ThreadPoolExecutor:
    """Threads for compiles that run concurrently (XLA compiles outside the GIL); a context
    manager that waits for them."""
    return ThreadPoolExecutor(max_workers=workers)


def start_daemon(target: Callable, name: str) -> threading.Thread:
    """Runs `target` in a daemon thread (work the process need not wait for, e.g. imports)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
