"""Hard negatives for the bi-encoder (lesson 09): mine them, filter false ones, train on them.

In-batch training (lesson 05) pushes a query away from the *other queries' products*: mostly
products of another type, which the model already tells apart. A **hard negative** is a
product that looks relevant to a retriever but is not labelled so:

* :func:`negative_pools`: per query, the top ``depth`` products of a retriever (BM25, or the
  bi-encoder itself) that are not among the query's known positives;
* :func:`filter_pools`: drop the products a cross-encoder scores as likely relevant: an
  unlabelled relevant product is a **false negative**, and training against it teaches the
  wrong thing (RocketQA, Qu et al. 2021);
* :func:`false_negative_share`: with mini-shop's catalogue-wide grades, how many mined
  negatives really were relevant;
* :func:`draw_negatives`: one negative per training pair, seeded;
* :class:`TripletPairs` and :func:`hard_negative_loss`: (query, positive, negative) batches
  and the in-batch softmax over every positive and every negative of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from course.errors import CourseArgumentError, CourseDataError
from course.search.pipeline import QueryProductPairs, _pad
from course.text import encode_pairs

__all__ = [
    "TripletPairs",
    "draw_negatives",
    "false_negative_share",
    "filter_pools",
    "hard_negative_loss",
    "hard_negative_softmax",
    "negative_pools",
]


def negative_pools(ranked: Sequence[Sequence[int]], positives: Sequence[set[int]],
                   depth: int = 30) -> list[np.ndarray]:
    """Per query: the retriever's top ``depth`` catalogue rows, known positives removed."""
    if len(ranked) != len(positives):
        raise CourseDataError(f"Got {len(ranked)} ranked lists for {len(positives)} queries.")
    if depth < 1:
        raise CourseArgumentError(f"depth must be >= 1, got {depth}.")
    return [np.asarray([int(r) for r in rows[:depth] if int(r) not in known], dtype=np.int64)
            for rows, known in zip(ranked, positives, strict=True)]


def filter_pools(pools: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                 threshold: float) -> list[np.ndarray]:
    """Keep the pool products the cross-encoder scores below ``threshold`` (expected gain)."""
    out = []
    for pool, score in zip(pools, scores, strict=True):
        score = np.asarray(score, dtype=float)
        if len(score) != len(pool):
            raise CourseDataError(f"A pool of {len(pool)} products got {len(score)} scores.")
        out.append(np.asarray(pool)[score < threshold])
    return out


def false_negative_share(pools: Sequence[np.ndarray], gains: np.ndarray,
                         relevant: float = 1.0) -> float:
    """Share of pooled negatives whose true gain (catalogue-wide) is at least ``relevant``."""
    gains = np.asarray(gains)
    if len(pools) != len(gains):
        raise CourseDataError(f"Got {len(pools)} pools for {len(gains)} rows of gains.")
    hits = sum(int((gains[row][np.asarray(pool, dtype=np.int64)] >= relevant).sum())
               for row, pool in enumerate(pools))
    total = sum(len(pool) for pool in pools)
    return hits / total if total else float("nan")


def draw_negatives(pools: Sequence[np.ndarray], query_rows: Sequence[int],
                   positives: Sequence[set[int]], n_products: int, seed: int = 0) -> np.ndarray:
    """One negative catalogue row per training pair, uniform from its query's pool.

    ``query_rows[i]`` is the pool (and positive set) of pair ``i``. An empty pool falls
    back to a random product that is not a known positive.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(len(query_rows), dtype=np.int64)
    for i, row in enumerate(query_rows):
        pool = pools[row]
        if len(pool):
            out[i] = pool[int(rng.integers(len(pool)))]
            continue
        for _ in range(100):
            pick = int(rng.integers(n_products))
            if pick not in positives[row]:
                break
        out[i] = pick
    return out


class TripletPairs(QueryProductPairs):
    """Tokenized (query, positive, negative) triples, optionally with teacher scores.

    Args:
        tokenizer: the bi-encoder's tokenizer.
        queries, positives, negatives: texts, one of each per triple.
        item_ids, negative_ids: product ids of the positives and the negatives.
        teacher_pos, teacher_neg: the cross-encoder's scores of (query, positive) and
            (query, negative), for distillation (``course.search.distill``).
    """

    def __init__(self, tokenizer, queries: Sequence[str], positives: Sequence[str],
                 negatives: Sequence[str], item_ids: Sequence[int], negative_ids: Sequence[int],
                 teacher_pos: Sequence[float] | None = None,
                 teacher_neg: Sequence[float] | None = None,
                 query_length: int = 24, product_length: int = 64):
        super().__init__(tokenizer, queries, positives, item_ids, query_length, product_length)
        if not len(negatives) == len(negative_ids) == len(queries):
            raise CourseDataError(
                f"Got {len(queries)} queries, {len(negatives)} negatives and "
                f"{len(negative_ids)} negative ids; pass one of each per query."
            )
        self.negatives = encode_pairs(tokenizer, list(negatives), max_length=product_length)[
            "input_ids"]
        self.negative_ids = [int(i) for i in negative_ids]
        self.teacher = None
        if teacher_pos is not None or teacher_neg is not None:
            if teacher_pos is None or teacher_neg is None or not (
                    len(teacher_pos) == len(teacher_neg) == len(queries)):
                raise CourseDataError("Pass teacher_pos and teacher_neg, one score per triple.")
            self.teacher = np.stack([np.asarray(teacher_pos, float),
                                     np.asarray(teacher_neg, float)], axis=1)
        self.lengths = [n + len(x) for n, x in zip(self.lengths, self.negatives, strict=True)]

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        item.update(negative=self.negatives[i], negative_id=self.negative_ids[i])
        if self.teacher is not None:
            item["teacher"] = self.teacher[i]
        return item

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        """Pad queries, positives and negatives separately; keep ids and teacher scores."""
        batch = super().collate(features)
        ids, mask = _pad([f["negative"] for f in features], self.pad_id)
        batch["negative_input_ids"], batch["negative_attention_mask"] = ids, mask
        batch["negative_ids"] = torch.tensor([f["negative_id"] for f in features])
        if self.teacher is not None:
            batch["teacher"] = torch.tensor(np.stack([f["teacher"] for f in features]),
                                            dtype=torch.float32)
        return batch


def hard_negative_softmax(queries: torch.Tensor, positives: torch.Tensor,
                          negatives: torch.Tensor, temperature: float = 0.05,
                          item_ids: torch.Tensor | None = None,
                          negative_ids: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE over ``[positives; negatives]``: row ``i``'s target is positive ``i``.

    Each query is pushed away from every other positive of the batch *and* every mined
    negative. With ids, a column holding the row's own positive product (a duplicate) is
    masked, so a query is never pushed away from what it should find.
    """
    if temperature <= 0:
        raise CourseArgumentError(f"temperature must be > 0, got {temperature}.")
    if not queries.shape == positives.shape == negatives.shape:
        raise CourseArgumentError(
            f"queries, positives and negatives must share a shape; got {tuple(queries.shape)}, "
            f"{tuple(positives.shape)}, {tuple(negatives.shape)}."
        )
    logits = queries @ torch.cat([positives, negatives]).T / temperature
    if item_ids is not None and negative_ids is not None:
        columns = torch.cat([item_ids, negative_ids])
        same = item_ids[:, None] == columns[None, :]
        target = torch.zeros_like(same)
        target[torch.arange(len(item_ids)), torch.arange(len(item_ids))] = True
        logits = logits.masked_fill(same & ~target, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def hard_negative_loss(temperature: float = 0.05):
    """A ``loss_fn`` for ``course.train.fit`` over :class:`TripletPairs` batches."""

    def loss_fn(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        q = model(batch["query_input_ids"], batch["query_attention_mask"])
        p = model(batch["product_input_ids"], batch["product_attention_mask"])
        n = model(batch["negative_input_ids"], batch["negative_attention_mask"])
        return hard_negative_softmax(q, p, n, temperature, batch["item_ids"],
                                     batch["negative_ids"])

    return loss_fn
