"""Per-replicate results and job arrays: `sweep(..., shard=(I, N))` + `merge_shards` equal a
single run bit for bit; a missing or duplicated shard is one line, exit 2; a shard resumes."""

import csv
import json
import shutil

import numpy as np
import pytest

from trajax._cli import main
from trajax._config import load_config
from trajax._merge import merge_shards
from trajax._sweep import sweep

CONFIGS = {
    "chain": '[model]\nname = "two_state_chain"\ntheta = 0.7\n'
    "[sweep]\nm = [4, 8]\nT = [8]\nreplicates = 10\nseed = 5\n[run]\nbatch_size = 2\n",
    "student_t_lds": '[model]\nname = "linear_system"\nA = [[0.6, 0.1], [0.0, 0.5]]\n'
    'noise = { family = "student_t", df = 5.0, scale = 1.0 }\n'
    "[sweep]\nm = [4, 8]\nT = [8, 12]\nreplicates = 7\nseed = 1\n[run]\nbatch_size = 2\n",
}


def _run(config, out, shard=None, progress=False):
    return sweep(
        config.model, **config.sweep_kwargs, out=out, shard=shard, progress=progress, config=config.raw
    )


def _summary_without_timings(path):
    summary = json.loads(path.read_text())
    summary.pop("timings")
    return summary


# the Student-t LDS compiles ~40 s of programs: `make test-slow`; the chain runs in the default suite
@pytest.fixture(scope="module", params=["chain", pytest.param("student_t_lds", marks=pytest.mark.slow)])
def runs(request, tmp_path_factory):
    """(config path, loaded config, single-run dir and result, shards dir with 3 shards, merged)."""
    base = tmp_path_factory.mktemp(request.param)
    path = base / "config.toml"
    path.write_text(CONFIGS[request.param])
    config = load_config(path)
    single = _run(config, base / "single")
    for i in range(3):
        _run(config, base / "array", shard=(i, 3))
    merged = merge_shards(base / "array")
    return path, config, base / "single", single, base / "array", merged


def test_merged_shards_equal_the_single_run_bit_for_bit(runs):
    _, _, single_dir, single, array_dir, merged = runs
    for name in ("cells.csv", "replicates.csv"):
        assert (array_dir / name).read_bytes() == (single_dir / name).read_bytes(), name
    assert _summary_without_timings(array_dir / "summary.json") == _summary_without_timings(
        single_dir / "summary.json"
    )
    assert (array_dir / "rates.png").exists()
    assert merged.table == single.table and merged.replicates == single.replicates
    # each shard computed only its own contiguous share
    firsts = [
        json.loads((array_dir / f"shard-{i}-of-3" / "config.json").read_text())["shard"] for i in range(3)
    ]
    R = single.config["replicates"]
    assert [(s["first"], s["stop"]) for s in firsts] == [(0, R // 3), (R // 3, 2 * R // 3), (2 * R // 3, R)]


def test_replicates_are_the_fits_behind_each_row(runs):
    """θ̂ per replicate reproduces ‖Δ‖² (an independent recomputation), the rows count the
    replicates in order, and replicates.csv holds the same numbers."""
    _, config, single_dir, single, _, _ = runs
    theta_star = np.asarray(config.model.theta)
    R, p = single.config["replicates"], theta_star.shape[0]
    assert len(single.replicates) == R * len(single.table)
    for row in single.table:
        reps = [r for r in single.replicates if (r["m"], r["T"]) == (row["m"], row["T"])]
        assert [r["replicate"] for r in reps] == list(range(R))
        theta = np.array([r["theta"] for r in reps])
        assert theta.shape == (R, p)
        np.testing.assert_allclose(
            ((theta - theta_star) ** 2).sum(1), [r["sq_err"] for r in reps], rtol=1e-10, atol=1e-24
        )
        ok = [r for r in reps if r["reason"] == "successful"]
        assert len(ok) == row["converged"] and all(r["code"] == 0 for r in ok)
        assert np.mean([r["sq_err"] for r in ok]) == pytest.approx(row["mse"], rel=1e-12)
    with open(single_dir / "replicates.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(single.replicates)
    assert list(rows[0])[:3] == ["m", "T", "replicate"] and f"theta_{p - 1}" in rows[0]
    assert float(rows[-1]["sq_err"]) == single.replicates[-1]["sq_err"]


def test_missing_or_duplicated_shard_is_one_line_exit_2(runs, tmp_path, capsys):
    path, _, _, _, array_dir, _ = runs
    missing, duplicated = tmp_path / "missing", tmp_path / "duplicated"
    shutil.copytree(array_dir, missing)
    shutil.rmtree(missing / "shard-2-of-3")
    assert main(["merge", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "shard 2/3 is missing" in err and "--shard 2/3" in err, err
    shutil.copytree(array_dir, duplicated)
    shutil.copytree(duplicated / "shard-1-of-3", duplicated / "shard-1-of-3-copy")
    assert main(["merge", str(duplicated)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "duplicated shard" in err and "shard-1-of-3" in err, err
    assert main(["merge", str(tmp_path / "nothing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    for bad in ("3/3", "a/b", "-1/2"):
        assert main(["sweep", str(path), "--out", str(tmp_path / "x"), f"--shard={bad}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("trajax: error: --shard:") and "\n" not in err, err


def test_a_shard_resumes_after_an_interruption(runs, tmp_path):
    _, config, _, _, array_dir, _ = runs
    calls = []

    def interrupt_after_first_cell(done, total, row):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(config, tmp_path, shard=(1, 3), progress=interrupt_after_first_cell)
    shard_dir = tmp_path / "shard-1-of-3"
    assert calls == [1] and len(list((shard_dir / "records").glob("*.json"))) == 1
    resumed = _run(config, tmp_path, shard=(1, 3))
    assert resumed.timings[0].get("resumed") and not resumed.timings[1].get("resumed")
    for name in ("cells.csv", "replicates.csv"):
        assert (shard_dir / name).read_bytes() == (array_dir / "shard-1-of-3" / name).read_bytes()
    with pytest.raises(ValueError, match="shard: expected 0 <= I < N"):
        _run(config, tmp_path, shard=(3, 3))


def test_cli_merge_and_sweep_write_the_burn_in_map(runs, tmp_path, capsys):
    # the success path of `trajax merge` through the CLI, and --burn-in-map on both commands
    path, _, _, _, array_dir, merged = runs
    copy = tmp_path / "array"
    shutil.copytree(array_dir, copy)
    (copy / "burn_in.png").unlink(missing_ok=True)
    assert main(["merge", str(copy), "--burn-in-map"]) == 0
    assert (copy / "burn_in.png").stat().st_size > 0
    assert f"burn-in: {copy / 'burn_in.png'}" in capsys.readouterr().out
    out = tmp_path / "single"
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--burn-in-map"]) == 0
    assert (out / "burn_in.png").stat().st_size > 0
    assert "burn-in:" in capsys.readouterr().out
