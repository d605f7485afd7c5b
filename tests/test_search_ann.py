"""course.search.ann: faiss indexes against exact search, the sweep, the operating point, and
the synthetic catalogue drawn from real vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course.errors import CourseArgumentError, CourseDataError
from course.search import ann

faiss = pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def clustered():
    """2,000 unit vectors in 32 clusters (dimension 48), and 60 queries near them."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((32, 48))
    items = centres[rng.integers(0, 32, 2000)] + 0.35 * rng.standard_normal((2000, 48))
    queries = centres[rng.integers(0, 32, 60)] + 0.35 * rng.standard_normal((60, 48))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return items.astype(np.float32), queries.astype(np.float32)


def test_exact_top_k_matches_faiss_flat(clustered):
    items, queries = clustered
    flat = faiss.IndexFlatIP(items.shape[1])
    flat.add(items)
    _, reference = flat.search(queries, 10)
    mine = ann.exact_top_k(queries, items, 10, chunk=300)  # several chunks
    assert (mine == reference).mean() > 0.99  # float ties aside, the same ids in the same order
    assert ann.recall_at_k(mine, reference, 10) == 1.0


def test_recall_at_k_by_hand():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    approx = np.array([[4, 3, 9, 9], [5, -1, -1, -1]])
    assert ann.recall_at_k(approx, exact, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert ann.recall_at_k(approx, exact, 2) == pytest.approx((0 + 1 / 2) / 2)
    with pytest.raises(CourseDataError):
        ann.recall_at_k(approx[:1], exact, 2)
    with pytest.raises(CourseArgumentError):
        ann.recall_at_k(approx, exact, 5)


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_indexes_reach_high_recall_with_a_generous_setting(clustered, kind):
    items, queries = clustered
    exact = ann.exact_top_k(queries, items, 10)
    index = ann.build_index(items, kind, pq_m=12, seed=0)
    assert index.ntotal == len(items)
    generous = {"hnsw": 256, "ivfpq": 64}[kind]
    ann.set_search_parameter(index, kind, generous)
    _, ids = ann.search(index, queries, 10)
    assert ann.recall_at_k(ids, exact, 10) >= 0.95
    ann.set_search_parameter(index, kind, 1)
    _, few = ann.search(index, queries, 10)
    assert ann.recall_at_k(few, exact, 10) < ann.recall_at_k(ids, exact, 10) + 1e-9


def test_memory_per_vector_orders_the_indexes(clustered):
    items, _ = clustered
    sizes = {kind: ann.index_bytes(ann.build_index(items, kind, pq_m=12, refine=False)) / len(items)
             for kind in ann.KINDS}
    assert sizes["flat"] == pytest.approx(4 * items.shape[1], rel=0.05)
    assert sizes["hnsw"] > sizes["flat"]  # the vectors plus the graph's links
    assert sizes["ivfpq"] < sizes["flat"] / 2  # codes, not vectors


def test_factory_strings():
    assert ann.factory_string("flat", 10) == "Flat"
    assert ann.factory_string("hnsw", 10, m=16) == "HNSW16,Flat"
    assert ann.factory_string("ivfpq", 1_000_000) == "IVF4000,PQ48x8,Refine(SQ8)"
    assert ann.factory_string("ivfpq", 1200, refine=False) == "IVF30,PQ48x4"  # small: 4 bits
    assert (ann.factory_string("ivfpq", 1_000_000, pq_m=192, nbits=4, fast_scan=True)
            == "IVF4000,PQ192x4fs,Refine(SQ8)")
    with pytest.raises(CourseArgumentError, match="kind"):
        ann.factory_string("lsh", 10)
    with pytest.raises(CourseArgumentError, match="nbits=4"):
        ann.factory_string("ivfpq", 1_000_000, nbits=8, fast_scan=True)


def test_fast_scan_codes_find_what_the_plain_ones_find(clustered):
    items, queries = clustered
    exact = ann.exact_top_k(queries, items, 10)
    recall = {}
    for fast in (False, True):
        index = ann.build_index(items, "ivfpq", pq_m=24, nbits=4, fast_scan=fast, k_factor=16)
        ann.set_search_parameter(index, "ivfpq", 64)
        recall[fast] = ann.recall_at_k(ann.search(index, queries, 10)[1], exact, 10)
        assert index.ntotal == len(items)
    assert recall[True] >= 0.95 and abs(recall[True] - recall[False]) <= 0.05


def test_sweep_and_operating_point(clustered):
    items, queries = clustered
    exact = ann.exact_top_k(queries, items, 10)
    index = ann.build_index(items, "hnsw", m=8)
    curve = ann.sweep(index, "hnsw", queries, exact, [1, 16, 128], k=10, repeats=1,
                      latency_queries=10)
    assert list(curve.index) == [1, 16, 128] and curve.index.name == "efSearch"
    assert set(curve.columns) == {"recall", "qps", "p95_ms"}
    assert curve["recall"].is_monotonic_increasing or curve["recall"].iloc[-1] >= 0.95
    assert (curve["qps"] > 0).all()


def test_choose_operating_point_by_hand():
    curve = pd.DataFrame({"recall": [0.80, 0.93, 0.96, 0.99], "p95_ms": [0.2, 0.4, 0.9, 2.0]},
                         index=[16, 32, 64, 128])
    assert ann.choose_operating_point(curve, 0.95) == 64
    assert ann.choose_operating_point(curve, 0.90) == 32
    assert ann.choose_operating_point(curve, 0.95, budget_ms=5) == 64
    with pytest.raises(CourseArgumentError, match="0.999"):
        ann.choose_operating_point(curve, 0.999)
    with pytest.raises(CourseArgumentError, match="within"):
        ann.choose_operating_point(curve, 0.99, budget_ms=1.0)
    tie = pd.DataFrame({"recall": [0.97, 0.98], "p95_ms": [0.5, 0.5]}, index=[40, 20])
    assert ann.choose_operating_point(tie, 0.95) == 20


def test_bad_input_is_named(clustered):
    items, queries = clustered
    with pytest.raises(CourseDataError, match="NaN"):
        ann.build_index(np.full((3, 4), np.nan), "flat")
    index = ann.build_index(items, "flat")
    with pytest.raises(CourseDataError, match="dimension"):
        ann.search(index, queries[:, :10], 5)
    with pytest.raises(CourseArgumentError, match="k must"):
        ann.search(index, queries, 0)
    with pytest.raises(CourseArgumentError, match="pq_m"):
        ann.build_index(items, "ivfpq", pq_m=5)
    with pytest.raises(CourseArgumentError, match="efSearch"):
        ann.set_search_parameter(ann.build_index(items, "hnsw"), "hnsw", 0)


def test_synthetic_catalogue_keeps_the_real_vectors_shape(clustered):
    items, _ = clustered
    mixture = ann.fit_mixture(items, components=32, seed=0)
    fake = ann.sample_vectors(mixture, 5000, seed=1, chunk=1000)
    assert fake.shape == (5000, items.shape[1]) and fake.dtype == np.float32
    assert np.allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    # the same clusters: the mean vector and the typical similarity are those of the real ones
    assert np.linalg.norm(fake.mean(0) - items.mean(0)) < 0.05
    real_sim = (items[:500] @ items[500:1000].T).mean()
    fake_sim = (fake[:500] @ fake[500:1000].T).mean()
    assert abs(real_sim - fake_sim) < 0.03
    # a real vector's nearest fake neighbour is about as close as its nearest real one
    near_fake = (items[:200] @ fake.T).max(1).mean()
    near_real = (items[:200] @ items[200:].T).max(1).mean()
    assert abs(near_fake - near_real) < 0.1
    assert np.array_equal(ann.sample_vectors(mixture, 5000, seed=1, chunk=1000), fake)
    with pytest.raises(CourseArgumentError):
        ann.fit_mixture(items[:10], components=8)
