"""The ranking-loss recommender: two towers, data prep, baselines, retrieval and evaluation.

Item ids are integer *indices* ``0 .. num_items-1`` everywhere in this module;
:func:`build_id_maps` turns raw ids (stock codes, SKUs) into indices and back.
A user's *sequence* is the time-ordered list of item indices they bought.

Pieces:

* metrics for one held-out item per user: :func:`recall_at_k`, :func:`ndcg_at_k`,
  :func:`mrr`, :func:`catalog_coverage`, :func:`evaluate_recommender`;
* :func:`topk_retrieval`: exact top-k by chunked matrix product, bounded memory;
* data prep: :func:`build_id_maps`, :func:`leave_last_out`, :class:`NextItemDataset`,
  :func:`sample_negatives`, :class:`TwoTowerCollator`, :func:`make_loss_fn`;
* :class:`TwoTower`: BERT item tower + recency-weighted user tower;
* baselines: :class:`PopularityRecommender`, :class:`ItemKNNRecommender`, :class:`BPRMF`;
* :func:`explain_recommendation` and cold-start helpers (:func:`split_cold_items`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course.errors import CourseDataError
from course.losses import bpr_loss, cosine_loss, in_batch_softmax_loss, seed_sort_loss

# ---------------------------------------------------------------------------
# Metrics (one held-out target item per user)
# ---------------------------------------------------------------------------


def _as_rank_inputs(recommendations, targets) -> tuple[np.ndarray, np.ndarray]:
    recs = np.asarray(recommendations)
    tgts = np.asarray(targets)
    if recs.ndim != 2 or tgts.ndim != 1 or len(recs) != len(tgts):
        raise CourseDataError(
            f"recommendations must be [n_users, k] and targets [n_users]; got shapes "
            f"{recs.shape} and {tgts.shape}. Pass one ranked list and one target per user."
        )
    return recs, tgts


def _hit_positions(recommendations, targets, k: int | None = None) -> np.ndarray:
    """0-based position of each user's target in their list, or -1 when absent."""
    recs, tgts = _as_rank_inputs(recommendations, targets)
    if k is not None:
        recs = recs[:, :k]
    hits = recs == tgts[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def recall_at_k(recommendations, targets, k: int = 10) -> float:
    """Share of users whose held-out item is in their top ``k`` (= HR@k with one target)."""
    return float((_hit_positions(recommendations, targets, k) >= 0).mean())


def ndcg_at_k(recommendations, targets, k: int = 10) -> float:
    """Mean NDCG@k with one relevant item per user: ``1 / log2(rank + 1)`` when it is in the top k."""
    pos = _hit_positions(recommendations, targets, k)
    gains = 1.0 / np.log2(np.maximum(pos, 0) + 2.0)
    return float(np.where(pos >= 0, gains, 0.0).mean())


def mrr(recommendations, targets) -> float:
    """Mean reciprocal rank of the target within each list (0 when absent).

    This is MRR truncated at the list length: pass longer lists for a closer value.
    """
    pos = _hit_positions(recommendations, targets)
    return float(np.where(pos >= 0, 1.0 / (np.maximum(pos, 0) + 1.0), 0.0).mean())


def catalog_coverage(recommendations, num_items: int, k: int | None = None) -> float:
    """Share of the catalog that appears in at least one user's top ``k``."""
    if num_items <= 0:
        raise CourseDataError(f"num_items must be positive, got {num_items}.")
    recs = np.asarray(recommendations)
    if k is not None:
        recs = recs[:, :k]
    return float(len(np.unique(recs)) / num_items)


def evaluate_recommender(recommendations, targets, k: int = 10, num_items: int | None = None) -> dict:
    """Recall@k (= HR@k), NDCG@k, MRR and catalog coverage of ranked lists.

    Args:
        recommendations: ``[n_users, L]`` item indices, best first (``L >= k``;
            MRR uses the whole list, the other metrics its first ``k``).
        targets: ``[n_users]`` the held-out item of each user.
        k: cut-off.
        num_items: catalog size, for coverage (omitted when None).
    """
    recs, tgts = _as_rank_inputs(recommendations, targets)
    if recs.shape[1] < k:
        raise CourseDataError(f"Lists have {recs.shape[1]} items but k={k}; recommend at least k.")
    result = {
        f"recall@{k}": recall_at_k(recs, tgts, k),
        f"ndcg@{k}": ndcg_at_k(recs, tgts, k),
        "mrr": mrr(recs, tgts),
    }
    if num_items is not None:
        result[f"coverage@{k}"] = catalog_coverage(recs, num_items, k)
    return result


def comparison_table(results: Mapping[str, Mapping[str, float]]):
    """One row per model, one column per metric (a pandas DataFrame)."""
    import pandas as pd

    if not results:
        raise CourseDataError("No results to compare: pass {'model name': {'metric': value}}.")
    table = pd.DataFrame.from_dict({name: dict(m) for name, m in results.items()}, orient="index")
    table.index.name = "model"
    return table


def plot_comparison(table, metrics: Sequence[str] | None = None, title: str = "Recommenders compared"):
    """Grouped bar plot of a :func:`comparison_table`; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    columns = list(metrics) if metrics else [c for c in table.columns if not c.startswith("coverage")]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CourseDataError(f"Metrics {missing} are not in the table; choose from {list(table.columns)}.")
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(columns) * max(1, len(table)) / 2, 3.6))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(columns))
    for i, (name, row) in enumerate(table[columns].iterrows()):
        bars = ax.bar(x + i * width - 0.4 + width / 2, row.to_numpy(dtype=float), width, label=str(name))
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, columns)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Top-k retrieval by chunked matrix product
# ---------------------------------------------------------------------------


def _exclusion_pairs(exclude, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) arrays of the (user, item) pairs to leave out of the results."""
    if exclude is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(exclude) != n_users:
        raise CourseDataError(
            f"exclude has {len(exclude)} entries but there are {n_users} users; "
            "pass one collection of item indices per user (or None)."
        )
    rows = np.repeat(np.arange(n_users), [len(e) for e in exclude])
    cols = np.fromiter((int(i) for e in exclude for i in e), dtype=np.int64, count=len(rows))
    return rows, cols


def retrieval_block_bytes(n_users: int, n_items: int, user_chunk: int, chunk_size: int) -> int:
    """Bytes of the largest temporary score block :func:`topk_retrieval` allocates (fp32)."""
    return min(n_users, user_chunk) * min(n_items, chunk_size) * 4


def topk_retrieval(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    k: int = 10,
    chunk_size: int = 4096,
    user_chunk: int = 1024,
    exclude: Sequence[Iterable[int]] | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k items per user by inner product, in bounded memory.

    The items are processed ``chunk_size`` at a time and the users
    ``user_chunk`` at a time, so the largest temporary score block is
    ``user_chunk x chunk_size`` floats, whatever the catalog size. A running
    top-k per user is merged with each block's top-k.

    Args:
        user_vecs: ``[n_users, d]``.
        item_vecs: ``[n_items, d]``.
        k: how many items per user.
        chunk_size: items per block.
        user_chunk: users per block.
        exclude: per user, item indices never to return (e.g. already bought).
        progress: show a tqdm bar over item blocks.

    Returns:
        ``(scores, indices)``, both ``[n_users, k]``, best first. Slots that
        exclusion left empty hold score ``-inf``.
    """
    if user_vecs.ndim != 2 or item_vecs.ndim != 2 or user_vecs.shape[1] != item_vecs.shape[1]:
        raise CourseDataError(
            f"user_vecs [n_users, d] and item_vecs [n_items, d] must share d; got "
            f"{tuple(user_vecs.shape)} and {tuple(item_vecs.shape)}."
        )
    n_users, n_items = user_vecs.shape[0], item_vecs.shape[0]
    if not 1 <= k <= n_items:
        raise CourseDataError(f"k must be between 1 and the catalog size {n_items}, got {k}.")
    if chunk_size < 1 or user_chunk < 1:
        raise CourseDataError("chunk_size and user_chunk must be positive integers.")
    rows, cols = _exclusion_pairs(exclude, n_users)
    dtype = torch.promote_types(user_vecs.dtype, item_vecs.dtype)
    users = user_vecs.to(dtype)
    best_scores = torch.full((n_users, k), float("-inf"), dtype=dtype, device=users.device)
    best_index = torch.zeros((n_users, k), dtype=torch.long, device=users.device)
    block = torch.empty(
        min(n_users, user_chunk) * min(n_items, chunk_size), dtype=dtype, device=users.device
    )
    starts = range(0, n_items, chunk_size)
    for i0 in tqdm(starts, desc="top-k retrieval", unit="block", disable=not progress):
        items_t = item_vecs[i0 : i0 + chunk_size].to(dtype).T.contiguous()
        n_block = items_t.shape[1]
        in_block = (cols >= i0) & (cols < i0 + n_block)
        for u0 in range(0, n_users, user_chunk):
            u1 = min(u0 + user_chunk, n_users)
            scores = block[: (u1 - u0) * n_block].view(u1 - u0, n_block)
            torch.mm(users[u0:u1], items_t, out=scores)
            mask = in_block & (rows >= u0) & (rows < u1)
            if mask.any():
                r = torch.from_numpy(rows[mask] - u0).to(scores.device)
                c = torch.from_numpy(cols[mask] - i0).to(scores.device)
                scores[r, c] = float("-inf")
            _merge_block(scores, i0, best_scores[u0:u1], best_index[u0:u1])
    return best_scores, best_index


def _merge_block(scores: torch.Tensor, offset: int, best_s: torch.Tensor, best_i: torch.Tensor) -> None:
    """Merge one ``[users, items]`` score block into the running top-k (in place).

    Only users whose best score in the block beats their current k-th best can
    change. After the first blocks these are few, so one cheap row maximum skips
    the ``topk`` for most users.
    """
    k = best_s.shape[1]
    touched = (scores.amax(dim=1) > best_s[:, -1]).nonzero().squeeze(1)
    if touched.numel() == 0:
        return
    rows = scores if touched.numel() == scores.shape[0] else scores[touched]
    top_s, top_i = rows.topk(min(k, scores.shape[1]), dim=1)
    merged_s = torch.cat([best_s[touched], top_s], dim=1)
    merged_i = torch.cat([best_i[touched], top_i + offset], dim=1)
    keep_s, keep = merged_s.topk(k, dim=1)
    best_s[touched] = keep_s
    best_i[touched] = merged_i.gather(1, keep)


# ---------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------


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
    return IdMaps(users, catalog, {u: i for i, u in enumerate(users)}, {t: i for i, t in enumerate(catalog)})


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
        raise CourseDataError("min_length must be at least 2: a user needs a history and a target.")
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
        raise CourseDataError(f"Item indices must lie in [0, {num_items}); map ids with build_id_maps.")
    return np.bincount(flat, minlength=num_items).astype(np.float64)


class NextItemDataset(torch.utils.data.Dataset):
    """Next-item training examples: for every user and position, history -> next item.

    Example ``j`` is a dict ``{"user": u, "history": [...], "positive": item}``,
    where ``history`` holds at most ``max_history`` items bought before
    ``positive`` (most recent last).
    """

    def __init__(self, sequences: Sequence[Sequence[int]], max_history: int = 20, min_history: int = 1):
        if max_history < 1 or min_history < 1:
            raise CourseDataError("max_history and min_history must be at least 1.")
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
        raise CourseDataError(f"hard_fraction must be in [0, 1], got {hard_fraction}.")
    allowed = np.zeros(num_items, dtype=bool)
    if candidates is None:
        allowed[:] = True
    else:
        allowed[np.asarray(candidates, dtype=np.int64)] = True
    if exclude is not None:
        allowed[np.fromiter((int(i) for i in exclude), dtype=np.int64)] = False
    pool = np.flatnonzero(allowed)
    if len(pool) == 0:
        raise CourseDataError("Every item is excluded; there is nothing to sample as a negative.")
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
        return {"history_ids": history, "history_mask": mask, "positive": positive, "negatives": negatives}


def pad_histories(histories: Sequence[Sequence[int]], max_history: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(history_ids, history_mask)`` of the last ``max_history`` items of each history."""
    cut = [list(h)[-max_history:] for h in histories]
    width = max(1, max((len(h) for h in cut), default=1))
    ids = torch.zeros(len(cut), width, dtype=torch.long)
    mask = torch.zeros(len(cut), width, dtype=torch.bool)
    for row, h in enumerate(cut):
        ids[row, : len(h)] = torch.as_tensor(h, dtype=torch.long)
        mask[row, : len(h)] = True
    return ids, mask


# ---------------------------------------------------------------------------
# The two-tower model
# ---------------------------------------------------------------------------


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps (``[B, T, d]`` -> ``[B, d]``)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


class TwoTower(nn.Module):
    """BERT item tower + recency-weighted user tower, both L2-normalised.

    * Item tower: the encoder reads an item's text; mean pooling over the
      attention mask, an optional ``Linear`` projection, L2 normalisation.
    * User tower: the item vectors of the user's history, pooled with weights
      that halve every ``half_life`` positions back from the latest purchase
      (learnable by default), then a residual MLP (initialised to the identity
      map), L2 normalisation.
    * Query tower (search as retrieval): :meth:`query_vectors` runs the item
      tower on query text.

    With ``freeze_encoder=True`` (the fast CPU path) the encoder runs once over
    the catalog (:meth:`encode_items`) and its outputs are cached; only the
    projection, the half-life and the user MLP train. With ``False`` the
    encoder is fine-tuned and item vectors are recomputed in every step.

    Args:
        encoder: a Hugging Face encoder (``course.models.load_encoder``).
        tokenizer: its tokenizer (``course.models.load_tokenizer``).
        item_texts: the text of every item, indexed by item index.
        projection_dim: size of the projection; None keeps the encoder size, no projection.
        freeze_encoder: cache item embeddings and train only the small parts.
        half_life: initial recency half-life, in purchases.
        learn_half_life: whether the half-life is trained.
        user_hidden: width of the user MLP (default: twice the vector size).
        max_length: tokens kept per item text.
        batch_size: batch size for encoding the catalog.
        progress: show a tqdm bar while encoding.
        item_embeddings: precomputed :meth:`encode_items` output for ``item_texts``
            (frozen mode only), e.g. loaded from disk, to skip encoding.
    """

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer,
        item_texts: Sequence[str],
        *,
        projection_dim: int | None = None,
        freeze_encoder: bool = True,
        half_life: float = 5.0,
        learn_half_life: bool = True,
        user_hidden: int | None = None,
        max_length: int = 64,
        batch_size: int = 64,
        progress: bool = True,
        item_embeddings: torch.Tensor | None = None,
    ):
        super().__init__()
        if len(item_texts) == 0:
            raise CourseDataError("item_texts is empty; pass the text of every item in the catalog.")
        if half_life <= 0:
            raise CourseDataError(f"half_life must be positive, got {half_life}.")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.freeze_encoder = freeze_encoder
        self.progress = progress
        hidden = encoder.config.hidden_size
        self.dim = projection_dim or hidden
        if projection_dim:
            self.projection: nn.Module = nn.Linear(hidden, projection_dim)
            nn.init.orthogonal_(self.projection.weight)  # keeps the encoder's geometry at the start
            nn.init.zeros_(self.projection.bias)
        else:
            self.projection = nn.Identity()
        log_hl = torch.tensor(math.log(half_life))
        if learn_half_life:
            self.log_half_life = nn.Parameter(log_hl)
        else:
            self.register_buffer("log_half_life", log_hl)
        width = user_hidden or 2 * self.dim
        self.user_mlp = nn.Sequential(nn.Linear(self.dim, width), nn.GELU(), nn.Linear(width, self.dim))
        nn.init.zeros_(self.user_mlp[2].weight)  # residual branch starts at zero: u = pooled history
        nn.init.zeros_(self.user_mlp[2].bias)
        tokens = tokenizer(list(item_texts), padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt")
        self.register_buffer("item_input_ids", tokens["input_ids"], persistent=False)
        self.register_buffer("item_attention_mask", tokens["attention_mask"], persistent=False)
        if freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.encoder.eval()
            if item_embeddings is None:
                item_embeddings = self.encode_items(list(item_texts), tokenizer, batch_size)
            elif tuple(item_embeddings.shape) != (len(item_texts), hidden):
                raise CourseDataError(
                    f"item_embeddings must be [{len(item_texts)}, {hidden}] (one encoder vector per "
                    f"item text), got {tuple(item_embeddings.shape)}; recompute them with encode_items."
                )
            self.register_buffer("item_cache", item_embeddings.float(), persistent=False)

    @property
    def num_items(self) -> int:
        """Catalog size."""
        return self.item_input_ids.shape[0]

    @property
    def half_life(self) -> float:
        """Current recency half-life, in purchases."""
        return float(self.log_half_life.detach().exp())

    def train(self, mode: bool = True):
        """Like ``nn.Module.train``, but a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        width = int(attention_mask.sum(dim=1).max())  # drop columns that are padding in every row
        input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    @torch.no_grad()
    def encode_items(self, texts: Sequence[str], tokenizer=None, batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled encoder outputs (before projection) for ``texts``, ``[n, hidden]``, no gradients.

        Texts are encoded in length-sorted batches (less padding) with a tqdm bar.
        """
        tokenizer = tokenizer or self.tokenizer
        device = next(self.encoder.parameters()).device
        was_training = self.encoder.training
        self.encoder.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = torch.empty(len(texts), self.encoder.config.hidden_size, device=device)
        for start in tqdm(range(0, len(texts), batch_size), desc="encoding items", unit="batch",
                          disable=not self.progress):
            rows = order[start : start + batch_size]
            tokens = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt").to(device)
            out[torch.as_tensor(rows, device=device)] = self._encode(
                tokens["input_ids"], tokens["attention_mask"]
            ).float()
        self.encoder.train(was_training)
        return out

    def _base_item_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            return self.item_cache[ids]
        return self._encode(self.item_input_ids[ids], self.item_attention_mask[ids])

    def item_vectors(self, item_ids: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised item vectors for ``item_ids`` (any shape; ``[..., dim]``), all items if None.

        Each distinct id is encoded once. With a fine-tuned encoder this runs
        the encoder with gradients; use :meth:`all_item_vectors` for the catalog.
        """
        if item_ids is None:
            item_ids = torch.arange(self.num_items, device=self.item_input_ids.device)
        item_ids = torch.as_tensor(item_ids, device=self.item_input_ids.device)
        unique, inverse = torch.unique(item_ids.reshape(-1), return_inverse=True)
        vecs = F.normalize(self.projection(self._base_item_vectors(unique)), dim=-1)
        return vecs[inverse].reshape(*item_ids.shape, -1)

    @torch.no_grad()
    def all_item_vectors(self, batch_size: int = 256) -> torch.Tensor:
        """Vectors of the whole catalog, ``[num_items, dim]``, without gradients."""
        if self.freeze_encoder:
            return self.item_vectors()
        chunks = [
            self.item_vectors(torch.arange(s, min(s + batch_size, self.num_items)))
            for s in tqdm(range(0, self.num_items, batch_size), desc="item vectors",
                          disable=not self.progress)
        ]
        return torch.cat(chunks)

    def recency_weights(self, history_mask: torch.Tensor) -> torch.Tensor:
        """Weights ``2 ** (-age / half_life)`` per history slot (age 0 = latest purchase), 0 on padding."""
        mask = history_mask.to(self.log_half_life.dtype)
        lengths = mask.sum(dim=1, keepdim=True)
        position = torch.arange(history_mask.shape[1], device=history_mask.device).to(mask.dtype)
        age = (lengths - 1 - position).clamp_min(0)
        return torch.exp(-age * math.log(2.0) / self.log_half_life.exp()) * mask

    def user_vectors(
        self,
        history_ids: torch.Tensor,
        history_mask: torch.Tensor,
        history_vecs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """L2-normalised user vectors ``[B, dim]`` from right-padded histories ``[B, H]``.

        Pass ``history_vecs`` (``[B, H, dim]``, or a ``[num_items, dim]`` table)
        to reuse item vectors computed already.
        """
        if history_vecs is None:
            history_vecs = self.item_vectors(history_ids)
        elif history_vecs.ndim == 2:
            history_vecs = history_vecs[history_ids]
        weights = self.recency_weights(history_mask.to(history_vecs.device))
        pooled = (weights.unsqueeze(-1) * history_vecs).sum(dim=1)
        pooled = pooled / weights.sum(dim=1, keepdim=True).clamp_min(1e-9)
        return F.normalize(pooled + self.user_mlp(pooled), dim=-1)

    def score(self, history_ids: torch.Tensor, history_mask: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Cosine scores of each user with ``item_ids`` (``[B]`` -> ``[B]``, ``[B, n]`` -> ``[B, n]``)."""
        users = self.user_vectors(history_ids, history_mask)
        items = self.item_vectors(item_ids)
        if items.ndim == 2:
            return (users * items).sum(dim=-1)
        return torch.einsum("bd,bnd->bn", users, items)

    def forward(
        self,
        history_ids: torch.Tensor,
        history_mask: torch.Tensor,
        positive: torch.Tensor,
        negatives: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """User vectors ``[B, dim]``, positive item vectors ``[B, dim]`` and negative ones ``[B, n, dim]``.

        Each distinct item of the batch (history, positives, negatives) is encoded once.
        """
        parts = [history_ids.reshape(-1), positive.reshape(-1)]
        if negatives is not None:
            parts.append(negatives.reshape(-1))
        table = self.item_vectors(torch.cat(parts))
        n_hist, n_pos = history_ids.numel(), positive.numel()
        users = self.user_vectors(history_ids, history_mask, table[:n_hist].reshape(*history_ids.shape, -1))
        pos = table[n_hist : n_hist + n_pos]
        neg = None if negatives is None else table[n_hist + n_pos :].reshape(*negatives.shape, table.shape[-1])
        return users, pos, neg

    def query_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """Query tower: the item tower over query text (search as retrieval), ``[n, dim]``."""
        device = self.item_input_ids.device
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            base = self._encode(tokens["input_ids"], tokens["attention_mask"])
        return F.normalize(self.projection(base), dim=-1)


def two_tower(
    model_name: str | None = None, item_texts: Sequence[str] = (), **kwargs
) -> TwoTower:
    """Build a :class:`TwoTower` from a model name (``course.models.resolve_model``)."""
    from course.models import load_encoder, load_tokenizer, resolve_model

    resolved = resolve_model(model_name)
    return TwoTower(load_encoder(resolved), load_tokenizer(resolved), item_texts, **kwargs)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def batch_vectors(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """User, positive and negative vectors of a collated batch, through ``model(...)``.

    Calling the model (not its methods) keeps this correct when the training
    engine wraps it in ``DistributedDataParallel``.
    """
    device = _model_device(model)
    negatives = batch.get("negatives")
    return model(
        batch["history_ids"].to(device),
        batch["history_mask"].to(device),
        batch["positive"].to(device),
        None if negatives is None else negatives.to(device),
    )


LOSS_KINDS = ("bpr", "cosine", "softmax", "sort")


def make_loss_fn(
    kind: str, temperature: float = 0.05, margin: float = 0.0, hinge: bool = False
) -> Callable[[TwoTower, Mapping[str, torch.Tensor]], torch.Tensor]:
    """A ``loss_fn(model, batch) -> scalar`` for the training engine.

    Kinds:
        ``"bpr"``: BPR on the sampled negatives, scores divided by ``temperature``;
        ``"cosine"``: ``-cos(user, positive)`` (no negatives);
        ``"softmax"``: in-batch softmax (InfoNCE), duplicate positives masked;
        ``"sort"``: the source material's sign-flipped ``L_sort`` (demonstration only).
    """
    if kind not in LOSS_KINDS:
        raise CourseDataError(f"Unknown loss kind {kind!r}; use one of {', '.join(LOSS_KINDS)}.")
    if temperature <= 0:
        raise CourseDataError(f"temperature must be > 0, got {temperature}.")

    def loss_fn(model: TwoTower, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        users, pos, neg = batch_vectors(model, batch)
        if kind == "cosine":
            return cosine_loss(users, pos)
        if kind == "softmax":
            return in_batch_softmax_loss(users, pos, temperature, item_ids=batch["positive"].to(users.device))
        if neg is None or neg.shape[1] == 0:
            raise CourseDataError(f"The {kind!r} loss needs sampled negatives; set num_negatives >= 1.")
        s_pos = (users * pos).sum(-1, keepdim=True) / temperature
        s_neg = torch.einsum("bd,bnd->bn", users, neg) / temperature
        s_pos = s_pos.expand_as(s_neg)
        if kind == "sort":
            return seed_sort_loss(s_pos, s_neg)
        return bpr_loss(s_pos, s_neg, margin=margin, hinge=hinge)

    loss_fn.__name__ = f"{kind}_loss_fn"
    return loss_fn


def user_vectors_for(model: TwoTower, histories: Sequence[Sequence[int]], max_history: int = 20,
                     batch_size: int = 1024, item_table: torch.Tensor | None = None) -> torch.Tensor:
    """User vectors for many histories, in batches, without gradients."""
    table = item_table if item_table is not None else model.all_item_vectors()
    out = []
    with torch.no_grad():
        for s in range(0, len(histories), batch_size):
            ids, mask = pad_histories(histories[s : s + batch_size], max_history)
            ids, mask = ids.to(table.device), mask.to(table.device)
            out.append(model.user_vectors(ids, mask, table[ids]))
    return torch.cat(out) if out else torch.zeros(0, table.shape[1])


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` (or similar) wrapper, else the model."""
    return getattr(model, "module", model)


def make_evaluate_fn(
    histories: Sequence[Sequence[int]], targets, k: int = 10, max_history: int = 20
) -> Callable[[nn.Module], dict[str, float]]:
    """An ``evaluate(model) -> {"recall@k", "ndcg@k", "mrr", "coverage@k"}`` for the training engine."""
    targets = np.asarray(targets)
    if len(histories) != len(targets):
        raise CourseDataError(f"{len(histories)} histories but {len(targets)} targets; pass one each.")

    def evaluate(model: nn.Module) -> dict[str, float]:
        tower = unwrap(model)
        recs = two_tower_recommend(tower, histories, k=k, max_history=max_history)
        return evaluate_recommender(recs, targets, k=k, num_items=tower.num_items)

    return evaluate


def _local_exclusions(candidates: np.ndarray, exclude, num_items: int):
    """Map exclusion lists into a candidate subset's local indices."""
    local = np.full(num_items, -1, dtype=np.int64)
    local[candidates] = np.arange(len(candidates))
    return [[int(local[i]) for i in e if local[i] >= 0] for e in exclude] if exclude is not None else None


def two_tower_recommend(
    model: TwoTower,
    histories: Sequence[Sequence[int]],
    k: int = 10,
    exclude_seen: bool = True,
    max_history: int = 20,
    candidates: np.ndarray | None = None,
    chunk_size: int = 4096,
) -> np.ndarray:
    """Top-``k`` item indices per history with a trained :class:`TwoTower`, ``[n, k]``.

    With ``candidates`` only those items are ranked (e.g. the cold items).
    """
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
    local_exclude = _local_exclusions(candidates, exclude, model.num_items)
    _, idx = topk_retrieval(users, table[torch.as_tensor(candidates, device=table.device)], k,
                            chunk_size=chunk_size, exclude=local_exclude)
    return candidates[idx.cpu().numpy()]


# ---------------------------------------------------------------------------
# Baselines (ID-based): popularity, item-kNN, BPR matrix factorisation
# ---------------------------------------------------------------------------


class Recommender:
    """Common interface: ``fit(train_sequences)``, ``score_all(histories)``, ``recommend(histories, k)``.

    Items nobody bought in training (cold items) carry no signal for an
    ID-based model: they score 0 (popularity count 0, no co-purchases, zero
    BPR-MF factors), so among themselves their order is arbitrary.
    """

    num_items: int = 0

    def fit(self, train_sequences: Sequence[Sequence[int]], num_items: int | None = None) -> Recommender:
        """Learn from per-user item-index sequences; ``num_items`` includes never-bought items."""
        raise NotImplementedError

    def score_all(self, histories: Sequence[Sequence[int]], users: Sequence[int] | None = None) -> np.ndarray:
        """Scores ``[n, num_items]`` for each history (higher is better)."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.num_items:
            raise CourseDataError(f"{type(self).__name__} is not fitted; call fit(train_sequences) first.")

    def recommend(
        self,
        histories: Sequence[Sequence[int]],
        k: int = 10,
        exclude_seen: bool = True,
        users: Sequence[int] | None = None,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Top-``k`` item indices per history, ``[n, k]``; ``candidates`` restricts the ranking."""
        self._check_fitted()
        cand = None if candidates is None else torch.as_tensor(np.asarray(candidates, dtype=np.int64))
        out = []
        for s in range(0, len(histories), batch_size):
            chunk = histories[s : s + batch_size]
            scores = torch.as_tensor(self.score_all(chunk, None if users is None else users[s : s + batch_size]),
                                     dtype=torch.float32)
            if exclude_seen:
                rows = np.repeat(np.arange(len(chunk)), [len(h) for h in chunk])
                cols = np.fromiter((i for h in chunk for i in h), dtype=np.int64, count=len(rows))
                scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
            if cand is not None:
                scores = scores[:, cand]
            idx = scores.topk(k, dim=1).indices
            out.append((cand[idx] if cand is not None else idx).numpy())
        return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def _num_items(train_sequences, num_items):
    seen = max((max(s) for s in train_sequences if len(s)), default=-1) + 1
    if num_items is None:
        return seen
    if seen > num_items:
        raise CourseDataError(f"Item index {seen - 1} is out of range for num_items={num_items}.")
    return num_items


class PopularityRecommender(Recommender):
    """Recommends the most bought items to everyone."""

    def fit(self, train_sequences, num_items=None):
        self.num_items = _num_items(train_sequences, num_items)
        self.counts = item_popularity(train_sequences, self.num_items).astype(np.float32)
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        return np.broadcast_to(self.counts, (len(histories), self.num_items)).copy()


def interaction_matrix(sequences: Sequence[Sequence[int]], num_items: int):
    """Binary user x item matrix (scipy CSR) of who bought what."""
    from scipy import sparse

    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    cols = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=len(rows))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(sequences), num_items))
    matrix.data[:] = 1.0  # duplicates were summed; keep "bought or not"
    return matrix


class ItemKNNRecommender(Recommender):
    """Item-kNN on co-purchases: score(item) = sum over the history of cosine(item, history item).

    The cosine is between the items' binary buyer columns. ``neighbors`` keeps
    only each item's most similar items (None keeps all).
    """

    def __init__(self, neighbors: int | None = 100):
        self.neighbors = neighbors

    def fit(self, train_sequences, num_items=None):
        from scipy import sparse

        self.num_items = _num_items(train_sequences, num_items)
        x = interaction_matrix(train_sequences, self.num_items)
        co = (x.T @ x).tocsr().astype(np.float32)
        norms = np.sqrt(co.diagonal()).astype(np.float32)
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        sim = sparse.diags(inv) @ co @ sparse.diags(inv)
        sim = sim.tolil()
        sim.setdiag(0)
        sim = sim.tocsr()
        sim.eliminate_zeros()
        if self.neighbors is not None:
            sim = _keep_top_per_row(sim, self.neighbors)
        self.similarity = sim
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        h = interaction_matrix(histories, self.num_items)
        # sim is built row-wise per item; score = sum_j sim[j, item] over history items j
        return np.asarray((h @ self.similarity).todense(), dtype=np.float32)


def _keep_top_per_row(matrix, top: int):
    """Keep the ``top`` largest entries of each CSR row."""
    from scipy import sparse

    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        data, idx = matrix.data[lo:hi], matrix.indices[lo:hi]
        if len(data) > top:
            keep = np.argpartition(-data, top - 1)[:top]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(data), r))
        cols.append(idx)
        vals.append(data)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=matrix.shape)


class BPRMF(Recommender):
    """Matrix factorisation trained with the BPR loss (torch, Adam, uniform negatives).

    User ``u`` scores item ``i`` as ``P[u] . Q[i]``. The users are the rows of
    the training sequences, so :meth:`score_all` needs ``users`` (row numbers)
    unless the histories are the training rows in order. Items never bought in
    training keep zero factors (score 0).
    """

    def __init__(self, factors: int = 64, epochs: int = 30, lr: float = 0.01, reg: float = 1e-4,
                 batch_size: int = 4096, seed: int = 0, progress: bool = True):
        self.factors, self.epochs, self.lr, self.reg = factors, epochs, lr, reg
        self.batch_size, self.seed, self.progress = batch_size, seed, progress

    def fit(self, train_sequences, num_items=None):
        self.num_items = _num_items(train_sequences, num_items)
        x = interaction_matrix(train_sequences, self.num_items).tocoo()
        if x.nnz == 0:
            raise CourseDataError("BPRMF needs at least one purchase to train on.")
        gen = torch.Generator().manual_seed(self.seed)
        n_users = len(train_sequences)
        users_t = torch.as_tensor(x.row, dtype=torch.long)
        items_t = torch.as_tensor(x.col, dtype=torch.long)
        warm = torch.as_tensor(np.unique(x.col), dtype=torch.long)
        user_f = nn.Parameter(torch.randn(n_users, self.factors, generator=gen) * 0.1)
        item_f = nn.Parameter(torch.randn(self.num_items, self.factors, generator=gen) * 0.1)
        opt = torch.optim.Adam([user_f, item_f], lr=self.lr)
        for _ in tqdm(range(self.epochs), desc="BPR-MF", unit="epoch", disable=not self.progress):
            order = torch.randperm(len(users_t), generator=gen)
            for s in range(0, len(order), self.batch_size):
                b = order[s : s + self.batch_size]
                u, i = users_t[b], items_t[b]
                j = warm[torch.randint(len(warm), (len(b),), generator=gen)]
                pu, qi, qj = user_f[u], item_f[i], item_f[j]
                loss = bpr_loss((pu * qi).sum(-1), (pu * qj).sum(-1))
                loss = loss + self.reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()) / len(b)
                opt.zero_grad()
                loss.backward()
                opt.step()
        cold = torch.ones(self.num_items, dtype=torch.bool)
        cold[warm] = False
        self.user_factors = user_f.detach()
        self.item_factors = item_f.detach().masked_fill(cold[:, None], 0.0)
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        if users is None:
            if len(histories) != len(self.user_factors):
                raise CourseDataError(
                    "BPRMF scores known users only: pass users= (their row numbers in the "
                    "training sequences) for these histories."
                )
            users = np.arange(len(histories))
        rows = torch.as_tensor(np.asarray(users, dtype=np.int64))
        return (self.user_factors[rows] @ self.item_factors.T).numpy()


# ---------------------------------------------------------------------------
# Explanations and cold start
# ---------------------------------------------------------------------------


def explain_recommendation(item_vecs, history_ids: Sequence[int], item_id: int, top: int = 3) -> list[tuple[int, float]]:
    """"Why did it recommend this?": the history items closest to ``item_id`` by cosine.

    Returns:
        Up to ``top`` ``(history item index, cosine)`` pairs, closest first.
    """
    vecs = torch.as_tensor(np.asarray(item_vecs) if not isinstance(item_vecs, torch.Tensor) else item_vecs)
    history = list(dict.fromkeys(int(i) for i in history_ids))
    if not history:
        raise CourseDataError("The history is empty; there is nothing to explain the recommendation with.")
    if not 0 <= item_id < len(vecs) or min(history) < 0 or max(history) >= len(vecs):
        raise CourseDataError(f"Item indices must lie in [0, {len(vecs)}).")
    vecs = F.normalize(vecs.float(), dim=-1)
    cos = vecs[history] @ vecs[item_id]
    best = cos.topk(min(top, len(history)))
    return [(history[i], float(c)) for c, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)]


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
    sequences: Sequence[Sequence[int]], num_items: int, frac: float = 0.1, seed: int = 0, min_history: int = 1
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
        raise CourseDataError(f"frac must be between 0 and 1, got {frac}.")
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
        warm = []
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
        raise CourseDataError("No user bought a cold item after a warm one; raise frac or use more data.")
    return ColdStartSplit(cold, train, np.asarray(users), histories, np.asarray(targets))


def evaluate_baselines(
    train_sequences: Sequence[Sequence[int]],
    users: Sequence[int],
    targets,
    num_items: int,
    k: int = 10,
    models: Mapping[str, Recommender] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit and evaluate the ID baselines on a leave-last-out split (see :func:`leave_last_out`).

    Args:
        train_sequences: every user's training sequence.
        users: the evaluated users (rows of ``train_sequences``); their training
            sequence is their history.
        targets: each evaluated user's held-out item.
        num_items: catalog size.
        k: cut-off.
        models: name -> unfitted recommender; default popularity, item-kNN, BPR-MF.

    Returns:
        name -> metrics, ready for :func:`comparison_table`.
    """
    models = models or {
        "popularity": PopularityRecommender(),
        "item-kNN": ItemKNNRecommender(),
        "BPR-MF": BPRMF(),
    }
    users = np.asarray(users)
    histories = [list(train_sequences[u]) for u in users]
    results = {}
    for name, model in models.items():
        model.fit(train_sequences, num_items=num_items)
        recs = model.recommend(histories, k=k, users=users)
        results[name] = evaluate_recommender(recs, targets, k=k, num_items=num_items)
    return results
