"""Evaluation metrics for relevance classification, ranking and recommendation.

Classification: :func:`accuracy`, :func:`macro_f1`, :func:`per_class_report`,
:func:`confusion_matrix` and :func:`plot_confusion_matrix`.

Ranking: :func:`expected_gain` turns class probabilities into one score per
(query, product); :func:`mean_ndcg_of_frame` averages NDCG@k over queries and
:func:`ndcg_by_group_of_frame` reports it per query family.

Ranked lists against held-out items (recommendation, retrieval): :func:`mean_hit_rate_of_lists`
(did any held-out item make the top k?), :func:`mean_recall_of_lists` (which share of them did?),
:func:`mean_binary_ndcg_of_lists` (how high, each held-out item with gain 1),
:func:`mean_mrr_of_lists` and
:func:`catalog_coverage`. With one held-out item per list, recall@k equals the hit rate.

Names say what a metric takes and what it returns: ``*_of_frame`` takes a frame of scored
(query, product) rows, ``*_of_lists`` takes ranked lists; ``mean_*`` returns one number,
``*_per_query`` one value per query. Search over a whole catalogue with graded gains uses
:func:`recall_per_query_of_lists` and :func:`ndcg_per_query_of_lists` (NaN where a query has
no relevant product).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from course.data.common import GAINS
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "Ranked",
    "accuracy",
    "catalog_coverage",
    "confusion_matrix",
    "dcg",
    "expected_gain",
    "macro_f1",
    "mean_binary_ndcg_of_lists",
    "mean_hit_rate_of_lists",
    "mean_mrr_of_lists",
    "mean_ndcg_of_frame",
    "mean_recall_of_lists",
    "ndcg_by_group_of_frame",
    "ndcg_per_query_of_frame",
    "ndcg_per_query_of_lists",
    "per_class_report",
    "plot_confusion_matrix",
    "recall_per_query_of_lists",
]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise CourseArgumentError(
            f"Expected flat label lists, got shapes {y_true.shape} and {y_pred.shape}. "
            "Take argmax(dim=-1) of [batch, classes] logits and flatten lists of lists."
        )
    if len(y_true) != len(y_pred):
        raise CourseArgumentError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}.")
    if len(y_true) == 0:
        raise CourseArgumentError("No labels to score: y_true is empty.")
    return y_true, y_pred


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of predictions equal to the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def per_class_report(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Precision, recall, F1 and support for each label (0 where a ratio is 0/0).

    ``labels`` fixes the rows and their order; by default every label seen, sorted.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if labels is None:
        labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    rows = []
    for label in labels:
        true_pos = np.sum((y_pred == label) & (y_true == label))
        predicted = np.sum(y_pred == label)
        actual = np.sum(y_true == label)
        precision = true_pos / predicted if predicted else 0.0
        recall = true_pos / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"precision": precision, "recall": recall, "f1": f1, "support": int(actual)})
    return pd.DataFrame(rows, index=pd.Index(list(labels), name="label")).astype(
        {"precision": float, "recall": float, "f1": float}
    )


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike,
             labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (as sklearn ``f1_score(average="macro")``)."""
    return float(per_class_report(y_true, y_pred, labels)["f1"].mean())


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> np.ndarray:
    """Counts ``cm[i, j]`` of examples with true label ``labels[i]`` predicted as ``labels[j]``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if labels is None:
        labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    index = {label: i for i, label in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    return cm


def plot_confusion_matrix(cm: np.ndarray, labels: Sequence[str], normalize: bool = False, ax=None):
    """Heat map of a confusion matrix, with the count (or row share) in each cell.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(labels), len(labels)):
        raise CourseArgumentError(f"cm has shape {cm.shape} but there are {len(labels)} labels.")
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    else:
        fig = ax.figure
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
           yticklabels=labels, xlabel="predicted", ylabel="true",
           title="Confusion matrix" + (" (row share)" if normalize else ""))
    threshold = values.max() / 2 if values.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if values[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def expected_gain(probs: np.ndarray, gains: Sequence[float] = (1.0, 0.5, 0.0)) -> np.ndarray:
    """Ranking score from class probabilities: ``sum_c p(c) * gain(c)``.

    ``probs`` is ``[n, classes]`` in the order Exact, Partial, Irrelevant by default.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(gains):
        raise CourseArgumentError(
            f"probs has shape {probs.shape}; expected [n, {len(gains)}], one column per gain."
        )
    return probs @ np.asarray(gains, dtype=float)


def dcg(relevance_in_rank_order: ArrayLike, k: int) -> float:
    """Discounted cumulative gain of the first ``k`` items: ``sum rel_i / log2(i + 1)``."""
    rel = np.asarray(relevance_in_rank_order, dtype=float)[:k]
    return float(np.sum(rel / np.log2(np.arange(2, rel.size + 2))))


def _query_ndcg(scores: np.ndarray, relevance: np.ndarray, k: int) -> float:
    # Stable sort on -score: tied items keep their row order (sklearn instead averages ties).
    order = np.argsort(-scores, kind="stable")
    ideal = dcg(np.sort(relevance)[::-1], k)
    return dcg(relevance[order], k) / ideal if ideal > 0 else np.nan


def _relevance_values(column: pd.Series, gains: dict[str, float]) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float)
    unknown = sorted(set(column.astype(str)) - set(gains))
    if unknown:
        raise CourseDataError(
            f"Relevance labels {unknown} have no gain; pass gains={{label: gain}}."
        )
    return column.map(gains).to_numpy(dtype=float)


def ndcg_per_query_of_frame(
    df: pd.DataFrame,
    k: int = 10,
    score: str = "score",
    relevance: str = "label",
    query: str = "query_id",
    gains: dict[str, float] | None = None,
) -> pd.Series:
    """NDCG@k of each query (NaN where no candidate is relevant), indexed by query id.

    ``relevance`` may hold numeric gains or labels mapped with ``gains``
    (default Exact 1, Partial 0.5, Irrelevant 0). Gains are linear and ties in the
    score are broken by row order, so the result is deterministic.
    """
    missing = [c for c in (score, relevance, query) if c not in df.columns]
    if missing:
        raise CourseDataError(f"Columns {missing} are missing; the frame has {list(df.columns)}.")
    if k < 1:
        raise CourseArgumentError(f"k must be at least 1, got {k}.")
    rel = _relevance_values(df[relevance], gains or GAINS)
    scores = df[score].to_numpy(dtype=float)
    groups = df.groupby(query, sort=False).indices
    return pd.Series(
        {qid: _query_ndcg(scores[idx], rel[idx], k) for qid, idx in groups.items()},
        name=f"ndcg@{k}",
    )


def mean_ndcg_of_frame(df: pd.DataFrame, k: int = 10, score: str = "score",
                       relevance: str = "label", query: str = "query_id",
                       gains: dict[str, float] | None = None) -> float:
    """Mean NDCG@k over queries, skipping queries with no relevant candidate.

    See :func:`ndcg_per_query_of_frame` for the columns. Matches sklearn ``ndcg_score`` when
    scores have no ties (sklearn gives 0 to all-irrelevant queries; here they are skipped).
    """
    per_query = ndcg_per_query_of_frame(df, k, score, relevance, query, gains)
    if per_query.isna().all():
        raise CourseDataError("No query has a relevant candidate; NDCG is undefined.")
    return float(per_query.mean())


def ndcg_by_group_of_frame(df: pd.DataFrame, group: str = "family", k: int = 10,
                           score: str = "score", relevance: str = "label",
                           query: str = "query_id",
                           gains: dict[str, float] | None = None) -> pd.Series:
    """Mean NDCG@k per value of ``group`` (e.g. the query family), as a Series."""
    if group not in df.columns:
        raise CourseDataError(f"Column {group!r} is missing; the frame has {list(df.columns)}.")
    per_query = ndcg_per_query_of_frame(df, k, score, relevance, query, gains)
    family = df.groupby(query, sort=False)[group].first()
    return per_query.groupby(family).mean().rename(f"ndcg@{k}")


# ------------------------------------------- ranked lists against a graded catalogue


def recall_per_query_of_lists(ranked: Sequence[Sequence[int]], gains: np.ndarray,
                              k: int) -> np.ndarray:
    """Per query: the share of Exact products found in the top ``k``, capped at ``k``.

    ``|Exact in top k| / min(k, |Exact|)``, so a query with 60 Exact products can still
    reach 1.0 at k = 50 (the "capped" recall of the BEIR benchmark). NaN without an Exact product.
    """
    out = np.full(len(ranked), np.nan)
    for row, items in enumerate(ranked):
        relevant = gains[row] == 1.0
        total = int(relevant.sum())
        if total:
            out[row] = relevant[np.asarray(items[:k], dtype=int)].sum() / min(k, total)
    return out


def ndcg_per_query_of_lists(ranked: Sequence[Sequence[int]], gains: np.ndarray,
                            k: int = 10) -> np.ndarray:
    """Per query: NDCG@k of a ranked list against the best possible order of the whole catalog."""
    out = np.full(len(ranked), np.nan)
    for row, items in enumerate(ranked):
        ideal = dcg(np.sort(gains[row])[::-1], k)
        if ideal > 0:
            out[row] = dcg(gains[row][np.asarray(items[:k], dtype=int)], k) / ideal
    return out



Ranked = Sequence[Sequence[Hashable]] | np.ndarray  # one ranked list per user, best first


def _target_set(target: Any) -> set:
    """One held-out item, or a collection of them, as a set."""
    if isinstance(target, (set, frozenset, list, tuple, np.ndarray)):
        return set(np.asarray(list(target)).tolist()) if len(target) else set()
    return {target.item() if isinstance(target, np.generic) else target}


def _check_lists(ranked: Any, targets: Any, k: int | None) -> None:
    if isinstance(ranked, np.ndarray) and ranked.ndim != 2:
        raise CourseArgumentError(
            f"ranked must be [n_lists, list_length]; got shape {ranked.shape}. "
            "Pass one ranked list per user."
        )
    if len(ranked) != len(targets):
        raise CourseArgumentError(
            f"Got {len(ranked)} ranked lists but {len(targets)} targets; "
            "pass one target (an item or a collection of items) per list."
        )
    if len(ranked) == 0:
        raise CourseArgumentError("No ranked lists to score.")
    if k is not None and k < 1:
        raise CourseArgumentError(f"k must be at least 1, got {k}.")


def _single_targets(ranked: Any, targets: Any) -> np.ndarray | None:
    """The targets as a 1-D array when every list has exactly one (the fast path), else None."""
    if not isinstance(ranked, np.ndarray):
        return None
    try:
        array = np.asarray(targets) if not isinstance(targets, np.ndarray) else targets
    except ValueError:  # ragged: lists of different lengths (several targets per list)
        return None
    if array.ndim != 1 or array.dtype == object:
        return None
    return array


def _hits(ranked: Any, targets: Any, k: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Per list, the 0-based positions (in the top ``k``) holding a held-out item, each item once.

    Returns:
        ``(positions, n_targets)``: a list of position arrays and the number of
        distinct held-out items of each list.
    """
    _check_lists(ranked, targets, k)
    single = _single_targets(ranked, targets)
    if single is not None:  # one target per list: vectorised
        head = ranked[:, :k] if k else ranked
        found = head == single[:, None]
        first = np.where(found.any(axis=1), found.argmax(axis=1), -1)
        positions = [np.array([p]) if p >= 0 else np.zeros(0, dtype=int) for p in first]
        return positions, np.ones(len(single))
    positions, counts = [], []
    for items, target in zip(ranked, targets, strict=True):
        wanted = _target_set(target)
        head = list(items)[:k] if k else list(items)
        seen: set = set()
        found = []
        for pos, item in enumerate(head):
            key = item.item() if isinstance(item, np.generic) else item
            if key in wanted and key not in seen:
                seen.add(key)
                found.append(pos)
        positions.append(np.asarray(found, dtype=int))
        counts.append(len(wanted))
    return positions, np.asarray(counts, dtype=float)


def mean_hit_rate_of_lists(ranked: Ranked, targets: Sequence[Any], k: int = 10) -> float:
    """HR@k: the share of lists with at least one held-out item in their top ``k``.

    Args:
        ranked: one ranked list per user (best first): an ``[n, L]`` array or lists.
        targets: per list, the held-out item or a collection of held-out items.
        k: cut-off.
    """
    positions, _ = _hits(ranked, targets, k)
    return float(np.mean([len(p) > 0 for p in positions]))


def mean_recall_of_lists(ranked: Ranked, targets: Sequence[Any], k: int = 10) -> float:
    """Recall@k: the mean share of each list's held-out items found in its top ``k``.

    With exactly one held-out item per list (leave-last-out) this equals
    :func:`mean_hit_rate_of_lists`; with several it gives partial credit, where the hit rate
    counts one found item as a full hit. A list without held-out items scores 0.
    """
    positions, counts = _hits(ranked, targets, k)
    found = np.array([len(p) for p in positions], dtype=float)
    return float(np.mean(np.divide(found, counts, out=np.zeros_like(found), where=counts > 0)))


def mean_binary_ndcg_of_lists(ranked: Ranked, targets: Sequence[Any], k: int = 10) -> float:
    """NDCG@k with binary relevance: every held-out item has gain 1, every other item 0.

    DCG sums ``1 / log2(position + 1)`` (1-based) over the held-out items in the top
    ``k``; the ideal DCG puts ``min(#held-out, k)`` of them first. With one held-out
    item per list this is ``1 / log2(rank + 1)`` when it is ranked within ``k``, else 0.
    For graded labels per query use :func:`mean_ndcg_of_frame`.
    """
    positions, counts = _hits(ranked, targets, k)
    scores = []
    for found, count in zip(positions, counts, strict=True):
        ideal = np.sum(1.0 / np.log2(np.arange(2, int(min(count, k)) + 2)))
        scores.append(np.sum(1.0 / np.log2(found + 2.0)) / ideal if ideal > 0 else 0.0)
    return float(np.mean(scores))


def mean_mrr_of_lists(ranked: Ranked, targets: Sequence[Any], k: int | None = None) -> float:
    """Mean reciprocal rank of the first held-out item in each list (0 when it is absent).

    ``k`` truncates the lists (MRR@k); by default the whole list counts, so the
    value is MRR truncated at the list length: pass longer lists for a closer value.
    """
    positions, _ = _hits(ranked, targets, k)
    return float(np.mean([1.0 / (p[0] + 1) if len(p) else 0.0 for p in positions]))


def catalog_coverage(ranked: Ranked, num_items: int, k: int | None = None) -> float:
    """Share of the catalog that appears in at least one list's top ``k``."""
    if num_items <= 0:
        raise CourseArgumentError(f"num_items must be positive, got {num_items}.")
    if k is not None and k < 1:
        raise CourseArgumentError(f"k must be at least 1, got {k}.")
    if isinstance(ranked, np.ndarray):
        return float(len(np.unique(ranked[:, :k])) / num_items)
    shown = {item for items in ranked for item in list(items)[:k]}
    return float(len(shown) / num_items)
