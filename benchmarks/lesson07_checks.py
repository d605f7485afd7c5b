"""How robust are lesson 07's two single-run claims? Repeat them over more seeds.

The lesson shows one traffic stream (does every drift alarm fire no later than the
accuracy drop?) and three click logs (is the IPW ranker closer to the human-label ranker
than the naive one, by more than the seed spread?). This script rebuilds the lesson's
`cpu` setting with the library and repeats both over more seeds:

    .venv/bin/python benchmarks/lesson07_checks.py --traffic-seeds 10 --click-seeds 6 \\
        --json /tmp/lesson07_checks.json

It prints one row per traffic seed and per click log, and the summary.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd


def drift_runs(shop, features, args) -> pd.DataFrame:
    """Alarm weeks and the accuracy-drop week for each traffic seed (the lesson's monitor)."""
    from course import metrics
    from course.labels import drift, frozen

    seasons = drift.season_pairs(shop)
    old = seasons.old
    old_train = old[old.split == "train"].sample(n=args.old_train, random_state=args.seed)
    head = frozen.HeadClassifier(features(old_train.head(1)).shape[1], hidden=64, seed=args.seed)
    model = frozen.train_head(head, features(old_train), old_train.label, epochs=15, lr=3e-3,
                              batch_size=128, seed=args.seed)

    def predict(frame):
        probs = frozen.head_probabilities(model, features(frame))
        return probs.argmax(axis=1), metrics.expected_gain(probs)

    old_valid = old[old.split == "valid"].reset_index(drop=True)
    ids = old_valid.query_id.drop_duplicates().sample(frac=1.0, random_state=args.seed).to_numpy()
    half = old_valid.query_id.isin(ids[: len(ids) // 2])
    reference = old_valid[half].reset_index(drop=True)
    calibration = old_valid[~half].reset_index(drop=True)
    known = drift.vocabulary(pd.concat([old_train["query"], old["product_text"],
                                        reference["query"]]))
    monitor = drift.Monitor(known, *predict(reference))
    cal_pred, cal_score = predict(calibration)
    thresholds = drift.reference_thresholds(monitor, calibration, cal_pred, cal_score,
                                            args.queries_per_week, seed=args.seed)
    floor = drift.accuracy_floor(calibration, cal_pred, args.queries_per_week, seed=args.seed)
    shares = (0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    rows = []
    for seed in range(args.traffic_seeds):
        traffic = drift.weekly_traffic(old[old.split == "test"],
                                       seasons.new[seasons.new.split == "test"], shares,
                                       args.queries_per_week, seed=seed)
        pred, score = predict(traffic)
        weekly = drift.weekly_statistics(monitor, traffic, pred, score)
        drop = drift.first_week_below(drift.weekly_macro_f1(traffic, pred), floor)
        alarms = {n: drift.first_week_above(weekly[n], thresholds[n]) for n in thresholds.index}
        in_time = all(w is not None and (drop is None or w <= drop) for w in alarms.values())
        rows.append({"traffic_seed": seed, **alarms, "accuracy_drop": drop, "in_time": in_time})
    return pd.DataFrame(rows)


def click_runs(pairs, features, args) -> pd.DataFrame:
    """Test NDCG@10 of the naive, IPW and human-label rankers for each click log."""
    from course import baselines, relevance
    from course.labels import clicks
    from course.trust import simulate

    train_pool = pairs[pairs.split == "train"]
    chosen = train_pool.query_id.drop_duplicates().sample(n=args.click_queries,
                                                          random_state=args.seed)
    click_pairs = train_pool[train_pool.query_id.isin(chosen)].reset_index(drop=True)
    click_pairs["score"] = baselines.bm25_scores(click_pairs)
    page = simulate.rank_results(click_pairs, depth=10)
    valid = relevance.sample_queries(pairs[pairs.split == "valid"], 3000, seed=args.seed)
    test = relevance.sample_queries(pairs[pairs.split == "test"], 3000, seed=args.seed)
    names = {"naive_ctr": "naive", "ipw_ctr": "ipw", "human": "human"}

    def sources(seed):
        log = simulate.simulate_clicks(page, args.sessions, intervention="swap",
                                       intervention_share=0.1, seed=seed)
        theta = simulate.estimate_propensities(log).set_index("position")["propensity"]
        table = clicks.label_sources(log, click_pairs, theta, 10.0)
        return features(table), table[list(names)].rename(columns=names)

    x, targets = sources(0)
    by_alpha = pd.DataFrame({a: clicks.ranking_quality(
        valid, clicks.fit_rankers(x, targets, a)(features(valid))) for a in args.alphas})
    alpha = by_alpha.idxmax(axis=1)
    rows = []
    for seed in range(args.click_seeds):
        x, targets = sources(seed)
        scores = clicks.fit_rankers(x, targets, alpha.reindex(targets.columns))(features(test))
        rows.append({"click_seed": seed, **clicks.ranking_quality(test, scores).to_dict()})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traffic-seeds", type=int, default=10)
    parser.add_argument("--click-seeds", type=int, default=6)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--old-train", type=int, default=4000)
    parser.add_argument("--queries-per-week", type=int, default=100)
    parser.add_argument("--click-queries", type=int, default=1200)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7],
                        help="ridge strengths each label source chooses from (the lesson's)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from course import data
    from course.labels import frozen

    started, cpu = time.perf_counter(), time.process_time()
    shop = data.make_minishop(seed=args.seed, n_queries=args.queries)
    pairs = data.relevance_pairs(shop)
    features = frozen.PairFeatures.build([pairs], embed=lambda t: frozen.embed_texts(t))
    drifts = drift_runs(shop, features, args)
    print(drifts.to_string(index=False))
    runs = click_runs(pairs, features, args)
    gaps = runs[["naive", "ipw"]].sub(runs["human"], axis=0).abs()
    print(runs.round(4).to_string(index=False))
    summary = {
        "traffic_seeds": len(drifts), "alarms_in_time": int(drifts["in_time"].sum()),
        "click_seeds": len(runs), "naive_gap": float(gaps["naive"].mean()),
        "ipw_gap": float(gaps["ipw"].mean()),
        "ipw_closer_in": int((gaps["ipw"] < gaps["naive"]).sum()),
        "max_seed_std": float(runs[["naive", "ipw", "human"]].std().max()),
        "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summary, "drift": drifts.to_dict("records"),
                       "clicks": runs.to_dict("records")}, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
