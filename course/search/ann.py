"""Approximate nearest-neighbour (ANN) search with faiss (lesson 09).

Exact top-k over a catalogue costs one inner product per product and query: fine for a
thousand products, hundreds of milliseconds per query batch at a million. An ANN index
answers from a small part of the catalogue, and pays for it in recall:

* :func:`build_index`: ``"flat"`` (``IndexFlatIP``: exact, the reference), ``"hnsw"``
  (a navigable small-world graph; ``efSearch`` sets how much of it a query walks) and
  ``"ivfpq"`` (an inverted file of ``nlist`` k-means cells whose vectors are stored as
  product-quantized codes; ``nprobe`` cells are scanned per query, and the best
  ``k_factor * k`` are re-scored from 8-bit scalar-quantized copies of the vectors);
* :func:`recall_at_k`: the share of the exact top-k that an index returns;
* :func:`sweep`: recall@k, queries per second (batched) and single-query latency for each
  value of the search parameter, the recall-throughput curve;
* :func:`choose_operating_point`: the fastest setting that meets a recall target;
* :func:`fit_mixture` and :func:`sample_vectors`: a synthetic catalogue of any size drawn
  from the encoder's own output distribution (a Gaussian mixture fitted to real vectors).

Vectors are float32 and L2-normalised, so the inner product is the cosine. faiss is
imported only when a function needs it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "KINDS",
    "SEARCH_PARAMETER",
    "VectorMixture",
    "build_index",
    "choose_operating_point",
    "exact_top_k",
    "factory_string",
    "fit_mixture",
    "index_bytes",
    "recall_at_k",
    "sample_vectors",
    "search",
    "set_search_parameter",
    "sweep",
]

KINDS = ("flat", "hnsw", "ivfpq")
SEARCH_PARAMETER = {"flat": None, "hnsw": "efSearch", "ivfpq": "nprobe"}


def _faiss():
    import faiss

    return faiss


def _as_vectors(vectors: Any, name: str = "vectors") -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or len(array) == 0:
        raise CourseDataError(f"{name} must be a non-empty [n, d] array; got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise CourseDataError(f"{name} has NaN or infinite values.")
    return array


def factory_string(kind: str, n: int, *, m: int = 32, nlist: int | None = None,
                   pq_m: int = 48, nbits: int | None = None, refine: bool = True,
                   fast_scan: bool = False) -> str:
    """The ``faiss.index_factory`` description of an index of ``kind`` over ``n`` vectors.

    ``nlist`` defaults to about ``4 * sqrt(n)`` cells; ``nbits`` (bits per PQ code) to 8, or
    fewer when ``n`` is too small to train 256 centroids per sub-quantizer (faiss wants
    about 39 training points per centroid). ``fast_scan`` stores 4-bit codes in faiss's
    SIMD-friendly layout, which scans several times faster (``nbits`` must be 4).
    """
    if kind not in KINDS:
        raise CourseArgumentError(f"kind must be one of {KINDS}, got {kind!r}.")
    if fast_scan and kind == "ivfpq" and nbits != 4:
        raise CourseArgumentError(f"fast_scan needs nbits=4, got {nbits}.")
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        return f"HNSW{m},Flat"
    nlist = nlist or max(1, min(n // 39, int(4 * np.sqrt(n))))
    nbits = nbits or int(np.clip(np.floor(np.log2(max(n, 2) / 39)), 4, 8))
    codes = f"PQ{pq_m}x{nbits}" + ("fs" if fast_scan else "")
    return f"IVF{nlist},{codes}" + (",Refine(SQ8)" if refine else "")


def build_index(vectors: Any, kind: str = "hnsw", *, m: int = 32, ef_construction: int = 40,
                nlist: int | None = None, pq_m: int = 48, nbits: int | None = None,
                refine: bool = True, k_factor: int = 8, train_size: int | None = 100_000,
                fast_scan: bool = False, seed: int = 0):
    """Build and fill a faiss index of ``kind`` over ``vectors`` (inner-product metric).

    Args:
        vectors: ``[n, d]`` L2-normalised vectors.
        kind: ``"flat"``, ``"hnsw"`` or ``"ivfpq"``.
        m: HNSW links per node.
        ef_construction: HNSW candidate list while building.
        nlist, pq_m, nbits, refine, fast_scan: IVF-PQ layout (:func:`factory_string`).
        k_factor: with ``refine``, the best ``k_factor * k`` PQ candidates are re-scored.
        train_size: IVF-PQ trains its k-means on at most this many vectors (a seeded sample);
            each PQ sub-quantizer then runs 10 k-means iterations on at most 64 points per
            centroid (faiss's defaults, 25 and 256, cost minutes on two cores at 8 bits).
        seed: seeds the training sample and faiss's k-means.
    """
    faiss = _faiss()
    vectors = _as_vectors(vectors)
    n, dim = vectors.shape
    if kind == "ivfpq" and dim % pq_m:
        raise CourseArgumentError(f"pq_m must divide the dimension {dim}; got {pq_m}.")
    description = factory_string(kind, n, m=m, nlist=nlist, pq_m=pq_m, nbits=nbits,
                                 refine=refine, fast_scan=fast_scan)
    index = faiss.index_factory(dim, description, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        faiss.downcast_index(index).hnsw.efConstruction = ef_construction
    if not index.is_trained:
        sample = vectors
        if train_size is not None and n > train_size:
            rows = np.sort(np.random.default_rng(seed).choice(n, train_size, replace=False))
            sample = vectors[rows]
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed, ivf.cp.min_points_per_centroid = seed, 1  # small catalogues: no warning
        pq = faiss.downcast_index(ivf).pq  # its k-means is the slow part of training
        pq.cp.seed, pq.cp.niter, pq.cp.max_points_per_centroid = seed, 10, 64
        pq.cp.min_points_per_centroid = 1
        index.train(sample)
    if kind == "ivfpq" and refine:
        faiss.downcast_index(index).k_factor = k_factor
    index.add(vectors)
    return index


def set_search_parameter(index, kind: str, value: float | None) -> None:
    """Set ``efSearch`` (HNSW) or ``nprobe`` (IVF-PQ); the flat index has none."""
    name = SEARCH_PARAMETER.get(kind, "?")
    if name == "?":
        raise CourseArgumentError(f"kind must be one of {KINDS}, got {kind!r}.")
    if name is None or value is None:
        return
    if value < 1:
        raise CourseArgumentError(f"{name} must be >= 1, got {value}.")
    _faiss().ParameterSpace().set_index_parameter(index, name, int(value))


def search(index, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, ids)``, each ``[n_queries, k]``, best first (ids are catalogue rows)."""
    queries = _as_vectors(queries, "queries")
    if queries.shape[1] != index.d:
        raise CourseDataError(
            f"queries have dimension {queries.shape[1]}; the index has {index.d}."
        )
    if not 1 <= k <= index.ntotal:
        raise CourseArgumentError(f"k must be between 1 and {index.ntotal}, got {k}.")
    return index.search(queries, k)


def exact_top_k(queries: Any, items: Any, k: int = 10, chunk: int = 65_536) -> np.ndarray:
    """Row ids ``[n_queries, k]`` of the ``k`` largest inner products, best first (NumPy)."""
    queries, items = _as_vectors(queries, "queries"), _as_vectors(items, "items")
    k = min(k, len(items))
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(items), chunk):
        scores = queries @ items[start:start + chunk].T
        top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], axis=1)
        best_i = np.concatenate([best_i, top + start], axis=1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


def recall_at_k(approx_ids: Any, exact_ids: Any, k: int = 10) -> float:
    """Mean over queries of ``|approx top-k ∩ exact top-k| / k`` (``-1`` ids never count)."""
    approx, exact = np.asarray(approx_ids), np.asarray(exact_ids)
    if approx.ndim != 2 or exact.ndim != 2 or len(approx) != len(exact):
        raise CourseDataError(
            f"approx_ids and exact_ids must be [n_queries, k] with the same n; got "
            f"{approx.shape} and {exact.shape}."
        )
    if exact.shape[1] < k or approx.shape[1] < k:
        raise CourseArgumentError(f"need at least k={k} ids per query in both arrays.")
    hits = [len(set(a[:k][a[:k] >= 0]) & set(e[:k])) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits) / k)


def index_bytes(index) -> int:
    """The size of the index when serialised: vectors, codes, graph and centroids."""
    return int(_faiss().serialize_index(index).nbytes)


def _time_batch(index, queries: np.ndarray, k: int, repeats: int) -> tuple[np.ndarray, float]:
    ids, best = np.zeros((len(queries), k), dtype=np.int64), np.inf
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        _, ids = index.search(queries, k)
        best = min(best, time.perf_counter() - start)
    return ids, best


def sweep(index, kind: str, queries: Any, exact_ids: Any, values: Sequence[float | None],
          k: int = 10, repeats: int = 3, latency_queries: int = 100) -> pd.DataFrame:
    """The recall-throughput curve of one index: one row per search-parameter value.

    Columns: ``recall`` (recall@k against ``exact_ids``), ``qps`` (queries per second, all
    ``queries`` in one batch, best of ``repeats``), ``p95_ms`` (95th percentile of
    one-query-at-a-time latency over the first ``latency_queries`` queries).
    """
    queries = _as_vectors(queries, "queries")
    rows = {}
    for value in values:
        set_search_parameter(index, kind, value)
        ids, seconds = _time_batch(index, queries, k, repeats)
        single = []
        for row in queries[:latency_queries]:
            start = time.perf_counter()
            index.search(row[None], k)
            single.append((time.perf_counter() - start) * 1000)
        rows[value if value is not None else 0] = {
            "recall": recall_at_k(ids, exact_ids, k),
            "qps": len(queries) / seconds,
            "p95_ms": float(np.percentile(single, 95, method="inverted_cdf")),
        }
    name = SEARCH_PARAMETER.get(kind) or "setting"
    return pd.DataFrame(rows).T.rename_axis(name)


def choose_operating_point(curve: pd.DataFrame, recall_target: float,
                           latency: str = "p95_ms", budget_ms: float | None = None) -> float:
    """The setting with the lowest ``latency`` among those with ``recall >= recall_target``.

    With ``budget_ms``, the chosen setting must also fit it. Ties go to the smaller setting.

    Raises:
        CourseArgumentError: no setting meets the target (within the budget).
    """
    missing = [c for c in ("recall", latency) if c not in curve.columns]
    if missing:
        raise CourseDataError(f"curve lacks columns {missing}; it has {list(curve.columns)}.")
    fits = curve[curve["recall"] >= recall_target]
    if budget_ms is not None:
        fits = fits[fits[latency] <= budget_ms]
    if fits.empty:
        raise CourseArgumentError(
            f"No setting reaches recall {recall_target}"
            + (f" within {budget_ms} ms" if budget_ms is not None else "")
            + f" (best recall {curve['recall'].max():.3f}); try larger settings or another index."
        )
    fastest = fits[latency].min()
    return min(v for v in fits.index if fits.loc[v, latency] == fastest)


# ----------------------------------------------------------------- synthetic catalogue


@dataclass
class VectorMixture:
    """A Gaussian mixture in the encoder's space: cluster means, shares, shared covariance.

    Attributes:
        means: ``[components, d]`` cluster centres (k-means of the real vectors).
        weights: ``[components]`` share of the real vectors in each cluster.
        scale: ``[d, d]`` Cholesky factor of the pooled within-cluster covariance.
    """

    means: np.ndarray
    weights: np.ndarray
    scale: np.ndarray

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return int(self.means.shape[1])


def fit_mixture(vectors: Any, components: int = 16, seed: int = 0) -> VectorMixture:
    """Fit a :class:`VectorMixture` to real (L2-normalised) encoder vectors.

    k-means (faiss) finds ``components`` clusters; each keeps its mean and its share, and
    the residuals around the means give one pooled full covariance (so the correlations
    between dimensions that an encoder has are kept). Sampling from it and normalising
    gives vectors with the real catalogue's clusters and spread.
    """
    faiss = _faiss()
    vectors = _as_vectors(vectors)
    n, dim = vectors.shape
    if not 1 <= components <= n // 2:
        raise CourseArgumentError(f"components must be between 1 and {n // 2}, got {components}.")
    kmeans = faiss.Kmeans(dim, components, niter=20, seed=seed, verbose=False,
                          min_points_per_centroid=1)
    kmeans.train(vectors)
    _, assign = kmeans.index.search(vectors, 1)
    assign = assign[:, 0]
    means = np.stack([vectors[assign == c].mean(axis=0) if (assign == c).any()
                      else kmeans.centroids[c] for c in range(components)])
    residual = vectors.astype(np.float64) - means[assign]
    covariance = residual.T @ residual / max(1, n - components)
    covariance += np.eye(dim) * 1e-6 * np.trace(covariance) / dim
    weights = np.bincount(assign, minlength=components) / n
    return VectorMixture(means.astype(np.float64), weights, np.linalg.cholesky(covariance))


def sample_vectors(mixture: VectorMixture, n: int, seed: int = 0,
                   chunk: int = 65_536) -> np.ndarray:
    """``[n, d]`` float32 unit vectors drawn from ``mixture`` (in chunks: no big temporaries)."""
    if n < 1:
        raise CourseArgumentError(f"n must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    out = np.empty((n, mixture.dim), dtype=np.float32)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        which = rng.choice(len(mixture.weights), size=size, p=mixture.weights)
        block = mixture.means[which] + rng.standard_normal((size, mixture.dim)) @ mixture.scale.T
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + size] = block
    return out
