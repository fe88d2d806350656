"""The example benchmark's models and tuners, written with numpy alone so the image needs no more."""

import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daskrun.examples import benchmark


def test_the_gaussian_process_interpolates_what_it_saw_and_is_unsure_far_from_it():
    rng = np.random.default_rng(1)
    seen = rng.random((12, 2))
    scores = np.sin(6 * seen[:, 0]) + seen[:, 1]
    mean, std = benchmark._gp_posterior(seen, scores, seen)
    assert np.allclose(mean, scores, atol=1e-2)
    assert std.max() < 1e-2
    _, far = benchmark._gp_posterior(seen, scores, np.array([[5.0, 5.0]]))
    assert far[0] > 10 * std.max()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(-1e6, 1e6)), min_size=1, max_size=15))
def test_the_gaussian_process_gives_finite_answers_for_any_scores_even_repeated_points(rows):
    seen = np.array([r[:2] for r in rows])
    scores = np.array([r[2] for r in rows])
    mean, std = benchmark._gp_posterior(seen, scores, np.random.default_rng(0).random((32, 2)))
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std >= 0).all()


def test_nearest_neighbours_separate_separable_classes_and_guess_on_noise():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    separable = np.column_stack([y * 10.0 + rng.normal(0, 0.1, 120), rng.normal(0, 0.1, 120)])
    params = {"n_neighbors": 5, "p": 2.0, "weight_power": 1.0}
    assert benchmark._knn_accuracy(separable, y, params) == 1.0
    noise = rng.normal(0, 1, (120, 2))
    assert 0.2 < benchmark._knn_accuracy(noise, y, params) < 0.8


def test_kernel_ridge_fits_a_smooth_function_and_not_noise():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (150, 2))
    params = {"alpha": 1e-3, "gamma": 2.0}
    assert benchmark._kernel_ridge_r2(x, np.sin(3 * x[:, 0]) + x[:, 1] ** 2, params) > 0.95
    assert benchmark._kernel_ridge_r2(x, rng.normal(0, 1, 150), params) < 0.2


@pytest.mark.parametrize("tuner", sorted(benchmark.TUNERS))
@pytest.mark.parametrize("name", sorted(benchmark.CHALLENGES))
def test_every_tuner_scores_every_challenge_within_its_space(name, tuner):
    scores = benchmark.TUNERS[tuner](benchmark.CHALLENGES[name], 4, random.Random(0))
    assert len(scores) == 4 and all(np.isfinite(scores))
    if benchmark.CHALLENGES[name].kind == "dataset":
        assert all(score <= 1.0 for score in scores)  # accuracy and R^2 are at most 1


def test_the_model_based_tuner_beats_random_search_on_the_smooth_test_functions():
    def best(tuner: str, name: str) -> float:
        return max(benchmark.TUNERS[tuner](benchmark.CHALLENGES[name], 30, random.Random(7)))

    assert best("gp", "branin") > best("random", "branin")
    assert best("gp", "rosenbrock") > best("random", "rosenbrock")


def test_the_example_runs_without_any_library_the_dask_pods_may_lack():
    # The worker image carries dask, distributed, pandas and numpy; an example needing more
    # would make every worker pull a library for the example alone. The probe refuses the
    # imports outright, so an optional use (pandas trying pyarrow) falls back as it would there.
    probe = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'sklearn', 'scipy', 'pyarrow', 'kubernetes', 'kubernetes_asyncio'}:\n"
        "            raise ImportError(name + ' refused')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import dask, daskrun.examples.benchmark as b\n"
        "dask.config.set(scheduler='sync')\n"
        "print(b.run_benchmark(iterations=4).shape)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(8, 3)"
