"""Paper case studies (docs/theory.md §5–§7): sinusoidal GLM, linear attention, mixed linear regression."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj


def _attention(d=3, K=4, seed=0):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(K, d))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    return tj.LinearAttention(W=rng.normal(size=(d, d)), E=E, C=rng.normal(size=(K - 1, d)))


def _chi2_in_band(model, data, T, key, bound):
    """m·ΔᵀI_TΔ of the fit (I_T by 4000-sample Monte Carlo), asserted below `bound`."""
    m = jax.tree.leaves(data)[0].shape[0]
    result = tj.fit(model, data)
    assert bool(result.converged), result
    info = tj.fisher_information(model, T, method="hessian", key=key, num_samples=4000)
    delta = result.theta - model.theta
    stat = float(m * delta @ info @ delta)
    assert stat < bound, stat
    return result


def test_sinusoidal_glm_fit_within_cramer_rao_band(key):
    # expanding A (c > 1): error model m·ΔᵀI_TΔ ≈ χ²_4, P(χ²_4 > 25) < 1e-4
    glm = tj.SinusoidalGLM(A=[[1.5, 0.2], [0.2, 1.5]], sigma=0.5)
    k1, k2 = jax.random.split(key)
    _chi2_in_band(glm, tj.simulate(glm, k1, 300, 50), 50, k2, 25.0)


def test_sinusoidal_glm_fisher_formula(key):
    # docs/theory.md §5: I_T = σ^{-2} Σ_t E[diag(cos²(A z_t)) ⊗ z_t z_tᵀ]; evaluated on independent
    # trajectories it must agree with the hessian estimator within 4.5 SEs of their difference
    glm = tj.SinusoidalGLM(A=[[0.9, -0.4], [0.3, 1.2]], sigma=0.7)
    k1, k2 = jax.random.split(key)
    z = tj.simulate(glm, k1, 4000, 20)[:, :-1]  # z_1..z_{T−1}
    c2 = jnp.cos(jnp.einsum("ij,ntj->nti", glm.A, z)) ** 2
    per = jnp.einsum("nti,ntj,ntk->nijk", c2, z, z) / 0.49  # block i: Σ_t cos²_i z zᵀ
    blocks = jax.vmap(lambda b: jax.scipy.linalg.block_diag(*b))(per)
    formula, se_f = blocks.mean(0), blocks.std(0) / np.sqrt(4000)
    hess, se_h = tj.fisher_information(
        glm, 20, method="hessian", key=k2, num_samples=4000, return_stderr=True
    )
    assert jnp.all(jnp.abs(formula - hess) <= 4.5 * jnp.sqrt(se_f**2 + se_h**2) + 1e-12)


def test_sinusoidal_glm_rejects_zero_rows():
    with pytest.raises(ValueError, match="A: expected non-zero rows"):
        tj.SinusoidalGLM(A=[[1.0, 0.0], [0.0, 0.0]])


def test_attention_log_likelihood_against_direct_formula(key):
    att = _attention()
    x = np.asarray(tj.simulate(att, key, 3, 9))
    E, C, W = map(np.asarray, (att.E, att.C, att.W))

    def direct(tokens):
        total = 0.0
        for t in range(1, len(tokens) - 1):
            v = sum(E[tokens[s]] * (E[tokens[s]] @ W @ E[tokens[t]]) for s in range(t)) / t
            logits = np.append(C @ v, 0.0)
            total += logits[tokens[t + 1]] - np.log(np.sum(np.exp(logits)))
        return total

    np.testing.assert_allclose(tj.log_likelihood(att, jnp.asarray(x)), [direct(r) for r in x], rtol=1e-12)


def test_attention_hessian_and_outer_fisher_agree(key):
    # exact agreement in expectation (Hessian free of the next token): independent Monte-Carlo
    # estimates within 4.5 SEs of their difference, entrywise
    att = _attention()
    k1, k2 = jax.random.split(key)
    a, sa = tj.fisher_information(att, 25, method="outer", key=k1, num_samples=4000, return_stderr=True)
    b, sb = tj.fisher_information(att, 25, method="hessian", key=k2, num_samples=4000, return_stderr=True)
    assert jnp.all(jnp.abs(a - b) <= 4.5 * jnp.sqrt(sa**2 + sb**2))
    assert float(jnp.min(jnp.linalg.eigvalsh(b))) > 0  # concave log-likelihood: PSD information


def test_attention_fit_within_cramer_rao_band(key):
    # error model: m·ΔᵀI_TΔ ≈ χ²_9 at m = 2000 (past burn-in); P(χ²_9 > 40) < 1e-5
    att = _attention()
    k1, k2 = jax.random.split(key)
    _chi2_in_band(att, tj.simulate(att, k1, 2000, 30), 30, k2, 40.0)


MLR = tj.MixedLinearRegression(beta=[1.0, -0.5, 0.8], p=0.6, sigma=1.0)


def test_mixed_linear_regression_batch_mle_within_band(key):
    k1, k2 = jax.random.split(key)
    _chi2_in_band(MLR, tj.simulate(MLR, k1, 50, 200), 200, k2, 25.0)  # χ²_3: P(> 25) < 2e-5


def test_recursive_estimator_converges_and_clusters_near_bayes(key):
    data = tj.simulate(MLR, key, 1, 60_000)
    path = MLR.recursive_estimates(data)
    err = jnp.sum((path["beta"] - MLR.beta) ** 2, axis=1)
    # the error keeps shrinking (measured over seeds 0-2: 0.016-0.26 at n = 1000, 0.0014-0.0053 at
    # n = 60000, where the batch MLE's is 5e-6-2e-4: the recursion is consistent but slower)
    assert float(err[-1]) < float(err[999]) / 3 and float(err[-1]) < 0.01
    assert abs(float(path["q"][-1]) - 5.0) < 0.5  # q → 1/(2p−1)
    recursive = tj.fit(MLR, data, method="recursive")
    np.testing.assert_allclose(recursive.theta, path["beta"][-1])
    # clustering sign(y·βᵀφ) with the recursive β matches the same rule with the true β within
    # 1 point; the Bayes classifier (which adds the prior log-odds) is at least as accurate
    truth = data["s"][:, 1:]
    acc = float(jnp.mean(MLR.cluster_labels(data, recursive.theta) == truth))
    oracle = float(jnp.mean(MLR.cluster_labels(data) == truth))
    bayes = float(jnp.mean(MLR.bayes_labels(data) == truth))
    assert abs(acc - oracle) < 0.01 and oracle <= bayes + 0.005


def test_mixed_linear_regression_validation():
    with pytest.raises(ValueError, match="p: expected P"):
        tj.MixedLinearRegression(beta=[1.0], p=0.5)
    with pytest.raises(ValueError, match="method: 'recursive' is not available for LinearSystem"):
        lds = tj.LinearSystem(A=jnp.eye(2))
        tj.fit(lds, jnp.zeros((2, 4, 2)), method="recursive")
