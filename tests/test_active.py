"""course.labels.active: uncertainty scores, batch selection, the active-learning loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.errors import CourseArgumentError
from course.labels import active


def test_entropy_matches_the_formula_and_its_bounds():
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    last = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    expected = [0.0, np.log(3), np.log(2), last]
    np.testing.assert_allclose(active.entropy(probs), expected, atol=1e-12)


def test_margin_is_top1_minus_top2():
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.45, 0.45], [0.2, 0.1, 0.7]])
    np.testing.assert_allclose(active.margin(probs), [0.3, 0.0, 0.5])


@pytest.mark.parametrize("bad", [np.array([0.2, 0.8]), np.ones((3, 1))])
def test_probabilities_must_be_a_matrix_of_classes(bad):
    with pytest.raises(CourseArgumentError, match="classes"):
        active.entropy(bad)


def test_select_batch_takes_the_most_uncertain_from_the_pool():
    pool = np.array([10, 11, 12, 13])
    probs = np.array([[0.9, 0.05, 0.05], [0.34, 0.33, 0.33], [0.5, 0.5, 0.0], [0.8, 0.15, 0.05]])
    assert active.select_batch("entropy", 2, pool, probs).tolist() == [11, 12]
    # margin: 11 and 12 have margins 0.01 and 0.0, so 12 comes first
    assert active.select_batch("margin", 2, pool, probs).tolist() == [12, 11]


def test_random_selection_is_distinct_and_from_the_pool():
    pool = np.arange(100, 150)
    chosen = active.select_batch("random", 20, pool, rng=np.random.default_rng(1))
    assert len(set(chosen.tolist())) == 20 and set(chosen.tolist()) <= set(pool.tolist())


@pytest.mark.parametrize(("strategy", "k", "probs", "words"), [
    ("entropy", 2, None, "needs probs"),
    ("bogus", 1, None, "Unknown strategy"),
    ("random", 0, None, "k must be"),
    ("random", 5, None, "k must be"),
])
def test_select_batch_rejects_bad_arguments(strategy, k, probs, words):
    with pytest.raises(CourseArgumentError, match=words):
        active.select_batch(strategy, k, [1, 2, 3], probs)


def _toy_task(seed: int, n: int):
    """Two informative features; most points are easy, a thin band near the boundary is hard."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    return x, y


def _fit(features, labels, seed):
    from sklearn.linear_model import LogisticRegression

    if len(set(labels.tolist())) < 2:
        return lambda x: np.tile([0.5, 0.5], (len(x), 1))
    model = LogisticRegression(C=100.0).fit(features, labels)
    return model.predict_proba


def test_loop_adds_one_batch_per_round_and_starts_equal():
    x, y = _toy_task(0, 400)
    xv, yv = _toy_task(1, 300)
    runs = active.compare_strategies(_fit, x, y, xv, yv, strategies=("random", "entropy"),
                                     seeds=(0,), initial=10, batch=5, rounds=3, progress=False)
    assert sorted(runs["n_labelled"].unique()) == [10, 15, 20, 25]
    first = runs[runs["round"] == 0].set_index("strategy")["valid_macro_f1"]
    assert first["random"] == first["entropy"], "every strategy starts from the same labels"


def test_uncertainty_sampling_beats_random_on_a_separable_task():
    """Labels near the boundary are worth more; averaged over seeds entropy must win."""
    x, y = _toy_task(0, 2000)
    xv, yv = _toy_task(1, 1000)
    runs = active.compare_strategies(_fit, x, y, xv, yv, seeds=(0, 1, 2), initial=6, batch=4,
                                     rounds=5, progress=False)
    gain = active.final_gain(runs)
    assert gain.loc["entropy", "mean_gain"] > 0
    assert gain.loc["margin", "mean_gain"] > 0
    assert gain.loc["entropy", "n_seeds"] == 3


def test_loop_rejects_budgets_larger_than_the_pool():
    x, y = _toy_task(0, 30)
    with pytest.raises(CourseArgumentError, match="must fit in the pool"):
        active.run_active_learning(_fit, x, y, x, y, strategy="random", initial=20, batch=5,
                                   rounds=3)


def test_final_gain_needs_the_baseline():
    runs = pd.DataFrame({"strategy": ["entropy"], "seed": [0], "round": [0],
                         "n_labelled": [10], "valid_macro_f1": [0.5]})
    with pytest.raises(CourseArgumentError, match="random"):
        active.final_gain(runs)


def test_plot_active_learning_draws_one_line_per_strategy():
    runs = pd.DataFrame({"strategy": ["random"] * 2 + ["entropy"] * 2, "seed": 0,
                         "round": [0, 1] * 2, "n_labelled": [10, 20] * 2,
                         "valid_macro_f1": [0.5, 0.6, 0.5, 0.7]})
    fig = active.plot_active_learning(runs)
    assert len(fig.axes[0].get_lines()) == 2


def test_entropy_and_the_batch_agree_with_scipy():
    """scipy.stats.entropy (natural log) is the reference; the batch is its k largest."""
    from scipy.stats import entropy

    rng = np.random.default_rng(5)
    probs = rng.dirichlet([0.5, 0.5, 0.5], size=300)
    reference = entropy(probs, axis=1)
    np.testing.assert_allclose(active.entropy(probs), reference, atol=1e-12)
    pool = rng.permutation(1000)[:300]
    expected = pool[np.argsort(-reference, kind="stable")[:25]]
    np.testing.assert_array_equal(active.select_batch("entropy", 25, pool, probs), expected)
