"""Data preparation for the recommender: ids, leave-last-out, next-item examples, negatives.

Item ids are integer *indices* ``0 .. num_items-1`` everywhere in :mod:`course.recsys`;
:func:`build_id_maps` turns raw ids (stock codes, SKUs) into indices and back. A user's
*sequence* is the time-ordered list of item indices they bought.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "ColdStartSplit",
    "IdMaps",
    "LeaveLastOutSplits",
    "NextItemDataset",
    "TwoTowerCollator",
    "build_id_maps",
    "item_popularity",
    "leave_last_out",
    "leave_last_out_splits",
    "pad_histories",
    "sample_negatives",
    "split_cold_items",
]


@dataclass
class IdMaps:
    """Raw ids to dense indices and back, for users and items."""

    users: list
    items: list
    user_index: dict
    item_index: dict

    @property
    def num_items(self) -> int:
        """Catalog size."""
        return len(self.items)

    def encode(self, sequences: Mapping[Hashable, Sequence[Hashable]]) -> list[list[int]]:
        """Per-user sequences of raw item ids as lists of item indices, in ``self.users`` order."""
        try:
            return [[self.item_index[i] for i in sequences[u]] for u in self.users]
        except KeyError as exc:
            raise CourseDataError(
                f"Id {exc.args[0]!r} is not in the id maps; build them from the same data."
            ) from exc


def build_id_maps(
    sequences: Mapping[Hashable, Sequence[Hashable]], items: Iterable[Hashable] | None = None
) -> IdMaps:
    """Dense indices for the users of ``sequences`` and for the items.

    Args:
        sequences: user id to the time-ordered item ids they bought.
        items: the whole catalog (e.g. the keys of an id -> text mapping), so that
            items nobody bought (cold items) get an index too. Default: the
            items seen in ``sequences``, in order of first appearance.
    """
    if not sequences:
        raise CourseDataError("No purchase sequences given; pass {user: [item, ...]}.")
    users = list(sequences)
    catalog = list(dict.fromkeys(items)) if items is not None else []
    known = set(catalog)
    for user in users:
        for item in sequences[user]:
            if item not in known:
                if items is not None:
                    raise CourseDataError(
                        f"User {user!r} bought item {item!r}, which is not in the catalog; "
                        "drop such purchases or add the item."
                    )
                known.add(item)
                catalog.append(item)
    user_index = {u: i for i, u in enumerate(users)}
    return IdMaps(users, catalog, user_index, {t: i for i, t in enumerate(catalog)})


def leave_last_out(
    sequences: Sequence[Sequence[int]], min_length: int = 2
) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Hold out each user's last purchase.

    Returns:
        ``(train, users, targets)``: ``train`` has every user's sequence with
        the last item removed for evaluated users (all others unchanged);
        ``users`` are the evaluated users (sequences of at least ``min_length``
        items) and ``targets`` their held-out last items. ``train[u]`` is user
        ``u``'s history at evaluation time.
    """
    if min_length < 2:
        raise CourseArgumentError(
            "min_length must be at least 2: a user needs a history and a target."
        )
    train, users, targets = [], [], []
    for u, seq in enumerate(sequences):
        seq = list(seq)
        if len(seq) >= min_length:
            users.append(u)
            targets.append(seq[-1])
            seq = seq[:-1]
        train.append(seq)
    if not users:
        raise CourseDataError(f"No user has {min_length} or more purchases; nothing to evaluate.")
    return train, np.asarray(users), np.asarray(targets)


def item_popularity(sequences: Sequence[Sequence[int]], num_items: int) -> np.ndarray:
    """Purchase count of every item (float array of length ``num_items``)."""
    flat = np.fromiter((i for s in sequences for i in s), dtype=np.int64)
    if len(flat) and (flat.min() < 0 or flat.max() >= num_items):
        raise CourseArgumentError(
            f"Item indices must lie in [0, {num_items}); map ids with build_id_maps."
        )
    return np.bincount(flat, minlength=num_items).astype(np.float64)


class NextItemDataset(torch.utils.data.Dataset):
    """Next-item training examples: for every user and position, history -> next item.

    Example ``j`` is a dict ``{"user": u, "history": [...], "positive": item}``,
    where ``history`` holds at most ``max_history`` items bought before
    ``positive`` (most recent last).
    """

    def __init__(self, sequences: Sequence[Sequence[int]], max_history: int = 20,
                 min_history: int = 1):
        if max_history < 1 or min_history < 1:
            raise CourseArgumentError("max_history and min_history must be at least 1.")
        self.sequences = [list(s) for s in sequences]
        self.max_history = max_history
        self.index = [
            (u, t) for u, seq in enumerate(self.sequences) for t in range(min_history, len(seq))
        ]
        if not self.index:
            raise CourseDataError(
                f"No training examples: every sequence is shorter than {min_history + 1} items."
            )

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int) -> dict:
        u, t = self.index[j]
        seq = self.sequences[u]
        return {"user": u, "history": seq[max(0, t - self.max_history) : t], "positive": seq[t]}


def sample_negatives(
    n: int,
    num_items: int,
    popularity: np.ndarray | None = None,
    hard_fraction: float = 0.5,
    exclude: Iterable[int] | None = None,
    rng: np.random.Generator | int | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``n`` negative item indices: uniform ones plus popularity-aware "hard" ones.

    A share ``hard_fraction`` is drawn in proportion to ``popularity`` (popular
    items the user did not buy are hard negatives); the rest uniformly. Items in
    ``exclude`` (the user's own purchases) are never drawn; with ``candidates``
    only those items are drawn (e.g. to keep cold items out of training).
    """
    rng = np.random.default_rng(rng)
    if not 0.0 <= hard_fraction <= 1.0:
        raise CourseArgumentError(f"hard_fraction must be in [0, 1], got {hard_fraction}.")
    allowed = np.zeros(num_items, dtype=bool)
    if candidates is None:
        allowed[:] = True
    else:
        allowed[np.asarray(candidates, dtype=np.int64)] = True
    if exclude is not None:
        allowed[np.fromiter((int(i) for i in exclude), dtype=np.int64)] = False
    pool = np.flatnonzero(allowed)
    if len(pool) == 0:
        raise CourseArgumentError(
            "Every item is excluded; there is nothing to sample as a negative."
        )
    n_hard = int(round(n * hard_fraction)) if popularity is not None else 0
    out = [rng.choice(pool, size=n - n_hard)]
    if n_hard:
        weights = np.asarray(popularity, dtype=np.float64)[pool]
        if weights.sum() <= 0:
            out.append(rng.choice(pool, size=n_hard))
        else:
            out.append(rng.choice(pool, size=n_hard, p=weights / weights.sum()))
    return np.concatenate(out).astype(np.int64)


class TwoTowerCollator:
    """Collate :class:`NextItemDataset` examples into padded tensors with sampled negatives.

    The batch is a dict of ``history_ids`` ``[B, H]`` (right-padded with 0),
    ``history_mask`` ``[B, H]`` (bool), ``positive`` ``[B]`` and ``negatives``
    ``[B, num_negatives]`` (each row avoids that example's history and positive,
    or, given ``user_items``, everything that user ever bought).

    Args:
        num_items: catalog size.
        num_negatives: sampled negatives per example (0 for in-batch or cosine losses).
        popularity: purchase counts, for popularity-aware hard negatives.
        hard_fraction: share of negatives drawn by popularity.
        candidates: the only items that may be drawn (e.g. warm items).
        user_items: per user row, all their items (e.g. the training sequences).
        seed: seed of the sampler.
    """

    def __init__(
        self,
        num_items: int,
        num_negatives: int = 4,
        popularity: np.ndarray | None = None,
        hard_fraction: float = 0.5,
        candidates: np.ndarray | None = None,
        user_items: Sequence[Iterable[int]] | None = None,
        seed: int = 0,
    ):
        self.num_items = num_items
        self.num_negatives = num_negatives
        self.popularity = popularity
        self.hard_fraction = hard_fraction
        self.candidates = candidates
        self.user_items = user_items
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._worker: int | None = None

    def _worker_rng(self) -> np.random.Generator:
        """The sampler's generator; each DataLoader worker gets its own, seeded from torch."""
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != info.id:  # this copy lives in a worker process
            self._worker = info.id
            self.rng = np.random.default_rng([self.seed, info.seed])
        return self.rng

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        rng = self._worker_rng()
        width = max(1, max(len(e["history"]) for e in examples))
        history = torch.zeros(len(examples), width, dtype=torch.long)
        mask = torch.zeros(len(examples), width, dtype=torch.bool)
        negatives = torch.zeros(len(examples), self.num_negatives, dtype=torch.long)
        for row, e in enumerate(examples):
            n = len(e["history"])
            history[row, :n] = torch.as_tensor(e["history"], dtype=torch.long)
            mask[row, :n] = True
            if self.num_negatives:
                bought = e["history"] if self.user_items is None else self.user_items[e["user"]]
                negatives[row] = torch.from_numpy(sample_negatives(
                    self.num_negatives, self.num_items, self.popularity, self.hard_fraction,
                    exclude=[*bought, e["positive"]], rng=rng, candidates=self.candidates,
                ))
        positive = torch.as_tensor([e["positive"] for e in examples], dtype=torch.long)
        return {"history_ids": history, "history_mask": mask, "positive": positive,
                "negatives": negatives}


def pad_histories(histories: Sequence[Sequence[int]],
                  max_history: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(history_ids, history_mask)`` of each history's last ``max_history`` items."""
    cut = [list(h)[-max_history:] for h in histories]
    width = max(1, max((len(h) for h in cut), default=1))
    ids = torch.zeros(len(cut), width, dtype=torch.long)
    mask = torch.zeros(len(cut), width, dtype=torch.bool)
    for row, h in enumerate(cut):
        ids[row, : len(h)] = torch.as_tensor(h, dtype=torch.long)
        mask[row, : len(h)] = True
    return ids, mask


@dataclass
class ColdStartSplit:
    """Items held out of training entirely, and the evaluation cases that target them.

    Attributes:
        cold_items: indices of the held-out items (text, but no training purchases).
        train_sequences: every user's sequence with the cold items removed.
        users: users evaluated on a cold item (rows of the sequences).
        histories: each such user's warm purchases before their first cold purchase.
        targets: that first cold item.
    """

    cold_items: np.ndarray
    train_sequences: list[list[int]]
    users: np.ndarray
    histories: list[list[int]]
    targets: np.ndarray


def split_cold_items(
    sequences: Sequence[Sequence[int]],
    num_items: int,
    frac: float = 0.1,
    seed: int = 0,
    min_history: int = 1,
) -> ColdStartSplit:
    """Hold out a random ``frac`` of the bought items as new ("cold") items.

    Cold items are removed from every training sequence. A user whose
    sequence reaches a cold item after at least ``min_history`` warm items
    becomes an evaluation case: history = the warm items before it, target = the
    first such cold item. Rank the target among all items, or only among ``cold_items``
    (``recommend(..., candidates=split.cold_items)``); ID-based baselines give
    cold items no signal.
    """
    if not 0 < frac < 1:
        raise CourseArgumentError(f"frac must be between 0 and 1, got {frac}.")
    bought = np.flatnonzero(item_popularity(sequences, num_items))
    n_cold = max(1, int(round(frac * len(bought))))
    if n_cold >= len(bought):
        raise CourseDataError("Too few bought items to hold some out; lower frac or add data.")
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(bought, size=n_cold, replace=False))
    is_cold = np.zeros(num_items, dtype=bool)
    is_cold[cold] = True
    train, users, histories, targets = [], [], [], []
    for u, seq in enumerate(sequences):
        warm: list[int] = []
        found = False
        for item in seq:
            if is_cold[item]:
                if not found and len(warm) >= min_history:
                    users.append(u)
                    histories.append(list(warm))
                    targets.append(item)
                    found = True
            else:
                warm.append(item)
        train.append(warm)
    if not users:
        raise CourseDataError(
            "No user bought a cold item after a warm one; raise frac or use more data."
        )
    return ColdStartSplit(cold, train, np.asarray(users), histories, np.asarray(targets))



@dataclass
class LeaveLastOutSplits:
    """Lesson 04's splits: cold items out, then each user's last purchase for test and the
    one before it for validation.

    Attributes:
        cold: the :class:`ColdStartSplit` (its ``train_sequences`` have no cold item).
        train: the training sequences (validation and test purchases removed).
        train_plus_valid: the sequences at test time (the test purchase removed).
        valid_users, valid_targets, test_users, test_targets: rows and held-out items.
    """

    cold: ColdStartSplit
    train: list[list[int]]
    train_plus_valid: list[list[int]]
    valid_users: np.ndarray
    valid_targets: np.ndarray
    test_users: np.ndarray
    test_targets: np.ndarray

    @property
    def valid_histories(self) -> list[list[int]]:
        """Each validation user's training sequence: their history at validation time."""
        return [self.train[u] for u in self.valid_users]

    @property
    def test_histories(self) -> list[list[int]]:
        """Each test user's history at test time (their validation purchase included)."""
        return [self.train_plus_valid[u] for u in self.test_users]


def leave_last_out_splits(sequences: Sequence[Sequence[int]], num_items: int,
                          cold_fraction: float, seed: int) -> LeaveLastOutSplits:
    """The splits of lesson 04 (:func:`split_cold_items`, then :func:`leave_last_out` twice).

    Raises:
        CourseDataError: a held-out purchase or a cold item is in a training sequence.
    """
    cold = split_cold_items(sequences, num_items, frac=cold_fraction, seed=seed)
    train_plus_valid, test_users, test_targets = leave_last_out(cold.train_sequences)
    train, valid_users, valid_targets = leave_last_out(train_plus_valid)
    splits = LeaveLastOutSplits(cold, train, train_plus_valid, valid_users, valid_targets,
                                test_users, test_targets)
    if set(cold.cold_items.tolist()) & {i for s in train for i in s}:
        raise CourseDataError("A cold item is in a training sequence: the split leaks.")
    for users, targets, seen in ((valid_users, valid_targets, train),
                                 (test_users, test_targets, train_plus_valid)):
        if any(t in seen[u] for u, t in zip(users.tolist(), targets.tolist(), strict=True)):
            raise CourseDataError("A held-out purchase is in its user's history: the split leaks.")
    return splits
