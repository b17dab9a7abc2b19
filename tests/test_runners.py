"""The sweep's runners and its small objects: the automatic choice (`tj.choose_runner`), a pinned
runner, the progress callback's documented signature, the spec's section-qualified errors."""

import json

import pytest

import trajax as tj
from trajax._spec import SpecError

CHAIN = tj.TwoStateChain(theta=0.8)
GRID = dict(m=[4, 8], T=[6], replicates=4)


def test_choose_runner_takes_nested_windows_where_they_apply(key):
    nested = tj.SweepSpec.make(CHAIN, **GRID, key=key)
    independent = tj.SweepSpec.make(CHAIN, **GRID, key=key, design="independent")
    assert isinstance(tj.choose_runner(nested), tj.NestedWindows)
    assert isinstance(tj.choose_runner(independent), tj.PerCell)
    assert nested.cells == [(4, 6), (8, 6)] and nested.fingerprint != independent.fingerprint
    with pytest.raises(ValueError, match="runner: NestedWindows does not support this sweep"):
        tj.sweep(CHAIN, **GRID, key=key, design="independent", runner=tj.NestedWindows(), progress=False)


def test_a_pinned_runner_runs_every_cell_and_the_callback_gets_done_total_row(key, tmp_path):
    calls = []

    def progress(done, total, row):  # the documented signature, nothing more
        calls.append((done, total, row))

    auto = tj.sweep(CHAIN, **GRID, key=key, progress=progress)
    assert calls == [(1, 2, auto.table[0]), (2, 2, auto.table[1])]
    assert [t["compilations"] for t in auto.timings] == [2, 0]  # one simulation, one fit program
    assert all(t["blocks"] == 1 for t in auto.timings)
    per_cell = tj.sweep(CHAIN, **GRID, key=key, runner=tj.PerCell(), progress=False, out=tmp_path)
    assert [t["compilations"] for t in per_cell.timings] == [1, 1]  # a program per cell
    assert all("blocks" not in t for t in per_cell.timings)
    assert [r["replicate"] for r in per_cell.replicates] == [0, 1, 2, 3] * 2
    # the directory's fingerprint is the spec's: the runner, like the batch width, is not in it
    recorded = json.loads((tmp_path / "config.json").read_text())["fingerprint"]
    assert recorded == tj.SweepSpec.make(CHAIN, **GRID, key=key).fingerprint
    # resumed cells are reported first, through the same three arguments
    calls.clear()
    again = tj.sweep(
        CHAIN, **GRID, key=key, runner=tj.PerCell(), progress=tj.Callback(progress), out=tmp_path
    )
    assert calls == [(1, 2, per_cell.table[0]), (2, 2, per_cell.table[1])] and again.table == per_cell.table


def test_text_progress_prints_a_line_per_cell(key, capsys):
    tj.sweep(CHAIN, m=[4], T=[6], replicates=4, key=key, progress=tj.TextProgress())
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1/1  m=4 T=6" in err
    tj.sweep(CHAIN, m=[4], T=[6], replicates=4, key=key, progress=tj.NoProgress())
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "section", "message"),
    [
        (dict(m=[0]), "sweep", "m: "),
        (dict(replicates=1), "sweep", "replicates: "),
        (dict(design="both"), "sweep", "design: "),
        (dict(fit_options={"max_steps": 0}), "fit", "max_steps: "),
        (dict(batch_size=1), "run", "batch_size: "),
    ],
)
def test_bad_settings_name_their_config_section(key, kwargs, section, message):
    settings = {**GRID, "key": key, "progress": False, **kwargs}
    with pytest.raises(SpecError, match=f"^{message}") as info:
        tj.sweep(CHAIN, **settings)
    assert info.value.section == section


def test_timing_rows_are_built_in_one_place():
    timing = tj.Timing(4, 6, compile_s=1.0, run_s=2.0, compilations=1)
    assert "blocks" not in timing.as_dict() and tj.Timing(4, 6, blocks=3).as_dict()["blocks"] == 3
    merged = tj.Timing.of_shards(4, 6, [timing.as_dict(), timing.as_dict()])
    assert (merged.compile_s, merged.run_s, merged.compilations) == (2.0, 4.0, 2)
    assert tj.CellOutcome((4, 6), {}, timing).timing.run_s == 2.0
