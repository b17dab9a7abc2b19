"""Bad input is rejected with a ValueError that names the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: tj.TwoStateChain(theta=1.2), r"theta: expected values in \(0.0, 1.0\), got 1.2"),
        (lambda: tj.TwoStateChain(theta=[0.2, 0.3]), "theta: expected a scalar"),
        (lambda: tj.MarkovChain(P=[[0.5, 0.6], [0.5, 0.5]]), "P: expected rows summing to 1"),
        (lambda: tj.MarkovChain(P=[[1.5, -0.5], [0.5, 0.5]]), "P: expected non-negative"),
        (lambda: tj.MarkovChain(P=[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]), "P: expected a square"),
        (lambda: tj.MarkovChain(P=jnp.eye(2), initial=[0.2, 0.2]), "initial: expected rows summing"),
        (lambda: tj.MarkovChain(P=jnp.eye(2), initial=[1.0, 0.0, 0.0]), "initial: expected shape"),
        (lambda: tj.LinearSystem(A=jnp.ones((2, 3))), "A: expected a square"),
        (lambda: tj.LinearSystem(A=[[jnp.nan]]), "A: expected finite values"),
        (lambda: tj.LinearSystem(A=jnp.eye(2), x0=jnp.zeros(3)), r"x0: expected shape \(2,\)"),
        (lambda: tj.LinearSystem(A=jnp.eye(2), noise="gaussian"), "noise: expected a trajax.noise"),
        (lambda: tj.noise.Gaussian(scale=-1.0), "scale: expected a positive value, got -1"),
        (lambda: tj.noise.StudentT(df=-2.0), "df: expected a positive value"),
        (lambda: tj.noise.SmoothedLaplace(scale=1.0, c=0.0), "c: expected a positive value"),
        (lambda: tj.noise.BangBang(nu=0.0), "nu: expected a positive value"),
        (
            lambda: tj.DependentRegression(theta=jnp.ones(2), features=lambda z: jnp.eye(2), dim=3),
            r"features: expected M\(z\) of shape \(3, 2\), got \(2, 2\)",
        ),
        (lambda: tj.DependentRegression(theta=jnp.ones(2), features=lambda z: z), "x0: give"),
    ],
)
def test_constructors_reject_bad_parameters(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_nan_and_inf_in_data_are_rejected(key):
    lds = tj.LinearSystem(A=0.5 * jnp.eye(2))
    data = np.array(tj.simulate(lds, key, 4, 10))
    data[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="data: expected finite values, got 1 NaN/inf"):
        tj.fit(lds, data)
    with pytest.raises(ValueError, match="data: expected finite values"):
        tj.log_likelihood(lds, data)
    data[1, 3, 0] = np.inf
    with pytest.raises(ValueError, match="data: expected finite values"):
        tj.score(lds, data)


def test_nan_in_data_under_jit_raises_instead_of_propagating(key):
    lds = tj.LinearSystem(A=0.5 * jnp.eye(2))
    data = tj.simulate(lds, key, 4, 10).at[0, 2, 1].set(jnp.nan)
    with pytest.raises(Exception, match="data: NaN or inf in data"):
        jax.jit(lambda d: tj.fit(lds, d).theta)(data).block_until_ready()


def test_data_shape_and_state_checks(key):
    chain = tj.MarkovChain(P=[[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"data: expected states in 0..1, got values in 0..2"):
        tj.log_likelihood(chain, jnp.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="data: expected integer states"):
        tj.log_likelihood(chain, jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"data: expected leading axes"):
        tj.log_likelihood(chain, jnp.array([0, 1, 1]))
    lds = tj.LinearSystem(A=jnp.eye(2))
    with pytest.raises(ValueError, match=r"data: expected shape \(m, T, 2\), got \(3, 5, 4\)"):
        tj.fit(lds, jnp.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="data: expected at least 2 states"):
        tj.fit(lds, jnp.zeros((3, 1, 2)))


def test_function_arguments_are_checked(key):
    chain = tj.TwoStateChain(theta=0.7)
    with pytest.raises(ValueError, match="num_trajectories: expected an integer >= 1, got 0"):
        tj.simulate(chain, key, 0, 5)
    with pytest.raises(ValueError, match="key: expected a PRNG key such as jax.random.key"):
        tj.simulate(chain, 3, 4, 5)
    with pytest.raises(ValueError, match="method: expected one of"):
        tj.fisher_information(chain, 5, method="magic")
    with pytest.raises(ValueError, match="key: method 'outer' is Monte-Carlo and needs a PRNG key"):
        tj.fisher_information(chain, 5, method="outer")
    reg = tj.DependentRegression(theta=jnp.ones(2), features=lambda z: jnp.eye(2), dim=2)
    with pytest.raises(ValueError, match="method: 'exact' is not available for DependentRegression"):
        tj.fisher_information(reg, 5, method="exact")
    data = tj.simulate(chain, key, 3, 5)
    with pytest.raises(ValueError, match=r"init: expected shape \(1,\), got \(2,\)"):
        tj.fit(chain, data, method="newton", init=jnp.ones(2) / 2)
    with pytest.raises(ValueError, match="method: LinearSystem has no closed-form MLE"):
        lds = tj.LinearSystem(A=jnp.eye(2), noise=tj.noise.StudentT(5.0))
        tj.fit(lds, jnp.zeros((2, 4, 2)), method="closed_form")
