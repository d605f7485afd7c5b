"""course.search.ltr: grouped data as LightGBM reads it, business labels and gains, LambdaMART
learning a planted ranking, and the trade-off choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.errors import CourseArgumentError, CourseDataError
from course.metrics import ndcg_per_query_of_lists
from course.search import ltr

lgb = pytest.importorskip("lightgbm")


def _frame(n_queries: int, per_query: int, seed: int, first_query: int = 0) -> pd.DataFrame:
    """Candidates whose grade follows the cross-encoder feature, plus noise features."""
    rng = np.random.default_rng(seed)
    n = n_queries * per_query
    frame = pd.DataFrame({
        "query_id": np.repeat(np.arange(first_query, first_query + n_queries), per_query),
        "row": rng.integers(0, 500, n), "first_rank": np.tile(np.arange(1, per_query + 1),
                                                              n_queries),
        "cross_encoder": rng.random(n), "dense": rng.random(n), "bm25": rng.random(n) * 10,
        "fused": rng.standard_normal(n),
        "price": rng.uniform(10, 500, n), "popularity": rng.random(n),
        "stock": rng.integers(0, 5, n), "margin": rng.uniform(0.1, 0.5, n),
    })
    frame["label"] = np.digitize(frame["cross_encoder"] + 0.1 * rng.standard_normal(n),
                                 [0.5, 0.8])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # queries interleaved


def test_grouped_arrays_follow_lightgbm_group_semantics():
    frame = _frame(5, 7, seed=0)
    x, y, groups, ordered = ltr.grouped_arrays(frame)
    assert groups.sum() == len(frame) and len(groups) == 5 and (groups == 7).all()
    bounds = np.cumsum(np.r_[0, groups])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        assert ordered["query_id"].iloc[start:stop].nunique() == 1  # one query per block
    dataset = lgb.Dataset(x, y, group=groups).construct()
    assert np.array_equal(np.diff(dataset.get_field("group")), groups)
    assert x.shape == (35, len(ltr.FEATURES))
    with pytest.raises(CourseDataError, match="margin"):
        ltr.grouped_arrays(frame.drop(columns="margin"))


def test_lambdamart_learns_the_planted_order_and_refuses_shared_queries():
    train, valid = _frame(120, 20, seed=1), _frame(40, 20, seed=2, first_query=1000)
    booster = ltr.fit_lambdamart(train, valid, rounds=60, early_stopping=20)
    scores = ltr.predict(booster, valid)
    queries = sorted(valid["query_id"].unique())
    ranked = ltr.ranked_lists(valid, scores, queries, k=10)
    gains = np.zeros((len(queries), 500))
    for i, (_, rows) in enumerate(valid.groupby("query_id")):
        gains[i, rows["row"]] = np.maximum(gains[i, rows["row"]], rows["label"] / 2)
    learned = np.nanmean(ndcg_per_query_of_lists(ranked, gains, 10))
    shuffled = ltr.ranked_lists(valid, np.random.default_rng(0).random(len(valid)), queries, 10)
    assert learned > np.nanmean(ndcg_per_query_of_lists(shuffled, gains, 10)) + 0.2
    importance = dict(zip(booster.feature_name(), booster.feature_importance("gain"),
                          strict=True))
    assert max(importance, key=importance.get) == "cross_encoder"
    with pytest.raises(CourseDataError, match="train and valid"):
        ltr.fit_lambdamart(train, train.head(40), rounds=5)


def test_business_labels_and_gains_by_hand():
    edges = ltr.value_edges(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), tiers=3)
    assert np.allclose(edges, [3.5])  # the median of the positive values
    labels = ltr.business_labels(np.array([2, 2, 1, 0, 2]), np.array([0.0, 9.0, 1.0, 9.0, 3.0]),
                                 edges)
    # tiers: 0 when out of stock (value 0), else 1 + (value above the edge)
    assert labels.tolist() == [2 * 3 + 0, 2 * 3 + 2, 1 * 3 + 1, 0 * 3 + 2, 2 * 3 + 1]
    gains = ltr.label_gain(1.5, tiers=3)
    assert gains == [0.0, 0.0, 0.0, 1.0, 1.75, 2.5, 3.0, 3.75, 4.5]
    assert ltr.label_gain(0.0, tiers=3) == [0, 0, 0, 1, 1, 1, 3, 3, 3]
    with pytest.raises(CourseArgumentError):
        ltr.label_gain(-1.0)
    with pytest.raises(CourseDataError):
        ltr.business_labels(np.array([3]), np.array([1.0]), edges)


def test_business_value_is_zero_out_of_stock():
    frame = pd.DataFrame({"price": [100.0, 100.0], "margin": [0.3, 0.3], "stock": [0, 4]})
    assert ltr.business_value(frame).tolist() == [0.0, 30.0]


def test_candidate_frame_aligns_scores_and_products():
    products = pd.DataFrame({"product_id": [10, 11, 12], "price": [1.0, 2.0, 3.0],
                             "popularity": [0.1, 0.2, 0.3], "stock": [0, 1, 2],
                             "margin": [0.1, 0.2, 0.3]})
    frame = ltr.candidate_frame([7, 8], [[2, 0], [1]], {"cross_encoder": [[0.9, 0.1], [0.5]]},
                                products)
    assert frame["query_id"].tolist() == [7, 7, 8]
    assert frame["product_id"].tolist() == [12, 10, 11]
    assert frame["first_rank"].tolist() == [1, 2, 1]
    assert frame["price"].tolist() == [3.0, 1.0, 2.0]
    with pytest.raises(CourseDataError, match="aligned"):
        ltr.candidate_frame([7], [[0, 1]], {"cross_encoder": [[0.1]]}, products)


def test_ranked_lists_ties_keep_the_first_stage_order():
    frame = pd.DataFrame({"query_id": [1, 1, 1, 2], "row": [5, 6, 7, 8],
                          "first_rank": [1, 2, 3, 1]})
    assert [r.tolist() for r in ltr.ranked_lists(frame, [0.0, 1.0, 0.0, 3.0], [2, 1, 9])] == [
        [8], [6, 5, 7], []]


def test_choose_tradeoff_by_hand():
    curve = pd.DataFrame({"ndcg10": [0.80, 0.795, 0.791, 0.70], "margin": [1.0, 1.2, 1.3, 2.0]},
                         index=[0.0, 0.5, 1.0, 2.0])
    assert ltr.choose_tradeoff(curve, max_drop=0.01) == 1.0
    assert ltr.choose_tradeoff(curve, max_drop=0.0) == 0.0
    assert ltr.choose_tradeoff(curve, max_drop=0.2) == 2.0
    assert ltr.choose_tradeoff(curve, max_drop=0.01, reference=0.78) == 1.0
    with pytest.raises(CourseArgumentError):
        ltr.choose_tradeoff(curve, max_drop=0.0, reference=0.9)
