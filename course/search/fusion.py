"""Fusing retrievers and re-ranking candidates: the small pieces of two-stage search.

* :func:`reciprocal_rank_fusion`: a hybrid from ranks alone (no tuning);
* :func:`convex_fusion`: a hybrid from standardised scores (:func:`zscore_rows`), with a
  lexical weight chosen on validation;
* :func:`blend_scores`, :func:`rerank_head`, :func:`rerank_many`: the re-ranked order of the
  top candidates, from the cross-encoder's scores and, optionally, the first stage's.

``course.search`` re-exports all of them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from course.errors import CourseArgumentError

__all__ = [
    "blend_scores",
    "convex_fusion",
    "reciprocal_rank_fusion",
    "rerank_head",
    "rerank_many",
    "top_k_rows",
    "zscore_rows",
]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = 60, limit: int | None = None
) -> tuple[list, list[float]]:
    """Fuse ranked lists by ``score(d) = sum over lists of 1 / (k + rank(d))`` (rank 1 is the top).

    Only ranks are used, so the retrievers' scores need not be comparable (Cormack et al.,
    2009). A document missing from a list gets nothing from it. Ties keep the order in
    which documents first appear, reading the lists in turn.

    Returns:
        ``(ids, scores)``, best first, at most ``limit`` of them.
    """
    if k < 0:
        raise CourseArgumentError(f"k must be >= 0, got {k}.")
    fused: dict = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    order = sorted(fused, key=lambda doc: -fused[doc])  # sorted() is stable
    order = order[:limit] if limit is not None else order
    return order, [fused[doc] for doc in order]


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """Standardise each row (one query's scores over the catalog) to mean 0 and SD 1.

    A row with one value everywhere (BM25 when no query word is known) becomes zeros.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    spread = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)


def convex_fusion(lexical: np.ndarray, dense: np.ndarray, lexical_weight: float) -> np.ndarray:
    """``w * z(lexical) + (1 - w) * z(dense)`` per query row, ``z`` from :func:`zscore_rows`.

    The tuned alternative to RRF: it keeps how far apart the scores are, not only their
    order, and its one weight is chosen on validation queries (Bruch et al., 2023).
    """
    if not 0.0 <= lexical_weight <= 1.0:
        raise CourseArgumentError(f"lexical_weight must be in [0, 1], got {lexical_weight}.")
    if np.shape(lexical) != np.shape(dense):
        raise CourseArgumentError(
            f"lexical scores {np.shape(lexical)} and dense scores {np.shape(dense)} differ."
        )
    return lexical_weight * zscore_rows(lexical) + (1 - lexical_weight) * zscore_rows(dense)


def top_k_rows(scores: np.ndarray, k: int) -> list[np.ndarray]:
    """Per row, the column indices of the ``k`` highest scores, best first (stable on ties)."""
    return [np.argsort(-row, kind="stable")[:k] for row in np.atleast_2d(scores)]


def blend_scores(
    reranker_scores: np.ndarray, first_stage_scores: np.ndarray, weight: float
) -> np.ndarray:
    """``reranker + weight * first_stage``: the final score of each re-ranked candidate.

    The cross-encoder's expected gain decides most of the order; the first stage's fused
    score (a z-score, :func:`convex_fusion`) breaks its near-ties and overrules it when it is
    unsure. ``weight`` 0 is the cross-encoder alone; choose it on validation queries.
    """
    if weight < 0:
        raise CourseArgumentError(f"The blend weight must be >= 0, got {weight}.")
    return np.asarray(reranker_scores, dtype=float) + weight * np.asarray(first_stage_scores)


def rerank_many(
    candidates: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    first_stage: np.ndarray,
    depth: int,
    blend: float = 0.0,
) -> list[np.ndarray]:
    """:func:`rerank_head` for many queries, by :func:`blend_scores` of the top ``depth``.

    Args:
        candidates: each query's first-stage catalog rows, best first.
        scores: each query's cross-encoder scores of at least its first ``depth`` candidates.
        first_stage: ``[n_queries, n_products]`` first-stage scores over the whole catalog.
        depth: how many candidates are re-ranked.
        blend: the weight of the first-stage score.
    """
    out = []
    for row, (items, head) in enumerate(zip(candidates, scores, strict=True)):
        top = np.asarray(items[:depth], dtype=int)
        combined = blend_scores(head[: len(top)], first_stage[row, top], blend)
        out.append(rerank_head(items, combined)[0])
    return out


def rerank_head(candidates: np.ndarray, head_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-order the first ``len(head_scores)`` candidates by score (best first, stable).

    Returns:
        ``(candidates, scores)``: the tail keeps its first-stage order and a NaN score.
    """
    candidates = np.asarray(candidates)
    depth = len(head_scores)
    if depth > len(candidates):
        raise CourseArgumentError(f"{depth} scores for {len(candidates)} candidates.")
    order = np.argsort(-np.asarray(head_scores), kind="stable")
    ranked = np.concatenate([candidates[:depth][order], candidates[depth:]])
    scores = np.concatenate(
        [np.asarray(head_scores)[order], np.full(len(candidates) - depth, np.nan)]
    )
    return ranked, scores
