"""A head trained on frozen features, with the same engine as every other model.

When the encoder is frozen, its features can be computed once; only a small head trains.
Lesson 05 (``course.deploy.peft_tuning``, the "head" method) and lesson 07
(``course.labels.frozen``) both do it, and both train through here:

* :class:`FeatureDataset` and :func:`collate_features`: a feature matrix as batches;
* :class:`FeatureHead`: any ``features -> logits`` module, with the
  ``forward(features, labels) -> (logits, loss)`` interface :func:`course.train.fit` expects
  (cross-entropy, optionally class-weighted);
* :func:`fit_head` trains it with :func:`course.train.fit` (AdamW, linear schedule, fp32);
* :func:`head_probabilities`: class probabilities of a trained head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course.errors import CourseArgumentError
from course.train.engine import TrainConfig, fit, weighted_cross_entropy
from course.train.inference import predict

__all__ = [
    "FeatureDataset",
    "FeatureHead",
    "HeadOutput",
    "collate_features",
    "fit_head",
    "head_probabilities",
]


@dataclass
class HeadOutput:
    """What a :class:`FeatureHead` returns: logits, and the loss when labels were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class FeatureHead(nn.Module):
    """``net`` (features -> logits) with a Hugging Face-like ``forward(features, labels)``."""

    def __init__(self, net: nn.Module, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.net = net
        self.class_weights = class_weights

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> HeadOutput:
        logits = self.net(features)
        if labels is None:
            return HeadOutput(logits)
        return HeadOutput(logits, weighted_cross_entropy(logits, labels, self.class_weights))


class FeatureDataset(torch.utils.data.Dataset):
    """``{"features", "labels"}`` items from a feature matrix and label ids."""

    def __init__(self, features: np.ndarray | torch.Tensor,
                 labels: Sequence[int] | np.ndarray | None = None):
        # copies: the caller's arrays may be read-only (a pandas view) or change later
        self.features = torch.tensor(np.asarray(features), dtype=torch.float32)
        self.labels = None if labels is None else torch.tensor(np.asarray(labels),
                                                               dtype=torch.long)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int | torch.Tensor) -> dict[str, torch.Tensor]:
        item = {"features": self.features[i]}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch in one indexing step (the DataLoader uses it when it exists)."""
        return self[torch.as_tensor(indices)]


def collate_features(items: list[dict[str, torch.Tensor]] | dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
    """Stack feature items into one batch (a batch from ``__getitems__`` passes through)."""
    if isinstance(items, dict):
        return items
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def fit_head(
    head: FeatureHead,
    features: np.ndarray | torch.Tensor,
    labels: Sequence[int] | np.ndarray,
    *,
    lr: float,
    batch_size: int = 64,
    epochs: float = 1,
    steps: int | None = None,
    warmup_ratio: float = 0.1,
    seed: int = 0,
    log_dir: str | None = None,
) -> FeatureHead:
    """Train ``head`` from its current weights with :func:`course.train.fit`; returns it in eval.

    ``steps`` (optimizer steps) overrides ``epochs``. The run is fp32 on the CPU: a head
    is small, and the same numbers on every machine matter more here than speed.
    ``log_dir`` writes the run's curves as TensorBoard files (:mod:`course.train.tracking`).
    """
    if len(features) != len(labels) or len(features) == 0:
        raise CourseArgumentError(
            f"features ({len(features)} rows) and labels ({len(labels)}) must be equal and > 0."
        )
    config = TrainConfig(epochs=epochs, max_steps=steps, batch_size=batch_size, lr=lr,
                         weight_decay=0.01, warmup_ratio=warmup_ratio, seed=seed,
                         progress=False, device="cpu", precision="fp32", log_dir=log_dir)
    fit(head, FeatureDataset(features, labels), config, collate_fn=collate_features)
    return head.eval()


def head_probabilities(head: nn.Module, features: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class probabilities of ``head`` for each feature row."""
    return predict(head, FeatureDataset(features), collate_features, batch_size=1024,
                   progress=False, device="cpu")
