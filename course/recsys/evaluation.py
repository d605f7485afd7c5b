"""Evaluating recommenders with one call, comparing them, and explaining a recommendation.

The metrics themselves live in :mod:`course.metrics` (one home for ranking metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from course.errors import CourseArgumentError
from course.metrics import (
    catalog_coverage,
    mean_binary_ndcg_of_lists,
    mean_mrr_of_lists,
    mean_recall_of_lists,
)
from course.recsys.baselines import BPRMF, ItemKNNRecommender, PopularityRecommender
from course.recsys.recommender import Recommender

__all__ = [
    "comparison_table",
    "evaluate_baselines",
    "evaluate_models",
    "evaluate_recommender",
    "evaluate_sampled",
    "explain_recommendation",
    "fit_baselines",
    "plot_comparison",
]


def evaluate_recommender(recommendations, targets, k: int = 10,
                         num_items: int | None = None) -> dict[str, float]:
    """Recall@k, NDCG@k (binary), MRR and catalog coverage of ranked lists.

    With one held-out item per user (leave-last-out), Recall@k is also the hit
    rate HR@k.

    Args:
        recommendations: ``[n_users, L]`` item indices, best first (``L >= k``;
            MRR uses the whole list, the other metrics its first ``k``).
        targets: ``[n_users]`` the held-out item of each user.
        k: cut-off.
        num_items: catalog size, for coverage (omitted when None).
    """
    recs = np.asarray(recommendations)
    if recs.ndim != 2 or recs.shape[1] < k:
        raise CourseArgumentError(
            f"Lists have shape {recs.shape} but k={k}; recommend at least k items per user."
        )
    result = {
        f"recall@{k}": mean_recall_of_lists(recs, targets, k),
        f"ndcg@{k}": mean_binary_ndcg_of_lists(recs, targets, k),
        "mrr": mean_mrr_of_lists(recs, targets),
    }
    if num_items is not None:
        result[f"coverage@{k}"] = catalog_coverage(recs, num_items, k)
    return result


def evaluate_models(
    models: Mapping[str, Recommender],
    histories: Sequence[Sequence[int]],
    targets,
    *,
    k: int = 10,
    users: Sequence[int] | None = None,
    candidates: np.ndarray | None = None,
    num_items: int | None = None,
) -> dict[str, dict[str, float]]:
    """Evaluate fitted recommenders on the same histories and targets.

    Args:
        models: name -> fitted :class:`Recommender` (baselines, ``TwoTowerRecommender``).
        histories: each evaluated user's items before their target.
        targets: each user's held-out item.
        k: cut-off.
        users: the users' rows in the training sequences (BPR-MF needs them).
        candidates: rank only these items (e.g. the cold items).
        num_items: catalog size, to report coverage.

    Returns:
        name -> metrics, ready for :func:`comparison_table`.
    """
    if len(histories) != len(targets):
        raise CourseArgumentError(
            f"{len(histories)} histories but {len(targets)} targets; pass one each."
        )
    results = {}
    for name, model in models.items():
        recs = model.recommend(histories, k=k, users=users, candidates=candidates)
        results[name] = evaluate_recommender(recs, targets, k=k, num_items=num_items)
    return results


def evaluate_sampled(
    models: Mapping[str, Recommender],
    histories: Sequence[Sequence[int]],
    targets,
    *,
    n_negatives: int = 100,
    k: int = 10,
    users: Sequence[int] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Sampled metrics, as many papers report them: each target ranked among ``n_negatives``
    items drawn uniformly from those the user never bought (the same draws for every model).

    The target's rank is 1 + the number of sampled items scored at least as high (ties count
    against the model). Compare with :func:`evaluate_models`, which ranks the whole catalogue:
    Krichene & Rendle (2020) show that sampled metrics can reorder models.
    """
    targets = np.asarray(targets)
    if len(histories) != len(targets):
        raise CourseArgumentError(f"{len(histories)} histories but {len(targets)} targets.")
    num_items = max(m.num_items for m in models.values())
    if n_negatives >= num_items - 1:
        raise CourseArgumentError(f"{n_negatives} negatives from {num_items} items: sample fewer.")
    rng = np.random.default_rng(seed)
    negatives = np.empty((len(targets), n_negatives), dtype=np.int64)
    for row, (history, target) in enumerate(zip(histories, targets, strict=True)):
        allowed = np.ones(num_items, dtype=bool)
        allowed[list(history)] = False
        allowed[target] = False
        negatives[row] = rng.choice(np.flatnonzero(allowed), size=n_negatives, replace=False)
    results = {}
    rows = np.arange(len(targets))
    for name, model in models.items():
        scores = np.asarray(model.score_all(histories, users), dtype=np.float64)
        ranks = 1 + (scores[rows[:, None], negatives] >= scores[rows, targets][:, None]).sum(1)
        hit = ranks <= k
        results[name] = {f"recall@{k}": float(hit.mean()),
                         f"ndcg@{k}": float(np.where(hit, 1 / np.log2(ranks + 1), 0.0).mean())}
    return results


def fit_baselines(train_sequences: Sequence[Sequence[int]], num_items: int,
                  progress: bool = True) -> dict[str, Recommender]:
    """Popularity, item-kNN and BPR-MF, fitted on ``train_sequences``.

    Keys: ``popularity``, ``item_knn``, ``bpr_mf``.
    """
    models: dict[str, Recommender] = {
        "popularity": PopularityRecommender(),
        "item_knn": ItemKNNRecommender(),
        "bpr_mf": BPRMF(progress=progress),
    }
    for model in models.values():
        model.fit(train_sequences, num_items=num_items)
    return models


def evaluate_baselines(train_sequences: Sequence[Sequence[int]], users: Sequence[int], targets,
                       num_items: int, k: int = 10) -> dict[str, dict[str, float]]:
    """Fit the ID baselines and evaluate them on a leave-last-out split.

    ``users`` are rows of ``train_sequences``, whose training sequence is their
    history; ``targets`` their held-out items.
    """
    rows = np.asarray(users).tolist()
    histories = [list(train_sequences[u]) for u in rows]
    models = fit_baselines(train_sequences, num_items)
    return evaluate_models(models, histories, targets, k=k, users=rows, num_items=num_items)


def comparison_table(results: Mapping[str, Mapping[str, float]]):
    """One row per model, one column per metric (a pandas DataFrame)."""
    import pandas as pd

    if not results:
        raise CourseArgumentError("No results to compare: pass {'model name': {'metric': value}}.")
    table = pd.DataFrame.from_dict({name: dict(m) for name, m in results.items()}, orient="index")
    table.index.name = "model"
    return table


def plot_comparison(table, metrics: Sequence[str] | None = None,
                    title: str = "Recommenders compared"):
    """Grouped bar plot of a :func:`comparison_table`; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    columns = list(metrics) if metrics else [
        c for c in table.columns if not c.startswith("coverage")
    ]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CourseArgumentError(
            f"Metrics {missing} are not in the table; choose from {list(table.columns)}."
        )
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(columns) * max(1, len(table)) / 2, 3.6))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(columns))
    for i, (name, row) in enumerate(table[columns].iterrows()):
        offset = x + i * width - 0.4 + width / 2
        bars = ax.bar(offset, row.to_numpy(dtype=float), width, label=str(name))
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, columns)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def explain_recommendation(item_vecs, history_ids: Sequence[int], item_id: int,
                           top: int = 3) -> list[tuple[int, float]]:
    """"Why did it recommend this?": the history items closest to ``item_id`` by cosine.

    Returns:
        Up to ``top`` ``(history item index, cosine)`` pairs, closest first.
    """
    vecs = item_vecs if isinstance(item_vecs, torch.Tensor) else torch.as_tensor(
        np.asarray(item_vecs))
    history = list(dict.fromkeys(int(i) for i in history_ids))
    if not history:
        raise CourseArgumentError(
            "The history is empty; there is nothing to explain the recommendation with."
        )
    if not 0 <= item_id < len(vecs) or min(history) < 0 or max(history) >= len(vecs):
        raise CourseArgumentError(f"Item indices must lie in [0, {len(vecs)}).")
    vecs = F.normalize(vecs.float(), dim=-1)
    cos = vecs[history] @ vecs[item_id]
    best = cos.topk(min(top, len(history)))
    pairs = zip(best.values.tolist(), best.indices.tolist(), strict=True)
    return [(history[i], float(c)) for c, i in pairs]
