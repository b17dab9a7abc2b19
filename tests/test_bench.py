"""`trajax bench --quick` runs every benchmark end to end and writes well-formed JSON."""

import json
import subprocess
import sys


def test_quick_benchmark_suite_writes_results(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "trajax", "bench", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    names = {p.stem for p in tmp_path.glob("*.json")}
    assert {"simulate_quick", "fisher_quick", "streaming_quick", "main_job_quick"} <= names
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
