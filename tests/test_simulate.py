"""Tests for course.trust.simulate: the position-biased click model, click logs, propensity
estimation from interventions, shoppers with tastes, and simulated A/B tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course import data
from course.errors import CourseArgumentError, CourseDataError
from course.trust import simulate as sim

GRADE_ORDER = ["Exact", "Exact", "Partial", "Partial", "Partial", "Irrelevant", "Irrelevant",
               "Irrelevant", "Irrelevant", "Irrelevant", "Irrelevant", "Irrelevant"]


def candidates(n_queries: int = 30, seed: int = 0) -> pd.DataFrame:
    """Twelve candidates per query; relevant ones tend to score higher (a decent ranker)."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        for j, label in enumerate(GRADE_ORDER):
            rows.append({"query_id": 100 + q, "product_id": q * 100 + j, "label": label,
                         "score": -j + rng.normal(0, 2.0)})
    return pd.DataFrame(rows)


def toy_shoppers(frame: pd.DataFrame, n_personas: int = 3, seed: int = 0) -> sim.Shoppers:
    rng = np.random.default_rng(seed)
    products = np.sort(frame["product_id"].unique())
    taste = rng.choice([1.0, 1.5, 2.25], size=(n_personas, len(products)))
    return sim.Shoppers(taste, rng.uniform(10, 100, len(products)), products)


# --------------------------------------------------------------------- the click model


def test_examination_probabilities_follow_the_power_law():
    assert np.allclose(sim.examination_probabilities(4), [1, 1 / 2, 1 / 3, 1 / 4])
    assert np.allclose(sim.examination_probabilities(3, eta=0.0), [1, 1, 1])
    assert np.allclose(sim.examination_probabilities(3, eta=2.0), [1, 1 / 4, 1 / 9])
    with pytest.raises(CourseArgumentError, match="depth"):
        sim.examination_probabilities(0)
    with pytest.raises(CourseArgumentError, match="eta"):
        sim.examination_probabilities(5, eta=-1)


def test_shopper_model_checks_its_probabilities():
    model = sim.ShopperModel(depth=3)
    assert np.allclose(model.by_grade("attractiveness"), [0.5, 0.2, 0.04, 0.0])
    with pytest.raises(CourseArgumentError, match="missing"):
        sim.ShopperModel(attractiveness={"Exact": 0.5})
    with pytest.raises(CourseArgumentError, match=r"\[0, 1\]"):
        sim.ShopperModel(purchase={"Exact": 1.5, "Partial": 0.1, "Irrelevant": 0.0})


def test_rank_results_sorts_pads_and_keeps_row_order_on_ties():
    frame = pd.DataFrame({
        "query_id": [7, 7, 7, 3, 3], "product_id": [1, 2, 3, 4, 5],
        "score": [0.5, 0.9, 0.5, 1.0, 2.0],
        "label": ["Partial", "Exact", "Irrelevant", "Exact", "Partial"],
    })
    lists = sim.rank_results(frame, depth=4, name="demo")
    assert lists.query_ids.tolist() == [3, 7]
    assert lists.product_ids.tolist() == [[5, 4, -1, -1], [2, 1, 3, -1]]
    assert lists.grades.tolist() == [[1, 0, -1, -1], [0, 1, 2, -1]]
    back = lists.to_frame()
    assert len(back) == 5 and back.loc[back["product_id"] == 2, "rank"].item() == 1
    assert sim.rank_results(frame, depth=1).product_ids.tolist() == [[5], [2]]


def test_rank_results_names_bad_input():
    frame = pd.DataFrame({"query_id": [1], "product_id": [1], "score": [0.1], "label": ["Good"]})
    with pytest.raises(CourseDataError, match="Good"):
        sim.rank_results(frame)
    with pytest.raises(CourseDataError, match="lacks columns.*score"):
        sim.rank_results(frame.drop(columns="score"))
    with pytest.raises(CourseDataError, match="NaN"):
        sim.rank_results(frame.assign(label="Exact", score=np.nan))


# ----------------------------------------------------------------------- click logs


def test_click_log_is_reproducible_and_shaped():
    frame = candidates(5)
    log = sim.simulate_clicks(frame, sessions_per_query=20, seed=3)
    again = sim.simulate_clicks(frame, sessions_per_query=20, seed=3)
    pd.testing.assert_frame_equal(log, again)
    assert len(log) == 5 * 20 * 10
    assert log["session_id"].nunique() == 100
    assert (log["position"] == log["rank"]).all() and (log["intervention"] == "none").all()
    assert not (log["clicked"] & ~log["examined"]).any(), "a click needs an examination"
    assert np.allclose(log["propensity"], 1.0 / log["position"])
    other = sim.simulate_clicks(frame, sessions_per_query=20, seed=4)
    assert not log["clicked"].equals(other["clicked"])


def test_click_rates_match_the_position_based_model():
    model = sim.ShopperModel(depth=10, eta=1.0)
    log = sim.simulate_clicks(candidates(40), sessions_per_query=500, model=model, seed=1)
    rates = log.groupby(["position", "label"])["clicked"].agg(["mean", "size"])
    for (position, label), row in rates.iterrows():
        expected = model.attractiveness[label] / position
        se = np.sqrt(expected * (1 - expected) / row["size"])
        assert abs(row["mean"] - expected) < 5 * se + 1e-3, (position, label, row["mean"], expected)


def test_click_log_from_other_column_names():
    frame = candidates(2).rename(columns={"score": "bm25", "label": "truth"})
    log = sim.simulate_clicks(frame, sessions_per_query=3, score="bm25", label="truth", seed=0)
    ranked = sim.rank_results(frame, score="bm25", label="truth")
    assert log["product_id"].iloc[:10].tolist() == ranked.product_ids[0].tolist()
    truth = frame.set_index("product_id")["truth"]
    shown = log.groupby("product_id")["label"].first()
    assert len(shown) == 20 and (shown == truth.loc[shown.index]).all()


def test_sessions_per_query_mapping_and_short_lists():
    frame = candidates(3)
    frame = frame[~((frame["query_id"] == 100) & (frame["product_id"] % 100 >= 4))]  # 4 shown
    log = sim.simulate_clicks(frame, sessions_per_query={100: 7, 101: 0, 102: 2}, seed=0)
    per_session = log.groupby("session_id").agg(query=("query_id", "first"), n=("position", "size"))
    assert per_session["query"].value_counts().to_dict() == {100: 7, 102: 2}
    assert set(per_session.loc[per_session["query"] == 100, "n"]) == {4}
    with pytest.raises(CourseArgumentError, match="at least one session"):
        sim.simulate_clicks(frame, sessions_per_query=0)
    with pytest.raises(CourseArgumentError, match="intervention"):
        sim.simulate_clicks(frame, intervention="flip")


def test_swap_intervention_moves_only_the_top_result():
    log = sim.simulate_clicks(candidates(10), sessions_per_query=50, intervention="swap",
                              intervention_share=0.3, seed=2)
    sessions = log.groupby("session_id").first()
    share = (sessions["intervention"] == "swap").mean()
    assert 0.2 < share < 0.4
    swapped = log[log["intervention"] == "swap"]
    top = swapped[swapped["rank"] == 1]
    assert (top["position"] == top["swapped_with"]).all() and (top["position"] >= 2).all()
    moved = swapped[(swapped["rank"] != 1) & (swapped["position"] != swapped["rank"])]
    assert (moved["position"] == 1).all() and (moved["rank"] == moved["swapped_with"]).all()
    plain = log[log["intervention"] == "none"]
    assert (plain["position"] == plain["rank"]).all() and (plain["swapped_with"] == 1).all()
    assert set(top["swapped_with"]) == set(range(2, 11)), "every k from 2 to depth is drawn"


def test_shuffle_intervention_permutes_each_list():
    log = sim.simulate_clicks(candidates(4), sessions_per_query=30, intervention="shuffle", seed=5)
    for _, session in log.groupby("session_id"):
        assert sorted(session["rank"]) == list(range(1, 11))
    assert (log["position"] != log["rank"]).mean() > 0.8


@pytest.mark.parametrize("intervention", ["swap", "shuffle"])
def test_interventions_recover_the_true_propensities(intervention):
    model = sim.ShopperModel(depth=6, eta=1.0)
    log = sim.simulate_clicks(candidates(60), sessions_per_query=400, model=model,
                              intervention=intervention, intervention_share=0.5, seed=11)
    table = sim.estimate_propensities(log).set_index("position")
    assert np.allclose(table["true_propensity"], 1.0 / table.index)
    for position, row in table.iterrows():
        se = row["propensity"] * np.sqrt(1 / max(row["clicks"], 1) + 1 / table.loc[1, "clicks"])
        assert abs(row["propensity"] - row["true_propensity"]) < 4 * se + 0.01, (position, row)
    # Without an intervention, click rates by position mix position bias with relevance:
    naive = log[log["intervention"] == "none"].groupby("position")["clicked"].mean()
    assert naive.loc[6] / naive.loc[1] < 0.7 * table.loc[6, "true_propensity"]


def test_estimate_propensities_needs_randomised_sessions():
    log = sim.simulate_clicks(candidates(3), sessions_per_query=10, seed=0)
    with pytest.raises(CourseDataError, match="intervention='swap'"):
        sim.estimate_propensities(log)


def test_no_position_bias_gives_flat_propensities():
    model = sim.ShopperModel(depth=5, eta=0.0)
    log = sim.simulate_clicks(candidates(40), sessions_per_query=300, model=model,
                              intervention="shuffle", seed=2)
    table = sim.estimate_propensities(log)
    assert np.allclose(table["true_propensity"], 1.0)
    assert (abs(table["propensity"] - 1.0) < 0.15).all()


# -------------------------------------------------------------------------- shoppers


def test_shoppers_from_minishop_multiply_matching_tastes():
    users = pd.DataFrame({"taste_style": ["modern", "rustic"], "taste_colour": ["red", "red"],
                          "taste_price_band": [0, 2]})
    products = pd.DataFrame({"product_id": [10, 11], "style": ["modern", "rustic"],
                             "colour": ["red", "blue"], "price_band": [0, 1], "price": [5.0, 7.0]})
    shoppers = sim.shoppers_from_minishop(users, products, taste_boost=2.0)
    assert shoppers.taste.tolist() == [[8.0, 1.0], [2.0, 2.0]]
    assert shoppers.columns(np.array([[11, -1], [10, 11]])).tolist() == [[1, -1], [0, 1]]
    with pytest.raises(CourseDataError, match=r"\[99\]"):
        shoppers.columns(np.array([99]))
    with pytest.raises(CourseArgumentError, match="taste_boost"):
        sim.shoppers_from_minishop(users, products, taste_boost=0.5)


def test_shoppers_from_minishop_never_buy_what_is_out_of_stock():
    users = pd.DataFrame({"taste_style": ["modern"], "taste_colour": ["red"],
                          "taste_price_band": [0]})
    products = pd.DataFrame({"product_id": [10, 11], "style": ["modern", "modern"],
                             "colour": ["red", "red"], "price_band": [0, 0],
                             "price": [5.0, 7.0], "stock": [3, 0]})
    shoppers = sim.shoppers_from_minishop(users, products, taste_boost=2.0, respect_stock=True)
    assert shoppers.taste.tolist() == [[8.0, 0.0]]
    assert sim.shoppers_from_minishop(users, products, taste_boost=2.0).taste.tolist() == [
        [8.0, 8.0]]  # off by default: lesson 06's shoppers are unchanged
    ranked = pd.DataFrame({"query_id": [1, 1], "product_id": [11, 10], "score": [2.0, 1.0],
                           "label": ["Exact", "Exact"]})
    money = sim.expected_metrics(shoppers, sim.rank_results(ranked))
    click_second = 0.5 * 0.5  # theta_2 = 1/2, attractiveness of Exact 0.5
    assert money["revenue"] == pytest.approx(click_second * min(1.0, 0.06 * 8.0) * 5.0)
    with pytest.raises(CourseDataError, match="stock"):
        sim.shoppers_from_minishop(users, products.drop(columns="stock"), respect_stock=True)


def test_expected_metrics_in_closed_form_for_one_result():
    frame = pd.DataFrame({"query_id": [1], "product_id": [5], "score": [1.0], "label": ["Exact"]})
    lists = sim.rank_results(frame)
    shoppers = sim.Shoppers(np.array([[1.0], [2.0]]), np.array([40.0]), np.array([5]))
    model = sim.ShopperModel()
    metrics = sim.expected_metrics(shoppers, lists, model)
    assert metrics["ctr"] == pytest.approx(0.5)
    assert metrics["conversion"] == pytest.approx(0.5 * (0.06 + 0.12) / 2)
    assert metrics["revenue"] == pytest.approx(40 * 0.5 * (0.06 + 0.12) / 2)
    assert metrics["clicks"] == pytest.approx(0.5)


def test_a_better_ranking_has_higher_expected_value():
    frame = candidates(30)
    good = sim.rank_results(frame, score="score")
    bad = sim.rank_results(frame.assign(score=-frame["score"]))
    shoppers = toy_shoppers(frame)
    better, worse = sim.expected_metrics(shoppers, good), sim.expected_metrics(shoppers, bad)
    for name in ("ctr", "conversion", "revenue", "clicks"):
        assert better[name] > worse[name], name


def test_simulated_visits_average_to_the_expected_metrics():
    frame = candidates(20)
    good, bad = sim.rank_results(frame), sim.rank_results(frame.assign(score=-frame["score"]))
    shoppers = toy_shoppers(frame)
    visits = sim.run_experiment(shoppers, bad, good, experiment=sim.Experiment(n_visitors=60_000),
                                seed=0)
    for arm, lists in [("control", bad), ("treatment", good)]:
        truth = sim.expected_metrics(shoppers, lists)
        rows = visits[visits["arm"] == arm]
        for name, column in [("ctr", "clicked"), ("conversion", "purchased"), ("clicks", "clicks")]:
            se = rows[column].std() / np.sqrt(len(rows))
            assert abs(rows[column].mean() - truth[name]) < 4 * se, (arm, name)
        se = rows["revenue"].std() / np.sqrt(len(rows))
        assert abs(rows["revenue"].mean() - truth["revenue"]) < 4 * se


def test_query_weights_change_the_traffic_mix():
    frame = candidates(3)
    lists = sim.rank_results(frame)
    shoppers = toy_shoppers(frame)
    shoppers.query_weights = {100: 1.0, 101: 0.0, 102: 3.0}
    visits = sim.run_experiment(shoppers, lists, lists, experiment=sim.Experiment(n_visitors=4000))
    share = visits["query_id"].value_counts(normalize=True)
    assert 101 not in share.index and 0.7 < share[102] < 0.8


# ----------------------------------------------------------------------- experiments


def test_assign_arms_is_a_stable_hash_by_user():
    ids = np.arange(20_000)
    arms = sim.assign_arms(ids, salt=1)
    assert np.array_equal(arms, sim.assign_arms(ids, salt=1))
    assert 0.48 < arms.mean() < 0.52
    assert 0.2 < sim.assign_arms(ids, salt=1, treatment_share=0.25).mean() < 0.3
    other = sim.assign_arms(ids, salt=2)
    assert 0.45 < (arms == other).mean() < 0.55, "a new salt re-randomises"


def test_repeat_visitors_keep_their_arm_and_persona():
    frame = candidates(5)
    lists = sim.rank_results(frame)
    design = sim.Experiment(n_visitors=3000, visits_per_visitor=3.0, days=7)
    visits = sim.run_experiment(toy_shoppers(frame), lists, lists, experiment=design, seed=1)
    per_visitor = visits.groupby("visitor").agg(
        arms=("arm", "nunique"), personas=("persona", "nunique"), n=("day", "size"))
    assert (per_visitor["arms"] == 1).all() and (per_visitor["personas"] == 1).all()
    assert 2.8 < per_visitor["n"].mean() < 3.2
    assert visits["day"].between(0, 6).all()
    with pytest.raises(CourseArgumentError, match="visits_per_visitor"):
        sim.Experiment(visits_per_visitor=0.5)
    with pytest.raises(CourseArgumentError, match="treatment_share"):
        sim.Experiment(treatment_share=1.0)


def test_run_experiments_counts_add_up():
    frame = candidates(10)
    good, bad = sim.rank_results(frame), sim.rank_results(frame.assign(score=-frame["score"]))
    shoppers = toy_shoppers(frame)
    design = sim.Experiment(n_visitors=5000, days=5)
    counts = sim.run_experiments(shoppers, bad, good, experiment=design, n_experiments=40, seed=3)
    assert set(counts) == set(sim.COUNTS)
    assert counts["visits"].shape == (40, 5, 2)
    assert np.allclose(counts["visits"].sum(axis=(1, 2)), 5000)
    assert (counts["purchased"] <= counts["clicked"]).all()
    assert (counts["clicked"] <= counts["clicks"]).all()
    totals = counts["purchased"].sum(axis=(0, 1)) / counts["visits"].sum(axis=(0, 1))
    assert totals[0] == pytest.approx(sim.expected_metrics(shoppers, bad)["conversion"], rel=0.1)
    assert totals[1] == pytest.approx(sim.expected_metrics(shoppers, good)["conversion"], rel=0.1)
    again = sim.run_experiments(shoppers, bad, good, experiment=design, n_experiments=40, seed=3)
    assert all(np.array_equal(counts[k], again[k]) for k in counts)


def test_arms_must_rank_the_same_queries():
    frame = candidates(3)
    with pytest.raises(CourseDataError, match="same queries"):
        sim.run_experiment(toy_shoppers(frame), sim.rank_results(frame),
                           sim.rank_results(frame[frame["query_id"] != 101]))


def test_minishop_users_drive_an_experiment_end_to_end():
    from course.data import make_minishop

    shop = make_minishop(seed=1, n_products=200, n_queries=20, n_users=60)
    shoppers = sim.shoppers_from_minishop(shop.users, shop.products)
    labels = shop.labels.assign(score=np.random.default_rng(0).random(len(shop.labels)))
    random_ranker = sim.rank_results(labels, label="clean_label", name="random")
    ideal = sim.rank_results(labels.assign(score=labels["clean_label"].map(
        {"Exact": 2, "Partial": 1, "Irrelevant": 0})), label="clean_label", name="ideal")
    truth = {r.name: sim.expected_metrics(shoppers, r) for r in (random_ranker, ideal)}
    assert truth["ideal"]["conversion"] > 1.3 * truth["random"]["conversion"]
    visits = sim.run_experiment(shoppers, random_ranker, ideal,
                                experiment=sim.Experiment(n_visitors=2000), seed=0)
    assert set(visits["query_id"]) <= set(shop.queries["query_id"])
    assert visits["persona"].max() < len(shop.users)


def test_expected_metrics_per_query_average_to_the_totals():
    shop = data.make_minishop(seed=3, n_queries=120)
    candidates = data.relevance_pairs(shop)
    shoppers = sim.shoppers_from_minishop(shop.users, shop.products)
    results = sim.rank_results(candidates.assign(score=-candidates.index.to_numpy()), name="x")
    per_query = sim.expected_metrics_per_query(shoppers, results)
    assert list(per_query.index) == list(results.query_ids)
    totals = sim.expected_metrics(shoppers, results)
    for name, value in totals.items():
        assert per_query[name].mean() == pytest.approx(value, rel=1e-12)
