"""burn_in and plot_burn_in on hand-made sweep tables (expected answers worked out by hand)."""

import math

import pytest

import trajax as tj
from trajax._burnin import plot_burn_in, ratio_interval


def _rows(T, cells):
    return [{"m": m, "T": T, "ratio_lo": lo, "ratio_hi": hi} for m, lo, hi in cells]


def _result(*tables):
    return tj.SweepResult(table=[row for t in tables for row in t])


def test_burn_in_is_the_start_of_the_covering_tail():
    result = _result(
        # plain burn-in: m = 16 is above the curve, 64 and 256 cover 1 -> 64
        _rows(8, [(16, 1.2, 1.7), (64, 0.8, 1.1), (256, 0.9, 1.2)]),
        # m = 16 covers 1 by chance, m = 64 does not, 256 and 1024 do -> 256, not 16
        _rows(32, [(16, 0.9, 1.3), (64, 1.05, 1.3), (256, 0.95, 1.1), (1024, 0.9, 1.05)]),
        # the largest m fails -> None even though smaller ones cover
        _rows(128, [(16, 0.9, 1.2), (64, 0.95, 1.1), (256, 1.02, 1.1)]),
        # every cell covers -> the smallest m; a CI touching 1 at an end counts as covering
        _rows(512, [(16, 1.0, 1.4), (64, 0.7, 1.0)]),
    )
    assert tj.burn_in(result) == [
        {"T": 8, "m": 64},
        {"T": 32, "m": 256},
        {"T": 128, "m": None},
        {"T": 512, "m": 16},
    ]


def test_unsorted_rows_and_non_finite_cells():
    # rows in any order; a NaN CI (every fit failed) breaks the tail like a miss
    rows = _rows(16, [(256, 0.9, 1.1), (4, 0.8, 1.3), (64, math.nan, math.nan), (1024, 0.95, 1.05)])
    rows += _rows(8, [(1024, 0.9, 1.1), (4, 0.5, 0.9)])
    assert tj.burn_in(tj.SweepResult(table=rows)) == [{"T": 8, "m": 1024}, {"T": 16, "m": 256}]


def test_other_levels_recompute_the_interval_from_mse():
    # mse = 1.1, SE = 0.045, theory = 1: at 95% the CI is [1.0118, 1.1882] (misses 1), at
    # 99% (z = 2.5758) it is [0.9841, 1.2159] (covers 1). The stored 95% columns are used as
    # they are at level 0.95 (here deliberately inconsistent with mse, to tell the paths apart).
    row = {"m": 64, "T": 8, "mse": 1.1, "mse_se": 0.045, "theory": 1.0, "ratio_lo": 0.5, "ratio_hi": 1.5}
    big = {"m": 256, "T": 8, "mse": 1.0, "mse_se": 0.01, "theory": 1.0, "ratio_lo": 0.98, "ratio_hi": 1.02}
    result = tj.SweepResult(table=[row, big])
    assert tj.burn_in(result) == [{"T": 8, "m": 64}]
    assert tj.burn_in(result, level=0.99) == [{"T": 8, "m": 64}]
    assert tj.burn_in(result, level=0.9) == [{"T": 8, "m": 256}]
    lo, hi = ratio_interval(row, 0.99)
    assert abs(lo - (1.1 - 2.5758293 * 0.045)) < 1e-6 and abs(hi - (1.1 + 2.5758293 * 0.045)) < 1e-6


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="result: expected a SweepResult"):
        tj.burn_in([{"m": 1, "T": 2, "ratio_lo": 0.0, "ratio_hi": 2.0}])
    with pytest.raises(ValueError, match="result: table rows need the columns"):
        tj.burn_in(tj.SweepResult(table=[{"m": 1, "T": 2}]))
    with pytest.raises(ValueError, match="level: expected a value in"):
        tj.burn_in(_result(_rows(8, [(16, 0.9, 1.1)])), level=95)
    with pytest.raises(ValueError, match="result: level=0.9 needs the columns mse"):
        tj.burn_in(_result(_rows(8, [(16, 0.9, 1.1)])), level=0.9)


def test_burn_in_of_a_real_sweep(key):
    # the columns a sweep writes are the ones burn_in reads; the two-state chain's MLE is exact
    # (binomial), so the CIs are valid at every m and each T gets some start on the grid.
    result = tj.sweep(
        tj.TwoStateChain(theta=0.8), m=[4, 16], T=[8, 16], replicates=40, key=key, progress=False
    )
    records = tj.burn_in(result)
    assert [r["T"] for r in records] == [8, 16]
    for rec in records:
        covering = [
            r["m"] for r in result.table if r["T"] == rec["T"] and r["ratio_lo"] <= 1 <= r["ratio_hi"]
        ]
        assert rec["m"] is None or rec["m"] in covering


def test_plot_burn_in_with_coverage_and_boundaries(tmp_path):
    rows = _rows(8, [(16, 1.2, 1.7), (64, 0.8, 1.1)]) + _rows(32, [(16, 1.5, 2.5), (64, 0.9, 1.3)])
    for r in rows:
        r["ratio"] = (r["ratio_lo"] + r["ratio_hi"]) / 2
    plot_burn_in(tj.SweepResult(table=rows), tmp_path / "a.png", boundary=lambda T: T, boundary_label="m = T")
    for r in rows:
        r["coverage"] = 0.9
    boundaries = {"points": [(8, 10), (32, 40)], "m = 4": lambda T: 4.0 + 0 * T}
    plot_burn_in(tj.SweepResult(table=rows), tmp_path / "b.png", boundary=boundaries)
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="boundary: expected"):
        plot_burn_in(tj.SweepResult(table=rows), tmp_path / "c.png", boundary=[1, 2, 3])
