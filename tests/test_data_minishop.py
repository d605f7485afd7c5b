"""mini-shop generator, splits, relevance pairs, datasets conversion and the quality gate."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course.data import (
    FAMILIES,
    LABELS,
    PAIR_COLUMNS,
    grade,
    make_minishop,
    relevance_pairs,
    split_queries,
    to_dataset,
    to_dataset_dict,
    vocab,
)
from course.data.minishop import (
    BRAND_MARGIN_RANGE,
    CATEGORY_MARGIN,
    MARGIN_BOUNDS,
    OUT_OF_STOCK_SHARE,
    STOCK_MEAN,
    add_business_columns,
    add_typo,
)
from course.errors import CourseArgumentError, CourseDataError
from course.recsys import leave_last_out


@pytest.fixture(scope="module")
def shop():
    return make_minishop()


@pytest.fixture(scope="module")
def small():
    return make_minishop(seed=3, n_products=200, n_queries=40, n_users=30)


def test_tables_have_the_contract_columns(shop):
    for column in ["product_id", "title", "description", "product_type", "colour", "material",
                   "style", "size", "brand", "price", "text"]:
        assert column in shop.products.columns, column
    assert set(shop.queries.columns) >= {"query_id", "query", "family", "split"}
    assert list(shop.labels.columns[:3]) == ["query_id", "product_id", "label"]
    assert set(shop.purchases.columns) >= {"user_id", "product_id", "timestamp"}
    assert "user_id" in shop.users.columns and "taste_style" in shop.users.columns
    products = shop.products
    assert (products["text"] == products["title"] + ". " + products["description"]).all()


def test_defaults_are_big_enough_for_lessons_03_and_04(shop):
    pairs = relevance_pairs(shop)
    assert (pairs["split"] == "train").sum() >= 3000
    assert 300 <= len(shop.users) and shop.purchases["user_id"].nunique() == len(shop.users)
    lengths = shop.purchases.groupby("user_id").size()
    assert lengths.min() >= 5 and lengths.max() <= 30


def test_generation_is_deterministic_and_seed_dependent(small):
    again = make_minishop(seed=3, n_products=200, n_queries=40, n_users=30)
    other = make_minishop(seed=4, n_products=200, n_queries=40, n_users=30)
    for name in ("products", "queries", "labels", "purchases", "users"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert not small.queries["query"].equals(other.queries["query"])


def test_generation_takes_at_most_a_couple_of_seconds():
    wall, cpu = time.perf_counter(), time.process_time()
    make_minishop(seed=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"make_minishop() took {cpu:.2f} s of CPU ({wall:.2f} s wall)")
    # CPU time, not wall time: on shared CI cores the wall clock measures the neighbours.
    assert cpu < 5.0


def test_labels_families_and_candidate_lists(shop):
    assert set(shop.labels["label"]) == set(LABELS)
    assert set(shop.queries["family"]) == set(FAMILIES)
    per_query = shop.labels.groupby("query_id").size()
    assert per_query.min() >= 20 - 0 and per_query.max() <= 50
    mixed = shop.labels.groupby("query_id")["label"].nunique()
    assert (mixed >= 2).mean() > 0.95  # almost every list mixes grades, as in WANDS
    assert not shop.labels.duplicated(["query_id", "product_id"]).any()


def test_label_noise_is_the_only_difference_from_attribute_grades(shop):
    noisy = shop.labels["noisy"].to_numpy()
    assert (shop.labels["label"][~noisy] == shop.labels["clean_label"][~noisy]).all()
    assert (shop.labels["label"][noisy] != shop.labels["clean_label"][noisy]).all()
    assert 0.01 < noisy.mean() < 0.06  # default noise 0.03
    clean = make_minishop(seed=2, n_products=200, n_queries=30, n_users=5, label_noise=0.0)
    assert (clean.labels["label"] == clean.labels["clean_label"]).all()


def test_grade_follows_attribute_matching():
    products = pd.DataFrame({
        "product_type": ["sofa", "sofa", "armchair", "rug", "armchair"],
        "category": ["seating", "seating", "seating", "decor", "seating"],
        "colour": ["red", "blue", "red", "red", "blue"],
        "material": ["velvet"] * 5, "style": ["modern"] * 5, "size": ["large"] * 5,
    })
    got = grade({"type": "sofa", "colour": "red"}, products)
    assert list(got) == ["Exact", "Partial", "Partial", "Irrelevant", "Irrelevant"]


def test_stored_grades_match_a_recomputation(small):
    queries = small.queries.set_index("query_id")
    for query_id, group in list(small.labels.groupby("query_id"))[:10]:
        row = queries.loc[query_id]
        attrs = {"type": row["q_type"], **{
            a: row[f"q_{a}"] for a in ("size", "colour", "style", "material")
            if isinstance(row[f"q_{a}"], str)}}
        candidates = small.products.set_index("product_id").loc[group["product_id"]]
        expected = grade(attrs, candidates.reset_index())
        assert list(group["clean_label"]) == list(expected)


def test_no_query_is_in_two_relevance_splits(shop):
    by_text = shop.queries.groupby("query")["split"].nunique()
    assert (by_text == 1).all()
    pairs = relevance_pairs(shop)
    assert (pairs.groupby("query_id")["split"].nunique() == 1).all()
    assert set(pairs["split"]) == {"train", "valid", "test"}
    train_q = set(relevance_pairs(shop, "train")["query"])
    assert not train_q & set(relevance_pairs(shop, "test")["query"])
    assert not train_q & set(relevance_pairs(shop, "valid")["query"])


def test_held_out_synonyms_never_appear_in_training_queries_or_products(shop):
    held_out = {s for _, syns, *_ in vocab.PRODUCT_TYPES.values() for s in syns[1:]}
    train = shop.queries[shop.queries["split"] == "train"]["query"]
    assert not any(s in f" {q} " for q in train for s in [f" {h} " for h in held_out])
    queries = shop.queries
    test_syn = queries[(queries["split"] == "test") & (queries["family"] == "synonym")]
    assert len(test_syn) >= 20
    assert all(any(f" {h} " in f" {q} " for h in held_out) for q in test_syn["query"])
    texts = " " + " ".join(shop.products["text"].str.lower()) + " "
    multiword_safe = [h for h in held_out if f" {h} " in texts]
    assert multiword_safe == []
    first = {syns[0] for _, syns, *_ in vocab.PRODUCT_TYPES.values()}
    share = train.map(lambda q: any(f" {f} " in f" {q} " for f in first)).mean()
    print(f"train queries using a first synonym of the type: {share:.2f}")
    assert 0.3 <= share <= 0.5


def test_relevance_pairs_shape_and_split_filter(shop):
    pairs = relevance_pairs(shop)
    assert list(pairs.columns) == PAIR_COLUMNS
    assert len(pairs) == len(shop.labels)
    assert pairs["product_text"].notna().all()
    test = relevance_pairs(shop, split="test")
    assert set(test["split"]) == {"test"} and 0 < len(test) < len(pairs)
    with pytest.raises(CourseArgumentError, match="Unknown split"):
        relevance_pairs(shop, split="dev")


def test_to_dataset_keeps_the_label_order(small):
    pairs = relevance_pairs(small).head(60)
    ds = to_dataset(pairs)
    assert ds.features["label"].names == LABELS
    ids = [LABELS.index(lab) for lab in pairs["label"]]
    assert ds["label"] == ids
    assert ds["query"] == list(pairs["query"])
    bad = pairs.assign(label=["Exact"] * 59 + ["Relevant"])
    with pytest.raises(CourseDataError, match="Relevant"):
        to_dataset(bad)


def test_to_dataset_dict_has_one_dataset_per_split(small):
    pairs = relevance_pairs(small)
    dd = to_dataset_dict(pairs)
    assert list(dd) == ["train", "valid", "test"]
    assert sum(len(d) for d in dd.values()) == len(pairs)
    for name, part in dd.items():
        assert part.features["label"].names == LABELS
        assert set(part["split"]) == {name}
    with pytest.raises(CourseArgumentError, match="fold"):
        to_dataset_dict(pairs, split_col="fold")


def test_leave_last_out_of_the_shop_sequences_has_no_leakage(shop):
    """Lessons 04 and 06 hold out each shopper's last purchase (course.recsys.leave_last_out)."""
    ordered = shop.purchases.sort_values(["user_id", "timestamp"], kind="stable")
    sequences = [list(g["product_id"]) for _, g in ordered.groupby("user_id", sort=True)]
    assert not shop.purchases.duplicated(["user_id", "product_id"]).any()  # no repeat purchase
    train, users, targets = leave_last_out(sequences)
    last = ordered.groupby("user_id", sort=True).tail(1)["product_id"].tolist()
    assert [sequences[u][-1] for u in users] == list(targets)
    assert set(targets) <= set(last)
    for user, target in zip(users, targets, strict=True):
        assert target not in train[user]  # the held-out item is not in the history
        assert len(train[user]) == len(sequences[user]) - 1


def test_purchases_show_complements_and_popularity_skew(shop):
    p = shop.purchases.sort_values(["user_id", "timestamp"])
    prev = p.groupby("user_id")["product_type"].shift()
    pairs = pd.DataFrame({"prev": prev, "next": p["product_type"]}).dropna()
    transitions = zip(pairs["prev"], pairs["next"], strict=True)
    is_complement = [n in vocab.COMPLEMENTS[a] for a, n in transitions]
    share_types = shop.products["product_type"].value_counts(normalize=True)
    chance_of = {t: share_types.reindex(c, fill_value=0).sum()
                 for t, c in vocab.COMPLEMENTS.items()}
    chance = pairs["prev"].map(chance_of).mean()
    print(f"complement transitions {np.mean(is_complement):.2f} vs chance {chance:.2f}")
    assert np.mean(is_complement) > chance + 0.2
    counts = p["product_id"].value_counts()
    top = counts.head(len(shop.products) // 10).sum() / counts.sum()
    print(f"top 10% of products take {top:.2f} of purchases")
    assert top > 0.3


def test_tastes_drive_purchases(shop):
    columns = ["product_id", "style", "colour", "material"]
    merged = shop.purchases.merge(shop.products[columns], on="product_id")
    merged = merged.merge(shop.users, on="user_id")
    style = (merged["style"] == merged["taste_style"]).mean()
    palette = (merged["colour"] == merged["taste_colour"]) | (
        merged["colour"] == merged["taste_colour_2"])
    material = (merged["material"] == merged["taste_material"]).mean()
    print(f"purchases in the shopper's style {style:.2f}, palette {palette.mean():.2f}, "
          f"material {material:.2f}")
    assert style > 3 / len(vocab.STYLES)
    assert palette.mean() > 2.25 * 2 / len(vocab.COLOURS)
    assert material > 1.5 / len(vocab.MATERIALS)
    assert (shop.users["taste_colour"] != shop.users["taste_colour_2"]).all()


# The relevance side (products, queries, labels) as the generator made it before the shoppers
# changed: lesson 03's numbers depend on it, so a change to the shoppers must not touch it.
BUSINESS_COLUMNS = ("stock", "margin")  # lesson 09's columns, drawn after everything else
RELEVANCE_SHA256 = {
    "products": "1e8009d4cdcb85e84b6f056e65c0be24ff3cd655f11b9f3345dda41eb63dc598",
    "queries": "4c709daaf8cfaa0db74a51f58c0e780ae984b7dd013191bfdf7551c694186b10",
    "labels": "662288f30e0eec02a847d2ace993bc1d570958a7bd5be8d85a2d0cf18a1efbeb",
}


def test_relevance_side_is_byte_identical_and_independent_of_the_shoppers(shop):
    import hashlib

    for name, expected in RELEVANCE_SHA256.items():
        table = getattr(shop, name).drop(columns=list(BUSINESS_COLUMNS), errors="ignore")
        got = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
        assert got == expected, f"mini-shop's {name} changed (seed 0): lesson 03 would move"
    few = make_minishop(seed=5, n_products=200, n_queries=30, n_users=10)
    many = make_minishop(seed=5, n_products=200, n_queries=30, n_users=300)
    for name in ("products", "queries", "labels"):
        pd.testing.assert_frame_equal(getattr(few, name), getattr(many, name))
    assert len(many.purchases) > len(few.purchases)


def _last_purchase_recall(shop, scores_for) -> float:
    """Recall@10 of each shopper's last purchase when ranked by ``scores_for(user, history)``."""
    ordered = shop.purchases.sort_values(["user_id", "timestamp"])
    hits = []
    for user, items in ordered.groupby("user_id")["product_id"]:
        items = list(items)
        history, target = items[:-1], items[-1]
        scores = np.asarray(scores_for(user, history), dtype=float)
        scores[history] = -np.inf
        hits.append(target in np.argsort(-scores, kind="stable")[:10])
    return float(np.mean(hits))


def test_shoppers_are_learnable_from_product_attributes():
    """Attributes a text model can read predict the next purchase far better than popularity.

    The ranking uses only what product text says (style, colour, material, type via the
    complements of the previous purchase), not the hidden per-product popularity.
    """
    from course.data import minishop

    shop = make_minishop(seed=1, n_users=600)
    columns = {c: np.asarray(shop.products[c].to_numpy(), dtype=object)
               for c in ("product_type", "style", "colour", "material")}
    columns["price_band"] = shop.products["price_band"].to_numpy()
    users = shop.users.set_index("user_id")
    types = columns["product_type"]
    ones = np.ones(len(types))

    def by_attributes(user, history):
        taste = minishop._taste_weights(columns, users.loc[user], ones)
        follows = np.isin(types, vocab.COMPLEMENTS[types[history[-1]]])
        p = minishop.COMPLEMENT_PROBABILITY
        return (1 - p) * taste / taste.sum() + p * taste * follows / (taste * follows).sum()

    counts = shop.purchases["product_id"].value_counts().reindex(shop.products["product_id"],
                                                                 fill_value=0).to_numpy()
    attributes = _last_purchase_recall(shop, by_attributes)
    popularity = _last_purchase_recall(shop, lambda user, history: counts.astype(float))
    print(f"last purchase in the top 10: by attributes {attributes:.3f}, by popularity "
          f"{popularity:.3f}")
    assert attributes > 3 * popularity and attributes > 0.25


def test_bad_sizes_raise():
    with pytest.raises(CourseArgumentError, match="n_products"):
        make_minishop(n_products=10)
    with pytest.raises(CourseArgumentError, match="label_noise"):
        make_minishop(label_noise=1.5)


@given(st.text(alphabet="abcdefghij", min_size=2, max_size=12), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_add_typo_always_changes_the_phrase(word, seed):
    assert add_typo(np.random.default_rng(seed), f"red {word}") != f"red {word}"


QUERY_TEXTS = ["sofa", "Sofa ", "red rug", "lamp", "RED  rug", "desk", "bed", "mat"]


@given(st.lists(st.sampled_from(QUERY_TEXTS), min_size=1, max_size=30), st.integers(0, 100))
@settings(max_examples=60, deadline=None)
def test_split_queries_never_puts_one_text_in_two_splits(texts, seed):
    queries = pd.DataFrame({"query_id": range(len(texts)), "query": texts})
    out = split_queries(queries, seed=seed)
    key = out["query"].str.lower().str.split().str.join(" ")
    assert (out.groupby(key)["split"].nunique() == 1).all()
    assert set(out["split"]) <= {"train", "valid", "test"}


def test_split_queries_is_deterministic_and_sized():
    queries = pd.DataFrame({"query_id": range(200), "query": [f"query {i}" for i in range(200)]})
    a, b = split_queries(queries, seed=7), split_queries(queries, seed=7)
    assert a["split"].equals(b["split"])
    assert a["split"].value_counts().to_dict() == {"train": 140, "valid": 30, "test": 30}
    with pytest.raises(CourseArgumentError, match="shares"):
        split_queries(queries, valid=0.6, test=0.6)


def _macro_f1_by_family(shop):
    """Macro-F1 per family of the course's lexical baseline (the one lesson 03 reports)."""
    from sklearn.metrics import f1_score

    from course.baselines import tfidf_logreg

    train, test = relevance_pairs(shop, "train"), relevance_pairs(shop, "test")
    predicted = np.asarray(LABELS)[tfidf_logreg(train, test).argmax(axis=1)]
    scores = {}
    for family in FAMILIES:
        mask = (test["family"] == family).to_numpy()
        truth = test["label"][mask]
        scores[family] = f1_score(truth, predicted[mask], average="macro")
        majority = [truth.mode()[0]] * mask.sum()
        scores[f"{family}_majority"] = f1_score(truth, majority, average="macro")
    return scores


@pytest.mark.slow
def test_quality_gate_tfidf_fails_on_synonyms_but_learns_lexical(shop):
    scores = _macro_f1_by_family(shop)
    print("TF-IDF+LR macro-F1 on the test split:", {k: round(v, 3) for k, v in scores.items()})
    assert scores["lexical"] - scores["synonym"] >= 0.15
    assert scores["lexical"] >= scores["lexical_majority"] + 0.3


# ------------------------------------------------------------ business columns (lesson 09)


def test_business_columns_are_deterministic_and_leave_every_other_column_alone(shop):
    again = make_minishop()
    pd.testing.assert_frame_equal(shop.products[list(BUSINESS_COLUMNS)],
                                  again.products[list(BUSINESS_COLUMNS)])
    other = make_minishop(seed=1)
    assert not np.array_equal(shop.products["margin"], other.products["margin"])
    plain = shop.products.drop(columns=list(BUSINESS_COLUMNS))
    redone = add_business_columns(plain, seed=0)
    pd.testing.assert_frame_equal(redone, shop.products)  # a pure function of products and seed
    pd.testing.assert_frame_equal(redone.drop(columns=list(BUSINESS_COLUMNS)), plain)


def test_stock_follows_its_documented_generation(shop):
    stock = shop.products["stock"].to_numpy()
    assert stock.dtype.kind == "i" and (stock >= 0).all()
    n = len(stock)
    out = (stock == 0).mean()
    assert abs(out - OUT_OF_STOCK_SHARE) < 4 * np.sqrt(OUT_OF_STOCK_SHARE * 0.88 / n)
    in_stock = stock[stock > 0]
    assert in_stock.min() >= 1
    assert abs(in_stock.mean() - (1 + STOCK_MEAN)) < 4 * np.sqrt(STOCK_MEAN / len(in_stock))


def test_margin_follows_brand_and_category_within_bounds(shop):
    products = shop.products
    margin = products["margin"].to_numpy()
    assert MARGIN_BOUNDS[0] <= margin.min() and margin.max() <= MARGIN_BOUNDS[1]
    assert np.allclose(margin, np.round(margin, 3))
    # the category offsets show in the means: textiles earn more than seating
    by_category = products.groupby("category")["margin"].mean()
    planted = CATEGORY_MARGIN["textile"] - CATEGORY_MARGIN["seating"]
    assert abs(by_category["textile"] - by_category["seating"] - planted) < 0.05
    # brand + category set the level; within one (brand, category) only the noise is left
    spread = products.groupby(["brand", "category"])["margin"].std().dropna()
    assert spread.median() < 0.06
    brand_mean = products.groupby("brand")["margin"].mean()
    low, high = BRAND_MARGIN_RANGE
    assert low - 0.05 < brand_mean.min() and brand_mean.max() < high + 0.15


def test_business_columns_are_independent_of_relevance(shop):
    """Margin and stock carry no relevance signal: ranking for them is a trade-off."""
    pairs = relevance_pairs(shop).merge(shop.products[["product_id", *BUSINESS_COLUMNS]],
                                        on="product_id")
    by_label = pairs.groupby("label")["margin"].mean()
    assert by_label.max() - by_label.min() < 0.03


def test_add_business_columns_names_what_is_missing():
    with pytest.raises(CourseArgumentError, match="brand"):
        add_business_columns(pd.DataFrame({"price": [1.0], "category": ["decor"]}), seed=0)
    bad = pd.DataFrame({"price": [1.0], "category": ["garden"], "brand": [vocab.BRANDS[0]]})
    with pytest.raises(CourseArgumentError, match="garden"):
        add_business_columns(bad, seed=0)
