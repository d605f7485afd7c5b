"""Training the two towers with the course engine: loss and evaluation functions.

``course.train.fit`` calls ``loss_fn(model, batch)`` and ``evaluate(model)``;
:func:`make_loss_fn` and :func:`make_evaluate_fn` build them. :func:`fit_text_two_tower`
trains lesson 04's text two-tower in one call (lesson 08 compares it with sequence models).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from course.errors import CourseArgumentError
from course.losses import bpr_loss, cosine_loss, in_batch_softmax_loss, seed_sort_loss
from course.recsys.data import NextItemDataset, TwoTowerCollator
from course.recsys.evaluation import evaluate_recommender
from course.recsys.recommender import two_tower_recommend, unwrap
from course.recsys.towers import ItemTower, TwoTower, UserTower

__all__ = [
    "LOSS_KINDS",
    "batch_vectors",
    "item_log_q",
    "make_evaluate_fn",
    "make_loss_fn",
    "fit_text_two_tower",
]

LOSS_KINDS = ("bpr", "cosine", "softmax", "softmax_logq", "sort")


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


def item_log_q(train_sequences: Sequence[Sequence[int]], num_items: int) -> torch.Tensor:
    """Log of each item's share of the training positives, for the logQ correction.

    In-batch softmax draws its negatives from the other positives of the batch,
    so an item appears as a negative in proportion to how often it is bought.
    Yi et al. (2019) subtract ``log q(item)`` from each logit to correct for it.
    The first item of a sequence is never a positive; the share counts every
    purchase, which differs from the positives' share by at most one per user.
    Items never bought get the smallest share seen, so the value stays finite.
    """
    counts = np.zeros(num_items, dtype=np.float64)
    for seq in train_sequences:
        np.add.at(counts, np.asarray(seq[1:], dtype=np.int64), 1.0)
    if counts.sum() == 0:
        raise CourseArgumentError("No training positives: every sequence has fewer than 2 items.")
    share = counts / counts.sum()
    share[share == 0] = share[share > 0].min()
    return torch.as_tensor(np.log(share), dtype=torch.float32)


def make_loss_fn(
    kind: str,
    temperature: float = 0.05,
    margin: float = 0.0,
    hinge: bool = False,
    log_q: torch.Tensor | None = None,
) -> Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]:
    """A ``loss_fn(model, batch) -> scalar`` for the training engine.

    Kinds:
        ``"bpr"``: BPR on the sampled negatives, scores divided by ``temperature``;
        ``"cosine"``: ``-cos(user, positive)`` (no negatives);
        ``"softmax"``: in-batch softmax (InfoNCE), duplicate positives masked;
        ``"softmax_logq"``: the same with the logQ correction (pass ``log_q``,
        from :func:`item_log_q`);
        ``"sort"``: the source material's sign-flipped ``L_sort`` (demonstration only).
    """
    if kind not in LOSS_KINDS:
        raise CourseArgumentError(
            f"Unknown loss kind {kind!r}; use one of {', '.join(LOSS_KINDS)}."
        )
    if temperature <= 0:
        raise CourseArgumentError(f"temperature must be > 0, got {temperature}.")
    if kind == "softmax_logq" and log_q is None:
        raise CourseArgumentError("The softmax_logq loss needs log_q=item_log_q(train, num_items).")

    def loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        users, pos, neg = batch_vectors(model, batch)
        if kind == "cosine":
            return cosine_loss(users, pos)
        if kind.startswith("softmax"):
            ids = batch["positive"].to(users.device)
            correction = None
            if kind == "softmax_logq" and log_q is not None:  # log_q was checked above
                correction = log_q.to(users.device)[ids]
            return in_batch_softmax_loss(users, pos, temperature, item_ids=ids, log_q=correction)
        if neg is None or neg.shape[1] == 0:
            raise CourseArgumentError(
                f"The {kind!r} loss needs sampled negatives; set num_negatives >= 1."
            )
        s_pos = (users * pos).sum(-1, keepdim=True) / temperature
        s_neg = torch.einsum("bd,bnd->bn", users, neg) / temperature
        s_pos = s_pos.expand_as(s_neg)
        if kind == "sort":
            return seed_sort_loss(s_pos, s_neg)
        return bpr_loss(s_pos, s_neg, margin=margin, hinge=hinge)

    loss_fn.__name__ = f"{kind}_loss_fn"
    return loss_fn


def make_evaluate_fn(
    histories: Sequence[Sequence[int]], targets, k: int = 10, max_history: int = 20
) -> Callable[[nn.Module], dict[str, float]]:
    """An ``evaluate(model) -> {"recall@k", "ndcg@k", "mrr", "coverage@k"}`` for the engine."""
    targets = np.asarray(targets)
    if len(histories) != len(targets):
        raise CourseArgumentError(
            f"{len(histories)} histories but {len(targets)} targets; pass one each."
        )

    def evaluate(model: nn.Module) -> dict[str, float]:
        tower = unwrap(model)
        recs = two_tower_recommend(tower, histories, k=k, max_history=max_history)
        return evaluate_recommender(recs, targets, k=k, num_items=tower.num_items)

    return evaluate


def fit_text_two_tower(encoder, tokenizer, item_texts: Sequence[str],
                       train_sequences: Sequence[Sequence[int]],
                       valid_histories: Sequence[Sequence[int]], valid_targets, config, *,
                       loss: str = "softmax_logq", temperature: float = 0.05,
                       projection_dim: int = 128, max_history: int = 20):
    """Lesson 04's two towers over a frozen text encoder, trained with one of its losses.

    ``config`` is a ``course.train.TrainConfig`` (steps, batch, learning rate, evaluation);
    validation Recall@10 drives early stopping and the best weights are restored, as in
    lesson 04. In-batch losses use no sampled negatives; BPR gets 8, half of them popular.
    Returns ``(model, result)``.
    """
    from course.train import fit

    num_items = len(item_texts)
    items = ItemTower(encoder, tokenizer, list(item_texts), projection_dim=projection_dim,
                      freeze_encoder=True, progress=config.progress)
    model = TwoTower(items, UserTower(items.dim))
    counts = np.zeros(num_items)
    for seq in train_sequences:
        np.add.at(counts, np.asarray(seq, dtype=np.int64), 1.0)
    collate = TwoTowerCollator(num_items, num_negatives=8 if loss == "bpr" else 0,
                               popularity=counts, hard_fraction=0.5,
                               candidates=np.flatnonzero(counts), seed=config.seed)
    loss_fn = make_loss_fn(loss, temperature=temperature,
                           log_q=item_log_q(train_sequences, num_items))
    result = fit(model, NextItemDataset(train_sequences, max_history=max_history), config,
                 collate_fn=collate, loss_fn=loss_fn,
                 evaluate=make_evaluate_fn(valid_histories, valid_targets, k=10,
                                           max_history=max_history))
    return model, result
