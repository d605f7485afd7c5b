import os

import numpy as np
import pandas as pd
import pytest
import torch

from course import relevance
from course.errors import CourseArgumentError, CourseDataError


@pytest.fixture
def pairs():
    rows = []
    for q in range(6):
        for p in range(5):
            family = "lexical" if q % 2 else "synonym"
            rows.append({"query_id": q, "query": f"q{q}", "family": family,
                         "product_id": p, "product_text": f"p{p}",
                         "label": ["Exact", "Partial", "Irrelevant"][(q + p) % 3], "split": "test"})
    return pd.DataFrame(rows)


def test_sample_queries_keeps_whole_queries(pairs):
    sample = relevance.sample_queries(pairs, max_pairs=12, seed=0)
    assert len(sample) == 10
    assert (sample.groupby("query_id").size() == 5).all()
    assert len(relevance.sample_queries(pairs, None)) == len(pairs)


def test_sample_pairs_is_seeded(pairs):
    a = relevance.sample_pairs(pairs, 7, seed=1)
    b = relevance.sample_pairs(pairs, 7, seed=1)
    assert len(a) == 7 and a.equals(b)


def test_macro_f1_by_family_accepts_ids_and_names(pairs):
    perfect = pairs["label"].map({"Exact": 0, "Partial": 1, "Irrelevant": 2}).to_numpy()
    scores = relevance.macro_f1_by_family(pairs, perfect)
    assert set(scores.index) == {"lexical", "synonym", "all"}
    assert np.allclose(scores, 1.0)
    wrong = relevance.macro_f1_by_family(pairs, np.array(["Exact"] * len(pairs)))
    assert wrong["all"] < 0.3


def test_majority_baseline(pairs):
    train = pd.DataFrame({"label": ["Partial"] * 3 + ["Exact"]})
    value = relevance.majority_macro_f1(train, pairs)
    assert 0 < value < 0.34


def test_unknown_choice_is_rejected():
    with pytest.raises(CourseArgumentError, match="mini-shop"):
        relevance.load_relevance_pairs("imagenet")


def test_auto_falls_back_to_minishop_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    from course import data

    def no_download(*args, **kwargs):
        raise CourseDataError("no network in this test")

    monkeypatch.setattr(data, "load_wands", no_download)
    monkeypatch.setattr(data, "load_esci", no_download)
    with pytest.warns(UserWarning, match="no network"):
        frame, used = relevance.load_relevance_pairs("auto", seed=0)
    assert used == "mini-shop" and {"query", "product_text", "label", "split"} <= set(frame.columns)


def test_shop_queries_sets_the_size_of_the_generated_shop():
    small, name = relevance.load_relevance_pairs("mini-shop", seed=0, shop_queries=40)
    assert name == "mini-shop" and small["query_id"].nunique() == 40
    assert set(small["split"]) == {"train", "valid", "test"}


# ---------------------------------------------------------------- lesson splits


def test_lesson_splits_sample_each_split_and_refuse_a_leak():
    pairs, _ = relevance.load_relevance_pairs("mini-shop", seed=0, shop_queries=60)
    splits = relevance.lesson_splits(pairs, max_train=100, max_valid=80, max_test=None, seed=0)
    assert len(splits["train"]) == 100 and set(splits["train"]["split"]) == {"train"}
    assert len(splits["test"]) == (pairs["split"] == "test").sum()
    leaky = pairs.copy()
    first_test = leaky.loc[leaky["split"] == "test", "query_id"].iloc[0]
    leaky.loc[leaky.index[leaky["split"] == "train"][:3], "query_id"] = first_test
    with pytest.raises(CourseDataError, match="train and test"):
        relevance.lesson_splits(leaky, None, None, None)
    with pytest.raises(CourseDataError, match=r"\['valid'\]"):
        relevance.lesson_splits(pairs[pairs["split"] != "valid"], None, None, None)


# ------------------------------------------------------- choices made on validation


def comparison(scores) -> pd.DataFrame:
    return pd.DataFrame({"choice": [f"c{i}" for i in range(len(scores))],
                         "valid_macro_f1": scores})


def test_select_on_validation_prefers_the_simplest_within_tolerance():
    table = comparison([0.60, 0.69, 0.70, 0.705])
    assert relevance.select_on_validation(table)["choice"] == "c3"
    assert relevance.select_on_validation(table, tolerance=0.01)["choice"] == "c2"
    assert relevance.select_on_validation(table, tolerance=0.02)["choice"] == "c1"


def test_select_on_validation_refuses_test_metrics_and_empty_tables():
    table = comparison([0.5, 0.6]).rename(columns={"valid_macro_f1": "test_macro_f1"})
    with pytest.raises(CourseArgumentError, match="not a validation metric"):
        relevance.select_on_validation(table, metric="test_macro_f1")
    with pytest.raises(CourseArgumentError, match="non-empty"):
        relevance.select_on_validation(comparison([]))


def seeded(scores: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"choice": c, "train_seed": i, "valid_macro_f1": v}
                         for c, values in scores.items() for i, v in enumerate(values)])


def test_seed_summary_keeps_the_order_and_counts_seeds():
    summary = relevance.seed_summary(seeded({"b": [0.5, 0.7, 0.6], "a": [0.2, 0.2, 0.2]}))
    assert list(summary.index) == ["b", "a"]
    assert summary.loc["b", "mean"] == pytest.approx(0.6)
    assert summary.loc["b", "std"] == pytest.approx(0.1)  # sample standard deviation
    assert summary.loc["a", "min"] == summary.loc["a", "max"] == pytest.approx(0.2)
    assert (summary["seeds"] == 3).all()


def test_select_by_mean_takes_the_simplest_within_the_noise():
    # noise = median seed std = 0.02: "b" is within it of "c", "a" is not
    pick = relevance.select_by_mean(seeded({"a": [0.50, 0.52, 0.48], "b": [0.60, 0.62, 0.58],
                                            "c": [0.61, 0.63, 0.59]}))
    assert (pick.choice, pick.best) == ("b", "c")
    assert pick.noise == pytest.approx(0.02) and pick.tolerance == pytest.approx(0.02)
    assert pick.tied == ("b", "c") and pick.within_noise
    assert "cannot be told apart" in pick.sentence()
    clear = relevance.select_by_mean(seeded({"a": [0.50, 0.51, 0.49], "b": [0.70, 0.71, 0.69]}))
    assert clear.choice == "b" and not clear.within_noise
    assert "outside the noise" in clear.sentence()
    one_seed = relevance.select_by_mean(seeded({"a": [0.600], "b": [0.605]}), floor=0.01)
    assert one_seed.choice == "a" and one_seed.tolerance == 0.01  # no spread: the floor
    with pytest.raises(CourseArgumentError, match="not a validation metric"):
        relevance.select_by_mean(seeded({"a": [0.5]}).rename(
            columns={"valid_macro_f1": "test_macro_f1"}), metric="test_macro_f1")


def test_choice_config_sets_the_head_learning_rate_only_where_asked():
    from course.train import TrainConfig

    base = TrainConfig(lr=1e-4, head_lr=9.0)
    plain, head, pooler = (relevance.CANDIDATES[0], relevance.CANDIDATES[3],
                           relevance.CANDIDATES[4])
    assert plain.config(base, 2e-3).head_lr is None
    assert head.config(base, 2e-3).head_lr == 2e-3
    assert head.config(base, 2e-3).head_prefixes == ("classifier",)
    assert pooler.config(base, 2e-3).head_prefixes == ("classifier", "bert.pooler")
    assert head.config(base, None).head_lr is None
    assert plain.loss_fn(torch.ones(3)) is None and head.loss_fn(torch.ones(3)) is not None


def test_comparison_round_trip_and_split_check(tmp_path):
    table = comparison([0.5, 0.6])
    path = relevance.save_comparison(tmp_path / "c.json", table, {"lr": 1e-4}, "python x.py",
                                     chosen={"lr": 1e-4})
    loaded, meta = relevance.load_comparison(path)
    pd.testing.assert_frame_equal(loaded, table)
    assert meta == {"split": "valid", "command": "python x.py", "setup": {"lr": 1e-4},
                    "chosen": {"lr": 1e-4}}
    path.write_text(path.read_text().replace('"split": "valid"', '"split": "test"'))
    with pytest.raises(CourseDataError, match="not on 'valid'"):
        relevance.load_comparison(path)
    with pytest.raises(CourseDataError, match="lesson03_choices.py"):
        relevance.load_comparison(tmp_path / "missing.json")
    assert relevance.setup_differences({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": (2, 3), "c": (None, 4)}


def test_compare_on_validation_trains_every_choice_from_the_same_start(tmp_path):
    from toydata import LABELS, toy_pairs

    from course import models, text, train

    resolved = models.resolve_model("tiny")
    tokenizer = models.load_tokenizer(resolved)
    train_ds = text.PairDataset.from_texts(tokenizer, *toy_pairs(48, 0), max_length=24)
    valid_ds = text.PairDataset.from_texts(tokenizer, *toy_pairs(24, 1), max_length=24)
    collator = text.DynamicPaddingCollator(tokenizer)
    seen = []

    def evaluate(model):
        seen.append(model)  # kept alive, so that no two runs share an id()
        return train.classification_evaluator(valid_ds, collator)(model)

    table = relevance.compare_on_validation(
        relevance.CANDIDATES[:2] + relevance.CANDIDATES[3:4],
        lambda seed: models.load_classifier(resolved, LABELS, seed=seed), train_ds,
        train.TrainConfig(max_steps=4, eval_every=2, batch_size=8, lr=1e-3, progress=False),
        head_lr=1e-2, class_weights=torch.tensor([1.0, 2.0, 3.0]), collate_fn=collator,
        make_sampler=lambda seed: text.LengthBucketSampler(train_ds.lengths, 8, seed=seed),
        evaluate=evaluate, seeds=(0, 1), log_root=tmp_path / "runs")
    assert list(table["choice"]) == [name for name in ("plain loss, one LR",
                                     "weighted loss, one LR", "weighted loss, head LR")
                                     for _ in (0, 1)]
    assert table["train_seed"].tolist() == [0, 1] * 3
    assert (table["steps"] == 4).all() and table["best_step"].isin([2, 4]).all()
    assert table["valid_macro_f1"].between(0, 1).all()
    assert len({id(m) for m in seen}) == 6 and len(seen) == 12  # a fresh model per run, twice
    assert table["valid_macro_f1"].nunique() > 1 or table["valid_accuracy"].nunique() > 1
    runs = train.tracking.read_runs(tmp_path / "runs")
    assert set(runs["run"]) == {f"{slug}/seed{s}" for s in (0, 1) for slug in (
        "plain-loss-one-lr", "weighted-loss-one-lr", "weighted-loss-head-lr")}


# ----------------------------------------------------------------- ESCI task 2


def test_esci_task2_pairs_keep_the_four_classes(tmp_path, monkeypatch):
    from fixtures.shop_files import write_esci_sample

    from course import data

    write_esci_sample(tmp_path / "esci_sample")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    esci = data.load_esci(download=False)
    four = relevance.esci_task2_pairs(esci)
    assert four["label"].value_counts().to_dict() == {
        "Exact": 80, "Substitute": 80, "Complement": 40, "Irrelevant": 40}
    assert (four.drop(columns="label") == esci.pairs.drop(columns="label")).all().all()
    assert set(esci.pairs["label"]) == set(data.LABELS)  # the 3-class view is unchanged


@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"),
                    reason="COURSE_DATA_DIR is not set: the real ESCI sample is not available")
def test_esci_task2_pairs_on_the_real_sample():
    from course import data

    four = relevance.esci_task2_pairs(data.load_esci(download=False))
    assert len(four) == 200
    assert four["label"].value_counts().to_dict() == {
        "Exact": 138, "Substitute": 49, "Irrelevant": 12, "Complement": 1}
    assert set(four["split"]) == {"train", "valid", "test"}


# ---------------------------------------------------- lesson 08: the same recipe, other starts


def test_recorded_recipe_is_lesson_03s_choice_on_validation(tmp_path):
    rows = pd.DataFrame([
        dict(stage="recipe", choice="plain loss, one LR", lr=1e-4, head_lr=None, train_seed=42,
             valid_macro_f1=0.30),
        dict(stage="recipe", choice="weighted loss, head LR", lr=1e-4, head_lr=2e-3,
             train_seed=42, valid_macro_f1=0.40),
        dict(stage="lr", choice="LR 5e-05", lr=5e-5, head_lr=2e-3, train_seed=42,
             valid_macro_f1=0.41),
    ])
    chosen = {"recipe": "weighted loss, head LR", "lr": 5e-5, "head_lr": 3e-3}
    relevance.save_comparison(tmp_path / "c.json", rows, {"batch_size": 32, "seed": 42}, "cmd",
                              chosen=chosen)
    choice, setup = relevance.recorded_recipe(tmp_path / "c.json")
    assert choice.name == "weighted loss, head LR" and choice in relevance.CANDIDATES
    assert setup == {"batch_size": 32, "seed": 42, "lr": 5e-5, "head_lr": 3e-3}
    relevance.save_comparison(tmp_path / "c.json", rows, {}, "cmd",
                              chosen={"recipe": "plain loss, one LR", "lr": 1e-4, "head_lr": None})
    _, setup = relevance.recorded_recipe(tmp_path / "c.json")
    assert setup["head_lr"] == 2e-3  # the recipe stage's, unused by a recipe without one
    relevance.save_comparison(tmp_path / "c.json", rows, {}, "cmd",
                              chosen={"recipe": "no such recipe", "lr": 1e-4, "head_lr": None})
    with pytest.raises(CourseDataError, match="not one of"):
        relevance.recorded_recipe(tmp_path / "c.json")


def test_query_log_has_held_out_synonyms_and_never_an_excluded_query():
    from course.data import vocab

    log = relevance.query_log(seed=7, n_queries=300)
    held_out = {s for _, syns, *_ in vocab.PRODUCT_TYPES.values() for s in syns[1:]}
    assert any(word in q.split() or word in q for q in log for word in held_out)
    assert len(log) == len(set(log)) > 250
    assert relevance.query_log(seed=7, n_queries=300) == log  # seeded
    dropped = relevance.query_log(seed=7, n_queries=300, exclude=log[:10])
    assert not set(dropped) & set(log[:10]) and len(dropped) == len(log) - 10


def test_finetune_from_starts_pairs_runs_by_seed_and_scores_each_family():
    from toydata import toy_pairs

    from course import models, text, train

    resolved = models.resolve_model("tiny")
    tokenizer = models.load_tokenizer(resolved)
    train_ds = text.PairDataset.from_texts(tokenizer, *toy_pairs(48, 0), max_length=24)
    queries, products, labels = toy_pairs(24, 1)
    valid_frame = pd.DataFrame({"query": queries, "product_text": products, "label": labels,
                                "family": ["lexical", "synonym"] * 12})
    valid_ds = text.PairDataset.from_texts(tokenizer, queries, products, labels, max_length=24)
    table = relevance.finetune_from_starts(
        {"original": resolved, "again": resolved}, [0, 1], recipe=relevance.CANDIDATES[3],
        base_config=train.TrainConfig(max_steps=3, batch_size=8, lr=1e-3, progress=False,
                                      precision="fp32"),
        head_lr=1e-2, train_dataset=train_ds, valid_frame=valid_frame, valid_dataset=valid_ds,
        collate_fn=text.DynamicPaddingCollator(tokenizer), class_weights=torch.ones(3))
    assert list(table["start"]) == ["original", "original", "again", "again"]
    assert {"lexical", "synonym", "all"} <= set(table.columns) and (table["steps"] == 3).all()
    # the same start and seed give the same run: the starts alone tell runs apart
    by = table.set_index(["start", "seed"])["all"]
    assert by["original", 0] == by["again", 0] and by["original", 1] == by["again", 1]
    gain = relevance.paired_gain(table, "all", "again", "original")
    assert gain == {"gain": 0.0, "sd": 0.0, "se": 0.0, "n_seeds": 2}


def test_paired_gain_pairs_by_seed():
    table = pd.DataFrame({"start": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "all": [0.50, 0.60, 0.70, 0.52, 0.65, 0.71]})
    gain = relevance.paired_gain(table, "all", "b", "a")
    diffs = np.array([0.02, 0.05, 0.01])
    assert abs(gain["gain"] - diffs.mean()) < 1e-12
    assert abs(gain["se"] - diffs.std(ddof=1) / np.sqrt(3)) < 1e-12
    with pytest.raises(CourseDataError, match="need"):
        relevance.paired_gain(table, "all", "c", "a")
    with pytest.raises(CourseDataError, match="two seeds"):
        relevance.paired_gain(table[table["seed"] == 0], "all", "b", "a")
