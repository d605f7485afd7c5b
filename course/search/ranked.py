"""Search at catalogue scale, ranked for the business: what ``course serve --ltr`` serves.

:class:`RankedSearch` keeps lesson 05's :class:`~course.search.TwoStageSearch` (catalogue,
bi-encoder, BM25 index, cross-encoder) and adds three things from lesson 09:

* a faiss index over the catalogue's vectors (:mod:`course.search.ann`): the query's
  ``depth`` nearest products are found without scoring the whole catalogue;
* the shop's facts per product (price, popularity, stock, margin);
* a LambdaMART ranker (:mod:`course.search.ltr`) over the cross-encoder's score, the dense
  score, BM25, the hybrid's fused score and those facts.

A search encodes the query, asks the index for ``depth`` candidates, scores them with
BM25 and the cross-encoder, and orders them by the ranker. Each stage is timed.

The fused score standardises BM25 and the dense score over the whole catalogue, as lesson
05's hybrid does, without scoring every product densely: over the catalogue, the mean of
``q . v`` is ``q . mean(v)`` and its variance ``q' Cov(v) q``, both kept from the vectors.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course.errors import CourseDataError, CourseModelError
from course.search.ann import build_index, set_search_parameter
from course.search.ann import search as ann_search
from course.search.fusion import zscore_rows
from course.search.ltr import BUSINESS_FEATURES, FEATURES
from course.search.pipeline import CrossEncoderScorer, SearchResult, TwoStageSearch

__all__ = ["RankedSearch"]

MANIFEST = "ranking.json"


@dataclass
class RankedSearch:
    """ANN retrieval, cross-encoder and business features, LambdaMART order.

    Args:
        base: the two-stage pipeline (its ``reranker`` scores the candidates; its
            ``lexical_weight`` mixes the fused score).
        ranker: a ``lightgbm.Booster`` trained on :data:`course.search.ltr.FEATURES`.
        business: ``[n_products, 4]`` price, popularity, stock and margin, in catalogue order.
        index: a faiss index over ``base.item_vectors`` (None: an exact ``IndexFlatIP``).
        index_kind: ``"flat"``, ``"hnsw"`` or ``"ivfpq"``.
        search_value: the index's ``efSearch`` or ``nprobe`` (None: faiss's default).
    """

    base: TwoStageSearch
    ranker: Any
    business: np.ndarray
    index: Any = None
    index_kind: str = "flat"
    search_value: float | None = None
    features: tuple[str, ...] = field(default=FEATURES)

    def __post_init__(self):
        if self.base.reranker is None:
            raise CourseModelError("RankedSearch needs the cross-encoder: its score is a feature.")
        self.business = np.asarray(self.business, dtype=float)
        if self.business.shape != (len(self.base.catalog), len(BUSINESS_FEATURES)):
            raise CourseDataError(
                f"business must be [{len(self.base.catalog)}, {len(BUSINESS_FEATURES)}] "
                f"({', '.join(BUSINESS_FEATURES)}); got {self.business.shape}."
            )
        if tuple(self.features) != FEATURES:
            raise CourseModelError(f"The ranker must use the features {FEATURES}.")
        if self.base.lexical_weight is None:
            raise CourseModelError("RankedSearch needs the hybrid's lexical_weight: the fused "
                                   "score is a feature.")
        self._dense_mean, self._dense_cov = _moments(self.base.item_vectors.numpy())
        if self.index is None:
            self.index = build_index(self.base.item_vectors.numpy(), "flat")
            self.index_kind = "flat"
        if self.index.ntotal != len(self.base.catalog):
            raise CourseDataError(f"The index holds {self.index.ntotal} vectors for "
                                  f"{len(self.base.catalog)} products; rebuild it.")
        set_search_parameter(self.index, self.index_kind, self.search_value)

    @property
    def catalog(self) -> pd.DataFrame:
        """The catalogue (``product_id``, ``title``, ``text``)."""
        return self.base.catalog

    @property
    def reranker(self) -> CrossEncoderScorer:
        """The cross-encoder scorer."""
        if self.base.reranker is None:  # __post_init__ refuses a pipeline without one
            raise CourseModelError("RankedSearch needs the cross-encoder.")
        return self.base.reranker

    def fused_of(self, vector: np.ndarray, lexical: np.ndarray, rows: np.ndarray,
                 dense: np.ndarray) -> np.ndarray:
        """The hybrid's fused score of ``rows``: ``lexical`` is BM25 over the whole catalogue,
        ``dense`` the candidates' inner products with the query ``vector``."""
        vector = np.asarray(vector, dtype=float)
        spread = float(np.sqrt(max(vector @ self._dense_cov @ vector, 0.0)))
        dense_z = (np.asarray(dense, float) - vector @ self._dense_mean) / (spread or 1.0)
        weight = float(self.base.lexical_weight or 0.0)  # __post_init__ refused None
        return weight * zscore_rows(lexical)[0][rows] + (1 - weight) * dense_z

    def features_of(self, query: str, rows: np.ndarray, dense: np.ndarray,
                    timings: dict[str, float], vector: np.ndarray | None = None) -> np.ndarray:
        """The ranker's feature matrix of ``query``'s candidate ``rows`` (``vector``: the
        query's vector, encoded here if not given)."""
        if vector is None:
            vector = self.base.query_vectors([query]).numpy()[0]
        start = time.perf_counter()
        lexical = self.base._bm25().scores(query)
        fused = self.fused_of(vector, lexical, rows, dense)
        timings["bm25"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        cross = self.reranker.score(query, [self.base.texts[i] for i in rows])
        timings["rerank"] = (time.perf_counter() - start) * 1000
        return np.column_stack([cross, dense, lexical[rows], fused, self.business[rows]])

    def search(self, query: str, k: int = 10, depth: int = 30) -> SearchResult:
        """The top ``k`` products: ``max(k, depth)`` ANN candidates, ordered by the ranker."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        vector = self.base.query_vectors([query]).numpy()
        timings["encode_query"] = (time.perf_counter() - started) * 1000
        start = time.perf_counter()
        want = min(max(k, depth), len(self.base.catalog))
        scores, ids = ann_search(self.index, vector, want)
        keep = ids[0] >= 0
        rows, dense = ids[0][keep].astype(np.int64), scores[0][keep].astype(float)
        if len(rows) < want:  # a graph walk can reach fewer than k nodes: complete exactly
            rows, dense = self._complete(vector[0], rows, dense, want)
        timings["ann"] = (time.perf_counter() - start) * 1000
        features = self.features_of(query, rows, dense, timings, vector[0])
        start = time.perf_counter()
        ranked = self.ranker.predict(features, num_iteration=self.ranker.best_iteration or None)
        order = np.argsort(-ranked, kind="stable")[:k]
        timings["rank"] = (time.perf_counter() - start) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        table = self.base.catalog.iloc[rows[order]][["product_id", "title"]].reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, len(order) + 1))
        table["score"] = ranked[order].astype(float)
        return SearchResult(table, timings)

    def _complete(self, vector: np.ndarray, rows: np.ndarray, dense: np.ndarray,
                  want: int) -> tuple[np.ndarray, np.ndarray]:
        """Add the best products the index did not return, by exact inner product."""
        every = self.base.item_vectors.numpy() @ vector
        every[rows] = -np.inf
        extra = np.argsort(-every, kind="stable")[: want - len(rows)]
        return np.concatenate([rows, extra]), np.concatenate([dense, every[extra]])

    def save(self, folder: str | Path) -> Path:
        """Write the two-stage pipeline, the index, the ranker and the business table."""
        import faiss

        folder = self.base.save(folder)
        faiss.write_index(self.index, str(folder / "ann.faiss"))
        self.ranker.save_model(str(folder / "ranker.txt"),
                               num_iteration=self.ranker.best_iteration or None)
        np.save(folder / "business.npy", self.business)
        manifest = {"features": list(self.features), "index_kind": self.index_kind,
                    "search_value": self.search_value}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path, int8: bool = False, use_index: bool = True) -> RankedSearch:
        """Read a folder written by :meth:`save`; ``use_index=False`` searches exactly."""
        import faiss
        import lightgbm as lgb

        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise CourseModelError(f"{folder} has no {MANIFEST}: save a RankedSearch there "
                                   "(lesson 09) to serve it with --ltr.")
        manifest = json.loads((folder / MANIFEST).read_text())
        base = TwoStageSearch.load(folder, int8=int8)
        index, kind = None, "flat"
        if use_index:
            index, kind = faiss.read_index(str(folder / "ann.faiss")), manifest["index_kind"]
        return cls(base, lgb.Booster(model_file=str(folder / "ranker.txt")),
                   np.load(folder / "business.npy"), index, kind,
                   manifest["search_value"] if use_index else None,
                   tuple(manifest["features"]))


def _moments(vectors: np.ndarray, chunk: int = 16_384) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population covariance of the rows of ``vectors`` (float64, in chunks)."""
    total = np.zeros(vectors.shape[1])
    outer = np.zeros((vectors.shape[1], vectors.shape[1]))
    for start in range(0, len(vectors), chunk):
        block = vectors[start:start + chunk].astype(np.float64)
        total += block.sum(axis=0)
        outer += block.T @ block
    mean = total / len(vectors)
    return mean, outer / len(vectors) - np.outer(mean, mean)
