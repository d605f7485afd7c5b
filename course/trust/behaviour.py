"""Behavioural tests for a relevance model, in the manner of CheckList (Ribeiro et al. 2020).

A held-out score says how often a model is right; behavioural tests say *which*
capabilities it lacks. CheckList crosses two axes: the **capability** under test
(vocabulary, robustness to typos, named entities such as brands, ...) and one of three
**test types**:

* **MFT** (minimum functionality test): simple cases with a known answer ("a red sofa is
  not an *Exact* match for *blue sofa*").
* **INV** (invariance test): a change that must not change the label (swap the brand,
  change the case, reorder the title's words, add a small typo to the query).
* **DIR** (directional expectation test): a change that must move the score one way only
  (adding the attribute the query asks for must not lower the relevance score).

Robustness is a capability, not a type: typos are tested with an INV test whose
capability is ``"robustness"``. Every :class:`BehaviourTest` names its type (``kind``)
and its capability.

Any model fits: a *predictor* is a function from a table with ``query`` and
``product_text`` columns to class probabilities ``[n, 3]`` (Exact, Partial,
Irrelevant). :func:`run_suite` runs a list of :class:`BehaviourTest` against it and
returns failure rates and failing examples; :func:`assert_failure_rates` turns that into
a CI gate. :func:`minishop_suite` generates the tests from the mini-shop vocabulary.
:func:`attribute_matcher` is a transparent rule model of mini-shop relevance, in which a
failure can be planted (it ignores one attribute) for a test to catch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course.data import LABELS, vocab
from course.data.minishop import add_typo
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import expected_gain

KINDS = ("MFT", "INV", "DIR")
Predictor = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class BehaviourTest:
    """One behavioural test and its cases.

    ``cases`` has ``query`` and ``product_text``; an INV or DIR test also has
    ``query_b`` and ``product_text_b`` (the changed pair). An MFT test fails a case
    when the predicted label is in ``forbidden``; an INV test when the two labels
    differ; a DIR test when the changed pair's expected-gain score is lower than the
    original's by more than ``tolerance``.
    """

    name: str
    kind: str
    capability: str
    description: str
    cases: pd.DataFrame
    forbidden: tuple[str, ...] = ()
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CourseArgumentError(f"kind must be one of {KINDS}; got {self.kind!r}.")
        needed = ["query", "product_text"]
        if self.kind != "MFT":
            needed += ["query_b", "product_text_b"]
        missing = [c for c in needed if c not in self.cases.columns]
        if missing:
            raise CourseDataError(f"Test {self.name!r}: cases lack columns {missing}.")
        if self.kind == "MFT" and not self.forbidden:
            raise CourseArgumentError(f"MFT test {self.name!r} needs the forbidden labels.")
        if len(self.cases) == 0:
            raise CourseDataError(f"Test {self.name!r} has no cases.")


@dataclass
class SuiteResult:
    """What :func:`run_suite` found: one summary row per test, and failing examples."""

    summary: pd.DataFrame
    examples: dict[str, pd.DataFrame] = field(default_factory=dict)
    details: dict[str, pd.DataFrame] = field(default_factory=dict)

    def failure_rate(self, name: str) -> float:
        """The failure rate of test ``name``."""
        return float(self.summary.loc[name, "failure_rate"])


# ------------------------------------------------------------------ running the tests


def _predict_all(tests: Sequence[BehaviourTest], predict: Predictor) -> list[np.ndarray]:
    """Call ``predict`` once on every pair of every test; split the probabilities back."""
    frames = []
    for test in tests:
        frames.append(test.cases[["query", "product_text"]])
        if test.kind != "MFT":
            frames.append(test.cases[["query_b", "product_text_b"]].set_axis(
                ["query", "product_text"], axis=1))
    table = pd.concat(frames, ignore_index=True)
    probs = np.asarray(predict(table), dtype=float)
    if probs.shape != (len(table), len(LABELS)):
        raise CourseDataError(
            f"The predictor returned shape {probs.shape}; expected ({len(table)}, {len(LABELS)})."
        )
    sizes = np.cumsum([len(f) for f in frames])[:-1]
    return np.split(probs, sizes)


def _judge(test: BehaviourTest, probs: list[np.ndarray]) -> pd.DataFrame:
    """One row per case: the predictions and whether the case failed."""
    out = test.cases.copy()
    labels = np.asarray(LABELS, dtype=object)
    out["pred"] = labels[probs[0].argmax(axis=1)]
    out["score"] = expected_gain(probs[0])
    if test.kind == "MFT":
        out["failed"] = out["pred"].isin(test.forbidden)
        return out
    out["pred_b"] = labels[probs[1].argmax(axis=1)]
    out["score_b"] = expected_gain(probs[1])
    if test.kind == "INV":
        out["failed"] = out["pred"] != out["pred_b"]
    else:
        out["failed"] = out["score_b"] < out["score"] - test.tolerance
    return out


def run_suite(tests: Sequence[BehaviourTest], predict: Predictor,
              n_examples: int = 3) -> SuiteResult:
    """Run every test against one model; ``predict`` is called once, on all pairs together.

    Returns:
        A :class:`SuiteResult`: ``summary`` (test, kind, capability, cases, failures,
        failure_rate), up to ``n_examples`` failing cases per test, and every case.
    """
    if not tests:
        raise CourseArgumentError("run_suite needs at least one test.")
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise CourseArgumentError(f"Test names must be unique; got {names}.")
    probs = _predict_all(tests, predict)
    rows, examples, details, at = [], {}, {}, 0
    for test in tests:
        width = 1 if test.kind == "MFT" else 2
        judged = _judge(test, probs[at: at + width])
        at += width
        details[test.name] = judged
        examples[test.name] = judged[judged["failed"]].head(n_examples)
        rows.append({"test": test.name, "kind": test.kind, "capability": test.capability,
                     "cases": len(judged), "failures": int(judged["failed"].sum()),
                     "failure_rate": float(judged["failed"].mean())})
    return SuiteResult(pd.DataFrame(rows).set_index("test"), examples, details)


def compare(results: dict[str, SuiteResult]) -> pd.DataFrame:
    """Failure rates of several models side by side (one column per model)."""
    first = next(iter(results.values())).summary
    table = first[["kind", "capability", "cases"]].copy()
    for name, result in results.items():
        table[name] = result.summary["failure_rate"]
    return table


def assert_failure_rates(result: SuiteResult, max_rates: dict[str, float]) -> None:
    """A CI gate: raise ``AssertionError`` naming every test whose failure rate is too high.

    ``max_rates`` maps a test name to the highest failure rate allowed; a name the
    suite does not have is an error, so a renamed test cannot pass silently.
    """
    unknown = sorted(set(max_rates) - set(result.summary.index))
    if unknown:
        raise CourseArgumentError(f"No such tests in the result: {unknown}.")
    too_high = [f"{name}: {result.failure_rate(name):.1%} > {limit:.1%}"
                for name, limit in max_rates.items() if result.failure_rate(name) > limit]
    if too_high:
        raise AssertionError("Behavioural tests over their limit: " + "; ".join(too_high))


# ------------------------------------------------------------------------ predictors


def cross_encoder_predictor(model, tokenizer, max_length: int = 64,
                            batch_size: int = 64) -> Predictor:
    """A predictor for a Hugging Face sequence classifier (the lesson 03 cross-encoder)."""
    from course import text, train

    def predict(frame: pd.DataFrame) -> np.ndarray:
        dataset = text.PairDataset.from_texts(
            tokenizer, frame["query"].tolist(), frame["product_text"].tolist(),
            max_length=max_length)
        return train.predict(model, dataset, text.DynamicPaddingCollator(tokenizer),
                             batch_size=batch_size, progress=False)

    return predict


def tfidf_predictor(train_df: pd.DataFrame) -> Predictor:
    """A predictor for the TF-IDF + logistic regression baseline fitted on ``train_df``."""
    from course import baselines

    return lambda frame: baselines.tfidf_logreg(train_df, frame)


# ---------------------------------------------------------------------- perturbations


def swap_brand(text: str, brand: str, new_brand: str) -> str:
    """``text`` with every mention of ``brand`` replaced by ``new_brand``."""
    return re.sub(re.escape(brand), new_brand, text)


def shuffle_title(text: str, rng: np.random.Generator) -> str:
    """Reorder the words of the title (the text up to the first ``". "``); keep the rest."""
    title, sep, rest = text.partition(". ")
    words = title.split()
    if len(words) > 1:
        for _ in range(10):
            order = rng.permutation(len(words))
            if (order != np.arange(len(words))).any():
                break
        words = [words[i] for i in order]
    shuffled = " ".join(words)
    return shuffled[0].upper() + shuffled[1:] + sep + rest


def add_typos(query: str, n: int, rng: np.random.Generator) -> str:
    """``n`` keyboard slips in the query (each drops, swaps, doubles or replaces a letter).

    Two slips can cancel out (a swap and its reverse); then it draws again, so the
    result always differs from ``query``.
    """
    for _ in range(20):
        changed = query
        for _ in range(n):
            changed = add_typo(rng, changed)
        if changed != query:
            return changed
    return add_typo(rng, query)


# ------------------------------------------------------------- the mini-shop test suite


def _products_with(products: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Products whose text names their own ``attribute`` value (so a mismatch is visible)."""
    text = products["text"].str.lower()
    named = [value in body for value, body in zip(products[attribute], text, strict=True)]
    return products[np.asarray(named)]


ATTRIBUTE_VALUES = {"colour": list(vocab.COLOURS), "material": list(vocab.MATERIALS),
                    "style": list(vocab.STYLES), "size": list(vocab.SIZES)}


def mismatch_test(products: pd.DataFrame, attribute: str, n: int,
                  rng: np.random.Generator) -> BehaviourTest:
    """MFT: a query asking for another ``attribute`` value than the product has is not Exact.

    ``attribute`` is one of ``colour``, ``material``, ``style`` or ``size``.
    """
    if attribute not in ATTRIBUTE_VALUES:
        raise CourseArgumentError(
            f"attribute must be one of {sorted(ATTRIBUTE_VALUES)}; got {attribute!r}.")
    values = ATTRIBUTE_VALUES[attribute]
    pool = _products_with(products, attribute)
    chosen = pool.sample(n=min(n, len(pool)), random_state=int(rng.integers(1 << 31)))
    queries = []
    for value, kind in zip(chosen[attribute], chosen["product_type"], strict=True):
        other = [v for v in values if v != value]
        queries.append(f"{other[int(rng.integers(len(other)))]} {kind}")
    cases = pd.DataFrame({"query": queries, "product_text": chosen["text"].to_numpy(),
                          "product_id": chosen["product_id"].to_numpy()})
    return BehaviourTest(f"{attribute} mismatch", "MFT", f"{attribute} matching",
                         f"'<other {attribute}> <type>' for a product of that type: not Exact",
                         cases, forbidden=("Exact",))


def _sample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.sample(n=min(n, len(frame)), random_state=int(rng.integers(1 << 31)))


def _pair(base: pd.DataFrame, query_b, product_text_b) -> pd.DataFrame:
    columns = ["query", "product_text", "query_b", "product_text_b", "product_id", "label"]
    out = base.assign(query_b=list(query_b), product_text_b=list(product_text_b))
    return out[[c for c in columns if c in out.columns]].reset_index(drop=True)


def invariance_tests(pairs: pd.DataFrame, products: pd.DataFrame, n: int,
                     rng: np.random.Generator) -> list[BehaviourTest]:
    """INV: brand swap, case change, title word order; and 1-2 character query typos.

    Every test perturbs pairs of lexical queries (the query's words are in the product
    text), so the change under test is the only thing that differs.
    """
    lexical = pairs[pairs["family"] == "lexical"] if "family" in pairs else pairs
    if len(lexical) == 0:
        raise CourseDataError("pairs has no lexical queries to perturb.")
    lexical = lexical.merge(products[["product_id", "brand"]], on="product_id")
    named = [b in t for b, t in zip(lexical["brand"], lexical["product_text"], strict=True)]
    branded = _sample(lexical[np.asarray(named)], n, rng)
    new = [rng.choice([b for b in vocab.BRANDS if b != brand]) for brand in branded["brand"]]
    brand = _pair(branded, branded["query"], [
        swap_brand(t, b, nb)
        for t, b, nb in zip(branded["product_text"], branded["brand"], new, strict=True)])
    base = _sample(lexical, n, rng)
    case = _pair(base, base["query"].str.upper(), base["product_text"])
    order = _pair(base, base["query"], [shuffle_title(t, rng) for t in base["product_text"]])
    typos = _pair(base, [add_typos(q, int(rng.integers(1, 3)), rng) for q in base["query"]],
                  base["product_text"])
    return [
        BehaviourTest("brand swap", "INV", "brand", "another brand name: same label", brand),
        BehaviourTest("upper case", "INV", "case", "the query typed in capitals: same label",
                      case),
        BehaviourTest("title word order", "INV", "word order",
                      "the title's words reordered: same label", order),
        BehaviourTest("query typos", "INV", "robustness",
                      "1-2 character typos in the query: same label", typos),
    ]


def attribute_test(products: pd.DataFrame, n: int, rng: np.random.Generator,
                   tolerance: float = 0.0) -> BehaviourTest:
    """DIR: adding the attribute the query asks for to the title never lowers the score.

    Query ``"<value> <type>"``; product ``"<brand> <type>. Easy to assemble and built to
    last."`` against the same text with ``<value>`` before the type.
    """
    chosen = products.sample(n=min(n, len(products)), random_state=int(rng.integers(1 << 31)))
    rows = []
    for product in chosen.itertuples(index=False):
        attribute = ("colour", "material", "style", "size")[int(rng.integers(4))]
        value = getattr(product, attribute)
        tail = ". Easy to assemble and built to last."
        rows.append({"query": f"{value} {product.product_type}",
                     "product_text": f"{product.brand} {product.product_type}{tail}",
                     "query_b": f"{value} {product.product_type}",
                     "product_text_b": f"{product.brand} {value} {product.product_type}{tail}",
                     "attribute": attribute, "product_id": product.product_id})
    return BehaviourTest("add asked attribute", "DIR", "attribute matching",
                         "the asked-for attribute added to the title: score does not fall",
                         pd.DataFrame(rows), tolerance=tolerance)


def minishop_suite(pairs: pd.DataFrame, products: pd.DataFrame, n: int = 200,
                   seed: int = 0) -> list[BehaviourTest]:
    """The lesson's suite from mini-shop: 7 tests of the 3 types, 2 MFT, 4 INV and 1 DIR.

    Capabilities: colour and material matching (MFT), brand, case, word order and
    robustness to typos (INV), attribute matching (DIR).

    Args:
        pairs: labelled pairs (``query``, ``product_text``, ``product_id``, ``family``),
            e.g. the test split; INV tests perturb its lexical queries.
        products: the mini-shop catalogue (attributes, brand and ``text``).
        n: cases per test (fewer when the data has fewer).
        seed: random seed; the same arguments give the same suite.
    """
    if n < 1:
        raise CourseArgumentError(f"n must be at least 1; got {n}.")
    rng = np.random.default_rng(seed)
    return [
        mismatch_test(products, "colour", n, rng),
        mismatch_test(products, "material", n, rng),
        *invariance_tests(pairs, products, n, rng),
        attribute_test(products, n, rng),
    ]


# ------------------------------------------------------------ a transparent rule model


def _names(phrase: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def _rule_label(query: str, text: str, blind_to: str | None) -> int:
    """0 Exact, 1 Partial, 2 Irrelevant for one pair, from mini-shop's canonical words."""
    query, text = query.lower(), text.lower()
    types = [t for t in sorted(vocab.PRODUCT_TYPES, key=len, reverse=True) if _names(t, query)]
    if not types or not _names(types[0], text):
        return 2
    asked = [value for attribute, values in ATTRIBUTE_VALUES.items() if attribute != blind_to
             for value in values if _names(value, query)]
    return 0 if all(_names(value, text) for value in asked) else 1


def attribute_matcher(blind_to: str | None = None) -> Predictor:
    """A transparent rule model of mini-shop relevance, in which a failure can be planted.

    It reads mini-shop's canonical words: the product type the query names (the longest
    type found) and the values it asks for (colours, materials, styles, sizes). A product
    is *Exact* when its text names that type and every asked value, *Partial* when it
    names the type but misses a value, *Irrelevant* otherwise (also when the query names
    no type). ``blind_to`` (``"colour"``, ``"material"``, ``"style"`` or ``"size"``) plants
    a failure: the model ignores what the query asks for that attribute. It returns 0.9
    for the class it chooses and 0.05 for each other class.
    """
    if blind_to is not None and blind_to not in ATTRIBUTE_VALUES:
        raise CourseArgumentError(
            f"blind_to must be None or one of {sorted(ATTRIBUTE_VALUES)}; got {blind_to!r}.")

    def predict(frame: pd.DataFrame) -> np.ndarray:
        labels = [_rule_label(q, t, blind_to)
                  for q, t in zip(frame["query"], frame["product_text"], strict=True)]
        probs = np.full((len(labels), len(LABELS)), 0.05)
        probs[np.arange(len(labels)), labels] = 0.9
        return probs

    return predict


__all__ = [
    "ATTRIBUTE_VALUES", "KINDS", "BehaviourTest", "SuiteResult", "add_typos",
    "assert_failure_rates", "attribute_matcher", "attribute_test", "compare",
    "cross_encoder_predictor", "invariance_tests", "minishop_suite", "mismatch_test", "run_suite",
    "shuffle_title", "swap_brand", "tfidf_predictor",
]
