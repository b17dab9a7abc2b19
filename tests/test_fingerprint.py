"""A sweep's fingerprint changes with every setting that changes a number (the model's code
included) and with nothing else, so a rerun never serves stale cells and never refuses a
resume it could do."""

import importlib.util
import textwrap

import jax
import jax.numpy as jnp
import pytest

import trajax as tj
from trajax._fingerprint import fingerprint, identity, model_code

AR1_SOURCE = """
import equinox as eqx, jax, jax.numpy as jnp, trajax as tj

def drift(a, z):
    return {drift}

class AR1(tj.AbstractModel):
    a: jax.Array
    scale: float = eqx.field(static=True)
    parameters = ("a",)
    {version}

    def initial_state(self, key):
        return jnp.zeros(())

    def transition(self, key, z, t):
        return {simulated} + {noise} * self.scale * jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        r = (z_next - drift(self.a, z)) / self.scale
        return -0.5 * r**2 - jnp.log(self.scale) - 0.5 * jnp.log(2 * jnp.pi)
"""


def _ar1(tmp_path, name, drift="a * z", noise="1.0", version="", simulated="drift(self.a, z)"):
    """A one-class model written to its own file `name`.py, as a user would, and imported."""
    path = tmp_path / f"{name}.py"
    path.write_text(AR1_SOURCE.format(drift=drift, noise=noise, version=version, simulated=simulated))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AR1(a=jnp.asarray(0.5), scale=1.0)


def test_edited_simulator_is_refused_instead_of_serving_stale_cells(tmp_path, key):
    # the case: the simulator of a one-class model is edited between two runs
    grid = dict(m=[8], T=[6], replicates=4, key=key, fisher_samples=20, progress=False)
    out = tmp_path / "out"
    before = tj.sweep(_ar1(tmp_path, "v1"), **grid, out=out)
    edited = _ar1(tmp_path, "v2", simulated="0.95 * z")  # data from a = 0.95, the truth says 0.5
    with pytest.raises(ValueError, match=r"different sweep \(model.code.AR1 differs\)"):
        tj.sweep(edited, **grid, out=out)
    after = tj.sweep(edited, **grid, out=out, force=True)
    assert after.table[0]["mse"] > 3 * before.table[0]["mse"]  # the new numbers, not the old ones


def test_code_identity_follows_the_source_not_the_file(tmp_path):
    same = [model_code(_ar1(tmp_path, name)) for name in ("here", "there")]
    assert same[0] == same[1]  # the same class in another file (or a moved file) keeps its results
    assert model_code(_ar1(tmp_path, "helper", drift="a * z + 0.1")) != same[0]  # a helper it calls
    assert model_code(_ar1(tmp_path, "noisy", noise="2.0")) != same[0]


def test_a_declared_version_replaces_the_source(tmp_path):
    v1 = model_code(_ar1(tmp_path, "d1", version='version = "1"'))
    edited = model_code(_ar1(tmp_path, "d2", noise="2.0", version='version = "1"'))
    bumped = model_code(_ar1(tmp_path, "d3", version='version = "2"'))
    assert v1 == edited == {"AR1": "version 1"} and bumped == {"AR1": "version 2"}


def test_functions_held_by_a_model_count_with_their_closures():
    def regression(features):
        return tj.DependentRegression(theta=jnp.ones(2), features=features, dim=2)

    def scaled(c):
        return lambda z: c * jnp.eye(2)

    base = model_code(regression(scaled(1.0)))
    assert model_code(regression(scaled(1.0))) == base
    assert model_code(regression(scaled(2.0))) != base  # same source, other closure value
    assert model_code(regression(lambda z: jnp.diag(z + 1.0))) != base


def test_classes_without_source_are_identified_by_bytecode():
    def build(body):
        namespace = {"tj": tj, "jnp": jnp, "jax": jax}
        exec(textwrap.dedent(f"""
            class Chain(tj.TwoStateChain):
                def transition(self, key, z, t):
                    return {body}
            """), namespace)  # fmt: skip
        return namespace["Chain"](theta=0.7)

    one = model_code(build("1 - z"))
    assert model_code(build("1 - z")) == one and model_code(build("z")) != one


def test_builtin_models_code_does_not_depend_on_parameters():
    code = model_code(tj.TwoStateChain(theta=0.3))
    assert code == model_code(tj.TwoStateChain(theta=0.9)) and set(code) == {"TwoStateChain"}
    lds = model_code(tj.LinearSystem(A=jnp.eye(2) / 2, noise=tj.noise.StudentT(5.0)))
    assert set(lds) == {"LinearSystem", "StudentT"}


def test_settings_that_change_no_number_are_left_out():
    base = {"model": {"name": "x"}, "m": [4], "T": [8], "replicates": 4, "batch_size": 16,
            "max_cell_bytes": 2**30, "config": {"run": {"batch_size": 16, "max_cell_mb": 1024.0}}}  # fmt: skip
    other = base | {"batch_size": 4, "max_cell_bytes": 100, "config": {"run": {"max_cell_mb": 0.5}}}
    assert fingerprint(identity(base)) == fingerprint(identity(other))
    for changed in ({"replicates": 5}, {"config": {"run": {"dtype": "float32"}}}, {"T": [9]}):
        assert fingerprint(identity(base | changed)) != fingerprint(identity(base)), changed
