"""course.train.heads: one way to train a head on frozen features, for lessons 05 and 07."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course.errors import CourseArgumentError
from course.train import heads


def _toy(n: int = 200, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    y = (x @ torch.randn(8, 3, generator=generator)).argmax(dim=1)
    return x, y


def test_fit_head_learns_separable_features_and_returns_eval_mode():
    x, y = _toy()
    torch.manual_seed(0)
    head = heads.FeatureHead(nn.Linear(8, 3))
    before = heads.head_probabilities(head, x).argmax(1)
    trained = heads.fit_head(head, x, y.numpy(), lr=5e-2, epochs=30, batch_size=32)
    after = heads.head_probabilities(trained, x).argmax(1)
    assert not trained.training
    assert (after == y.numpy()).mean() > 0.9 > (before == y.numpy()).mean()


def test_class_weights_change_the_loss_as_torch_defines_it():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1])
    weights = torch.tensor([1.0, 3.0, 1.0])
    head = heads.FeatureHead(nn.Identity(), class_weights=weights)
    out = head(logits, labels)
    per_row = -torch.log_softmax(logits, dim=1)[torch.arange(2), labels]
    expected = (per_row * weights[labels]).sum() / weights[labels].sum()
    torch.testing.assert_close(out.loss, expected)
    assert head(logits).loss is None


def test_feature_dataset_batches_and_mismatch():
    data = heads.FeatureDataset(np.ones((4, 2)), [0, 1, 2, 0])
    batch = heads.collate_features(data.__getitems__([0, 2]))
    assert batch["features"].shape == (2, 2) and batch["labels"].tolist() == [0, 2]
    assert heads.collate_features([data[0], data[1]])["labels"].tolist() == [0, 1]
    with pytest.raises(CourseArgumentError, match="must be equal"):
        heads.fit_head(heads.FeatureHead(nn.Linear(2, 3)), np.ones((4, 2)), [0, 1], lr=1e-3)


def test_lessons_05_and_07_train_their_heads_through_fit_head(monkeypatch):
    from course.deploy import peft_tuning
    from course.labels import frozen

    calls = []
    real = heads.fit_head

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(frozen, "fit_head", spy)
    monkeypatch.setattr(peft_tuning, "fit_head", spy)
    x, y = _toy(40)
    frozen.train_head(frozen.HeadClassifier(8, hidden=4), x.numpy(), y.numpy(), epochs=1)

    class Tiny(nn.Module):  # the shape peft_tuning.train_head copies: base, dropout, classifier
        def __init__(self):
            super().__init__()
            self.base_model = nn.Module()
            self.dropout = nn.Dropout(0.1)
            self.classifier = nn.Linear(8, 3)

    peft_tuning.train_head(Tiny(), x, y.tolist(), steps=3, lr=1e-3, batch_size=8)
    assert [c.get("steps") for c in calls] == [None, 3]
