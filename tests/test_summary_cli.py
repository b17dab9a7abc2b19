"""A fit on the user's data: `FitResult.summary` / `conf_int` against an independent computation,
θ-entry names, `RESULTS` members that print their names, and `trajax fit CONFIG DATA`."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import trajax as tj
from trajax._cli import main
from trajax._results import RESULTS

A_TRUE = [[0.5, 0.1], [0.0, 0.4]]
M, T = 20, 30
CONFIG = '[model]\nname = "linear_system"\nA = [[0.5, 0.1], [0.0, 0.4]]\n'


@pytest.fixture(scope="module")
def lds_data():
    model = tj.LinearSystem(A=A_TRUE)
    return model, np.asarray(tj.simulate(model, jax.random.key(7), M, T))


@pytest.fixture(scope="module")
def lds_fit(lds_data):
    model, data = lds_data
    return tj.fit(model, data)


# ---------------------------------------------------------------------------- summary and conf_int
def test_summary_numbers_match_an_independent_computation(lds_fit, lds_data):
    """Gaussian noise of scale 1: the information of row k of A is XᵀX (X the stacked states
    z_1..z_{T−1}), so SE = √diag((XᵀX)⁻¹) per row; z, p and intervals from scipy's normal;
    AIC = 2p − 2ℓ, BIC = p log n − 2ℓ with n = m(T − 1) transitions."""
    from trajax._summary import summary_values

    _, data = lds_data
    X = data[:, :-1].reshape(-1, 2)
    Y = data[:, 1:].reshape(-1, 2)
    A_hat = np.linalg.solve(X.T @ X, X.T @ Y).T  # least squares = the Gaussian MLE
    se = np.tile(np.sqrt(np.diag(np.linalg.inv(X.T @ X))), 2)
    residuals = Y - X @ A_hat.T
    ll = float(np.sum(stats.norm.logpdf(residuals)))
    n, p = M * (T - 1), 4

    v = summary_values(lds_fit, alpha=0.1)
    np.testing.assert_allclose(v["theta"], A_hat.ravel(), rtol=1e-10)
    np.testing.assert_allclose(v["stderr"], se, rtol=1e-10)
    np.testing.assert_allclose(v["stderr"], np.sqrt(np.diag(np.linalg.inv(lds_fit.information))), rtol=1e-10)
    z = A_hat.ravel() / se
    np.testing.assert_allclose(v["z"], z, rtol=1e-10)
    np.testing.assert_allclose(v["p_value"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-9, atol=1e-300)
    q = stats.norm.ppf(0.95)
    np.testing.assert_allclose(v["conf_int"], np.stack([A_hat.ravel() - q * se, A_hat.ravel() + q * se], 1))
    assert v["log_likelihood"] == pytest.approx(ll, rel=1e-12)
    assert v["aic"] == pytest.approx(2 * p - 2 * ll, rel=1e-12)
    assert v["bic"] == pytest.approx(p * math.log(n) - 2 * ll, rel=1e-12)
    assert v["num_transitions"] == n and v["result"] == "successful" and v["message"] == ""
    eig = np.linalg.eigvalsh(np.asarray(lds_fit.information))
    assert v["condition_number"] == pytest.approx(eig[-1] / eig[0])

    text = lds_fit.summary(alpha=0.1)
    assert "[0.05" in text and "0.95]" in text
    row = next(line for line in text.splitlines() if line.startswith("A[0,1]"))
    assert row.split()[1:3] == [f"{A_hat[0, 1]:.4f}", f"{se[1]:.4f}"]
    for label, value in (("AIC", v["aic"]), ("BIC", v["bic"]), ("log-likelihood", ll)):
        line = next(line for line in text.splitlines() if line.startswith(label))
        assert f"{value:.4f}" in line
    assert "transitions   580" in text and "result        successful" in text


def test_conf_int_shape_values_and_level(lds_fit):
    ci95, ci80 = np.asarray(lds_fit.conf_int()), np.asarray(lds_fit.conf_int(alpha=0.2))
    theta, se = np.asarray(lds_fit.theta), np.asarray(lds_fit.stderr)
    assert ci95.shape == (4, 2)
    np.testing.assert_allclose(ci95[:, 1] - theta, stats.norm.ppf(0.975) * se, rtol=1e-12)
    np.testing.assert_allclose(theta - ci95[:, 0], stats.norm.ppf(0.975) * se, rtol=1e-12)
    assert np.all(ci80[:, 0] > ci95[:, 0]) and np.all(ci80[:, 1] < ci95[:, 1])
    for bad in (0.0, 1.0, -0.1, "0.05", True):
        with pytest.raises(ValueError, match="^alpha: "):
            lds_fit.conf_int(bad)


def test_a_vmapped_batch_is_refused_in_one_line(lds_fit, lds_data):
    model, data = lds_data
    batch = jax.vmap(lambda d: tj.fit(model, d))(jnp.stack([data[:10], data[10:]]))
    assert batch.num_transitions.shape == (2,)  # the new fields gain the replicate axis too
    for method in (batch.summary, batch.conf_int):
        with pytest.raises(ValueError, match="batch of fits") as err:
            method()
        assert "\n" not in str(err.value)
    one = jax.tree.map(lambda x: x[0], batch)
    assert one.conf_int().shape == (4, 2)


def test_a_failed_fit_shows_its_result_and_message(lds_data):
    model, data = lds_data
    res = tj.fit(model, data, method="newton", max_steps=1, tol=1e-300, init=jnp.full(4, 5.0))
    assert not bool(res.converged)
    text = res.summary()
    assert f"result        {repr(res.result).split('.')[1]}" in text
    assert f"message: {res.message}" in text


# ---------------------------------------------------------------------------- names
def test_parameter_names_of_builtin_models():
    assert tj.parameter_names(tj.LinearSystem(A=A_TRUE)) == ["A[0,0]", "A[0,1]", "A[1,0]", "A[1,1]"]
    chain = tj.MarkovChain(P=[[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    names = tj.parameter_names(chain)
    assert names == ["P[0,0]", "P[0,1]", "P[1,0]", "P[1,1]", "P[2,0]", "P[2,1]"]
    assert len(names) == chain.num_params
    assert tj.parameter_names(tj.TwoStateChain(0.7)) == ["theta"]
    mixture = tj.MarkovChainMixture.two_state(0.8, 0.3)
    assert tj.parameter_names(mixture) == ["P[0,0,0]", "P[1,0,0]"]


class _Scalars(tj.AbstractModel):
    a: jax.Array
    B: jax.Array
    parameters = ("a", "B")

    def initial_state(self, key):
        return jnp.zeros(2)

    def transition(self, key, z, t):
        return self.a * self.B @ z + jax.random.normal(key, (2,), z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return jnp.sum(stats_norm_logpdf(z_next - self.a * self.B @ z))


class _Override(_Scalars):
    @property
    def theta(self):
        return jnp.concatenate([self.B.ravel(), self.a[None]])

    def with_theta(self, theta):
        return eqx.tree_at(lambda m: (m.B, m.a), self, (theta[:4].reshape(2, 2), theta[4]))


def stats_norm_logpdf(x):
    return -0.5 * x**2 - 0.5 * math.log(2 * math.pi)


def test_parameter_names_of_user_models_follow_fields_or_fall_back():
    a, B = jnp.asarray(0.5), jnp.eye(2)
    assert tj.parameter_names(_Scalars(a, B)) == ["a", "B[0,0]", "B[0,1]", "B[1,0]", "B[1,1]"]
    assert tj.parameter_names(_Override(a, B)) == [f"theta[{k}]" for k in range(5)]

    @tj.parameter_names.register
    def _(model: _Override) -> list[str]:
        return ["B[0,0]", "B[0,1]", "B[1,0]", "B[1,1]", "a"]

    assert tj.parameter_names(_Override(a, B))[-1] == "a"
    with pytest.raises(ValueError, match="^model: "):
        tj.parameter_names("not a model")


# ---------------------------------------------------------------------------- RESULTS repr
def test_results_members_print_their_names():
    for name in RESULTS._name_to_item:
        member = getattr(RESULTS, name)
        assert repr(member) == str(member) == f"RESULTS.{name}"
    assert RESULTS[RESULTS.successful] == "" and RESULTS[RESULTS.nonfinite].startswith("The data")
    picked = jax.jit(lambda p: RESULTS.where(p, RESULTS.successful, RESULTS.not_a_maximum))
    assert repr(picked(True)) == "RESULTS.successful" and repr(picked(False)) == "RESULTS.not_a_maximum"
    batch = jax.vmap(picked)(jnp.array([True, False]))
    assert repr(batch) == "RESULTS['successful', 'not_a_maximum']"
    np.testing.assert_array_equal(np.asarray(batch == RESULTS.successful), [True, False])
    assert isinstance(picked(True), RESULTS)

    def body(carry):
        i, r = carry
        return i + 1, RESULTS.where(i >= 1, RESULTS.max_steps_reached, r)

    _, out = jax.lax.while_loop(lambda c: c[0] < 3, body, (0, RESULTS.successful))
    assert repr(out) == "RESULTS.max_steps_reached"


def test_fit_result_reprs_name_the_member(lds_fit):
    assert repr(lds_fit.result) == "RESULTS.successful"
    assert "RESULTS.successful" in repr(lds_fit)


# ---------------------------------------------------------------------------- trajax fit
@pytest.fixture
def files(tmp_path, lds_data):
    _, data = lds_data
    config = tmp_path / "lds.toml"
    config.write_text(CONFIG)
    npz = tmp_path / "data.npz"
    np.savez(npz, x=data)
    return config, npz


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fit_prints_the_summary_and_writes_json(files, tmp_path, capsys, lds_fit):
    config, npz = files
    out_json = tmp_path / "fit.json"
    code, out, err = _run(capsys, "fit", config, npz, "--json", out_json)
    assert code == 0, err
    summary_lines = out.splitlines()
    assert summary_lines[: len(lds_fit.summary().splitlines()) - 5] == lds_fit.summary().splitlines()[:-5]
    assert "trajectories  20" in out and "transitions   580" in out
    record = json.loads(out_json.read_text())
    assert record["names"] == ["A[0,0]", "A[0,1]", "A[1,0]", "A[1,1]"]
    np.testing.assert_allclose(record["theta"], lds_fit.theta, rtol=1e-12)
    np.testing.assert_allclose(record["stderr"], lds_fit.stderr, rtol=1e-12)
    np.testing.assert_allclose(record["conf_int"], lds_fit.conf_int(), rtol=1e-12)
    ll = float(lds_fit.log_likelihood)
    assert record["log_likelihood"] == pytest.approx(ll)
    assert record["aic"] == pytest.approx(8 - 2 * ll) and record["bic"] == pytest.approx(
        4 * math.log(580) - 2 * ll
    )
    assert (record["num_trajectories"], record["num_transitions"]) == (20, 580)
    assert (record["result"], record["message"], record["converged"]) == ("successful", "", True)
    assert record["config"]["model"]["name"] == "linear_system"
    assert record["data"] == {"path": str(npz), "key": "x", "lengths": None}


def test_cli_fit_with_lengths_ignores_nan_padding(tmp_path, capsys, lds_data):
    model, data = lds_data
    lengths = np.full(M, T)
    lengths[:5] = 12
    padded = data.copy()
    padded[:5, 12:] = np.nan
    npz = tmp_path / "ragged.npz"
    np.savez(npz, x=padded, L=lengths)
    config = tmp_path / "lds.toml"
    config.write_text(CONFIG + "[fit]\nmax_steps = 50\n[sweep]\nm = 4\nT = 8\nreplicates = 2\n")
    code, out, err = _run(
        capsys, "fit", config, npz, "--key", "x", "--lengths", "L", "--json", tmp_path / "r.json"
    )
    assert code == 0, err
    expected = tj.fit(model, padded, lengths=lengths, max_steps=50)
    record = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(record["theta"], expected.theta, rtol=1e-8)
    assert record["num_transitions"] == int(np.sum(lengths - 1)) and record["num_trajectories"] == M


def test_cli_fit_of_a_markov_chain(tmp_path, capsys):
    data = np.random.default_rng(3).integers(0, 2, size=(30, 20))  # float states below: cast back
    np.savez(tmp_path / "chain.npz", states=data.astype(np.float64))
    (tmp_path / "chain.toml").write_text('[model]\nname = "markov_chain"\nP = [[0.5, 0.5], [0.5, 0.5]]\n')
    code, out, err = _run(capsys, "fit", tmp_path / "chain.toml", tmp_path / "chain.npz")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines() if line.startswith("P[")] == ["P[0,0]", "P[1,0]"]


def _bad_inputs(tmp_path, data):
    """{case: (extra argv, expected fragment of the message)}; archives written into tmp_path."""
    nan_inside = data.copy()
    nan_inside[2, 5, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan_inside)
    np.savez(tmp_path / "two.npz", x=data, y=data)
    np.savez(tmp_path / "flat.npz", x=data[..., 0])
    np.savez(tmp_path / "wide.npz", x=np.concatenate([data, data], axis=-1))
    np.savez(tmp_path / "frac.npz", x=data, L=np.full(M, 10.5))
    np.savez(tmp_path / "long.npz", x=data, L=np.full(M, T + 1))
    np.savez(tmp_path / "short.npz", x=data, L=np.full(M - 1, T))
    nan_padding = data.copy()
    nan_padding[0, 9:] = np.nan  # inside: length 10 means states 0..9
    np.savez(tmp_path / "padnan.npz", x=nan_padding, L=np.full(M, 10))
    np.save(tmp_path / "plain.npy", data)
    (tmp_path / "junk.npz").write_text("not an archive")
    return {
        "missing file": ([tmp_path / "nope.npz"], "DATA: no such file"),
        "not an archive": ([tmp_path / "junk.npz"], "DATA: cannot read"),
        "npy": ([tmp_path / "plain.npy"], "DATA: "),
        "missing key": ([tmp_path / "two.npz", "--key", "z"], "--key: no array 'z'"),
        "several arrays": ([tmp_path / "two.npz"], "--key: "),
        "missing lengths": (
            [tmp_path / "two.npz", "--key", "x", "--lengths", "L"],
            "--lengths: no array 'L'",
        ),
        "(m, T) for a vector model": ([tmp_path / "flat.npz"], "DATA array 'x': expected shape (m, T, 2)"),
        "wrong state size": ([tmp_path / "wide.npz"], "DATA array 'x': expected shape (m, T, 2)"),
        "NaN inside": ([tmp_path / "nan.npz"], "DATA array 'x': trajectory 2 has a NaN or inf at state 5"),
        "NaN inside a length": (
            [tmp_path / "padnan.npz", "--key", "x", "--lengths", "L"],
            "within its length 10",
        ),
        "non-integer lengths": (
            [tmp_path / "frac.npz", "--key", "x", "--lengths", "L"],
            "--lengths array 'L': expected whole",
        ),
        "lengths > T": (
            [tmp_path / "long.npz", "--key", "x", "--lengths", "L"],
            "--lengths array 'L': expected 2 <= lengths <= T = 30",
        ),
        "lengths shape": (
            [tmp_path / "short.npz", "--key", "x", "--lengths", "L"],
            "--lengths array 'L': expected shape (20,)",
        ),
    }


def test_cli_fit_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, lds_data):
    config, npz = files
    _, data = lds_data
    for case, (argv, fragment) in _bad_inputs(tmp_path, data).items():
        code, out, err = _run(capsys, "fit", config, *argv)
        assert code == 2, (case, err)
        assert err.startswith("trajax: error: ") and err.count("\n") == 1, (case, err)
        assert fragment in err, (case, err)
        assert out == "", case
    bad_config = tmp_path / "bad.toml"
    for text, fragment in (
        ('[model]\nname = "linear_sistem"\nA = [[0.5]]\n', "model.name: unknown model"),
        (CONFIG + "[fit]\nmethod = 'bfgs'\n", "fit.method: "),
        (CONFIG + "[fit]\nmax_step = 3\n", "fit.max_step: unknown key"),
        ("[sweep]\nm = 3\n", "model: the [model] table is missing"),
    ):
        bad_config.write_text(text)
        code, _, err = _run(capsys, "fit", bad_config, npz)
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
    code, _, err = _run(capsys, "fit", tmp_path / "none.toml", npz)
    assert code == 2 and "CONFIG: no such file" in err
    code, _, err = _run(capsys, "fit", config, npz, "--json", tmp_path / "no" / "fit.json")
    assert code == 2 and "--json: directory" in err


def test_help_lists_fit(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fit" in capsys.readouterr().out.split("positional arguments")[1].split("options")[0]
