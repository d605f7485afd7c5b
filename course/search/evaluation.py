"""Evaluation of two-stage search over the whole catalogue (lesson 05).

* :func:`catalog_gains`: every product graded for every query by mini-shop's own rule;
* :func:`recall_table` and :func:`ndcg_table`: per-family tables of the metrics in
  :mod:`course.metrics` (``recall_per_query_of_lists``, ``ndcg_per_query_of_lists``);
* :func:`fusion_curve`: the hybrid's lexical weight, measured on validation queries;
* :func:`choose_depth`: the re-ranking depth under a latency budget.

``course.search`` hands all of them on, so lessons write ``search.recall_table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from course.data.common import GAINS
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import ndcg_per_query_of_lists, recall_per_query_of_lists
from course.search.fusion import convex_fusion, top_k_rows

__all__ = [
    "by_family",
    "catalog_gains",
    "choose_depth",
    "choose_weight",
    "fusion_curve",
    "ndcg_table",
    "recall_table",
]

if TYPE_CHECKING:
    from course.search.pipeline import TwoStageSearch


def choose_depth(curve: pd.DataFrame, budget_ms: float) -> int:
    """The re-ranking depth with the best ``ndcg10`` among those whose ``p95_ms`` fits the budget.

    ``curve`` is indexed by depth (measured on validation queries); ties go to the smaller
    depth (cheaper for the same quality).

    Raises:
        CourseArgumentError: no depth fits the budget (it is also a ``ValueError``).
    """
    missing = [c for c in ("ndcg10", "p95_ms") if c not in curve.columns]
    if missing:
        raise CourseDataError(f"curve lacks columns {missing}; it has {list(curve.columns)}.")
    fits = curve[curve["p95_ms"] <= budget_ms]
    if fits.empty:
        raise CourseArgumentError(
            f"No depth has p95 <= {budget_ms} ms (fastest: {curve['p95_ms'].min():.0f} ms); "
            "raise the budget or make the re-ranker faster (int8, fewer tokens)."
        )
    best = fits["ndcg10"].max()
    return int(min(depth for depth in fits.index if fits.loc[depth, "ndcg10"] == best))


def catalog_gains(products: pd.DataFrame, queries: pd.DataFrame) -> np.ndarray:
    """``[n_queries, n_products]`` gains (Exact 1, Partial 0.5, Irrelevant 0) over the catalog.

    mini-shop queries keep their attributes (``q_type``, ``q_colour``, ...), so every
    product can be graded with the generator's own rule (``course.data.minishop.grade``),
    not only the 20-50 labelled candidates of each query. These labels have no noise.
    """
    from course.data.minishop import ATTRIBUTES, grade

    needed = ["q_type", *(f"q_{a}" for a in ATTRIBUTES)]
    missing = [c for c in needed if c not in queries.columns]
    if missing:
        raise CourseDataError(
            f"queries lack {missing}: catalog-wide labels need mini-shop queries (shop.queries)."
        )
    gains = np.empty((len(queries), len(products)))
    for row, query in enumerate(queries[needed].to_dict("records")):
        attrs = {key[2:]: value for key, value in query.items() if isinstance(value, str)}
        gains[row] = pd.Series(grade(attrs, products)).map(GAINS).to_numpy()
    return gains


def by_family(per_query: dict[str, np.ndarray], families: Sequence[str]) -> pd.DataFrame:
    """Mean of each per-query metric per query family, plus ``all`` (NaN queries skipped)."""
    frame = pd.DataFrame(per_query).assign(family=list(families))
    table = frame.groupby("family").mean()
    table.loc["all"] = frame.drop(columns="family").mean()
    return table


def recall_table(
    rankings: dict[str, Sequence[Sequence[int]]],
    gains: np.ndarray,
    families: Sequence[str],
    k: int = 50,
) -> pd.DataFrame:
    """Recall@k per retriever (columns) and query family (rows)."""
    per_query = {name: recall_per_query_of_lists(r, gains, k) for name, r in rankings.items()}
    return by_family(per_query, families)


def ndcg_table(
    rankings: dict[str, Sequence[Sequence[int]]],
    gains: np.ndarray,
    families: Sequence[str],
    k: int = 10,
) -> pd.DataFrame:
    """NDCG@k per pipeline (columns) and query family (rows)."""
    per_query = {name: ndcg_per_query_of_lists(r, gains, k) for name, r in rankings.items()}
    return by_family(per_query, families)


def fusion_curve(
    pipeline: TwoStageSearch,
    queries: Sequence[str],
    gains: np.ndarray,
    weights: Sequence[float],
    k: int = 50,
) -> pd.DataFrame:
    """Recall@k and NDCG@10 of the score-fusion hybrid at each lexical weight, plus RRF.

    Measure it on validation queries and pick the weight from it (:func:`choose_weight`);
    the pipeline's own ``lexical_weight`` is left as it was.

    Returns:
        One row per weight (index ``"0.3"``, ..., and ``"rrf"``), columns ``recall`` and ``ndcg10``.
    """
    lexical, dense = pipeline.catalog_scores(queries)
    rows = {}
    for weight in weights:
        ranked = top_k_rows(convex_fusion(lexical, dense, weight), k)
        rows[f"{weight:g}"] = _quality(ranked, gains, k)
    rows["rrf"] = _quality(pipeline.retrieve_many(queries, "rrf", k=k), gains, k)
    return pd.DataFrame(rows).T.rename_axis("lexical weight")


def _quality(ranked, gains: np.ndarray, k: int) -> dict[str, float]:
    return {
        "recall": float(np.nanmean(recall_per_query_of_lists(ranked, gains, k))),
        "ndcg10": float(np.nanmean(ndcg_per_query_of_lists(ranked, gains, 10))),
    }


def choose_weight(curve: pd.DataFrame) -> float:
    """The lexical weight with the best ``recall`` in a :func:`fusion_curve` (ties: smaller weight).

    Raises:
        CourseDataError: the curve has no numeric weight.
    """
    numeric = curve.drop(index=[i for i in curve.index if i == "rrf"])
    if numeric.empty:
        raise CourseDataError("The fusion curve has no lexical weight to choose from.")
    best = numeric["recall"].max()
    return min(float(w) for w in numeric.index if numeric.loc[w, "recall"] == best)
