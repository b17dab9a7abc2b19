"""`python -m benchmarks.run --quick` runs every benchmark end to end and writes well-formed
JSON; `trajax bench` runs that same command from a checkout and says what to do elsewhere."""

import json
import subprocess
import sys
from pathlib import Path

from trajax._cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_suite_writes_results(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    names = {p.stem for p in tmp_path.glob("*.json")}
    assert {
        "simulate_quick",
        "fisher_quick",
        "streaming_quick",
        "main_job_quick",
        "scaling_quick",
        "ragged_fisher_quick",
    } <= names
    assert "dynamax_chain_quick" in names  # measured, or a record of why it was skipped
    for path in tmp_path.glob("*.json"):
        record = json.loads(path.read_text())
        if "skipped" in record:  # an optional baseline that is not installed
            assert path.stem == "dynamax_chain_quick" and "dynamax" in record["skipped"]
            continue
        for key in ("device", "backend", "dtype", "shapes", "commit", "trajax", "baseline"):
            assert key in record, (path.name, key)
        assert record["trajax"].get("run_s", record["trajax"].get("total_s", 0)) > 0
    main_job = json.loads((tmp_path / "main_job_quick.json").read_text())
    # nested windows: one simulation program + one fit program (T − 1 = 31, 127: one class mod 32)
    assert main_job["trajax"]["failed_fits"] == 0 and main_job["trajax"]["num_compilations"] == 2
    scaling = json.loads((tmp_path / "scaling_quick.json").read_text())
    # every run through the CLI: the same 2 programs whatever R or the device count, no failed fit
    assert [r["compilations"] for r in scaling["runs"]] == [2] * len(scaling["runs"])
    assert all(r["failed_fits"] == 0 and r["peak_rss_bytes"] > 0 for r in scaling["runs"])
    assert (tmp_path / "scaling_quick.png").exists()
    assert [c["slowdown"] > 0 for c in scaling["host_contention_before_and_after"]] == [True, True]
    memory = scaling["memory_cell"]  # a 1 MiB budget: the cell streams within it
    assert 0 < memory["stream_chunk"] < memory["shapes"]["m"] and memory["failed_fits"] == 0
    assert memory["working_set_bytes_per_device"] <= memory["budget_bytes_per_device"] > 0
    compile_options = json.loads((tmp_path / "compile_options_quick.json").read_text())
    # the emitters change numbers by rounding at most (each setting alone is deterministic)
    assert all(d < 1e-10 for d in compile_options["max_relative_difference"].values())


def test_trajax_bench_runs_the_checkouts_suite_and_refuses_elsewhere(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda command: calls.append(command) or 0)
    monkeypatch.chdir(ROOT)
    assert main(["bench", "--quick", "--out", "results"]) == 0
    assert calls == [[sys.executable, "-m", "benchmarks.run", "--quick", "--out", "results"]]
    monkeypatch.chdir(tmp_path)  # an installed wheel, away from a checkout
    assert main(["bench"]) == 2 and len(calls) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m benchmarks.run" in err
    assert "benchmarks" not in sys.modules  # the package never imports the suite
