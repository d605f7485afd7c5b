import numpy as np
import pandas as pd
import pytest

from course import relevance
from course.errors import CourseArgumentError, CourseDataError


@pytest.fixture
def pairs():
    rows = []
    for q in range(6):
        for p in range(5):
            rows.append({"query_id": q, "query": f"q{q}", "family": "lexical" if q % 2 else "synonym",
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
