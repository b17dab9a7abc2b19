"""Sweeps: statistics against exact answers, resume after a kill, device-count determinism,
and the command line's handling of bad configs."""

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import trajax as tj
from trajax._cli import main
from trajax._stats import fit_slope

CHAIN_CONFIG = """
[model]
name = "two_state_chain"
theta = 0.8

[sweep]
m = [4, 8, 16]
T = [8, 16, 32]
replicates = {replicates}
seed = 3
"""


def test_two_state_sweep_matches_exact_variance(key):
    # ΣN ~ Binomial exactly, so E‖Δ‖² = θ(1−θ)/(m(T−1)) in every cell, and the theory column is
    # exactly that. error model: cell mean of R iid squared errors within 4 of its own SEs.
    res = tj.sweep(
        tj.TwoStateChain(theta=0.8), m=[5, 20], T=[10, 40], replicates=2000, key=key, progress=False
    )
    assert [(r["m"], r["T"]) for r in res.table] == [(5, 10), (20, 10), (5, 40), (20, 40)]
    for r in res.table:
        exact = 0.8 * 0.2 / (r["m"] * (r["T"] - 1))
        assert r["theory"] == pytest.approx(exact, rel=1e-12)
        assert abs(r["mse"] - exact) < 4 * r["mse_se"]
        assert r["ratio_lo"] <= 1.0 <= r["ratio_hi"]  # the ratio CI covers the exact ratio 1
        assert r["coverage"] == pytest.approx(0.95, abs=4 * r["coverage_se"] + 0.01)
        assert abs(r["fisher_error"] - 1.0) < 4 * r["fisher_error_se"]  # p = 1
        assert r["failed"] == 0 and r["p"] == 1
    for s in res.slopes():
        if s["against"] == "m":
            assert s["lo"] < -1.0 < s["hi"] and s["theory_slope"] == pytest.approx(-1.0)


def test_failed_fits_are_counted_not_averaged(key):
    # a 3-state chain from 1 trajectory of 3 states leaves rows unvisited: NaN MLE = failed fit
    model = tj.MarkovChain(P=[[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    res = tj.sweep(model, m=[1, 200], T=[3], replicates=50, key=key, progress=False)
    small, large = res.table
    assert small["failed"] > 0 and small["converged"] + small["failed"] == 50
    assert large["failed"] == 0 and np.isfinite(large["mse"])


def test_sweep_keeps_the_callers_jax_settings():
    # the programs are traced in the calling thread: a sweep under an `enable_x64` context (a
    # notebook's way; the setting is the calling thread's alone) runs in float64, where tracing
    # in the compile threads (x64 off there) met float64 data with a float32 program
    lds = dict(A=np.array([[0.5, 0.1], [0.0, 0.4]]), noise=tj.noise.StudentT(df=5.0))
    kwargs = dict(m=[4, 8], T=[9, 17], replicates=4, batch_size=4, progress=False)
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)  # the suite runs with x64 on
    try:
        with jax.enable_x64(True):
            model = tj.LinearSystem(**lds)
            res = tj.sweep(model, key=jax.random.key(0), **kwargs)
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert model.theta.dtype == np.float64
    assert all(r["failed"] == 0 and np.isfinite(r["mse"]) for r in res.table)


def test_slope_ci_covers_a_known_line():
    x = np.array([1.0, 10.0, 100.0])
    y = 3.0 * x**-1.0
    s = fit_slope(x, y * np.array([1.02, 0.97, 1.01]), y_se=0.05 * y)
    assert s["lo"] < -1.0 < s["hi"] and s["se"] > 0


def test_slope_with_a_zero_standard_error_weighs_the_points_equally():
    # a point with no Monte-Carlo spread (all replicates equal) has no weight to give: the fit
    # falls back to equal weights and residual SE instead of dividing by zero
    x = np.array([1.0, 10.0, 100.0])
    y = 3.0 * x**-1.0 * np.array([1.02, 0.97, 1.01])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = fit_slope(x, y, y_se=np.array([0.0, 0.05, 0.05]) * y)
        tiny = fit_slope(x, y, y_se=np.array([1e-170, 0.05, 0.05]) * y)  # weights beyond float64
    assert s == fit_slope(x, y) and np.isfinite(s["slope"]) and s["lo"] < -1.0 < s["hi"]
    assert np.isnan(tiny["slope"]) or np.isfinite(tiny["se"])  # NaN or a number, never an error


def test_bad_sweep_arguments(key):
    model = tj.TwoStateChain(theta=0.8)
    with pytest.raises(ValueError, match="m: expected an integer >= 1, got 0"):
        tj.sweep(model, m=[0, 4], T=[5], replicates=4, key=key)
    with pytest.raises(ValueError, match="T: expected distinct values"):
        tj.sweep(model, m=[4], T=[5, 5], replicates=4, key=key)
    with pytest.raises(ValueError, match="design: expected one of"):
        tj.sweep(model, m=[4], T=[5], replicates=4, key=key, design="crossed")


def _cli(*args, env=None, **kwargs):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "trajax", *args], capture_output=True, text=True, env=full_env, **kwargs
    )


# The child kills itself just before the tables of its 3rd finished cell are written (the cell's
# record is already on disk): the moment is chosen, not raced for, so the test does not depend
# on the machine's speed.
KILL_AFTER_THIRD_CELL = """
import os, signal, sys
from trajax import _records
write_tables, calls = _records.SweepWriter.write_tables, []
def dying_write_tables(self):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    write_tables(self)
_records.SweepWriter.write_tables = dying_write_tables
from trajax._cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # four CLI processes over nine cells (~30 s); tests/test_reliability.py covers it fast
def test_resume_after_kill_reproduces_cells_csv(tmp_path):
    # the independent design runs one program per cell, so the compilation count checks that
    # every cell's timing survived
    config = tmp_path / "chain.toml"
    CONFIG = CHAIN_CONFIG + 'design = "independent"\n'
    config.write_text(CONFIG.format(replicates=64))
    reference = _cli("sweep", str(config), "--out", str(tmp_path / "ref"), "--quiet")
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    command = [sys.executable, "-c", KILL_AFTER_THIRD_CELL, "sweep", str(config), "--out", str(out)]
    killed = subprocess.run([*command, "--quiet"], capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    cells = out / "cells.csv"
    assert len(cells.read_text().splitlines()) == 1 + 2  # tables lag the 3 records by one cell

    resumed = _cli("sweep", str(config), "--out", str(out), "--quiet")  # a plain rerun resumes
    assert resumed.returncode == 0, resumed.stderr
    assert cells.read_text() == (tmp_path / "ref" / "cells.csv").read_text()
    assert (out / "rates.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["cells"]) == 9 and summary["timings"]["num_compilations"] == 9

    # a different config into the same directory is refused unless --force
    config.write_text(CONFIG.format(replicates=32))
    other = _cli("sweep", str(config), "--out", str(out), "--resume")
    assert other.returncode == 2 and "different sweep (replicates differs)" in other.stderr
    forced = _cli("sweep", str(config), "--out", str(out), "--force", "--quiet")
    assert forced.returncode == 0 and "32," in cells.read_text()


DEVICE_CONFIGS = {
    # nested windows: one simulation + fit program over the device mesh
    "lds_windows": '[model]\nname = "linear_system"\nA = [[0.6, 0.1], [0.0, 0.5]]\n'
    'noise = { family = "student_t", df = 5.0 }\n'
    "[sweep]\nm = [8, 32]\nT = [16]\nreplicates = 20\nseed = 1\n[run]\nbatch_size = 4\n",
    # nested windows over replicate blocks: a 0.4 MiB budget holds 16 of the 64 replicates per
    # block on 1 device and 4 per device on 2 (timings.csv: blocks = 4 and 8)
    "lds_blocks": '[model]\nname = "linear_system"\nA = [[0.6, 0.1], [0.0, 0.5]]\n'
    'noise = { family = "student_t", df = 5.0 }\n'
    "[sweep]\nm = [8, 32]\nT = [16]\nreplicates = 64\nseed = 1\n[run]\nbatch_size = 4\nmax_cell_mb = 0.4\n",
    # one program per cell: the independent design (the GLM's nested sweeps now use windows too)
    "glm_per_cell": '[model]\nname = "sinusoidal_glm"\nA = [[0.5, 0.2], [-0.3, 0.4]]\n'
    '[sweep]\nm = [8, 16]\nT = [12]\nreplicates = 10\nseed = 2\ndesign = "independent"\n[run]\nbatch_size = 4\n',
}


@pytest.mark.parametrize("name", DEVICE_CONFIGS)
def test_results_identical_with_one_and_two_devices(name, tmp_path):
    config = tmp_path / f"{name}.toml"
    config.write_text(DEVICE_CONFIGS[name])
    outputs = {}
    for n in (1, 2):
        out = tmp_path / f"dev{n}"
        run = _cli("sweep", str(config), "--out", str(out), "--quiet", "--cpu-devices", str(n))
        assert run.returncode == 0, run.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["device"]["num_local_devices"] == n
        # which path ran: nested windows compile every program at the first cell (the
        # simulation again when its temporaries shrink the block), per-cell 1 per cell
        counts = [int(t["compilations"]) for t in summary["timings"]["cells"]]
        assert counts == [1, 1] if name == "glm_per_cell" else (counts[0] >= 2 and counts[1] == 0)
        if name == "lds_blocks":
            assert summary["timings"]["cells"][0]["blocks"] > 1
        outputs[n] = [(out / table).read_text() for table in ("cells.csv", "replicates.csv")]
    # every device runs the same single-device program (an SPMD program over 2 devices differed
    # from 1 device in the last bit of 9 of 128 θ̂ here): tables and every replicate's θ̂ equal
    assert outputs[1] == outputs[2]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[model]\nname = "linear_sytem"\n[sweep]\nm=[4]\nT=[4]\nreplicates=4',
            "did you mean 'linear_system'",
        ),
        (
            '[model]\nname = "two_state_chain"\ntheta = 0.5\n[sweep]\nm=[4]\nT=[4]\nreplicats=4',
            "sweep.replicats: unknown key (did you mean 'replicates'?)",
        ),
        (
            '[model]\nname = "two_state_chain"\ntheta = 1.5\n[sweep]\nm=[4]\nT=[4]\nreplicates=4',
            "model.theta: expected values in (0.0, 1.0)",
        ),
        (
            '[model]\nname = "linear_system"\nA = [[1.0, 0.0]]\n[sweep]\nm=[4]\nT=[4]\nreplicates=4',
            "model.A: expected a square",
        ),
        (
            '[model]\nname = "linear_system"\nA = [[0.5]]\nnoise = { family = "student", df = 3.0 }\n[sweep]\nm=[4]\nT=[4]\nreplicates=4',
            "model.noise.family: unknown noise family 'student' (did you mean 'student_t'?)",
        ),
        (
            '[model]\nname = "two_state_chain"\ntheta = 0.5\n[sweep]\nm=[4]\nT=[4]\nreplicates=-3',
            "sweep.replicates: expected an integer >= 2, got -3",
        ),
        (
            '[model]\nname = "two_state_chain"\ntheta = 0.5\n[sweep]\nm=[4]\nT=[4]',
            "sweep.replicates: required key is missing",
        ),
        (
            '[model]\nname = "two_state_chain"\ntheta = 0.5\n[sweep]\nm=[4]\nT=[4]\nreplicates=4\n[fitt]\n',
            "config.fitt: unknown key (did you mean 'fit'?)",
        ),
        ("[model\nname=", "CONFIG: malformed TOML"),
    ],
)
def test_bad_configs_exit_2_with_one_line_naming_the_key(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trajax: error: ") and err.count("\n") == 1
    assert message in err


def test_cli_user_error_has_no_traceback_and_models_lists(tmp_path):
    missing = _cli("sweep", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "CONFIG: no such file" in missing.stderr
    listing = _cli("models")
    assert listing.returncode == 0
    for name in ("two_state_chain", "markov_chain", "linear_system", "student_t", "bang_bang"):
        assert name in listing.stdout


def test_shipped_configs_parse():
    from trajax._config import load_config

    for path in sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.toml")):
        cfg = load_config(path)
        assert cfg.sweep_kwargs["replicates"] >= 2, path
    jax.config.update("jax_enable_x64", True)  # load_config sets the dtype; restore the test default


def test_streamed_cells_match_materialised_cells(key):
    # a budget below the cell's measured working set forces streaming within the budget; the
    # statistics must agree with the in-memory run up to rounding (sums accumulated by chunk)
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    kwargs = dict(m=[12], T=[20], replicates=8, key=key, progress=False, batch_size=4, design="independent")
    full = tj.sweep(lds, **kwargs)
    assert full.timings[0]["stream_chunk"] == 0
    devices = len(jax.local_devices())  # CPU devices share the budget
    budget = full.timings[0]["memory_bytes"] * 3 // 4  # per device
    streamed = tj.sweep(lds, max_cell_bytes=budget * devices, **kwargs)
    timing = streamed.timings[0]
    assert 0 < timing["stream_chunk"] < 12 and 12 % timing["stream_chunk"] == 0
    assert timing["memory_bytes"] <= budget  # the measured working set honours the budget
    assert timing["budget_bytes"] == budget  # and is reported beside it
    for a, b in zip(full.table, streamed.table, strict=True):
        # Newton stops at ‖∇‖ ≤ 1e-8, so the two rounding paths may stop at iterates ~1e-8 apart
        assert a["mse"] == pytest.approx(b["mse"], rel=1e-6) and a["failed"] == b["failed"] == 0


def test_fit_streaming_equals_fit_on_materialised_data(key):
    for model in (tj.MarkovChain(P=[[0.7, 0.3], [0.2, 0.8]]), tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]]),
                  tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.BangBang(0.5))):  # fmt: skip
        streamed = tj.fit_streaming(model, key, 60, 30, chunk_size=20)
        direct = tj.fit(model, tj.simulate(model, key, 60, 30))
        assert bool(streamed.converged)
        np.testing.assert_allclose(streamed.theta, direct.theta, rtol=1e-9, atol=1e-12)
        assert float(streamed.log_likelihood) == pytest.approx(float(direct.log_likelihood), rel=1e-10)
    with pytest.raises(ValueError, match="chunk_size: expected a divisor of num_trajectories=60, got 7"):
        tj.fit_streaming(model, key, 60, 30, chunk_size=7)
    for tol in (-1e-8, 0.0, float("nan"), "small"):
        with pytest.raises(ValueError, match="tol: expected a positive tolerance"):
            tj.fit_streaming(model, key, 60, 30, chunk_size=20, tol=tol)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_sweep_equals_single_process(tmp_path):
    # jax.distributed with 2 CPU processes on the loopback address: each takes half of the
    # replicates, results are gathered, and process 0 writes the same cells.csv as one process
    config = tmp_path / "chain.toml"
    config.write_text(
        CHAIN_CONFIG.format(replicates=10)
        .replace("m = [4, 8, 16]", "m = [4, 16]")
        .replace("T = [8, 16, 32]", "T = [8]")
    )
    single = _cli("sweep", str(config), "--out", str(tmp_path / "single"), "--quiet")
    assert single.returncode == 0, single.stderr
    address = f"127.0.0.1:{_free_port()}"
    out = tmp_path / "multi"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trajax",
                "sweep",
                str(config),
                "--out",
                str(out),
                "--quiet",
                "--coordinator",
                address,
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert (out / "cells.csv").read_text() == (tmp_path / "single" / "cells.csv").read_text()
    assert json.loads((out / "summary.json").read_text())["device"]["num_processes"] == 2


def test_explosive_model_cells_fail_cleanly_instead_of_raising(key):
    # z' = 1.5 z overflows float64 by T = 2000: that cell's fits are counted as failed and its
    # theory is NaN; the sweep goes on and the finite cell is unaffected
    res = tj.sweep(tj.LinearSystem(A=[[1.5]]), m=[4], T=[20, 2000], replicates=4, key=key, progress=False)
    finite, exploded = res.table
    assert finite["failed"] == 0 and np.isfinite(finite["ratio"])
    assert exploded["failed"] == 4 and np.isnan(exploded["mse"]) and np.isnan(exploded["theory"])


def test_compilations_do_not_grow_with_replicates_or_cells(key):
    # XLA backend compilations of the sweep's own programs (sweep_cell, sweep_simulate, sweep_fit),
    # counted through jax.monitoring; small shared helpers are left out. A nested sweep of a
    # Markov model compiles one simulation program plus one fit program per remainder class of
    # (T − 1) mod the time window (trajax/_windows.py): the count must not depend on R or on how
    # many cells share a class, so more replicates or cells cost run time only
    events = []

    def listener(event, duration, **kwargs):
        name = kwargs.get("fun_name", "")
        if event == "/jax/core/compile/backend_compile_duration" and name.startswith("jit(sweep_"):
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    lds = tj.LinearSystem(A=[[0.5, 0.1], [0.0, 0.4]], noise=tj.noise.StudentT(5.0))
    counts = {}
    try:
        for label, m, T, R in [
            ("2x2, R=16", [5, 11], [7, 13], 16),  # window 8: remainders 6 and 4
            ("2x2, R=40", [5, 11], [7, 13], 40),
            ("3x3, R=16", [5, 10, 20], [7, 13, 20], 16),  # window 16: remainders 6, 12, 3
            ("3x3, one class", [5, 10, 20], [17, 33, 65], 16),  # window 16: every remainder 0
        ]:
            events.clear()
            res = tj.sweep(lds, m=m, T=T, replicates=R, key=key, batch_size=4, progress=False)
            counts[label] = len(events)
            assert all(r["failed"] == 0 for r in res.table)
            assert sum(t["compilations"] for t in res.timings) == len(events)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    print("sweep programs compiled:", counts)
    assert counts == {"2x2, R=16": 3, "2x2, R=40": 3, "3x3, R=16": 4, "3x3, one class": 2}


def test_the_eta_counts_compiles_only_where_cells_compile_and_fits_fixed_run_costs():
    from trajax._progress import Clock

    nested = Clock([(16, 32), (256, 128)], done=0)
    nested.compiling = False  # a nested sweep's cells share programs compiled up front
    nested.finished(16, 32, {"compile_s": 4.0, "run_s": 0.7})
    assert nested.eta() == pytest.approx(0.7)  # one cell left, at the mean run per cell; no compile

    per_cell = Clock([(10, 10), (20, 10), (40, 10), (80, 10)], done=0)
    per_cell.finished(10, 10, {"compile_s": 2.0, "run_s": 1.5})
    assert per_cell.eta() == pytest.approx(3 * 2.0 + 3 * 1.5)  # one size known: means per cell
    per_cell.finished(20, 10, {"compile_s": 2.0, "run_s": 2.0})
    # run = 1 s + 0.005 s·m·T through both cells: 3 s and 5 s left; 2 s of compile per cell
    assert per_cell.eta() == pytest.approx(2 * 2.0 + 3.0 + 5.0)


def test_a_tolerance_the_dtype_cannot_reach_warns_before_any_work():
    # float32 with the float64 default tolerance: every fit would run to max_steps and fail
    from trajax._spec import _warn_unreachable_tol

    with pytest.warns(UserWarning, match=r"tol: 1e-08 is below what float32 gradients can reach"):
        _warn_unreachable_tol(1e-8, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for tol, dtype in ((1e-8, np.float64), (1e-4, np.float32), (None, np.float32)):
            _warn_unreachable_tol(tol, dtype)
