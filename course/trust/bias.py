"""Popularity bias in a recommender: who and what the top-10 lists leave out.

Works on plain arrays, for any recommender that can score every item for a user:

* :func:`exposure`: how often each item is recommended (its concentration is measured with
  :func:`course.bi.gini` and drawn with :func:`course.bi.lorenz_curve`);
* :func:`popularity_report`: exposure Gini, catalogue coverage and the long-tail share of
  the recommended slots, against the same figures for the purchases;
* :func:`penalised_topk` and :func:`tradeoff_curve`: a popularity-penalised re-rank, and
  accuracy against coverage as the penalty grows (choose the penalty on validation);
* :func:`group_metrics`: recall for popular and long-tail items, heavy and light users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from course.bi import gini
from course.errors import CourseArgumentError, CourseDataError


def exposure(recommendations, num_items: int) -> np.ndarray:
    """How many lists each item appears in (``[num_items]``; zeros for items never shown)."""
    recs = np.asarray(recommendations)
    if recs.size and (recs.min() < 0 or recs.max() >= num_items):
        raise CourseDataError(f"Recommended item indices must lie in [0, {num_items}).")
    return np.bincount(recs.ravel(), minlength=num_items)


def head_items(popularity, head_fraction: float = 0.2) -> np.ndarray:
    """Mask of the *head*: the ``head_fraction`` most-bought items (ties broken by index)."""
    if not 0.0 < head_fraction < 1.0:
        raise CourseArgumentError(f"head_fraction must lie in (0, 1); got {head_fraction}.")
    popularity = np.asarray(popularity, dtype=float)
    order = np.argsort(-popularity, kind="stable")
    head = np.zeros(len(popularity), dtype=bool)
    head[order[: max(1, int(round(head_fraction * len(popularity))))]] = True
    return head


def popularity_report(recommendations, popularity, head_fraction: float = 0.2) -> dict[str, float]:
    """Concentration of the recommendations against that of the purchases.

    Args:
        recommendations: ``[n_users, k]`` item indices.
        popularity: ``[num_items]`` training purchases per item (defines head and tail).
        head_fraction: share of items, by popularity, that form the head.

    Returns:
        ``gini_exposure`` and ``gini_purchases``; ``coverage`` (share of items
        recommended at least once); ``tail_share_recs`` (share of recommended slots
        that hold a tail item) and ``tail_share_purchases`` (the same for purchases).
    """
    popularity = np.asarray(popularity, dtype=float)
    shown = exposure(recommendations, len(popularity))
    tail = ~head_items(popularity, head_fraction)
    return {
        "gini_exposure": gini(shown), "gini_purchases": gini(popularity),
        "coverage": float((shown > 0).mean()),
        "tail_share_recs": float(shown[tail].sum() / max(1, shown.sum())),
        "tail_share_purchases": float(popularity[tail].sum() / max(1.0, popularity.sum())),
    }


def penalised_topk(scores, popularity, strength: float, k: int = 10,
                   exclude: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Top-``k`` after subtracting ``strength * z(log(1 + popularity))`` from every score.

    Scores are first standardised per user (mean 0, standard deviation 1), so that one
    ``strength`` means the same for any model. ``exclude[u]`` (already bought) is never
    recommended. ``strength = 0`` is the plain top-k.
    """
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    if scores.ndim != 2 or scores.shape[1] != len(popularity):
        raise CourseDataError(
            f"scores must be [n_users, {len(popularity)}]; got {tuple(scores.shape)}."
        )
    if k > scores.shape[1]:
        raise CourseArgumentError(f"k={k} exceeds the {scores.shape[1]} items.")
    spread = scores.std(dim=1, keepdim=True).clamp_min(1e-8)
    z = (scores - scores.mean(dim=1, keepdim=True)) / spread
    log_pop = np.log1p(np.asarray(popularity, dtype=np.float64))
    penalty = (log_pop - log_pop.mean()) / max(log_pop.std(), 1e-8)
    z = z - float(strength) * torch.as_tensor(penalty, dtype=torch.float32)
    if exclude is not None:
        rows = np.repeat(np.arange(len(exclude)), [len(e) for e in exclude])
        cols = np.fromiter((i for e in exclude for i in e), dtype=np.int64, count=len(rows))
        z[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
    return z.topk(k, dim=1).indices.numpy()


def _recall_ndcg(recs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hits = recs == np.asarray(targets)[:, None]
    rank = hits.argmax(axis=1) + 1
    found = hits.any(axis=1)
    return found.astype(float), np.where(found, 1.0 / np.log2(rank + 1), 0.0)


def tradeoff_curve(scores, popularity, targets, strengths, k: int = 10, exclude=None,
                   head_fraction: float = 0.2) -> pd.DataFrame:
    """Recall@k, NDCG@k, coverage, exposure Gini and tail share for each penalty strength."""
    rows = []
    for strength in strengths:
        recs = penalised_topk(scores, popularity, strength, k=k, exclude=exclude)
        recall, ndcg = _recall_ndcg(recs, targets)
        report = popularity_report(recs, popularity, head_fraction)
        rows.append({"strength": float(strength), f"recall@{k}": recall.mean(),
                     f"ndcg@{k}": ndcg.mean(), "coverage": report["coverage"],
                     "gini_exposure": report["gini_exposure"],
                     "tail_share_recs": report["tail_share_recs"]})
    return pd.DataFrame(rows)


def choose_strength(curve: pd.DataFrame, metric: str = "recall@10",
                    keep: float = 0.95) -> float:
    """The strongest penalty whose ``metric`` keeps at least ``keep`` of the unpenalised value.

    Use a curve measured on the **validation** split; then report test once.
    """
    if not 0.0 < keep <= 1.0:
        raise CourseArgumentError(f"keep must lie in (0, 1]; got {keep}.")
    base = float(curve.loc[curve["strength"].idxmin(), metric])
    ok = curve[curve[metric] >= keep * base]
    return float(ok["strength"].max())


def group_metrics(recommendations, targets, histories, popularity,
                  head_fraction: float = 0.2) -> pd.DataFrame:
    """Recall@k and NDCG@k per group: target item popular (head) or long-tail; user heavy or light.

    A *heavy* user has a history longer than the median history. ``share`` is the share
    of the evaluated users in the group.
    """
    recs = np.asarray(recommendations)
    targets = np.asarray(targets)
    if len(recs) != len(targets) or len(targets) != len(histories):
        raise CourseDataError("recommendations, targets and histories need one row per user.")
    head = head_items(popularity, head_fraction)
    lengths = np.array([len(h) for h in histories])
    recall, ndcg = _recall_ndcg(recs, targets)
    groups = {
        "target: popular (head)": head[targets], "target: long tail": ~head[targets],
        "user: heavy": lengths > np.median(lengths), "user: light": lengths <= np.median(lengths),
    }
    rows = [{"group": name, "users": int(mask.sum()), "share": float(mask.mean()),
             "recall": float(recall[mask].mean()) if mask.any() else float("nan"),
             "ndcg": float(ndcg[mask].mean()) if mask.any() else float("nan")}
            for name, mask in groups.items()]
    return pd.DataFrame(rows).set_index("group")


__all__ = [
    "choose_strength", "exposure", "group_metrics", "head_items",
    "penalised_topk", "popularity_report", "tradeoff_curve",
]
