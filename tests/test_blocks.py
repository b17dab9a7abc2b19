"""Nested sweeps over blocks of replicates: bit-identical results whatever the block size,
compilations independent of R and of the number of blocks, the measured working set within the
budget, and resumption after an interruption between blocks."""

import jax
import pytest

import trajax as tj
from trajax import _execution
from trajax._execution import state_bytes
from trajax._runners._nested import NestedWindows

LDS = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
GRID = dict(m=[4, 8], T=[9, 20], batch_size=4, progress=False)


def _budget_for(result, replicates_per_device: int) -> int:
    """The per-device budget holding `replicates_per_device` replicates per block (two blocks
    resident) beside the programs' temporaries, read off a one-block run's measured working set."""
    timing = result.timings[0]
    assert timing["blocks"] == 1
    data = max(GRID["m"]) * state_bytes(LDS, max(GRID["T"]))
    whole = -(-len(result.replicates) // len(result.table) // (len(jax.local_devices()) * 4)) * 4
    temporaries = timing["memory_bytes"] - whole * data
    return temporaries + 2 * replicates_per_device * data


def test_blocks_are_bit_identical_and_compile_the_same_programs(key):
    one = tj.sweep(LDS, replicates=24, key=key, **GRID)
    budget = _budget_for(one, 4)
    blocked = tj.sweep(LDS, replicates=24, key=key, max_cell_bytes=budget * len(jax.local_devices()), **GRID)
    timing = blocked.timings[0]
    assert timing["blocks"] >= 3  # 24 replicates, 4 per device per block
    assert timing["memory_bytes"] <= budget == timing["budget_bytes"]  # two blocks + temporaries
    assert blocked.replicates == one.replicates  # θ̂, errors and codes, bit for bit
    assert blocked.table == one.table
    # one simulation + one fit program per remainder class, however many blocks
    assert (
        [t["compilations"] for t in blocked.timings]
        == [t["compilations"] for t in one.timings]
        == [2, 0, 1, 0]
    )


def test_simulation_batch_policy_and_narrow_simulations_are_block_invariant(key, monkeypatch):
    from types import SimpleNamespace

    cpu, gpu = SimpleNamespace(platform="cpu"), SimpleNamespace(platform="gpu")
    mib = 2**20
    # CPU: the largest divisor of the fits' batch whose data stay within 8 MiB, at least 1
    assert _execution.simulation_batch(16, 6 * mib, [cpu, cpu]) == 1  # bench_scaling's main job
    assert _execution.simulation_batch(16, mib // 2, [cpu]) == 16
    assert _execution.simulation_batch(16, 528 * 2**10, [cpu]) == 8  # `make sweep`'s
    assert _execution.simulation_batch(12, 3 * mib, [cpu]) == 2
    assert _execution.simulation_batch(16, 6 * mib, [gpu]) == 16  # accelerators: the fits' batch
    # a simulation narrower than the fits' batch: still the same numbers whatever the blocks
    data = max(GRID["m"]) * state_bytes(LDS, max(GRID["T"]))
    monkeypatch.setattr(_execution, "_SIMULATION_BATCH_BYTES", 2 * data)
    widths, policy = [], _execution.simulation_batch
    monkeypatch.setattr(_execution, "simulation_batch", lambda *a: widths.append(policy(*a)) or widths[-1])
    one = tj.sweep(LDS, replicates=24, key=key, **GRID)
    budget = _budget_for(one, 4) * len(jax.local_devices())
    blocked = tj.sweep(LDS, replicates=24, key=key, max_cell_bytes=budget, **GRID)
    assert widths == [2, 2]  # two replicates simulated at a time, the fits take 4
    assert blocked.timings[0]["blocks"] >= 3
    assert blocked.replicates == one.replicates


def test_cpu_blocks_hold_at_most_the_cap_and_give_the_same_bits(key, monkeypatch):
    # with the default budget every replicate fits one block; a cap of one batch's data per
    # device splits them (two blocks resident), and nothing else changes
    one = tj.sweep(LDS, replicates=24, key=key, **GRID)
    assert one.timings[0]["blocks"] == 1
    data = max(GRID["m"]) * state_bytes(LDS, max(GRID["T"]))
    monkeypatch.setattr(_execution, "_CPU_BLOCK_BYTES", GRID["batch_size"] * data)
    capped = tj.sweep(LDS, replicates=24, key=key, **GRID)
    devices = len(jax.local_devices())
    assert capped.timings[0]["blocks"] == -(-24 // (GRID["batch_size"] * devices))
    assert capped.replicates == one.replicates and capped.table == one.table
    assert [t["compilations"] for t in capped.timings] == [t["compilations"] for t in one.timings]


def test_compilations_do_not_grow_with_blocks(key):
    small = tj.sweep(LDS, replicates=8, key=key, **GRID)
    budget = _budget_for(small, 4) * len(jax.local_devices())
    few = tj.sweep(LDS, replicates=8, key=key, max_cell_bytes=budget, **GRID)
    many = tj.sweep(LDS, replicates=40, key=key, max_cell_bytes=budget, **GRID)
    assert many.timings[0]["blocks"] > few.timings[0]["blocks"]
    assert sum(t["compilations"] for t in many.timings) == sum(t["compilations"] for t in few.timings) == 3
    # the first 8 replicates of the larger sweep are the smaller sweep's (fold_in(key, r))
    first = [r for r in many.replicates if r["replicate"] < 8]
    assert first == few.replicates


def test_an_interrupted_blocked_sweep_resumes_after_its_last_block(key, tmp_path, monkeypatch):
    reference = tj.sweep(LDS, replicates=24, key=key, **GRID)
    budget = _budget_for(reference, 4) * len(jax.local_devices())
    kwargs = dict(replicates=24, key=key, max_cell_bytes=budget, out=tmp_path / "run", **GRID)
    simulate = NestedWindows.simulate
    calls = []

    def interrupted(self, a):
        calls.append(a)
        # block 0's simulation is dispatched first, block k + 1's while block k is fitted: the
        # fourth call (block 3) comes after blocks 0 and 1 are checkpointed, block 2 is not
        if len(calls) == 4:
            raise KeyboardInterrupt
        return simulate(self, a)

    monkeypatch.setattr(NestedWindows, "simulate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tj.sweep(**kwargs, model=LDS)
    assert len(list((tmp_path / "run" / "partial").glob("r*.json"))) == 2
    assert not list((tmp_path / "run" / "records").glob("*.json"))  # no cell finished yet

    monkeypatch.setattr(NestedWindows, "simulate", simulate)
    indices = NestedWindows._indices
    resumed_from = []  # the first replicate of every block the rerun compiles or simulates
    monkeypatch.setattr(NestedWindows, "_indices", lambda self, a: resumed_from.append(a) or indices(self, a))
    resumed = tj.sweep(**kwargs, model=LDS)
    assert min(resumed_from) == calls[2]  # block 2 onwards: the checkpointed blocks were not recomputed
    assert resumed.replicates == reference.replicates and resumed.table == reference.table
    assert not (tmp_path / "run" / "partial").exists()  # checkpoints go once the cells are recorded
    assert (tmp_path / "run" / "cells.csv").read_text().count("\n") == 5


def test_job_array_shards_of_a_blocked_sweep_merge_to_the_single_run(key, tmp_path):
    reference = tj.sweep(LDS, replicates=24, key=key, **GRID)
    budget = _budget_for(reference, 4) * len(jax.local_devices())
    for index in range(2):
        tj.sweep(LDS, replicates=24, key=key, max_cell_bytes=budget, out=tmp_path, shard=(index, 2), **GRID)
    merged = tj.merge_shards(tmp_path)
    assert merged.table == reference.table


def test_map_batches_is_a_batched_map_and_refuses_a_ragged_axis():
    import jax.numpy as jnp
    import numpy as np

    xs = {"a": jnp.arange(12.0).reshape(6, 2), "b": jnp.arange(6.0)}
    fn = lambda x: (jnp.sum(x["a"]) * x["b"], x["a"] * 2)
    out = jax.jit(lambda xs: _execution.map_batches(fn, xs, 3))(xs)
    expected = jax.vmap(fn)(xs)
    assert all(np.array_equal(o, e) for o, e in zip(out, expected, strict=True))
    with pytest.raises(ValueError, match="batch: 6 replicates are not a multiple of the batch width 4"):
        _execution.map_batches(fn, xs, 4)


def test_compiler_options_switch_the_cpu_emitters_and_nothing_else(monkeypatch):
    cpu = jax.devices("cpu")[0]
    monkeypatch.delenv("TRAJAX_CPU_FUSION_EMITTERS", raising=False)
    assert _execution.compiler_options(cpu) == {"xla_cpu_use_fusion_emitters": False}
    monkeypatch.setenv("TRAJAX_CPU_FUSION_EMITTERS", "1")  # XLA's default, for long sweeps
    assert _execution.compiler_options(cpu) is None


def test_cpu_shares_compile_once_and_give_the_one_share_numbers():
    import jax.numpy as jnp
    import numpy as np

    cpu = jax.devices("cpu")[0]
    fn = lambda idx, scale: (jnp.sin(idx.astype(jnp.float32) * scale), jnp.cumsum(idx) * 2)
    whole = _execution.OnDevices(fn, [cpu])
    split = _execution.OnDevices(fn, [cpu, cpu])  # two shares, e.g. two CPU devices' worth
    idx = jnp.arange(8, dtype=jnp.uint32)
    whole.compile(idx, jnp.float32(0.3))
    split.compile(idx[:4], jnp.float32(0.3))
    assert len(split.executables) == 1  # one program for both shares: CPU devices share the cores
    # the policy, on stand-ins for two CPU devices and two accelerators
    from types import SimpleNamespace

    c0, c1, g0, g1 = (SimpleNamespace(platform=p) for p in ("cpu", "cpu", "gpu", "gpu"))
    assert _execution.share_devices([c0, c1]) == [c0, c0]  # every CPU share on the first CPU device
    assert _execution.share_devices([g0, g1]) == [g0, g1]  # each accelerator runs its own share
    one = whole([idx], jnp.float32(0.3))[0]
    two = split([idx[:4], idx[4:]], jnp.float32(0.3))
    assert np.array_equal(np.concatenate([np.asarray(t[0]) for t in two]), np.asarray(one[0]))
    # each share is its own run (the cumulative sum restarts), on its own thread
    assert np.array_equal(np.asarray(two[1][1]), np.cumsum(np.arange(4, 8)) * 2)
