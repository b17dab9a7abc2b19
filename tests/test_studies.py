"""The study scripts' core functions run on tiny sizes (the studies themselves are in docs/studies.md)."""

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

import trajax as tj

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~6 s: compiles the vmapped Newton fit
def test_least_squares_study_core_runs():
    study = _load("study_least_squares")
    model = tj.LinearSystem(A=np.array([[0.6, 0.1], [0.0, 0.5]]), noise=tj.noise.BangBang(nu=0.5))
    e_mle, e_ls, converged = study.compare(model, jax.random.key(0), 2, 16, 3)
    assert e_mle.shape == e_ls.shape == (3,) and np.all(np.isfinite(e_mle)) and 0 <= converged <= 1
    r, lo, hi = study.ratio_ci(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, 2.0]))
    assert r == 2.25 and lo < r < hi


def test_few_trajectories_study_core_runs():
    study = _load("study_few_trajectories")
    mse, se, fisher = study.cell(tj.LinearSystem(A=np.eye(2)), jax.random.key(0), 1, 8, 3)
    assert mse > 0 and se >= 0 and fisher > 0
