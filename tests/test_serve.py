"""The search service: every bad input gets a 422 naming its field; a search round trip works."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from course import data
from course.deploy.serve import BAD_REQUESTS, MAX_PAIRS, check_bad_requests, create_app, run_load
from course.errors import CourseArgumentError
from course.models import load_classifier, load_encoder, load_tokenizer, resolve_model
from course.search import BiEncoder, CrossEncoderScorer, TwoStageSearch, encode_texts

pytestmark = pytest.mark.usefixtures("one_thread")

CATALOG = pd.DataFrame(
    {
        "product_id": range(8),
        "title": [
            "Red sofa",
            "Blue sofa",
            "Oak table",
            "Red lamp",
            "Grey rug",
            "Oak bed",
            "Tan chair",
            "Pink pouf",
        ],
    }
)
CATALOG["text"] = CATALOG["title"] + ". A lovely " + CATALOG["title"].str.lower() + "."


@pytest.fixture(scope="module")
def pipeline():
    resolved = resolve_model("tiny")
    tokenizer = load_tokenizer(resolved)
    bi = BiEncoder(load_encoder(resolved, seed=0))
    cross = load_classifier(resolved, list(data.LABELS), seed=0)
    vectors = encode_texts(bi, tokenizer, CATALOG["text"].tolist())
    return TwoStageSearch(CATALOG, bi, tokenizer, vectors, CrossEncoderScorer(cross, tokenizer))


@pytest.fixture(scope="module")
def client(pipeline):
    with TestClient(create_app(pipeline, depth=5)) as test_client:
        yield test_client


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["products"] == len(CATALOG) and body["reranker"]
    assert body["model_card"] is None and body["int8_scheme"] is None  # none given, fp32


def test_health_names_the_model_card_and_the_int8_scheme(pipeline, tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# card\n")
    with TestClient(create_app(pipeline, int8=True, model_card=str(card))) as test_client:
        body = test_client.get("/health").json()
    assert body["model_card"] == str(card) and body["int8_scheme"] == "per-tensor"


def test_search_round_trip(client, pipeline):
    response = client.post("/search", json={"query": "red sofa", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["k"] == 3 and len(body["results"]) == 3
    assert [r["rank"] for r in body["results"]] == [1, 2, 3]
    expected = pipeline.search("red sofa", k=3, depth=5).products
    assert [r["product_id"] for r in body["results"]] == expected["product_id"].tolist()
    assert {"bm25", "dense", "rerank", "total"} <= set(body["timings_ms"])
    default = client.post("/search", json={"query": "red sofa"}).json()
    assert default["k"] == 10 and len(default["results"]) == len(CATALOG)  # k > catalog: all of it


def test_score_round_trip(client, pipeline):
    pairs = [{"query": "red sofa", "product": t} for t in CATALOG["text"][:3]]
    response = client.post("/score", json={"pairs": pairs})
    assert response.status_code == 200
    expected = pipeline.reranker.score(["red sofa"] * 3, CATALOG["text"][:3].tolist())
    assert response.json()["scores"] == pytest.approx(expected.tolist(), abs=1e-5)
    full = client.post("/score", json={"pairs": pairs[:1] * MAX_PAIRS})
    assert full.status_code == 200  # the cap itself is allowed


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_every_bad_input_gets_a_422_that_names_the_field(client, case):
    path, body, field = BAD_REQUESTS[case]
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert field in message, message
    assert any(
        d["field"] == field or d["field"].startswith(field) for d in response.json()["detail"]
    )


def test_malformed_json_is_a_422_and_the_server_stays_healthy(client):
    response = client.post(
        "/search", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    rows = check_bad_requests("", client=client)
    assert len(rows) == len(BAD_REQUESTS)
    assert all(r["status"] == 422 and r["names_field"] for r in rows), rows
    assert client.get("/health").json()["status"] == "ok"


def test_an_internal_error_is_a_500_not_a_crash(pipeline):
    class Broken:
        catalog, reranker = pipeline.catalog, pipeline.reranker

        def search(self, *args, **kwargs):
            raise RuntimeError("boom")

    with TestClient(create_app(Broken()), raise_server_exceptions=False) as broken:
        response = broken.post("/search", json={"query": "sofa", "k": 2})
        assert response.status_code == 500 and "boom" in response.json()["error"]
        assert broken.get("/health").json()["errors"] == 1


def test_run_load_checks_its_arguments():
    with pytest.raises(CourseArgumentError):
        run_load("http://127.0.0.1:9", [], concurrency=1)
    with pytest.raises(CourseArgumentError):
        run_load("http://127.0.0.1:9", [{"query": "x"}], concurrency=0)


def test_run_load_counts_failures_without_raising():
    out = run_load(
        "http://127.0.0.1:9/search", [{"query": "x", "k": 1}] * 3, concurrency=2, timeout=2
    )
    assert out["latencies_ms"] == [] and len(out["failures"]) == 3


@pytest.mark.slow
def test_the_real_server_in_a_child_process(pipeline, tmp_path):
    import dataclasses

    from course.deploy.card import CARD_FILE
    from course.deploy.serve import ServerProcess

    folder = dataclasses.replace(pipeline, int8_scheme="per-channel").save(tmp_path / "service")
    (folder / CARD_FILE).write_text("# the served model's card\n")
    with ServerProcess(folder, int8=True, depth=5, threads=1) as server:
        payloads = [{"query": q, "k": 3} for q in ["red sofa", "oak table", "rug"] * 4]
        out = run_load(f"{server.url}/search", payloads, concurrency=3)
        assert out["failures"] == [] and len(out["latencies_ms"]) == 12
        rows = check_bad_requests(server.url)
        assert all(r["status"] == 422 and r["names_field"] for r in rows), rows
        import httpx

        health = httpx.get(f"{server.url}/health").json()
        assert health["int8"] is True and health["int8_scheme"] == "per-channel"
        assert health["model_card"] == str(folder / CARD_FILE)
    assert server.process.poll() is not None  # stopped


def test_course_serve_command(tmp_path, capsys):
    from course.cli import COMMANDS, main

    assert "serve" in COMMANDS
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0 and "--int8" in capsys.readouterr().out
    assert main(["serve", str(tmp_path)]) == 1  # no saved pipeline there
    assert "manifest.json" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--depth", "500"]) == 1
    assert "--depth" in capsys.readouterr().err
