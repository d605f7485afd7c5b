"""Tests for course.trust.behaviour: CheckList-style suites, run against rule-based toy models."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from course.data import make_minishop, relevance_pairs, vocab
from course.errors import CourseArgumentError, CourseDataError
from course.trust import behaviour


@pytest.fixture(scope="module")
def shop():
    return make_minishop(seed=3, n_products=300, n_queries=120, n_users=5)


@pytest.fixture(scope="module")
def suite(shop):
    return behaviour.minishop_suite(relevance_pairs(shop, "test"), shop.products, n=40, seed=1)


def word_overlap(frame: pd.DataFrame, lower: bool = True) -> np.ndarray:
    """A lexical toy model: Exact when every query word is in the product, else by overlap."""
    probs = []
    for query, product in zip(frame["query"], frame["product_text"], strict=True):
        if lower:
            query, product = query.lower(), product.lower()
        words, present = query.split(), set(re.findall(r"[A-Za-z]+", product))
        share = sum(w in present for w in words) / len(words)
        probs.append([1.0, 0.0, 0.0] if share == 1 else [0.0, share, 1 - share])
    return np.array(probs)


def always_exact(frame: pd.DataFrame) -> np.ndarray:
    return np.tile([0.8, 0.1, 0.1], (len(frame), 1))


def test_suite_has_every_kind_and_is_reproducible(shop, suite):
    kinds = {t.kind for t in suite}
    assert kinds == {"MFT", "INV", "DIR"}
    assert {t.capability for t in suite} >= {"robustness", "brand", "case", "word order"}
    again = behaviour.minishop_suite(relevance_pairs(shop, "test"), shop.products, n=40, seed=1)
    for a, b in zip(suite, again, strict=True):
        pd.testing.assert_frame_equal(a.cases, b.cases)
    assert all(0 < len(t.cases) <= 40 for t in suite)


def test_generated_cases_change_only_what_the_test_is_about(shop, suite):
    tests = {t.name: t for t in suite}
    brand = tests["brand swap"].cases
    assert (brand["query"] == brand["query_b"]).all()
    for a, b in zip(brand["product_text"], brand["product_text_b"], strict=True):
        assert a != b
        changed = {w.strip(".,") for w in a.split() if w not in b.split()}
        assert changed <= set(" ".join(vocab.BRANDS).split())
    order = tests["title word order"].cases
    for a, b in zip(order["product_text"], order["product_text_b"], strict=True):
        title_a, _, rest_a = a.partition(". ")
        title_b, _, rest_b = b.partition(". ")
        assert rest_a == rest_b
        assert sorted(title_a.lower().split()) == sorted(title_b.lower().split())
    typos = tests["query typos"].cases
    assert (typos["query"] != typos["query_b"]).all()
    assert (typos["product_text"] == typos["product_text_b"]).all()
    for query, product_id in zip(tests["colour mismatch"].cases["query"],
                                 tests["colour mismatch"].cases["product_id"], strict=True):
        product = shop.products.set_index("product_id").loc[product_id]
        assert query.split()[0] != product["colour"] and query.endswith(product["product_type"])
    attribute = tests["add asked attribute"].cases
    for row in attribute.itertuples():
        value = row.query.split()[0]
        assert value not in row.product_text.split() and value in row.product_text_b.split()


def test_a_lexical_model_passes_word_tests_and_fails_case_and_typos(suite):
    strict = behaviour.run_suite(suite, lambda f: word_overlap(f, lower=False))
    assert strict.failure_rate("upper case") > 0.3
    lenient = behaviour.run_suite(suite, word_overlap)
    assert lenient.failure_rate("upper case") == 0.0
    assert lenient.failure_rate("colour mismatch") == 0.0
    assert lenient.failure_rate("title word order") == 0.0
    assert lenient.failure_rate("add asked attribute") == 0.0
    assert lenient.failure_rate("query typos") > 0.2
    examples = lenient.examples["query typos"]
    assert 0 < len(examples) <= 3 and examples["failed"].all()
    assert set(lenient.summary.columns) >= {"kind", "cases", "failures", "failure_rate"}


def test_always_exact_fails_every_minimum_functionality_case(suite):
    result = behaviour.run_suite(suite, always_exact)
    assert result.failure_rate("colour mismatch") == 1.0
    assert result.failure_rate("material mismatch") == 1.0
    assert result.failure_rate("brand swap") == 0.0
    assert result.failure_rate("add asked attribute") == 0.0  # equal scores do not fail DIR
    table = behaviour.compare({"overlap": behaviour.run_suite(suite, word_overlap),
                               "always exact": result})
    assert list(table.columns[-2:]) == ["overlap", "always exact"]
    assert table.loc["colour mismatch", "always exact"] == 1.0


def test_predict_is_called_once_and_its_shape_is_checked(suite):
    calls = []

    def counting(frame):
        calls.append(len(frame))
        return always_exact(frame)

    behaviour.run_suite(suite, counting)
    n_pairs = sum(len(t.cases) * (1 if t.kind == "MFT" else 2) for t in suite)
    assert calls == [n_pairs]
    with pytest.raises(CourseDataError, match="shape"):
        behaviour.run_suite(suite, lambda f: np.zeros((len(f), 2)))


def test_directional_test_fails_a_score_that_drops():
    cases = pd.DataFrame({"query": ["red sofa"] * 2, "product_text": ["sofa", "sofa"],
                          "query_b": ["red sofa"] * 2, "product_text_b": ["red sofa", "red sofa"]})
    test = behaviour.BehaviourTest("dir", "DIR", "attr", "score may not fall", cases,
                                   tolerance=0.05)

    def longer_is_worse(frame):
        short = frame["product_text"].str.len() < 5
        return np.where(short.to_numpy()[:, None], [[0.6, 0.4, 0.0]], [[0.5, 0.4, 0.1]])

    result = behaviour.run_suite([test], longer_is_worse)
    assert result.failure_rate("dir") == 1.0
    assert behaviour.run_suite([test], always_exact).failure_rate("dir") == 0.0


def test_ci_gate_names_the_failing_tests(suite):
    result = behaviour.run_suite(suite, always_exact)
    behaviour.assert_failure_rates(result, {"brand swap": 0.0})
    with pytest.raises(AssertionError, match="colour mismatch: 100.0% > 10.0%"):
        behaviour.assert_failure_rates(result, {"colour mismatch": 0.1, "brand swap": 0.0})
    with pytest.raises(CourseArgumentError, match="No such tests"):
        behaviour.assert_failure_rates(result, {"renamed": 0.1})


def test_bad_tests_are_rejected():
    cases = pd.DataFrame({"query": ["a"], "product_text": ["b"]})
    with pytest.raises(CourseArgumentError, match="kind"):
        behaviour.BehaviourTest("x", "XYZ", "c", "d", cases)
    with pytest.raises(CourseDataError, match="query_b"):
        behaviour.BehaviourTest("x", "INV", "c", "d", cases)
    with pytest.raises(CourseArgumentError, match="forbidden"):
        behaviour.BehaviourTest("x", "MFT", "c", "d", cases)
    test = behaviour.BehaviourTest("x", "MFT", "c", "d", cases, forbidden=("Exact",))
    with pytest.raises(CourseArgumentError, match="unique"):
        behaviour.run_suite([test, test], always_exact)


def test_perturbations():
    rng = np.random.default_rng(0)
    assert behaviour.swap_brand("Luma sofa by Luma", "Luma", "Corvo") == "Corvo sofa by Corvo"
    shuffled = behaviour.shuffle_title("Red velvet sofa. Soft and warm.", rng)
    assert shuffled.endswith(". Soft and warm.") and shuffled != "Red velvet sofa. Soft and warm."
    assert sorted(shuffled.split(". ")[0].lower().split()) == ["red", "sofa", "velvet"]
    typo = behaviour.add_typos("velvet sofa", 2, rng)
    assert typo != "velvet sofa" and typo.endswith("sofa")


def test_tfidf_predictor_runs_the_suite(shop, suite):
    pairs = relevance_pairs(shop)
    result = behaviour.run_suite(suite, behaviour.tfidf_predictor(pairs[pairs["split"] == "train"]))
    assert result.failure_rate("upper case") == 0.0  # TF-IDF lower-cases its input
    assert len(result.summary) == len(suite)


def test_cross_encoder_predictor_returns_probabilities_in_row_order(one_thread):
    from course import models

    resolved = models.resolve_model("tiny")
    model = models.load_classifier(resolved, list(behaviour.LABELS), seed=0)
    predict = behaviour.cross_encoder_predictor(model, models.load_tokenizer(resolved),
                                                max_length=32, batch_size=2)
    frame = pd.DataFrame({"query": ["red sofa", "oak table", "lamp"],
                          "product_text": ["a red sofa", "x", "a long text " * 20]})
    probs = predict(frame)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(predict(frame.iloc[[2, 0]]), probs[[2, 0]], atol=1e-5)


def test_suite_has_three_test_types_and_names_each_capability(suite):
    """CheckList's test types are MFT, INV and DIR; robustness to typos is a capability."""
    kinds = [t.kind for t in suite]
    assert sorted(set(kinds)) == sorted(behaviour.KINDS) == ["DIR", "INV", "MFT"]
    assert (kinds.count("MFT"), kinds.count("INV"), kinds.count("DIR")) == (2, 4, 1)
    typos = next(t for t in suite if t.name == "query typos")
    assert (typos.kind, typos.capability) == ("INV", "robustness")


@pytest.mark.parametrize("attribute", ["colour", "material", "style", "size"])
def test_mismatch_tests_ask_for_another_value_of_every_attribute(shop, attribute):
    test = behaviour.mismatch_test(shop.products, attribute, 30, np.random.default_rng(0))
    products = shop.products.set_index("product_id")
    for query, product_id in zip(test.cases["query"], test.cases["product_id"], strict=True):
        product = products.loc[product_id]
        asked = query[: -len(product["product_type"]) - 1]
        assert asked in behaviour.ATTRIBUTE_VALUES[attribute] and asked != product[attribute]
        assert query.endswith(product["product_type"])
    with pytest.raises(CourseArgumentError, match="attribute"):
        behaviour.mismatch_test(shop.products, "brand", 3, np.random.default_rng(0))


def test_attribute_matcher_reads_type_and_attributes_by_hand():
    fixed = behaviour.attribute_matcher()
    frame = pd.DataFrame({
        "query": ["red sofa", "large red sofa", "blue sofa", "red lamp", "cushion", "chair"],
        "product_text": ["Large red sofa. Made of velvet."] * 4
        + ["Cushion in linen."] + ["Office chair."]})
    # Exact, Exact (both asked values named), Partial (colour missing), Irrelevant (type),
    # Exact (no value asked), Irrelevant ("chair" is not a mini-shop type)
    assert fixed(frame).argmax(axis=1).tolist() == [0, 0, 1, 2, 0, 2]
    assert np.allclose(fixed(frame).sum(axis=1), 1.0)
    blind = behaviour.attribute_matcher(blind_to="colour")
    assert blind(frame).argmax(axis=1).tolist() == [0, 0, 0, 2, 0, 2]
    with pytest.raises(CourseArgumentError, match="blind_to"):
        behaviour.attribute_matcher(blind_to="brand")


def test_a_planted_failure_is_caught_by_its_test_and_by_no_other(shop, suite):
    fixed, planted = behaviour.attribute_matcher(), behaviour.attribute_matcher(blind_to="size")
    size = behaviour.mismatch_test(shop.products, "size", 40, np.random.default_rng(2))
    assert behaviour.run_suite([size], fixed).failure_rate("size mismatch") == 0.0
    assert behaviour.run_suite([size], planted).failure_rate("size mismatch") == 1.0
    on_fixed = behaviour.run_suite(suite, fixed).summary["failure_rate"]
    on_planted = behaviour.run_suite(suite, planted).summary["failure_rate"]
    assert (on_planted <= on_fixed).all(), "the lesson's suite does not see the planted failure"
