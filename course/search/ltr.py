"""Learning to rank for the business: LambdaMART over model scores and shop facts (lesson 09).

Lesson 05 ranks by the cross-encoder's score blended with the first stage's by one weight.
A shop's ranking also weighs price, popularity, stock and margin. **LambdaMART** (gradient
boosted trees with the LambdaRank gradient, Burges 2010; LightGBM's ``lambdarank``
objective) learns how to combine them from graded labels, query by query:

* :func:`candidate_frame`: one row per (query, candidate) with the features of
  :data:`FEATURES`;
* :func:`grouped_arrays`: features, labels and the **group sizes** LightGBM needs: the
  rows of one query must be contiguous, and a query must sit in one split only;
* :func:`business_labels` and :func:`label_gain`: integer labels that carry relevance and
  a value tier; the gain of each label adds ``weight`` times the tier to the relevance
  gain, so one weight moves the ranker from relevance alone towards margin;
* :func:`fit_lambdamart`, :func:`predict` and :func:`ranked_lists`: train with early
  stopping on validation NDCG@10, score, and turn scores into ranked catalogue rows;
* :func:`choose_tradeoff`: the weight that earns the most under a relevance constraint.

LightGBM is imported only when a function needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "BUSINESS_FEATURES",
    "FEATURES",
    "RELEVANCE_GAIN",
    "business_labels",
    "business_value",
    "candidate_frame",
    "choose_tradeoff",
    "fit_lambdamart",
    "grouped_arrays",
    "label_gain",
    "predict",
    "ranked_lists",
    "value_edges",
]

BUSINESS_FEATURES = ("price", "popularity", "stock", "margin")
# ``fused``: the first stage's score (BM25 and dense, each standardised over the catalogue for
# the query, then mixed by the hybrid's weight), the score lesson 05's blend adds
FEATURES = ("cross_encoder", "dense", "bm25", "fused", *BUSINESS_FEATURES)
RELEVANCE_GAIN = (0.0, 1.0, 3.0)  # Irrelevant, Partial, Exact: LightGBM's default 2^grade - 1


def candidate_frame(query_ids: Sequence[int], candidates: Sequence[Sequence[int]],
                    scores: Mapping[str, Sequence[np.ndarray]], products: pd.DataFrame,
                    business: Sequence[str] = BUSINESS_FEATURES) -> pd.DataFrame:
    """One row per (query, candidate): ``query_id``, ``row`` (catalogue row), ``product_id``,
    ``first_rank`` (1 = the first stage's best), each score of ``scores`` (lists aligned
    with ``candidates``) and the ``business`` columns of ``products``.
    """
    if len(query_ids) != len(candidates):
        raise CourseDataError(f"Got {len(query_ids)} query ids for {len(candidates)} lists.")
    missing = [c for c in ("product_id", *business) if c not in products.columns]
    if missing:
        raise CourseDataError(f"products lack {missing}; it has {list(products.columns)}.")
    rows = [np.asarray(c, dtype=np.int64) for c in candidates]
    frame = pd.DataFrame({
        "query_id": np.repeat(np.asarray(query_ids), [len(r) for r in rows]),
        "row": np.concatenate(rows) if rows else np.zeros(0, np.int64),
        "first_rank": np.concatenate([np.arange(1, len(r) + 1) for r in rows]) if rows else [],
    })
    for name, lists in scores.items():
        if [len(x) for x in lists] != [len(r) for r in rows]:
            raise CourseDataError(f"scores[{name!r}] are not aligned with the candidates.")
        frame[name] = np.concatenate([np.asarray(x, dtype=float) for x in lists])
    table = products.reset_index(drop=True)
    frame["product_id"] = table["product_id"].to_numpy()[frame["row"]]
    for column in business:
        frame[column] = table[column].to_numpy(float)[frame["row"]]
    return frame


def grouped_arrays(frame: pd.DataFrame, features: Sequence[str] = FEATURES,
                   label: str = "label", group: str = "query_id"
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """``(X, y, group_sizes, ordered)`` for LightGBM's rankers.

    LightGBM reads ``group`` as the sizes of consecutive blocks of rows, one per query,
    so the rows are sorted by query first (stably: each query keeps its row order).
    ``ordered`` is the frame in that order, to map predictions back.
    """
    missing = [c for c in (*features, label, group) if c not in frame.columns]
    if missing:
        raise CourseDataError(f"frame lacks columns {missing}; it has {list(frame.columns)}.")
    ordered = frame.sort_values(group, kind="stable").reset_index(drop=True)
    sizes = ordered.groupby(group, sort=False).size().to_numpy()
    return (ordered[list(features)].to_numpy(float), ordered[label].to_numpy(),
            sizes.astype(np.int64), ordered)


def business_value(frame: pd.DataFrame) -> np.ndarray:
    """The margin one sale earns, ``price * margin``, and 0 when out of stock."""
    missing = [c for c in ("price", "margin", "stock") if c not in frame.columns]
    if missing:
        raise CourseDataError(f"frame lacks {missing} for the business value.")
    return frame["price"].to_numpy(float) * frame["margin"].to_numpy(float) * (
        frame["stock"].to_numpy() > 0)


def value_edges(values: np.ndarray, tiers: int = 4) -> np.ndarray:
    """The ``tiers - 2`` boundaries that cut the positive values into ``tiers - 1`` equal
    shares (tier 0 is kept for a value of 0). Compute them on the training rows."""
    if tiers < 2:
        raise CourseArgumentError(f"tiers must be >= 2, got {tiers}.")
    positive = np.asarray(values, dtype=float)
    positive = positive[positive > 0]
    if not len(positive):
        raise CourseDataError("No positive value to cut into tiers.")
    return np.quantile(positive, np.linspace(0, 1, tiers)[1:-1])


def business_labels(grades: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Integer labels ``grade * tiers + tier`` (grade 0 Irrelevant, 1 Partial, 2 Exact).

    ``tier`` is 0 for a value of 0 (out of stock) and otherwise ``1 +`` the number of
    ``edges`` below the value, so there are ``len(edges) + 2`` tiers.
    """
    tiers = len(edges) + 2
    grades = np.asarray(grades, dtype=np.int64)
    if ((grades < 0) | (grades > 2)).any():
        raise CourseDataError("grades must be 0 (Irrelevant), 1 (Partial) or 2 (Exact).")
    values = np.asarray(values, dtype=float)
    tier = np.where(values > 0, 1 + np.searchsorted(np.asarray(edges, float), values), 0)
    return grades * tiers + tier


def label_gain(weight: float, tiers: int = 4) -> list[float]:
    """The gain of each label of :func:`business_labels`.

    ``gain(grade, tier) = RELEVANCE_GAIN[grade] + weight * tier / (tiers - 1)`` for a
    relevant grade, and 0 for an irrelevant one: value never makes an irrelevant product
    worth showing. ``weight = 0`` is relevance alone.
    """
    if weight < 0:
        raise CourseArgumentError(f"weight must be >= 0, got {weight}.")
    return [RELEVANCE_GAIN[g] + (weight * t / (tiers - 1) if g else 0.0)
            for g in range(3) for t in range(tiers)]


def fit_lambdamart(train: pd.DataFrame, valid: pd.DataFrame,
                   features: Sequence[str] = FEATURES, *, label: str = "label",
                   gains: Sequence[float] | None = None, params: Mapping[str, Any] | None = None,
                   rounds: int = 300, early_stopping: int = 30, seed: int = 0):
    """Train LightGBM ``lambdarank`` on ``train``; stop early on ``valid``'s NDCG@10.

    Returns:
        A ``lightgbm.Booster`` (its ``best_iteration`` is the round validation chose).
    """
    import lightgbm as lgb

    overlap = set(train["query_id"]) & set(valid["query_id"])
    if overlap:
        raise CourseDataError(f"Queries {sorted(overlap)[:5]} are in train and valid: split by "
                              "query, so no query group is in two splits.")
    x_train, y_train, g_train, _ = grouped_arrays(train, features, label)
    x_valid, y_valid, g_valid, _ = grouped_arrays(valid, features, label)
    settings = {
        "objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
        "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
        "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
        "seed": seed, "deterministic": True, "force_row_wise": True,
        "num_threads": 1, "verbosity": -1, **(params or {}),
    }
    if gains is not None:
        settings["label_gain"] = list(gains)
    train_set = lgb.Dataset(x_train, y_train, group=g_train, feature_name=list(features))
    valid_set = lgb.Dataset(x_valid, y_valid, group=g_valid, reference=train_set)
    return lgb.train(settings, train_set, num_boost_round=rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(early_stopping, verbose=False)])


def predict(booster, frame: pd.DataFrame, features: Sequence[str] = FEATURES) -> np.ndarray:
    """The ranker's score of every row of ``frame`` (at the best iteration)."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise CourseDataError(f"frame lacks features {missing}.")
    return booster.predict(frame[list(features)].to_numpy(float),
                           num_iteration=booster.best_iteration or None)


def ranked_lists(frame: pd.DataFrame, scores: np.ndarray, query_ids: Sequence[int],
                 k: int | None = None) -> list[np.ndarray]:
    """Catalogue rows of each query in ``query_ids``, best score first (ties: first stage)."""
    if len(scores) != len(frame):
        raise CourseDataError(f"Got {len(scores)} scores for {len(frame)} rows.")
    ordered = frame.assign(_score=np.asarray(scores, dtype=float))
    ordered = ordered.sort_values(["query_id", "_score", "first_rank"],
                                  ascending=[True, False, True], kind="stable")
    lists = {q: rows.to_numpy()[:k] for q, rows in ordered.groupby("query_id")["row"]}
    return [lists.get(q, np.zeros(0, np.int64)) for q in query_ids]


def choose_tradeoff(curve: pd.DataFrame, max_drop: float, relevance: str = "ndcg10",
                    value: str = "margin", reference: float | None = None) -> float:
    """The weight with the highest ``value`` whose ``relevance`` is at most ``max_drop`` below
    the reference (by default the curve's weight-0 row). Ties go to the smaller weight."""
    missing = [c for c in (relevance, value) if c not in curve.columns]
    if missing:
        raise CourseDataError(f"curve lacks columns {missing}; it has {list(curve.columns)}.")
    if reference is None:
        if 0 not in curve.index:
            raise CourseDataError("The curve has no weight 0 to compare with; pass reference.")
        reference = float(curve.loc[0, relevance])
    fits = curve[curve[relevance] >= reference - max_drop - 1e-12]
    if fits.empty:
        raise CourseArgumentError(f"No weight keeps {relevance} within {max_drop} of {reference}.")
    best = fits[value].max()
    return float(min(w for w in fits.index if fits.loc[w, value] == best))
