"""Tests for course.trust.bias: concentration measures, the penalised re-rank and group metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.errors import CourseArgumentError, CourseDataError
from course.trust import bias


def test_exposure_and_head_items():
    assert bias.exposure([[0, 1], [1, 3]], 5).tolist() == [1, 2, 0, 1, 0]
    with pytest.raises(CourseDataError, match=r"\[0, 5\)"):
        bias.exposure([[7]], 5)
    head = bias.head_items([5, 1, 9, 0, 3, 3, 2, 8, 1, 0], head_fraction=0.2)
    assert np.flatnonzero(head).tolist() == [2, 7]
    with pytest.raises(CourseArgumentError, match="head_fraction"):
        bias.head_items([1, 2], head_fraction=1.0)


def test_popularity_report_of_a_best_seller_list():
    popularity = np.arange(100, 0, -1).astype(float)  # item 0 is the best seller
    same_for_all = np.tile(np.arange(10), (50, 1))
    report = bias.popularity_report(same_for_all, popularity)
    assert report["coverage"] == pytest.approx(0.1)
    assert report["tail_share_recs"] == 0.0
    assert report["gini_exposure"] == pytest.approx(0.9)
    assert 0.0 < report["tail_share_purchases"] < 1.0
    assert report["gini_purchases"] < report["gini_exposure"]
    spread = np.arange(500).reshape(50, 10) % 100
    assert bias.popularity_report(spread, popularity)["gini_exposure"] == pytest.approx(0.0)


def scores_with_popularity_pull(n_users=200, n_items=300, seed=0):
    """Scores that mix a per-user taste with a strong pull towards popular items."""
    rng = np.random.default_rng(seed)
    popularity = np.floor(rng.pareto(1.2, n_items) * 10)
    taste = rng.normal(size=(n_users, n_items))
    scores = taste + 1.5 * np.log1p(popularity)
    targets = taste.argmax(axis=1)  # what each user really wants
    return scores, popularity, targets


def test_penalised_topk_trades_popularity_for_coverage():
    scores, popularity, _ = scores_with_popularity_pull()
    plain = bias.penalised_topk(scores, popularity, 0.0, k=10)
    best = np.argsort(-scores, axis=1)[:, :10]
    assert np.array_equal(np.sort(plain, axis=1), np.sort(best, axis=1))
    strong = bias.penalised_topk(scores, popularity, 2.0, k=10)
    before = bias.popularity_report(plain, popularity)
    after = bias.popularity_report(strong, popularity)
    assert after["coverage"] > before["coverage"]
    assert after["tail_share_recs"] > before["tail_share_recs"]
    assert after["gini_exposure"] < before["gini_exposure"]
    exclude = [[int(plain[u, 0])] for u in range(len(plain))]
    again = bias.penalised_topk(scores, popularity, 0.0, k=10, exclude=exclude)
    assert not (again == plain[:, :1]).any(axis=1).any()
    with pytest.raises(CourseDataError, match="scores must be"):
        bias.penalised_topk(scores[:, :5], popularity, 0.0)
    with pytest.raises(CourseArgumentError, match="exceeds"):
        bias.penalised_topk(scores, popularity, 0.0, k=1000)


def test_tradeoff_curve_and_choosing_on_validation():
    scores, popularity, targets = scores_with_popularity_pull()
    curve = bias.tradeoff_curve(scores, popularity, targets, [0.0, 0.5, 1.0, 2.0, 4.0], k=10)
    assert list(curve["strength"]) == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert curve["coverage"].iloc[2] > curve["coverage"].iloc[0]
    # too strong a penalty sends everyone to the same least-bought items:
    assert curve["coverage"].iloc[-1] < curve["coverage"].max()
    assert curve["recall@10"].iloc[2] > curve["recall@10"].iloc[0], "the pull hid what users want"
    table = pd.DataFrame({"strength": [0, 1, 2, 3], "recall@10": [0.20, 0.21, 0.19, 0.15]})
    assert bias.choose_strength(table, keep=0.95) == 2
    assert bias.choose_strength(table, keep=1.0) == 1
    with pytest.raises(CourseArgumentError, match="keep"):
        bias.choose_strength(table, keep=0.0)


def test_group_metrics_split_users_and_items():
    popularity = np.array([100, 50, 1, 1, 1, 1, 1, 1, 1, 1])  # head = items 0 and 1
    recs = np.array([[0, 1], [0, 1], [0, 1], [2, 3]])
    targets = np.array([0, 5, 1, 9])
    histories = [[1, 2, 3], [4], [5, 6, 7, 8], [2]]
    table = bias.group_metrics(recs, targets, histories, popularity)
    assert table.loc["target: popular (head)", "users"] == 2
    assert table.loc["target: popular (head)", "recall"] == 1.0
    assert table.loc["target: long tail", "recall"] == 0.0
    assert table.loc["user: heavy", "users"] == 2 and table.loc["user: light", "users"] == 2
    assert table.loc["target: popular (head)", "ndcg"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    with pytest.raises(CourseDataError, match="one row per user"):
        bias.group_metrics(recs[:2], targets, histories, popularity)
