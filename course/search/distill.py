"""Distilling the cross-encoder into the bi-encoder with Margin-MSE (lesson 09).

The cross-encoder reads query and product together and ranks better; the bi-encoder is
what can search a catalogue. **Margin-MSE** (Hofstätter et al., 2020) trains the student
(the bi-encoder) to reproduce the teacher's *margin* between a positive and a negative
product, not its raw scores, which live on another scale:

    L = mean over triples of ((s(q, p) - s(q, n)) - (t(q, p) - t(q, n)))^2

where ``s`` is the student's score (here ``scale`` times the cosine) and ``t`` the
teacher's (here the cross-encoder's expected gain). A mined negative that the teacher
finds as relevant as the positive has a margin near 0, so the student is not pushed to
separate them: distillation softens false negatives instead of dropping them.

* :func:`margin_mse_loss`: the loss on score tensors;
* :func:`distillation_loss`: a ``loss_fn`` for ``course.train.fit`` on
  :class:`course.search.negatives.TripletPairs` with teacher scores: the hard-negative
  softmax plus ``weight`` times Margin-MSE;
* :func:`recovered_share`: how much of the teacher's quality the student reached.
"""

from __future__ import annotations

import torch

from course.errors import CourseArgumentError, CourseDataError
from course.search.negatives import hard_negative_softmax

__all__ = ["distillation_loss", "margin_mse_loss", "recovered_share"]


def margin_mse_loss(student_pos: torch.Tensor, student_neg: torch.Tensor,
                    teacher_pos: torch.Tensor, teacher_neg: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the student's and the teacher's margins."""
    shapes = {tuple(t.shape) for t in (student_pos, student_neg, teacher_pos, teacher_neg)}
    if len(shapes) != 1:
        raise CourseArgumentError(f"The four score tensors must share a shape; got {shapes}.")
    student = student_pos - student_neg
    teacher = (teacher_pos - teacher_neg).to(student.dtype)
    return ((student - teacher) ** 2).mean()


def distillation_loss(temperature: float = 0.05, weight: float = 1.0, scale: float = 1.0):
    """``hard_negative_softmax + weight * margin_mse_loss`` over TripletPairs batches.

    Args:
        temperature: the softmax temperature of the contrastive part.
        weight: the weight of Margin-MSE (0 is hard-negative training alone).
        scale: the student's score is ``scale * cosine`` in the margin.
    """
    if weight < 0 or scale <= 0:
        raise CourseArgumentError(f"need weight >= 0 and scale > 0; got {weight}, {scale}.")

    def loss_fn(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "teacher" not in batch:
            raise CourseDataError("distillation needs teacher scores: build TripletPairs with "
                                  "teacher_pos and teacher_neg.")
        q = model(batch["query_input_ids"], batch["query_attention_mask"])
        p = model(batch["product_input_ids"], batch["product_attention_mask"])
        n = model(batch["negative_input_ids"], batch["negative_attention_mask"])
        contrastive = hard_negative_softmax(q, p, n, temperature, batch["item_ids"],
                                            batch["negative_ids"])
        teacher = batch["teacher"].to(q.device)
        margin = margin_mse_loss(scale * (q * p).sum(-1), scale * (q * n).sum(-1),
                                 teacher[:, 0], teacher[:, 1])
        return contrastive + weight * margin

    return loss_fn


def recovered_share(student: float, baseline: float, teacher: float) -> dict[str, float]:
    """How close the student came to the teacher.

    Returns:
        ``share_of_teacher``: student / teacher; ``gap_closed``: (student - baseline) /
        (teacher - baseline), the share of the baseline's gap to the teacher that
        distillation closed (NaN when the teacher is no better than the baseline).
    """
    if teacher <= 0:
        raise CourseArgumentError(f"teacher's score must be > 0, got {teacher}.")
    gap = teacher - baseline
    return {"share_of_teacher": student / teacher,
            "gap_closed": (student - baseline) / gap if gap > 0 else float("nan")}
