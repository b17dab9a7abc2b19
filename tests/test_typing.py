"""Public signatures carry jaxtyping annotations; results are checked against them."""

import typing

import jax.numpy as jnp
import pytest

import trajax as tj
from trajax._fisher import fisher_information
from trajax._likelihood import log_likelihood, ravel, score


def _return_type(fn):
    return typing.get_type_hints(fn)["return"]


@pytest.mark.parametrize(
    "model",
    [tj.TwoStateChain(theta=0.7), tj.LinearSystem(A=[[0.5, 0.1], [0.0, 0.4]], noise=tj.noise.StudentT(5.0))],
    ids=["chain", "lds"],
)
def test_results_match_their_annotations(model, key):
    data = tj.simulate(model, key, 5, 8)
    ll, s = log_likelihood(model, data), score(model, data)
    assert isinstance(ll, _return_type(log_likelihood)) and ll.shape == (5,)
    p = model.theta.shape[0]
    assert isinstance(s, _return_type(score)) and s.shape == (5, p)
    info = fisher_information(model, 8, method="outer", key=key, num_samples=10)
    assert info.shape == (p, p) and jnp.issubdtype(info.dtype, jnp.floating)
    theta, unravel = ravel(model)
    assert theta.ndim == 1 and type(unravel(theta)) is type(model)
    fit = tj.fit(model, data)
    for name, hint in typing.get_type_hints(tj.FitResult).items():
        if name != "model":
            assert isinstance(getattr(fit, name), hint), (name, hint)
    assert not isinstance(jnp.zeros((2, 2)), _return_type(log_likelihood))  # the check has teeth
