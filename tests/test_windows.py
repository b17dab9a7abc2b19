"""Windowed fits (trajax/_windows.py): the MLE of a prefix (m, T) of a larger array, with m and T
run-time values, equals `fit` on the materialised prefix; a nested sweep fitted by windows
equals the one-program-per-cell sweep."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax._sources import Windows
from trajax._windows import fit_prefix, plan_windows

LDS = tj.LinearSystem(A=[[0.5, 0.2], [-0.1, 0.4]], noise=tj.noise.StudentT(5.0))
CASES = [
    ("student-t LDS (Newton)", LDS),
    ("gaussian LDS (statistics)", tj.LinearSystem(A=[[0.5, 0.2], [-0.1, 0.4]])),
    ("two-state chain", tj.TwoStateChain(theta=0.7)),
    ("3-state chain", tj.MarkovChain(P=[[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])),
    (
        "dependent regression (Newton)",
        tj.DependentRegression(
            theta=[0.5, -0.3, 0.2],
            features=lambda z: jnp.stack([z, jnp.tanh(z), jnp.ones_like(z)], axis=-1),
            dim=2,
            noise=tj.noise.StudentT(5.0),
        ),
    ),
    ("sinusoidal GLM (best of 4 starts)", tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5)),
]


# slow: each reference fit on a materialised prefix compiles its own program
SLOW = {"dependent regression (Newton)", "sinusoidal GLM (best of 4 starts)", "3-state chain"}
PARAMS = [pytest.param(*c, marks=pytest.mark.slow) if c[0] in SLOW else c for c in CASES]


@pytest.mark.parametrize("name,model", PARAMS, ids=[c[0] for c in CASES])
def test_fit_prefix_equals_fit_on_the_prefix(name, model, key):
    m_values, T_values = [6, 12, 18], [5, 23, 40]  # T − 1 = 4, 22, 39: windows and remainders
    plan = plan_windows(model, m_values, T_values, {})
    assert plan is not None and 12 % plan.bm == 0
    data = tj.simulate(model, key, max(m_values), max(T_values))
    # one compiled program per remainder class serves every (m, T) of the class, as in a sweep;
    # the cells cover every remainder class and both extremes of m
    programs = {}
    for m, T in [(6, 5), (12, 23), (18, 40), (18, 5)]:
        r = plan.remainder(T)
        if r not in programs:
            programs[r] = jax.jit(lambda d, mm, TT, r=r: fit_prefix(model, d, mm, TT, plan, r))
        windowed = programs[r](data, jnp.int32(m), jnp.int32(T))
        reference = tj.fit(model, data[:m, :T])
        assert bool(windowed.result == reference.result), (m, T)
        np.testing.assert_allclose(
            windowed.theta, reference.theta, rtol=0, atol=1e-9, err_msg=f"m={m}, T={T}"
        )
        assert float(windowed.log_likelihood) == pytest.approx(float(reference.log_likelihood), rel=1e-9)


def test_windows_partition_every_transition_exactly_once(key):
    # Σ over windows of the number of transitions and of a transition-indexed checksum
    data = jnp.arange(8 * 30, dtype=jnp.float64).reshape(8, 30)
    for m, T, bm, bt in [(8, 30, 4, 8), (4, 9, 2, 8), (8, 2, 8, 1), (6, 17, 3, 16)]:
        r = (T - 1) % bt

        def fn(w):
            return jnp.asarray(w.shape[0] * (w.shape[1] - 1), jnp.float64), jnp.sum(
                w[:, :-1] * 1000.0 + w[:, 1:]
            )

        n, checksum = Windows(data, jnp.int32(m), jnp.int32(T), bm, bt, r).total(fn)
        assert float(n) == m * (T - 1)
        expected = float(jnp.sum(data[:m, : T - 1] * 1000.0 + data[:m, 1:T]))
        assert float(checksum) == expected


def test_windows_cut_from_a_replicate_in_place_equal_windows_of_the_replicate(key):
    # a sweep's fit program cuts replicate k's windows from the whole block (Windows' `replicate`)
    # instead of copying the replicate out: the same windows, hence the same fit, bit for bit,
    # under vmap over replicates as a sweep runs it
    block = jax.vmap(lambda k: tj.simulate(LDS, k, 12, 23))(jax.random.split(key, 3))
    plan = plan_windows(LDS, [6, 12], [9, 23], {})
    r = plan.remainder(23)
    m, T = jnp.int32(12), jnp.int32(23)

    fn = lambda w: jnp.sum(w[:, :-1] * 1000.0 + w[:, 1:])
    in_place = jax.vmap(lambda k: Windows(block, m, T, plan.bm, plan.bt, r, k).total(fn))
    sliced = jax.vmap(lambda d: Windows(d, m, T, plan.bm, plan.bt, r).total(fn))
    np.testing.assert_array_equal(in_place(jnp.arange(3)), sliced(block))
    fits = jax.jit(jax.vmap(lambda k: fit_prefix(LDS, block, m, T, plan, r, replicate=k).theta))
    reference = jax.jit(jax.vmap(lambda d: fit_prefix(LDS, d, m, T, plan, r).theta))
    np.testing.assert_array_equal(fits(jnp.arange(3)), reference(block))
    assert float(jnp.max(jnp.abs(reference(block)[1] - reference(block)[0]))) > 0  # distinct replicates


def test_undeclared_models_and_other_fit_options_use_the_per_cell_path():
    # a mixture's trajectory likelihood does not split into windows of transitions
    mixture = tj.MarkovChainMixture(
        jnp.stack([jnp.eye(2) * 0.6 + 0.2, jnp.eye(2) * 0.2 + 0.4]), weights=[0.6, 0.4]
    )
    assert not mixture.homogeneous_markov and plan_windows(mixture, [4], [8], {}) is None
    assert plan_windows(LDS, [4], [8], {"init": jnp.zeros(4)}) is None
    assert plan_windows(LDS, [4], [8], {"init": "model"}).fit.method == "newton"
    # the one estimator runs L-BFGS on windows too
    assert plan_windows(LDS, [4], [8], {"method": "lbfgs"}).fit.method == "lbfgs"


def test_windowed_sweep_equals_per_cell_sweep(key):
    # a budget of half the nested run's measured working set (its data plus the windowed fit's
    # temporaries; 8 replicates = 2 batches per device) leaves no room for two blocks of one batch,
    # which forces one program per cell; both must give the same estimates up to summation order,
    # and the per-cell programs' measured working sets honour the budget
    kwargs = dict(m=[4, 8], T=[9, 20], replicates=8, key=key, batch_size=4, progress=False)
    windowed = tj.sweep(LDS, **kwargs)
    budget = windowed.timings[0]["memory_bytes"] // 2
    per_cell = tj.sweep(LDS, max_cell_bytes=budget * len(jax.local_devices()), **kwargs)
    assert sum(t["compilations"] for t in windowed.timings) == 3  # simulation + 2 remainder classes
    assert "blocks" not in per_cell.timings[0]  # the per-cell path
    assert all(t["compilations"] >= 1 and t["memory_bytes"] <= budget for t in per_cell.timings)
    for a, b in zip(windowed.table, per_cell.table, strict=True):
        assert (a["m"], a["T"], a["failed"]) == (b["m"], b["T"], b["failed"])
        assert a["mse"] == pytest.approx(b["mse"], rel=1e-8)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"tol": -1.0}, "tol"),
        ({"method": "bfgs"}, "method"),
        ({"max_step": 5}, "did you mean 'max_steps'"),
    ],
)
def test_windowed_sweeps_reject_bad_fit_options_like_fit(options, message, key):
    with pytest.raises(ValueError, match=message):
        tj.sweep(LDS, m=[4], T=[8], replicates=4, key=key, fit_options=options, progress=False)


def test_best_candidate_ignores_nan_objectives():
    from trajax._model import best_candidate

    candidates = jnp.arange(6.0).reshape(3, 2)
    assert best_candidate(candidates, jnp.array([jnp.nan, 2.0, 1.0])).tolist() == [4.0, 5.0]
    assert best_candidate(candidates, jnp.array([3.0, jnp.nan, 5.0])).tolist() == [0.0, 1.0]
