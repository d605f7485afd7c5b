"""Losses for two-tower retrieval: cosine, pairwise BPR and in-batch softmax.

The course's source material writes two losses:

* ``L_cos = -cos(v_q, v_r)``: :func:`cosine_loss`;
* ``L_sort = (1/N) * sum(log sigma(a_i - b_i))``: :func:`seed_sort_loss`, with
  ``a_i`` the *predicted* ranking value of item ``i`` and ``b_i`` its *actual*
  one. It has two errors. (1) The sign: minimising it makes every ``a_i - b_i``
  as negative as possible. (2) Even with the sign fixed it is not a pairwise
  loss: each term compares one item's prediction with its own target, never two
  items with each other, so it is blind to the order of the predictions
  (:func:`seed_sort_loss` is kept only so the lesson can show both).

A pairwise loss compares two items: BPR, ``-(1/N) * sum(log sigma(s+ - s-))``
(:func:`bpr_loss`), for a bought item and one the user did not buy, and
:func:`pairwise_logistic_loss` over every pair of items whose labels differ.
:func:`in_batch_softmax_loss` is InfoNCE with the other items of the batch as
negatives, with the optional logQ correction of Yi et al. (2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course.errors import CourseArgumentError

__all__ = [
    "bpr_loss",
    "cosine_loss",
    "in_batch_softmax_loss",
    "pairwise_logistic_loss",
    "seed_sort_loss",
]


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise CourseArgumentError(
            f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}. "
            "Pair each positive with its negative (expand the positive scores if needed)."
        )


def cosine_loss(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mean of ``-cos(u_i, v_i)`` over the rows of two ``[N, d]`` tensors.

    Args:
        u: query or user vectors, ``[N, d]``.
        v: the matching item vectors, ``[N, d]``.

    Returns:
        A scalar in ``[-1, 1]``; ``-1`` when every pair points the same way.
    """
    _check_same_shape(u, v, "cosine_loss inputs u and v")
    return -F.cosine_similarity(u, v, dim=-1).mean()


def bpr_loss(
    pos_scores: torch.Tensor,
    neg_scores: torch.Tensor,
    margin: float = 0.0,
    hinge: bool = False,
) -> torch.Tensor:
    """Pairwise ranking loss (Bayesian Personalised Ranking).

    ``-mean(log sigma(s+ - s- - margin))``, or with ``hinge=True``
    ``mean(relu(margin - (s+ - s-)))``. Minimising it raises each positive
    score above its paired negative.

    Args:
        pos_scores: scores of the positives, any shape.
        neg_scores: scores of the paired negatives, same shape.
        margin: how far above the negative the positive should be.
        hinge: use the hinge (margin ranking) form instead of log-sigmoid.

    Returns:
        A scalar tensor.
    """
    _check_same_shape(pos_scores, neg_scores, "bpr_loss pos_scores and neg_scores")
    diff = pos_scores - neg_scores
    if hinge:
        return F.relu(margin - diff).mean()
    return -F.logsigmoid(diff - margin).mean()


def seed_sort_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The source material's ``L_sort = (1/N) sum log sigma(a_i - b_i)``, sign error included.

    Kept only to demonstrate its errors. Read as a pairwise loss (``a`` the
    positive's score, ``b`` a negative's), minimising it ranks the negative first.
    Read as the source defines it (``a_i`` predicted, ``b_i`` actual ranking value
    of the same item), it is not pairwise at all: with the sign fixed,
    ``-seed_sort_loss(a, b)`` is near 0 for any ``a`` far enough above ``b``,
    in any order. Use :func:`bpr_loss` or :func:`pairwise_logistic_loss`.
    """
    _check_same_shape(a, b, "seed_sort_loss inputs a and b")
    return F.logsigmoid(a - b).mean()


def pairwise_logistic_loss(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """BPR over every pair of one list's items whose labels differ (RankNet's loss).

    ``mean over pairs (i, j) with relevance_i > relevance_j of -log sigma(s_i - s_j)``.
    Unlike a per-item loss it depends on the order of the scores.

    Args:
        scores: ``[n]`` predicted scores of one list's items.
        relevance: ``[n]`` their actual relevance (higher is better).
    """
    _check_same_shape(scores, relevance, "pairwise_logistic_loss scores and relevance")
    if scores.ndim != 1:
        raise CourseArgumentError(f"Pass one list: scores must be 1-D, got {tuple(scores.shape)}.")
    better = relevance[:, None] > relevance[None, :]
    if not better.any():
        raise CourseArgumentError("Every item has the same relevance: there is no pair to order.")
    diff = scores[:, None] - scores[None, :]
    return -F.logsigmoid(diff[better]).mean()


def in_batch_softmax_loss(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    temperature: float = 0.05,
    item_ids: torch.Tensor | None = None,
    log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row ``i``'s positive is item ``i``.

    The logits are ``user_vecs @ item_vecs.T / temperature`` and the loss is the
    cross-entropy with the diagonal as the target. When the same item is the
    positive of several rows (pass ``item_ids``), its other copies are masked
    out of each row, so a row is never pushed away from its own positive.

    The batch's items are negatives in proportion to how often they are bought,
    so popular items are pushed down more than a full softmax would. The logQ
    correction (Yi et al. 2019) subtracts ``log_q[j]``, the log sampling
    probability of column ``j``'s item, from every logit of that column.

    Args:
        user_vecs: ``[B, d]`` user (or query) vectors, usually L2-normalised.
        item_vecs: ``[B, d]`` positive item vectors, row-aligned with ``user_vecs``.
        temperature: softmax temperature; smaller is sharper.
        item_ids: optional ``[B]`` item ids of the positives, to mask duplicates.
        log_q: optional ``[B]`` log sampling probability of each row's positive item.

    Returns:
        A scalar tensor.
    """
    _check_same_shape(user_vecs, item_vecs, "in_batch_softmax_loss user_vecs and item_vecs")
    if temperature <= 0:
        raise CourseArgumentError(f"temperature must be > 0, got {temperature}. Try 0.05.")
    logits = user_vecs @ item_vecs.T / temperature
    if log_q is not None:
        if log_q.shape != (user_vecs.shape[0],):
            raise CourseArgumentError(
                f"log_q must have shape ({user_vecs.shape[0]},), got {tuple(log_q.shape)}."
            )
        logits = logits - log_q[None, :].to(logits.dtype)
    if item_ids is not None:
        if item_ids.shape != (user_vecs.shape[0],):
            raise CourseArgumentError(
                f"item_ids must have shape ({user_vecs.shape[0]},), got {tuple(item_ids.shape)}."
            )
        same = item_ids[:, None] == item_ids[None, :]
        duplicate = same & ~torch.eye(len(item_ids), dtype=torch.bool, device=same.device)
        logits = logits.masked_fill(duplicate, float("-inf"))
    targets = torch.arange(user_vecs.shape[0], device=user_vecs.device)
    return F.cross_entropy(logits, targets)
