"""Property-based tests of the search service across its whole request schema (hypothesis).

Every legal request (any query up to the length limit in any script, any k in range, any
batch of pairs up to the cap) gets a 200 with well-formed results; every illegal one (one
field wrong at a time: type, range, length, blank, missing, unknown) gets a 4xx whose message
names that field; a body over the size cap gets 413. Both services are tested: lesson 05's
two-stage pipeline and lesson 09's ranked search (faiss index + LambdaMART), on tiny
fixture models so the whole file runs in seconds.
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinysearch import tiny_ranker, tiny_two_stage

from course.deploy.serve import (
    MAX_BODY_BYTES,
    MAX_K,
    MAX_PAIRS,
    MAX_PRODUCT_CHARS,
    MAX_QUERY_CHARS,
    create_app,
)
from course.search import (
    RankedSearch,
    ann,
    ltr,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
N_PRODUCTS = 60
DEPTH = 8


@pytest.fixture(scope="module")
def pipelines():
    base, products = tiny_two_stage(seed=0, n_products=N_PRODUCTS)
    booster = tiny_ranker(40, 30, lambda frame, rng: rng.integers(0, 3, len(frame)), 5)
    index = ann.build_index(base.item_vectors.numpy(), "hnsw", m=8)
    ranked = RankedSearch(base, booster, products[list(ltr.BUSINESS_FEATURES)].to_numpy(),
                          index, "hnsw", 32)
    return {"two-stage": base, "ranked": ranked}


@pytest.fixture(scope="module")
def clients(pipelines):
    with TestClient(create_app(pipelines["two-stage"], depth=DEPTH)) as two, \
            TestClient(create_app(pipelines["ranked"], depth=DEPTH)) as ranked:
        yield {"two-stage": two, "ranked": ranked}


# ------------------------------------------------------------------ strategies

# any Unicode text but surrogates (JSON cannot carry a lone one): every script, emoji, controls
ANY_TEXT = st.characters(exclude_categories=["Cs"])
SPACES = st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", "\u2003"])


def _text(max_size: int):
    return st.text(ANY_TEXT, min_size=1, max_size=max_size).filter(lambda s: s.strip())


QUERY = _text(MAX_QUERY_CHARS)
LONG_QUERY = st.text(ANY_TEXT, min_size=MAX_QUERY_CHARS + 1, max_size=MAX_QUERY_CHARS + 40)
FINITE = st.floats(allow_nan=False, allow_infinity=False)  # what a JSON client can send
WRONG_TYPE = st.one_of(st.none(), st.booleans(), FINITE, st.lists(
    st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def legal_search(draw):
    body = {"query": draw(QUERY)}
    if draw(st.booleans()):
        body["k"] = draw(st.integers(1, MAX_K))
    return body


@st.composite
def illegal_search(draw):
    """A legal body with one field made illegal; returns (body, the field the 4xx must name)."""
    body = {"query": draw(QUERY), "k": draw(st.integers(1, MAX_K))}
    fault = draw(st.sampled_from(["query_type", "query_empty", "query_blank", "query_long",
                                  "query_missing", "k_type", "k_range", "extra"]))
    if fault == "query_type":
        body["query"] = draw(st.one_of(WRONG_TYPE, st.integers()))
    elif fault == "query_empty":
        body["query"] = ""
    elif fault == "query_blank":
        body["query"] = draw(st.text(SPACES, min_size=1, max_size=20))
    elif fault == "query_long":
        body["query"] = draw(LONG_QUERY)
    elif fault == "query_missing":
        del body["query"]
    elif fault == "k_type":
        body["k"] = draw(st.one_of(WRONG_TYPE, st.text(max_size=4),
                                   FINITE.filter(lambda x: x != int(x))))
    elif fault == "k_range":
        body["k"] = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_K + 1)))
    else:
        name = draw(st.text(st.characters(categories=["Ll"]), min_size=1, max_size=8).filter(
            lambda s: s not in body))
        body[name] = draw(st.integers())
        return body, name
    return body, "query" if fault.startswith("query") else "k"


PAIR = st.fixed_dictionaries({"query": QUERY, "product": _text(MAX_PRODUCT_CHARS)})


@st.composite
def illegal_score(draw):
    pairs = draw(st.lists(st.fixed_dictionaries({"query": _text(30), "product": _text(60)}),
                          min_size=1, max_size=MAX_PAIRS))
    fault = draw(st.sampled_from(["empty", "too_many", "not_list", "pair_field", "pair_extra"]))
    if fault == "empty":
        return {"pairs": []}, "pairs"
    if fault == "too_many":
        return {"pairs": pairs[:1] * draw(st.integers(MAX_PAIRS + 1, MAX_PAIRS + 20))}, "pairs"
    if fault == "not_list":
        return {"pairs": draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))}, "pairs"
    i = draw(st.integers(0, len(pairs) - 1))
    if fault == "pair_extra":
        pairs[i]["price"] = 3
        return {"pairs": pairs}, f"pairs.{i}.price"
    side = draw(st.sampled_from(["query", "product"]))
    limit = MAX_QUERY_CHARS if side == "query" else MAX_PRODUCT_CHARS
    pairs[i][side] = draw(st.one_of(st.just(""), st.text(SPACES, min_size=1, max_size=5),
                                    st.just("x" * (limit + 1)), st.integers(), st.none()))
    if draw(st.booleans()):
        del pairs[i][side]
    return {"pairs": pairs}, f"pairs.{i}.{side}"


# ------------------------------------------------------------------ properties


def _well_formed_search(body: dict, answer: dict, depth: int = DEPTH) -> None:
    k = body.get("k", 10)
    results = answer["results"]
    assert answer["query"] == body["query"] and answer["k"] == k
    assert len(results) == min(k, N_PRODUCTS)
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    ids = [r["product_id"] for r in results]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) and 0 <= i < N_PRODUCTS
                                             for i in ids)
    assert all(isinstance(r["title"], str) and r["title"] for r in results)
    for r in results:  # past the re-ranking depth the two-stage pipeline has no score: null
        if r["rank"] <= depth:
            assert isinstance(r["score"], float) and math.isfinite(r["score"]), r
        else:
            assert r["score"] is None or math.isfinite(r["score"]), r
    assert all(math.isfinite(v) and v >= 0 for v in answer["timings_ms"].values())


@pytest.mark.parametrize("service", ["two-stage", "ranked"])
@FAST
@given(body=legal_search())
def test_every_legal_search_gets_200_with_well_formed_results(clients, service, body):
    response = clients[service].post("/search", json=body)
    assert response.status_code == 200, response.text
    _well_formed_search(body, response.json())


@pytest.mark.parametrize("service", ["two-stage", "ranked"])
@FAST
@given(case=illegal_search())
def test_every_illegal_search_gets_4xx_naming_the_field(clients, service, case):
    body, field = case
    response = clients[service].post("/search", json=body)
    assert 400 <= response.status_code < 500, (body, response.text)
    answer = response.json()
    assert field in answer["error"], (field, answer)
    assert any(d["field"] == field for d in answer["detail"]), (field, answer)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(pairs=st.lists(PAIR, min_size=1, max_size=MAX_PAIRS))
def test_every_legal_batch_of_pairs_gets_one_score_each(clients, pairs):
    response = clients["ranked"].post("/score", json={"pairs": pairs})
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert len(scores) == len(pairs) and all(0.0 <= s <= 1.0 for s in scores)


@FAST
@given(case=illegal_score())
def test_every_illegal_batch_gets_4xx_naming_the_field(clients, case):
    body, field = case
    response = clients["two-stage"].post("/score", json=body)
    assert 400 <= response.status_code < 500, (body, response.text)
    answer = response.json()
    assert field in answer["error"] and any(d["field"] == field for d in answer["detail"]), (
        field, answer)


@FAST
@given(body=st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=10), st.integers(),
                      st.none(), st.booleans()))
def test_a_body_that_is_not_an_object_names_the_body(clients, body):
    response = clients["ranked"].post("/search", json=body)
    assert response.status_code == 422 and "body" in response.json()["error"]


@pytest.mark.parametrize(("content", "field"), [
    ('{"query": "sofa", "k": 3', "body"),  # cut short
    ('{"query": "sofa", "k": NaN}', "k"),  # Python's JSON reader takes NaN and Infinity
    ('{"query": Infinity, "k": 3}', "query"),
    ("not json at all", "body"),
    ("[" * 100_000 + "]" * 100_000, "body"),  # nested too deeply for the JSON reader
])
def test_unreadable_json_gets_4xx_naming_the_field(clients, content, field):
    response = clients["two-stage"].post("/search", content=content,
                                         headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500 and field in response.json()["error"]


def test_a_body_over_the_cap_gets_413_declared_or_chunked(clients):
    big = {"query": "sofa", "k": 3, "padding": "x" * MAX_BODY_BYTES}
    response = clients["two-stage"].post("/search", json=big)
    assert response.status_code == 413 and "body" in response.json()["error"]

    def chunks():  # no Content-Length: the cap is counted as the body arrives
        for _ in range(5):
            yield b" " * 2**20

    response = clients["ranked"].post("/search", content=chunks(),
                                      headers={"content-type": "application/json"})
    assert response.status_code == 413
    # just under the cap, a legal request with padding whitespace is still served
    padded = '{"query": "sofa",' + " " * (MAX_BODY_BYTES - 40) + '"k": 3}'
    assert len(padded.encode()) <= MAX_BODY_BYTES
    response = clients["two-stage"].post("/search", content=padded,
                                         headers={"content-type": "application/json"})
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert clients["two-stage"].get("/health").json()["status"] == "ok"
