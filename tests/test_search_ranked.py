"""course.search.RankedSearch (lesson 09's service): ANN retrieval, LambdaMART order, save and
load, and ``course serve --ltr --ann`` in a child process."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from tinysearch import tiny_ranker, tiny_two_stage

from course.deploy.serve import ServerProcess, check_bad_requests, serve_main
from course.errors import CourseArgumentError, CourseDataError, CourseModelError
from course.search import (
    RankedSearch,
    TwoStageSearch,
    ann,
    ltr,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def parts():
    base, products = tiny_two_stage(seed=1, n_products=80)
    # the planted rule: margin wins
    booster = tiny_ranker(30, 20, lambda frame, rng: (frame["margin"] > 0.5).astype(int) * 2, 20)
    business = products[list(ltr.BUSINESS_FEATURES)].to_numpy()
    return base, booster, business, products


def test_ranked_search_orders_by_the_ranker(parts):
    base, booster, business, products = parts
    index = ann.build_index(base.item_vectors.numpy(), "hnsw", m=8)
    ranked = RankedSearch(base, booster, business, index, "hnsw", 64)
    result = ranked.search("grey sofa", k=5, depth=20)
    assert len(result.products) == 5 and result.products["rank"].tolist() == [1, 2, 3, 4, 5]
    assert result.products["score"].is_monotonic_decreasing
    assert set(result.timings_ms) >= {"encode_query", "ann", "bm25", "rerank", "rank", "total"}
    margins = products.set_index("product_id").loc[result.products["product_id"], "margin"]
    pool = ranked.search("grey sofa", k=20, depth=20).products["product_id"]
    pool_margins = products.set_index("product_id").loc[pool, "margin"]
    assert margins.mean() >= pool_margins.mean()  # the planted rule shows in the top 5
    exact = RankedSearch(base, booster, business)  # no index given: exact inner product
    assert exact.index_kind == "flat" and exact.index.ntotal == len(products)


def test_the_fused_feature_is_the_hybrids_score_over_the_whole_catalogue(parts):
    base, booster, business, _ = parts
    ranked = RankedSearch(base, booster, business)  # exact: the dense scores are the cosines
    for query in ("grey sofa", "oak dining table"):
        vector = base.query_vectors([query]).numpy()[0]
        every_dense = base.item_vectors.numpy() @ vector
        rows = np.argsort(-every_dense)[:12]
        features = ranked.features_of(query, rows, every_dense[rows], {})
        # the reference scores every product, as lesson 05's hybrid and the lesson's frames do
        lexical, dense = base.catalog_scores([query])
        reference = 0.3 * (lexical - lexical.mean()) / lexical.std() + 0.7 * (
            dense - dense.mean()) / dense.std()
        fused = features[:, ltr.FEATURES.index("fused")]
        assert np.allclose(fused, reference[0][rows], atol=1e-4)
        assert np.allclose(features[:, ltr.FEATURES.index("bm25")], lexical[0][rows])


def test_ranked_search_refuses_what_it_cannot_serve(parts):
    base, booster, business, _ = parts
    with pytest.raises(CourseDataError, match="business"):
        RankedSearch(base, booster, business[:, :2])
    no_reranker = TwoStageSearch(base.catalog, base.bi_encoder, base.tokenizer, base.item_vectors)
    with pytest.raises(CourseModelError, match="cross-encoder"):
        RankedSearch(no_reranker, booster, business)
    rrf = TwoStageSearch(base.catalog, base.bi_encoder, base.tokenizer, base.item_vectors,
                         base.reranker)
    with pytest.raises(CourseModelError, match="lexical_weight"):
        RankedSearch(rrf, booster, business)
    small = ann.build_index(base.item_vectors.numpy()[:10], "flat")
    with pytest.raises(CourseDataError, match="rebuild"):
        RankedSearch(base, booster, business, small)


def test_save_load_round_trip(parts, tmp_path):
    base, booster, business, _ = parts
    index = ann.build_index(base.item_vectors.numpy(), "hnsw", m=8)
    ranked = RankedSearch(base, booster, business, index, "hnsw", 64)
    folder = ranked.save(tmp_path / "ranked")
    loaded = RankedSearch.load(folder)
    assert loaded.index_kind == "hnsw" and loaded.search_value == 64
    for query in ("grey sofa", "oak table"):
        a = ranked.search(query, k=8, depth=16).products
        b = loaded.search(query, k=8, depth=16).products
        assert a["product_id"].tolist() == b["product_id"].tolist()
        assert np.allclose(a["score"], b["score"], atol=1e-6)
    assert RankedSearch.load(folder, use_index=False).index_kind == "flat"
    with pytest.raises(CourseModelError, match="ranking.json"):
        RankedSearch.load(base.save(tmp_path / "plain"))


def test_serve_flags_are_checked():
    with pytest.raises(CourseArgumentError, match="--ltr"):
        serve_main(["some-folder", "--ann"])


@pytest.mark.slow
def test_course_serve_ltr_ann_in_a_child_process(parts, tmp_path):
    base, booster, business, _ = parts
    index = ann.build_index(base.item_vectors.numpy(), "hnsw", m=8)
    folder = RankedSearch(base, booster, business, index, "hnsw", 64).save(tmp_path / "svc")
    with ServerProcess(folder, depth=10, threads=1, ltr=True, ann=True) as server:
        answer = httpx.post(f"{server.url}/search", json={"query": "red lamp", "k": 4}).json()
        bad = check_bad_requests(server.url)
        too_big = httpx.post(f"{server.url}/search", content=b"x" * (5 * 2**20))
    assert [r["rank"] for r in answer["results"]] == [1, 2, 3, 4]
    assert "ann" in answer["timings_ms"]
    assert all(r["status"] == 422 and r["names_field"] for r in bad)
    assert too_big.status_code == 413
