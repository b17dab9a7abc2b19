"""Coverage columns of a sweep (docs/theory.md §9): within Monte-Carlo error of 0.95 past the
burn-in, below it in a burn-in cell (the two-chain mixture with few short trajectories)."""

import pytest

import trajax as tj


@pytest.mark.slow
def test_coverage_is_nominal_past_burn_in_and_low_in_a_burn_in_cell(key):
    # error model: a coverage over R replicates is a binomial proportion, SE = √(0.95·0.05/R);
    # Wald coverage averages p coordinates per replicate (correlated): its SE comes from the replicates
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    (row,) = tj.sweep(lds, m=[64], T=[64], replicates=400, key=key, progress=False).table
    for column in ("coverage", "wald_coverage"):
        assert abs(row[column] - 0.95) < 4 * row[f"{column}_se"] + 1e-3, row
    mixture = tj.MarkovChainMixture.two_state(0.8, 0.4)
    few, more = tj.sweep(mixture, m=[2, 16], T=[6], replicates=400, key=key, progress=False).table
    # power: far below 0.95, by many standard errors (measured with another seed: Wald 0.80 at
    # m = 2, the χ² coverage 0.86 at m = 16; not monotone in m before the burn-in)
    assert few["wald_coverage"] < 0.95 - 4 * few["wald_coverage_se"], few
    assert more["coverage"] < 0.95 - 4 * more["coverage_se"], more
