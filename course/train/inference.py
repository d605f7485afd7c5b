"""Inference with a trained classifier: class probabilities, and an evaluator for ``fit``.

:func:`predict` batches examples by length so that little padding is computed, and uses
bf16 autocast on a CUDA GPU that has it. Both names are importable from ``course.train``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from course import config as course_config
from course.errors import CourseArgumentError

__all__ = [
    "classification_evaluator",
    "predict",
    "to_device",
]


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of ``batch`` on ``device`` (asynchronously where it can)."""
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


@torch.no_grad()
def predict(model, dataset, collate_fn: Callable, batch_size: int = 64, progress: bool = True,
            device: str | torch.device | None = None) -> np.ndarray:
    """Class probabilities ``[len(dataset), classes]``, in the dataset's order.

    Examples are batched by length (when the dataset has ``lengths``) so that
    little padding is computed; bf16 autocast is used on a CUDA GPU that has it.
    """
    device = torch.device(device) if device else next(model.parameters()).device
    model.to(device).eval()
    lengths = getattr(dataset, "lengths", None)
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(dataset))
    index_batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=index_batches,
                                         collate_fn=collate_fn,
                                         generator=torch.Generator())  # leaves the global RNG alone
    amp_dtype = torch.bfloat16 if device.type == "cuda" and course_config.bf16_supported() else None
    probs: np.ndarray | None = None
    batches = tqdm(loader, desc="predict", disable=not progress)
    for indices, batch in zip(index_batches, batches, strict=True):
        batch.pop("labels", None)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(**to_device(batch, device)).logits
        chunk = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if probs is None:
            probs = np.empty((len(dataset), chunk.shape[1]), dtype=np.float32)
        probs[indices] = chunk
    if probs is None:
        raise CourseArgumentError("predict() got an empty dataset.")
    return probs


def classification_evaluator(dataset, collate_fn: Callable, batch_size: int = 64) -> Callable:
    """An ``evaluate(model)`` for :func:`fit`: accuracy and macro-F1 on a labelled dataset."""
    from course.metrics import accuracy, macro_f1

    labels = np.asarray(dataset.labels)

    def evaluate(model) -> dict[str, float]:
        probs = predict(model, dataset, collate_fn, batch_size, progress=False)
        predictions = probs.argmax(axis=1)
        return {
            "accuracy": accuracy(labels, predictions),
            "macro_f1": macro_f1(labels, predictions, labels=list(range(probs.shape[1]))),
        }

    return evaluate
