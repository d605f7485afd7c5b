"""Unit tests for course.baselines on small synthetic (query, product, label) frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from course.baselines import bm25_scores, tfidf_cosine_scores, tfidf_logreg, tokenize_words
from course.data import LABELS
from course.errors import CourseDataError
from course.metrics import macro_f1, mean_ndcg_of_frame

COLOURS = ["red", "blue", "green", "black", "white"]
TYPES = ["sofa", "chair", "table", "lamp", "rug", "bed"]
SYNONYM = {"sofa": "couch", "red": "crimson", "lamp": "light", "rug": "carpet"}


def frame(seed: int, n_queries: int = 40, synonyms: bool = False) -> pd.DataFrame:
    """Each query 'colour type' has an Exact, a Partial and an Irrelevant candidate."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        colour, kind = rng.choice(COLOURS), rng.choice(TYPES)
        other_c = rng.choice([c for c in COLOURS if c != colour])
        other_t = rng.choice([t for t in TYPES if t != kind])
        words = [colour, kind]
        if synonyms:
            words = [SYNONYM.get(w, w) for w in words]
        for label, (c, t) in zip(LABELS, [(colour, kind), (other_c, kind), (other_c, other_t)],
                                 strict=True):
            extra = " ".join(rng.choice(["modern", "oak", "soft", "large"], rng.integers(1, 4)))
            rows.append({"query_id": f"{seed}-{q}", "query": " ".join(words),
                         "product_text": f"{extra} {c} {t}", "label": label})
    # shuffled, so that score ties are not broken in favour of the Exact row
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_tokenize_words():
    assert tokenize_words("Red Sofa, 3-seat!") == ["red", "sofa", "3", "seat"]


def test_tfidf_logreg_learns_lexical_matches_but_not_synonyms():
    train, test = frame(0, 60), frame(1, 30)
    probs = tfidf_logreg(train, test)
    assert probs.shape == (len(test), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    predicted = np.array(LABELS)[probs.argmax(axis=1)]
    lexical = macro_f1(test["label"], predicted, LABELS)
    assert lexical > 0.9
    synonym_test = frame(2, 30, synonyms=True)
    syn_predicted = np.array(LABELS)[tfidf_logreg(train, synonym_test).argmax(axis=1)]
    assert macro_f1(synonym_test["label"], syn_predicted, LABELS) < lexical - 0.2


def test_tfidf_logreg_columns_follow_label_order_even_with_a_missing_class():
    train = frame(0, 40)
    train = train[train["label"] != "Partial"]
    probs = tfidf_logreg(train, frame(1, 10))
    assert np.all(probs[:, 1] == 0)  # Partial never seen: its column stays 0
    exact_rows = frame(1, 10)["label"].eq("Exact").to_numpy()  # same seed, same frame
    assert probs[exact_rows, 0].mean() > 0.8


def test_tfidf_logreg_rejects_bad_frames():
    with pytest.raises(CourseDataError, match="label"):
        tfidf_logreg(frame(0).drop(columns="label"), frame(1))
    with pytest.raises(CourseDataError, match="outside"):
        tfidf_logreg(frame(0).assign(label="Great"), frame(1))


def test_bm25_by_hand():
    df = pd.DataFrame({
        "query_id": [1, 1, 1],
        "query": ["red sofa", "red sofa", "red sofa"],
        "product_text": ["red sofa", "red red chair with arms", "blue table"],
    })
    # N=3 products; n(red)=2, n(sofa)=1; lengths 2, 5, 2 -> avgdl 3
    k1, b, avgdl = 1.2, 0.75, 3.0
    idf_red = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    idf_sofa = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))

    def term(tf, dl):
        return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    expected = [idf_red * term(1, 2) + idf_sofa * term(1, 2), idf_red * term(2, 5), 0.0]
    np.testing.assert_allclose(bm25_scores(df), expected)
    assert bm25_scores(df, b=0.0)[1] == pytest.approx(idf_red * 2 * (k1 + 1) / (2 + k1))


def test_tfidf_cosine_scores():
    df = pd.DataFrame({"query_id": [1, 1, 1], "query": ["red sofa"] * 3,
                       "product_text": ["Red Sofa", "red chair", "blue table"]})
    scores = tfidf_cosine_scores(df)
    assert scores[0] == pytest.approx(1.0)
    assert 0 < scores[1] < 1 and scores[2] == 0.0


@pytest.mark.parametrize("scorer", [bm25_scores, tfidf_cosine_scores])
def test_lexical_rankers_rank_lexical_queries_well_and_synonyms_badly(scorer):
    lexical = frame(3, 30)
    assert mean_ndcg_of_frame(lexical.assign(score=scorer(lexical)), k=1) == 1.0
    synonym = frame(4, 200, synonyms=True)
    # keep the queries in which every word is a synonym: no word overlap is left to match
    only_synonyms = synonym["query"].map(lambda q: set(q.split()) <= set(SYNONYM.values()))
    synonym = synonym[only_synonyms]
    assert synonym["query_id"].nunique() >= 5
    assert np.all(scorer(synonym) == 0)
    assert mean_ndcg_of_frame(synonym.assign(score=scorer(synonym)), k=1) < 0.8
