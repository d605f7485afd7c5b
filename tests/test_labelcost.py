"""course.labels.labelcost: nested samples, learning curves, labels needed, savings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.data import LABELS
from course.errors import CourseArgumentError
from course.labels import labelcost


def _pairs(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "family": rng.choice(["a", "b"], n),
                         "label": rng.choice(LABELS, n), "query": "q", "product_text": "p"})


def test_nested_samples_are_nested_and_seeded():
    pairs = _pairs(50)
    samples = labelcost.nested_samples(pairs, [10, 30, 20], seed=1)
    assert list(samples) == [10, 20, 30]
    assert samples[10].equals(samples[30].iloc[:10])
    assert not samples[10].equals(labelcost.nested_samples(pairs, [10], seed=2)[10])
    with pytest.raises(CourseArgumentError, match="sizes"):
        labelcost.nested_samples(pairs, [60])


def _oracle_fit(quality_at: dict):
    """A fake model: right on a share of rows that grows with the training size."""

    def fit_predict(train, evaluate, seed):
        rng = np.random.default_rng(seed)
        truth = evaluate["label"].map(LABELS.index).to_numpy()
        right = rng.random(len(evaluate)) < quality_at(len(train), evaluate["family"].to_numpy())
        guess = np.where(right, truth, (truth + 1) % 3)
        return np.eye(3)[guess]

    return fit_predict


@pytest.fixture(scope="module")
def curve():
    train, valid = _pairs(400, 0), _pairs(3000, 1)
    models = {
        # learns fast on family a, like the lexical model on b
        "pretrained": _oracle_fit(
            lambda n, fam: np.where(fam == "a", 0.9, np.minimum(0.9, 0.2 + 0.1 * np.log2(n / 25)))),
        # learns slowly everywhere
        "lexical": _oracle_fit(lambda n, fam: np.minimum(0.9, 0.2 + 0.1 * np.log2(n / 25))),
    }
    return labelcost.learning_curve(models, train, valid, [25, 50, 100, 200, 400], seeds=(0, 1),
                                    progress=False)


def test_learning_curve_has_every_model_size_seed_and_family(curve):
    assert len(curve) == 2 * 5 * 2 * 3
    assert set(curve["family"]) == {"a", "b", "all"}
    summary = labelcost.curve_summary(curve)
    assert summary.loc[("lexical", 400), "mean"] > summary.loc[("lexical", 25), "mean"] + 0.3
    assert (summary["std"] >= 0).all() and (summary["min"] <= summary["max"]).all()


def test_labels_needed_interpolates_on_a_log_scale():
    curve = pd.DataFrame({"model": "m", "size": [100, 400], "seed": 0, "family": "all",
                          "macro_f1": [0.4, 0.6]})
    assert labelcost.labels_needed(curve, "m", 0.5) == pytest.approx(200)
    assert labelcost.labels_needed(curve, "m", 0.3) == 100
    assert labelcost.labels_needed(curve, "m", 0.7) == float("inf")
    with pytest.raises(CourseArgumentError):
        labelcost.labels_needed(curve, "other", 0.5)


def test_label_savings_show_where_the_pretrained_model_saves_labels(curve):
    savings = labelcost.label_savings(curve, "pretrained", "lexical", at=50)
    assert savings.loc["a", "saving"] >= 8, "family a: the baseline needs far more labels"
    assert 0.5 < savings.loc["b", "saving"] < 2, "family b: no real saving"
    assert savings.loc["a", "pretrained @ 50"] > savings.loc["a", "lexical @ 50"]
    assert savings.loc["a", "reverse_labels"] == 25, "the baseline's score is reached at once"
    with pytest.raises(CourseArgumentError, match="not a size"):
        labelcost.label_savings(curve, "pretrained", "lexical", at=51)


def test_plot_learning_curves_one_panel_per_family(curve):
    fig = labelcost.plot_learning_curves(curve, ["all", "a"], anchors={"fine-tuned": (200, 0.8)})
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log"


def test_tfidf_fit_predict_returns_probabilities():
    rows = []
    for colour, kind in [("red", "sofa"), ("blue", "lamp"), ("green", "rug")] * 10:
        rows += [{"query": f"{colour} {kind}", "product_text": f"{colour} {kind} nice",
                  "label": "Exact"},
                 {"query": f"{colour} {kind}", "product_text": f"other {kind}",
                  "label": "Partial"},
                 {"query": f"{colour} {kind}", "product_text": "unrelated thing",
                  "label": "Irrelevant"}]
    frame = pd.DataFrame(rows)
    probs = labelcost.tfidf_fit_predict(frame, frame, seed=0)
    assert probs.shape == (len(frame), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_finetune_cross_encoder_trains_every_weight_and_scores_the_eval_pairs(one_thread):
    grades = [("same", "Exact"), ("other colour", "Partial"), ("other type", "Irrelevant")]
    rows = [{"query": f"{c} {t}", "product_text": f"{c} {t} {how}", "label": label}
            for c, t in [("red", "sofa"), ("blue", "lamp")] for how, label in grades]
    frame = pd.DataFrame(rows * 4)
    probs, result = labelcost.finetune_cross_encoder(frame, frame.head(5), "tiny", max_steps=3,
                                                     batch_size=8, max_length=16, progress=False)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert result.steps == 3 and len(result.history) == 3


def test_best_on_validation_keeps_the_best_candidate_and_logs_the_choice():
    valid = _pairs(300, 1)
    candidates = {"weak": _oracle_fit(lambda n, fam: 0.4),
                  "strong": _oracle_fit(lambda n, fam: 0.9)}
    choices = []
    pick = labelcost.best_on_validation(candidates, choices)
    probs = pick(_pairs(50), valid, 0)
    assert np.array_equal(probs, candidates["strong"](_pairs(50), valid, 0))
    assert choices == [{"size": 50, "seed": 0, "choice": "strong"}]
    with pytest.raises(CourseArgumentError):
        labelcost.best_on_validation({})
