"""The :class:`Recommender` interface, and the two towers behind it.

Every model of lesson 04 (popularity, item-kNN, BPR-MF and the two towers)
answers ``recommend(histories, k)`` the same way, so one call evaluates them all
(:func:`course.recsys.evaluate_models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from course.errors import CourseArgumentError
from course.recsys.data import pad_histories
from course.recsys.retrieval import local_exclusions, topk_retrieval

__all__ = [
    "Recommender",
    "TwoTowerRecommender",
    "two_tower_recommend",
    "unwrap",
    "user_vectors_for",
]


class Recommender:
    """Common interface: ``fit(train_sequences)``, ``score_all(histories)``, ``recommend(...)``.

    Items nobody bought in training (cold items) carry no signal for an
    ID-based model: they score 0 (popularity count 0, no co-purchases, zero
    BPR-MF factors), so among themselves their order is arbitrary.
    """

    num_items: int = 0

    def fit(self, train_sequences: Sequence[Sequence[int]],
            num_items: int | None = None) -> Recommender:
        """Learn from per-user item-index sequences; ``num_items`` includes never-bought items."""
        raise NotImplementedError

    def score_all(self, histories: Sequence[Sequence[int]],
                  users: Sequence[int] | None = None) -> np.ndarray:
        """Scores ``[n, num_items]`` for each history (higher is better)."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.num_items:
            raise CourseArgumentError(
                f"{type(self).__name__} is not fitted; call fit(train_sequences) first."
            )

    def recommend(
        self,
        histories: Sequence[Sequence[int]],
        k: int = 10,
        exclude_seen: bool = True,
        users: Sequence[int] | None = None,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Top-``k`` item indices per history, ``[n, k]``; ``candidates`` restricts the ranking.

        Args:
            histories: each user's items so far (their history at recommendation time).
            k: list length.
            exclude_seen: never recommend an item of the history.
            users: the users' row numbers in the training sequences (models with
                per-user parameters, such as BPR-MF, need them).
            candidates: rank only these item indices (e.g. the cold items).
            batch_size: histories scored at a time.
        """
        self._check_fitted()
        cand = None
        if candidates is not None:
            cand = torch.as_tensor(np.asarray(candidates, dtype=np.int64))
        out = []
        for s in range(0, len(histories), batch_size):
            chunk = histories[s : s + batch_size]
            rows_of = None if users is None else users[s : s + batch_size]
            scores = torch.as_tensor(self.score_all(chunk, rows_of), dtype=torch.float32)
            if exclude_seen:
                rows = np.repeat(np.arange(len(chunk)), [len(h) for h in chunk])
                cols = np.fromiter((i for h in chunk for i in h), dtype=np.int64, count=len(rows))
                scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
            if cand is not None:
                scores = scores[:, cand]
            idx = scores.topk(k, dim=1).indices
            out.append((cand[idx] if cand is not None else idx).numpy())
        return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def unwrap(model: nn.Module) -> Any:
    """The model inside a ``DistributedDataParallel`` (or similar) wrapper, else the model.

    Typed ``Any``: the wrapped model is whatever was wrapped (here a ``TwoTower``).
    """
    return getattr(model, "module", model)


def user_vectors_for(model, histories: Sequence[Sequence[int]], max_history: int = 20,
                     batch_size: int = 1024,
                     item_table: torch.Tensor | None = None) -> torch.Tensor:
    """User vectors of a :class:`~course.recsys.TwoTower` for many histories, no gradients."""
    table = item_table if item_table is not None else model.all_item_vectors()
    out = []
    with torch.no_grad():
        for s in range(0, len(histories), batch_size):
            ids, mask = pad_histories(histories[s : s + batch_size], max_history)
            ids, mask = ids.to(table.device), mask.to(table.device)
            out.append(model.user_vectors(ids, mask, table[ids]))
    return torch.cat(out) if out else torch.zeros(0, table.shape[1])


def two_tower_recommend(
    model,
    histories: Sequence[Sequence[int]],
    k: int = 10,
    exclude_seen: bool = True,
    max_history: int = 20,
    candidates: np.ndarray | None = None,
    chunk_size: int = 4096,
) -> np.ndarray:
    """Top-``k`` item indices per history with a trained ``TwoTower``, ``[n, k]``.

    With ``candidates`` only those items are ranked (e.g. the cold items).
    """
    model = unwrap(model)
    was_training = model.training
    model.eval()
    table = model.all_item_vectors()
    users = user_vectors_for(model, histories, max_history, item_table=table)
    model.train(was_training)
    exclude = [list(h) for h in histories] if exclude_seen else None
    if candidates is None:
        _, idx = topk_retrieval(users, table, k, chunk_size=chunk_size, exclude=exclude)
        return idx.cpu().numpy()
    candidates = np.asarray(candidates, dtype=np.int64)
    local = local_exclusions(candidates, exclude, model.num_items)
    subset = table[torch.as_tensor(candidates, device=table.device)]
    _, idx = topk_retrieval(users, subset, k, chunk_size=chunk_size, exclude=local)
    return candidates[idx.cpu().numpy()]


class TwoTowerRecommender(Recommender):
    """A trained ``TwoTower`` behind the :class:`Recommender` interface.

    The towers are trained with ``course.train.fit``; :meth:`fit` only checks that
    the catalog matches, so the adapter can stand in a dict of models beside the
    baselines. Recommendations use :func:`two_tower_recommend` (chunked top-k).

    Args:
        model: a ``TwoTower``.
        max_history: purchases of a history the user tower reads (the latest ones).
    """

    def __init__(self, model, max_history: int = 20):
        self.model = model
        self.max_history = max_history
        self.num_items = unwrap(model).num_items

    def fit(self, train_sequences: Sequence[Sequence[int]],
            num_items: int | None = None) -> TwoTowerRecommender:
        """Check the catalog size; train the towers with ``course.train.fit`` instead."""
        if num_items is not None and num_items != self.num_items:
            raise CourseArgumentError(
                f"The towers know {self.num_items} items but num_items={num_items}; "
                "build them over the same catalog."
            )
        return self

    def score_all(self, histories: Sequence[Sequence[int]],
                  users: Sequence[int] | None = None) -> np.ndarray:
        """Cosine of each history's user vector with every item, ``[n, num_items]``."""
        model = unwrap(self.model)
        was_training = model.training
        model.eval()
        table = model.all_item_vectors()
        vecs = user_vectors_for(model, histories, self.max_history, item_table=table)
        model.train(was_training)
        return (vecs @ table.T).cpu().numpy()

    def recommend(self, histories: Sequence[Sequence[int]], k: int = 10,
                  exclude_seen: bool = True, users: Sequence[int] | None = None,
                  candidates: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
        """Top-``k`` per history by chunked retrieval (``users`` and ``batch_size`` unused)."""
        return two_tower_recommend(self.model, histories, k=k, exclude_seen=exclude_seen,
                                   max_history=self.max_history, candidates=candidates)
