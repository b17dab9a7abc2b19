"""Test configuration: float64, strict dtype promotion, and a key fixture that prints its seed."""

import os

import jax
import pytest

# the CLI keeps JAX's persistent compilation cache in ~/.cache/trajax/jax; tests (and the CLI
# processes they start) run without it unless a test points TRAJAX_CACHE_DIR at its tmp_path
os.environ.setdefault("TRAJAX_NO_CACHE", "1")

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

SEED = 20261122


@pytest.fixture
def key(request):
    """A fixed PRNG key per test; the seed is printed so a failure can be replayed."""
    seed = SEED + sum(map(ord, request.node.name))
    print(f"[trajax test seed] {request.node.name}: jax.random.key({seed})")
    return jax.random.key(seed)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long statistical tests (run with `make test-slow`)")


# Tests moved to `make test-slow` (which .ci/run also runs) to keep `make test` under 8 minutes on
# 2 cores: each took 4.5 s or more in a --durations run of the whole suite, and a faster test of
# the same property stays in the default suite (named after the colon). Prefix match on node ids.
SLOW_TESTS = (
    "tests/test_bench.py::",  # benchmarks: their quick mode
    "tests/test_sweep.py::test_compilations_do_not_grow_with_replicates_or_cells",
    "tests/test_sweep.py::test_results_identical_with_one_and_two_devices[glm_per_cell]",  # lds_windows
    "tests/test_sweep.py::test_two_process_sweep_equals_single_process",
    "tests/test_sweep.py::test_fit_streaming_equals_fit_on_materialised_data",  # test_estimator's GLM
    "tests/test_windows.py::test_windowed_sweep_equals_per_cell_sweep",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[markov_chain]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[dependent_regression]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[two_state_mixture]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[lds_smoothed_laplace]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[mixed_linear_regression]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[linear_attention]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[lds_bang_bang]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[markov_chain_mixture]",
    "tests/test_conformance.py::test_every_builtin_model_passes_the_conformance_kit[sinusoidal_glm]",
    "tests/test_case_studies.py::test_mixed_linear_regression_batch_mle_within_band",
    "tests/test_case_studies.py::test_attention_fit_within_cramer_rao_band",
    "tests/test_case_studies.py::test_attention_hessian_and_outer_fisher_agree",
    "tests/test_case_studies.py::test_recursive_estimator_converges_and_clusters_near_bayes",
    "tests/test_estimator.py::test_ragged_fit_of_a_non_markov_model_groups_by_length",
    "tests/test_estimator.py::test_fused_lds_terms_above_the_small_window_equal_autodiff",  # test_fit's
    "tests/test_estimator.py::test_float32_fits_and_sweeps",
    "tests/test_estimator.py::test_streamed_fit_with_autodiff_newton_terms",
    "tests/test_estimator.py::test_auto_switches_to_lbfgs_above_64_parameters",
    "tests/test_estimator.py::test_results_vmap_and_count_by_reason",  # test_max_steps_reached
    "tests/test_fisher.py::test_outer_hessian_and_exact_agree_within_monte_carlo_error[lds_bang]",
    "tests/test_fisher.py::test_outer_hessian_and_exact_agree_within_monte_carlo_error[markov]",
    "tests/test_fisher.py::test_outer_hessian_and_exact_agree_within_monte_carlo_error[lds_gauss]",
    "tests/test_mixture.py::test_general_mixture_fit_from_data_driven_start",
    "tests/test_mixture.py::test_general_mixture_outer_and_hessian_agree",
    "tests/test_ragged.py::test_lengths_against_slicing[mlr]",
    "tests/test_ragged.py::test_lengths_against_slicing[mixture]",
    "tests/test_ragged.py::test_lengths_against_slicing[glm]",
    "tests/test_noise.py::test_density_normalised_and_moments_match_quadrature[SmoothedLaplace0]",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
