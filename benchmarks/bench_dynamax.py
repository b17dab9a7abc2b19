"""The JAX peer: dynamax on a task both libraries can do.

dynamax has no fully observed Markov-chain model, but a categorical HMM whose emission matrix is
the identity is one: each observation is its state. The task is the one trajax exists for —
sample m trajectories of a K-state chain, then the MLE of the transition matrix — with dynamax's
`CategoricalHMM.sample` (vmapped over trajectories) and `fit_em` (emissions frozen at the
identity, flat Dirichlet priors so the M-step is the MLE; one EM iteration is exact because the
posterior over states is a point mass) against `tj.simulate` and `tj.fit` (closed form from
transition counts). Both fits are run on the same (dynamax-sampled) data and must agree.

dynamax is optional (the `bench` extra installs it); without it this benchmark records why it was
skipped instead of failing the suite.
"""

from __future__ import annotations

import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import trajax as tj  # noqa: E402

from ._common import best_of, compile_timed, run_cli, write_result  # noqa: E402

P = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
INITIAL = np.array([0.5, 0.3, 0.2])


def main(quick: bool = False, out=None):
    K, m, T = (3, 64, 100) if quick else (3, 1024, 1000)
    shapes = {"K": K, "m": m, "T": T}
    name = "dynamax_chain" + ("_quick" if quick else "")
    try:
        import dynamax
        from dynamax.hidden_markov_model import CategoricalHMM
    except ImportError as error:
        record = {"dtype": "float64", "shapes": shapes, "skipped": f"dynamax not installed ({error})"}
        path = write_result(name, record, out)
        print(f"dynamax: skipped, not installed (pip install -e '.[bench]')  [{path}]")
        return record

    key = jax.random.key(0)
    model = tj.MarkovChain(P=P, initial=INITIAL)
    simulate, sim_compile_s = compile_timed(lambda k: tj.simulate(model, k, m, T), key)
    sim_s, _ = best_of(lambda: simulate(key))

    hmm = CategoricalHMM(K, 1, K, initial_probs_concentration=1.0, transition_matrix_concentration=1.0)
    identity = jnp.eye(K)[:, None, :]  # emission_probs (K, emission_dim=1, K)
    params, props = hmm.initialize(
        jax.random.key(1),
        initial_probs=jnp.asarray(INITIAL),
        transition_matrix=jnp.asarray(P),
        emission_probs=identity,
    )
    props.emissions.probs.trainable = False
    sample = lambda k: jax.vmap(lambda kk: hmm.sample(params, kk, T)[1])(jax.random.split(k, m))
    dyn_sample, dyn_sim_compile_s = compile_timed(sample, key)
    dyn_sim_s, emissions = best_of(lambda: dyn_sample(key))
    states = emissions[..., 0].astype(jnp.int32)  # (m, T): the chain's trajectories

    fit, fit_compile_s = compile_timed(lambda d: model.with_theta(tj.fit(model, d).theta).P, states)
    fit_s, P_trajax = best_of(lambda: fit(states))

    def dynamax_fit():  # fit_em jits its own steps; the start is uniform transitions
        start, _ = hmm.initialize(jax.random.key(2), emission_probs=identity)
        fitted, _ = hmm.fit_em(start, props, emissions, num_iters=1, verbose=False)
        return fitted.transitions.transition_matrix

    first = time.perf_counter()
    jax.block_until_ready(dynamax_fit())
    dyn_first_s = time.perf_counter() - first
    dyn_fit_s, P_dynamax = best_of(dynamax_fit)
    difference = float(jnp.max(jnp.abs(P_trajax - P_dynamax)))
    assert difference < 1e-10, f"trajax and dynamax MLEs differ by {difference}"

    record = {
        "dtype": "float64",
        "shapes": shapes,
        "trajax": {
            "run_s": sim_s + fit_s,
            "simulate": {"compile_s": sim_compile_s, "run_s": sim_s, "steps_per_s": m * T / sim_s},
            "fit": {"compile_s": fit_compile_s, "run_s": fit_s, "method": "closed form (transition counts)"},
        },
        "baseline": {
            "name": f"dynamax {dynamax.__version__}: CategoricalHMM with identity emissions (sample, fit_em)",
            "run_s": dyn_sim_s + dyn_fit_s,
            "simulate": {
                "compile_s": dyn_sim_compile_s,
                "run_s": dyn_sim_s,
                "steps_per_s": m * T / dyn_sim_s,
            },
            "fit": {
                "first_call_s": dyn_first_s,
                "run_s": dyn_fit_s,
                "method": "EM, 1 iteration (exact here)",
            },
        },
        "max_abs_difference_P": difference,
        "speedup_simulate": dyn_sim_s / sim_s,
        "speedup_fit": dyn_fit_s / fit_s,
        "target": "none: the JAX peer on a comparable task (issue 5, baseline 5)",
    }
    path = write_result(name, record, out)
    print(f"dynamax: simulate trajax {sim_s * 1e3:.0f} ms vs dynamax {dyn_sim_s * 1e3:.0f} ms "
          f"({dyn_sim_s / sim_s:.1f}x); fit trajax {fit_s * 1e3:.1f} ms vs dynamax EM {dyn_fit_s * 1e3:.0f} ms "
          f"({dyn_fit_s / fit_s:.0f}x), same P to {difference:.0e}  [{path}]")  # fmt: skip
    return record


if __name__ == "__main__":
    run_cli(main)
