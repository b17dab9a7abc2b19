"""Property-based tests (hypothesis): every malformed config is one line and exit 2, and the
built-in models keep their invariants at random parameters.

Runs are derandomized (the same examples every time) and small: a handful of examples each."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trajax as tj
from trajax._cli import main

SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

# ---------------------------------------------------------------------------- configs

MODELS = {  # a valid [model] table, its required parameter, values of it out of range
    "two_state_chain": ({"name": "two_state_chain", "theta": 0.8}, "theta", [0.0, 1.0, -0.5, 7, math.nan]),
    "linear_system": (
        {"name": "linear_system", "A": [[0.5]], "noise": {"family": "student_t", "df": 5.0}},
        "A",
        [[[1.0, 0.0]], [[math.inf]], [[0.5], [0.5]], [], [[]]],
    ),
}
VALID = {
    "sweep": {"m": [2], "T": [3], "replicates": 2, "seed": 0, "design": "nested"},
    "fit": {"method": "auto", "max_steps": 20, "tol": 1e-6},
    "fisher": {"method": "auto", "samples": 10},
    "run": {"batch_size": 2, "max_cell_mb": 8.0},
}
REQUIRED = [
    ("model",),
    ("model", "name"),
    ("sweep",),
    ("sweep", "m"),
    ("sweep", "T"),
    ("sweep", "replicates"),
]
# values outside each setting's range (a valid run would need none of them)
OUT_OF_RANGE = {
    ("sweep", "m"): [[0], [-3], [2, 2], [], [2**40]],
    ("sweep", "T"): [[1], [0, 4], [3, 3], [2**31]],
    ("sweep", "replicates"): [1, 0, -7, 2**31],
    ("sweep", "seed"): [-1, 2**63],
    ("fit", "max_steps"): [0, -1],
    ("fit", "tol"): [0.0, -1e-3, math.inf, math.nan],
    ("fisher", "samples"): [1, 0],
    ("run", "batch_size"): [1, 0, -4],
    ("run", "max_cell_mb"): [0.0, -1.0, math.nan],
}
WRONG = st.one_of(
    st.text(alphabet="abcxyz_ 0", max_size=6),
    st.booleans(),
    st.lists(st.text(alphabet="ab", max_size=2), min_size=1, max_size=2),
    st.fixed_dictionaries({"x": st.integers(-2, 2)}),
    st.lists(st.lists(st.booleans(), max_size=2), min_size=1, max_size=2),
)


def _toml_value(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf") if math.isinf(x) else repr(x)
    if isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, list):
        return "[" + ", ".join(_toml_value(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in x.items()) + "}"
    return str(x)


def _toml(config: dict) -> str:
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for section, table in config.items():
        if isinstance(table, dict):
            lines += [f"[{section}]", *(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


@st.composite
def broken_configs(draw):
    """A config with at least one fault: a missing or extra key, a wrong type, a value out of
    range (in the model's parameters, its noise, or the other sections, of which the optional
    ones are kept or dropped at random)."""
    model, required, bad_values = draw(st.sampled_from(sorted(MODELS.items())))[1]
    config = {"model": dict(model)}
    config |= {k: dict(v) for k, v in VALID.items() if k == "sweep" or draw(st.booleans())}
    faults = draw(st.lists(st.sampled_from(["missing", "extra", "wrong_type", "out_of_range"]), min_size=1,
                           max_size=3))  # fmt: skip
    for fault in faults:
        if fault == "missing":
            path = draw(st.sampled_from([*REQUIRED, ("model", required)]))
            table = config if len(path) == 1 else config.setdefault(path[0], {})
            table.pop(path[-1], None)
        elif fault == "extra":
            section = draw(st.sampled_from([None, "model", *VALID]))
            name = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8))
            table = config if section is None else config.setdefault(section, {})
            if name not in {**VALID, **model}.get(section, {**VALID, "model": 0}) and name != "noise":
                table[name] = draw(st.integers(0, 3))
            else:
                table.pop(required if section == "model" else "m", None)  # a fault all the same
        elif fault == "wrong_type":
            section = draw(st.sampled_from(["model", "noise", *VALID]))
            table = (
                config.setdefault("model", {})
                if section in ("model", "noise")
                else config.setdefault(section, {})
            )
            if section == "noise":
                table = table.setdefault("noise", {"family": "gaussian"})
                table = table if isinstance(table, dict) else config["model"]
            key = draw(st.sampled_from(sorted(table) or ["family"]))
            table[key] = draw(WRONG)
        elif draw(st.booleans()):
            config.setdefault("model", {})[required] = draw(st.sampled_from(bad_values))
        else:
            section, key = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
            config.setdefault(section, {})[key] = draw(st.sampled_from(OUT_OF_RANGE[(section, key)]))
    return config


@settings(max_examples=int(os.environ.get("TRAJAX_CONFIG_EXAMPLES", 150)), **SETTINGS)
@given(config=broken_configs())
def test_broken_configs_exit_2_with_one_line(tmp_path_factory, capsys, config):
    directory = tmp_path_factory.mktemp("config")
    path, out = directory / "c.toml", directory / "out"
    path.write_text(_toml(config))
    try:
        status = main(["sweep", str(path), "--out", str(out), "--quiet"])
    finally:
        jax.config.update("jax_enable_x64", True)  # the CLI sets the precision from the config
    err = capsys.readouterr().err
    assert status == 2, (config, err)
    assert err.startswith("trajax: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


# ---------------------------------------------------------------------------- models

unit = st.floats(0.15, 0.85)
small = st.one_of(st.floats(-0.4, -0.05), st.floats(0.05, 0.4))  # |A|_∞ < 1: stable, no zero row


def _matrix(draw, n):
    return np.array([[draw(small) for _ in range(n)] for _ in range(n)])


@st.composite
def models(draw, family):
    """A built-in model of `family` at random (valid, stable) parameters."""
    if family == "two_state_chain":
        return tj.TwoStateChain(theta=draw(unit))
    if family == "markov_chain":
        P = np.array([[draw(st.floats(0.2, 1.0)) for _ in range(3)] for _ in range(3)])
        return tj.MarkovChain(P=P / P.sum(axis=1, keepdims=True))
    if family == "linear_system":
        noise = draw(
            st.sampled_from([tj.noise.Gaussian(1.0), tj.noise.StudentT(5.0), tj.noise.BangBang(0.5)])
        )
        return tj.LinearSystem(A=_matrix(draw, 2), noise=noise)
    if family == "sinusoidal_glm":
        return tj.SinusoidalGLM(A=_matrix(draw, 2))
    if family == "two_state_mixture":
        return tj.MarkovChainMixture.two_state(draw(st.floats(0.6, 0.9)), draw(st.floats(0.1, 0.4)))
    if family == "mixed_linear_regression":
        return tj.MixedLinearRegression(beta=[draw(st.floats(0.5, 1.5)), -draw(st.floats(0.5, 1.5))])
    if family == "linear_attention":
        E = np.array([[1.0, 0.0], [0.0, 1.0], [-0.6, -0.6]])
        return tj.LinearAttention(W=_matrix(draw, 2), E=E, C=np.array([[1.0, 0.5], [-0.5, 1.0]]))
    return tj.DependentRegression(theta=[draw(small), draw(small)], features=lambda z: jnp.diag(jnp.tanh(z)),
                                  dim=2)  # fmt: skip


FAMILIES = ["two_state_chain", "markov_chain", "linear_system", "sinusoidal_glm", "two_state_mixture",
            "mixed_linear_regression", "linear_attention", "dependent_regression"]  # fmt: skip


def _invariants(model, other, key) -> None:
    """ravel and the unconstrained map round-trip θ; log_likelihood is finite on the model's
    own samples; the score has mean zero at θ* (each coordinate within 5 Monte-Carlo standard
    errors of 0, over 300 iid trajectories); the Fisher information is symmetric positive
    semi-definite (exact where the model has it, else Monte Carlo)."""
    theta, unravel = tj.ravel(model)
    assert jnp.array_equal(unravel(theta).theta, theta)
    assert jnp.array_equal(unravel(other.theta).theta, other.theta)
    back = model.from_unconstrained(model.to_unconstrained(theta))
    np.testing.assert_allclose(back, theta, rtol=1e-9, atol=1e-12)

    data = tj.simulate(model, key, 300, 12)
    assert bool(jnp.all(jnp.isfinite(tj.log_likelihood(model, data))))
    s = np.asarray(tj.score(model, data))
    mean, se = s.mean(axis=0), s.std(axis=0, ddof=1) / np.sqrt(len(s))
    assert np.all(np.abs(mean) <= 5 * se + 1e-12), f"score mean {mean} with standard errors {se}"

    info = np.asarray(tj.fisher_information(model, 12, key=key, num_samples=100))
    np.testing.assert_allclose(info, info.T, rtol=1e-10, atol=1e-12 * np.abs(info).max())
    assert np.linalg.eigvalsh((info + info.T) / 2).min() >= -1e-10 * np.abs(info).max(), "Fisher not PSD"


@pytest.mark.parametrize("family", FAMILIES)
def test_model_invariants(family):
    @settings(max_examples=3, **SETTINGS)
    @given(model=models(family), other=models(family), seed=st.integers(0, 2**16))
    def check(model, other, seed):
        _invariants(model, other, jax.random.key(seed))

    check()


class SamplesAnotherLaw(tj.TwoStateChain):
    def transition(self, key, z, t):  # stays with probability θ², the likelihood says θ
        stay = jax.random.uniform(key, dtype=self.stay.dtype) < self.stay**2
        return jnp.where(stay, z, 1 - z)


class NegativeFisher(tj.TwoStateChain):
    def exact_fisher(self, num_steps):
        return -super().exact_fisher(num_steps)


@pytest.mark.parametrize("wrong, message", [(SamplesAnotherLaw, "score mean"), (NegativeFisher, "not PSD")])
def test_invariants_catch_a_wrong_model(key, wrong, message):
    # power check: each model breaks one invariant, which must fail at the seed the tests use
    with pytest.raises(AssertionError, match=message):
        _invariants(wrong(theta=0.7), wrong(theta=0.4), key)
