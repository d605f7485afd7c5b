"""Unit tests for course.labels.clicks: IPW weights and click labels on the course's simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course import data
from course.errors import CourseArgumentError, CourseDataError
from course.labels import clicks
from course.trust import simulate


def test_ipw_weights_invert_and_cap_the_propensities():
    """A hand-worked case: weights 1 / theta (1, 2, 20), the last capped at 10."""
    theta = {1: 1.0, 2: 0.5, 3: 0.05}
    np.testing.assert_allclose(clicks.ipw_weights([1, 2, 3, 2], theta), [1, 2, 10, 2])
    np.testing.assert_allclose(clicks.ipw_weights([3], theta, max_weight=np.inf), [20])
    table = pd.DataFrame({"position": [1, 2], "propensity": [1.0, 0.25]})
    np.testing.assert_allclose(clicks.ipw_weights(np.array([2, 1]), table), [4, 1])


@pytest.mark.parametrize(("positions", "theta", "error"), [
    ([4], {1: 1.0}, CourseDataError),
    ([1], {1: 0.0}, CourseArgumentError),
    ([1], pd.DataFrame({"rank": [1]}), CourseDataError),
])
def test_ipw_weights_reject_missing_or_bad_propensities(positions, theta, error):
    with pytest.raises(error):
        clicks.ipw_weights(positions, theta)


def test_click_labels_aggregate_a_hand_made_log():
    log = pd.DataFrame({
        "query_id": [1, 1, 1, 1], "product_id": [7, 7, 8, 8],
        "position": [1, 1, 2, 2], "clicked": [True, False, True, True],
    })
    table = clicks.click_labels(log, {1: 1.0, 2: 0.5}).set_index("product_id")
    assert table.loc[7, "impressions"] == 2 and table.loc[7, "clicks"] == 1
    assert table.loc[7, "naive_ctr"] == 0.5 and table.loc[7, "ipw_ctr"] == 0.5
    assert table.loc[8, "naive_ctr"] == 1.0 and table.loc[8, "ipw_ctr"] == 2.0
    assert "ipw_ctr" not in clicks.click_labels(log).columns


def test_click_labels_need_the_log_columns():
    with pytest.raises(CourseDataError, match="position"):
        clicks.click_labels(pd.DataFrame({"query_id": [1], "product_id": [1], "clicked": [1]}))


def _candidates(n_queries: int = 60) -> pd.DataFrame:
    """Each query: 10 products; the ranker's score puts relevant ones anywhere."""
    rng = np.random.default_rng(0)
    rows = []
    for q in range(n_queries):
        labels = rng.choice(simulate.GRADES, size=10, p=[0.3, 0.3, 0.4])
        for p, label in enumerate(labels):
            rows.append({"query_id": q, "product_id": q * 100 + p, "label": label,
                         "score": rng.random()})
    return pd.DataFrame(rows)


def test_ipw_ctr_recovers_attractiveness_where_naive_ctr_is_biased():
    model = simulate.ShopperModel(eta=1.0)
    log = simulate.simulate_clicks(_candidates(), 400, model, seed=1)
    truth_theta = dict(enumerate(model.examination(), start=1))
    table = clicks.click_labels(log, truth_theta, max_weight=np.inf)
    table = table.merge(log[["product_id", "label"]].drop_duplicates(), on="product_id")
    exact = table[table["label"] == "Exact"]
    truth = model.attractiveness["Exact"]
    ipw_error = abs(exact["ipw_ctr"].mean() - truth)
    naive_error = abs(exact["naive_ctr"].mean() - truth)
    assert ipw_error < 0.03 < naive_error
    low = exact[exact["mean_position"] >= 8]
    assert low["naive_ctr"].mean() < 0.1 < low["ipw_ctr"].mean()


def test_fit_rankers_learn_each_target_with_its_own_strength():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    targets = pd.DataFrame({"a": x @ np.array([1.0, -2.0, 0.0]), "b": x[:, 2]})
    score = clicks.fit_rankers(x, targets, alpha=[1.0, 1e6])
    out = score(x)
    assert list(out.columns) == ["a", "b"] and len(out) == 300
    assert np.corrcoef(out["a"], targets["a"])[0, 1] > 0.99
    assert out["b"].std() < 0.05 * targets["b"].std(), "a huge alpha shrinks b to its mean"
    with pytest.raises(CourseArgumentError):
        clicks.fit_rankers(x, targets.head(10))


def test_label_sources_join_human_labels_and_rank_quality():
    pairs = _candidates(30)
    log = simulate.simulate_clicks(pairs, 50, seed=2)
    table = clicks.label_sources(log, pairs, {k: 1 / k for k in range(1, 11)})
    assert set(table["human"]) <= {0.0, 0.5, 1.0}
    assert len(table) == len(log[["query_id", "product_id"]].drop_duplicates())
    assert (table["human"] == table["label"].map(data.GAINS)).all()
    with pytest.raises(CourseDataError, match="no human label"):
        clicks.label_sources(log, pairs.iloc[5:], {k: 1 / k for k in range(1, 11)})
    perfect = pd.DataFrame({"truth": pairs["label"].map(data.GAINS).to_numpy(),
                            "reverse": -pairs["label"].map(data.GAINS).to_numpy()})
    quality = clicks.ranking_quality(pairs, perfect)
    assert quality["truth"] == pytest.approx(1.0) and quality["reverse"] < 0.8


def test_plot_propensities_shows_estimate_and_truth():
    log = simulate.simulate_clicks(_candidates(20), 100, intervention="swap",
                                  intervention_share=0.5, seed=0)
    fig = clicks.plot_propensities(simulate.estimate_propensities(log))
    assert len(fig.axes[0].get_lines()) == 2
