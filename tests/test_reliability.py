"""Long runs lose nothing: kills at chosen moments, torn files, reruns with other settings, and
file errors, each answered by a whole resume or a one-line refusal.

Faults are injected at exact points (a patched writer kills its own process between a cell's
record and the tables derived from it), so no test depends on how fast the machine is."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import trajax as tj
from trajax._cli import main
from trajax._records import SweepWriter

CHAIN = """[model]
name = "two_state_chain"
theta = 0.8

[sweep]
m = [2, 4]
T = [4, 8]
replicates = 8
seed = 3
{extra}"""

# Runs the CLI in a child process that sends itself `signal` just before the tables derived
# from its `after`-th record are written: the cell's record is on disk, cells.csv lags by one.
KILLER = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even where a background job ignores it
from trajax import _records
after, how = int(sys.argv[1]), getattr(signal, sys.argv[2])
write_tables, calls = _records.SweepWriter.write_tables, []
def dying_write_tables(self):
    calls.append(1)
    if len(calls) == after:
        os.kill(os.getpid(), how)
    write_tables(self)
_records.SweepWriter.write_tables = dying_write_tables
from trajax._cli import run  # the console entry point
sys.argv[1:] = sys.argv[3:]
run()
"""


@pytest.fixture
def restore_x64():
    """The CLI sets JAX's precision from the config; put the test session's back afterwards."""
    yield
    jax.config.update("jax_enable_x64", True)


def _config(tmp_path, extra="", name="chain.toml") -> Path:
    path = tmp_path / name
    path.write_text(CHAIN.format(extra=extra))
    return path


def _run(config, out, *flags) -> int:
    return main(["sweep", str(config), "--out", str(out), "--quiet", *flags])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(config, out) of one uninterrupted run, shared by the tests (which never write there)."""
    tmp = tmp_path_factory.mktemp("reference")
    config = _config(tmp)
    assert _run(config, tmp / "out") == 0
    jax.config.update("jax_enable_x64", True)
    return config, tmp / "out"


def _interrupt_at(monkeypatch, after: int):
    """Makes the `after`-th cell's tables raise KeyboardInterrupt in this process, after that
    cell's record is written."""
    write_tables, calls = SweepWriter.write_tables, []

    def interrupted(self):
        calls.append(1)
        if len(calls) == after:
            raise KeyboardInterrupt
        write_tables(self)

    monkeypatch.setattr(SweepWriter, "write_tables", interrupted)


def _killed(config, out, after: int, how: str):
    """Runs the CLI's entry point in a child that sends itself signal `how` (SIGKILL, SIGINT)
    right after its `after`-th record is written."""
    command = [sys.executable, "-c", KILLER, str(after), how, "sweep", str(config), "--out", str(out)]
    return subprocess.run(command + ["--quiet"], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("after", [pytest.param(1, marks=pytest.mark.slow), 3])
def test_sigkill_between_record_and_tables_then_plain_rerun_reproduces(
    reference, tmp_path, restore_x64, after
):
    config, ref = reference
    out = tmp_path / "killed"
    run = _killed(config, out, after, "SIGKILL")
    assert run.returncode == -signal.SIGKILL
    assert len(list((out / "records").glob("*.json"))) == after  # the cell is committed...
    cells = out / "cells.csv"
    rows = len(cells.read_text().splitlines()) - 1 if cells.exists() else 0
    assert rows == after - 1  # ...and the tables lag one cell behind
    assert _run(config, out) == 0  # a plain rerun resumes: no --resume needed
    assert cells.read_text() == (ref / "cells.csv").read_text()
    timings = (out / "timings.csv").read_text().splitlines()
    assert [t.split(",")[:2] for t in timings] == [r.split(",")[:2] for r in cells.read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timings"]["num_compilations"] == sum(
        t["compilations"] for t in summary["timings"]["cells"]
    )


def test_sigint_exits_130_with_the_resume_hint_and_resumes(reference, tmp_path, restore_x64):
    config, ref = reference
    out = tmp_path / "interrupted"
    run = _killed(config, out, 2, "SIGINT")  # a real SIGINT, sent after the 2nd record
    assert run.returncode == 130, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "trajax: interrupted; finished cells are saved, rerun the same command to resume"
    )
    assert len(list((out / "records").glob("*.json"))) == 2
    assert _run(config, out, "--resume") == 0  # --resume is still accepted
    assert (out / "cells.csv").read_text() == (ref / "cells.csv").read_text()


def test_a_swallowed_sigint_still_stops_the_run(reference, tmp_path, restore_x64, monkeypatch, capsys):
    # JAX's garbage-collection callback swallows a KeyboardInterrupt raised while it runs; here
    # a handler swallows a real SIGINT the same way, in the 2nd cell's write: the run must still
    # stop at the next cell boundary with 130
    config, ref = reference
    write_tables, calls = SweepWriter.write_tables, []
    # Python's default SIGINT handler, as in a terminal (a pytest-xdist worker may start with SIGINT
    # ignored, and the CLI only installs its handler over the default one)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request_restore = lambda: signal.signal(signal.SIGINT, previous)  # noqa: E731

    def swallowing(self):
        calls.append(1)
        if len(calls) == 2:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(1000))  # the handler runs here, and its exception is swallowed
            except KeyboardInterrupt:
                pass
        write_tables(self)

    monkeypatch.setattr(SweepWriter, "write_tables", swallowing)
    out = tmp_path / "swallowed"
    assert _run(config, out) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    assert len(list((out / "records").glob("*.json"))) == 2
    monkeypatch.undo()
    assert _run(config, out) == 0
    request_restore()
    assert (out / "cells.csv").read_text() == (ref / "cells.csv").read_text()


def test_torn_and_missing_files_are_rebuilt_from_the_records(reference, tmp_path, restore_x64):
    config, ref = reference
    out = tmp_path / "torn"
    shutil.copytree(ref, out)
    cells = out / "cells.csv"
    cells.write_text(cells.read_text()[:-25])  # the last row cut off
    (out / "timings.csv").unlink()
    (out / "summary.json").write_text('{"cells": [')
    (out / "records" / "m4_T8.json").unlink()  # one cell lost: recomputed
    strays = [out / ".cells.0123abcd.tmp.csv", out / "records" / ".m2_T4.0123abcd.tmp.json"]
    for stray in strays:
        stray.write_text("half a file")
    assert _run(config, out) == 0
    assert cells.read_text() == (ref / "cells.csv").read_text()
    assert len((out / "timings.csv").read_text().splitlines()) == 5
    assert len(json.loads((out / "summary.json").read_text())["cells"]) == 4
    assert not any(stray.exists() for stray in strays)


def test_unreadable_record_and_older_layout_are_refused_in_one_line(reference, tmp_path, restore_x64, capsys):
    config, ref = reference
    out = tmp_path / "copy"
    shutil.copytree(ref, out)
    (out / "records" / "m2_T8.json").write_text('{"fingerprint": "')
    assert _run(config, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m2_T8.json is unreadable" in err and "delete it" in err
    shutil.rmtree(out / "records")  # cells.csv without records: an older trajax wrote it
    assert _run(config, out) == 2
    assert "no records/" in capsys.readouterr().err
    assert _run(config, out, "--force") == 0


def test_other_config_is_refused_naming_the_setting_unless_forced(tmp_path, restore_x64, capsys):
    out = tmp_path / "out"
    assert _run(_config(tmp_path), out) == 0
    other = _config(tmp_path, name="other.toml")
    other.write_text(other.read_text().replace("replicates = 8", "replicates = 6"))
    assert _run(other, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different sweep (replicates differs)" in err and "--force" in err
    assert _run(other, out, "--force") == 0
    assert all(r["replicates"] == 6 for r in json.loads((out / "summary.json").read_text())["cells"])


def test_batch_size_budget_and_devices_do_not_block_a_resume(reference, tmp_path, restore_x64, monkeypatch):
    config, ref = reference
    out = tmp_path / "stopped"
    _interrupt_at(monkeypatch, 2)
    assert _run(config, out) == 130
    monkeypatch.undo()
    smaller = _config(tmp_path, "[run]\nbatch_size = 2\nmax_cell_mb = 0.001\n", name="smaller.toml")
    assert _run(smaller, out, "--cpu-devices", "1") == 0
    assert (out / "cells.csv").read_text() == (ref / "cells.csv").read_text()


def test_api_and_cli_follow_one_rule(tmp_path, key):
    model, out = tj.TwoStateChain(theta=0.7), tmp_path / "api"
    grid = dict(m=[2], T=[4, 6], replicates=4, key=key)
    first = tj.sweep(model, **grid, out=out, progress=False)
    seen = []
    again = tj.sweep(model, **grid, out=out, batch_size=2, progress=lambda *a: seen.append(a))
    assert again.table == first.table and all(t["resumed"] for t in again.timings)
    assert [t["compile_s"] for t in again.timings] == [t["compile_s"] for t in first.timings]  # not rerun
    assert seen == [(1, 2, first.table[0]), (2, 2, first.table[1])]  # progress(done, total, row)
    with pytest.raises(ValueError, match="already holds 2 finished cells of this sweep"):
        tj.sweep(model, **grid, out=out, resume=False, progress=False)
    with pytest.raises(ValueError, match=r"different sweep \(model.theta differs\)"):
        tj.sweep(tj.TwoStateChain(theta=0.6), **grid, out=out, progress=False)


def _unwritable(tmp_path) -> Path:
    if os.geteuid() == 0:  # root writes through permission bits; sysfs refuses new files
        return Path("/sys/trajax-test-out")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return locked / "out"


@pytest.mark.parametrize("case", ["out_is_file", "out_below_file", "out_unwritable", "config_is_dir"])
def test_file_errors_are_one_line_before_any_work(tmp_path, restore_x64, capsys, case):
    config, out = _config(tmp_path), tmp_path / "out"
    (tmp_path / "file").write_text("not a directory")
    out = {"out_is_file": tmp_path / "file", "out_below_file": tmp_path / "file" / "out",
           "out_unwritable": _unwritable(tmp_path)}.get(case, out)  # fmt: skip
    if case == "config_is_dir":
        config = tmp_path
    before = sorted(tmp_path.rglob("*"))
    assert _run(config, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("trajax: error: ") and err.count("\n") == 1, err
    expected = {"out_is_file": "is a file", "out_below_file": "which is a file",
                "out_unwritable": "cannot write in", "config_is_dir": "is a directory"}  # fmt: skip
    assert expected[case] in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


def test_a_run_refused_by_validation_leaves_nothing(tmp_path, restore_x64, capsys):
    config = tmp_path / "glm.toml"
    config.write_text(
        '[model]\nname = "sinusoidal_glm"\nA = [[0.5]]\n[sweep]\nm = [2]\nT = [4]\nreplicates = 2\n'
        'design = "independent"\n[fisher]\nmethod = "exact"\n'
    )
    assert _run(config, tmp_path / "out") == 2
    assert "fisher.method: 'exact' is not available" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_files_follow_the_umask(tmp_path, key, umask):
    old = os.umask(umask)
    try:
        tj.sweep(tj.TwoStateChain(theta=0.7), m=[2], T=[4], replicates=4, key=key, out=tmp_path / "o",
                 progress=False)  # fmt: skip
    finally:
        os.umask(old)
    for path in [tmp_path / "o", *(tmp_path / "o").rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o777 if path.is_dir() else 0o666) & ~umask, (path, oct(mode))


def test_rows_keep_extra_columns_and_exact_values(tmp_path):
    writer = SweepWriter(tmp_path / "w", {"model": "x"})
    base = {"m": 2, "T": 4, "replicates": 3, "converged": 3, "failed": 0, "mse": 0.1 + 0.2,
            "mse_se": float("nan"), "theory": 1e-300, "ratio": 1 / 3, "ratio_lo": 0.0, "ratio_hi": 1.0,
            "fisher_error": 2.0, "fisher_error_se": 0.5, "p": 1}  # fmt: skip
    writer.add({**base, "extra_z": 1, "extra_a": 0.5}, {"m": 2, "T": 4, "compile_s": 1.0})
    writer.add({**base, "T": 8, "extra_a": 0.25, "extra_z": 0}, {"m": 2, "T": 8})
    writer.write_tables()
    from trajax._stats import CSV_COLUMNS

    header, first, second = (tmp_path / "w" / "cells.csv").read_text().splitlines()
    # the known columns in their order (blank where a row lacks one), then the others in the order
    # they first appear
    assert header == ",".join([*CSV_COLUMNS, "extra_z", "extra_a"])
    assert first.endswith(",1,0.5") and second.endswith(",0,0.25")
    assert "0.30000000000000004,nan,1e-300,,0.3333333333333333" in first  # exact floats, blank theory_se
    rows = SweepWriter(tmp_path / "w", {"model": "x"}).finished()
    assert rows[(2, 4)][0]["mse"] == 0.1 + 0.2 and list(rows[(2, 8)][0])[-2:] == ["extra_a", "extra_z"]


def test_load_config_never_flips_x64(tmp_path):
    from trajax._config import ConfigError, load_config

    assert jax.config.jax_enable_x64
    load_config(_config(tmp_path))
    with pytest.raises(ConfigError, match=r"run.dtype: the config asks for float32 .* jax_enable_x64"):
        load_config(_config(tmp_path, '[run]\ndtype = "float32"\n'))
    assert jax.config.jax_enable_x64


def test_cli_runs_a_float32_config_in_float32(tmp_path, restore_x64):
    out = tmp_path / "f32"
    assert _run(_config(tmp_path, '[run]\ndtype = "float32"\n'), out) == 0
    assert json.loads((out / "config.json").read_text())["model"]["dtype"] == "float32"
