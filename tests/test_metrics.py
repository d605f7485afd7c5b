"""Unit tests for course.metrics, checked against scikit-learn where it has the metric."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from course.data import LABELS
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import (
    accuracy,
    catalog_coverage,
    confusion_matrix,
    expected_gain,
    macro_f1,
    mean_binary_ndcg_of_lists,
    mean_hit_rate_of_lists,
    mean_mrr_of_lists,
    mean_ndcg_of_frame,
    mean_recall_of_lists,
    ndcg_by_group_of_frame,
    ndcg_per_query_of_frame,
    per_class_report,
    plot_confusion_matrix,
)

label_lists = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(LABELS), min_size=n, max_size=n),
        st.lists(st.sampled_from(LABELS), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(label_lists)
def test_classification_metrics_match_sklearn(pair):
    y_true, y_pred = pair
    labels = list(LABELS)
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert macro_f1(y_true, y_pred, labels) == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    assert macro_f1(y_true, y_pred) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels),
        skm.confusion_matrix(y_true, y_pred, labels=labels),
    )
    report = per_class_report(y_true, y_pred, labels)
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    np.testing.assert_allclose(report["precision"], p)
    np.testing.assert_allclose(report["recall"], r)
    np.testing.assert_allclose(report["f1"], f)
    np.testing.assert_array_equal(report["support"], s)


def test_macro_f1_by_hand():
    # Exact: P=1/2 R=1/1; Partial: P=1/1 R=1/2; Irrelevant: never true nor predicted -> 0
    y_true = ["Exact", "Partial", "Partial"]
    y_pred = ["Exact", "Partial", "Exact"]
    f1_exact = 2 * 0.5 * 1 / 1.5
    assert macro_f1(y_true, y_pred) == pytest.approx((f1_exact + f1_exact) / 2)
    assert macro_f1(y_true, y_pred, LABELS) == pytest.approx((f1_exact + f1_exact) / 3)


def test_metrics_reject_the_classic_shape_bugs():
    with pytest.raises(CourseArgumentError, match="argmax"):
        macro_f1([[0, 1], [1, 0]], [[0, 1], [1, 1]])
    with pytest.raises(CourseArgumentError, match="y_pred has 1"):
        accuracy([0, 1], [0])
    with pytest.raises(CourseArgumentError, match="empty"):
        accuracy([], [])


def test_plot_confusion_matrix_returns_figure():
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 7]])
    fig = plot_confusion_matrix(cm, LABELS, normalize=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    cell_texts = [t.get_text() for t in ax.texts]
    assert cell_texts[0] == f"{5 / 6:.2f}" and len(cell_texts) == 9
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_expected_gain():
    probs = np.array([[1.0, 0.0, 0.0], [0.2, 0.6, 0.2], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(expected_gain(probs), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(expected_gain(probs, gains=(3, 1, 0)), [3.0, 1.2, 0.0])
    with pytest.raises(CourseArgumentError, match="one column per gain"):
        expected_gain(np.ones((2, 2)))


def _random_ranking_frame(seed, n_queries=12):
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        n = int(rng.integers(2, 25))
        rel = rng.choice([0.0, 0.5, 1.0], size=n)
        rel[0] = 1.0  # every query has a relevant item
        for r, s in zip(rel, rng.random(n), strict=True):  # continuous scores: no ties
            rows.append({"query_id": f"q{q}", "family": "ab"[q % 2], "score": s, "gain": r})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_ndcg_matches_sklearn_without_ties(seed, k):
    df = _random_ranking_frame(seed)
    expected = [
        skm.ndcg_score([g["gain"].to_numpy()], [g["score"].to_numpy()], k=k)
        for _, g in df.groupby("query_id", sort=False)
    ]
    assert mean_ndcg_of_frame(df, k=k, relevance="gain") == pytest.approx(np.mean(expected))
    per_family = ndcg_by_group_of_frame(df, "family", k=k, relevance="gain")
    fam = df.groupby("query_id", sort=False)["family"].first().to_numpy()
    for name in ("a", "b"):
        assert per_family[name] == pytest.approx(np.mean(np.array(expected)[fam == name]))


def test_ndcg_by_hand_with_labels_and_ties():
    df = pd.DataFrame({
        "query_id": [1, 1, 1, 2, 2],
        "score": [0.9, 0.5, 0.5, 0.1, 0.1],
        "label": ["Irrelevant", "Partial", "Exact", "Exact", "Irrelevant"],
    })
    # query 1: ranked Irrelevant, Partial, Exact (tie broken by row order)
    dcg = 0 + 0.5 / np.log2(3) + 1 / np.log2(4)
    ideal = 1 + 0.5 / np.log2(3)
    per_query = ndcg_per_query_of_frame(df, k=10)
    assert per_query[1] == pytest.approx(dcg / ideal)
    assert per_query[2] == pytest.approx(1.0)  # tie, row order puts the Exact first
    # sklearn averages tied items instead: document the difference
    sk = skm.ndcg_score([[0, 0.5, 1]], [[0.9, 0.5, 0.5]])
    assert sk != pytest.approx(per_query[1])
    assert mean_ndcg_of_frame(df, k=1) == pytest.approx((0 + 1) / 2)


def test_ndcg_skips_queries_without_relevant_items_and_checks_columns():
    df = pd.DataFrame({"query_id": [1, 1, 2, 2], "score": [1, 0, 1, 0],
                       "label": ["Exact", "Irrelevant", "Irrelevant", "Irrelevant"]})
    assert np.isnan(ndcg_per_query_of_frame(df)[2])
    assert mean_ndcg_of_frame(df) == 1.0
    with pytest.raises(CourseDataError, match="missing"):
        mean_ndcg_of_frame(df, score="prob")
    with pytest.raises(CourseDataError, match="no gain"):
        mean_ndcg_of_frame(df.assign(label=["Great", "Bad", "Bad", "Bad"]))


def test_recall_hit_rate_mrr_by_hand():
    ranked = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"]]
    targets = ["b", {"b", "c"}, "z"]
    assert mean_recall_of_lists(ranked, targets, k=1) == pytest.approx((0 + 0.5 + 0) / 3)
    assert mean_recall_of_lists(ranked, targets, k=2) == pytest.approx((1 + 0.5 + 0) / 3)
    assert mean_hit_rate_of_lists(ranked, targets, k=1) == pytest.approx(1 / 3)
    assert mean_hit_rate_of_lists(ranked, targets, k=3) == pytest.approx(2 / 3)
    assert mean_mrr_of_lists(ranked, targets) == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert mean_mrr_of_lists(ranked, targets, k=1) == pytest.approx(1 / 3)
    with pytest.raises(CourseArgumentError, match="targets"):
        mean_recall_of_lists(ranked, ["a"], k=1)
    with pytest.raises(CourseArgumentError, match="at least 1"):
        mean_hit_rate_of_lists(ranked, targets, k=0)


def test_recall_and_hit_rate_differ_with_several_targets_and_agree_with_one():
    ranked = [[1, 2, 3, 4], [5, 6, 7, 8]]
    several = [{1, 9, 8, 7}, {6}]
    assert mean_hit_rate_of_lists(ranked, several, k=4) == 1.0  # each list found something
    # partial credit
    assert mean_recall_of_lists(ranked, several, k=4) == pytest.approx((1 / 4 + 1) / 2)
    one = [3, 9]
    assert mean_recall_of_lists(ranked, one, k=3) == mean_hit_rate_of_lists(ranked, one, k=3) == 0.5


def test_binary_ndcg_by_hand():
    ranked = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    targets = np.array([1, 6, 0])
    expected = (1.0 + 1.0 / np.log2(4)) / 3
    assert mean_binary_ndcg_of_lists(ranked, targets, k=3) == pytest.approx(expected)
    assert mean_binary_ndcg_of_lists(ranked, targets, k=2) == pytest.approx(1 / 3)
    # two held-out items, found at ranks 2 and 3: DCG / ideal DCG of two items at ranks 1 and 2
    dcg = 1 / np.log2(3) + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3)
    assert mean_binary_ndcg_of_lists([[0, 1, 2]], [{1, 2}], k=3) == pytest.approx(dcg / ideal)
    # more held-out items than k: the ideal list is k hits long
    assert mean_binary_ndcg_of_lists([[1, 2]], [{1, 2, 3}], k=2) == pytest.approx(1.0)
    assert mean_binary_ndcg_of_lists([[1, 1, 5]], [{1, 5}], k=3) == pytest.approx(
        (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))  # a repeated item counts once


def test_binary_ndcg_matches_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.random((25, 12))
    truth = (rng.random((25, 12)) < 0.25).astype(float)
    truth[:, 0] = 1.0  # every user has something held out
    ranked = np.argsort(-scores, axis=1)
    wanted = [set(np.flatnonzero(row).tolist()) for row in truth]
    for k in (1, 5, 12):
        pairs = zip(truth, scores, strict=True)
        expected = np.mean([skm.ndcg_score([t], [s], k=k) for t, s in pairs])
        assert mean_binary_ndcg_of_lists(ranked, wanted, k=k) == pytest.approx(expected)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.integers(1, 15), st.integers(0, 10_000))
def test_array_fast_path_equals_the_list_path(n_users, length, k, seed):
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(20)[:length] for _ in range(n_users)])
    targets = rng.integers(0, 20, n_users)
    as_lists = [list(r) for r in ranked], [{int(t)} for t in targets]
    for fn in (mean_hit_rate_of_lists, mean_recall_of_lists, mean_binary_ndcg_of_lists):
        assert fn(ranked, targets, k=k) == pytest.approx(fn(*as_lists, k=k))
    assert mean_mrr_of_lists(ranked, targets) == pytest.approx(mean_mrr_of_lists(*as_lists))


def test_catalog_coverage():
    ranked = np.array([[1, 2, 3], [1, 5, 6]])
    assert catalog_coverage(ranked, num_items=10) == pytest.approx(5 / 10)
    assert catalog_coverage(ranked, num_items=10, k=1) == pytest.approx(1 / 10)
    assert catalog_coverage([[1, 2], [2]], num_items=4) == pytest.approx(2 / 4)
    with pytest.raises(CourseArgumentError, match="num_items"):
        catalog_coverage(ranked, num_items=0)


def test_mrr_matches_sklearn_label_ranking_for_single_targets():
    rng = np.random.default_rng(0)
    scores = rng.random((20, 8))
    truth = rng.integers(0, 8, size=20)
    ranked = [list(np.argsort(-row)) for row in scores]
    onehot = np.eye(8)[truth]
    assert mean_mrr_of_lists(ranked, truth.tolist()) == pytest.approx(
        skm.label_ranking_average_precision_score(onehot, scores)
    )


# --- ir_measures (trec_eval through pytrec_eval) as the independent reference --------------


def _trec(ranked, targets, measure):
    """Score lists with ir_measures: the run gives rank r the score -r (no ties), every held-out
    item has relevance 1. trec_eval leaves out a list with no held-out item; every list here
    has one."""
    import ir_measures

    qrels = {str(u): {str(t): 1 for t in (target if isinstance(target, set) else [target])}
             for u, target in enumerate(targets)}
    run = {str(u): {str(item): float(-r) for r, item in enumerate(items)}
           for u, items in enumerate(ranked)}
    return ir_measures.calc_aggregate([measure], qrels, run)[measure]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recall_and_ndcg_of_lists_match_ir_measures(seed):
    """R@k and nDCG@k of trec_eval (linear gain, log2 discount) agree to 1e-9."""
    import ir_measures

    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(60)[:20] for _ in range(50)])
    one = rng.integers(0, 60, 50)
    several = [set(rng.choice(60, size=rng.integers(1, 6), replace=False).tolist())
               for _ in range(50)]
    for k in (1, 5, 10):
        for targets in (one, several):
            assert mean_recall_of_lists(ranked, targets, k) == pytest.approx(
                _trec(ranked, targets, ir_measures.R @ k), abs=1e-9)
            assert mean_binary_ndcg_of_lists(ranked, targets, k) == pytest.approx(
                _trec(ranked, targets, ir_measures.nDCG @ k), abs=1e-9)
