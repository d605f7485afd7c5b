"""The search models through sentence-transformers agree with the course's own where they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course import data, metrics
from course.errors import CourseArgumentError, CourseDataError
from course.models import load_classifier, load_encoder, load_tokenizer, resolve_model
from course.search import BiEncoder, CrossEncoderScorer, encode_texts, sbert

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["Red velvet sofa.", "Blue linen sofa.", "Oak dining table.", "Red table lamp.",
         "Grey wool rug.", "Oak bed frame."]
QUERIES = ["red sofa", "oak table", "rug"]


@pytest.fixture(scope="module")
def tiny():
    resolved = resolve_model("tiny")
    return load_encoder(resolved, seed=0).eval(), load_tokenizer(resolved)


def test_the_sentence_transformer_encodes_as_the_course_bi_encoder(tiny):
    encoder, tokenizer = tiny
    model = sbert.sentence_transformer(encoder, tokenizer, max_length=32)
    theirs = model.encode(TEXTS, convert_to_tensor=True)
    ours = encode_texts(BiEncoder(encoder), tokenizer, TEXTS, 32)
    assert torch.allclose(theirs.cpu(), ours, atol=1e-5)
    with pytest.raises(CourseArgumentError):
        sbert.sentence_transformer(encoder)  # a loaded encoder needs its tokenizer


def test_the_ir_evaluator_agrees_with_the_course_metrics(tiny):
    encoder, tokenizer = tiny
    model = sbert.sentence_transformer(encoder, tokenizer, max_length=32)
    ids = [10, 11, 12, 13, 14, 15]
    relevant = [{"10", "11"}, {"12"}, {"14"}]
    scores = sbert.ir_evaluator(QUERIES, TEXTS, ids, relevant, ks=(3,), name="t")(model)
    vectors = encode_texts(BiEncoder(encoder), tokenizer, TEXTS, 32)
    ranked = torch.argsort(-(encode_texts(BiEncoder(encoder), tokenizer, QUERIES, 32)
                             @ vectors.T), dim=1).numpy()
    targets = [[ids.index(int(i)) for i in r] for r in relevant]
    assert scores["t_cosine_recall@3"] == pytest.approx(
        metrics.mean_recall_of_lists(ranked, targets, k=3))
    assert scores["t_cosine_ndcg@3"] == pytest.approx(
        metrics.mean_binary_ndcg_of_lists(ranked, targets, k=3))
    assert scores["t_cosine_mrr@10"] == pytest.approx(metrics.mean_mrr_of_lists(ranked, targets))


def test_relevant_products_keep_the_gain_level():
    gains = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]])
    assert sbert.relevant_products(gains, [7, 8, 9]) == [{"7"}, {"8", "9"}]
    assert sbert.relevant_products(gains, [7, 8, 9], level=0.5) == [{"7", "8"}, {"8", "9"}]
    with pytest.raises(CourseDataError):
        sbert.relevant_products(gains, [7, 8])


@pytest.mark.slow
def test_mnrl_training_runs_the_steps_and_logs_them(tiny, tmp_path):
    from course.train import tracking

    encoder, tokenizer = tiny
    model = sbert.sentence_transformer(encoder, tokenizer, max_length=32)
    out = sbert.train_mnrl(model, QUERIES * 4, TEXTS * 2, steps=3, batch_size=3, lr=1e-4,
                           log_dir=tmp_path / "run")
    assert out.global_step == 3 and np.isfinite(out.training_loss)
    runs = tracking.read_runs(tmp_path)
    assert "train/loss" in set(runs["tag"])
    with pytest.raises(CourseDataError):
        sbert.train_mnrl(model, QUERIES, TEXTS, steps=1, batch_size=2, lr=1e-4)


def test_a_saved_classifier_is_a_cross_encoder_with_the_same_scores(tmp_path):
    resolved = resolve_model("tiny")
    tokenizer = load_tokenizer(resolved)
    model = load_classifier(resolved, list(data.LABELS), seed=0).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ours = CrossEncoderScorer(model, tokenizer, max_length=32).score(QUERIES[0], TEXTS)
    logits = sbert.cross_encoder(tmp_path, max_length=32).predict(
        [(QUERIES[0], t) for t in TEXTS], convert_to_numpy=True)
    theirs = metrics.expected_gain(torch.softmax(torch.from_numpy(logits), -1).numpy())
    assert np.allclose(ours, theirs, atol=1e-5)
    with pytest.raises(CourseDataError):
        sbert.cross_encoder(tmp_path / "nothing")
    assert isinstance(pd.Series(theirs), pd.Series)
