"""Tests for course.trust.explain: Captum attributions, the deletion test and the sanity check.

A tiny BERT learns a one-word rule (the product text says "red": Exact; "blue": Partial;
neither: Irrelevant) in a few seconds. Its explanations must then point at that word, and
deleting the most-attributed words must hurt more than deleting random ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course import models
from course.errors import CourseArgumentError, CourseModelError
from course.trust import explain

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = ["Exact", "Partial", "Irrelevant"]
WORDS = ["soft", "modern", "oak", "large", "small", "chair", "table", "lamp", "green", "black"]


def keyword_pairs(n: int, seed: int) -> tuple[list[str], list[str], list[int]]:
    """Queries of two random words; products of 3-8 words, one of them "red" or "blue" or none."""
    rng = np.random.default_rng(seed)
    queries, docs, labels = [], [], []
    for _ in range(n):
        label = int(rng.integers(3))
        doc = list(rng.choice(WORDS, int(rng.integers(3, 9))))
        if label < 2:
            doc.insert(int(rng.integers(len(doc) + 1)), ["red", "blue"][label])
        queries.append(" ".join(rng.choice(WORDS, 2)))
        docs.append(" ".join(doc))
        labels.append(label)
    return queries, docs, labels


def untrained(seed: int = 0):
    model = models.load_classifier(models.resolve_model("tiny"), LABELS, seed=seed)
    return model.eval()


@pytest.fixture(scope="module")
def trained(tokenizer):
    """The tiny BERT after 120 AdamW steps on the keyword rule (100% training accuracy)."""
    torch.manual_seed(0)
    model = models.load_classifier(models.resolve_model("tiny"), LABELS, seed=0)
    queries, docs, labels = keyword_pairs(600, seed=0)
    enc = tokenizer(queries, docs, padding=True, return_tensors="pt")
    y = torch.tensor(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for step in range(120):
        idx = torch.arange(step * 32, step * 32 + 32) % len(y)
        loss = model(**{k: v[idx] for k, v in enc.items()}, labels=y[idx]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        accuracy = (model(**enc).logits.argmax(-1) == y).float().mean().item()
    assert accuracy > 0.95, f"the toy model did not learn the rule ({accuracy:.2f})"
    return model


@pytest.fixture(scope="module")
def pairs():
    queries, docs, _ = keyword_pairs(40, seed=5)
    return queries, docs


def test_attributions_line_up_with_the_tokens(tokenizer, pairs):
    model = untrained()
    out = explain.attribute(model, tokenizer, *pairs, method="gxi", progress=False)
    assert len(out) == len(pairs[0])
    first = out[0]
    enc = tokenizer(pairs[0][0], pairs[1][0])
    assert first.input_ids == enc["input_ids"]
    assert first.tokens[0] == "[CLS]" and first.special[0] and first.special[-1]
    assert first.segment.tolist() == enc["token_type_ids"]
    assert len(first.scores) == len(first.tokens)
    probs = explain.probabilities(model, [enc], tokenizer.pad_token_id)[0]
    assert first.target == probs.argmax()
    assert first.probability == pytest.approx(probs.max(), abs=1e-6)
    with pytest.raises(CourseArgumentError, match="method"):
        explain.attribute(model, tokenizer, *pairs, method="lime")
    with pytest.raises(CourseArgumentError, match="queries"):
        explain.attribute(model, tokenizer, pairs[0][:2], pairs[1][:3])


def test_batching_and_padding_do_not_change_the_attributions(tokenizer, pairs):
    model = untrained()
    one = explain.attribute(model, tokenizer, *pairs, method="ig", n_steps=8, batch_size=1,
                            progress=False)
    many = explain.attribute(model, tokenizer, *pairs, method="ig", n_steps=8, batch_size=16,
                             progress=False)
    for a, b in zip(one, many, strict=True):
        assert np.allclose(a.scores, b.scores, atol=1e-5)


def test_integrated_gradients_are_complete(tokenizer, trained, pairs):
    """IG's attributions add up to f(input) - f(baseline) (the completeness axiom)."""
    out = explain.attribute(trained, tokenizer, *pairs, method="ig", n_steps=64, progress=False)
    baseline_rows = []
    for a in out:
        pad = tokenizer.pad_token_id
        ids = [t if s else pad for t, s in zip(a.input_ids, a.special, strict=True)]
        baseline_rows.append({"input_ids": ids, "token_type_ids": a.segment.tolist(),
                              "attention_mask": [1] * len(ids)})
    base = explain.probabilities(trained, baseline_rows, tokenizer.pad_token_id)
    errors = [abs(a.scores.sum() - (a.probability - b[a.target])) for a, b in zip(out, base,
                                                                                   strict=True)]
    # 64 integration steps leave a few saturated pairs off by up to ~0.13; the mean is tight
    assert np.mean(errors) < 0.02 and np.max(errors) < 0.2, errors


def test_gradient_x_input_matches_autograd(tokenizer, trained, pairs):
    out = explain.attribute(trained, tokenizer, pairs[0][:1], pairs[1][:1], method="gxi",
                            progress=False)[0]
    ids = torch.tensor([out.input_ids])
    embeddings = trained.get_input_embeddings()(ids).detach().requires_grad_(True)
    segments = torch.tensor(out.segment[None, :])
    logits = trained(inputs_embeds=embeddings, token_type_ids=segments).logits
    torch.softmax(logits, -1)[0, out.target].backward()
    expected = (embeddings.grad * embeddings).sum(-1)[0].detach().numpy()
    assert np.allclose(out.scores, expected, atol=1e-5)


@pytest.mark.parametrize("method", ["ig", "gxi"])
def test_explanations_of_a_trained_model_pass_the_deletion_test(tokenizer, trained, pairs, method):
    out = explain.attribute(trained, tokenizer, *pairs, method=method, n_steps=16, progress=False)
    curves = explain.deletion_curves(trained, tokenizer, out, ks=(1, 2, 3), n_random=3, seed=0)
    assert set(curves.columns) == {"pair", "k", "p0", "drop_top", "drop_random"}
    assert len(curves) == 3 * len(out)
    summary = explain.deletion_summary(curves)
    assert list(summary.index) == [1, 2, 3]
    assert (summary["gap"] > 2 * summary["gap_se"]).all(), summary
    # the inverted ranking (least attributed first) must do worse than the real one
    inverted = [explain.Attribution(a.input_ids, a.tokens, -a.scores, a.segment, a.special,
                                    a.target, a.probability) for a in out]
    both = explain.deletion_curves(trained, tokenizer, {"real": out, "inverted": inverted},
                                   ks=(1, 2, 3), n_random=3, seed=0)
    assert set(both["method"]) == {"real", "inverted"} and len(both) == 6 * len(out)
    real = both[both["method"] == "real"].drop(columns="method").reset_index(drop=True)
    pd.testing.assert_frame_equal(real, curves, check_dtype=False)  # same random deletions
    by_method = both.groupby("method")["drop_top"].mean()
    assert by_method["inverted"] < by_method["real"]
    with pytest.raises(CourseArgumentError, match="same pairs"):
        explain.deletion_curves(trained, tokenizer, {"a": out, "b": out[1:]})


def test_deletion_curves_measure_the_fall_in_probability(tokenizer, trained, pairs):
    out = explain.attribute(trained, tokenizer, pairs[0][:1], pairs[1][:1], method="gxi",
                            progress=False)
    curves = explain.deletion_curves(trained, tokenizer, out, ks=(1, 500), n_random=1)
    assert curves["k"].tolist() == [1], "k larger than the pair's tokens is skipped"
    a = out[0]
    ordinary = np.flatnonzero(~a.special)
    drop = ordinary[np.argmax(a.scores[ordinary])]
    keep = [i for i in range(len(a.input_ids)) if i != drop]
    row = {"input_ids": [a.input_ids[i] for i in keep],
           "token_type_ids": [int(a.segment[i]) for i in keep], "attention_mask": [1] * len(keep)}
    after = explain.probabilities(trained, [row], tokenizer.pad_token_id)[0, a.target]
    assert curves.loc[0, "drop_top"] == pytest.approx(a.probability - after, abs=1e-6)


def test_randomise_top_reinitialises_only_the_top_blocks(trained):
    names = explain.block_names(trained)
    assert names == ["classifier", "pooler", "layer 1", "layer 0", "embeddings"]
    twin = explain.randomise_top(trained, 3, seed=0)
    for (name, block), (_, original) in zip(explain._blocks(twin), explain._blocks(trained),
                                            strict=True):
        same = all(torch.equal(p, q) for p, q in zip(block.parameters(), original.parameters(),
                                                      strict=True))
        assert same == (name in {"layer 0", "embeddings"}), name
    with pytest.raises(CourseArgumentError, match="n_blocks"):
        explain.randomise_top(trained, 9)
    with pytest.raises(CourseModelError, match="BERT-style"):
        explain.randomise_top(torch.nn.Linear(2, 2), 1)


def test_sanity_check_separates_a_trained_from_a_random_model(tokenizer, trained, pairs):
    table = explain.sanity_check(trained, tokenizer, *pairs, levels=(1, 5), method="gxi",
                                 progress=False)
    assert list(table["randomised"]) == [1, 5]
    assert list(table["top_block"]) == ["classifier", "embeddings"]
    assert table.loc[1, "spearman"] < 0.5, table
    out = explain.attribute(trained, tokenizer, *pairs, method="gxi", progress=False)
    again = explain.sanity_check(trained, tokenizer, *pairs, levels=(1, 5), method="gxi",
                                 trained=out, progress=False)
    pd.testing.assert_frame_equal(again, table)
    with pytest.raises(CourseArgumentError, match="trained attributions"):
        explain.sanity_check(trained, tokenizer, *pairs, trained=out[:3])
    assert explain.rank_correlation(out[0], out[0]) == pytest.approx(1.0)
    with pytest.raises(CourseArgumentError, match="different inputs"):
        explain.rank_correlation(out[0], out[1])


def test_highlight_html_escapes_and_colours(tokenizer, trained):
    out = explain.attribute(trained, tokenizer, ["red <b>sofa</b>"], ["red sofa"], method="gxi",
                            progress=False)[0]
    page = explain.highlight_html(out, LABELS)
    assert "&lt;" in page and "<b>sofa" not in page
    assert "rgba(0,150,0" in page and LABELS[out.target] in page
    assert out.top_tokens(2)[0][1] >= out.top_tokens(2)[1][1]


def test_convergence_delta_is_the_completeness_gap(tokenizer, trained, pairs):
    """Captum's delta is sum(attributions) - (p(input) - p(baseline)); it shrinks with steps."""
    queries, docs = pairs[0][:8], pairs[1][:8]
    out = explain.attribute(trained, tokenizer, queries, docs, method="ig", n_steps=8,
                            progress=False)
    pad = tokenizer.pad_token_id
    rows = [{"input_ids": [t if s else pad for t, s in zip(a.input_ids, a.special, strict=True)],
             "token_type_ids": a.segment.tolist(), "attention_mask": [1] * len(a.input_ids)}
            for a in out]
    base = explain.probabilities(trained, rows, pad)
    by_hand = [a.scores.sum() - (a.probability - b[a.target]) for a, b in zip(out, base,
                                                                              strict=True)]
    assert np.allclose([a.delta for a in out], by_hand, atol=1e-4)
    assert np.allclose(explain.completeness_gaps(out), np.abs(by_hand), atol=1e-4)
    gxi = explain.attribute(trained, tokenizer, queries, docs, method="gxi", progress=False)
    assert np.isnan(gxi[0].delta)
    with pytest.raises(CourseArgumentError, match="integrated gradients"):
        explain.completeness_gaps(gxi)


def test_choose_ig_steps_takes_the_fewest_steps_within_tolerance(tokenizer, trained, pairs):
    queries, docs = pairs[0][:6], pairs[1][:6]
    chosen, table = explain.choose_ig_steps(trained, tokenizer, queries, docs,
                                            candidates=(32, 2, 8), tolerance=1e-3,
                                            stop_early=False)
    assert table["n_steps"].tolist() == [2, 8, 32]
    assert table["max_gap"].iloc[-1] < table["max_gap"].iloc[0]
    within = table[table["max_gap"] <= 1e-3]["n_steps"]
    assert chosen == (within.iloc[0] if len(within) else 32)
    early, short = explain.choose_ig_steps(trained, tokenizer, queries, docs,
                                           candidates=(32, 2, 8), tolerance=1e-3)
    assert early == chosen and short["n_steps"].max() == max(chosen, 2)
    loose, _ = explain.choose_ig_steps(trained, tokenizer, queries, docs, candidates=(2, 8),
                                       tolerance=np.inf)
    assert loose == 2
    strict, _ = explain.choose_ig_steps(trained, tokenizer, queries, docs, candidates=(2, 4),
                                        tolerance=0.0)
    assert strict == 4, "none within: the largest candidate"
    with pytest.raises(CourseArgumentError, match="candidates"):
        explain.choose_ig_steps(trained, tokenizer, queries, docs, candidates=(0,))


def test_sanity_check_repeats_each_level_over_seeds(tokenizer, trained, pairs):
    table = explain.sanity_check(trained, tokenizer, *pairs, levels=(1, 5), method="gxi",
                                 seeds=(0, 1, 2), progress=False)
    assert table[["randomised", "seed"]].values.tolist() == [
        [1, 0], [1, 1], [1, 2], [5, 0], [5, 1], [5, 2]]
    assert table.loc[table.randomised == 1, "spearman"].nunique() == 3, "seeds differ"
    summary = explain.sanity_summary(table)
    assert summary["randomised"].tolist() == [1, 5] and (summary["seeds"] == 3).all()
    first = table[table.randomised == 1]["spearman"]
    assert summary.loc[0, "spearman"] == pytest.approx(first.mean())
    assert summary.loc[0, "spearman_std"] == pytest.approx(first.std(ddof=1))
    assert summary.loc[0, "spearman_min"] == pytest.approx(first.min())
