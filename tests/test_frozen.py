"""Unit tests for course.labels.frozen: text embeddings, pair features, the heads."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from course.errors import CourseArgumentError, CourseDataError
from course.labels import frozen


def _fake_embed(texts):
    """A deterministic 4-d "embedding": letter counts of a, e, o and the length."""
    return np.array([[t.count("a"), t.count("e"), t.count("o"), len(t)] for t in texts], float)


def test_pair_features_embed_each_text_once_and_concatenate():
    seen = []

    def embed(texts):
        seen.extend(texts)
        return _fake_embed(texts)

    frame = pd.DataFrame({"query": ["red sofa", "red sofa", "lamp"],
                          "product_text": ["a red sofa", "oak table", "a red sofa"]})
    features = frozen.PairFeatures.build([frame], embed=embed)
    assert sorted(seen) == sorted({"red sofa", "lamp", "a red sofa", "oak table"})
    x = features(frame)
    u, v = _fake_embed(["red sofa"])[0], _fake_embed(["oak table"])[0]
    np.testing.assert_allclose(x[1], np.r_[u, v, u * v, np.abs(u - v)])
    assert x.shape == (3, 16)


def test_pair_features_name_a_text_that_was_not_embedded():
    features = frozen.PairFeatures.build(
        [pd.DataFrame({"query": ["a"], "product_text": ["b"]})], embed=_fake_embed)
    with pytest.raises(CourseDataError, match="not embedded"):
        features(pd.DataFrame({"query": ["zzz"], "product_text": ["b"]}))


def test_embed_texts_returns_unit_vectors_from_the_tiny_model(one_thread):
    vectors = frozen.embed_texts(["red sofa", "blue lamp", "red sofa"], model_name="tiny",
                                 progress=False)
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    with pytest.raises(CourseArgumentError):
        frozen.embed_texts([], model_name="tiny")


def _blobs(seed: int, n: int = 300, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]]) + shift
    return centres[y] + rng.normal(size=(n, 2)), y


def test_logreg_head_separates_blobs_and_keeps_three_columns():
    x, y = _blobs(0)
    predict = frozen.logreg_head(x, y)
    xv, yv = _blobs(1)
    assert (predict(xv).argmax(axis=1) == yv).mean() > 0.95
    only_two = frozen.logreg_head(x[y < 2], y[y < 2])
    assert only_two(xv).shape == (len(xv), 3) and (only_two(xv)[:, 2] == 0).all()


def test_head_classifier_trains_with_the_course_engine(one_thread):
    x, y = _blobs(0)
    head = frozen.HeadClassifier(2, hidden=16, seed=0)
    before = frozen.head_probabilities(head, x)
    frozen.train_head(head, x, y, epochs=15, lr=1e-2)
    after = frozen.head_probabilities(head, x)
    assert (after.argmax(axis=1) == y).mean() > 0.95 > (before.argmax(axis=1) == y).mean()
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-5)


def test_train_head_continues_from_the_current_weights_and_accepts_label_names(one_thread):
    x, y = _blobs(0)
    head = frozen.train_head(frozen.HeadClassifier(2, hidden=16), x, y, epochs=15, lr=1e-2)
    twin = copy.deepcopy(head)
    names = pd.Series(np.array(["Exact", "Partial", "Irrelevant"])[y])
    frozen.train_head(twin, x, names, epochs=1, lr=1e-6)
    np.testing.assert_allclose(frozen.head_probabilities(twin, x),
                               frozen.head_probabilities(head, x), atol=1e-3)
    with pytest.raises(CourseArgumentError):
        frozen.train_head(head, x, y[:5])
