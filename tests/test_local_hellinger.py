"""local_hellinger: d_H²/(ΔᵀI_TΔ) along rays, against the two-state chain's closed forms.

Reference: d_H²(θ, θ + r) = 2 − 2(√(θ(θ+r)) + √((1−θ)(1−θ−r)))^{T−1} and
I_T = (T−1)/(θ(1−θ)), so the exact ratio is known at every radius and tends to ¼ as r → 0.
"""

import numpy as np
import pytest

import trajax as tj

THETA, T = 0.7, 30
RADII = np.array([1e-3, 3e-3, 1e-2, 3e-2, 0.1])


def exact_ratio(u, r):
    a, b = THETA, THETA + u * r
    d2 = 2 - 2 * (np.sqrt(a * b) + np.sqrt((1 - a) * (1 - b))) ** (T - 1)
    return d2 / (r**2 * (T - 1) / (THETA * (1 - THETA)))


def _half_width(res):
    return (res.ratio_hi - res.ratio_lo) / 2 / 1.959963984540054  # one standard error


@pytest.mark.parametrize("fisher", ["exact", "monte_carlo"])
def test_ratio_matches_the_two_state_closed_form_and_tends_to_a_quarter(key, fisher):
    # error model: each ratio within 4 of its standard errors of the exact ratio (both
    # directions ±1); at the smallest radius within 4 SE (plus the exact curve's own 0.1%
    # distance from ¼) of ¼, and the CI excludes ¼ ± 10% (the power check; ⅛, the
    # ½-normalised convention, is far outside).
    chain = tj.TwoStateChain(theta=THETA)
    res = tj.local_hellinger(chain, T, [[1.0], [-1.0]], RADII, key, num_samples=20000, fisher=fisher)
    assert res.fisher == fisher and res.ratio.shape == (2, len(RADII))
    exact = np.stack([exact_ratio(u, RADII) for u in (1.0, -1.0)])
    assert np.all(np.abs(res.ratio - exact) < 4 * _half_width(res)), (res.ratio, exact)
    assert np.all(np.abs(res.ratio[:, 0] - 0.25) < 4 * _half_width(res)[:, 0] + np.abs(exact[:, 0] - 0.25))
    assert np.all(res.ratio_lo[:, 0] > 0.225) and np.all(res.ratio_hi[:, 0] < 0.275)
    # the exact curve bends away from ¼ at the largest radius, and the estimate sees it
    assert abs(exact[1, -1] - 0.25) > 0.03 and res.ratio_hi[1, -1] < 0.25


def test_fisher_form_and_rows(key):
    lds = tj.LinearSystem(A=[[0.6, 0.1], [0.0, 0.5]], noise=tj.noise.StudentT(5.0))
    u = np.array([[2.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.5, 1.0]])
    res = tj.local_hellinger(lds, 20, u, [0.01, 0.02], key, num_samples=4000)
    info = np.asarray(tj.fisher_information(lds, 20))
    U = u / np.linalg.norm(u, axis=1, keepdims=True)
    np.testing.assert_allclose(res.directions, U)
    np.testing.assert_allclose(res.fisher_form, np.einsum("kp,pq,kq->k", U, info, U)[:, None] * [1e-4, 4e-4])
    rows = res.rows()
    assert len(rows) == 4 and rows[1]["direction"] == 0 and rows[1]["r"] == 0.02
    assert rows[3]["ratio"] == res.ratio[1, 1]


def test_plot_writes_a_figure(key, tmp_path):
    res = tj.local_hellinger(tj.TwoStateChain(theta=THETA), 10, [1.0], [0.01, 0.1], key, num_samples=200)
    res.plot(tmp_path / "local.png", labels=["stay probability"])
    assert (tmp_path / "local.png").stat().st_size > 1000


def test_bad_input_is_named(key):
    chain = tj.TwoStateChain(theta=THETA)
    cases = [
        (dict(directions=[[1.0, 0.0]]), "directions: expected shape"),
        (dict(directions=[0.0]), "directions: every direction must be nonzero"),
        (dict(radii=[0.1, -0.1]), "radii: expected"),
        (dict(radii=[]), "radii: expected"),
        (dict(fisher="outer"), "fisher: expected one of"),
        (dict(level=1.5), "level: expected"),
        (dict(method="plain"), "method: expected one of"),
    ]
    for kwargs, message in cases:
        args = dict(directions=[1.0], radii=[0.1], key=key, num_samples=10) | kwargs
        with pytest.raises(ValueError, match=message):
            tj.local_hellinger(chain, 10, **args)
    glm = tj.SinusoidalGLM(A=[[1.2, 0.3], [-0.2, 1.1]], sigma=0.5)
    with pytest.raises(ValueError, match="fisher: 'exact' is not available"):
        tj.local_hellinger(glm, 10, [1.0, 0, 0, 0], [0.1], key, num_samples=10, fisher="exact")
