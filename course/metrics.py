"""Evaluation metrics for relevance classification, ranking and recommendation.

Classification: :func:`accuracy`, :func:`macro_f1`, :func:`per_class_report`,
:func:`confusion_matrix` and :func:`plot_confusion_matrix`.

Ranking: :func:`expected_gain` turns class probabilities into one score per
(query, product); :func:`ndcg_at_k` averages NDCG@k over queries and
:func:`ndcg_by_group` reports it per query family.

Recommendation: :func:`recall_at_k`, :func:`hit_rate_at_k` and :func:`mrr` compare
ranked item lists with held-out items.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from course.data.common import GAINS, LABELS  # noqa: F401 - one home: course.data
from course.errors import CourseDataError, CourseError


def _pair(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise CourseDataError(
            f"Expected flat label lists, got shapes {y_true.shape} and {y_pred.shape}. "
            "Take argmax(dim=-1) of [batch, classes] logits and flatten lists of lists."
        )
    if len(y_true) != len(y_pred):
        raise CourseDataError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}.")
    if len(y_true) == 0:
        raise CourseDataError("No labels to score: y_true is empty.")
    return y_true, y_pred


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Share of predictions equal to the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def per_class_report(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
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


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (as sklearn ``f1_score(average="macro")``)."""
    return float(per_class_report(y_true, y_pred, labels)["f1"].mean())


def confusion_matrix(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
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
        raise CourseError(f"cm has shape {cm.shape} but there are {len(labels)} labels.")
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
        raise CourseDataError(
            f"probs has shape {probs.shape}; expected [n, {len(gains)}], one column per gain."
        )
    return probs @ np.asarray(gains, dtype=float)


def dcg(relevance_in_rank_order: Sequence[float], k: int) -> float:
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
        raise CourseDataError(f"Relevance labels {unknown} have no gain; pass gains={{label: gain}}.")
    return column.map(gains).to_numpy(dtype=float)


def ndcg_per_query(
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
        raise CourseError(f"k must be at least 1, got {k}.")
    rel = _relevance_values(df[relevance], gains or GAINS)
    scores = df[score].to_numpy(dtype=float)
    groups = df.groupby(query, sort=False).indices
    return pd.Series(
        {qid: _query_ndcg(scores[idx], rel[idx], k) for qid, idx in groups.items()},
        name=f"ndcg@{k}",
    )


def ndcg_at_k(df: pd.DataFrame, k: int = 10, score: str = "score", relevance: str = "label",
              query: str = "query_id", gains: dict[str, float] | None = None) -> float:
    """Mean NDCG@k over queries, skipping queries with no relevant candidate.

    See :func:`ndcg_per_query` for the columns. Matches sklearn ``ndcg_score`` when
    scores have no ties (sklearn gives 0 to all-irrelevant queries; here they are skipped).
    """
    per_query = ndcg_per_query(df, k, score, relevance, query, gains)
    if per_query.isna().all():
        raise CourseDataError("No query has a relevant candidate; NDCG is undefined.")
    return float(per_query.mean())


def ndcg_by_group(df: pd.DataFrame, group: str = "family", k: int = 10, score: str = "score",
                  relevance: str = "label", query: str = "query_id",
                  gains: dict[str, float] | None = None) -> pd.Series:
    """Mean NDCG@k per value of ``group`` (e.g. the query family), as a Series."""
    if group not in df.columns:
        raise CourseDataError(f"Column {group!r} is missing; the frame has {list(df.columns)}.")
    per_query = ndcg_per_query(df, k, score, relevance, query, gains)
    family = df.groupby(query, sort=False)[group].first()
    return per_query.groupby(family).mean().rename(f"ndcg@{k}")


def _targets(target: Any) -> set:
    if isinstance(target, (set, frozenset, list, tuple, np.ndarray)):
        return set(np.asarray(list(target)).tolist()) if len(target) else set()
    return {target}


def _check_lists(ranked: Sequence[Sequence[Hashable]], targets: Sequence[Any], k: int | None):
    if len(ranked) != len(targets):
        raise CourseDataError(f"Got {len(ranked)} ranked lists but {len(targets)} targets.")
    if len(ranked) == 0:
        raise CourseDataError("No ranked lists to score.")
    if k is not None and k < 1:
        raise CourseError(f"k must be at least 1, got {k}.")


def recall_at_k(ranked: Sequence[Sequence[Hashable]], targets: Sequence[Any], k: int = 10) -> float:
    """Mean share of each user's held-out items found in the top ``k`` of their list.

    A target may be one item or a collection of items.
    """
    _check_lists(ranked, targets, k)
    scores = []
    for items, target in zip(ranked, targets, strict=True):
        wanted = _targets(target)
        scores.append(len(wanted & set(list(items)[:k])) / len(wanted) if wanted else 0.0)
    return float(np.mean(scores))


def hit_rate_at_k(ranked: Sequence[Sequence[Hashable]], targets: Sequence[Any], k: int = 10) -> float:
    """Share of lists with at least one held-out item in the top ``k``."""
    _check_lists(ranked, targets, k)
    hits = [bool(_targets(t) & set(list(items)[:k])) for items, t in zip(ranked, targets, strict=True)]
    return float(np.mean(hits))


def mrr(ranked: Sequence[Sequence[Hashable]], targets: Sequence[Any], k: int | None = None) -> float:
    """Mean reciprocal rank of the first held-out item (0 when it is not in the top ``k``)."""
    _check_lists(ranked, targets, k)
    scores = []
    for items, target in zip(ranked, targets, strict=True):
        wanted = _targets(target)
        head: Iterable = list(items)[:k] if k else items
        rank = next((i for i, item in enumerate(head, start=1) if item in wanted), None)
        scores.append(1.0 / rank if rank else 0.0)
    return float(np.mean(scores))
