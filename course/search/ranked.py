"""Search at catalogue scale, ranked for the business: what ``course serve --ltr`` serves.

:class:`RankedSearch` keeps lesson 05's :class:`~course.search.TwoStageSearch` (catalogue,
bi-encoder, BM25 index, cross-encoder) and adds three things from lesson 09:

* a faiss index over the catalogue's vectors (:mod:`course.search.ann`): the query's
  ``depth`` nearest products are found without scoring the whole catalogue;
* the shop's facts per product (price, popularity, stock, margin);
* a LambdaMART ranker (:mod:`course.search.ltr`) over the cross-encoder's score, the dense
  score, BM25 and those facts.

A search encodes the query, asks the index for ``depth`` candidates, scores them with
BM25 and the cross-encoder, and orders them by the ranker. Each stage is timed.
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
from course.search.ltr import BUSINESS_FEATURES, FEATURES
from course.search.pipeline import CrossEncoderScorer, SearchResult, TwoStageSearch

__all__ = ["RankedSearch"]

MANIFEST = "ranking.json"


@dataclass
class RankedSearch:
    """ANN retrieval, cross-encoder and business features, LambdaMART order.

    Args:
        base: the two-stage pipeline (its ``reranker`` scores the candidates).
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

    def features_of(self, query: str, rows: np.ndarray, dense: np.ndarray,
                    timings: dict[str, float]) -> np.ndarray:
        """The ranker's feature matrix of ``query``'s candidate ``rows``."""
        start = time.perf_counter()
        bm25 = self.base._bm25().scores(query)[rows]
        timings["bm25"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        cross = self.reranker.score(query, [self.base.texts[i] for i in rows])
        timings["rerank"] = (time.perf_counter() - start) * 1000
        return np.column_stack([cross, dense, bm25, self.business[rows]])

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
        features = self.features_of(query, rows, dense, timings)
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
