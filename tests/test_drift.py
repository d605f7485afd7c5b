"""Unit tests for course.labels.drift: seasons, weekly traffic, OOV, label shift, PSI, replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.data import make_minishop
from course.errors import CourseArgumentError
from course.labels import drift


@pytest.fixture(scope="module")
def shop():
    return make_minishop(seed=3, n_products=300, n_queries=200, n_users=5)


@pytest.fixture(scope="module")
def seasons(shop):
    return drift.season_pairs(shop, ("lamp", "rug"))


def test_seasons_hold_next_seasons_types_out_of_this_season(seasons, shop):
    assert set(seasons.old["query_type"]).isdisjoint({"lamp", "rug"})
    assert set(seasons.old["product_type"]).isdisjoint({"lamp", "rug"})
    assert set(seasons.new["query_type"]) == {"lamp", "rug"}
    assert {"lamp", "rug"} & set(seasons.new["product_type"])
    n_pairs = len(shop.labels)
    new_queries = shop.queries["q_type"].isin(["lamp", "rug"])
    new_ids = shop.queries.query_id[new_queries]
    assert len(seasons.new) == shop.labels["query_id"].isin(new_ids).sum()
    assert len(seasons.old) + len(seasons.new) + seasons.dropped_old_candidates == n_pairs
    assert set(seasons.old["split"]) == {"train", "valid", "test"}


def test_seasons_reject_unknown_types(shop):
    with pytest.raises(CourseArgumentError, match="spaceship"):
        drift.season_pairs(shop, ("spaceship",))


def test_weekly_traffic_follows_the_share_of_new_queries(seasons):
    traffic = drift.weekly_traffic(seasons.old, seasons.new, [0.0, 0.5, 1.0], queries_per_week=8)
    per_week = traffic.groupby(["week", "season"])["query_id"].nunique().unstack(fill_value=0)
    assert per_week.loc[0].to_dict() == {"new": 0, "old": 8}
    assert per_week.loc[1].to_dict() == {"new": 4, "old": 4}
    assert per_week.loc[2].to_dict() == {"new": 8, "old": 0}
    sizes = pd.concat([seasons.old, seasons.new]).groupby("query_id").size()
    shown = traffic.groupby(["week", "query_id"]).size()
    assert (shown.to_numpy() == sizes.reindex(shown.index.get_level_values(1)).to_numpy()).all()


def test_weekly_traffic_rejects_impossible_weeks(seasons):
    with pytest.raises(CourseArgumentError, match="Lower queries_per_week"):
        drift.weekly_traffic(seasons.old, seasons.new, [1.0], queries_per_week=10_000)
    with pytest.raises(CourseArgumentError, match="shares"):
        drift.weekly_traffic(seasons.old, seasons.new, [1.5], queries_per_week=2)


def test_oov_rate_counts_words_outside_the_vocabulary():
    known = drift.vocabulary(["red velvet sofa", "oak table"])
    assert known == {"red", "velvet", "sofa", "oak", "table"}
    assert drift.oov_rate(["red lamp", "sofa"], known) == pytest.approx(1 / 3)
    assert drift.oov_rate([], known) == 0.0


def test_label_shift_is_total_variation():
    assert drift.label_shift(["Exact", "Partial"], ["Partial", "Exact"]) == 0.0
    assert drift.label_shift(["Exact"] * 4, ["Irrelevant"] * 4) == 1.0
    assert drift.label_shift([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx(0.5)
    np.testing.assert_allclose(drift.label_shares(["Exact", "Exact", "Partial", "Irrelevant"]),
                               [0.5, 0.25, 0.25])


def test_psi_matches_a_hand_computed_case():
    expected = np.arange(100) / 100  # quartile bins hold 25 each
    actual = np.r_[np.full(50, 0.1), np.full(50, 0.9)]  # 50 in the first and the last bin
    e = np.full(4, 0.25)
    a = np.array([0.5, 1e-4, 1e-4, 0.5])
    assert drift.psi(expected, actual, bins=4) == pytest.approx(np.sum((a - e) * np.log(a / e)))


def test_psi_is_small_for_the_same_distribution_and_grows_with_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    same = drift.psi(reference, rng.normal(size=5000))
    moved = drift.psi(reference, rng.normal(0.5, 1, size=5000))
    far = drift.psi(reference, rng.normal(1.5, 1, size=5000))
    assert same < 0.02 < moved < far
    assert moved > 0.1


def test_psi_survives_repeated_values_and_rejects_empty_input():
    assert drift.psi(np.zeros(50), np.zeros(50)) == pytest.approx(0.0)
    with pytest.raises(CourseArgumentError):
        drift.psi([], [1.0])


def test_monitor_thresholds_and_first_crossing():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"query_id": np.repeat(np.arange(60), 5),
                              "query": np.repeat([f"red sofa {i % 3}" for i in range(60)], 5)})
    scores = rng.normal(size=300)
    predictions = rng.integers(0, 3, 300)
    monitor = drift.Monitor(drift.vocabulary(reference["query"]), predictions, scores)
    thresholds = drift.reference_thresholds(monitor, reference, predictions, scores,
                                            queries_per_week=20, n_weeks=50)
    assert set(thresholds.index) == {"oov_rate", "label_shift", "score_psi"}
    assert thresholds["oov_rate"] == 0.0 and 0 < thresholds["score_psi"] < 0.5
    weekly = pd.Series([0.01, 0.02, 0.3, 0.5], index=[0, 1, 2, 3])
    assert drift.first_week_above(weekly, 0.1) == 2
    assert drift.first_week_above(weekly, 0.9) is None
    assert drift.first_week_below(weekly, 0.015) == 0


def test_weekly_statistics_rise_when_new_words_arrive(seasons):
    traffic = drift.weekly_traffic(seasons.old, seasons.new, [0.0, 1.0], queries_per_week=6)
    old_train = seasons.old[seasons.old["split"] == "train"]
    monitor = drift.Monitor(drift.vocabulary(old_train["query"]), np.zeros(50, int), np.zeros(50))
    stats = drift.weekly_statistics(monitor, traffic, np.zeros(len(traffic), int),
                                    np.zeros(len(traffic)))
    assert stats.loc[1, "oov_rate"] > stats.loc[0, "oov_rate"]
    with pytest.raises(CourseArgumentError, match="row-aligned"):
        drift.weekly_statistics(monitor, traffic, np.zeros(3), np.zeros(3))


def test_replay_mix_adds_the_asked_share_of_old_pairs():
    new = pd.DataFrame({"x": range(10), "season": "new"})
    old = pd.DataFrame({"x": range(100, 130), "season": "old"})
    assert drift.replay_mix(new, old, 0.0)["season"].eq("new").all()
    mixed = drift.replay_mix(new, old, 0.5, seed=1)
    assert mixed["season"].value_counts().to_dict() == {"new": 10, "old": 5}
    assert len(drift.replay_mix(new, old, 10.0)) == 40, "capped at the old pairs there are"
    with pytest.raises(CourseArgumentError):
        drift.replay_mix(new, old, -0.1)


def test_replay_tradeoff_recovery_and_choice():
    def finetune(frame, seed):
        return (frame["season"] == "old").mean()  # the "model" is the share of old data

    def evaluate(share):
        return {"old": 0.5 + 0.3 * share, "new": 0.8 - 0.2 * share}

    new = pd.DataFrame({"season": ["new"] * 20})
    old = pd.DataFrame({"season": ["old"] * 40})
    table = drift.replay_tradeoff(finetune, evaluate, new, old, [0, 0.5, 1.0], seeds=(0, 1),
                                  progress=False)
    assert len(table) == 6 and set(table["n_train"]) == {20, 30, 40}
    summary = drift.recovery(table, before={"old": 0.7, "new": 0.6})
    # ratio 1: half old data -> old 0.65 (recovers 0.15 of the 0.2 lost), new 0.7 (keeps half)
    assert summary.loc[1.0, "recovered"] == pytest.approx(0.75)
    assert summary.loc[1.0, "kept"] == pytest.approx(0.5)
    assert summary.loc[0, "recovered"] == 0
    assert drift.choose_replay_ratio(summary, old_floor=0.6) == 0.5
    assert drift.choose_replay_ratio(summary, old_floor=0.99) == 1.0, "best old when none meets"
    fig = drift.plot_tradeoff(summary, {"old": 0.7, "new": 0.6}, chosen=0.5)
    assert fig.axes[0].get_xlabel().startswith("replay ratio")


def test_plot_monitor_has_a_panel_per_statistic_and_accuracy():
    weekly = pd.DataFrame({"oov_rate": [0, 0.1], "label_shift": [0, 0.2], "score_psi": [0, 0.3],
                           "macro_f1": [0.6, 0.5]})
    thresholds = pd.Series({"oov_rate": 0.05, "label_shift": 0.1, "score_psi": 0.1})
    fig = drift.plot_monitor(weekly, thresholds, accuracy_floor=0.55)
    assert len(fig.axes) == 4


def test_drift_free_weeks_resample_whole_queries_with_replacement():
    reference = pd.DataFrame({"query_id": np.repeat(np.arange(5), 3)})
    weeks = drift.drift_free_weeks(reference, queries_per_week=20, n_weeks=3, seed=0)
    assert len(weeks) == 3 and all(len(idx) == 60 for idx in weeks), "20 queries of 3 rows"
    ids = reference["query_id"].to_numpy()
    for idx in weeks:
        counts = pd.Series(ids[idx]).value_counts()
        assert (counts % 3 == 0).all(), "a query comes with all its rows"
    with pytest.raises(CourseArgumentError):
        drift.drift_free_weeks(reference.iloc[:0], 5)


def test_weekly_macro_f1_and_the_accuracy_floor():
    traffic = pd.DataFrame({"week": [0, 0, 0, 1, 1, 1],
                            "label": ["Exact", "Partial", "Irrelevant"] * 2})
    predictions = np.array([0, 1, 2, 0, 0, 0])
    scores = drift.weekly_macro_f1(traffic, predictions)
    assert scores.loc[0] == 1.0 and scores.loc[1] == pytest.approx(0.5 / 3)  # Exact: P 1/3, R 1
    named = drift.weekly_macro_f1(traffic, np.array(["Exact", "Partial", "Irrelevant"] * 2))
    assert (named == 1.0).all()
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"query_id": np.repeat(np.arange(40), 10),
                              "label": rng.choice(["Exact", "Partial", "Irrelevant"], 400)})
    truth = reference["label"].map({"Exact": 0, "Partial": 1, "Irrelevant": 2}).to_numpy()
    good = np.where(rng.random(400) < 0.8, truth, (truth + 1) % 3)
    floor = drift.accuracy_floor(reference, good, queries_per_week=10, n_weeks=100)
    weekly = drift.weekly_macro_f1(reference.assign(week=0), good).iloc[0]
    assert 0.5 < floor < weekly, "the floor is a low quantile of normal weeks"


def test_psi_agrees_with_scipy_entropy_both_ways():
    """PSI is the symmetrised Kullback-Leibler divergence of the binned shares:
    sum (a - e) ln(a / e) = KL(a || e) + KL(e || a), with scipy.stats.entropy as the
    reference. The bins come from numpy's quantiles and np.digitize, not from the course."""
    from scipy.stats import entropy

    rng = np.random.default_rng(4)
    for shift, bins in [(0.0, 10), (0.3, 10), (1.0, 5), (-0.5, 20)]:
        reference, current = rng.normal(size=3000), rng.normal(shift, 1.2, size=900)
        edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
        e = np.bincount(np.digitize(reference, edges), minlength=bins) / reference.size
        a = np.bincount(np.digitize(current, edges), minlength=bins) / current.size
        assert (a > 0).all() and (e > 0).all()  # no empty bin: no floor involved
        assert drift.psi(reference, current, bins=bins) == pytest.approx(
            entropy(a, e) + entropy(e, a), rel=1e-9)
